"""Published worked example: the BCG vaccine meta-analysis of Viechtbauer (2010).

Source
------
Viechtbauer, W. (2010). Conducting meta-analyses in R with the metafor package.
*Journal of Statistical Software*, 36(3), 1-48. https://doi.org/10.18637/jss.v036.i03
(the same article ships as metafor's vignette ``metafor.pdf``).

- p. 9:  ``print(dat.bcg)`` -- the 2x2 counts used as input below.
- p. 10: ``escalc(measure = "RR", ...)`` -- log risk ratios ``yi`` (8 decimals) and ``vi`` (9 decimals).
- p. 14: ``rma(ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg, measure = "RR")`` (REML)
  and ``confint(res)`` (Q-profile intervals).
- p. 21: ``predict(res, transf = exp, digits = 2)`` (pooled risk ratio, CI and credibility/prediction interval).

The REML block of p. 14 is also printed verbatim (same numbers) at
https://cttir.github.io/courses/course3_design_causal/labs/lab_week4_session2_slides.html
("Random-Effects Model (k = 13; tau^2 estimator: REML)").

Known divergence (asserted as strict xfail, not loosened): the *lower* Q-profile bounds for I^2 and H^2
printed on p. 14 (81.9177 %, 5.5303) come from a lower tau^2 bound found by ``uniroot`` at its default
tolerance (~1.2e-4): that bound, 0.119695, gives Q(tau^2) = 23.3395, not the chi-square quantile
23.3367. hipacu solves Q(tau^2) = 23.3367 to machine precision (tau^2 = 0.119718) and so reports
81.9206 % and 5.5311. The tau^2 bound itself (printed 0.1197) agrees at the printed precision.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

import hipacu
from hipacu import effects

#: p. 10 prints yi with 8 decimals: agreement within half a unit of the 8th decimal.
TOL_PRINTED_8DP = 0.5e-8
#: p. 10 prints vi with 9 decimals.
TOL_PRINTED_9DP = 0.5e-9
#: p. 14 prints estimate, se, z, CI, tau^2, tau, Q and the confint() table with 4 decimals.
TOL_PRINTED_4DP = 0.5e-4
#: p. 14 prints I^2 (percent) and H^2 with 2 decimals; p. 21 prints predict(digits = 2).
TOL_PRINTED_2DP = 0.5e-2
#: p. 14 prints the p-values as "< .0001".
PRINTED_P_BOUND = 1e-4

# ---------------------------------------------------------------- input: dat.bcg as printed on p. 9
TPOS = np.array([4, 6, 3, 62, 33, 180, 8, 505, 29, 17, 186, 5, 27])  # Viechtbauer (2010), p. 9, column tpos
TNEG = np.array([119, 300, 228, 13536, 5036, 1361, 2537, 87886, 7470, 1699, 50448, 2493, 16886])  # p. 9, tneg
CPOS = np.array([11, 29, 11, 248, 47, 372, 10, 499, 45, 65, 141, 3, 29])  # p. 9, cpos
CNEG = np.array([128, 274, 209, 12619, 5761, 1079, 619, 87892, 7232, 1600, 27197, 2338, 17825])  # p. 9, cneg


@pytest.fixture(scope="module")
def es():
    return effects.log_risk_ratio(TPOS, TPOS + TNEG, CPOS, CPOS + CNEG)


@pytest.fixture(scope="module")
def res(es):
    return hipacu.pool(es.yi, es.vi, method="REML")


def test_log_risk_ratios_p10(es):
    expected_yi = [
        -0.88931133,  # Viechtbauer (2010), p. 10, escalc output, trial 1, yi
        -1.58538866,  # p. 10, trial 2, yi
        -1.34807315,  # p. 10, trial 3, yi
        -1.44155119,  # p. 10, trial 4, yi
        -0.21754732,  # p. 10, trial 5, yi
        -0.78611559,  # p. 10, trial 6, yi
        -1.62089822,  # p. 10, trial 7, yi
        0.01195233,  # p. 10, trial 8, yi
        -0.46941765,  # p. 10, trial 9, yi
        -1.37134480,  # p. 10, trial 10, yi
        -0.33935883,  # p. 10, trial 11, yi
        0.44591340,  # p. 10, trial 12, yi
        -0.01731395,  # p. 10, trial 13, yi
    ]
    assert_allclose(es.yi, expected_yi, rtol=0, atol=TOL_PRINTED_8DP)
    # vi of trials 11 and 13 are omitted: their printed digits could not be read unambiguously.
    rows = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11]
    expected_vi = [
        0.325584765,  # p. 10, trial 1, vi
        0.194581121,  # p. 10, trial 2, vi
        0.415367965,  # p. 10, trial 3, vi
        0.020010032,  # p. 10, trial 4, vi
        0.051210172,  # p. 10, trial 5, vi
        0.006905618,  # p. 10, trial 6, vi
        0.223017248,  # p. 10, trial 7, vi
        0.003961579,  # p. 10, trial 8, vi
        0.056434210,  # p. 10, trial 9, vi
        0.073024794,  # p. 10, trial 10, vi
        0.532505845,  # p. 10, trial 12, vi
    ]
    assert_allclose(es.vi[rows], expected_vi, rtol=0, atol=TOL_PRINTED_9DP)


def test_reml_model_p14(res):
    assert res.k == 13  # p. 14, "Random-Effects Model (k = 13; tau^2 estimator: REML)"
    assert_allclose(res.tau2, 0.3132, rtol=0, atol=TOL_PRINTED_4DP)  # p. 14, "tau^2 (...): 0.3132"
    assert_allclose(res.tau, 0.5597, rtol=0, atol=TOL_PRINTED_4DP)  # p. 14, "tau (...): 0.5597"
    assert_allclose(res.i2, 92.22, rtol=0, atol=TOL_PRINTED_2DP)  # p. 14, "I^2 (...): 92.22%"
    assert_allclose(res.h2, 12.86, rtol=0, atol=TOL_PRINTED_2DP)  # p. 14, "H^2 (...): 12.86"
    assert_allclose(res.q, 152.2330, rtol=0, atol=TOL_PRINTED_4DP)  # p. 14, "Q(df = 12) = 152.2330"
    assert res.q_pval < PRINTED_P_BOUND  # p. 14, "p-val < .0001"
    assert_allclose(res.estimate, -0.7145, rtol=0, atol=TOL_PRINTED_4DP)  # p. 14, Model Results, estimate
    assert_allclose(res.se, 0.1798, rtol=0, atol=TOL_PRINTED_4DP)  # p. 14, Model Results, se
    assert_allclose(res.statistic, -3.9744, rtol=0, atol=TOL_PRINTED_4DP)  # p. 14, Model Results, zval
    assert res.pval < PRINTED_P_BOUND  # p. 14, Model Results, pval "<.0001"
    assert_allclose(res.ci_low, -1.0669, rtol=0, atol=TOL_PRINTED_4DP)  # p. 14, Model Results, ci.lb
    assert_allclose(res.ci_high, -0.3622, rtol=0, atol=TOL_PRINTED_4DP)  # p. 14, Model Results, ci.ub


def test_q_profile_intervals_p14(res):
    ci = res.heterogeneity_ci()
    assert_allclose(ci.tau2_low, 0.1197, rtol=0, atol=TOL_PRINTED_4DP)  # p. 14, confint(res), tau^2 ci.lb
    assert_allclose(ci.tau2_high, 1.1115, rtol=0, atol=TOL_PRINTED_4DP)  # p. 14, confint(res), tau^2 ci.ub
    assert_allclose(ci.tau_low, 0.3460, rtol=0, atol=TOL_PRINTED_4DP)  # p. 14, confint(res), tau ci.lb
    assert_allclose(ci.tau_high, 1.0543, rtol=0, atol=TOL_PRINTED_4DP)  # p. 14, confint(res), tau ci.ub
    assert_allclose(ci.i2_high, 97.6781, rtol=0, atol=TOL_PRINTED_4DP)  # p. 14, confint(res), I^2(%) ci.ub
    assert_allclose(ci.h2_high, 43.0677, rtol=0, atol=TOL_PRINTED_4DP)  # p. 14, confint(res), H^2 ci.ub
    assert_allclose(res.i2, 92.2214, rtol=0, atol=TOL_PRINTED_4DP)  # p. 14, confint(res), I^2(%) estimate
    assert_allclose(res.h2, 12.8558, rtol=0, atol=TOL_PRINTED_4DP)  # p. 14, confint(res), H^2 estimate


@pytest.mark.xfail(
    strict=True,
    reason="p. 14 lower I^2/H^2 bounds come from a coarse uniroot root (tau^2 = 0.119695, Q = 23.3395); "
    "hipacu's exact root (tau^2 = 0.119718, Q = 23.3367) gives 81.9206 % and 5.5311 -- see module docstring",
)
def test_q_profile_lower_i2_h2_p14(res):
    ci = res.heterogeneity_ci()
    assert_allclose(ci.i2_low, 81.9177, rtol=0, atol=TOL_PRINTED_4DP)  # p. 14, confint(res), I^2(%) ci.lb
    assert_allclose(ci.h2_low, 5.5303, rtol=0, atol=TOL_PRINTED_4DP)  # p. 14, confint(res), H^2 ci.lb


def test_back_transformed_prediction_p21(res):
    # p. 21: res <- rma(yi, vi, data = dat); predict(res, transf = exp, digits = 2)
    assert_allclose(np.exp(res.estimate), 0.49, rtol=0, atol=TOL_PRINTED_2DP)  # p. 21, pred
    assert_allclose(np.exp(res.ci_low), 0.34, rtol=0, atol=TOL_PRINTED_2DP)  # p. 21, ci.lb
    assert_allclose(np.exp(res.ci_high), 0.70, rtol=0, atol=TOL_PRINTED_2DP)  # p. 21, ci.ub
    assert_allclose(np.exp(res.pi_low), 0.15, rtol=0, atol=TOL_PRINTED_2DP)  # p. 21, cr.lb
    assert_allclose(np.exp(res.pi_high), 1.55, rtol=0, atol=TOL_PRINTED_2DP)  # p. 21, cr.ub
