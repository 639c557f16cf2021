"""GRADE rule table: every rule at and on each side of its threshold; constructed analyses with a
known grade; properties (order, agreeing studies, CIs inside the MID); the bundled evidence grades
deterministically; the CLI prints the claims. Worked examples from the GRADE guidance are in
tests/review/test_grade_examples.py; the verdict table in tests/review/test_verdicts.py."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from evidence_fixture import STUDY, make_folder
from hipacu.evidence import Override, load_evidence
from hipacu.review.analysis import interval_rule, run_analysis
from hipacu.review.claims import VERDICTS, grade_claims, sof_html, summary_of_findings
from hipacu.review.grading import (
    DOMAINS, I2_CONSIDERABLE, I2_SUBSTANTIAL, MAJORITY, MIN_K_FUNNEL, Q_ALPHA, RULES, UNPUBLISHED_SHARE, Context,
    _judge, grade, rules_frame,
)

NEUTRAL = Context(k=5, participants=1000, question="effect", i2=0.0, q_pval=0.9, estimate_categories=("benefit",),
                  ci_categories=("benefit",), eligible=5, ci_text="95% CI -1 to -0.5", threshold_text="the MID")
JUST = 1e-9  # a step just across a threshold


def rating(domain: str, **changes) -> int:
    return _judge(domain, dataclasses.replace(NEUTRAL, **changes)).rating


def test_neutral_context_is_not_rated_down_in_any_domain():
    assert [rating(d) for d in DOMAINS] == [0, 0, 0, 0, 0]


def test_every_rule_cites_grade_guidance():
    assert all(r.guidance for r in RULES)
    assert set(rules_frame()["domain"]) == set(DOMAINS)


# ---- risk of bias
@pytest.mark.parametrize("very, concerns, expected", [
    (MAJORITY, 1.0, -2), (MAJORITY - JUST, 1.0, -1), (MAJORITY + JUST, 1.0, -2),
    (0.0, MAJORITY, -1), (0.0, MAJORITY - JUST, 0), (0.0, MAJORITY + JUST, -1)])
def test_risk_of_bias_thresholds(very, concerns, expected):
    assert rating("risk_of_bias", weight_very_serious_rob=very, weight_concerns_rob=concerns) == expected


@pytest.mark.parametrize("share, expected", [(MAJORITY, -1), (MAJORITY - JUST, 0), (MAJORITY + JUST, -1)])
def test_risk_of_bias_without_any_appraisal_threshold(share, expected):
    assert rating("risk_of_bias", weight_rob_not_assessed=share) == expected


def test_one_crucial_limitation_rates_down_once_not_twice():
    # all weight at high risk overall, but in one domain only and with plausible numbers: serious, not very serious
    assert rating("risk_of_bias", weight_high_rob=1.0, weight_concerns_rob=1.0, weight_very_serious_rob=0.0) == -1


# ---- inconsistency
@pytest.mark.parametrize("i2, p, cats, expected", [
    (I2_CONSIDERABLE, Q_ALPHA - JUST, ("benefit", "harm"), -2),
    (I2_CONSIDERABLE - JUST, Q_ALPHA - JUST, ("benefit", "harm"), -1),
    (I2_SUBSTANTIAL, Q_ALPHA - JUST, ("benefit", "little_or_no"), -1),
    (I2_SUBSTANTIAL - JUST, Q_ALPHA - JUST, ("benefit", "little_or_no"), 0),
    (90.0, Q_ALPHA, ("benefit", "harm"), 0),
    (90.0, Q_ALPHA - JUST, ("benefit",), 0)])
def test_inconsistency_thresholds(i2, p, cats, expected):
    assert rating("inconsistency", i2=i2, q_pval=p, estimate_categories=cats) == expected


def test_inconsistency_is_judged_against_the_threshold_not_zero():
    # heterogeneous, but every study shows an important benefit: the decision does not depend on which study is right
    j = _judge("inconsistency", dataclasses.replace(NEUTRAL, i2=90.0, q_pval=0.001, estimate_categories=("benefit",)))
    assert j.rating == 0 and "does not depend" in j.rationale


def test_a_prediction_interval_across_benefit_and_harm_rates_down_once():
    assert rating("inconsistency", i2=60.0, q_pval=0.01, estimate_categories=("benefit",),
                  pi_categories=("benefit", "little_or_no", "harm")) == -1


def test_inconsistency_of_a_single_study_is_not_assessable():
    j = _judge("inconsistency", dataclasses.replace(NEUTRAL, k=1, i2=0.0))
    assert j.rating == 0 and "single study" in j.rationale


def test_two_studies_say_how_inconsistency_was_judged():
    assert "k = 2" in _judge("inconsistency", dataclasses.replace(NEUTRAL, k=2)).rationale


# ---- indirectness
@pytest.mark.parametrize("changes, expected", [
    (dict(weight_indirect_population=MAJORITY), -1), (dict(weight_indirect_population=MAJORITY - JUST), 0),
    (dict(weight_indirect_intervention=MAJORITY), -1), (dict(weight_indirect_comparator=MAJORITY), -1),
    (dict(weight_indirect_outcome=MAJORITY), -1),
    (dict(weight_indirect_population=MAJORITY, weight_indirect_intervention=MAJORITY), -2),
    (dict(weight_indirect_population=MAJORITY - JUST, weight_indirect_intervention=MAJORITY), -1),
    (dict(weight_confounded=MAJORITY), -2), (dict(weight_confounded=MAJORITY - JUST), 0)])
def test_indirectness_thresholds(changes, expected):
    assert rating("indirectness", **changes) == expected


# ---- imprecision
@pytest.mark.parametrize("cats, appreciable, n, ois, expected", [
    (("benefit", "little_or_no", "harm"), False, 10_000, 100.0, -2),
    (("benefit", "little_or_no"), True, 10_000, 100.0, -2),
    (("benefit", "little_or_no"), False, 10_000, 100.0, -1),
    (("benefit",), False, 399, 400.0, -1), (("benefit",), False, 400, 400.0, 0), (("benefit",), False, 401, 400.0, 0),
    (("benefit",), False, 10, None, 0),
    (("little_or_no",), False, 10, 400.0, 0)])
def test_imprecision_thresholds(cats, appreciable, n, ois, expected):
    assert rating("imprecision", ci_categories=cats, appreciable=appreciable, participants=n, ois=ois) == expected


def test_the_information_size_is_not_counted_on_top_of_a_crossing_ci():
    assert rating("imprecision", ci_categories=("benefit", "little_or_no"), participants=10, ois=5000.0) == -1


@pytest.mark.parametrize("bands, crosses, expected", [
    (("rare",), False, 0), (("uncommon", "rare"), False, -1), (("rare",), True, -1),
    (("common", "uncommon", "rare"), False, -2)])
def test_rate_imprecision_counts_cioms_bands(bands, crosses, expected):
    assert rating("imprecision", question="frequency", rate_bands=bands, crosses_rate_threshold=crosses) == expected


# ---- publication / reporting bias
@pytest.mark.parametrize("k, p, expected", [(MIN_K_FUNNEL, 0.09, -1), (MIN_K_FUNNEL, 0.10, 0), (MIN_K_FUNNEL - 1, 0.01, 0)])
def test_funnel_asymmetry_needs_ten_studies(k, p, expected):
    assert rating("publication_bias", k=k, egger_pval=p) == expected


@pytest.mark.parametrize("k, unpublished, expected", [(3, 1, -1), (2, 1, -1), (4, 1, 0), (2, 0, 0)])
def test_unpublished_results_threshold(k, unpublished, expected):
    assert (unpublished / (unpublished + k) >= UNPUBLISHED_SHARE) == (expected == -1)
    assert rating("publication_bias", k=k, unpublished=unpublished, unpublished_labels="X") == expected


def test_results_published_but_not_extractable_are_not_reporting_bias():
    j = _judge("publication_bias", dataclasses.replace(NEUTRAL, k=1, not_extractable_labels="Fink 2001, Haslam 2001"))
    assert j.rating == 0 and "not evidence of non-reporting" in j.rationale


# ---- the few-studies interval rule
def test_interval_rule_by_number_of_studies():
    spec = load_evidence().analyses[0]
    spec = dataclasses.replace(spec, test=None, knha=None)
    assert interval_rule(1, spec)[0] == "z" and interval_rule(2, spec)[0] == "z" and interval_rule(3, spec)[0] == "adhoc"
    assert interval_rule(2, dataclasses.replace(spec, test="knha"))[0] == "knha"


# ---- constructed analyses with a known grade
#
# These are hypothetical trials built to sit where a rule must give a known answer; they are inputs to the
# rule logic, labelled as such in every row, not evidence (the sourced fixture is tests/evidence_fixture.py).

HYPOTHETICAL = "hypothetical trial constructed for a GRADE rule test; not evidence"
HYPOTHETICAL_URL = "https://example.org/hypothetical-trial"
SCENARIO_TOML = '''
[[analysis]]
id = "scenario"
title = "Hypothetical trials, pain"
table = "outcomes"
rows = [ROWS]
measure = "MD"
outcome_label = "Pain"
population = "the question's population"
intervention = "Real acupuncture"
comparator = "sham"
comparison = "sham"
conditions = ["scenario_condition"]
mid = MID
mid_source = "hypothetical threshold of the scenario"
'''


def _trial(i: int, rob: str, n: int, mean1: float, sd: float = 10.0) -> tuple[dict, dict]:
    sid = f"T{i:02d}"
    study = dict(study_id=sid, label=f"Hypothetical {i}", citation=HYPOTHETICAL, design="rct",
                 condition="scenario_condition", comparison="sham", intervention="manual", data_status="usable",
                 rob_randomisation=rob, rob_deviations=rob, rob_missing=rob, rob_measurement=rob, rob_reporting=rob,
                 rob_overall=rob, rob_source="not_applicable", source_url=HYPOTHETICAL_URL, locator="none")
    row = dict(outcome_id=f"{sid}.pain", study_id=sid, outcome="pain", measure="pain score", lower_is_better="true",
               timepoint_label="end of treatment", comparison="sham", arm1="real", arm2="sham", form="arm",
               value_type="final", population="itt", n1=str(n), n2=str(n), mean1=str(mean1), sd1=str(sd), mean2="50",
               sd2=str(sd), as_printed=HYPOTHETICAL, source_url=HYPOTHETICAL_URL, locator="none")
    return study, row


def _folder(tmp_path, trials, mid="5.0"):
    studies = [t[0] for t in trials]
    rows = [t[1] for t in trials]
    toml = SCENARIO_TOML.replace("ROWS", ", ".join(f'"{r["outcome_id"]}"' for r in rows)).replace("MID", mid)
    return load_evidence(make_folder(tmp_path, studies_csv=studies, outcomes_csv=rows, safety_csv=[], reviews_csv=[],
                                     claims_csv=[], analyses_toml=toml))


def test_large_consistent_precise_low_risk_set_is_high_certainty(tmp_path):
    trials = [_trial(i, "low", 100 + 10 * i, 40.0 + (i % 3) * 0.5) for i in range(12)]
    g = grade(run_analysis(_folder(tmp_path, trials), "scenario"))
    assert g.certainty == "high", g.summary()
    assert g.statement.startswith("Real acupuncture") or "reduces" in g.statement


def test_single_small_high_risk_trial_is_very_low_certainty(tmp_path):
    g = grade(run_analysis(_folder(tmp_path, [_trial(1, "high", 15, 45.0)]), "scenario"))
    assert g.certainty == "very_low"
    assert g.statement.startswith("The evidence is very uncertain")
    assert g.judgement("risk_of_bias").rating == -2 and g.judgement("imprecision").rating == -2


def test_override_replaces_the_domain_and_keeps_the_computed_rating(tmp_path):
    trials = [_trial(i, "low", 100, 40.0) for i in range(3)]
    ev = _folder(tmp_path, trials)
    spec = dataclasses.replace(ev.analysis("scenario"), overrides=(Override("imprecision", -1, "a reason"),))
    ev = dataclasses.replace(ev, analyses=(spec,))
    j = grade(run_analysis(ev, "scenario")).judgement("imprecision")
    assert j.override and j.rating == -1 and j.computed_rating == 0 and "a reason" in j.rationale


@pytest.mark.parametrize("level, phrase", [(4, "reduces pain"), (3, "probably reduces pain"), (2, "may reduce pain")])
def test_statement_wording_follows_certainty(tmp_path, level, phrase):
    from hipacu.review.grading import statement

    trials = [_trial(i, "low", 100, 40.0) for i in range(3)]
    r = run_analysis(_folder(tmp_path, trials), "scenario")
    assert phrase in statement(r, level)


# ---- the bundled evidence


def test_bundled_claims_have_a_verdict_and_a_reason_and_grade_deterministically():
    ev = load_evidence()
    a, b = grade_claims(ev), grade_claims(ev)
    assert a.equals(b)
    assert set(a["verdict"]) <= set(VERDICTS)
    assert (a["reason"].str.len() > 20).all()
    assert len(a) == len(ev.claims)


def test_every_bundled_analysis_has_a_summary_of_findings_row():
    ev = load_evidence()
    sof = summary_of_findings(ev)
    assert list(sof["analysis_id"]) == [a.id for a in ev.analyses]
    assert "<table" in sof_html(sof) and sof["symbols"].str.startswith("⊕").all()


def test_cli_grade_prints_verdict_certainty_and_reason():
    out = subprocess.run([sys.executable, "-m", "hipacu.cli", "grade"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "C1" in out.stdout and "reason:" in out.stdout and "certainty" not in out.stderr


def test_cli_grade_json_is_machine_readable():
    out = subprocess.run([sys.executable, "-m", "hipacu.cli", "grade", "--json"], capture_output=True, text=True)
    rows = json.loads(out.stdout)["claims"]  # schema: README "hipacu grade --json"
    assert {"claim_id", "verdict", "certainty", "reason"} <= set(rows[0])
    assert all(r["verdict"] in VERDICTS for r in rows)


def test_cli_grade_on_broken_evidence_exits_1_without_traceback(tmp_path):
    folder = make_folder(tmp_path, studies_csv=[dict(STUDY, design="RCT")])
    out = subprocess.run([sys.executable, "-m", "hipacu.cli", "grade", "--evidence", str(folder)],
                         capture_output=True, text=True)
    assert out.returncode == 1 and "design" in out.stderr and "Traceback" not in out.stderr


def test_readme_documents_every_rule_of_the_table():
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    for _, r in rules_frame().iterrows():
        assert f"| {r.domain.replace('_', ' ')} | {r.rating:+d} | {r.criterion} | {r.guidance} |" in readme
