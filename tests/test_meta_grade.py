"""``MetaAnalysis.grade()``: GRADE without an evidence folder, by the same rule table, and the same grade
when the analysis is written as an evidence folder and graded from there."""

from __future__ import annotations

from pathlib import Path

import pytest
from numpy.testing import assert_allclose

import hipacu
from hipacu.evidence import load_evidence, validate
from hipacu.review.analysis import run_analysis
from hipacu.review.grading import grade

BCG = Path(__file__).parent / "data" / "bcg"
ASSESS = dict(design="design", mid=0.8, mid_source="illustration: GRADE 6's RR 0.75-1.25 guide, rounded",
              intervention="BCG vaccine", comparator="no vaccine", outcome="tuberculosis")


@pytest.fixture(scope="module")
def m():
    bcg = hipacu.datasets.bcg()
    return hipacu.meta(bcg, measure="RR", studlab="study", events1="tpos", n1="n1", events2="cpos", n2="n2",
                       lower_is_better=True, label1="BCG vaccine", label2="no vaccine", title="Tuberculosis")


def _ratings(g):
    return {j.domain: j.rating for j in g.judgements}


def test_a_ratio_mid_is_read_on_the_natural_scale_and_printed_as_its_two_thresholds(m):
    g = m.grade(**ASSESS)
    imp = g.judgement("imprecision").rationale
    assert "RR 0.8 and 1.25" in imp and "0.344 to 0.696" in imp  # exp of metafor's ci.lb -1.0669, ci.ub -0.3622
    assert "stays in benefit" in imp  # the CI lies below RR 0.8
    g2 = m.grade(**(ASSESS | {"mid": 1.25}))  # 1.25 names the same two thresholds
    assert _ratings(g2) == _ratings(g) and g2.certainty == g.certainty


def test_the_grade_equals_the_bcg_evidence_folders_grade(m):
    """tests/data/bcg holds the same 13 trials with no MID, all direct, not appraised."""
    folder = grade(run_analysis(load_evidence(BCG), "bcg_tb"))
    mine = m.grade(design="design", intervention="BCG vaccine", comparator="no vaccine", outcome="tuberculosis")
    assert _ratings(mine) == _ratings(folder)
    assert (mine.start, mine.level, mine.certainty) == (folder.start, folder.level, folder.certainty)
    assert mine.judgement("risk_of_bias").rationale == folder.judgement("risk_of_bias").rationale


def test_written_as_an_evidence_folder_the_analysis_validates_and_grades_the_same(m, tmp_path):
    kw = ASSESS | dict(rob=["low"] * 6 + ["some concerns"] * 4 + ["High"] * 3,
                       indirect={"population": [False] * 10 + [True] * 3})
    folder = m.to_evidence(tmp_path / "ev", source_url="source_url", locator="locator", **kw)
    ev, problems = validate(folder)
    assert problems == [], problems
    r = run_analysis(ev, "meta")
    assert_allclose([r.pooled.estimate, r.pooled.ci_low, r.pooled.tau2], [m.pooled.estimate, m.pooled.ci_low, m.pooled.tau2],
                    rtol=1e-12)
    g_folder, g_mem = grade(r), m.grade(**kw)
    for a, b in zip(g_folder.judgements, g_mem.judgements):
        assert (a.domain, a.rating, a.rationale) == (b.domain, b.rating, b.rationale)
    assert g_folder.certainty == g_mem.certainty and g_folder.statement == g_mem.statement
    assert set(ev.studies["source_url"]) == set(hipacu.datasets.bcg()["source_url"])


def test_design_is_required_and_judgements_are_checked_per_study(m):
    with pytest.raises(ValueError, match="grade\\(\\) needs the study design"):
        m.grade(mid=0.8)
    with pytest.raises(ValueError, match="rob is 'unclear' for study 'Aronson 1948'; allowed: low, some_concerns"):
        m.grade(design="rct", rob=["unclear"] + ["low"] * 12)
    with pytest.raises(ValueError, match="mid=1: .* a ratio other than 1"):
        m.grade(design="rct", mid=1)
    with pytest.raises(ValueError, match="design='randomised' is neither one of 'rct'.* nor a column of data"):
        m.grade(design="randomised")
    with pytest.raises(ValueError, match="design is 1 for study 'Aronson 1948'"):  # the column 'trial' holds numbers
        m.grade(design="trial")
    g = m.grade(design="rct", rob="Some concerns")  # case and spaces normalised
    assert g.judgement("risk_of_bias").rating == -1


def test_indirectness_unpublished_results_and_overrides_reach_their_domains(m):
    g = m.grade(**ASSESS, indirect={"population": True})
    assert g.judgement("indirectness").rating == -1 and "population" in g.judgement("indirectness").rationale
    g = m.grade(**ASSESS, indirect={"population": True, "outcome": True})
    assert g.judgement("indirectness").rating == -2
    g = m.grade(**ASSESS, unpublished=["A", "B", "C", "D", "E"])  # 5 of 18 eligible: >= 25%
    assert g.judgement("publication_bias").rating == -1 and "A, B, C, D, E" in g.judgement("publication_bias").rationale
    g = m.grade(**ASSESS, overrides=[("inconsistency", -1, "the latitude gradient explains most of it")])
    j = g.judgement("inconsistency")
    assert j.override and j.rating == -1 and j.computed_rating == -2


def test_the_direction_is_needed_for_an_effect_question():
    m = hipacu.meta(measure="MD", estimate=[1.0, 2.0], sei=[0.5, 0.5], n=[40, 50])
    with pytest.raises(ValueError, match="needs the outcome's direction"):
        m.grade(design="rct")
    g = m.grade(design="rct", lower_is_better=False, mid=0.5)
    assert g.certainty in ("high", "moderate", "low", "very_low")
    no_n = hipacu.meta(measure="MD", estimate=[1.0, 2.0], sei=[0.5, 0.5])
    with pytest.raises(ValueError, match="needs the participants of every study"):
        no_n.grade(design="rct", lower_is_better=False)


def test_a_generic_analysis_at_90_percent_keeps_its_ci_level_in_the_evidence_folder(tmp_path):
    """RR 0.75 (90% CI 0.60 to 0.94) and RR 1.10 (0.80 to 1.50): the folder re-derives the same variances."""
    m = hipacu.meta(measure="RR", studlab=["A", "B"], estimate=[0.75, 1.10], ci_low=[0.60, 0.80], ci_high=[0.94, 1.50],
                    log=True, ci_level=0.90, n=[200, 300], lower_is_better=True)
    folder = m.to_evidence(tmp_path / "ev", source_url="https://example.org/two-trials", design="rct", value_type="final")
    ev, problems = validate(folder)
    assert problems == []
    r = run_analysis(ev, "meta")
    assert_allclose(r.included["vi"], m.vi, rtol=1e-12)
