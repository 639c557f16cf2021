"""The review layer's model choice: the model rule, the dispatch to GLMM and Bayesian fits, the prior
strings of analyses.toml, and the weight shares of models without inverse-variance weights."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from numpy.testing import assert_allclose

import hipacu
from conftest import TOL_CLOSED_FORM
from hipacu.evidence import load_evidence
from hipacu.review.analysis import MODELS, model_rule, run_analysis, study_weights
from hipacu.review.grading import method_sensitivity
from hipacu.review.study_table import build_study_table


@pytest.fixture(scope="module")
def ev():
    return load_evidence()


def test_rates_default_to_the_glmm_and_effects_to_inverse_variance(ev):
    rates = [a for a in ev.analyses if a.question == "frequency" and a.model is None]
    effects = [a for a in ev.analyses if a.question == "effect" and a.model is None]
    assert rates and effects
    assert {model_rule(a)[0] for a in rates} == {"glmm"}
    assert {model_rule(a)[0] for a in effects} == {"rma"}
    assert model_rule(dataclasses.replace(rates[0], model="rma"))[0] == "rma"


def test_a_rate_analysis_is_the_glmm_on_its_counts(ev):
    spec = next(a for a in ev.analyses if a.question == "frequency" and len(a.rows) >= 2)
    r = run_analysis(ev, spec.id)
    inc = r.included
    direct = hipacu.glmm(measure="PLO", events=inc["events"].to_numpy(float), total=inc["n"].to_numpy(float))
    assert r.model == "glmm"
    assert_allclose([r.pooled.estimate, r.pooled.ci_low, r.pooled.ci_high],
                    [direct.estimate, direct.ci_low, direct.ci_high], rtol=TOL_CLOSED_FORM)


def test_a_single_rate_study_gets_its_exact_interval(ev):
    spec = next(a for a in ev.analyses if a.question == "frequency" and len(a.rows) == 1)
    r = run_analysis(ev, spec.id)
    if r.k != 1:
        pytest.fail(f"{spec.id} lists one row but pools {r.k}")
    exact = hipacu.exact_rate(r.included["events"], r.included["n"])
    assert r.pooled.method == "exact" and r.pooled.ci_low == exact.ci_low


def test_bayes_model_uses_the_prior_named_in_analyses_toml(ev):
    spec = dataclasses.replace(ev.analysis("oa_sham_pain"), model="bayes", prior="half_normal(5)")
    table = build_study_table(ev, spec)
    got = MODELS["bayes"](table, spec, "z")
    want = hipacu.bayes(table.included["yi"], table.included["vi"], tau_prior=hipacu.priors.half_normal(5))
    assert got.estimate == want.estimate and got.ci_high == want.ci_high


def test_an_unknown_prior_string_is_a_validation_error_naming_the_analysis(tmp_path, ev):
    import shutil

    folder = tmp_path / "ev"
    shutil.copytree(hipacu.evidence.bundled_evidence_path(), folder)
    text = (folder / "analyses.toml").read_text(encoding="utf-8")
    text = text.replace('id = "oa_sham_pain"', 'id = "oa_sham_pain"\nprior = "halfnormal(0.5)"', 1)
    (folder / "analyses.toml").write_text(text, encoding="utf-8")
    (folder / "topic.toml").write_text("title = 'copy'\n", encoding="utf-8")
    _, problems = hipacu.evidence.validate(folder)
    msgs = [str(p) for p in problems if p.column == "oa_sham_pain.prior"]
    assert msgs and "half_normal(...)" in msgs[0]


def test_models_without_iv_weights_get_the_normal_weights_at_their_tau2():
    class Fit:  # what a GLMM or Bayesian result offers: no weights, a tau2
        tau2 = 0.04

    vi = np.array([0.01, 0.04, 0.09])
    w = study_weights(Fit(), vi)
    inv = 1 / (vi + 0.04)
    assert_allclose(w, 100 * inv / inv.sum(), rtol=TOL_CLOSED_FORM)
    assert_allclose(w.sum(), 100.0, rtol=TOL_CLOSED_FORM)


def test_the_method_panel_of_a_rate_shows_the_two_step_fits_and_the_glmm(ev):
    spec = next(a for a in ev.analyses if a.question == "frequency" and len(a.rows) >= 3)
    panel = method_sensitivity(run_analysis(ev, spec.id))
    assert "GLMM (counts)" in set(panel["label"]) and "REML, Hartung-Knapp" in set(panel["label"])
    assert panel["primary"].sum() == 1
