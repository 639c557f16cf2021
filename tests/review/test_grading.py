"""GRADE rule table: every rule at and on each side of its threshold; constructed analyses with a
known grade; the bundled evidence grades deterministically; the CLI prints the claims."""

from __future__ import annotations

import dataclasses

from hipacu.evidence import Override
import json
import subprocess
import sys

import pytest

from hipacu.review.analysis import run_analysis
from hipacu.review.claims import VERDICTS, grade_claims, summary_of_findings, sof_html
from hipacu.evidence import load_evidence
from hipacu.review.grading import DOMAINS, OPTIMAL_INFORMATION_SIZE, RULES, Context, _judge, grade, rules_frame
from evidence_fixture import ANALYSES, CLAIM, OUTCOME, STUDY, make_folder

NEUTRAL = Context(k=5, participants=1000, question="effect", weight_high_rob=0.0, weight_concerns_rob=0.0,
                  weight_rob_not_assessed=0.0, weight_indirect_population=0.0, weight_indirect_intervention=0.0,
                  i2=0.0, q_pval=0.9, sides=1, ci_categories=1, crosses_threshold=False, eligible=5,
                  eligible_missing=0, missing_labels="", egger_pval=float("nan"), ci_text="95% CI -1 to -0.5",
                  threshold_text="the MID")


def rating(domain: str, **changes) -> int:
    return _judge(domain, dataclasses.replace(NEUTRAL, **changes)).rating


def test_neutral_context_is_not_rated_down_in_any_domain():
    assert [rating(d) for d in DOMAINS] == [0, 0, 0, 0, 0]


def test_every_rule_cites_grade_guidance():
    assert all(r.guidance for r in RULES)
    assert set(rules_frame()["domain"]) == set(DOMAINS)


# ---- risk of bias
@pytest.mark.parametrize("high, concerns, expected", [
    (0.50, 1.0, -2), (0.49, 1.0, -1), (0.60, 0.99, -1), (0.0, 0.50, -1), (0.0, 0.49, 0)])
def test_risk_of_bias_thresholds(high, concerns, expected):
    assert rating("risk_of_bias", weight_high_rob=high, weight_concerns_rob=concerns) == expected


@pytest.mark.parametrize("share, expected", [(0.50, -1), (0.49, 0)])
def test_risk_of_bias_not_assessed_threshold(share, expected):
    assert rating("risk_of_bias", weight_rob_not_assessed=share) == expected


# ---- inconsistency
@pytest.mark.parametrize("i2, p, sides, expected", [
    (75.0, 0.09, 2, -2), (74.9, 0.09, 2, -1), (50.0, 0.09, 2, -1), (49.9, 0.09, 2, 0),
    (80.0, 0.10, 2, 0), (80.0, 0.09, 1, 0)])
def test_inconsistency_thresholds(i2, p, sides, expected):
    assert rating("inconsistency", i2=i2, q_pval=p, sides=sides) == expected


def test_inconsistency_of_a_single_study_is_not_assessable():
    j = _judge("inconsistency", dataclasses.replace(NEUTRAL, k=1, i2=0.0))
    assert j.rating == 0 and "single study" in j.rationale


def test_heterogeneity_on_one_side_says_why_it_is_not_rated_down():
    j = _judge("inconsistency", dataclasses.replace(NEUTRAL, i2=90.0, q_pval=0.001, sides=1))
    assert "same side" in j.rationale


# ---- indirectness
@pytest.mark.parametrize("pop, intervention, expected", [
    (0.5, 0.0, -1), (0.49, 0.0, 0), (0.0, 0.5, -1), (0.0, 0.49, 0), (0.5, 0.5, -2), (0.49, 0.5, -1)])
def test_indirectness_thresholds(pop, intervention, expected):
    assert rating("indirectness", weight_indirect_population=pop, weight_indirect_intervention=intervention) == expected


# ---- imprecision
@pytest.mark.parametrize("cats, crosses, n, expected", [
    (3, True, 5000, -2),
    (2, True, OPTIMAL_INFORMATION_SIZE - 1, -2), (2, True, OPTIMAL_INFORMATION_SIZE, -1),
    (1, False, OPTIMAL_INFORMATION_SIZE - 1, -1), (1, False, OPTIMAL_INFORMATION_SIZE, 0)])
def test_imprecision_thresholds(cats, crosses, n, expected):
    assert rating("imprecision", ci_categories=cats, crosses_threshold=crosses, participants=n) == expected


def test_optimal_information_size_does_not_apply_to_frequency_questions():
    assert rating("imprecision", question="frequency", participants=10, crosses_threshold=True, ci_categories=2) == -1
    assert rating("imprecision", question="frequency", participants=10) == 0


# ---- publication bias
@pytest.mark.parametrize("k, p, expected", [(10, 0.09, -1), (10, 0.10, 0), (9, 0.01, 0)])
def test_funnel_asymmetry_needs_ten_studies(k, p, expected):
    assert rating("publication_bias", k=k, egger_pval=p) == expected


@pytest.mark.parametrize("eligible, missing, expected", [(2, 1, -1), (3, 1, 0), (4, 2, -1), (0, 0, 0)])
def test_missing_trials_threshold(eligible, missing, expected):
    assert rating("publication_bias", eligible=eligible, eligible_missing=missing) == expected


# ---- constructed analyses with a known grade


def _trial(i: int, rob: str, n: int, mean1: float, sd: float = 10.0) -> tuple[dict, dict]:
    sid = f"T{i:02d}"
    study = dict(STUDY, study_id=sid, label=f"Trial {i}", rob_randomisation=rob, rob_deviations=rob,
                 rob_missing=rob, rob_measurement=rob, rob_reporting=rob, rob_overall=rob)
    row = dict(OUTCOME, outcome_id=f"{sid}.pain", study_id=sid, n1=str(n), n2=str(n), mean1=str(mean1),
               sd1=str(sd), mean2="50", sd2=str(sd))
    return study, row


def _folder(tmp_path, trials, mid="5.0"):
    studies = [t[0] for t in trials]
    rows = [t[1] for t in trials]
    toml = ANALYSES.replace('rows = ["Trial2020.pain.w8"]', "rows = [" + ", ".join(f'"{r["outcome_id"]}"' for r in rows) + "]")
    toml = toml.replace("mid = 15.0", f"mid = {mid}")
    toml += 'comparison = "sham"\nconditions = ["hip_oa"]\n'
    return load_evidence(make_folder(tmp_path, studies_csv=studies, outcomes_csv=rows, safety_csv=[], reviews_csv=[],
                                     claims_csv=[CLAIM], analyses_toml=toml))


def test_large_consistent_precise_low_risk_set_is_high_certainty(tmp_path):
    trials = [_trial(i, "low", 100 + 10 * i, 40.0 + (i % 3) * 0.5) for i in range(12)]
    g = grade(run_analysis(_folder(tmp_path, trials), "sham_pain"))
    assert g.certainty == "high", g.summary()
    assert g.statement.startswith("Real acupuncture") or "reduces" in g.statement


def test_single_small_high_risk_trial_is_very_low_certainty(tmp_path):
    g = grade(run_analysis(_folder(tmp_path, [_trial(1, "high", 15, 45.0)]), "sham_pain"))
    assert g.certainty == "very_low"
    assert g.statement.startswith("The evidence is very uncertain")
    assert g.judgement("risk_of_bias").rating == -2 and g.judgement("imprecision").rating == -2


def test_override_replaces_the_domain_and_keeps_the_computed_rating(tmp_path):
    trials = [_trial(i, "low", 100, 40.0) for i in range(3)]
    ev = _folder(tmp_path, trials)
    spec = dataclasses.replace(ev.analysis("sham_pain"), overrides=(Override("imprecision", -1, "a reason"),))
    ev = dataclasses.replace(ev, analyses=(spec,))
    j = grade(run_analysis(ev, "sham_pain")).judgement("imprecision")
    assert j.override and j.rating == -1 and j.computed_rating == 0 and "a reason" in j.rationale


@pytest.mark.parametrize("level, phrase", [(4, "reduces pain"), (3, "probably reduces pain"), (2, "may reduce pain")])
def test_statement_wording_follows_certainty(tmp_path, level, phrase):
    from hipacu.review.grading import statement

    trials = [_trial(i, "low", 100, 40.0) for i in range(3)]
    r = run_analysis(_folder(tmp_path, trials), "sham_pain")
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
    rows = json.loads(out.stdout)
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
