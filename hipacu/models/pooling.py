"""Inverse-variance pooling: fixed effect and random effects, one vectorised engine.

:func:`pool_batch` pools many meta-analyses at once (rows = analyses, NaN = study absent);
:func:`pool` is :func:`pool_batch` on one row. Each between-study variance (tau²) estimator is a
small function ``f(data, tol, maxiter) -> (tau2, converged)`` registered in :data:`TAU2_ESTIMATORS`
under metafor's code. Formulas follow Viechtbauer (2005, 2010) and metafor 3.8 ``rma.uni``
(intercept-only model); each estimator's docstring names its source.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, fields
from typing import Callable

import numpy as np
from scipy import special

from hipacu.exceptions import ConvergenceWarning
from hipacu._checks import as_1d, check_model_options, check_same_length, format_p, frozen_array

__all__ = [
    "METHODS",
    "TAU2_ESTIMATORS",
    "PooledEstimate",
    "PooledBatch",
    "pool",
    "pool_batch",
]

#: Convergence tolerance of the iterative estimators: ``|Δτ²| <= TOL * (1 + τ²)``.
TOL = 1e-12
#: Iteration cap of the iterative estimators.
MAXITER = 1000


class _Data:
    """Study data laid out studies × analyses (axis 0 = studies), so every sum is a fast reduction
    over a few contiguous rows. ``m`` is the presence mask (1/0), or ``None`` when no study is absent.
    ``w0`` (the fixed-effect weights 1/v) and scratch buffers are made once and reused: at 100,000
    analyses every fresh array costs page faults, and a division costs more than any other step."""

    __slots__ = ("y", "v", "m", "k", "_w0", "_buf")

    def __init__(self, y: np.ndarray, v: np.ndarray, m: np.ndarray | None, k: np.ndarray):
        self.y, self.v, self.m, self.k = y, v, m, k
        self._w0 = None
        self._buf: list[np.ndarray] = []

    def take(self, idx: np.ndarray) -> "_Data":
        return _Data(self.y[:, idx], self.v[:, idx], None if self.m is None else self.m[:, idx], self.k[idx])

    @property
    def w0(self) -> np.ndarray:
        """Fixed-effect weights ``1/v`` (0 for absent studies); computed once."""
        if self._w0 is None:
            self._w0 = self.weights(0.0)
        return self._w0

    def buffers(self, n: int) -> list[np.ndarray]:
        """``n`` scratch arrays shaped like ``y`` (allocated once per data set)."""
        while len(self._buf) < n:
            self._buf.append(np.empty_like(self.y))
        return self._buf[:n]

    def weights(self, tau2, out: np.ndarray | None = None) -> np.ndarray:
        w = np.add(self.v, tau2, out=out)
        np.divide(1.0, w, out=w)
        if self.m is not None:
            w *= self.m
        return w

    def wmean(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sw = w.sum(axis=0)
        return np.einsum("ij,ij->j", w, self.y) / sw, sw


def _single(k: np.ndarray) -> np.ndarray:
    return k < 2


# --------------------------------------------------------------------------- tau² estimators


def _moment(d: _Data, a: np.ndarray | None) -> np.ndarray:
    """Generalised method-of-moments estimator with fixed weights ``a`` (untruncated).

    ``τ² = (Q_a - (Σ a v - Σ a² v / Σ a)) / (Σ a - Σ a² / Σ a)`` with
    ``Q_a = Σ a (y - ȳ_a)²`` (DerSimonian & Kacker 2007, eq. 6; metafor ``GENQ``).
    ``a = 1/v`` gives DerSimonian–Laird, ``a = 1`` (``a=None``) gives Hedges' (Cochran's ANOVA)
    estimator ``Σ(y-ȳ)²/(k-1) - Σv/k``.
    """
    if a is None:  # unit weights on the present studies
        ones = d.m
        if ones is None:
            r = d.y - d.y.mean(axis=0)
            sv = d.v.sum(axis=0)
        else:
            r = (d.y - (d.y * ones).sum(axis=0) / d.k) * ones
            sv = (d.v * ones).sum(axis=0)
        return (np.einsum("ij,ij->j", r, r) - sv * (d.k - 1) / d.k) / (d.k - 1)
    mu, sa = d.wmean(a)
    r = d.y - mu
    qa = np.einsum("ij,ij,ij->j", a, r, r)
    av = a * d.v
    num = qa - (av.sum(axis=0) - np.einsum("ij,ij->j", a, av) / sa)
    return num / (sa - np.einsum("ij,ij->j", a, a) / sa)


def tau2_dl(d: _Data, tol: float, maxiter: int):
    """DerSimonian & Laird (1986): ``(Q - (k-1)) / (Σw - Σw²/Σw)``, ``w = 1/v``."""
    return _moment(d, d.w0), None


def tau2_he(d: _Data, tol: float, maxiter: int):
    """Hedges (1983) / Hedges & Olkin (1985): ``Σ(y-ȳ)²/(k-1) - Σv/k`` (unweighted moments)."""
    return _moment(d, None), None


def tau2_hs(d: _Data, tol: float, maxiter: int):
    """Hunter & Schmidt (2004): ``(Q - k) / Σw``, ``w = 1/v`` (metafor ``"HS"``)."""
    w = d.w0
    mu, sw = d.wmean(w)
    r = d.y - mu
    return (np.einsum("ij,ij,ij->j", w, r, r) - d.k) / sw, None


def tau2_sj(d: _Data, tol: float, maxiter: int):
    """Sidik & Jonkman (2005), one step from ``τ²₀ = Σ(y-ȳ)²/k``.

    ``τ² = τ²₀ Σ w (y - ȳ_w)² / (k-1)`` with ``w = 1/(v + τ²₀)``; metafor ``"SJ"``
    (the one-step form, not ``"SJIT"``).
    """
    ones = np.ones_like(d.y) if d.m is None else d.m
    mu0, _ = d.wmean(ones)
    tau0 = (ones * (d.y - mu0) ** 2).sum(axis=0) / d.k
    w = d.weights(tau0)
    mu, _ = d.wmean(w)
    return tau0 * (w * (d.y - mu) ** 2).sum(axis=0) / (d.k - 1), None


def _score_steps(d: _Data, tau2: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Fisher-scoring and Newton steps for the ML or REML likelihood of the intercept-only model.

    Score ``ℓ' = ½ (Σ w² r² - Σ w)`` (ML) or ``½ (Σ w² r² - tr P)`` (REML) with
    ``tr P = Σw - Σw²/Σw``; Fisher step ``ℓ' / (½ Σ w²)`` (ML) or ``ℓ' / (½ tr PP)`` (REML) with
    ``tr PP = Σw² - 2 Σw³/Σw + (Σw²/Σw)²`` (Viechtbauer 2005, eqs. 15-16; metafor ``rma.uni``).
    Observed information: ``-ℓ'' = Σw³r² - (Σw²r)²/Σw - ½ Σw²`` (ML), plus ``Σw³/Σw - ½ (Σw²/Σw)²``
    for REML. Returns ``(fisher_step, newton_step)``; the Newton step is NaN where ``-ℓ'' <= 0``.
    """
    w, wr, b = d.buffers(3)
    d.weights(tau2, out=w)
    sw = w.sum(axis=0)
    mu = np.einsum("ij,ij->j", w, d.y) / sw
    np.subtract(d.y, mu, out=wr)
    wr *= w
    w2r2 = np.einsum("ij,ij->j", wr, wr)
    np.multiply(wr, wr, out=b)
    w3r2 = np.einsum("ij,ij->j", b, w)
    w2r = np.einsum("ij,ij->j", wr, w)
    np.multiply(w, w, out=b)
    sw2 = b.sum(axis=0)
    info_obs = w3r2 - w2r * w2r / sw - 0.5 * sw2
    if kind == "ML":
        score = 0.5 * (w2r2 - sw)
        fisher = score / (0.5 * sw2)
    else:
        sw3 = np.einsum("ij,ij->j", b, w)
        score = 0.5 * (w2r2 - (sw - sw2 / sw))
        fisher = score / (0.5 * (sw2 - 2 * sw3 / sw + (sw2 / sw) ** 2))
        info_obs = info_obs + sw3 / sw - 0.5 * (sw2 / sw) ** 2
    newton = np.where(info_obs > 0, score / info_obs, np.nan)
    return fisher, newton


def _loglik(d: _Data, tau2: np.ndarray, kind: str) -> np.ndarray:
    """ML or REML log-likelihood (up to a constant) of the intercept-only model."""
    w = d.weights(tau2)
    mu, sw = d.wmean(w)
    logv = np.log(d.v + tau2)
    if d.m is not None:
        logv = logv * d.m
    ll = -0.5 * logv.sum(axis=0) - 0.5 * (w * (d.y - mu) ** 2).sum(axis=0)
    if kind == "REML":
        ll -= 0.5 * np.log(sw)
    return ll


class _ActiveSet:
    """Columns still iterating. Finished columns keep their value; the working arrays are compacted
    only when at most half of their columns are still live, so copies stay rare."""

    def __init__(self, d: _Data, converged: np.ndarray):
        self.cols = np.flatnonzero(~converged)
        self.sub = d.take(self.cols) if len(self.cols) < len(converged) else d
        self.live = np.ones(len(self.cols), bool)

    def finish(self, done: np.ndarray, converged: np.ndarray, *extra: np.ndarray) -> tuple[np.ndarray, ...]:
        converged[self.cols[done]] = True
        self.live &= ~done
        n = int(self.live.sum())
        if 0 < n <= 0.8 * len(self.live):  # the copy costs at most one pass over the live columns
            keep = np.flatnonzero(self.live)
            self.sub, self.cols, self.live = self.sub.take(keep), self.cols[keep], np.ones(n, bool)
            return tuple(e[keep] for e in extra)
        return extra

    @property
    def empty(self) -> bool:
        return not self.live.any()


def _score_sums_1d(y, v, t: float, kind: str) -> tuple[float, float]:
    """Score-based (Fisher, Newton) steps of one small analysis in plain floats (see _score_steps)."""
    w = [1.0 / (vi + t) for vi in v]
    sw = sum(w)
    mu = sum(wi * yi for wi, yi in zip(w, y)) / sw
    w2r2 = w3r2 = w2r = sw2 = sw3 = 0.0
    for wi, yi in zip(w, y):
        wr = wi * (yi - mu)
        w2 = wi * wi
        w2r2 += wr * wr
        w3r2 += wr * wr * wi
        w2r += wr * wi
        sw2 += w2
        sw3 += w2 * wi
    info = w3r2 - w2r * w2r / sw - 0.5 * sw2
    if kind == "ML":
        score = 0.5 * (w2r2 - sw)
        fisher = score / (0.5 * sw2)
    else:
        score = 0.5 * (w2r2 - (sw - sw2 / sw))
        fisher = score / (0.5 * (sw2 - 2 * sw3 / sw + (sw2 / sw) ** 2))
        info += sw3 / sw - 0.5 * (sw2 / sw) ** 2
    return fisher, (score / info if info > 0 else float("nan"))


def _loglik_1d(y, v, t: float, kind: str) -> float:
    w = [1.0 / (vi + t) for vi in v]
    sw = sum(w)
    mu = sum(wi * yi for wi, yi in zip(w, y)) / sw
    ll = -0.5 * sum(math.log(vi + t) for vi in v) - 0.5 * sum(wi * (yi - mu) ** 2 for wi, yi in zip(w, y))
    return ll - 0.5 * math.log(sw) if kind == "REML" else ll


def _score_root_1d(y: np.ndarray, v: np.ndarray, kind: str, t: float, tol: float, maxiter: int) -> tuple[float, bool]:
    """The iteration of :func:`_fisher_scoring` for one small analysis in plain floats: the same
    steps, bracket, stopping rule and local-maximum check, without array machinery (a single
    ``pool`` call of k = 10 spends its time in call overhead, not arithmetic)."""
    y, v = y.tolist(), v.tolist()
    lo, hi, prev = 0.0, math.inf, 0.0
    converged = False
    t_prev = f_prev = math.nan
    toward0 = 0
    for _ in range(maxiter):
        fisher, newton = _score_sums_1d(y, v, t, kind)
        if fisher > 0:
            lo = max(lo, t)
        elif fisher < 0:
            hi = min(hi, t)
        if t == 0 and fisher <= 0:
            return 0.0, True
        if not abs(newton - fisher) <= 0.5 * abs(fisher):  # NaN, or far from the Fisher step
            newton = math.nan
        adj = fisher if math.isnan(newton) else newton
        if math.isnan(newton) and fisher * f_prev > 0 and fisher != f_prev:
            secant = -fisher * (t - t_prev) / (fisher - f_prev)  # crawling Fisher steps: extrapolate
            if secant * fisher > 0 and abs(secant) > abs(fisher):
                adj = secant
        new = t + adj
        if new <= lo and math.isinf(hi):
            new = t + fisher
        if not math.isinf(hi) and (new <= lo or new >= hi or (adj * prev < 0 and abs(adj) > 0.5 * abs(prev))):
            toward0 = toward0 + 1 if lo == 0 else 0
            new = 0.0 if toward0 > _BISECT_TO_ZERO else (lo + hi) / 2
        else:
            toward0 = 0
        new = max(new, 0.0)
        t_prev, f_prev = t, fisher
        prev = new - t
        t = new
        if abs(prev) <= tol * (1 + new):
            converged = True
            break
    if converged and t > TOL and _score_sums_1d(y, v, 0.0, kind)[0] < 0 and \
            _loglik_1d(y, v, 0.0, kind) - _loglik_1d(y, v, t, kind) > 1e-10:
        warnings.warn(f"{kind} Fisher scoring stopped at a local maximum in 1 analysis(es); tau2 set to 0 as "
                      "metafor does. Check the profile likelihood.", ConvergenceWarning, stacklevel=5)
        t = 0.0
    return t, converged


#: After this many bisections in a row toward zero (no positive score seen), try tau2 = 0 itself.
_BISECT_TO_ZERO = 3

#: Analyses with at most this many studies are iterated in plain floats when pooled alone.
_SCALAR_K = 64


def _fisher_scoring(kind: str):
    def estimator(d: _Data, tol: float, maxiter: int):
        tau2 = np.maximum(0.0, np.nan_to_num(_moment(d, None)))
        converged = _single(d.k).copy()
        if len(tau2) == 1 and not converged[0] and d.m is None and d.y.shape[0] <= _SCALAR_K:
            tau2[0], converged[0] = _score_root_1d(d.y[:, 0], d.v[:, 0], kind, float(tau2[0]), tol, maxiter)
            return tau2, converged
        act = _ActiveSet(d, converged)
        # Newton steps (quadratic convergence) where the likelihood is locally concave, Fisher-scoring
        # steps elsewhere. Both have the sign of the score, so the iterates keep a bracket [lo, hi]
        # around the root; a step that leaves the bracket, or that reverses the previous step without
        # at least halving it (plain Fisher scoring can cycle for ever), is replaced by bisection.
        # The stationary point reached is the one metafor's Fisher scoring converges to.
        # Where Newton is not available (non-concave region) and Fisher steps crawl in one
        # direction, a secant step on the last two points extrapolates. A step below the bracket
        # bisects it, so a maximum inside (0, hi) is found rather than jumped over: jumping straight
        # to tau2 = 0 was measured to miss a higher interior maximum in 26 of 100,000 analyses.
        n0 = len(act.cols)
        lo, hi, prev = np.zeros(n0), np.full(n0, np.inf), np.zeros(n0)
        t_prev, f_prev = np.full(n0, np.nan), np.full(n0, np.nan)
        toward0 = np.zeros(n0, int)
        for _ in range(maxiter):
            if act.empty:
                break
            t = tau2[act.cols]
            fisher, newton = _score_steps(act.sub, t, kind)
            lo = np.where(fisher > 0, np.maximum(lo, t), lo)
            hi = np.where(fisher < 0, np.minimum(hi, t), hi)
            no_newton = ~(np.abs(newton - fisher) <= 0.5 * np.abs(fisher))  # NaN, or far from Fisher's step
            adj = np.where(no_newton, fisher, newton)
            crawl = no_newton & (fisher * f_prev > 0) & (fisher != f_prev)
            if crawl.any():
                secant = np.where(crawl, -fisher * (t - t_prev) / np.where(crawl, fisher - f_prev, 1.0), 0.0)
                adj = np.where(crawl & (secant * fisher > 0) & (np.abs(secant) > np.abs(fisher)), secant, adj)
            new = t + adj
            new = np.where((new <= lo) & ~np.isfinite(hi), t + fisher, new)
            bisect = np.isfinite(hi) & ((new <= lo) | (new >= hi) | ((adj * prev < 0) & (np.abs(adj) > 0.5 * np.abs(prev))))
            toward0 = np.where(bisect & (lo == 0), toward0 + 1, 0)
            if bisect.any():
                new = np.where(bisect, np.where(toward0 > _BISECT_TO_ZERO, 0.0, (lo + hi) / 2), new)
            at_zero = (t == 0) & (fisher <= 0)  # the likelihood falls from τ² = 0: boundary maximum
            new = np.where(at_zero | ~act.live, t, np.maximum(new, 0.0))
            t_prev, f_prev = t, fisher
            prev = new - t
            tau2[act.cols] = new
            done = act.live & (at_zero | (np.abs(prev) <= tol * (1 + new)))
            lo, hi, prev, t_prev, f_prev, toward0 = act.finish(done, converged, lo, hi, prev, t_prev, f_prev, toward0)
        tau2 = _local_maximum_check(d, tau2, kind, converged)
        return tau2, converged

    estimator.__doc__ = (f"{kind}: root of the likelihood score from max(0, HE), by Newton/Fisher-scoring steps with a "
                         f"bisection safeguard, truncated at zero (metafor ``\"{kind}\"``).")
    return estimator


def _local_maximum_check(d: _Data, tau2: np.ndarray, kind: str, converged: np.ndarray) -> np.ndarray:
    """Set τ² = 0 where the likelihood at 0 beats the Fisher-scoring solution (metafor ``ll0check``).

    Only analyses whose likelihood falls when leaving τ² = 0 (score at 0 below zero) can have their
    maximum there, so the likelihoods are compared for those alone.
    """
    cand = converged & (tau2 > TOL) & ~_single(d.k)
    if not cand.any():
        return tau2
    pos = np.flatnonzero(cand)
    sub = d.take(pos)
    zero = np.zeros(len(pos))
    fisher0, _ = _score_steps(sub, zero, kind)
    pos, sub_idx = pos[fisher0 < 0], np.flatnonzero(fisher0 < 0)
    if len(pos) == 0:
        return tau2
    sub = sub.take(sub_idx)
    stuck = _loglik(sub, zero[sub_idx], kind) - _loglik(sub, tau2[pos], kind) > 1e-10
    if stuck.any():
        warnings.warn(
            f"{kind} Fisher scoring stopped at a local maximum in {int(stuck.sum())} analysis(es); "
            "tau2 set to 0 as metafor does. Check the profile likelihood.",
            ConvergenceWarning,
            stacklevel=4,
        )
        tau2 = tau2.copy()
        tau2[pos[stuck]] = 0.0
    return tau2


def tau2_pm(d: _Data, tol: float, maxiter: int):
    """Paule & Mandel (1982): root of ``Σ w(τ²)(y - ȳ_w)² = k - 1`` (0 if Q(0) < k-1).

    Safeguarded Newton from 0 (the generalised Q is decreasing in τ²; its derivative is
    ``-Σ w² (y - ȳ_w)²``), with bisection whenever a step leaves the bracket. metafor ``"PM"``.
    The empirical Bayes estimator (``"EB"``, Morris 1983) solves the same equation
    (``Y'PY k/(k-1) = k``), so it uses this solver too.
    """
    tau2 = np.zeros(len(d.k))
    converged = _single(d.k).copy()
    act = _ActiveSet(d, converged)
    lo = np.zeros(len(act.cols))
    hi = np.full(len(act.cols), np.inf)
    for _ in range(maxiter):
        if act.empty:
            break
        sub, t = act.sub, tau2[act.cols]
        w = sub.weights(t)
        mu, _ = sub.wmean(w)
        r = sub.y - mu
        wr = w * r
        f = (wr * r).sum(axis=0) - (sub.k - 1)
        fp = -(wr * wr).sum(axis=0)
        lo = np.where(f > 0, np.maximum(lo, t), lo)
        hi = np.where(f < 0, np.minimum(hi, t), hi)
        at_zero = (t == 0) & (f <= 0)  # Q(0) <= k-1: tau² = 0
        new = t - f / fp
        bad = ~np.isfinite(new) | (new <= lo) | (new >= hi)
        new = np.where(bad, np.where(np.isfinite(hi), (lo + hi) / 2, 2 * lo + 1), new)
        new = np.where(at_zero, 0.0, new)
        new = np.where(act.live, new, t)
        tau2[act.cols] = new
        done = act.live & (at_zero | (np.abs(new - t) <= tol * (1 + new)))
        lo, hi = act.finish(done, converged, lo, hi)
    return tau2, converged


TAU2_ESTIMATORS: dict[str, Callable] = {
    "DL": tau2_dl,
    "HE": tau2_he,
    "HS": tau2_hs,
    "SJ": tau2_sj,
    "ML": _fisher_scoring("ML"),
    "REML": _fisher_scoring("REML"),
    "EB": tau2_pm,
    "PM": tau2_pm,
}

#: Every allowed ``method``: ``"FE"`` (fixed/common effect) and the tau² estimators.
METHODS = ("FE",) + tuple(TAU2_ESTIMATORS)


# --------------------------------------------------------------------------- results



_FIELD_DOCS = {
    "k": "number of studies",
    "method": "metafor code of the model: 'FE' or a tau² estimator",
    "estimate": "pooled effect (log scale for ratio measures)",
    "se": "standard error of the pooled effect (Hartung–Knapp adjusted when knha=True)",
    "ci_low": "lower confidence limit",
    "ci_high": "upper confidence limit",
    "statistic": "z (or t with knha) statistic for H0: effect = 0",
    "pval": "two-sided p-value of that test",
    "df": "degrees of freedom of the t test (inf for the z test)",
    "tau2": "between-study variance (0 for FE)",
    "i2": "I², percent",
    "h2": "H²",
    "q": "Cochran's Q (fixed-effect weights)",
    "q_pval": "p-value of Q on k-1 df (1 when k = 1)",
    "pi_low": "lower prediction-interval limit (same critical value as the CI)",
    "pi_high": "upper prediction-interval limit",
    "weights": "study weights, percent",
    "converged": "whether the tau² estimator met its tolerance",
}


@dataclass(frozen=True)
class PooledEstimate:
    """A pooled estimate (one meta-analysis), as metafor's ``rma`` + ``predict`` print it.

    Fields: k, method, estimate, se, ci_low, ci_high, statistic, pval, df, tau2, i2 (percent),
    h2, q, q_pval, pi_low, pi_high, weights (percent), converged; and the inputs yi, vi,
    knha, level.
    """

    k: int
    method: str
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    statistic: float
    pval: float
    df: float
    tau2: float
    i2: float
    h2: float
    q: float
    q_pval: float
    pi_low: float
    pi_high: float
    weights: np.ndarray
    converged: bool
    yi: np.ndarray
    vi: np.ndarray
    knha: bool
    level: float

    @property
    def tau(self) -> float:
        """Between-study standard deviation ``sqrt(tau2)``."""
        return float(np.sqrt(self.tau2))

    def heterogeneity_ci(self, level: float = 0.95):
        """Q-profile confidence intervals for τ², I² and H² (Viechtbauer 2007).

        See :func:`hipacu.models.heterogeneity.q_profile`; metafor ``confint(rma(...))``.
        """
        from hipacu.models.heterogeneity import q_profile

        return q_profile(self.yi, self.vi, level=level)

    def to_frame(self):
        """One-row DataFrame of the scalar fields (weights excluded)."""
        import pandas as pd

        skip = {"weights", "yi", "vi"}
        return pd.DataFrame([{f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}])

    def summary(self, digits: int = 4) -> str:
        """Readable text in the spirit of metafor's ``print.rma.uni``."""
        f = f"{{:.{digits}f}}"
        lev = f"{100 * self.level:g}%"
        model = "Fixed-effect" if self.method == "FE" else f"Random-effects ({self.method})"
        test = f"t({self.df:g})" if np.isfinite(self.df) else "z"
        lines = [
            f"{model} model (k = {self.k})" + ("; Hartung-Knapp adjustment" if self.knha else ""),
            "",
        ]
        if self.method != "FE":
            lines.append(f"tau^2 = {f.format(self.tau2)} (tau = {f.format(self.tau)})")
        lines += [
            f"I^2 = {self.i2:.2f}%   H^2 = {self.h2:.2f}",
            f"Q(df = {self.k - 1}) = {f.format(self.q)}, p = {format_p(self.q_pval)}",
            "",
            f"estimate = {f.format(self.estimate)}   se = {f.format(self.se)}   {test} = {self.statistic:.2f}   "
            f"p = {format_p(self.pval)}",
            f"{lev} CI {f.format(self.ci_low)} to {f.format(self.ci_high)}",
            f"{lev} PI {f.format(self.pi_low)} to {f.format(self.pi_high)}",
        ]
        if not self.converged:
            lines.append("WARNING: the tau^2 estimator did not converge")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()



@dataclass(frozen=True)
class PooledBatch:
    """Many pooled estimates; every field is an array with one entry per analysis (row).

    ``weights`` is 2-D (percent; NaN where a study is absent). ``batch[i]`` gives row ``i`` as a
    :class:`PooledEstimate`; ``to_frame()`` gives one row per analysis. ``q_pval`` is computed from
    ``q`` and ``k`` when it is read (the chi-square tail costs ~80 ns an analysis, the largest single
    cost of a DerSimonian-Laird batch), so a batch that never reads it does not pay for it.
    """

    k: np.ndarray
    method: str
    estimate: np.ndarray
    se: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    statistic: np.ndarray
    pval: np.ndarray
    df: np.ndarray
    tau2: np.ndarray
    i2: np.ndarray
    h2: np.ndarray
    q: np.ndarray
    pi_low: np.ndarray
    pi_high: np.ndarray
    weights: np.ndarray
    converged: np.ndarray
    yi: np.ndarray
    vi: np.ndarray
    knha: bool
    level: float

    @property
    def q_pval(self) -> np.ndarray:
        """p-value of Q on k-1 df (1 when k = 1), as in :class:`PooledEstimate`."""
        return _q_pval(self.q, self.k)

    def __len__(self) -> int:
        return len(self.estimate)

    def __getitem__(self, i: int) -> PooledEstimate:
        present = ~np.isnan(self.yi[i])
        vals = {}
        for f in fields(PooledEstimate):
            a = getattr(self, f.name)
            if f.name in ("method", "knha", "level"):
                vals[f.name] = a
            elif f.name in ("weights", "yi", "vi"):
                vals[f.name] = frozen_array(a[i][present])
            elif f.name == "k":
                vals[f.name] = int(a[i])
            elif f.name == "converged":
                vals[f.name] = bool(a[i])
            else:
                vals[f.name] = float(a[i])
        return PooledEstimate(**vals)

    def to_frame(self):
        """DataFrame, one row per analysis, scalar fields only."""
        import pandas as pd

        skip = {"weights", "yi", "vi", "method", "knha", "level"}
        df = pd.DataFrame({f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip})
        df.insert(1, "method", self.method)
        df.insert(df.columns.get_loc("q") + 1, "q_pval", self.q_pval)
        return df


# --------------------------------------------------------------------------- engine



def _as_2d(Y, V) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``Y, V`` (analyses × studies) and return private studies × analyses copies
    (C-contiguous, the engine's layout): one copy, made here."""
    try:
        y = np.asarray(Y, dtype=float)
        v = np.asarray(V, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError("Y and V must be numeric arrays (rows = analyses, columns = studies)") from exc
    if y.ndim < 2:
        y, v = y.reshape(1, -1), v.reshape(1, -1)
    if y.ndim != 2 or v.ndim != 2:
        raise ValueError(f"Y and V must be 2-D (rows = analyses, columns = studies); got {y.shape} and {v.shape}")
    if y.shape != v.shape:
        raise ValueError(f"Y and V must have the same shape; got Y {y.shape} and V {v.shape}")
    if y.size == 0:
        raise ValueError("Y is empty; at least one analysis with one study is needed")
    yc, vc = np.ascontiguousarray(y.T), np.ascontiguousarray(v.T)
    if np.may_share_memory(yc, y):
        yc = yc.copy()
    if np.may_share_memory(vc, v):
        vc = vc.copy()
    if np.isfinite(yc).all() and np.isfinite(vc).all() and (vc > 0).all():
        return yc, vc  # the common case: nothing absent, nothing wrong
    ny, nv = np.isnan(y), np.isnan(v)
    if (ny != nv).any():
        r, c = np.argwhere(ny != nv)[0]
        which = "Y" if ny[r, c] else "V"
        raise ValueError(f"{which}[{r}, {c}] is NaN but the other is not; NaN must mark the same absent studies in Y and V")
    if np.isinf(y).any() or np.isinf(v).any():
        r, c = np.argwhere(np.isinf(y) | np.isinf(v))[0]
        raise ValueError(f"Y or V at [{r}, {c}] is infinite; only finite numbers or NaN (absent study) are allowed")
    bad = ~nv & (v <= 0)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise ValueError(f"V[{r}, {c}] = {v[r, c]:g}; sampling variances must be > 0")
    empty = ny.all(axis=1)
    if empty.any():
        raise ValueError(f"row {int(np.flatnonzero(empty)[0])} of Y has no study (all NaN); every analysis needs k >= 1")
    return yc, vc


def _engine(y: np.ndarray, v: np.ndarray, method: str, knha: bool, level: float, *, columns: bool = False) -> dict:
    """Pool every analysis. ``y, v``: analyses × studies (NaN = absent), or studies × analyses when
    ``columns=True``. Returns a dict of per-analysis arrays (``weights`` analyses × studies)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return _engine_cols(y if columns else y.T, v if columns else v.T, method, knha, level)


def _engine_cols(y: np.ndarray, v: np.ndarray, method: str, knha: bool, level: float) -> dict:
    absent = np.isnan(y)
    if absent.any():
        m = (~absent).astype(float)
        d = _Data(np.where(absent, 0.0, y), np.where(absent, 1.0, v), m, m.sum(axis=0))
    else:
        d = _Data(np.ascontiguousarray(y), np.ascontiguousarray(v), None, np.full(y.shape[1], float(y.shape[0])))
    k = d.k
    single = _single(k)
    any_single = single.any()
    df_q = k - 1

    # Cochran's Q with fixed-effect weights
    w_fe = d.w0
    mu_fe, sw_fe = d.wmean(w_fe)
    r_fe = d.y - mu_fe
    q = np.einsum("ij,ij,ij->j", w_fe, r_fe, r_fe)

    if method == "FE":
        tau2 = np.zeros(len(k))
        converged = np.ones(len(k), bool)
        i2 = np.where(single | (q <= df_q), 0.0, 100 * (q - df_q) / q)  # k = 1: Q is rounding noise; I² = 0
        h2 = np.where(single, 1.0, q / np.maximum(df_q, 1))
        w, est, sw = w_fe, mu_fe, sw_fe
    else:
        raw, conv = TAU2_ESTIMATORS[method](d, TOL, MAXITER)
        tau2 = np.maximum(0.0, raw)
        if any_single:
            tau2 = np.where(single, 0.0, tau2)
        converged = np.ones(len(k), bool) if conv is None else np.asarray(conv, bool)
        # typical within-study variance (Higgins & Thompson 2002, eq. 9)
        s2 = df_q * sw_fe / (sw_fe**2 - np.einsum("ij,ij->j", w_fe, w_fe))
        i2 = 100 * tau2 / (tau2 + s2)
        h2 = (tau2 + s2) / s2
        if any_single:
            i2, h2 = np.where(single, 0.0, i2), np.where(single, 1.0, h2)
        w = d.weights(tau2)
        est, sw = d.wmean(w)
    if not converged.all():
        warnings.warn(
            f"the {method} estimator did not converge in {MAXITER} iterations for "
            f"{int((~converged).sum())} analysis(es); see the 'converged' field",
            ConvergenceWarning,
            stacklevel=4,
        )

    se = np.sqrt(1 / sw)
    alpha = 1 - level
    if knha and any_single:
        warnings.warn("Hartung-Knapp needs k >= 2; analyses with k = 1 use the z test (as metafor)", UserWarning, stacklevel=4)
    if knha and not single.all():
        r = d.y - est
        s2_knha = np.einsum("ij,ij,ij->j", w, r, r) / np.maximum(df_q, 1)
        se = np.where(single, se, se * np.sqrt(s2_knha))
        df = np.where(single, np.inf, df_q)
        t_df = np.where(single, 1.0, df_q)
        crit = np.where(single, special.ndtri(1 - alpha / 2), special.stdtrit(t_df, 1 - alpha / 2))
        stat = est / se
        pval = np.where(single, 2 * special.ndtr(-np.abs(stat)), 2 * special.stdtr(t_df, -np.abs(stat)))
    else:
        df = np.full(len(k), np.inf)
        crit = special.ndtri(1 - alpha / 2)
        stat = est / se
        pval = 2 * special.ndtr(-np.abs(stat))
    pi_half = crit * np.sqrt(se * se + tau2)
    weights = 100 * w / sw
    if d.m is not None:
        weights = np.where(d.m > 0, weights, np.nan)
    return dict(
        k=k.astype(int),
        estimate=est,
        se=se,
        ci_low=est - crit * se,
        ci_high=est + crit * se,
        statistic=stat,
        pval=pval,
        df=df,
        tau2=tau2,
        i2=i2,
        h2=h2,
        q=q,
        pi_low=est - pi_half,
        pi_high=est + pi_half,
        weights=weights.T,
        converged=converged,
    )


def _q_pval(q: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Cochran's Q p-value on k-1 df; 1 for a single study (metafor)."""
    k = np.asarray(k)
    return np.where(k < 2, 1.0, special.chdtrc(np.maximum(k - 1, 1), q))


def pool_batch(Y, V, *, method: str = "REML", knha: bool = False, level: float = 0.95) -> PooledBatch:
    """Pool many meta-analyses at once.

    Parameters
    ----------
    Y, V : array-like, shape (n_analyses, max_k)
        Effects and sampling variances; NaN (in both) marks an absent study.
    method : str
        ``"FE"`` or a tau² estimator code: ``"DL", "REML", "ML", "PM", "HS", "SJ", "EB", "HE"``.
    knha : bool
        Hartung & Knapp (2001) / Sidik & Jonkman (2002) adjustment: t test on k-1 df with the
        variance scaled by ``Σ w (y - μ̂)² / (k-1)`` (metafor ``test="knha"``, no truncation).
    level : float
        Confidence level for the CI and prediction interval.

    Returns
    -------
    PooledBatch
    """
    method, knha, level = check_model_options(method, knha, level, METHODS)
    yc, vc = _as_2d(Y, V)  # private studies × analyses copies
    out = _engine(yc, vc, method, knha, level, columns=True)
    for a in out.values():  # fresh arrays owned by the result: freeze, do not copy
        a.setflags(write=False)
    yc.setflags(write=False)
    vc.setflags(write=False)
    return PooledBatch(method=method, yi=yc.T, vi=vc.T, knha=knha, level=level, **out)


def pool(yi, vi, *, method: str = "REML", knha: bool = False, level: float = 0.95) -> PooledEstimate:
    """Pool one meta-analysis (inverse-variance weights; metafor ``rma(yi, vi, method=...)``).

    ``estimate = Σ w y / Σ w`` with ``w = 1/(v + τ²)``, ``se = 1/sqrt(Σ w)`` (Hedges & Olkin 1985);
    CI ``estimate ± z se`` (or ``t_{k-1}`` with ``knha``); prediction interval
    ``estimate ± crit sqrt(se² + τ²)`` (metafor ``predict.rma``). I² and H² for random-effects
    models use the estimated τ² and the typical within-study variance (Higgins & Thompson 2002),
    as metafor does; for ``"FE"`` they come from Q. ``k = 1`` returns that study with τ² = 0.
    This is :func:`pool_batch` on one analysis: the same engine.

    Raises
    ------
    ValueError
        Mismatched lengths, empty input, NaN/inf, ``vi <= 0`` or an unknown option.
    """
    method, knha, level = check_model_options(method, knha, level, METHODS)
    y = as_1d(yi, "yi")
    v = as_1d(vi, "vi", positive=True)
    check_same_length(yi=y, vi=v)
    out = _engine(y[:, None], v[:, None], method, knha, level, columns=True)
    scalars = {name: float(a[0]) for name, a in out.items() if name not in ("k", "weights", "converged")}
    scalars["q_pval"] = float(_q_pval(out["q"], out["k"])[0])
    return PooledEstimate(k=int(out["k"][0]), method=method, weights=frozen_array(out["weights"][0]),
                          converged=bool(out["converged"][0]), yi=frozen_array(y), vi=frozen_array(v), knha=knha, level=level,
                          **scalars)
