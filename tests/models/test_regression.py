"""hipacu's meta-regression, permutation test and subgroup analyses against metafor 3.8.

Reference values: tests/reference/metafor_regression.json, written by
tests/reference/make_metafor_regression.R (versions recorded in its ``meta`` block).

Known, explained divergences (asserted, not skipped):
- Identical effects with ``knha=True``: metafor sets the Knapp-Hartung scale to exactly 0 when the
  weighted residual sum of squares is below machine epsilon (se = 0, z = inf/NaN, QM = NA); hipacu
  keeps the arithmetic (se ~1e-16, a huge but finite z, a finite QM).
- Models without an intercept whose columns do not span the constant vector: metafor centres ``yi``
  before estimating tau2 and Q_E, hipacu does not (Q_E is then the weighted residual sum of squares
  of the fitted model). Not in the fixture grid; asserted by an identity test below.
- Where metafor drops a constant or redundant moderator, or a study with a missing moderator, with
  a warning, hipacu raises ValueError naming ``mods``.
- With ``tau2="separate"`` and ``knha=True`` a subgroup of one study raises ValueError; metafor
  switches that subgroup to a z test with a warning.
- Near tau2 = 0 both programs stop within their tolerance of 0 (hipacu often exactly at 0): tau2 is
  compared with ATOL_ZERO, and I2 (percent, = 100 tau2 / (vt + tau2)) with that bound scaled by
  100 / vt.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

import hipacu
from hipacu.models import tau2
from hipacu.models.regression import REGRESSION_METHODS, MetaRegressionResult, meta_regression
from hipacu.models.subgroups import subgroup_test
from conftest import ATOL_ZERO, TOL_CLOSED_FORM, TOL_ITERATIVE, load_reference

REF = load_reference("metafor_regression.json")
ITERATIVE = {"REML", "ML", "EB", "PM"}
VECTOR_FIELDS = ["coefficients", "se", "statistic", "pval", "ci_low", "ci_high"]
SCALAR_FIELDS = ["tau2", "qm", "qm_pval", "qe", "qe_pval", "h2"]


# Publication year next to an intercept makes X'WX ill-conditioned (condition number ~1e9 for BCG):
# metafor's normal-equation inverse then loses ~10 digits' worth of its last places (e.g. DL tau2 on
# bcg_ablat_year is off by 8e-11 relative; hipacu's equals exact rational arithmetic, see
# test_ill_conditioned_design_is_solved_to_full_precision), so these models get TOL_ITERATIVE.
ILL_CONDITIONED = {"bcg_ablat_year", "hackshaw_year_cohort", "nielweise_year"}


def _tol(method: str, model: str = "") -> float:
    return TOL_ITERATIVE if method in ITERATIVE or model in ILL_CONDITIONED else TOL_CLOSED_FORM


def _mods(case) -> pd.DataFrame:
    names = np.atleast_1d(case["mod_names"])
    return pd.DataFrame({str(n): np.atleast_1d(col) for n, col in zip(names, case["mods"])})


def _fit(case) -> MetaRegressionResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(divide="ignore", invalid="ignore"):
            return meta_regression(case["yi"], case["vi"], _mods(case), method=case["method"], knha=case["knha"],
                                   intercept=case["intercept"])


def _i2_atol(vi) -> float:
    # I2 = 100 tau2 / (vt + tau2) and vt >= min(vi) (k-p)/k: a tau2 difference of ATOL_ZERO moves I2 by at
    # most 100 ATOL_ZERO k / ((k-p) min(vi)); a factor 2 (k-p >= k/2 in the grid) keeps it simple.
    return 200 * ATOL_ZERO / float(np.min(vi))


# --------------------------------------------------------------------------- grid


def test_case_grid_is_complete():
    """Every model x every method x {z, knha}; every grouping x method x {z, knha} x {separate, common}."""
    ids = {c["id"] for c in REF["regression"]}
    assert ids == {f"{m}/{meth}/{t}" for m in REF["models"] for meth in REF["methods"] for t in ("z", "knha")}
    assert set(REF["methods"]) == set(REGRESSION_METHODS) == set(hipacu.METHODS)
    sub = {c["id"] for c in REF["subgroups"]}
    want = {
        f"{g}/{meth}/{t}/{mode}"
        for g in REF["groupings"]
        for meth in REF["methods"]
        for t in ("z", "knha")
        for mode in ("separate", "common")
        if not (g == "singleton" and mode == "separate" and t == "knha")
    }
    assert sub == want
    assert {"edge_k3_p2", "edge_identical", "edge_homogeneous", "edge_huge_variance", "bcg_alloc_noint"} <= set(REF["models"])
    assert {"bcg_alloc", "molloy_controls", "hackshaw_design", "raud_setting", "singleton"} == set(REF["groupings"])
    assert len(REF["permutation"]) >= 5 and all(c["expected"]["n"] > 1 for c in REF["permutation"])


# --------------------------------------------------------------------------- meta-regression


@pytest.mark.parametrize("case", REF["regression"], ids=lambda c: c["id"])
def test_meta_regression_matches_metafor(case):
    exp = case["expected"]
    res = _fit(case)
    tol = _tol(case["method"], case["model"])
    assert res.k == exp["k"] and res.p == exp["p"]
    assert [i + 1 for i in res.btt] == list(np.atleast_1d(exp["btt"]))
    assert res.qm_df == exp["qm_df"]
    assert res.converged
    degenerate_knha = case["model"] == "edge_identical" and case["knha"]
    names = VECTOR_FIELDS if not degenerate_knha else ["coefficients", "ci_low", "ci_high"]
    for name in names:
        assert_allclose(getattr(res, name), np.atleast_1d(exp[name]), rtol=tol, atol=ATOL_ZERO,
                        err_msg=f"{case['id']}: {name}")
    p = res.p
    if not degenerate_knha:
        assert_allclose(np.asarray(res.vcov).T.ravel(), exp["vcov"], rtol=tol, atol=ATOL_ZERO, err_msg="vcov")
    for name in SCALAR_FIELDS:
        if degenerate_knha and name in ("qm", "qm_pval"):
            continue
        assert_allclose(getattr(res, name), exp[name], rtol=tol, atol=ATOL_ZERO, err_msg=f"{case['id']}: {name}")
    assert_allclose(res.i2, exp["i2"], rtol=tol, atol=_i2_atol(case["vi"]), err_msg="i2")
    if exp["r2"] is None:
        assert res.r2 is None
    else:
        # R2 = 100 (tau2_0 - tau2) / tau2_0 inherits the last-digit differences of two tau2 values
        assert_allclose(res.r2, exp["r2"], rtol=tol, atol=1e-6 if tol == TOL_ITERATIVE else ATOL_ZERO)
    if degenerate_knha:
        # documented divergence: metafor's Knapp-Hartung scale is exactly 0 here, hipacu's ~1e-32
        assert np.all(np.asarray(res.se) < 1e-12)
        assert np.isfinite(res.qm)
    assert p == len(res.names)


def _exact_dl(y, v, X):
    """DerSimonian-Laird meta-regression in exact rational arithmetic (fractions): (tau2, beta)."""
    from fractions import Fraction as F

    k, p = X.shape
    Y = [F(float(a)) for a in y]
    XX = [[F(float(a)) for a in row] for row in X]

    def solve(A, r):
        M = [A[i][:] + [r[i]] for i in range(p)]
        for i in range(p):
            for j in range(i + 1, p):
                f = M[j][i] / M[i][i]
                M[j] = [M[j][m] - f * M[i][m] for m in range(p + 1)]
        b = [F(0)] * p
        for i in reversed(range(p)):
            b[i] = (M[i][p] - sum(M[i][m] * b[m] for m in range(i + 1, p))) / M[i][i]
        return b

    def wls(W):
        A = [[sum(W[i] * XX[i][a] * XX[i][b] for i in range(k)) for b in range(p)] for a in range(p)]
        r = [sum(W[i] * XX[i][a] * Y[i] for i in range(k)) for a in range(p)]
        return A, solve(A, r)

    W = [1 / F(float(a)) for a in v]
    A, b = wls(W)
    rss = sum(W[i] * (Y[i] - sum(XX[i][j] * b[j] for j in range(p))) ** 2 for i in range(k))
    cols = [solve(A, [F(int(i == j)) for i in range(p)]) for j in range(p)]
    B2 = [[sum(W[i] ** 2 * XX[i][a] * XX[i][c] for i in range(k)) for c in range(p)] for a in range(p)]
    trp = sum(W) - sum(cols[c][a] * B2[c][a] for a in range(p) for c in range(p))
    tau2 = max(F(0), (rss - (k - p)) / trp)
    _, beta = wls([1 / (F(float(a)) + tau2) for a in v])
    return float(tau2), [float(x) for x in beta]


def test_ill_conditioned_design_is_solved_to_full_precision():
    """Year next to an intercept (BCG): hipacu's DL fit equals exact rational arithmetic to ~1e-13."""
    c = next(c for c in REF["regression"] if c["id"] == "bcg_ablat_year/DL/z")
    y, v = np.asarray(c["yi"]), np.asarray(c["vi"])
    X = np.column_stack([np.ones(len(y)), *c["mods"]])
    tau2, beta = _exact_dl(y, v, X)
    res = meta_regression(y, v, np.column_stack(c["mods"]), method="DL")
    assert_allclose(res.tau2, tau2, rtol=1e-12)
    assert_allclose(res.coefficients, beta, rtol=1e-11)
    # metafor's intercept is within TOL_ITERATIVE but not TOL_CLOSED_FORM of the exact one
    rel = abs(c["expected"]["coefficients"][0] - beta[0]) / abs(beta[0])
    assert TOL_CLOSED_FORM < rel < TOL_ITERATIVE


def test_coefficient_names_come_from_the_dataframe_columns():
    c = next(c for c in REF["regression"] if c["id"] == "bcg_ablat_year/REML/z")
    res = _fit(c)
    assert res.names == ("intercept", "ablat", "year")
    assert list(res.to_frame().index) == ["intercept", "ablat", "year"]
    assert list(res.to_frame().columns) == ["estimate", "se", "statistic", "pval", "ci_low", "ci_high"]


def test_unnamed_array_moderators_are_called_x1_x2():
    c = next(c for c in REF["regression"] if c["id"] == "bcg_ablat_year/DL/z")
    res = meta_regression(c["yi"], c["vi"], np.column_stack(c["mods"]), method="DL")
    assert res.names == ("intercept", "x1", "x2")
    res1 = meta_regression(c["yi"], c["vi"], c["mods"][0], method="DL")
    assert res1.names == ("intercept", "x1") and res1.p == 2


def test_a_series_keeps_its_name():
    c = next(c for c in REF["regression"] if c["id"] == "bcg_ablat/DL/z")
    res = meta_regression(c["yi"], c["vi"], pd.Series(c["mods"][0], name="latitude"), method="DL")
    assert res.names == ("intercept", "latitude")


def test_fe_meta_regression_equals_weighted_least_squares():
    c = next(c for c in REF["regression"] if c["id"] == "bcg_ablat_year/FE/z")
    y, v = np.asarray(c["yi"]), np.asarray(c["vi"])
    X = np.column_stack([np.ones(len(y)), *c["mods"]])
    sw = 1 / np.sqrt(v)
    beta, *_ = np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)
    res = meta_regression(y, v, np.column_stack(c["mods"]), method="FE")
    assert_allclose(res.coefficients, beta, rtol=1e-9)
    assert_allclose(res.qe, np.sum((y - X @ beta) ** 2 / v), rtol=1e-9)
    assert res.tau2 == 0


def test_intercept_only_design_matches_pool():
    """A column of ones with intercept=False is the intercept: the fit is the pooled estimate."""
    c = next(c for c in REF["regression"] if c["model"] == "bcg_ablat")
    for method in REGRESSION_METHODS:
        res = meta_regression(c["yi"], c["vi"], np.ones(len(c["yi"])), method=method, intercept=False)
        pooled = hipacu.pool(c["yi"], c["vi"], method=method)
        assert res.intercept and res.names == ("x1",) and res.r2 is None
        assert_allclose(res.coefficients[0], pooled.estimate, rtol=TOL_ITERATIVE)
        assert_allclose(res.tau2, pooled.tau2, rtol=TOL_ITERATIVE, atol=ATOL_ZERO)
        assert_allclose([res.qe, res.i2, res.h2], [pooled.q, pooled.i2, pooled.h2], rtol=TOL_ITERATIVE, atol=ATOL_ZERO)


def test_no_intercept_model_qe_is_the_weighted_residual_sum_of_squares():
    """Documented divergence: metafor 3.8 centres yi here (its QE for mods = ~ ablat - 1 on BCG is 209.7)."""
    c = next(c for c in REF["regression"] if c["model"] == "bcg_ablat")
    y, v, x = np.asarray(c["yi"]), np.asarray(c["vi"]), np.asarray(c["mods"][0])
    res = meta_regression(y, v, x, method="DL", intercept=False)
    b = np.sum(x * y / v) / np.sum(x * x / v)
    assert_allclose(res.qe, np.sum((y - b * x) ** 2 / v), rtol=1e-10)
    assert res.qe < 100  # metafor: 209.6856 from the centred outcomes
    assert res.btt == (0,) and res.r2 is None


def test_tau2_is_truncated_at_zero():
    c = next(c for c in REF["regression"] if c["id"] == "edge_homogeneous/DL/z")
    for method in set(REGRESSION_METHODS) - {"FE", "SJ"}:  # SJ is positive by construction
        res = meta_regression(c["yi"], c["vi"], _mods(c), method=method)
        assert res.tau2 == 0 and res.i2 == 0 and res.h2 == 1, method
    fe = meta_regression(c["yi"], c["vi"], _mods(c), method="FE")
    assert fe.qe < fe.qe_df and fe.i2 == 0  # FE: I2 from Q_E, truncated at 0


def test_r2_is_zero_when_the_intercept_only_tau2_is_zero():
    c = next(c for c in REF["regression"] if c["id"] == "edge_homogeneous/REML/z")
    assert hipacu.pool(c["yi"], c["vi"]).tau2 == 0
    assert meta_regression(c["yi"], c["vi"], _mods(c)).r2 == 0


def test_r2_is_none_without_an_intercept():
    c = next(c for c in REF["regression"] if c["id"] == "bcg_alloc_noint/REML/z")
    assert _fit(c).r2 is None


def test_knha_uses_t_and_f_on_k_minus_p_df():
    c = next(c for c in REF["regression"] if c["id"] == "bcg_ablat_year/REML/knha")
    res = _fit(c)
    assert res.df == res.k - res.p == res.qm_df2 == 10
    assert "F(2, 10)" in res.summary()
    assert np.isinf(_fit({**c, "knha": False}).df)


def test_non_convergence_sets_the_flag_and_warns(monkeypatch):
    c = next(c for c in REF["regression"] if c["id"] == "bcg_ablat_year/REML/z")
    monkeypatch.setattr(tau2, "MAXITER", 1)
    with pytest.warns(hipacu.ConvergenceWarning, match="did not converge"):
        res = meta_regression(c["yi"], c["vi"], _mods(c))
    assert res.converged is False
    assert "did not converge" in res.summary()


def test_results_are_frozen():
    c = next(c for c in REF["regression"] if c["id"] == "bcg_ablat/REML/z")
    res = _fit(c)
    with pytest.raises(AttributeError):
        res.tau2 = 0  # type: ignore[misc]
    with pytest.raises(ValueError):
        res.coefficients[0] = 1


def test_studies_order_does_not_change_the_fit():
    c = next(c for c in REF["regression"] if c["id"] == "molloy_controls_quality/REML/knha")
    res = _fit(c)
    perm = np.random.default_rng(0).permutation(len(c["yi"]))
    shuffled = {**c, "yi": list(np.asarray(c["yi"])[perm]), "vi": list(np.asarray(c["vi"])[perm]),
                "mods": [list(np.asarray(m)[perm]) for m in c["mods"]]}
    res2 = _fit(shuffled)
    assert_allclose(res2.coefficients, res.coefficients, rtol=TOL_ITERATIVE)
    assert_allclose([res2.tau2, res2.qm, res2.qe], [res.tau2, res.qm, res.qe], rtol=TOL_ITERATIVE)


# --------------------------------------------------------------------------- errors and bad input


BCG = next(c for c in REF["regression"] if c["id"] == "bcg_ablat/REML/z")


def test_metafor_error_cases_raise_value_error():
    by_id = {e["id"]: e for e in REF["errors"]}
    # metafor stops: "Number of parameters to be estimated is larger than the number of observations."
    assert by_id["k_equals_p_plus_0"]["metafor_error"]
    with pytest.raises(ValueError, match=r"needs more studies than coefficients; got k = 2 studies \(yi\) for p = 2"):
        meta_regression([0.1, 0.4], [0.1, 0.1], [1, 2])
    # metafor drops the redundant / constant column or the incomplete study with a warning; hipacu refuses
    assert not by_id["rank_deficient"]["metafor_error"]
    x = np.asarray(BCG["mods"][0])
    with pytest.raises(ValueError, match="mods columns are linearly dependent"):
        meta_regression(BCG["yi"], BCG["vi"], np.column_stack([x, 2 * x]))
    assert not by_id["constant_moderator"]["metafor_error"]
    with pytest.raises(ValueError, match=r"mods column 'x1' has no variance \(every value is 3\)"):
        meta_regression(BCG["yi"], BCG["vi"], np.full(13, 3.0))
    assert not by_id["nan_in_mods"]["metafor_error"]
    with pytest.raises(ValueError, match=r"mods\[0, 'ablat'\] is nan; only finite numbers"):
        meta_regression(BCG["yi"], BCG["vi"], pd.DataFrame({"ablat": [np.nan, *x[1:]]}))


def test_mods_of_the_wrong_length_raise():
    with pytest.raises(ValueError, match="mods must have one row per study; got 12 rows for k = 13 studies"):
        meta_regression(BCG["yi"], BCG["vi"], BCG["mods"][0][:12])


def test_nan_in_yi_or_vi_raises_naming_the_argument():
    y = list(BCG["yi"])
    y[3] = np.nan
    with pytest.raises(ValueError, match=r"yi\[3\] is nan"):
        meta_regression(y, BCG["vi"], BCG["mods"][0])
    with pytest.raises(ValueError, match=r"vi\[0\] is -1; it must be > 0"):
        meta_regression(BCG["yi"], [-1, *BCG["vi"][1:]], BCG["mods"][0])


def test_non_numeric_moderator_column_raises():
    df = pd.DataFrame({"alloc": ["random"] * 7 + ["other"] * 6})
    with pytest.raises(ValueError, match="mods column 'alloc' is not numeric"):
        meta_regression(BCG["yi"], BCG["vi"], df)


def test_unknown_method_lists_the_supported_ones():
    with pytest.raises(ValueError, match="method='SJIT' is not allowed; choose one of 'FE', 'DL', 'HE'"):
        meta_regression(BCG["yi"], BCG["vi"], BCG["mods"][0], method="SJIT")


def test_bad_flags_and_level_raise():
    with pytest.raises(ValueError, match="knha=1 is not allowed"):
        meta_regression(BCG["yi"], BCG["vi"], BCG["mods"][0], knha=1)
    with pytest.raises(ValueError, match="intercept='yes' is not allowed"):
        meta_regression(BCG["yi"], BCG["vi"], BCG["mods"][0], intercept="yes")
    with pytest.raises(ValueError, match="level=95 is not allowed"):
        meta_regression(BCG["yi"], BCG["vi"], BCG["mods"][0], level=95)


def test_three_dimensional_mods_raise():
    with pytest.raises(ValueError, match=r"mods must be an array of shape \(k,\) or \(k, p\)"):
        meta_regression(BCG["yi"], BCG["vi"], np.zeros((13, 2, 2)))


# --------------------------------------------------------------------------- permutation test


def _perm_fit(case):
    return meta_regression(case["yi"], case["vi"], _mods(case), method=case["method"], knha=case["knha"],
                           intercept=case["intercept"])


@pytest.mark.parametrize("case", REF["permutation"], ids=lambda c: c["id"])
def test_exact_permutation_test_matches_metafor(case):
    """Exact enumeration is deterministic: the p-values are the same fractions as metafor's."""
    res = _perm_fit(case)
    exp = case["expected"]
    assert_allclose(res.statistic, np.atleast_1d(exp["statistic"]), rtol=TOL_ITERATIVE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", hipacu.ConvergenceWarning)  # local-maximum resets inside refits
        pt = res.permutation_test(10, exact=True)
    assert pt.exact and pt.n == exp["n"] and pt.n_failed == 0
    assert_allclose(pt.pval, np.atleast_1d(exp["pval"]), rtol=1e-12)
    assert_allclose(pt.qm_pval, exp["qm_pval"], rtol=1e-12)
    assert pt.statistic_perm.shape == (exp["n"], res.p) and pt.qm_perm.shape == (exp["n"],)


def test_random_permutation_test_agrees_with_metafor_statistically():
    """metafor permutest(iter = 1000, seed = 20240601) vs hipacu with fixed seeds (deterministic here).

    Both are Monte Carlo estimates of the same exact p-value; with n = 1000 each has SD
    sqrt(p (1 - p) / 1000), so the difference is bounded by 4.5 SD of a difference of two.
    """
    c = REF["permutation_random"]
    res = meta_regression(c["yi"], c["vi"], _mods({**c}), method=c["method"])
    exp = np.atleast_1d(c["expected"]["pval"])
    for seed in (1, 2, 3):
        pt = res.permutation_test(1000, seed=seed)
        assert not pt.exact and pt.n == 1000
        p = np.clip(exp, 2e-3, 1 - 2e-3)
        bound = 4.5 * np.sqrt(2 * p * (1 - p) / 1000)
        assert np.all(np.abs(pt.pval - exp) <= bound), (seed, pt.pval, exp)
        assert abs(pt.qm_pval - c["expected"]["qm_pval"]) <= bound[1]


def test_permutation_test_is_reproducible_with_a_seed():
    res = _perm_fit(REF["permutation_random"] | {"knha": False})
    a = res.permutation_test(500, seed=42)
    b = res.permutation_test(500, seed=42)
    c = res.permutation_test(500, seed=43)
    assert_allclose(a.statistic_perm, b.statistic_perm)
    assert a.seed == 42 and np.array_equal(a.pval, b.pval) and a.qm_pval == b.qm_pval
    assert not np.array_equal(a.statistic_perm, c.statistic_perm)


@pytest.mark.parametrize("method", ["REML", "PM", "DL"])
def test_batched_permutations_equal_a_loop_of_full_fits(method):
    """The vectorised refits are the refits: the same permutations fitted one at a time agree."""
    c = next(c for c in REF["regression"] if c["id"] == "molloy_controls_quality/REML/knha")
    y, v, M = np.asarray(c["yi"]), np.asarray(c["vi"]), _mods(c)
    res = meta_regression(y, v, M, method=method, knha=True)
    pt = res.permutation_test(40, seed=7)
    perm = np.argsort(np.random.default_rng(7).random((40, len(y))), axis=1)
    perm[0] = np.arange(len(y))
    for i in (0, 1, 17, 39):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", hipacu.ConvergenceWarning)
            one = meta_regression(y[perm[i]], v[perm[i]], M, method=method, knha=True)
        assert_allclose(pt.statistic_perm[i], one.statistic, rtol=TOL_ITERATIVE, atol=ATOL_ZERO)
        assert_allclose(pt.qm_perm[i], one.qm, rtol=TOL_ITERATIVE, atol=ATOL_ZERO)


def test_first_random_permutation_is_the_observed_fit():
    res = _perm_fit(REF["permutation_random"] | {"knha": False})
    pt = res.permutation_test(200, seed=1)
    assert_allclose(pt.statistic_perm[0], res.statistic, rtol=1e-10)
    assert_allclose(pt.qm_perm[0], res.qm, rtol=1e-10)


def test_permutation_test_is_exact_when_distinct_permutations_do_not_exceed_n():
    """As metafor: 8 studies with a binary moderator (4 + 4) have 70 distinct arrangements < 1000."""
    y = [0.1, 0.3, -0.2, 0.5, 0.2, 0.0, 0.4, 0.25]
    v = [0.05, 0.04, 0.06, 0.05, 0.03, 0.07, 0.05, 0.04]
    res = meta_regression(y, v, [0, 0, 0, 0, 1, 1, 1, 1], method="DL")
    pt = res.permutation_test(1000, seed=1)
    assert pt.exact and pt.n == 70 and pt.seed is None


def test_intercept_only_design_uses_sign_flips():
    c = next(c for c in REF["permutation"] if c["id"].startswith("normand_intercept_only"))
    res = _perm_fit(c)
    pt = res.permutation_test(100, seed=5)
    assert not pt.exact and pt.n == 100  # 2^9 = 512 sign patterns > 100
    pt_exact = res.permutation_test(512)
    assert pt_exact.exact and pt_exact.n == 512
    assert_allclose(pt_exact.pval, np.atleast_1d(c["expected"]["pval"]), rtol=1e-12)


def test_permutation_test_bad_arguments_raise():
    res = _perm_fit(REF["permutation_random"] | {"knha": False})
    with pytest.raises(ValueError, match="n=1 is not allowed"):
        res.permutation_test(1)
    with pytest.raises(ValueError, match="n=10.5 is not allowed"):
        res.permutation_test(10.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seed='a' is not allowed"):
        res.permutation_test(10, seed="a")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"an exact permutation test would need 3.89e\+08 permutations"):
        res.permutation_test(10, exact=True)


def test_permutation_refits_that_do_not_converge_are_left_out_with_a_warning(monkeypatch):
    res = _perm_fit(REF["permutation_random"] | {"knha": False})
    monkeypatch.setattr(tau2, "MAXITER", 5)
    with pytest.warns(hipacu.ConvergenceWarning, match="left out of the permutation p-values"):
        pt = res.permutation_test(200, seed=1)
    assert 0 < pt.n_failed < 200
    assert 0 <= pt.qm_pval <= 1 and np.all((0 <= pt.pval) & (pt.pval <= 1))


def test_permutation_test_raises_when_no_refit_converges(monkeypatch):
    res = _perm_fit(REF["permutation_random"] | {"knha": False})
    monkeypatch.setattr(tau2, "MAXITER", 2)
    with pytest.raises(RuntimeError, match="did not converge in any of the 200 permutation refits"):
        res.permutation_test(200, seed=1)


# --------------------------------------------------------------------------- subgroups


def _subgroup(case):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return subgroup_test(case["yi"], case["vi"], case["groups"], method=case["method"], knha=case["knha"],
                             tau2=case["tau2"])


@pytest.mark.parametrize("case", REF["subgroups"], ids=lambda c: c["id"])
def test_subgroups_match_metafor(case):
    exp = case["expected"]
    res = _subgroup(case)
    tol = _tol(case["method"])
    assert res.tau2_mode == case["tau2"]
    assert res.df == exp["df"] == len(exp["subgroups"]) - 1
    assert_allclose([res.q_between, res.pval], [exp["q_between"], exp["pval"]], rtol=tol, atol=ATOL_ZERO,
                    err_msg=case["id"])
    if case["tau2"] == "common":
        assert res.test == ("F" if case["knha"] else "chi2")
        assert res.df2 == (exp["df2"] if case["knha"] else np.inf)
        assert_allclose(res.tau2, exp["tau2"], rtol=tol, atol=ATOL_ZERO)
        assert res.regression is not None
    else:
        assert res.test == "chi2" and res.tau2 is None
    assert list(res.subgroups) == list(exp["subgroups"])
    for g, eg in exp["subgroups"].items():
        rg = res.subgroups[g]
        for name, want in eg.items():
            got = getattr(rg, name)
            if want is None:  # metafor prints no prediction interval for FE; hipacu's equals the CI
                assert case["method"] == "FE" and name in ("pi_low", "pi_high")
                want = eg["ci_low" if name == "pi_low" else "ci_high"]
            atol = _i2_atol(case["vi"]) if name == "i2" else ATOL_ZERO
            assert_allclose(got, want, rtol=tol, atol=atol, err_msg=f"{case['id']}: {g}.{name}")


def test_separate_subgroups_equal_pooling_each_subset():
    c = next(c for c in REF["subgroups"] if c["id"] == "bcg_alloc/REML/knha/separate")
    res = _subgroup(c)
    g = np.asarray(c["groups"])
    for level, est in res.subgroups.items():
        sel = g == level
        pooled = hipacu.pool(np.asarray(c["yi"])[sel], np.asarray(c["vi"])[sel], knha=True)
        assert_allclose([est.estimate, est.se, est.tau2, est.q], [pooled.estimate, pooled.se, pooled.tau2, pooled.q])


def test_fixed_effect_subgroup_test_is_the_same_with_separate_or_common_tau2():
    """Q_total = Q_within + Q_between: with FE the two modes are one test."""
    c = next(c for c in REF["subgroups"] if c["id"] == "bcg_alloc/FE/z/separate")
    sep = _subgroup(c)
    com = _subgroup({**c, "tau2": "common"})
    assert_allclose(sep.q_between, com.q_between, rtol=1e-10)
    for g in sep.subgroups:
        assert_allclose(sep.subgroups[g].estimate, com.subgroups[g].estimate, rtol=1e-10)


def test_a_subgroup_of_one_study_is_that_study_with_tau2_zero():
    c = next(c for c in REF["subgroups"] if c["id"] == "singleton/REML/z/separate")
    res = _subgroup(c)
    one = res.subgroups["C"]
    assert one.k == 1 and one.tau2 == 0 and one.i2 == 0 and one.q == 0 and one.q_pval == 1
    assert_allclose([one.estimate, one.se], [c["yi"][-1], np.sqrt(c["vi"][-1])])


def test_separate_knha_with_a_subgroup_of_one_study_raises_naming_it():
    c = next(c for c in REF["subgroups"] if c["id"] == "singleton/REML/z/separate")
    with pytest.raises(ValueError, match="subgroup 'C' has one study, so its Knapp-Hartung"):
        subgroup_test(c["yi"], c["vi"], c["groups"], knha=True)
    # the common-tau2 model has k - p = 5 residual df, so the test exists (and is in the fixture grid)
    assert subgroup_test(c["yi"], c["vi"], c["groups"], knha=True, tau2="common").test == "F"


def test_a_single_subgroup_raises_naming_it():
    with pytest.raises(ValueError, match="groups has a single subgroup 'A'"):
        subgroup_test([0.1, 0.2, 0.3], [0.1, 0.1, 0.1], ["A", "A", "A"])


def test_common_tau2_needs_more_studies_than_subgroups():
    with pytest.raises(ValueError, match=r"tau2='common' needs more studies than subgroups to estimate the model; got k = 3 studies in 3"):
        subgroup_test([0.1, 0.2, 0.3], [0.1, 0.1, 0.1], ["A", "B", "C"], tau2="common")
    # separate: each subgroup is its study and the test of differences is Cochran's Q of the three studies
    res = subgroup_test([0.1, 0.2, 0.3], [0.1, 0.1, 0.1], ["A", "B", "C"])
    assert_allclose(res.q_between, hipacu.pool([0.1, 0.2, 0.3], [0.1, 0.1, 0.1], method="FE").q)


def test_subgroup_bad_input_raises():
    y, v = [0.1, 0.2, 0.3, 0.4], [0.1, 0.1, 0.1, 0.1]
    with pytest.raises(ValueError, match="groups must have one label per study; got 3 labels for k = 4"):
        subgroup_test(y, v, ["A", "A", "B"])
    with pytest.raises(ValueError, match=r"groups\[2\] is missing"):
        subgroup_test(y, v, ["A", "A", None, "B"])
    with pytest.raises(ValueError, match="tau2='pooled' is not allowed; choose one of 'separate', 'common'"):
        subgroup_test(y, v, ["A", "A", "B", "B"], tau2="pooled")
    with pytest.raises(ValueError, match="groups must be a sequence"):
        subgroup_test(y, v, "AABB")


def test_categorical_groups_keep_their_category_order():
    c = next(c for c in REF["subgroups"] if c["id"] == "bcg_alloc/DL/z/separate")
    cat = pd.Categorical(c["groups"], categories=["systematic", "random", "alternate", "unused"])
    res = subgroup_test(c["yi"], c["vi"], pd.Series(cat), method="DL")
    assert list(res.subgroups) == ["systematic", "random", "alternate"]
    assert_allclose(res.q_between, c["expected"]["q_between"], rtol=TOL_CLOSED_FORM)


def test_subgroup_to_frame_and_summary():
    c = next(c for c in REF["subgroups"] if c["id"] == "bcg_alloc/REML/knha/common")
    res = _subgroup(c)
    df = res.to_frame()
    assert list(df["group"]) == ["alternate", "random", "systematic"]
    assert list(df.columns) == ["group", "k", "estimate", "se", "ci_low", "ci_high", "statistic", "pval", "tau2", "i2",
                                "q", "q_pval", "pi_low", "pi_high"]
    assert "Test for subgroup differences: F(2, 10)" in res.summary()
    assert 0 <= res.i2_between <= 100
