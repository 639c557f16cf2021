"""Mantel-Haenszel and Peto pooling against metafor 3.8 ``rma.mh`` / ``rma.peto``.

Reference values: tests/reference/metafor_binary.json, written by
tests/reference/make_metafor_binary.R (metafor's default zero-cell arguments; versions recorded).
Every quantity is closed-form, so everything is compared at TOL_CLOSED_FORM.

Known, explained divergences (asserted, not skipped): where metafor returns NA (MH RR with no
events in one arm of every table, MH OR with a zero numerator or denominator sum, MH RD with zero
variance) or stops (Peto with no informative table), hipacu raises ValueError saying why.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

import hipacu
from hipacu.models.binary import MH_MEASURES, mantel_haenszel, peto
from conftest import ATOL_ZERO, TOL_CLOSED_FORM, load_reference

REF = load_reference("metafor_binary.json")
BCG = next(c for c in REF["cases"] if c["id"] == "bcg/OR/0.95")["data"]


def _run(case):
    if case["fun"] == "peto":
        return peto(**case["data"], level=case["level"])
    return mantel_haenszel(**case["data"], measure=case["measure"], level=case["level"])


def test_case_grid_is_complete():
    """Every dataset x {MH RR, MH OR, MH RD, Peto} at 95%, plus BCG at 90%; all measures covered."""
    ids = {c["id"] for c in REF["cases"]}
    want = {f"{d}/{m}/0.95" for d in REF["datasets"] for m in ("RR", "OR", "RD", "PETO")}
    want |= {f"bcg/{m}/0.9" for m in ("RR", "OR", "RD", "PETO")}
    assert ids == want
    assert set(MH_MEASURES) == {"RR", "OR", "RD"}
    assert {"nielweise2007", "yusuf1985_table6", "zeros", "edge_k1", "edge_k2", "edge_one_informative"} <= set(REF["datasets"])
    # the zero-cell sets really contain double-zero tables
    for name in ("nielweise2007", "yusuf1985_table6", "zeros"):
        d = next(c for c in REF["cases"] if c["dataset"] == name)["data"]
        assert any(a == 0 and c == 0 for a, c in zip(d["events1"], d["events2"])), name


@pytest.mark.parametrize("case", REF["cases"], ids=lambda c: c["id"])
def test_matches_metafor(case):
    res = _run(case)
    for name, want in case["expected"].items():
        got = getattr(res, name)
        if want is None:
            assert got is None, name
            continue
        assert_allclose(got, want, rtol=TOL_CLOSED_FORM, atol=ATOL_ZERO, err_msg=f"{case['id']}: {name}")
    assert res.measure == case["measure"]


@pytest.mark.parametrize("err", REF["errors"], ids=lambda e: e["id"])
def test_where_metafor_gives_na_or_stops_hipacu_raises(err):
    assert err["metafor"] in ("NA", "error")
    match = {
        "RR_no_events_arm1": "risk ratio is undefined: no events in arm 1 of any table",
        "OR_no_events_arm1": r"odds ratio is undefined .*\(sum of a\*d/N = 0\)",
        "RD_no_events": "risk difference has zero variance",
        "PETO_no_events": "Peto's method cannot be used",
    }[err["id"]]
    with pytest.raises(ValueError, match=match):
        if err["fun"] == "peto":
            peto(**err["data"])
        else:
            mantel_haenszel(**err["data"], measure=err["measure"])


# --------------------------------------------------------------------------- zero-cell rules


def _with_table(d, e1, n1, e2, n2):
    return {"events1": [*d["events1"], e1], "total1": [*d["total1"], n1],
            "events2": [*d["events2"], e2], "total2": [*d["total2"], n2]}


def test_a_double_zero_table_changes_neither_the_mh_odds_ratio_nor_peto_nor_q():
    more = _with_table(BCG, 0, 50, 0, 60)
    for fun in (lambda d: mantel_haenszel(**d, measure="OR"), lambda d: mantel_haenszel(**d, measure="RR"),
                lambda d: peto(**d)):
        a, b = fun(BCG), fun(more)
        assert b.k == a.k + 1 and b.k_q == a.k_q
        assert_allclose([b.estimate, b.se, b.q, b.i2], [a.estimate, a.se, a.q, a.i2], rtol=1e-12)


def test_a_double_zero_table_pulls_the_mh_risk_difference_towards_zero():
    d = next(c for c in REF["cases"] if c["id"] == "collins1985b/RD/0.95")["data"]
    a = mantel_haenszel(**d, measure="RD")
    b = mantel_haenszel(**_with_table(d, 0, 400, 0, 400), measure="RD")
    assert abs(b.estimate) < abs(a.estimate) and b.se < a.se
    assert b.k_q == a.k_q and b.q_df == a.q_df  # it never enters Q (Q moves only with the estimate)


def test_a_double_all_table_pulls_the_mh_risk_ratio_towards_one_but_not_the_odds_ratio():
    rr, rr2 = (mantel_haenszel(**d, measure="RR") for d in (BCG, _with_table(BCG, 500, 500, 500, 500)))
    assert abs(rr2.estimate) < abs(rr.estimate)
    orr, orr2 = (mantel_haenszel(**d, measure="OR") for d in (BCG, _with_table(BCG, 500, 500, 500, 500)))
    assert_allclose(orr2.estimate, orr.estimate, rtol=1e-12)
    assert rr2.k_q == rr.k_q


def test_zero_cells_need_no_correction_for_the_estimate():
    """A table with one zero cell enters the MH sums as it is (its corrected log OR is not used)."""
    d = {"events1": [0, 5], "total1": [20, 30], "events2": [3, 9], "total2": [22, 31]}
    res = mantel_haenszel(**d, measure="OR")
    a, b, c, dd = np.array([0, 5]), np.array([20, 25]), np.array([3, 9]), np.array([19, 22])
    N = a + b + c + dd
    assert_allclose(res.estimate, np.log(np.sum(a * dd / N) / np.sum(b * c / N)), rtol=1e-14)


def test_one_table_has_no_heterogeneity():
    res = mantel_haenszel(events1=[4], total1=[50], events2=[9], total2=[48], measure="OR")
    assert res.k == res.k_q == 1 and res.q == 0 and res.q_pval == 1 and res.i2 == 0 and res.h2 == 1


# --------------------------------------------------------------------------- helpers, results


def test_exp_gives_the_ratio_and_its_interval():
    res = mantel_haenszel(**BCG, measure="RR")
    e = res.exp()
    assert_allclose([e.estimate, e.ci_low, e.ci_high], np.exp([res.estimate, res.ci_low, res.ci_high]))
    assert e.ci_low < e.estimate < e.ci_high
    assert_allclose(peto(**BCG).exp().estimate, np.exp(peto(**BCG).estimate))


def test_exp_of_a_risk_difference_raises():
    with pytest.raises(ValueError, match="the risk difference is not on a log scale"):
        mantel_haenszel(**BCG, measure="RD").exp()


def test_cmh_and_tarone_only_for_the_odds_ratio():
    assert mantel_haenszel(**BCG, measure="OR").cmh is not None
    for m in ("RR", "RD"):
        r = mantel_haenszel(**BCG, measure=m)
        assert r.cmh is None and r.tarone is None


def test_results_are_frozen_and_tabular():
    res = peto(**BCG)
    with pytest.raises(AttributeError):
        res.estimate = 0  # type: ignore[misc]
    df = mantel_haenszel(**BCG, measure="OR").to_frame()
    assert len(df) == 1
    for col in ("measure", "estimate", "se", "ci_low", "ci_high", "statistic", "pval", "q", "q_df", "q_pval", "i2",
                "h2", "k", "k_q", "cmh", "tarone"):
        assert col in df.columns
    assert "Mantel-Haenszel" in str(mantel_haenszel(**BCG)) and "Peto" in peto(**BCG).summary()


def test_public_names_are_exported():
    assert hipacu.mantel_haenszel is mantel_haenszel and hipacu.peto is peto


# --------------------------------------------------------------------------- bad input


def test_bad_counts_raise_naming_the_argument():
    with pytest.raises(ValueError, match=r"events1\[0\] = 12 exceeds total1\[0\] = 10"):
        mantel_haenszel([12], [10], [1], [10])
    with pytest.raises(ValueError, match=r"events2\[1\] is -1; it must be >= 0"):
        peto([1, 2], [10, 10], [1, -1], [10, 10])
    with pytest.raises(ValueError, match=r"events1\[0\] is 1.5; it must be a whole number"):
        mantel_haenszel([1.5], [10], [1], [10])
    with pytest.raises(ValueError, match="arguments must have one value per study; events1 has 2"):
        peto([1, 2], [10, 10, 10], [1, 1], [10, 10])
    with pytest.raises(ValueError, match=r"total2\[0\] is 0; it must be >= 1"):
        mantel_haenszel([1], [10], [0], [0])
    with pytest.raises(ValueError, match=r"events1\[1\] is nan"):
        peto([1, np.nan], [10, 10], [1, 1], [10, 10])


def test_unknown_measure_and_level_raise():
    with pytest.raises(ValueError, match="measure='IRR' is not allowed; choose one of 'RR', 'OR', 'RD'"):
        mantel_haenszel(**BCG, measure="IRR")
    with pytest.raises(ValueError, match="level=95 is not allowed"):
        peto(**BCG, level=95)
