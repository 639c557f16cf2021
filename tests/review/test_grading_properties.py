"""Properties the GRADE rules must have whatever the data (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grade_helpers import result
from hipacu.review.grading import _judge, context

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def imprecision(r) -> int:
    return _judge("imprecision", context(r)).rating


@SETTINGS
@given(mid=st.floats(0.5, 20), centre=st.floats(-0.9, 0.9), width=st.floats(0.01, 0.95), n=st.integers(2, 5000),
       sd=st.floats(0.1, 100))
def test_a_ci_inside_the_mid_never_rates_down_for_imprecision(mid, centre, width, n, sd):
    est = centre * mid
    half = width * (mid - abs(est))
    r = result([est], [(half / 1.959963984540054) ** 2], mid=mid, n=[n], sd=[sd])
    assert -mid < r.pooled.ci_low and r.pooled.ci_high < mid
    assert imprecision(r) == 0


@SETTINGS
@given(data=st.data(), k=st.integers(2, 6), test=st.sampled_from(["z", "knha", "adhoc"]),
       method=st.sampled_from(["FE", "REML", "DL"]), mid=st.floats(0.05, 1.0))
def test_adding_a_study_that_agrees_with_the_pooled_estimate_never_worsens_imprecision(data, k, test, method, mid):
    y = np.array(data.draw(st.lists(st.floats(-1.5, 1.5), min_size=k, max_size=k)))
    v = np.array(data.draw(st.lists(st.floats(0.005, 0.3), min_size=k, max_size=k)))
    before = result(y, v, mid=mid, test=test, method=method, n=[50] * k, sd=[1.0] * k)
    v_new = data.draw(st.floats(0.005, 0.3))
    after = result(np.append(y, before.pooled.estimate), np.append(v, v_new), mid=mid, test=test, method=method,
                   n=[50] * (k + 1), sd=[1.0] * (k + 1))
    assert imprecision(after) >= imprecision(before)
