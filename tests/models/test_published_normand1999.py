"""Published worked examples: the two meta-analyses of Normand (1999).

Source
------
Normand, S.-L. T. (1999). Meta-analysis: formulating, evaluating, combining, and reporting.
*Statistics in Medicine*, 18(3), 321-359.
- Example 1, prophylactic lidocaine (Hine et al. 1989): risk differences in percentage points,
  Table III (p. 330); fixed-effect and random-effects (REML, DL) results, Table VII (p. 349).
- Example 2, length of hospital stay of stroke patients: mean differences with a pooled SD,
  Table VIII (p. 351); fixed-effect and random-effects (DL, REML) results, Table IX (p. 352).

Input data are the data sets the article analyses, as printed by metadat (``dat.hine1989``,
``dat.normand1999``; help pages https://rdrr.io/cran/metadat/man/dat.normand1999.html, "Source: Normand,
S. T. (1999)"). Table values, and the number of decimals each table prints, are as transcribed with
page/table locators in metafor's replication tests/testthat/test_analysis_example_normand1999.r
(https://rdrr.io/cran/metafor/src/tests/testthat/test_analysis_example_normand1999.r; GitHub
wviechtb/metafor commit 0d037744 rounds every value to the table's printed digits). See also
https://www.metafor-project.org/doku.php/analyses:normand1999.
"""

from __future__ import annotations

import numpy as np
from numpy.testing import assert_allclose

import hipacu
from hipacu import effects

#: Table III prints the risk differences and their variances (percentage points) with 4 decimals.
TOL_PRINTED_4DP = 0.5e-4
#: Tables VII (tau^2) print 3 decimals.
TOL_PRINTED_3DP = 0.5e-3
#: Tables VII (estimate), VIII (variances) and IX print 2 decimals.
TOL_PRINTED_2DP = 0.5e-2
#: Table VII prints the confidence limits with 1 decimal.
TOL_PRINTED_1DP = 0.5e-1

# ------------------------------------------------------------ Example 1 input: dat.hine1989 (metadat)
HINE_N1 = np.array([39, 44, 107, 103, 110, 154])  # dat.hine1989 n1i (lidocaine group), Chopra ... O'Brien
HINE_N2 = np.array([43, 44, 110, 100, 106, 146])  # dat.hine1989 n2i (control group)
HINE_A = np.array([2, 4, 6, 7, 7, 11])  # dat.hine1989 ai (deaths, lidocaine)
HINE_C = np.array([1, 4, 4, 5, 3, 4])  # dat.hine1989 ci (deaths, control)

# ------------------------------------------------------------ Example 2 input: dat.normand1999 (metadat)
# Edinburgh, Orpington-Mild, Orpington-Moderate, Orpington-Severe, Montreal-Home, Montreal-Transfer,
# Newcastle, Umea, Uppsala
N1 = np.array([155, 31, 75, 18, 8, 57, 34, 110, 60])  # dat.normand1999 n1i (specialist care)
M1 = np.array([55, 27, 64, 66, 14, 19, 52, 21, 30])  # dat.normand1999 m1i (mean length of stay, days)
SD1 = np.array([47, 7, 17, 20, 8, 7, 45, 16, 27])  # dat.normand1999 sd1i
N2 = np.array([156, 32, 71, 18, 13, 52, 33, 183, 52])  # dat.normand1999 n2i (routine care)
M2 = np.array([75, 29, 119, 137, 18, 18, 41, 31, 23])  # dat.normand1999 m2i
SD2 = np.array([64, 4, 29, 48, 11, 4, 34, 27, 20])  # dat.normand1999 sd2i


def _hine():
    es = effects.risk_difference(HINE_A, HINE_N1, HINE_C, HINE_N2)
    return es.yi * 100, es.vi * 100**2  # percentage points, as in Table III


def _stroke():
    # Normand uses the pooled within-study SD for both arms: var = sp^2 (1/n1 + 1/n2)
    sp = np.sqrt(((N1 - 1) * SD1**2 + (N2 - 1) * SD2**2) / (N1 + N2 - 2))
    return effects.mean_difference(M1, sp, N1, M2, sp, N2)


def test_table_iii_risk_differences_p330():
    yi, vi = _hine()
    # Normand (1999), p. 330, Table III, risk difference (%) per trial
    assert_allclose(yi, [2.8026, 0.0000, 1.9711, 1.7961, 3.5334, 4.4031], rtol=0, atol=TOL_PRINTED_4DP)
    # Normand (1999), p. 330, Table III, sampling variance (%^2) per trial
    assert_allclose(vi, [17.7575, 37.5657, 8.1323, 10.8998, 8.0114, 6.1320], rtol=0, atol=TOL_PRINTED_4DP)


def test_table_vii_lidocaine_p349():
    yi, vi = _hine()
    for method in ("FE", "REML", "DL"):
        res = hipacu.pool(yi, vi, method=method)
        assert_allclose(res.estimate, 2.94, rtol=0, atol=TOL_PRINTED_2DP)  # Normand (1999), p. 349, Table VII, estimate (FE, REML and DL)
        assert_allclose(res.ci_low, 0.4, rtol=0, atol=TOL_PRINTED_1DP)  # p. 349, Table VII, lower 95% limit
        assert_allclose(res.ci_high, 5.5, rtol=0, atol=TOL_PRINTED_1DP)  # p. 349, Table VII, upper 95% limit
        if method != "FE":
            assert_allclose(res.tau2, 0.000, rtol=0, atol=TOL_PRINTED_3DP)  # p. 349, Table VII, between-study variance


def test_table_viii_mean_differences_p351():
    es = _stroke()
    # Normand (1999), p. 351, Table VIII, mean difference (days) per study
    assert_allclose(es.yi, [-20, -2, -55, -71, -4, 1, 11, -10, 7], rtol=0, atol=TOL_PRINTED_2DP)
    # Normand (1999), p. 351, Table VIII, sampling variance per study
    assert_allclose(es.vi, [40.59, 2.05, 15.28, 150.22, 20.19, 1.22, 95.38, 8.03, 20.69], rtol=0, atol=TOL_PRINTED_2DP)


def test_table_ix_stroke_p352():
    es = _stroke()

    fe = hipacu.pool(es.yi, es.vi, method="FE")
    assert_allclose(fe.estimate, -3.49, rtol=0, atol=TOL_PRINTED_2DP)  # Normand (1999), p. 352, Table IX, fixed effect, estimate
    assert_allclose(fe.ci_low, -5.03, rtol=0, atol=TOL_PRINTED_2DP)  # p. 352, Table IX, fixed effect, lower 95% limit
    assert_allclose(fe.ci_high, -1.96, rtol=0, atol=TOL_PRINTED_2DP)  # p. 352, Table IX, fixed effect, upper 95% limit

    dl = hipacu.pool(es.yi, es.vi, method="DL")
    assert_allclose(dl.estimate, -14.10, rtol=0, atol=TOL_PRINTED_2DP)  # p. 352, Table IX, DerSimonian-Laird, estimate
    assert_allclose(dl.ci_low, -24.45, rtol=0, atol=TOL_PRINTED_2DP)  # p. 352, Table IX, DL, lower 95% limit
    assert_allclose(dl.ci_high, -3.75, rtol=0, atol=TOL_PRINTED_2DP)  # p. 352, Table IX, DL, upper 95% limit
    assert_allclose(dl.tau2, 218.72, rtol=0, atol=TOL_PRINTED_2DP)  # p. 352, Table IX, DL, between-study variance

    reml = hipacu.pool(es.yi, es.vi, method="REML")
    assert_allclose(reml.estimate, -15.12, rtol=0, atol=TOL_PRINTED_2DP)  # p. 352, Table IX, REML, estimate
    assert_allclose(reml.ci_low, -32.67, rtol=0, atol=TOL_PRINTED_2DP)  # p. 352, Table IX, REML, lower 95% limit
    assert_allclose(reml.ci_high, 2.43, rtol=0, atol=TOL_PRINTED_2DP)  # p. 352, Table IX, REML, upper 95% limit
    assert_allclose(reml.tau2, 685.20, rtol=0, atol=TOL_PRINTED_2DP)  # p. 352, Table IX, REML, between-study variance
