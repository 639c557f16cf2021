"""hipacu.diagnostics.sensitivity (leave-one-out, cumulative, influence) against metafor 3.8.

Reference values: tests/reference/metafor_sensitivity.json, written by
tests/reference/make_metafor_sensitivity.R (versions recorded in its ``meta`` block):
``leave1out(rma(...))``, ``cumul(rma(...), order = ...)`` and ``influence(rma(...))``.

Known, explained divergences (asserted, not skipped):
- ``method="FE"``: metafor's leave1out/cumul omit the tau2 column; hipacu reports tau2 = 0.
- Identical effects with ``knha=True``: metafor's residuals are exactly 0, hipacu's ~1e-17, so the
  t statistic is inf in metafor and ~1e16 (or inf) in hipacu; the se is 0 in both to 1e-12.
- Iterative τ² near 0 (early rows of a cumulative meta-analysis): both programs stop within
  their tolerance of the boundary, hipacu at ~1e-12 and metafor at ~1e-15, so tiny τ² (and the
  I² and H² derived from them) agree in absolute, not relative, terms (``ATOL_TAU2_STOP``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import stats

import hipacu
from hipacu.diagnostics import sensitivity
from hipacu.diagnostics.sensitivity import SENSITIVITY_COLUMNS, cumulative, influence, leave_one_out
from conftest import ATOL_ZERO, TOL_CLOSED_FORM, TOL_ITERATIVE, load_reference

REF = load_reference("metafor_sensitivity.json")
DATASETS = REF["datasets"]
ITERATIVE = {"REML", "ML", "EB", "PM"}

#: Iterative τ² estimators stop when the step is below ``pooling.TOL·(1 + τ²)`` (1e-12), metafor
#: at 1e-14: where τ² is (nearly) 0 the two stopping points differ by up to ~1e-11 absolute.
ATOL_TAU2_STOP = 1e-10
#: The same stopping difference seen through ``I² = 100 τ²/(τ² + s²)``: at most
#: ``100 ATOL_TAU2_STOP / s²``, and the typical within-study variance s² is >= 0.01 in every
#: fixture dataset (percentage points).
ATOL_I2_STOP = 1e-6
#: ... and through ``H² = (τ² + s²)/s²``: at most ``ATOL_TAU2_STOP / s²``.
ATOL_H2_STOP = 1e-8

INFLUENCE_COLUMNS = [
    "rstudent", "dffits", "cook_d", "cov_r", "tau2_del", "q_del", "hat", "weight", "dfbetas", "influential",
]


def _data(name):
    d = DATASETS[name]
    return np.atleast_1d(d["yi"]), np.atleast_1d(d["vi"])


def _tol(method: str) -> float:
    return TOL_ITERATIVE if method in ITERATIVE else TOL_CLOSED_FORM


def _quiet(fun, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning other than the ones metafor also gives is a failure
        warnings.filterwarnings("ignore", category=hipacu.ConvergenceWarning)
        return fun(*args, **kwargs)


def _compare_table(case, got: pd.DataFrame):
    exp = case["expected"]
    method = case["method"]
    tol = _tol(method)
    atol = {"tau2": ATOL_TAU2_STOP, "i2": ATOL_I2_STOP, "h2": ATOL_H2_STOP} if method in ITERATIVE else {}
    assert list(got.columns) == list(SENSITIVITY_COLUMNS)
    for name in SENSITIVITY_COLUMNS:
        want = exp[name]
        if want is None:
            assert name == "tau2" and method == "FE"  # metafor omits tau2 for FE; hipacu reports 0
            want = np.zeros(len(got))
        want = np.atleast_1d(np.array(want, dtype=float))
        col = got[name].to_numpy()
        if name == "statistic" and np.isinf(want).any():
            # identical effects with knha: se 0 (metafor) vs ~1e-17 (hipacu), statistic inf vs ~1e16
            inf = np.isinf(want)
            assert (np.abs(col[inf]) > 1e12).all() and (np.sign(col[inf]) == np.sign(want[inf])).all()
            assert_allclose(got["se"].to_numpy()[inf], 0, atol=ATOL_ZERO)
            col, want = col[~inf], want[~inf]
        assert_allclose(col, want, rtol=tol, atol=atol.get(name, ATOL_ZERO), err_msg=f"{case['id']}: {name}")


# --------------------------------------------------------------------------- the fixture grid


def test_case_grid_is_complete():
    """Every dataset × FE/DL/REML × {z, knha} for leave1out and cumul (plus year order where the data
    set has a year), every dataset × FE/DL/REML for influence, the other estimators on BCG, level 0.90."""
    names = [n for n in DATASETS if n != "edge_k1"]
    main, extra = REF["main_methods"], REF["extra_methods"]
    assert main == ["FE", "DL", "REML"]
    assert set(main) | set(extra) == set(hipacu.METHODS)
    published = {"bcg_logrr", "normand_smd", "raudenbush", "hackshaw_logor", "molloy_zcor"}
    assert published | {"edge_k2", "edge_identical"} <= set(names)

    loo = {c["id"] for c in REF["leave1out"]}
    want = {f"{n}/{m}/{t}/0.95" for n in names for m in main for t in ("z", "knha")}
    want |= {f"bcg_logrr/{m}/z/0.95" for m in extra} | {f"bcg_logrr/REML/{t}/0.9" for t in ("z", "knha")}
    assert loo == want

    cum = {c["id"] for c in REF["cumul"]}
    want = {f"{n}/{m}/{t}/0.95/data_order" for n in names + ["edge_k1"] for m in main for t in ("z", "knha")}
    ordered = [n for n in names if "order" in DATASETS[n]]
    assert set(ordered) == {"bcg_logrr", "raudenbush", "hackshaw_logor", "molloy_zcor"}
    want |= {f"{n}/{m}/{t}/0.95/by_order" for n in ordered for m in main for t in ("z", "knha")}
    want |= {f"bcg_logrr/{m}/z/0.95/by_order" for m in extra}
    want |= {f"bcg_logrr/REML/{t}/0.9/by_order" for t in ("z", "knha")}
    assert cum == want

    inf = {c["id"] for c in REF["influence"]}
    assert inf == {f"{n}/{m}" for n in names for m in main} | {f"bcg_logrr/{m}" for m in extra}
    assert {(e["fun"], e["dataset"]) for e in REF["errors"]} == {("leave1out", "edge_k1"), ("influence", "edge_k1")}
    # ties in the sort key are exercised (several studies per year)
    assert len(set(DATASETS["hackshaw_logor"]["order"])) < len(DATASETS["hackshaw_logor"]["order"])


@pytest.mark.parametrize("case", REF["leave1out"], ids=lambda c: c["id"])
def test_leave_one_out_matches_metafor_leave1out(case):
    yi, vi = _data(case["dataset"])
    got = _quiet(leave_one_out, yi, vi, method=case["method"], knha=case["knha"], level=case["level"])
    assert list(got.index) == list(np.atleast_1d(case["omitted"]).astype(int))
    assert got.index.name == "omitted"
    _compare_table(case, got)


@pytest.mark.parametrize("case", REF["cumul"], ids=lambda c: c["id"])
def test_cumulative_matches_metafor_cumul(case):
    yi, vi = _data(case["dataset"])
    got = _quiet(cumulative, yi, vi, method=case["method"], knha=case["knha"], level=case["level"], order=case["order"])
    assert list(got.index) == list(np.atleast_1d(case["added"]).astype(int))
    assert got.index.name == "added"
    _compare_table(case, got)


@pytest.mark.parametrize("case", REF["influence"], ids=lambda c: c["id"])
def test_influence_matches_metafor_influence(case):
    yi, vi = _data(case["dataset"])
    res = _quiet(influence, yi, vi, method=case["method"])
    tol = _tol(case["method"])
    exp = case["expected"]
    for name in INFLUENCE_COLUMNS[:-1]:
        atol = ATOL_TAU2_STOP if name == "tau2_del" and case["method"] in ITERATIVE else ATOL_ZERO
        assert_allclose(getattr(res, name), exp[name], rtol=tol, atol=atol, err_msg=f"{case['id']}: {name}")
    assert res.influential.tolist() == exp["influential"], case["id"]


@pytest.mark.parametrize("err", REF["errors"], ids=lambda e: e["fun"])
def test_where_metafor_stops_hipacu_raises_value_error(err):
    assert err["message"] == "Stopped because k = 1."
    yi, vi = _data(err["dataset"])
    fun = {"leave1out": leave_one_out, "influence": influence}[err["fun"]]
    with pytest.raises(ValueError, match=r"k >= 2 studies.*got k = 1"):
        fun(yi, vi)


# --------------------------------------------------------------------------- engine use and identities


def _count_pool_batch_calls(monkeypatch):
    calls = []
    real = sensitivity.pool_batch

    def spy(Y, V, **kwargs):
        calls.append(np.shape(Y))
        return real(Y, V, **kwargs)

    monkeypatch.setattr(sensitivity, "pool_batch", spy)
    return calls


def test_each_function_makes_exactly_one_pool_batch_call(monkeypatch):
    yi, vi = _data("bcg_logrr")
    k = len(yi)
    calls = _count_pool_batch_calls(monkeypatch)
    leave_one_out(yi, vi)
    cumulative(yi, vi)
    influence(yi, vi)
    assert calls == [(k, k), (k, k), (k + 1, k)]


@pytest.mark.parametrize("method", ["FE", "DL", "REML", "PM"])
def test_each_leave_one_out_row_equals_pool_without_that_study(method):
    yi, vi = _data("normand_smd")
    got = leave_one_out(yi, vi, method=method, knha=True)
    for i in range(len(yi)):
        keep = np.arange(len(yi)) != i
        ref = hipacu.pool(yi[keep], vi[keep], method=method, knha=True)
        want = [getattr(ref, c) for c in SENSITIVITY_COLUMNS]
        # same engine on the same subset: only the batch shape differs
        assert_allclose(got.iloc[i].to_numpy(), want, rtol=TOL_CLOSED_FORM, atol=ATOL_ZERO)


def test_cumulative_last_row_equals_the_full_pool_whatever_the_order():
    yi, vi = _data("hackshaw_logor")
    full = hipacu.pool(yi, vi, method="REML")
    for order in (None, DATASETS["hackshaw_logor"]["order"], -yi):
        last = cumulative(yi, vi, order=order).iloc[-1]
        assert_allclose(last["estimate"], full.estimate, rtol=TOL_ITERATIVE)
        assert_allclose(last["tau2"], full.tau2, rtol=TOL_ITERATIVE)


def test_cumulative_first_row_is_the_first_study_alone_with_zero_heterogeneity():
    yi, vi = _data("bcg_logrr")
    first = cumulative(yi, vi, method="REML", knha=True).iloc[0]
    assert first["estimate"] == yi[0]
    assert_allclose(first["se"], np.sqrt(vi[0]), rtol=1e-15)
    assert (first["tau2"], first["q"], first["q_pval"], first["i2"], first["h2"]) == (0, 0, 1, 0, 1)


def test_cumulative_with_knha_uses_the_z_test_for_one_study_without_warning():
    yi, vi = _data("bcg_logrr")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = cumulative(yi, vi, method="DL", knha=True)
    z = cumulative(yi, vi, method="DL", knha=False)
    assert_allclose(got.iloc[0].to_numpy(), z.iloc[0].to_numpy(), rtol=0)
    assert got.iloc[1]["ci_high"] - got.iloc[1]["ci_low"] > z.iloc[1]["ci_high"] - z.iloc[1]["ci_low"]  # t on 1 df


def test_cumulative_ties_in_the_sort_key_keep_data_order():
    yi, vi = _data("edge_huge_variance")
    got = cumulative(yi, vi, method="FE", order=[2, 1, 2, 1, 0], labels=list("abcde"))
    assert list(got.index) == ["e", "b", "d", "a", "c"]


def test_cumulative_accepts_string_and_date_sort_keys():
    yi, vi = _data("edge_huge_variance")
    by_name = cumulative(yi, vi, order=["e", "d", "c", "b", "a"])
    assert list(by_name.index) == [4, 3, 2, 1, 0]
    dates = np.array(["2001-05-01", "1999-01-01", "2010-02-02", "2001-01-01", "1998-12-31"], dtype="datetime64[D]")
    assert list(cumulative(yi, vi, order=dates).index) == [4, 1, 3, 0, 2]


def test_cumulative_of_one_study_is_that_study():
    yi, vi = _data("edge_k1")
    got = cumulative(yi, vi, method="REML", knha=True)
    assert got.shape == (1, len(SENSITIVITY_COLUMNS))
    assert got["estimate"].iloc[0] == 0.5 and got["tau2"].iloc[0] == 0


def test_leave_one_out_of_two_studies_gives_each_study_alone():
    yi, vi = _data("edge_k2")
    got = leave_one_out(yi, vi, method="REML", knha=True)
    assert got["estimate"].tolist() == [yi[1], yi[0]]
    assert_allclose(got["se"], np.sqrt(vi[::-1]), rtol=1e-15)
    assert (got["q"] == 0).all() and (got["tau2"] == 0).all()


def test_fixed_effect_reports_zero_tau2_in_every_row():
    yi, vi = _data("bcg_logrr")
    assert (leave_one_out(yi, vi, method="FE")["tau2"] == 0).all()
    assert (cumulative(yi, vi, method="FE")["tau2"] == 0).all()
    assert (influence(yi, vi, method="FE").tau2_del == 0).all()


def test_labels_become_the_index_and_follow_the_sort_order():
    yi, vi = _data("bcg_logrr")
    labels = [f"trial {i}" for i in range(len(yi))]
    assert list(leave_one_out(yi, vi, labels=labels).index) == labels
    years = DATASETS["bcg_logrr"]["order"]
    got = cumulative(yi, vi, labels=labels, order=years)
    assert list(got.index) == [labels[i] for i in np.argsort(years, kind="stable")]
    assert list(influence(yi, vi, labels=labels).to_frame().index) == labels


def test_leave_one_out_of_four_hundred_studies_runs_in_one_batch():
    rng = np.random.default_rng(1)
    k = 400
    yi = rng.normal(0.3, 0.4, k)
    vi = rng.uniform(0.01, 0.2, k)
    got = leave_one_out(yi, vi, method="DL")
    assert got.shape == (k, len(SENSITIVITY_COLUMNS)) and np.isfinite(got.to_numpy()).all()


# --------------------------------------------------------------------------- influence properties


def test_influence_hat_values_sum_to_one_and_weights_to_100():
    yi, vi = _data("raudenbush")
    res = influence(yi, vi, method="REML")
    assert_allclose(res.hat.sum(), 1, rtol=1e-14)
    assert_allclose(res.weight.sum(), 100, rtol=1e-14)
    assert_allclose(res.weight, res.model.weights, rtol=0)


def test_influence_fixed_effect_dffits_equal_dfbetas():
    """With τ² = 0 in every fit, both standardise by the same full-data variance (Viechtbauer & Cheung 2010)."""
    yi, vi = _data("bcg_logrr")
    res = influence(yi, vi, method="FE")
    assert_allclose(res.dffits, res.dfbetas, rtol=1e-12)


def test_influence_of_identical_effects_is_zero_and_flags_nothing():
    yi, vi = _data("edge_identical")
    res = influence(yi, vi, method="REML")
    assert (res.rstudent == 0).all()
    assert_allclose(res.dffits, 0, atol=ATOL_ZERO)
    assert_allclose(res.cook_d, 0, atol=ATOL_ZERO)
    assert not res.influential.any()


def test_influence_flags_follow_metafors_rule():
    yi, vi = _data("bcg_logrr")
    res = influence(yi, vi, method="DL")
    k = res.k
    rule = (
        (np.abs(res.dffits) > 3 * np.sqrt(1 / (k - 1)))
        | (stats.chi2.cdf(res.cook_d, 1) > 0.5)
        | (res.hat > 3 / k)
        | (np.abs(res.dfbetas) > 1)
    )
    assert res.influential.tolist() == rule.tolist()
    assert res.dffits_cutoff == 3 * np.sqrt(1 / (k - 1)) and res.hat_cutoff == 3 / k


def test_influence_frame_has_metafors_columns_in_metafors_order():
    yi, vi = _data("normand_smd")
    res = influence(yi, vi)
    frame = res.to_frame()
    assert list(frame.columns) == INFLUENCE_COLUMNS
    assert frame.index.name == "study"
    assert frame["influential"].dtype == bool
    assert isinstance(res.model, hipacu.PooledEstimate) and res.model.k == len(yi)


def test_influence_results_are_read_only():
    yi, vi = _data("normand_smd")
    res = influence(yi, vi)
    with pytest.raises(ValueError):
        res.cook_d[0] = 0.0
    with pytest.raises(AttributeError):
        res.k = 3  # type: ignore[misc]


def test_public_names_are_exported_from_hipacu():
    for name in ("leave_one_out", "cumulative", "influence", "InfluenceDiagnostics"):
        assert getattr(hipacu, name) is getattr(sensitivity, name)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("fun", [leave_one_out, influence])
def test_one_study_is_rejected_by_leave_one_out_and_influence(fun):
    with pytest.raises(ValueError, match=r"k >= 2 studies.*got k = 1"):
        fun([0.5], [0.1])


@pytest.mark.parametrize("fun", [leave_one_out, cumulative, influence])
def test_mismatched_lengths_are_rejected(fun):
    with pytest.raises(ValueError, match="one value per study; yi has 3, vi has 2"):
        fun([0.1, 0.2, 0.3], [0.1, 0.1])


@pytest.mark.parametrize("fun", [leave_one_out, cumulative, influence])
def test_non_positive_variances_are_rejected(fun):
    with pytest.raises(ValueError, match=r"vi\[1\] is 0; it must be > 0"):
        fun([0.1, 0.2, 0.3], [0.1, 0.0, 0.1])


@pytest.mark.parametrize("fun", [leave_one_out, cumulative, influence])
def test_missing_effects_are_rejected(fun):
    with pytest.raises(ValueError, match=r"yi\[2\] is nan; only finite numbers are allowed"):
        fun([0.1, 0.2, np.nan], [0.1, 0.1, 0.1])


@pytest.mark.parametrize("fun", [leave_one_out, cumulative, influence])
def test_unknown_method_is_rejected_with_the_choices(fun):
    with pytest.raises(ValueError, match=r"method='XX' is not allowed; choose one of 'FE', 'DL'"):
        fun([0.1, 0.2], [0.1, 0.1], method="XX")


@pytest.mark.parametrize("fun", [leave_one_out, cumulative])
def test_bad_knha_and_level_are_rejected(fun):
    with pytest.raises(ValueError, match=r"knha='yes' is not allowed; use True or False"):
        fun([0.1, 0.2], [0.1, 0.1], knha="yes")
    with pytest.raises(ValueError, match=r"level=95 is not allowed; it must be between 0 and 1"):
        fun([0.1, 0.2], [0.1, 0.1], level=95)


@pytest.mark.parametrize("fun", [leave_one_out, cumulative, influence])
def test_bad_labels_are_rejected(fun):
    with pytest.raises(ValueError, match="one label per study; got 1 labels for k = 2 studies"):
        fun([0.1, 0.2], [0.1, 0.1], labels=["a"])
    with pytest.raises(ValueError, match="labels must be unique; 'a' appears more than once"):
        fun([0.1, 0.2], [0.1, 0.1], labels=["a", "a"])
    with pytest.raises(ValueError, match="got the string 'ab'"):
        fun([0.1, 0.2], [0.1, 0.1], labels="ab")


def test_bad_sort_keys_are_rejected():
    y, v = [0.1, 0.2, 0.3], [0.1, 0.1, 0.1]
    with pytest.raises(ValueError, match="one sort key per study; got 2 keys for k = 3 studies"):
        cumulative(y, v, order=[1, 2])
    with pytest.raises(ValueError, match=r"order\[1\] is nan; sort keys must be finite"):
        cumulative(y, v, order=[1, np.nan, 2])
    with pytest.raises(ValueError, match="order contains a missing value"):
        cumulative(y, v, order=["a", None, "b"])
    with pytest.raises(ValueError, match="mutually comparable sort keys"):
        cumulative(y, v, order=np.array([1, "a", 2.5], dtype=object))
    with pytest.raises(ValueError, match=r"one-dimensional .* got shape \(3, 1\)"):
        cumulative(y, v, order=[[1], [2], [3]])
    with pytest.raises(ValueError, match="got the string '321'"):
        cumulative(y, v, order="321")
