"""Properties every pooled estimate must have, whatever the data (hypothesis)."""

from __future__ import annotations

import warnings

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

import hipacu

TOL_PROPERTY = 1e-7  # invariances hold up to iteration tolerance and summation order

effects = st.floats(-5, 5, allow_nan=False, allow_infinity=False)
variances = st.floats(1e-3, 10, allow_nan=False, allow_infinity=False)


@st.composite
def meta_data(draw, min_k=2, max_k=15):
    k = draw(st.integers(min_k, max_k))
    yi = np.array(draw(st.lists(effects, min_size=k, max_size=k)))
    vi = np.array(draw(st.lists(variances, min_size=k, max_size=k)))
    return yi, vi


methods = st.sampled_from(hipacu.METHODS)


def _pool(yi, vi, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return hipacu.pool(yi, vi, **kw)


@settings(max_examples=150, deadline=None)
@given(meta_data(), methods, st.randoms())
def test_study_order_does_not_matter(data, method, rnd):
    yi, vi = data
    perm = np.array(rnd.sample(range(len(yi)), len(yi)))
    a, b = _pool(yi, vi, method=method), _pool(yi[perm], vi[perm], method=method)
    assert_allclose([a.estimate, a.se, a.tau2, a.q], [b.estimate, b.se, b.tau2, b.q], rtol=TOL_PROPERTY, atol=1e-9)
    assert_allclose(a.weights[perm], b.weights, rtol=TOL_PROPERTY, atol=1e-9)


@settings(max_examples=150, deadline=None)
@given(meta_data(), methods, st.floats(-10, 10))
def test_shifting_all_effects_shifts_the_estimate(data, method, shift):
    yi, vi = data
    a, b = _pool(yi, vi, method=method), _pool(yi + shift, vi, method=method)
    assert_allclose(b.estimate, a.estimate + shift, rtol=TOL_PROPERTY, atol=1e-7)
    assert_allclose(b.tau2, a.tau2, rtol=1e-6, atol=1e-9)


@settings(max_examples=200, deadline=None)
@given(meta_data(min_k=1), methods, st.booleans())
def test_tau2_nonnegative_and_i2_within_0_and_100(data, method, knha):
    yi, vi = data
    r = _pool(yi, vi, method=method, knha=knha)
    assert r.tau2 >= 0
    assert 0 <= r.i2 <= 100
    assert r.h2 >= 0 if method == "FE" else r.h2 >= 1
    assert r.ci_low <= r.estimate <= r.ci_high
    assert r.pi_low <= r.ci_low and r.ci_high <= r.pi_high
    assert_allclose(r.weights.sum(), 100, rtol=1e-12)


@settings(max_examples=150, deadline=None)
@given(meta_data(min_k=1))
def test_fixed_effect_estimate_lies_within_the_study_effects(data):
    yi, vi = data
    r = _pool(yi, vi, method="FE")
    assert yi.min() - 1e-12 <= r.estimate <= yi.max() + 1e-12


@settings(max_examples=100, deadline=None)
@given(meta_data())
def test_fixed_effect_equals_weighted_least_squares(data):
    """FE is WLS of y on an intercept with weights 1/v (identity, Hedges & Olkin 1985)."""
    yi, vi = data
    w = 1 / vi
    X = np.sqrt(w)[:, None]
    beta, *_ = np.linalg.lstsq(X, np.sqrt(w) * yi, rcond=None)
    r = _pool(yi, vi, method="FE")
    assert_allclose(r.estimate, beta[0], rtol=1e-10, atol=1e-12)
    assert_allclose(r.se, np.sqrt(1 / w.sum()), rtol=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.lists(meta_data(max_k=8), min_size=1, max_size=6), methods)
def test_pool_batch_equals_pool_row_by_row(datasets, method):
    width = max(len(y) for y, _ in datasets)
    Y = np.full((len(datasets), width), np.nan)
    V = np.full_like(Y, np.nan)
    for i, (y, v) in enumerate(datasets):
        Y[i, : len(y)], V[i, : len(v)] = y, v
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        batch = hipacu.pool_batch(Y, V, method=method)
    for i, (y, v) in enumerate(datasets):
        single = _pool(y, v, method=method)
        assert_allclose(batch.estimate[i], single.estimate, rtol=TOL_PROPERTY, atol=1e-9)
        assert_allclose(batch.tau2[i], single.tau2, rtol=TOL_PROPERTY, atol=1e-9)
