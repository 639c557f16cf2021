"""Worked examples from the GRADE guidance, reproduced: the example's numbers and the rating the
guidance gives. The stored copies of the GRADE papers show only their first pages, so each example is
cited to the page that reproduces it (URL and locator as read); none is from memory.
"""

from __future__ import annotations

import math

import pytest
from numpy.testing import assert_allclose

from grade_helpers import result
from hipacu.review.grading import _judge, cioms_band, context, grade, optimal_information_size

Z975 = 1.959963984540054
#: A number read off a figure ("approximately 2 000"): agreement within 10% is all it can show.
TOL_READ_FROM_FIGURE = 0.10


def imprecision(r) -> int:
    return _judge("imprecision", context(r)).rating


def _from_ci(est: float, lo: float, hi: float, *, log: bool) -> tuple[float, float]:
    f = math.log if log else (lambda x: x)
    return f(est), ((f(hi) - f(lo)) / (2 * Z975)) ** 2


# GRADE 6 (Guyatt 2011, J Clin Epidemiol 64:1283), the hypothetical stroke guideline, as reproduced by
# MAGIC ("The text below is taken from the GRADE workinggroup official JCE series, article number 6"):
# https://help.magicapp.org/knowledgebase/articles/294934-how-to-rate-imprecision, section "are results of a
# binary outcome sufficiently precise", paragraphs 1-3: "absolute reduction in strokes of 1.3%, with a 95% CI
# of 0.6% to 2.0%"; threshold 0.5%: "the precision of the evidence is sufficient"; threshold 1%: "the
# precision is insufficient".
STROKE = _from_ci(-0.013, -0.020, -0.006, log=False)  # risk difference, negative = fewer strokes


def test_grade6_stroke_ci_beyond_a_half_percent_threshold_is_precise_enough():
    r = result([STROKE[0]], [STROKE[1]], measure="RD", mid=0.005, n=[20_000])
    assert_allclose([r.pooled.ci_low, r.pooled.ci_high], [-0.020, -0.006], atol=1e-12)
    assert imprecision(r) == 0


def test_grade6_stroke_ci_crossing_a_one_percent_threshold_is_rated_down():
    r = result([STROKE[0]], [STROKE[1]], measure="RD", mid=0.010, n=[20_000])
    assert imprecision(r) == -1


# GRADE 6's optimal information size figure, as paraphrased by the KCE process book,
# https://processbook.kce.be/book/export/html/115, 5.5.4 "Dealing with fragility", paragraph 3: "if the best
# estimate of control event rate was 0.2 and one specifies an RRR of 25%, the OIS is approximately 2 000
# patients" (alpha 0.05, beta 0.2).
def test_grade6_optimal_information_size_for_a_control_risk_of_20_percent_and_rrr_25_percent():
    ois = optimal_information_size(control_risk=0.2, rrr=0.25)
    assert abs(ois - 2000) / 2000 <= TOL_READ_FROM_FIGURE
    assert ois == pytest.approx(1806, abs=1)  # the two-proportion sample size, unpooled variance


# A real summary-of-findings table: CAPRIE, total mortality, https://pmc.ncbi.nlm.nih.gov/articles/PMC3278064/table/t04
# (Table 4): "19,185 (1 RCT) ... Moderate due to imprecision ... RR 0.98 (0.87-1.10)"; footnote b: "Rated down
# for imprecision due to wide CIs ... suggesting possible harm".
def test_caprie_mortality_is_moderate_because_of_imprecision():
    y, v = _from_ci(0.98, 0.87, 1.10, log=True)
    r = result([y], [v], measure="RR", n=[19_185])
    g = grade(r)
    assert g.judgement("imprecision").rating == -1
    assert [j.rating for j in g.judgements if j.domain != "imprecision"] == [0, 0, 0, 0]
    assert g.certainty == "moderate"


# GRADE 6 abstract (https://www.jclinepi.com/article/S0895-4356(11)00206-X/fulltext, abstract paragraph 2):
# "If the 95% CI excludes a relative risk (RR) of 1.0, and the total number of events or patients exceeds the
# OIS criterion, precision is adequate. If the 95% CI includes appreciable benefit or harm (we suggest an RR of
# under 0.75 or over 1.25 as a rough guide) rating down for imprecision may be appropriate"; "An exception ...
# when an effect is large ... but the total sample size is not large ... one should consider rating down".
# GRADE 34 (Zeng 2022, https://pubmed.ncbi.nlm.nih.gov/35934265/, abstract): "when a CI appreciably crosses the
# threshold(s) of interest, one should consider rating down two or three levels".
@pytest.mark.parametrize("rr, lo, hi, n, expected", [
    (0.80, 0.72, 0.89, 2_000, 0),   # excludes RR 1, N above the OIS (about 1,806 for a 20% control risk)
    (0.95, 0.70, 1.29, 2_000, -2),  # includes RR < 0.75 and > 1.25: appreciable benefit and harm
    (0.60, 0.45, 0.80, 300, -1),    # large effect, robust CI, but N far below the OIS
])
def test_grade6_relative_risk_rough_guide(rr, lo, hi, n, expected):
    y, v = _from_ci(rr, lo, hi, log=True)
    r = result([y], [v], measure="RR", n=[n], control_risk=0.2)
    assert imprecision(r) == expected


# CIOMS III frequency categories, as tabulated in BMC Med Inform Decis Mak 2014;14:76, Table 1
# (https://bmcmedinformdecismak.biomedcentral.com/articles/10.1186/1472-6947-14-76/tables/1): "Very common (>=1/10)
# Common (>=1/100 to <1/10) Uncommon (>=1/1000 to <1/100) Rare (>=1/10000 to <1/1000) Very rare (<1/10000)".
@pytest.mark.parametrize("rate, band", [(0.10, "very common"), (0.0999, "common"), (0.01, "common"),
                                        (0.001, "uncommon"), (0.0001, "rare"), (0.00009, "very rare")])
def test_cioms_bands(rate, band):
    assert cioms_band(rate) == band
