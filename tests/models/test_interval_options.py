"""hipacu.pool's interval options against metafor: test = "z", "t", "knha", "adhoc", and the
Higgins-Thompson-Spiegelhalter prediction interval (t on k - 2 df).

Reference values: tests/reference/metafor_tests.json, written by tests/reference/make_metafor_tests.R
(metafor 3.8; the HTS interval computed in that script from metafor's classic fit, as its header says).
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

import hipacu
from conftest import ATOL_ZERO, TOL_CLOSED_FORM, TOL_ITERATIVE, load_reference

REF = load_reference("metafor_tests.json")
CASES = {c["id"]: c for c in REF["cases"]}


def test_case_grid_is_complete():
    datasets = {c["dataset"] for c in REF["cases"]}
    want = {f"{d}/{m}/{t}" for d, m, t in itertools.product(datasets, ("FE", "DL", "REML", "PM"),
                                                              ("z", "t", "knha", "adhoc"))}
    assert set(CASES) == want


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_interval_options_match_metafor(case_id):
    c = CASES[case_id]
    tol = TOL_CLOSED_FORM if c["method"] in ("FE", "DL") else TOL_ITERATIVE
    res = hipacu.pool(c["yi"], c["vi"], method=c["method"], test=c["test"])
    e = c["expected"]
    for name in ("estimate", "se", "ci_low", "ci_high", "statistic", "pval", "tau2", "pi_low", "pi_high"):
        assert_allclose(getattr(res, name), e[name], rtol=tol, atol=ATOL_ZERO, err_msg=name)
    hts = hipacu.pool(c["yi"], c["vi"], method=c["method"], test=c["test"], pi="HTS")
    if e["hts_pi_low"] is None:
        assert np.isnan(hts.pi_low) and np.isnan(hts.pi_high)
    else:
        assert_allclose([hts.pi_low, hts.pi_high], [e["hts_pi_low"], e["hts_pi_high"]], rtol=tol, atol=ATOL_ZERO)
    assert hts.estimate == res.estimate and hts.ci_low == res.ci_low  # the PI option changes nothing else


def test_adhoc_is_never_narrower_than_the_z_interval():
    c = CASES["homogeneous/REML/z"]
    z = hipacu.pool(c["yi"], c["vi"], test="z")
    knha = hipacu.pool(c["yi"], c["vi"], test="knha")
    adhoc = hipacu.pool(c["yi"], c["vi"], test="adhoc")
    assert knha.se < z.se  # the Hartung-Knapp scale factor is below 1 here
    assert adhoc.se == pytest.approx(z.se, rel=TOL_CLOSED_FORM)
    assert adhoc.ci_high - adhoc.ci_low > z.ci_high - z.ci_low


def test_knha_flag_is_the_same_as_test_knha():
    c = CASES["bcg_logrr/REML/knha"]
    a = hipacu.pool(c["yi"], c["vi"], knha=True)
    b = hipacu.pool(c["yi"], c["vi"], test="knha")
    assert (a.ci_low, a.ci_high, a.se, a.pval, a.test, a.knha) == (b.ci_low, b.ci_high, b.se, b.pval, "knha", True)


def test_knha_flag_conflicting_with_test_is_an_error_naming_both():
    with pytest.raises(ValueError, match=r"knha=True conflicts with test='adhoc'"):
        hipacu.pool([0.1, 0.2], [0.1, 0.1], knha=True, test="adhoc")


def test_unknown_test_and_pi_list_the_choices():
    with pytest.raises(ValueError, match="test.*'z', 't', 'knha', 'adhoc'"):
        hipacu.pool([0.1, 0.2], [0.1, 0.1], test="hksj")
    with pytest.raises(ValueError, match="pi.*'metafor', 'HTS'"):
        hipacu.pool([0.1, 0.2], [0.1, 0.1], pi="cochrane")


def test_single_study_with_a_t_test_falls_back_to_z_with_a_warning():
    with pytest.warns(hipacu.FewStudiesWarning):
        res = hipacu.pool([0.4], [0.04], test="t")
    assert_allclose(res.ci_high - res.estimate, 1.959963984540054 * 0.2, rtol=TOL_CLOSED_FORM)


def test_batch_matches_single_for_every_test():
    c = CASES["normand_smd/REML/z"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for test in ("z", "t", "knha", "adhoc"):
            b = hipacu.pool_batch([c["yi"]], [c["vi"]], test=test, pi="HTS")[0]
            s = hipacu.pool(c["yi"], c["vi"], test=test, pi="HTS")
            assert_allclose([b.ci_low, b.pi_low, b.se], [s.ci_low, s.pi_low, s.se], rtol=TOL_CLOSED_FORM)
