"""Summary of Findings as GRADEpro lays it out: absolute effects against a printed table, footnotes
attached to their cells and sourced, the evidence profile cell by cell."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose

import hipacu
from hipacu.review.grading import DOMAINS, grade
from hipacu.review.sof import (
    SOF_COLUMNS,
    absolute_effect,
    assumed_comparator_risk,
    evidence_profile,
    evidence_profile_html,
    sof_footnotes,
    sof_groups,
    sof_html,
    summary_of_findings,
)

BCG = Path(__file__).parents[1] / "data" / "bcg"
TOL_ARITHMETIC = 1e-12


# --------------------------------------------------------------------------- absolute effects, printed

# A printed GRADE Summary of Findings table: CAPRIE (clopidogrel vs aspirin), Table 4 of
# https://pmc.ncbi.nlm.nih.gov/articles/PMC3278064/table/t04 -- relative effect, assumed comparator
# risk per 1,000 and the printed risk difference per 1,000.
CAPRIE_TABLE_4 = [
    # (RR, CI low, CI high, comparator risk per 1,000, difference as printed)
    (0.98, 0.87, 1.10, 120, "2 fewer per 1,000 (from 16 fewer to 12 more)"),
    (0.85, 0.72, 1.00, 80, "12 fewer per 1,000 (from 22 fewer to 0 more)"),
    (0.94, 0.83, 1.06, 110, "7 fewer per 1,000 (from 19 fewer to 7 more)"),
]


@pytest.mark.parametrize("rr, lo, hi, per_1000, printed", CAPRIE_TABLE_4)
def test_absolute_effect_reproduces_the_printed_caprie_summary_of_findings(rr, lo, hi, per_1000, printed):
    ae = absolute_effect("RR", rr, lo, hi, per_1000 / 1000)
    assert ae.difference_text() == printed
    assert ae.comparator_text() == f"{per_1000} per 1,000"
    # the risk with the intervention is the assumed risk times the risk ratio, at the estimate and each limit
    assert_allclose([ae.intervention_risk, ae.intervention_risk_low, ae.intervention_risk_high],
                    np.array([rr, lo, hi]) * per_1000 / 1000, rtol=TOL_ARITHMETIC)


def test_absolute_effect_of_an_odds_ratio_converts_through_the_odds():
    acr, odds_ratio = 0.2, 0.5
    ae = absolute_effect("OR", odds_ratio, 0.25, 1.0, acr)
    odds = acr / (1 - acr) * odds_ratio
    assert_allclose(ae.intervention_risk, odds / (1 + odds), rtol=TOL_ARITHMETIC)
    assert_allclose(ae.intervention_risk_high, acr, rtol=TOL_ARITHMETIC)  # OR 1 leaves the risk unchanged
    assert ae.difference_text().startswith("89 fewer per 1,000")  # 1000 * (0.2 - 1/9) = 88.9


def test_absolute_effect_of_a_risk_difference_adds_it_to_the_assumed_risk():
    ae = absolute_effect("RD", -0.05, -0.08, -0.02, 0.3)
    assert ae.intervention_text() == "250 per 1,000 (220 to 280)"
    assert ae.difference_text() == "50 fewer per 1,000 (from 80 fewer to 20 fewer)"


def test_absolute_effect_rounds_halves_away_from_zero_and_can_be_expressed_per_100():
    ae = absolute_effect("RR", 0.75, 0.5, 1.25, 0.1, per=100)  # 2.5 fewer -> 3 (banker's rounding would give 2)
    assert ae.difference_text() == "3 fewer per 100 (from 5 fewer to 3 more)"


@pytest.mark.parametrize("kwargs, message", [
    (dict(measure="MD"), "measure='MD' has no absolute effect; choose one of 'RR', 'OR', 'RD'"),
    (dict(comparator_risk=1.2), "comparator_risk = 1.2; it must be a proportion between 0 and 1"),
])
def test_absolute_effect_rejects_what_it_cannot_compute(kwargs, message):
    args = dict(measure="RR", estimate=0.9, ci_low=0.8, ci_high=1.0, comparator_risk=0.1) | kwargs
    with pytest.raises(ValueError, match=re.escape(message)):
        absolute_effect(**args)


# --------------------------------------------------------------------------- the BCG table, end to end


@pytest.fixture(scope="module")
def bcg():
    ev = hipacu.load_evidence(BCG)
    results = hipacu.run_all(ev)
    return ev, results, summary_of_findings(ev, results=results)


def _comparator_counts() -> tuple[float, float]:
    with open(BCG / "outcomes.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return sum(float(r["events2"]) for r in rows), sum(float(r["n2"]) for r in rows)


def test_bcg_row_takes_the_pooled_comparator_risk_and_says_so(bcg):
    ev, results, sof = bcg
    events, total = _comparator_counts()
    row = sof.iloc[0]
    assert_allclose(row["assumed_risk"], events / total, rtol=TOL_ARITHMETIC)
    assert "pooled comparator-arm risk" in row["assumed_risk_source"] and f"{events:,.0f} events" in row["assumed_risk_source"]
    r = results["bcg_tb"]
    est, lo, hi = (float(np.exp(x)) for x in (r.pooled.estimate, r.pooled.ci_low, r.pooled.ci_high))
    want = absolute_effect("RR", est, lo, hi, events / total)
    assert row["risk_comparator"] == want.comparator_text()
    assert row["risk_intervention"] == want.intervention_text()
    assert row["risk_difference"] == want.difference_text()
    assert row["relative_effect"] == f"RR {est:.2f} ({lo:.2f} to {hi:.2f})"
    assert row["participants_studies"] == f"{r.participants:,} participants (13 studies: 7 RCTs, 6 quasi-randomised trials)"
    note = next(f for f in row["footnotes"] if f.column == "risk_comparator")
    assert "pooled comparator-arm risk" in note.text and "outcomes.csv events2 and n2" in note.source


def test_a_declared_control_risk_replaces_the_pooled_one_with_its_source(bcg):
    import dataclasses

    _, results, _ = bcg
    r = results["bcg_tb"]
    declared = dataclasses.replace(r, spec=dataclasses.replace(r.spec, control_risk=0.02, control_risk_source="a cohort"))
    risk, how, source = assumed_comparator_risk(declared)
    assert risk == 0.02 and "analyses.toml" in how and source == "a cohort"


# --------------------------------------------------------------------------- footnotes


@pytest.fixture(scope="module")
def bundled():
    ev = hipacu.load_evidence()
    results = hipacu.run_all(ev)
    grades = {aid: grade(r) for aid, r in results.items()}
    return ev, results, grades, summary_of_findings(ev, results=results, grades=grades)


def test_footnotes_are_numbered_in_order_of_appearance_and_attached_to_a_cell(bundled):
    *_, sof = bundled
    seen: list[int] = []
    for _, row in sof_groups(sof).iterrows():  # rows as displayed: grouped by comparison
        for f in row["footnotes"]:
            assert f.column in SOF_COLUMNS and f.text and "|" not in f.text
            if f.number not in seen:
                seen.append(f.number)
    assert seen == list(range(1, len(seen) + 1))
    notes = sof_footnotes(sof)
    assert list(notes["number"]) == seen
    assert not notes.duplicated(["text", "source"]).any()  # identical footnotes share one number


def test_every_footnote_cites_what_it_rests_on(bundled):
    *_, sof = bundled
    notes = sof_footnotes(sof)
    assert (notes["source"].str.len() > 10).all(), notes.loc[notes["source"].str.len() <= 10]


def test_every_domain_rated_down_has_its_footnote_on_the_certainty_cell(bundled):
    _, _, grades, sof = bundled
    for _, row in sof.iterrows():
        g = grades[row["analysis_id"]]
        texts = [f.text for f in row["footnotes"] if f.column == "certainty"]
        for j in g.judgements:
            if j.rating:
                said = j.rationale[:1].upper() + j.rationale[1:]
                assert any(said in t and t.startswith(j.domain.replace("_", " ").capitalize()) for t in texts), j


def test_studies_flagged_implausible_are_footnoted_with_the_result_without_them(bundled):
    _, results, _, sof = bundled
    flagged = [aid for aid, r in results.items() if r.implausible_labels]
    assert flagged
    for aid in flagged:
        r = results[aid]
        row = sof.set_index("analysis_id").loc[aid]
        (note,) = [f for f in row["footnotes"] if "flagged implausible" in f.text]
        assert all(lab in note.text for lab in r.implausible_labels)
        if r.without_implausible is not None:
            assert f"k = {r.without_implausible.k}" in note.text
        else:
            assert "no unflagged study remains" in note.text


def test_frequency_rows_name_their_denominator_unit(bundled):
    ev, results, _, sof = bundled
    for _, row in sof.iterrows():
        r = results[row["analysis_id"]]
        if r.spec.question == "frequency":
            units = set(ev.safety.set_index("safety_id").loc[list(r.included["row_id"]), "denominator_unit"])
            assert all(u.replace("_", " ") in row["participants_studies"] for u in units)
            assert row["relative_effect"] == "not applicable"
        else:
            assert "participants" in row["participants_studies"]


def test_sof_html_puts_each_number_in_its_cell_and_lists_it_below(bundled):
    *_, sof = bundled
    page = sof_html(sof)
    for _, row in sof.iterrows():
        tr = re.search(rf"<tr id='sof-{row['analysis_id']}'[^>]*>(.*?)</tr>", page, flags=re.DOTALL).group(1)
        cells = dict(re.findall(r"<td class='sof-([\w-]+)'>(.*?)</td>", tr, flags=re.DOTALL))
        for f in row["footnotes"]:
            assert f"href='#sof-fn-{f.number}'" in cells[f.column.replace("_", "-")]
    for n in sof_footnotes(sof)["number"]:
        assert f"<li id='sof-fn-{n}' value='{n}'>" in page
    assert page.count("class='sof-group'") == sof[["population", "intervention", "comparator"]].drop_duplicates().shape[0]
    assert "GRADE Working Group grades of evidence" in page


def test_evidence_profile_shows_every_domain_rating_and_rationale_of_the_grade(bundled):
    ev, results, grades, _ = bundled
    profile = evidence_profile(ev, results=results, grades=grades)
    assert list(profile["analysis_id"]) == list(results)
    for _, row in profile.iterrows():
        g = grades[row["analysis_id"]]
        for d in DOMAINS:
            j = g.judgement(d)
            assert row[f"{d}_rating"] == j.rating and row[f"{d}_rationale"] == j.rationale
            assert row[d].split(" (")[0] in ("not serious", "serious", "very serious", "not detected", "strongly suspected")
        assert row["symbols"] == g.symbols
    page = evidence_profile_html(profile)
    assert page.count("<tr data-analysis=") == len(profile)


def test_summary_of_findings_is_still_importable_where_it_was():
    from hipacu.review import claims

    assert claims.summary_of_findings is summary_of_findings and hipacu.sof_html is sof_html
