"""Published worked example: Lipsey & Wilson (2001), Exhibit 7.3.

Source
------
Lipsey, M. W., & Wilson, D. B. (2001). *Practical meta-analysis*. Thousand Oaks, CA: Sage.
Chapter 7, Exhibit 7.3, p. 133: fixed-effect and random-effects (method-of-moments, i.e.
DerSimonian-Laird) analysis of 10 standardized mean differences.

Inputs (``yi`` to 2 decimals, ``vi`` to 3 decimals) and the Exhibit 7.3 values are as transcribed,
with the locator "compare with results on page 133 (Exhibit 7.3)", in metafor's replication
tests/testthat/test_analysis_example_lipsey2001.r
(https://rdrr.io/cran/metafor/src/tests/testthat/test_analysis_example_lipsey2001.r; see also
https://www.metafor-project.org/doku.php/analyses:lipsey2001). The exhibit prints 4 decimals and
the random-effects variance component with 6 decimals.
"""

from __future__ import annotations

from numpy.testing import assert_allclose

import hipacu

#: Exhibit 7.3 prints the mean ES, SE, CI, z, p, Q and its p with 4 decimals.
TOL_PRINTED_4DP = 0.5e-4
#: Exhibit 7.3 prints the random-effects variance component with 6 decimals.
TOL_PRINTED_6DP = 0.5e-6

# Lipsey & Wilson (2001), Exhibit 7.3 data (study ids 100, 308, 1596, 2479, 9021, 9028, 161, 172, 537, 7049)
YI = [-0.33, 0.32, 0.39, 0.31, 0.17, 0.64, -0.33, 0.15, -0.02, 0.00]  # effect sizes, as printed (2 dp)
VI = [0.084, 0.035, 0.017, 0.034, 0.072, 0.117, 0.102, 0.093, 0.012, 0.067]  # variances, as printed (3 dp)


def test_fixed_effect_exhibit_7_3():
    res = hipacu.pool(YI, VI, method="FE")
    assert res.k == 10
    assert_allclose(res.estimate, 0.1549, rtol=0, atol=TOL_PRINTED_4DP)  # Lipsey & Wilson (2001), p. 133, Exh. 7.3, FE mean ES
    assert_allclose(res.se, 0.0609, rtol=0, atol=TOL_PRINTED_4DP)  # p. 133, Exh. 7.3, FE SE
    assert_allclose(res.statistic, 2.5450, rtol=0, atol=TOL_PRINTED_4DP)  # p. 133, Exh. 7.3, FE z
    assert_allclose(res.pval, 0.0109, rtol=0, atol=TOL_PRINTED_4DP)  # p. 133, Exh. 7.3, FE p
    assert_allclose(res.ci_low, 0.0356, rtol=0, atol=TOL_PRINTED_4DP)  # p. 133, Exh. 7.3, FE -95% CI
    assert_allclose(res.ci_high, 0.2742, rtol=0, atol=TOL_PRINTED_4DP)  # p. 133, Exh. 7.3, FE +95% CI
    assert_allclose(res.q, 14.7640, rtol=0, atol=TOL_PRINTED_4DP)  # p. 133, Exh. 7.3, homogeneity Q
    assert_allclose(res.q_pval, 0.0976, rtol=0, atol=TOL_PRINTED_4DP)  # p. 133, Exh. 7.3, p of Q (df = 9)


def test_random_effects_exhibit_7_3():
    res = hipacu.pool(YI, VI, method="DL")
    assert_allclose(res.estimate, 0.1534, rtol=0, atol=TOL_PRINTED_4DP)  # p. 133, Exh. 7.3, RE mean ES
    assert_allclose(res.se, 0.0858, rtol=0, atol=TOL_PRINTED_4DP)  # p. 133, Exh. 7.3, RE SE
    assert_allclose(res.statistic, 1.7893, rtol=0, atol=TOL_PRINTED_4DP)  # p. 133, Exh. 7.3, RE z
    assert_allclose(res.pval, 0.0736, rtol=0, atol=TOL_PRINTED_4DP)  # p. 133, Exh. 7.3, RE p
    assert_allclose(res.ci_low, -0.0146, rtol=0, atol=TOL_PRINTED_4DP)  # p. 133, Exh. 7.3, RE -95% CI
    assert_allclose(res.ci_high, 0.3215, rtol=0, atol=TOL_PRINTED_4DP)  # p. 133, Exh. 7.3, RE +95% CI
    assert_allclose(res.tau2, 0.025955, rtol=0, atol=TOL_PRINTED_6DP)  # p. 133, Exh. 7.3, random-effects variance component v
