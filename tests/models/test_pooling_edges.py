"""Edge cases and bad input of the numerical core, each stated in the test name."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

import hipacu
from hipacu import effects
from hipacu.exceptions import ConvergenceWarning

YI = [0.1, 0.3, 0.5, -0.2, 0.8]
VI = [0.04, 0.05, 0.1, 0.03, 0.2]


def test_k1_pools_to_that_study_with_tau2_zero():
    r = hipacu.pool([0.5], [0.1])
    assert r.k == 1 and r.tau2 == 0 and r.i2 == 0 and r.h2 == 1 and r.q == 0 and r.q_pval == 1
    assert_allclose([r.estimate, r.se], [0.5, np.sqrt(0.1)])
    assert_allclose(r.weights, [100])


def test_k1_with_knha_falls_back_to_z_with_a_warning():
    with pytest.warns(UserWarning, match="k >= 2"):
        r = hipacu.pool([0.5], [0.1], knha=True)
    assert np.isinf(r.df)
    assert_allclose(r.ci_high - r.estimate, 1.959963984540054 * np.sqrt(0.1))


def test_heterogeneity_ci_needs_two_studies():
    with pytest.raises(ValueError, match="k >= 2"):
        hipacu.pool([0.5], [0.1]).heterogeneity_ci()


def test_tau2_is_truncated_at_zero():
    # homogeneous data: the untruncated DL and HE moment estimates are negative
    yi, vi = [0.30, 0.31, 0.29, 0.30], [0.1, 0.2, 0.15, 0.3]
    for m in ("DL", "HE", "HS", "REML", "ML", "PM", "EB"):
        assert hipacu.pool(yi, vi, method=m).tau2 == 0, m


def test_i2_is_zero_when_q_below_df():
    r = hipacu.pool([0.30, 0.31, 0.29, 0.30], [0.1, 0.2, 0.15, 0.3], method="FE")
    assert r.q < r.k - 1
    assert r.i2 == 0


def test_knha_uses_t_on_k_minus_1_df():
    r = hipacu.pool(YI, VI, method="DL", knha=True)
    assert r.df == 4
    assert "t(4)" in r.summary()


def test_non_convergence_sets_flag_and_warns(monkeypatch):
    monkeypatch.setattr(hipacu.models.tau2, "MAXITER", 1)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        r = hipacu.pool(YI, VI, method="REML")
    assert r.converged is False
    assert "did not converge" in r.summary()


def test_results_are_frozen():
    r = hipacu.pool(YI, VI)
    with pytest.raises(AttributeError):
        r.estimate = 0  # type: ignore[misc]
    with pytest.raises(ValueError):
        r.weights[0] = 1


def test_to_frame_has_one_row_with_documented_columns():
    df = hipacu.pool(YI, VI).to_frame()
    assert len(df) == 1
    for col in ("k", "method", "estimate", "se", "ci_low", "ci_high", "pval", "tau2", "i2", "h2", "q", "q_pval",
                "pi_low", "pi_high", "converged"):
        assert col in df.columns


def test_summary_reports_estimate_ci_and_heterogeneity():
    r = hipacu.pool(YI, VI, method="REML")
    s = r.summary()
    assert f"{r.estimate:.4f}" in s and f"{r.ci_low:.4f}" in s and f"{r.tau2:.4f}" in s and "I^2" in s


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(yi=[0.1, 0.2], vi=[0.1]), "one value per study; yi has 2, vi has 1"),
        (dict(yi=[], vi=[]), "yi is empty"),
        (dict(yi=[0.1, np.nan], vi=[0.1, 0.1]), r"yi\[1\] is nan"),
        (dict(yi=[0.1, 0.2], vi=[0.1, np.inf]), r"vi\[1\] is inf"),
        (dict(yi=[0.1, 0.2], vi=[0.1, 0.0]), r"vi\[1\] is 0; it must be > 0"),
        (dict(yi=[0.1, 0.2], vi=[-0.1, 0.1]), r"vi\[0\] is -0.1; it must be > 0"),
        (dict(yi=[0.1, 0.2], vi=[0.1, 0.1], method="XX"), "method='XX' is not allowed; choose one of 'FE', 'DL'"),
        (dict(yi=[0.1, 0.2], vi=[0.1, 0.1], level=95), "between 0 and 1"),
        (dict(yi=[0.1, 0.2], vi=[0.1, 0.1], knha="yes"), "knha='yes' is not allowed"),
        (dict(yi=[[0.1, 0.2]], vi=[[0.1, 0.1]]), "one-dimensional"),
        (dict(yi=["a", "b"], vi=[0.1, 0.1]), "yi must be numbers"),
    ],
)
def test_pool_rejects_bad_input_naming_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        hipacu.pool(**kwargs)


@pytest.mark.parametrize(
    "Y, V, message",
    [
        ([[0.1, np.nan]], [[0.1, 0.1]], r"Y\[0, 1\] is NaN but the other is not"),
        ([[np.nan, np.nan]], [[np.nan, np.nan]], "row 0 of Y has no study"),
        ([[0.1, 0.2]], [[0.1, 0.1, 0.1]], "same shape"),
        ([[0.1, 0.2]], [[0.1, -1.0]], r"V\[0, 1\] = -1"),
    ],
)
def test_pool_batch_rejects_bad_input(Y, V, message):
    with pytest.raises(ValueError, match=message):
        hipacu.pool_batch(Y, V)


def test_pool_batch_handles_ragged_rows_and_k1_rows():
    Y = np.array([[0.1, 0.3, np.nan], [0.5, np.nan, np.nan]])
    V = np.array([[0.04, 0.05, np.nan], [0.1, np.nan, np.nan]])
    b = hipacu.pool_batch(Y, V, method="DL")
    assert list(b.k) == [2, 1]
    assert_allclose(b.estimate[1], 0.5)
    assert np.isnan(b.weights[0, 2]) and np.isnan(b.weights[1, 1])
    assert len(b.to_frame()) == 2


# --------------------------------------------------------------------------- effect sizes


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: effects.smd([1], [1], [1], [0], [1], [5]), r"n1\[0\] is 1; it must be >= 2"),
        (lambda: effects.smd([1], [-1], [5], [0], [1], [5]), r"sd1\[0\] is -1; it must be > 0"),
        (lambda: effects.mean_difference([1, 2], [1], [5], [0], [1], [5]), "one value per study"),
        (lambda: effects.mean_difference([1], [1], [0], [0], [1], [5]), r"n1\[0\] is 0; it must be >= 1"),
        (lambda: effects.mean_difference([1], [1], [2.5], [0], [1], [5]), "whole number"),
        (lambda: effects.log_risk_ratio([5], [4], [1], [10]), r"events1\[0\] = 5 exceeds total1\[0\] = 4"),
        (lambda: effects.log_risk_ratio([-1], [4], [1], [10]), r"events1\[0\] is -1; it must be >= 0"),
        (lambda: effects.log_odds_ratio([0], [4], [1], [10], to="none"), "zero cell"),
        (lambda: effects.log_odds_ratio([1], [4], [1], [10], to="some"), "to='some' is not allowed; choose one of 'only0'"),
        (lambda: effects.log_odds_ratio([1], [4], [1], [10], add=-1), "add=-1"),
        (lambda: effects.from_ci([0.5], [0.6], [0.9]), r"ci_low\[0\] = 0.6 is above estimate\[0\] = 0.5"),
        (lambda: effects.from_ci([0.5], [0.1], [0.9], level=1.5), "between 0 and 1"),
        (lambda: effects.from_ci([0.5], [-0.1], [0.9], log=True), r"ci_low\[0\] is -0.1; it must be > 0"),
        (lambda: effects.logit_proportion([11], [10]), "exceeds total"),
        (lambda: effects.log_incidence_rate([1], [0]), r"exposure\[0\] is 0; it must be > 0"),
        (lambda: effects.sd_from_ci([1], [0.5], [10]), "must be above ci_low"),
    ],
)
def test_effect_sizes_reject_bad_input_naming_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_from_ci_recovers_a_known_standard_error():
    # a 95% CI of width 2 * 1.959964 * 0.1 around 0.5 has se 0.1
    es = effects.from_ci(0.5, 0.5 - 1.959963984540054 * 0.1, 0.5 + 1.959963984540054 * 0.1)
    assert_allclose(es.vi, [0.01], rtol=1e-12)


def test_from_ci_on_ratio_scale_logs_estimate_and_limits():
    es = effects.from_ci(2.0, 1.0, 4.0, log=True)
    assert_allclose(es.yi, [np.log(2)])
    assert_allclose(np.sqrt(es.vi), [np.log(4) / (2 * 1.959963984540054)], rtol=1e-12)


def test_sd_from_se_multiplies_by_root_n():
    assert_allclose(effects.sd_from_se([1.0, 2.0], [16, 25]), [4.0, 10.0])


def test_sd_from_ci_uses_t_for_small_samples():
    # n = 10, 95% t quantile on 9 df is 2.2621571627982
    sd = effects.sd_from_ci([8.0], [12.0], [10])
    assert_allclose(sd, [np.sqrt(10) * 4 / (2 * 2.2621571627982)], rtol=1e-10)
    assert effects.sd_from_ci([8.0], [12.0], [10], dist="z")[0] > sd[0]


def test_smd_from_md_ci_round_trips_smd():
    m1, s1, n1, m2, s2, n2 = 10.0, 2.0, 40, 8.0, 2.0, 40
    direct = effects.smd(m1, s1, n1, m2, s2, n2)
    md = effects.mean_difference(m1, s1, n1, m2, s2, n2)
    half = 1.959963984540054 * np.sqrt(md.vi[0])
    via_ci = effects.smd_from_md_ci(md.yi, md.yi - half, md.yi + half, n1, n2)
    assert_allclose(via_ci.yi, direct.yi, rtol=1e-10)  # equal SDs: the pooled SD is recovered exactly


def test_zero_cell_correction_is_flagged_per_study():
    es = effects.log_risk_ratio([0, 3], [20, 25], [2, 4], [22, 24])
    assert list(es.corrected) == [True, False]


def test_effect_sizes_are_frozen():
    es = effects.smd([1], [1], [5], [0], [1], [5])
    with pytest.raises(ValueError):
        es.yi[0] = 2


def _reml_maximiser(yi, vi):
    from scipy import optimize

    def negll(t):
        w = 1 / (vi + t)
        mu = np.sum(w * yi) / np.sum(w)
        return 0.5 * (np.sum(np.log(vi + t)) + np.sum(w * (yi - mu) ** 2) + np.log(np.sum(w)))

    res = optimize.minimize_scalar(negll, bounds=(0, 1), method="bounded", options={"xatol": 1e-12})
    return res.x if negll(res.x) < negll(0.0) else 0.0


def test_reml_converges_where_plain_fisher_scoring_cycles():
    """Among 100,000 simulated analyses some make plain Fisher scoring oscillate between two values
    (found by the benchmark); the bracketed iteration converges to the likelihood maximum."""
    rng = np.random.default_rng(1)
    V = rng.uniform(0.01, 0.2, (100_000, 10))
    Y = rng.normal(0.3, np.sqrt(0.04 + V))
    rows = [287, 368, 412, 96838]  # 96838 has a local maximum at 0.0058 and its global one at 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        batch = hipacu.pool_batch(Y[rows], V[rows], method="REML")
    assert batch.converged.all()
    for i, r in enumerate(rows):
        assert_allclose(batch.tau2[i], _reml_maximiser(Y[r], V[r]), atol=1e-7)


def test_k1_fixed_effect_i2_is_zero_even_when_q_is_rounding_noise():
    # found by hypothesis: for one study Q can be ~1e-33 instead of 0, and 100 * Q / Q gave I² > 100
    r = hipacu.pool([0.1 + 0.2], [0.3], method="FE")
    assert r.i2 == 0 and r.h2 == 1


def test_single_and_batch_paths_agree_where_fisher_scoring_cycles():
    """pool() iterates a small analysis in plain floats; it must reach the batch engine's answer,
    including the bimodal row where the maximum is at tau2 = 0."""
    rng = np.random.default_rng(1)
    V = rng.uniform(0.01, 0.2, (100_000, 10))
    Y = rng.normal(0.3, np.sqrt(0.04 + V))
    rows = [287, 368, 412, 96838]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        batch = hipacu.pool_batch(Y[rows], V[rows], method="REML")
        singles = [hipacu.pool(Y[r], V[r], method="REML") for r in rows]
    assert_allclose([s.tau2 for s in singles], batch.tau2, rtol=1e-9, atol=1e-12)
    assert singles[-1].tau2 == 0.0


# A bimodal REML likelihood (maximum at 0.043, a local maximum at 0), found among the benchmark's
# 100,000 simulated analyses. metafor 3.8.1, rma(method="REML", control=list(threshold=1e-14)):
# tau2 = 0.043048062201514171 (printed with sprintf("%.17g")). Newton steps far from the Fisher
# step once led hipacu to the boundary instead.
BIMODAL_YI = [0.36841533715107816, 0.55916910420300869, 0.58066034815964873, 0.22037470805691861,
              0.022504745944402382, 0.87389860357901172, 0.16879456670676699, 0.45434459618015899,
              -1.1776792668619318, 0.28317346734321724]
BIMODAL_VI = [0.011664500928586457, 0.1130247979436533, 0.10865056394451825, 0.066015634217654315,
              0.1092092652992277, 0.079241133738101877, 0.091033181197180638, 0.060512793439115475,
              0.17956469952373655, 0.025497949444578893]


def test_reml_on_a_bimodal_likelihood_finds_metafors_maximum_in_both_paths():
    from conftest import TOL_ITERATIVE

    single = hipacu.pool(BIMODAL_YI, BIMODAL_VI, method="REML")
    batch = hipacu.pool_batch([BIMODAL_YI], [BIMODAL_VI], method="REML")
    assert_allclose([single.tau2, batch.tau2[0]], 0.043048062201514171, rtol=TOL_ITERATIVE)
