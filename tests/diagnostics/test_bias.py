"""hipacu.diagnostics.bias (small-study effects) against metafor 3.8.

Reference values: tests/reference/metafor_bias.json, written by tests/reference/make_metafor_bias.R
(versions in its ``meta`` block). Every case runs through the public API.

Known, explained divergences (asserted, not skipped):
- All effects identical. metafor's residuals are rounding noise (~1e-17) rather than 0, so
  ``regtest(model="lm")`` prints a t statistic of pure noise (with "essentially perfect fit"),
  ``test="knha"`` gives t = ±Inf, ``ranktest`` a tau of ±1 and ``trimfill`` either fails or (for
  some sides) returns k0 = 0 by chance. hipacu raises ValueError saying why in all of these. The
  meta-regression z test (no noise amplification) is compared: slope 0 vs ~1e-16.
- Exact Begg p-values: R computes the upper tail as ``1 - cdf``; hipacu sums the upper tail, which
  only differs when p < ~1e-8 (no fixture case is that small).
- ``trimfill`` with REML/ML where τ² converges to ~0: metafor stops at an absolute change of
  1e-14, hipacu at 1e-12 relative, so τ² differs by < ATOL_ZERO and I² (percent) by < 1e-8.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

import hipacu
from hipacu.diagnostics import bias
from conftest import ATOL_ZERO, TOL_CLOSED_FORM, TOL_ITERATIVE, load_reference

REF = load_reference("metafor_bias.json")
DATA = REF["datasets"]
ITERATIVE = {"REML", "ML", "EB", "PM"}
REG_FIELDS = ["statistic", "pval", "df", "limit_estimate", "limit_ci_low", "limit_ci_high", "slope", "slope_se",
              "limit_se"]
POOL_FIELDS = ["estimate", "se", "ci_low", "ci_high", "statistic", "pval", "tau2", "q"]
MAIN = {"bcg_logrr", "hackshaw_logor", "normand_smd", "raudenbush", "magnesium_logor", "molloy_zcor",
        "pagliaro_logor", "zerocells_logor"}
#: Cases where metafor returns rounding noise and hipacu raises (see the module docstring).
NOISE = "fits the effects exactly"


def _tol(method) -> float:
    return TOL_ITERATIVE if method in ITERATIVE else TOL_CLOSED_FORM


def _arr(x):
    return np.atleast_1d(np.asarray(x if x is not None else [], dtype=float))


def _quiet(fun, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fun(*args, **kwargs)


# --------------------------------------------------------------------------- grid


def test_case_grid_is_complete():
    """Every dataset x model x predictor x method x test, and every trim-and-fill option, is in the fixture."""
    assert {"bcg_logrr", "hackshaw_logor", "normand_smd", "raudenbush"} <= set(DATA)
    assert sum(len(_arr(DATA[d]["yi"])) >= 10 for d in MAIN) >= 6
    assert set(REF["rma_methods"]) == set(hipacu.METHODS)

    reg = {c["id"] for c in REF["regression"]}
    egger_sets = MAIN | {"edge_k3", "edge_identical", "edge_equal_vi", "edge_tied_vi"}
    expected = set()
    for d in egger_sets:
        for pred in ("sei", "vi"):
            expected.add(f"egger_test/{d}/lm/{pred}")
            for m in hipacu.METHODS:
                if pred == "sei" or m in ("FE", "REML"):
                    expected.add(f"egger_test/{d}/rma/{pred}/{m}/z")
            for m in ("DL", "REML") if pred == "sei" else ("REML",):
                expected.add(f"egger_test/{d}/rma/{pred}/{m}/knha")
    for d in (MAIN - {"hackshaw_logor"}) | {"edge_k3", "edge_equal_vi"}:
        expected.add(f"peters_test/{d}/lm/ninv")
        expected |= {f"peters_test/{d}/rma/ninv/{m}/z" for m in ("FE", "DL", "REML")}
    assert reg == expected

    assert {c["dataset"] for c in REF["ranktest"]} == MAIN | {"edge_k2", "edge_k3", "edge_identical",
                                                              "edge_equal_vi", "edge_tied_vi"}
    tf = {c["id"] for c in REF["trimfill"]}
    tf_sets = MAIN | {"edge_k2", "edge_k3", "edge_identical", "edge_equal_vi", "edge_tied_vi"}
    expected = {f"trim_and_fill/{d}/{m}/{e}/{s}" for d in tf_sets for m in ("FE", "DL", "REML")
                for e in bias.TRIMFILL_ESTIMATORS for s in ("auto", "left", "right")}
    expected |= {f"trim_and_fill/{d}/{m}/{e}/auto" for d in tf_sets for m in ("ML", "PM")
                 for e in bias.TRIMFILL_ESTIMATORS}
    assert tf == expected
    # both sides are actually chosen by the automatic rule, and every estimator imputes somewhere
    auto = [c for c in REF["trimfill"] if c["side"] == "auto" and "expected" in c]
    assert {c["expected"]["side"] for c in auto} == {"left", "right"}
    for est in bias.TRIMFILL_ESTIMATORS:
        assert any(c["expected"]["k0"] > 0 for c in auto if c["estimator"] == est)
    assert len(REF["contours"]) == 4


# --------------------------------------------------------------------------- regression tests


def _run_regression(case):
    d = DATA[case["dataset"]]
    opts = dict(model=case["model"], method=case["method"] or "FE", knha=case["knha"])
    if case["fun"] == "egger_test":
        return _quiet(hipacu.egger_test, d["yi"], d["vi"], predictor=case["predictor"], **opts)
    return _quiet(hipacu.peters_test, d["yi"], d["vi"], d["ni"], **opts)


@pytest.mark.parametrize("case", REF["regression"], ids=lambda c: c["id"])
def test_regression_test_matches_metafor_regtest(case):
    if "error" in case:
        assert "full rank" in case["error"]
        with pytest.raises(ValueError, match="collinear with the intercept"):
            _run_regression(case)
        return
    if case["dataset"] == "edge_identical" and (case["model"] == "lm" or case["knha"]):
        # documented divergence: metafor's statistic is rounding noise (or ±Inf)
        if case["model"] == "lm":
            assert any("essentially perfect fit" in w for w in case["warnings"])
        else:
            assert np.isinf(case["expected"]["statistic"])
        with pytest.raises(ValueError, match=NOISE):
            _run_regression(case)
        return
    res = _run_regression(case)
    exp = case["expected"]
    tol = _tol(case["method"])
    assert res.k == len(_arr(DATA[case["dataset"]]["yi"]))
    assert res.model == case["model"] and res.predictor == case["predictor"]
    for name in REG_FIELDS:
        want = exp[name]
        if name == "df":
            assert res.df == want, name
            continue
        # identical effects: the slope is exactly 0 in hipacu and ~1e-16 in metafor
        atol = 1e-14 if case["dataset"] == "edge_identical" else ATOL_ZERO
        assert_allclose(getattr(res, name), want, rtol=tol, atol=atol, err_msg=f"{case['id']}: {name}")
    if case["model"] == "rma":
        assert_allclose(res.tau2, exp["tau2"], rtol=tol, atol=ATOL_ZERO)
    else:
        assert res.tau2 is None and exp["tau2"] is None


# --------------------------------------------------------------------------- rank test


@pytest.mark.parametrize("case", REF["ranktest"], ids=lambda c: c["id"])
def test_begg_test_matches_metafor_ranktest(case):
    d = DATA[case["dataset"]]
    exp = case.get("expected")
    if case["dataset"] == "edge_equal_vi":
        assert exp["tau"] is None  # metafor: NA with "the standard deviation is zero"
        with pytest.raises(ValueError, match="variances are equal"):
            hipacu.begg_test(d["yi"], d["vi"])
        return
    if case["dataset"] == "edge_identical":
        assert abs(exp["tau"]) == 1  # metafor: a tau from rounding noise
        with pytest.raises(ValueError, match="effects are identical"):
            hipacu.begg_test(d["yi"], d["vi"])
        return
    ties = "Cannot compute exact p-value with ties" in case["warnings"]
    if ties:
        with pytest.warns(UserWarning, match="normal approximation"):
            res = hipacu.begg_test(d["yi"], d["vi"])
    else:
        res = hipacu.begg_test(d["yi"], d["vi"])
    assert res.exact is not ties
    assert res.k == len(_arr(d["yi"]))
    assert_allclose(res.kendall_tau, exp["tau"], rtol=TOL_CLOSED_FORM, atol=ATOL_ZERO)
    assert_allclose(res.pval, exp["pval"], rtol=TOL_CLOSED_FORM, atol=ATOL_ZERO)


# --------------------------------------------------------------------------- trim and fill

_TF_ERRORS = {
    # metafor message -> hipacu's reason
    "missing value where TRUE/FALSE needed": "equal so the slope is undefined|Q0 estimator is undefined|identical",
    "Number of parameters to be estimated is larger than the number of observations.": "needs k >= 3",
    "Trim and fill algorithm did not converge.": "identical",
    "argument must be coercible to non-negative integer": "identical",
}


def _run_trimfill(case):
    d = DATA[case["dataset"]]
    side = None if case["side"] == "auto" else case["side"]
    return _quiet(hipacu.trim_and_fill, d["yi"], d["vi"], method=case["method"], estimator=case["estimator"],
                  side=side)


def _assert_pool(got, want, tol, cid):
    assert got.k == want["k"]
    for name in POOL_FIELDS:
        assert_allclose(getattr(got, name), want[name], rtol=tol, atol=ATOL_ZERO, err_msg=f"{cid}: {name}")
    # I² is in percent: near τ² = 0 it carries the iterative tolerance (see module docstring)
    assert_allclose(got.i2, want["i2"], rtol=tol, atol=tol, err_msg=f"{cid}: i2")
    assert_allclose(got.h2, want["h2"], rtol=tol, atol=ATOL_ZERO, err_msg=f"{cid}: h2")


@pytest.mark.parametrize("case", REF["trimfill"], ids=lambda c: c["id"])
def test_trim_and_fill_matches_metafor_trimfill(case):
    if "error" in case:
        with pytest.raises(ValueError, match=_TF_ERRORS[case["error"]]):
            _run_trimfill(case)
        return
    if case["dataset"] == "edge_identical":
        # documented divergence: metafor's k0 = 0 here comes from rounding noise in the residuals
        with pytest.raises(ValueError, match="identical"):
            _run_trimfill(case)
        return
    res = _run_trimfill(case)
    exp = case["expected"]
    tol = _tol(case["method"])
    assert res.k0 == exp["k0"]
    assert res.side == exp["side"]
    if case["side"] != "auto":
        assert res.side == case["side"]
    assert res.estimator == case["estimator"] and res.method == case["method"]
    if exp["se_k0"] is None:
        assert np.isnan(res.se_k0)  # metafor: NA (negative variance formula)
    else:
        assert_allclose(res.se_k0, exp["se_k0"], rtol=TOL_CLOSED_FORM)
    if case["estimator"] == "R0":
        assert_allclose(res.p_k0, exp["p_k0"], rtol=TOL_CLOSED_FORM)
    else:
        assert res.p_k0 is None and exp["p_k0"] is None
    assert_allclose(res.filled_yi, _arr(exp["filled_yi"]), rtol=tol, atol=ATOL_ZERO)
    assert_allclose(res.filled_vi, _arr(exp["filled_vi"]), rtol=TOL_CLOSED_FORM)
    _assert_pool(res.filled, exp["filled"], tol, case["id"] + " filled")
    _assert_pool(res.original, exp["original"], tol, case["id"] + " original")


# --------------------------------------------------------------------------- funnel contours


@pytest.mark.parametrize("case", REF["contours"], ids=lambda c: c["id"])
def test_funnel_contours_match_metafor_funnel_lines(case):
    se = np.asarray(case["se"])
    c = hipacu.funnel_contours(case["estimate"], case["se_max"], tuple(case["levels"]), tau2=case["tau2"],
                               n_points=len(se))
    assert_allclose(c.se, se, rtol=TOL_CLOSED_FORM, atol=ATOL_ZERO)
    assert_allclose(c.crit, case["crit"], rtol=TOL_CLOSED_FORM)
    assert_allclose(c.left, case["left"], rtol=TOL_CLOSED_FORM)
    assert_allclose(c.right, case["right"], rtol=TOL_CLOSED_FORM)
    assert c.levels == tuple(case["levels"])
