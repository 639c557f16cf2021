"""Sensitivity and influence: leave-one-out, cumulative meta-analysis, influence diagnostics.

Every refit goes through the vectorised pooling engine in ONE call: the subsets are the rows of a
matrix in which NaN marks an absent study (:func:`hipacu.pool_batch`). Leave-one-out is the
``k × k`` matrix with NaN on the diagonal; cumulative meta-analysis is the lower triangle of the
studies in their chosen order; the influence diagnostics use the full fit and the ``k``
leave-one-out fits, again in one batch.

The results reproduce metafor 3.8 ``leave1out(rma(...))``, ``cumul(rma(...), order = ...)`` and
``influence(rma(...))`` for intercept-only models (Viechtbauer 2010; Viechtbauer & Cheung 2010).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, fields

import numpy as np
from scipy import special

from hipacu.exceptions import FewStudiesWarning
from hipacu._checks import as_1d, check_choice, check_model_options, check_same_length, check_test, frozen_array
from hipacu.models.pooling import METHODS, PooledEstimate, pool_batch

__all__ = ["leave_one_out", "cumulative", "influence", "InfluenceDiagnostics", "SENSITIVITY_COLUMNS"]

#: Columns of :func:`leave_one_out` and :func:`cumulative`, in order, with the metafor names
#: (``print(leave1out(...))`` / ``print(cumul(...))``) they correspond to.
SENSITIVITY_COLUMNS = {
    "estimate": "estimate",
    "se": "se",
    "statistic": "zval (tval with knha)",
    "pval": "pval",
    "ci_low": "ci.lb",
    "ci_high": "ci.ub",
    "q": "Q",
    "q_pval": "Qp",
    "tau2": "tau2 (metafor omits it for FE; hipacu reports 0)",
    "i2": "I2 (percent)",
    "h2": "H2",
}

# pool_batch warns when a k = 1 row is asked for Hartung-Knapp; in a leave-one-out of k = 2 studies
# and in the first row of every cumulative meta-analysis that row is expected and documented (it
# uses the z test, as metafor's rma() does with a warning that leave1out()/cumul() suppress).


def _study_data(yi, vi) -> tuple[np.ndarray, np.ndarray]:
    y = as_1d(yi, "yi")
    v = as_1d(vi, "vi", positive=True)
    check_same_length(yi=y, vi=v)
    return y, v


def _labels(labels, k: int):
    import pandas as pd

    if labels is None:
        return pd.RangeIndex(k)
    if isinstance(labels, (str, bytes)):
        raise ValueError(f"labels must be a sequence with one label per study; got the string {labels!r}")
    try:
        idx = pd.Index(list(labels))
    except TypeError as exc:
        raise ValueError(f"labels must be a sequence with one label per study; got {labels!r:.80}") from exc
    if len(idx) != k:
        raise ValueError(f"labels must have one label per study; got {len(idx)} labels for k = {k} studies")
    if idx.has_duplicates:
        dup = idx[idx.duplicated()][0]
        raise ValueError(f"labels must be unique; {dup!r} appears more than once")
    return idx


def _pool_subsets(Y: np.ndarray, V: np.ndarray, method: str, test: str, level: float):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewStudiesWarning)  # leave-one-out subsets of k = 2 leave one study
        return pool_batch(Y, V, method=method, test=test, level=level)


def _frame(batch, index):
    import pandas as pd

    columns = {name: np.array(getattr(batch, name), dtype=float) for name in SENSITIVITY_COLUMNS}
    return pd.DataFrame(columns, index=index)


def _loo_matrices(y: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row ``i`` holds every study except study ``i`` (NaN on the diagonal)."""
    k = len(y)
    Y = np.tile(y, (k, 1))
    V = np.tile(v, (k, 1))
    np.fill_diagonal(Y, np.nan)
    np.fill_diagonal(V, np.nan)
    return Y, V


# --------------------------------------------------------------------------- leave-one-out


def leave_one_out(yi, vi, *, method: str = "REML", knha: bool = False, level: float = 0.95, labels=None,
                  test: str | None = None):
    """Leave-one-out meta-analysis: the pooled result with each study omitted in turn.

    Row ``i`` is the meta-analysis of all studies except study ``i``, fitted exactly as
    :func:`hipacu.pool` fits the full set (same ``method``, ``knha`` and ``level``; τ² is
    re-estimated in every subset). All ``k`` refits are one :func:`hipacu.pool_batch` call on the
    ``k × k`` matrix of subsets. Equivalent metafor call:
    ``leave1out(rma(yi, vi, method = method, test = "knha" or "z", level = 100 * level))``
    (Viechtbauer 2010, section 3.4).

    Parameters
    ----------
    yi, vi : array-like, length k
        Effect sizes and sampling variances (``vi > 0``); ``k >= 2``.
    method : str
        ``"FE"`` or a τ² estimator code (``hipacu.METHODS``).
    knha : bool
        Hartung–Knapp t test on ``k - 2`` df in each subset. When ``k = 2`` the subsets hold one
        study each and use the z test, as metafor does.
    test : {"z", "t", "knha", "adhoc"}, optional
        The interval of each refit, as :func:`hipacu.pool` (default from ``knha``).
    level : float
        Confidence level of the intervals.
    labels : sequence, optional
        One unique label per study, used as the row index (default ``0 .. k-1``).

    Returns
    -------
    pandas.DataFrame
        Index ``omitted`` (the study left out); columns, all float:
        ``estimate, se, statistic, pval, ci_low, ci_high, q, q_pval, tau2, i2, h2`` — metafor's
        ``estimate, se, zval/tval, pval, ci.lb, ci.ub, Q, Qp, tau2, I2, H2`` (see
        :data:`SENSITIVITY_COLUMNS`). ``tau2`` is 0 for ``"FE"`` (metafor leaves the column out).

    Raises
    ------
    ValueError
        ``k < 2`` (metafor: "Stopped because k = 1."), bad data, labels or options.
    """
    method, knha, level = check_model_options(method, knha, level, METHODS)
    test = check_test(test, knha)
    y, v = _study_data(yi, vi)
    k = len(y)
    if k < 2:
        raise ValueError(f"leave-one-out needs k >= 2 studies (a fit without the only study is empty); got k = {k}")
    index = _labels(labels, k)
    Y, V = _loo_matrices(y, v)
    out = _frame(_pool_subsets(Y, V, method, test, level), index)
    out.index.name = "omitted"
    return out


# --------------------------------------------------------------------------- cumulative


def _sort_order(order, k: int) -> np.ndarray:
    """Stable ascending sort of the key ``order`` (ties keep data order, like R's ``order()``)."""
    if order is None:
        return np.arange(k)
    if isinstance(order, (str, bytes)):
        raise ValueError(f"order must be a sequence with one sort key per study; got the string {order!r}")
    key = np.asarray(order)
    if key.ndim != 1:
        raise ValueError(f"order must be one-dimensional (one sort key per study); got shape {key.shape}")
    if len(key) != k:
        raise ValueError(f"order must have one sort key per study; got {len(key)} keys for k = {k} studies")
    if key.dtype.kind in "fc" and not np.isfinite(key).all():
        i = int(np.flatnonzero(~np.isfinite(key))[0])
        raise ValueError(f"order[{i}] is {key[i]}; sort keys must be finite")
    if key.dtype.kind == "O" and any(x is None or (isinstance(x, float) and np.isnan(x)) for x in key):
        raise ValueError("order contains a missing value (None or NaN); every study needs a sort key")
    try:
        return np.argsort(key, kind="stable")
    except TypeError as exc:
        raise ValueError(f"order must hold mutually comparable sort keys (all numbers, or all strings); {exc}") from exc


def cumulative(yi, vi, *, method: str = "REML", knha: bool = False, level: float = 0.95, order=None, labels=None,
               test: str | None = None):
    """Cumulative meta-analysis: the pooled result after adding the studies one at a time.

    The studies are sorted by ``order`` (ascending, ties in data order; e.g. publication year),
    and row ``i`` is the meta-analysis of the first ``i + 1`` studies in that order, fitted as
    :func:`hipacu.pool` would (Lau et al. 1992). All rows are one :func:`hipacu.pool_batch`
    call on the lower-triangular matrix of subsets. The first row holds one study: its own
    effect, τ² = 0, Q = 0, Q p-value 1, I² = 0, H² = 1 and the z test even with ``knha=True``
    (as metafor's ``rma`` does for ``k = 1``). Equivalent metafor call:
    ``cumul(rma(yi, vi, method = method, test = ...), order = order)``.

    Parameters
    ----------
    yi, vi : array-like, length k
        Effect sizes and sampling variances (``vi > 0``); ``k >= 1``.
    method, knha, level
        As in :func:`hipacu.pool`.
    order : array-like, length k, optional
        Sort key, one per study (as metafor 3.8's ``order`` argument: a variable to sort by, not
        a permutation). Default: data order. To add the newest study first, pass ``-year``.
    labels : sequence, optional
        One unique label per study (default ``0 .. k-1``); the index of row ``i`` is the label of
        the study added at that step.

    Returns
    -------
    pandas.DataFrame
        Index ``added``; the columns of :func:`leave_one_out` (:data:`SENSITIVITY_COLUMNS`).

    Raises
    ------
    ValueError
        Bad data, labels, sort keys or options.
    """
    method, knha, level = check_model_options(method, knha, level, METHODS)
    test = check_test(test, knha)
    y, v = _study_data(yi, vi)
    k = len(y)
    index = _labels(labels, k)
    perm = _sort_order(order, k)
    include = np.tril(np.ones((k, k), dtype=bool))
    Y = np.where(include, y[perm], np.nan)
    V = np.where(include, v[perm], np.nan)
    out = _frame(_pool_subsets(Y, V, method, test, level), index[perm])
    out.index.name = "added"
    return out


# --------------------------------------------------------------------------- influence

_INFLUENCE_DOCS = {
    "rstudent": "externally studentized residual (metafor rstudent)",
    "dffits": "DFFITS (metafor dffits)",
    "cook_d": "Cook's distance (metafor cook.d)",
    "cov_r": "covariance ratio (metafor cov.r)",
    "tau2_del": "τ² with the study left out (metafor tau2.del; 0 for FE)",
    "q_del": "Cochran's Q with the study left out (metafor QE.del)",
    "hat": "hat value (leverage) in the full model (metafor hat)",
    "weight": "weight in the full model, percent (metafor weight)",
    "dfbetas": "DFBETAS of the intercept (metafor dfbs)",
    "influential": "metafor's flag for an influential study (the '*' of metafor's inf column)",
}


@dataclass(frozen=True)
class InfluenceDiagnostics:
    """Outlier and influence diagnostics of an intercept-only meta-analysis, one value per study.

    As metafor's ``influence(rma(...))`` (Viechtbauer & Cheung 2010). Arrays are read-only and in
    data order.

    Attributes
    ----------
    labels : tuple
        Study labels (``0 .. k-1`` unless given).
    rstudent, dffits, cook_d, cov_r, tau2_del, q_del, hat, weight, dfbetas : numpy.ndarray
        See :func:`influence` for the formulas.
    influential : numpy.ndarray of bool
        metafor's rule: ``|dffits| > 3 sqrt(1/(k-1))``, or ``P(χ²₁ <= cook_d) > 0.5``, or
        ``hat > 3/k``, or ``|dfbetas| > 1``.
    model : PooledEstimate
        The fit on all studies the diagnostics refer to.
    """

    labels: tuple
    rstudent: np.ndarray
    dffits: np.ndarray
    cook_d: np.ndarray
    cov_r: np.ndarray
    tau2_del: np.ndarray
    q_del: np.ndarray
    hat: np.ndarray
    weight: np.ndarray
    dfbetas: np.ndarray
    influential: np.ndarray
    model: PooledEstimate

    @property
    def k(self) -> int:
        """Number of studies."""
        return len(self.labels)

    @property
    def dffits_cutoff(self) -> float:
        """``3 sqrt(p/(k-p))`` with ``p = 1``: the DFFITS bound of the ``influential`` rule."""
        return float(3 * np.sqrt(1 / (self.k - 1)))

    @property
    def hat_cutoff(self) -> float:
        """``3 p/k`` with ``p = 1``: the hat-value bound of the ``influential`` rule."""
        return 3 / self.k

    def to_frame(self):
        """DataFrame indexed by ``study`` (the labels) with one column per diagnostic, in metafor's order
        (``rstudent, dffits, cook_d, cov_r, tau2_del, q_del, hat, weight, dfbetas, influential``)."""
        import pandas as pd

        cols = [f.name for f in fields(self) if f.name not in ("labels", "model")]
        return pd.DataFrame({c: getattr(self, c) for c in cols}, index=pd.Index(list(self.labels), name="study"))



def influence(yi, vi, *, method: str = "REML", labels=None) -> InfluenceDiagnostics:
    """Outlier and influence diagnostics (Viechtbauer & Cheung 2010), as metafor ``influence(rma(...))``.

    The full model and the ``k`` leave-one-out models are one :func:`hipacu.pool_batch` call.
    With ``w_i = 1/(v_i + τ̂²)``, ``μ̂`` and ``Var(μ̂) = 1/Σw`` from the full fit, and
    ``μ̂₍ᵢ₎, τ̂²₍ᵢ₎, Var(μ̂₍ᵢ₎), Q₍ᵢ₎`` from the fit without study ``i`` (z test)::

        hat_i      = w_i / Σw                                         (leverage)
        weight_i   = 100 hat_i
        rstudent_i = (y_i - μ̂₍ᵢ₎) / sqrt(v_i + τ̂²₍ᵢ₎ + Var(μ̂₍ᵢ₎))
        dffits_i   = (μ̂ - μ̂₍ᵢ₎) / sqrt(hat_i (v_i + τ̂²₍ᵢ₎))
        cook_d_i   = (μ̂ - μ̂₍ᵢ₎)² / Var(μ̂)
        cov_r_i    = Var(μ̂₍ᵢ₎) / Var(μ̂)
        dfbetas_i  = (μ̂ - μ̂₍ᵢ₎) / sqrt(1 / Σ_j 1/(v_j + τ̂²₍ᵢ₎))      (j over all k studies)
        tau2_del_i = τ̂²₍ᵢ₎,   q_del_i = Q₍ᵢ₎

    (metafor 3.8 ``influence.rma.uni`` with one coefficient, ``p = 1``; a residual smaller than
    ``100 ε`` in magnitude is set to 0 there and here). A study is flagged ``influential`` when
    ``|dffits| > 3 sqrt(1/(k-1))``, or the χ²₁ lower tail at ``cook_d`` exceeds 0.5, or
    ``hat > 3/k``, or ``|dfbetas| > 1`` — metafor's rule; the cut-offs are conventions, not tests.

    Parameters
    ----------
    yi, vi : array-like, length k
        Effect sizes and sampling variances (``vi > 0``); ``k >= 2``.
    method : str
        ``"FE"`` or a τ² estimator code (``hipacu.METHODS``).
    labels : sequence, optional
        One unique label per study (default ``0 .. k-1``).

    Returns
    -------
    InfluenceDiagnostics
        ``.to_frame()`` gives the table metafor prints.

    Raises
    ------
    ValueError
        ``k < 2`` (metafor: "Stopped because k = 1."), bad data, labels or method.
    """
    check_choice(method, "method", METHODS)
    y, v = _study_data(yi, vi)
    k = len(y)
    if k < 2:
        raise ValueError(f"influence diagnostics need k >= 2 studies (they refit without each study); got k = {k}")
    index = _labels(labels, k)

    Yl, Vl = _loo_matrices(y, v)
    batch = pool_batch(np.vstack([y, Yl]), np.vstack([v, Vl]), method=method)
    full = batch[0]
    mu, var_mu, tau2 = full.estimate, full.se**2, full.tau2
    mu_del = np.asarray(batch.estimate[1:])
    var_del = np.asarray(batch.se[1:]) ** 2
    tau2_del = np.asarray(batch.tau2[1:])

    w = 1 / (v + tau2)
    hat = w / w.sum()
    hat = np.where(hat > 1 - 10 * np.finfo(float).eps, 1.0, hat)  # as metafor's hatvalues
    resid = y - mu_del
    resid = np.where(np.abs(resid) < 100 * np.finfo(float).eps, 0.0, resid)
    dfb = mu - mu_del
    rstudent = resid / np.sqrt(v + tau2_del + var_del)
    dffits = dfb / np.sqrt(hat * (v + tau2_del))
    cook_d = dfb**2 / var_mu
    cov_r = var_del / var_mu
    var_mu_at_del = 1 / (1 / (v[None, :] + tau2_del[:, None])).sum(axis=1)
    dfbetas = dfb / np.sqrt(var_mu_at_del)
    influential = (
        (np.abs(dffits) > 3 * np.sqrt(1 / (k - 1)))
        | (special.chdtr(1, cook_d) > 0.5)
        | (hat > 3 / k)
        | (np.abs(dfbetas) > 1)
    )
    return InfluenceDiagnostics(
        labels=tuple(index),
        rstudent=frozen_array(rstudent),
        dffits=frozen_array(dffits),
        cook_d=frozen_array(cook_d),
        cov_r=frozen_array(cov_r),
        tau2_del=frozen_array(tau2_del),
        q_del=frozen_array(batch.q[1:]),
        hat=frozen_array(hat),
        weight=frozen_array(full.weights),
        dfbetas=frozen_array(dfbetas),
        influential=frozen_array(influential, bool),
        model=full,
    )
