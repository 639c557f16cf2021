"""hipacu.diagnostics.bias: identities, edge cases and bad input, each stated in the test name."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from numpy.testing import assert_allclose

import hipacu
from hipacu.diagnostics import bias
from conftest import ATOL_ZERO, TOL_CLOSED_FORM, load_reference

DATA = load_reference("metafor_bias.json")["datasets"]
BCG = DATA["bcg_logrr"]
HACK = DATA["hackshaw_logor"]
YI = [0.1, 0.3, 0.5, -0.2, 0.8, 0.05]
VI = [0.04, 0.05, 0.1, 0.03, 0.2, 0.01]
NI = [120, 90, 50, 160, 30, 400]


# --------------------------------------------------------------------------- identities


def test_egger_lm_equals_the_original_standard_normal_deviate_regression():
    """Egger et al. (1997): OLS of y/se on 1/se; its intercept is hipacu's slope and vice versa."""
    y, v = np.asarray(BCG["yi"]), np.asarray(BCG["vi"])
    se = np.sqrt(v)
    X = np.column_stack([np.ones_like(se), 1 / se])
    z = y / se
    coef, rss, *_ = np.linalg.lstsq(X, z, rcond=None)
    cov = rss[0] / (len(y) - 2) * np.linalg.inv(X.T @ X)
    res = hipacu.egger_test(y, v, model="lm")
    assert_allclose([res.slope, res.limit_estimate], coef, rtol=TOL_CLOSED_FORM)
    assert_allclose(res.statistic, coef[0] / np.sqrt(cov[0, 0]), rtol=TOL_CLOSED_FORM)
    assert res.df == len(y) - 2


def test_fixed_effect_meta_regression_has_the_lm_coefficients_and_unscaled_standard_errors():
    lm = hipacu.egger_test(BCG["yi"], BCG["vi"], model="lm")
    fe = hipacu.egger_test(BCG["yi"], BCG["vi"], model="rma", method="FE")
    assert_allclose([fe.limit_estimate, fe.slope], [lm.limit_estimate, lm.slope], rtol=TOL_CLOSED_FORM)
    # lm multiplies (X'WX)^-1 by one dispersion factor, the same for both coefficients
    assert_allclose(lm.slope_se / fe.slope_se, lm.limit_se / fe.limit_se, rtol=TOL_CLOSED_FORM)
    assert np.isinf(fe.df) and fe.tau2 == 0


def test_egger_fitted_line_passes_through_the_limit_estimate_at_se_zero():
    res = hipacu.egger_test(YI, VI)
    assert res.fitted(0.0) == res.limit_estimate
    assert_allclose(res.fitted([0.0, 1.0]), [res.limit_estimate, res.limit_estimate + res.slope])


def test_begg_exact_p_value_equals_full_permutation_enumeration():
    y = np.array([0.31, -0.12, 0.55, 0.02, 0.9, 0.4])
    v = np.array([0.02, 0.05, 0.11, 0.03, 0.25, 0.07])
    res = hipacu.begg_test(y, v)
    assert res.exact
    w = 1 / v
    ystar = (y - (w * y).sum() / w.sum()) / np.sqrt(v - 1 / w.sum())

    def kendall_s(a, b):
        return sum(np.sign(a[i] - a[j]) * np.sign(b[i] - b[j]) for i, j in itertools.combinations(range(len(a)), 2))

    s_obs = kendall_s(ystar, v)
    null = np.array([kendall_s(ystar, np.array(p)) for p in itertools.permutations(v)])
    p = min(1.0, 2 * min((null <= s_obs).mean(), (null >= s_obs).mean()))
    assert_allclose(res.pval, p, rtol=TOL_CLOSED_FORM)
    assert_allclose(res.kendall_tau, s_obs / 15, rtol=TOL_CLOSED_FORM)


def test_trim_and_fill_right_side_is_the_mirror_image_of_left_side_on_negated_effects():
    y, v = np.asarray(HACK["yi"]), np.asarray(HACK["vi"])
    for method in ("FE", "REML"):
        for est in bias.TRIMFILL_ESTIMATORS:
            a = hipacu.trim_and_fill(y, v, method=method, estimator=est, side="left")
            b = hipacu.trim_and_fill(-y, v, method=method, estimator=est, side="right")
            assert a.k0 == b.k0 > 0
            assert_allclose(a.filled_yi, -b.filled_yi, rtol=1e-12)
            assert_allclose(a.filled.estimate, -b.filled.estimate, rtol=1e-10)


def test_filled_studies_mirror_the_most_extreme_studies_about_the_trimmed_estimate():
    res = hipacu.trim_and_fill(HACK["yi"], HACK["vi"], side="left")
    y = np.asarray(HACK["yi"])
    largest = np.sort(y)[::-1][: res.k0]
    assert_allclose(np.sort(res.filled_yi), np.sort(2 * res.trimmed_estimate - largest), rtol=1e-12)
    assert (res.filled_yi < res.trimmed_estimate).all()
    assert res.filled.k == len(y) + res.k0
    assert_allclose(res.augmented_yi[: len(y)], y)
    assert res.is_filled.sum() == res.k0
    frame = res.to_frame()
    assert list(frame.columns) == ["yi", "vi", "sei", "filled"] and len(frame) == res.filled.k


def test_filled_estimate_is_the_pool_of_the_augmented_data():
    res = hipacu.trim_and_fill(HACK["yi"], HACK["vi"], method="REML")
    again = hipacu.pool(res.augmented_yi, res.augmented_vi, method="REML")
    assert again.estimate == res.filled.estimate


def test_no_missing_studies_returns_the_original_fit_as_filled():
    res = hipacu.trim_and_fill(HACK["yi"], HACK["vi"], side="right")
    assert res.k0 == 0
    assert res.filled is res.original
    assert res.filled_yi.shape == (0,) and res.filled_vi.shape == (0,)


def test_r0_p_value_is_one_half_to_the_power_k0_plus_one():
    res = hipacu.trim_and_fill(HACK["yi"], HACK["vi"], estimator="R0")
    assert res.k0 > 0
    assert res.p_k0 == 0.5 ** (res.k0 + 1)


def test_se_k0_is_nan_when_the_l0_variance_formula_is_negative_as_metafor_prints_na():
    res = hipacu.trim_and_fill(BCG["yi"], BCG["vi"], side="left")
    assert res.k0 == 0 and np.isnan(res.se_k0)
    assert "SE = NA" in res.summary()


def test_automatic_side_follows_the_sign_of_the_egger_type_slope():
    for d in (BCG, HACK):
        slope = hipacu.egger_test(d["yi"], d["vi"], model="rma", method="FE").slope
        assert hipacu.trim_and_fill(d["yi"], d["vi"]).side == ("right" if slope < 0 else "left")


# --------------------------------------------------------------------------- edges


def test_egger_test_needs_three_studies():
    with pytest.raises(ValueError, match=r"Egger's test needs k >= 3 studies; got k = 2"):
        hipacu.egger_test([0.1, 0.5], [0.1, 0.2])


def test_peters_test_needs_three_studies():
    with pytest.raises(ValueError, match=r"Peters' test needs k >= 3 studies; got k = 2"):
        hipacu.peters_test([0.1, 0.5], [0.1, 0.2], [10, 20])


def test_begg_test_needs_two_studies():
    with pytest.raises(ValueError, match=r"k >= 2 studies; got k = 1"):
        hipacu.begg_test([0.1], [0.1])


def test_trim_and_fill_needs_two_studies():
    with pytest.raises(ValueError, match=r"k >= 2 studies; got k = 1"):
        hipacu.trim_and_fill([0.1], [0.1])


def test_egger_lm_with_identical_effects_is_refused_not_reported_as_noise():
    with pytest.raises(ValueError, match="fits the effects exactly"):
        hipacu.egger_test([0.2] * 5, [0.1, 0.2, 0.3, 0.05, 0.4])


def test_egger_meta_regression_z_test_with_identical_effects_has_slope_zero():
    res = hipacu.egger_test([0.2] * 5, [0.1, 0.2, 0.3, 0.05, 0.4], model="rma", method="REML")
    assert_allclose(res.slope, 0, atol=ATOL_ZERO)
    assert_allclose(res.limit_estimate, 0.2, rtol=1e-12)
    assert_allclose(res.pval, 1, rtol=1e-12)


def test_equal_variances_make_the_egger_predictor_collinear():
    with pytest.raises(ValueError, match="collinear with the intercept"):
        hipacu.egger_test(YI, [0.1] * 6)


def test_equal_sample_sizes_make_the_peters_predictor_collinear():
    with pytest.raises(ValueError, match=r"1/ni\) is the same for every study"):
        hipacu.peters_test(YI, VI, [50] * 6)


def test_begg_test_warns_and_uses_the_normal_approximation_with_ties():
    with pytest.warns(UserWarning, match="normal approximation"):
        res = hipacu.begg_test(YI, [0.04, 0.04, 0.1, 0.03, 0.2, 0.01])
    assert not res.exact
    assert "normal approximation" in res.summary()


def test_trim_and_fill_with_equal_variances_needs_an_explicit_side():
    with pytest.raises(ValueError, match="pass side='left' or side='right'"):
        hipacu.trim_and_fill(YI, [0.1] * 6)
    res = hipacu.trim_and_fill(YI, [0.1] * 6, side="left")
    assert res.side == "left"


def test_trim_and_fill_random_effects_with_two_studies_needs_an_explicit_side():
    with pytest.raises(ValueError, match="needs k >= 3 studies; got k = 2"):
        hipacu.trim_and_fill([0.2, 0.9], [0.04, 0.09], method="REML")
    assert hipacu.trim_and_fill([0.2, 0.9], [0.04, 0.09], method="REML", side="left").side == "left"


def test_trim_and_fill_with_identical_effects_is_refused():
    with pytest.raises(ValueError, match="identical"):
        hipacu.trim_and_fill([0.1] * 4, [0.1, 0.2, 0.3, 0.05], side="right")


def test_trim_and_fill_raises_when_k0_does_not_settle_within_maxiter():
    with pytest.raises(ValueError, match="did not converge in maxiter=1"):
        hipacu.trim_and_fill(HACK["yi"], HACK["vi"], maxiter=1)


def test_meta_regression_non_convergence_raises(monkeypatch):
    monkeypatch.setattr(bias, "MAXITER", 1)
    with pytest.raises(ValueError, match="did not converge"):
        hipacu.egger_test(HACK["yi"], HACK["vi"], model="rma", method="REML")


def test_results_are_frozen():
    results = [hipacu.egger_test(YI, VI), hipacu.begg_test(YI, VI), hipacu.trim_and_fill(YI, VI),
               hipacu.funnel_contours(0.0, 1.0)]
    for r in results:
        name = dataclasses.fields(r)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(r, name, 1)
    with pytest.raises(ValueError):
        results[3].se[0] = 1.0  # read-only arrays


def test_results_have_one_row_frames_and_readable_summaries():
    e, b = hipacu.egger_test(YI, VI), hipacu.begg_test(YI, VI)
    assert len(e.to_frame()) == 1 and "statistic" in e.to_frame()
    assert len(b.to_frame()) == 1
    assert "t = " in e.summary() and "Limit estimate" in str(e)
    assert "z = " in hipacu.egger_test(YI, VI, model="rma", method="DL").summary()
    assert "Kendall's tau" in str(b)
    assert "Estimated number of missing studies" in str(hipacu.trim_and_fill(YI, VI, estimator="R0"))


# --------------------------------------------------------------------------- funnel contours


def test_funnel_contours_are_symmetric_and_closed_at_se_zero():
    c = hipacu.funnel_contours(0.3, 0.5)
    assert c.levels == (0.90, 0.95, 0.99)
    assert c.se[0] == 0 and c.se[-1] == 0.5 and c.left.shape == (3, 100)
    assert_allclose(c.left[:, 0], 0.3)
    assert_allclose(c.right[:, 0], 0.3)
    assert_allclose(c.right - 0.3, 0.3 - c.left, rtol=1e-12)
    assert_allclose(c.right[:, -1] - c.left[:, -1], 2 * c.crit * 0.5)
    assert (np.diff(c.crit) > 0).all()  # wider for higher levels
    frame = c.to_frame()
    assert list(frame.columns) == ["level", "se", "left", "right"] and len(frame) == 300


def test_funnel_contours_with_tau2_do_not_close_at_se_zero():
    c = hipacu.funnel_contours(0.0, 1.0, 0.95, tau2=0.04, n_points=3)
    assert_allclose(c.right[0, 0], 1.959963984540054 * 0.2)


def test_trim_and_fill_contours_centre_on_the_filled_estimate():
    res = hipacu.trim_and_fill(HACK["yi"], HACK["vi"])
    c = res.funnel_contours()
    assert c.estimate == res.filled.estimate
    assert_allclose(c.se[-1], 1.1 * np.sqrt(res.augmented_vi.max()))


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: hipacu.egger_test(YI, VI, model="glm"), r"model='glm' is not allowed; choose one of 'lm', 'rma'"),
        (lambda: hipacu.egger_test(YI, VI, model="rma", method="XX"), r"method='XX' is not allowed"),
        (lambda: hipacu.egger_test(YI, VI, predictor="ninv"),
         r"predictor='ninv' is not allowed; choose one of 'sei', 'vi'"),
        (lambda: hipacu.egger_test(YI, VI, knha=True), r"knha=True applies to model='rma' only"),
        (lambda: hipacu.egger_test(YI, VI, model="rma", knha="yes"), r"knha='yes' is not allowed"),
        (lambda: hipacu.egger_test(YI, VI, level=95), r"level=95 is not allowed"),
        (lambda: hipacu.egger_test(YI, VI[:5]), r"one value per study; yi has 6, vi has 5"),
        (lambda: hipacu.egger_test(YI, [0.1, 0.2, -0.1, 0.3, 0.1, 0.2]), r"vi\[2\] is -0.1; it must be > 0"),
        (lambda: hipacu.egger_test([0.1, np.nan, 0.2], [0.1, 0.1, 0.2]), r"yi\[1\] is nan"),
        (lambda: hipacu.peters_test(YI, VI, NI[:5]), r"yi has 6, ni has 5"),
        (lambda: hipacu.peters_test(YI, VI, [0] + NI[1:]), r"ni\[0\] is 0; it must be > 0"),
        (lambda: hipacu.begg_test(YI, [0.1] * 6), r"variances are equal"),
        (lambda: hipacu.begg_test([0.2] * 6, VI), r"effects are identical"),
        (lambda: hipacu.trim_and_fill(YI, VI, estimator="L1"),
         r"estimator='L1' is not allowed; choose one of 'L0', 'R0', 'Q0'"),
        (lambda: hipacu.trim_and_fill(YI, VI, side="up"), r"side='up' is not allowed; choose one of 'left', 'right'"),
        (lambda: hipacu.trim_and_fill(YI, VI, method="REM"), r"method='REM' is not allowed"),
        (lambda: hipacu.trim_and_fill(YI, VI, maxiter=0), r"maxiter must be a positive integer"),
        (lambda: hipacu.funnel_contours(0.0, 0.0), r"se_max\[0\] is 0; it must be > 0"),
        (lambda: hipacu.funnel_contours(0.0, 1.0, 95), r"levels=95 is not allowed"),
        (lambda: hipacu.funnel_contours(0.0, 1.0, ()), r"levels must be one or more numbers"),
        (lambda: hipacu.funnel_contours(np.inf, 1.0), r"estimate is inf"),
        (lambda: hipacu.funnel_contours(0.0, 1.0, tau2=-0.1), r"tau2\[0\] is -0.1; it must be >= 0"),
        (lambda: hipacu.funnel_contours(0.0, 1.0, n_points=1), r"n_points must be an integer >= 2"),
    ],
)
def test_bad_input_raises_a_value_error_naming_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()
