"""Bayesian random-effects meta-analysis: the normal-normal hierarchical model (as R's bayesmeta).

Model (Röver 2020, eqs. 1-2): ``y_i | μ, τ ~ N(μ, σ_i² + τ²)`` with independent priors ``p(μ)``
(improper uniform, or normal) and ``p(τ)`` (:mod:`hipacu.models.priors`).

Computation (the "direct" approach of Röver & Friede 2017 and bayesmeta): conditional on τ, μ is
normal with the closed-form mean and variance of Röver (2020) eq. 12 (uniform μ prior) or eq. 14
(normal μ prior, which enters as one more "study" with variance ``sd²`` and no τ²); μ integrates out
analytically, leaving the marginal likelihood ``p(y | τ)`` of eq. 13 / eq. 15. The one-dimensional
marginal posterior ``p(τ | y) ∝ p(y | τ) p(τ)`` (eq. 16) is integrated numerically, and the marginal
posterior of μ, the posterior predictive distribution of a new study's effect ``θ_{k+1}``
(conditional variance ``σ̂²(τ) + τ²``, Sec. 2.7) and the shrinkage posteriors of the study effects
``θ_i`` (Sec. 2.8) are the resulting finite mixtures of normals (eq. 18).

Where bayesmeta bins τ by a Kullback-Leibler criterion (δ = 1 %, JSS Sec. 2.11), the mixture here
is a quadrature rule, accurate to 1e-9 posterior standard deviations (typically 1e-13; tested
against ``scipy.integrate.quad`` and a four times finer grid). τ is mapped to ``x = log τ`` (or
``logit(τ/upper)`` for a bounded prior), and ``x`` to ``t`` by the smooth, monotone
double-exponential map ``x = x0 + a t + b (cosh t - 1) + c (sinh t - t)``, ``b = (c_R - c_L)/2``,
``c = (c_R + c_L)/2``: centred on the posterior mode ``x0``, growing like the posterior's own left
and right widths ``c_L``, ``c_R`` (found by a coarse and a zoomed search), with central slope ``a``
set by the narrower of the two. The trapezoid rule in ``t`` is spectrally accurate for this
analytic, double-exponentially decaying integrand (Trefethen & Weideman 2014, SIAM Rev 56:385). The
τ distribution function between nodes is the integral of the sinc interpolant of the integrand
(Stenger 1993, Numerical Methods Based on Sinc and Analytic Functions, Sec. 4.5).
:func:`bayes_batch` runs the same engine on many analyses at once; :func:`bayes` is it on one.

References
----------
Röver C (2020). Bayesian random-effects meta-analysis using the bayesmeta R package. J Stat Softw
93(6):1-51. doi:10.18637/jss.v093.i06.
Röver C, Friede T (2017). Discrete approximation of a mixture distribution via restricted
divergence. J Comput Graph Stat 26(1):217-222. doi:10.1080/10618600.2016.1276840.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, fields

import numpy as np
from scipy import optimize, special

from hipacu._checks import as_1d, check_choice, check_level, check_same_length, frozen_array
from hipacu.exceptions import ConvergenceWarning, user_stacklevel
from hipacu.models import priors as _priors
from hipacu.models.priors import MuNormal, TauPrior, half_normal

#: The default prior on tau: half-normal with scale 0.5 (Röver 2020, Sec. 2.2; Friede et al. 2017 for log odds ratios).
DEFAULT_TAU_PRIOR = half_normal(0.5)

__all__ = ["bayes", "bayes_batch", "BayesEstimate", "BayesBatch", "TauGrid", "N_NODES"]

# --------------------------------------------------------------------------- numerical settings

#: Quadrature nodes per analysis (uniform in the mapped variable t). With this many the posterior
#: summaries agree with adaptive quadrature (scipy.integrate.quad) and with a four times finer grid
#: to 1e-9 posterior sds, typically 1e-13 (tests/models/test_bayes.py).
N_NODES = 241
#: The normal mixtures (μ, prediction, shrinkage) use every MIXTURE_STRIDE-th node.
MIXTURE_STRIDE = 1
#: Nodes of the coarse search for the posterior's location, and of the zoomed second search.
N_SCAN = 161
N_ZOOM = 41
#: The coarse search for the posterior spans the data's and the prior's scales (log σ_i, the
#: prior's range) widened by this on each side, in log τ, within [X_LOW, X_HIGH] (τ² stays finite;
#: below, τ² underflows harmlessly to 0).
SEARCH_MARGIN = 52.0
X_LOW, X_HIGH = -700.0, 300.0
#: The posterior "bulk" is where the log density (in x) is within this of its maximum; it sets the
#: widths c_L, c_R of the map, so that the bulk spans about t in [-1, 1].
DROP_BULK = 10.0
#: The grid ends where the log density has fallen this far below its maximum (e^-46 ~ 1e-20).
DROP_TAIL = 46.0
#: A grid beyond whose ends more than this posterior mass is estimated to lie did not capture the
#: posterior (flagged: converged = False, ConvergenceWarning); the mass left out bounds the error it
#: causes in any probability.
TAIL_MASS = 1e-11
#: Quantiles and modes: Newton's method with bisection on a bracket. It stops after a step smaller
#: than NEWTON_STOP posterior sds (node spacings for τ): Newton's error after such a step is of the
#: order of its square, ~1e-12 sds; or when the bracket is narrower than TOL_QUANTILE.
NEWTON_STOP = 1e-6
TOL_QUANTILE = 1e-13
MAXITER_QUANTILE = 100
#: Search for the τ mode: rounds of equally spaced points between the best point's neighbours
#: (each round narrows the bracket by (MODE_POINTS - 1)/2), then a parabola.
MODE_ROUNDS = 3
MODE_POINTS = 33
#: Analyses processed together by bayes_batch (bounds the studies x nodes x analyses temporaries).
CHUNK = 512

_LOG_2PI = math.log(2 * math.pi)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_KINDS = ("central", "shortest")
_OF = ("mu", "tau", "pred", "theta")


# --------------------------------------------------------------------------- data and model terms


class _Data:
    """One block of analyses, studies × analyses (axis 0 = studies). Absent studies have ``m = 0``
    (their y, v replaced by 0, 1). ``yc`` is y centred on the fixed-effect mean ``c`` (this keeps
    ``Σ w (y - μ̂)²`` free of cancellation); the normal μ prior is kept as a pseudo-observation
    ``(m0c, 1/p0)`` without τ² (Röver 2020, eq. 14)."""

    def __init__(self, y: np.ndarray, v: np.ndarray, mask: np.ndarray | None, mu_prior: MuNormal | None):
        self.m = None if mask is None else mask.astype(float)
        m = 1.0 if self.m is None else self.m
        self.v = v if mask is None else np.where(mask, v, 1.0)
        y = y if mask is None else np.where(mask, y, 0.0)
        self.k = np.sum(np.ones_like(y) * m, axis=0)
        w0 = m / self.v
        self.c = np.sum(w0 * y, axis=0) / np.sum(w0, axis=0)
        self.yc = (y - self.c) * m
        self.y = y
        self.v_nan = self.v if mask is None else np.where(mask, self.v, np.nan)  # for the data-dependent priors
        self.logv_min = 0.5 * np.log(np.nanmin(self.v_nan, axis=0))
        self.logv_max = 0.5 * np.log(np.nanmax(self.v_nan, axis=0))
        if mu_prior is None:
            self.p0, self.m0c, self.logs02, self.n_terms = 0.0, 0.0, 0.0, self.k
        else:
            self.p0 = 1.0 / mu_prior.sd**2
            self.m0c = mu_prior.mean - self.c
            self.logs02 = 2 * math.log(mu_prior.sd)
            self.n_terms = self.k + 1

    @property
    def n(self) -> int:
        return self.y.shape[1]


def _marginal(d: _Data, tau: np.ndarray):
    """Log marginal likelihood ``log p(y | τ)`` (Röver 2020, eq. 13 / eq. 15) and the conditional
    posterior mean (centred) and variance of μ (eq. 12 / eq. 14) at τ of shape (nodes, analyses).

    ``-½ [(n - 1) log 2π + Σ log(σ_i² + τ²) + log σ_p² + Σ (y_i - μ̂)²/(σ_i² + τ²) + (μ_p - μ̂)²/σ_p²
    + log(Σ 1/(σ_i² + τ²) + 1/σ_p²)]``, the σ_p terms present for a normal μ prior only.
    """
    yc, v = d.yc, d.v
    t2 = tau * tau
    s = v[:, None, :] + t2[None]
    w = 1.0 / s
    if d.m is not None:
        m = d.m
        w *= m[:, None, :]
        slog = np.einsum("kna,ka->na", np.log(s), m)
    else:
        slog = np.log(s).sum(axis=0)
    p0 = d.p0
    m0c = d.m0c
    sw = w.sum(axis=0) + p0
    swy = np.einsum("kna,ka->na", w, yc) + p0 * m0c
    swyy = np.einsum("kna,ka->na", w, yc * yc) + p0 * m0c * m0c
    q = np.maximum(swyy - swy * swy / sw, 0.0)
    n_terms = d.n_terms
    loglik = -0.5 * ((n_terms - 1) * _LOG_2PI + slog + d.logs02 + q + np.log(sw))
    return loglik, swy / sw, 1.0 / sw


# --------------------------------------------------------------------------- the variable map


class _Map:
    """τ ↔ base variable x (``log τ``, or ``logit(τ/U)`` for a prior bounded above by U)."""

    def __init__(self, upper: float):
        self.upper = upper
        self.bounded = math.isfinite(upper)

    def tau(self, x):
        if self.bounded:
            return self.upper * special.expit(x)
        with np.errstate(over="ignore"):
            return np.exp(x)

    def log_jac(self, x):
        """``log dτ/dx``."""
        if self.bounded:
            return math.log(self.upper) - np.logaddexp(0, -x) - np.logaddexp(0, x)
        return x

    def x(self, tau):
        with np.errstate(divide="ignore"):
            if self.bounded:
                return special.logit(np.asarray(tau) / self.upper)
            return np.log(tau)


def _map_coefficients(cl, cr, slope):
    """Coefficients of ``x = x0 + a t + b (cosh t - 1) + c (sinh t - t)`` with the asymptotes
    ``x - x0 ~ c_R e^t / 2`` (t -> +inf) and ``~ -c_L e^-t / 2`` (t -> -inf): ``b = (c_R - c_L)/2``,
    ``c = (c_R + c_L)/2``; the central slope ``a`` is ``slope``, raised if needed to keep the map
    monotone: ``dx/dt >= a - (sqrt(c_L) - sqrt(c_R))² / 2 > 0``."""
    a = np.maximum(slope, 1.05 * 0.5 * (np.sqrt(cl) - np.sqrt(cr)) ** 2)
    return a, 0.5 * (cr - cl), 0.5 * (cr + cl)


def _t_to_x(t, x0, a, cl, cr):
    """The double-exponential map ``x(t)`` (see :func:`_map_coefficients`) and ``dx/dt``."""
    _, b, c = _map_coefficients(cl, cr, a)
    et = np.exp(t)
    emt = 1.0 / et
    ch, sh = 0.5 * (et + emt), 0.5 * (et - emt)
    return x0 + a * t + b * (ch - 1.0) + c * (sh - t), a + b * sh + c * (ch - 1.0)


def _x_to_t(x, x0, a, cl, cr, tol: float = 1e-14):
    """Inverse of :func:`_t_to_x`, by Newton's method (the map is increasing and convex for
    large |t|) from the inverse of its two exponential asymptotes, to |Δt| <= tol (1 + |t|)."""
    b2 = 2.0 * (x - x0) + cr - cl
    disc = np.sqrt(b2 * b2 + 4.0 * cr * cl)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        e = np.where(b2 >= 0, (b2 + disc) / (2.0 * cr), 2.0 * cl / (disc - b2))
        t = np.log(e)
        for _ in range(100):
            xt, dx = _t_to_x(t, x0, a, cl, cr)
            step = (xt - x) / dx
            t = t - step
            if np.all(np.abs(step) <= tol * (1 + np.abs(t))):
                break
    return t


# --------------------------------------------------------------------------- the τ quadrature


def _log_post_x(d: _Data, prior: TauPrior, mp: _Map, x: np.ndarray):
    """Log posterior density of x (unnormalised) at x of shape (nodes, analyses)."""
    tau = mp.tau(x)
    ll, cmean, cvar = _marginal(d, tau)
    v = d.v_nan
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        lp = ll + prior.logpdf(tau, v) + mp.log_jac(x)
    lp = np.where(np.isnan(lp), -np.inf, lp)
    return lp, tau, cmean, cvar


def _outer_crossings(x: np.ndarray, lp: np.ndarray, level: np.ndarray):
    """Outermost points where ``lp`` crosses ``level`` (linear interpolation), per column; the end of
    the search range where ``lp`` is still above it there. Returns ``(left, right, open_left, open_right)``."""
    n = x.shape[0]
    above = lp >= level[None]
    first = np.argmax(above, axis=0)
    last = n - 1 - np.argmax(above[::-1], axis=0)
    cols = np.arange(x.shape[1])

    def interp(i_in, i_out):
        i_out_c = np.clip(i_out, 0, n - 1)
        a, b = lp[i_in, cols], lp[i_out_c, cols]
        xa, xb = x[i_in, cols], x[i_out_c, cols]
        with np.errstate(invalid="ignore", divide="ignore"):
            f = np.where(np.isfinite(b) & (a > b), (a - level) / (a - b), 1.0)
        return xa + np.clip(f, 0.0, 1.0) * (xb - xa)

    left = np.where(first > 0, interp(first, first - 1), x[0, cols])
    right = np.where(last < n - 1, interp(last, last + 1), x[-1, cols])
    return left, right, first == 0, last == n - 1


def _grid(d: _Data, prior: TauPrior, n_nodes: int):
    """Quadrature nodes and weights for p(τ | y) of every analysis in the block."""
    mp = _Map(prior.upper)
    n = d.n
    plo, phi = prior._log_range(d.v_nan)
    # search range in log τ: SEARCH_MARGIN beyond the data's and the prior's scales, which is where
    # a posterior decaying at the slowest rate (e^-x, a density positive at τ = 0 on the left; an
    # improper or heavy-tailed prior on the right) has fallen by more than DROP_TAIL
    lo = d.logv_min if plo is None else np.minimum(d.logv_min, plo)
    hi = d.logv_max if phi is None else np.maximum(d.logv_max, phi)
    lo = np.maximum(np.broadcast_to(lo, (n,)) - SEARCH_MARGIN, X_LOW)
    hi = np.minimum(np.broadcast_to(hi, (n,)) + SEARCH_MARGIN, X_HIGH)
    if mp.bounded:  # base variable logit(τ/U): τ << U maps to log τ - log U, and τ -> U to +inf
        lu = math.log(mp.upper)
        lo = lo - lu
        hi = np.full(n, SEARCH_MARGIN)
    u = np.linspace(0.0, 1.0, N_SCAN)[:, None]
    xs = lo + (hi - lo) * u
    lps = _log_post_x(d, prior, mp, xs)[0]
    top = lps.max(axis=0)
    if not np.isfinite(top).all():
        bad = int(np.flatnonzero(~np.isfinite(top))[0])
        raise ValueError(f"the posterior of tau could not be evaluated for analysis {bad} "
                         "(the prior and likelihood have no common support)")
    step = (hi - lo) / (N_SCAN - 1)
    tl, tr, open_l, open_r = _outer_crossings(xs, lps, top - DROP_TAIL)
    bl, br, _, _ = _outer_crossings(xs, lps, top - DROP_BULK)
    # zoom on the bulk to locate the mode and the bulk's edges precisely
    zlo, zhi = bl - step, br + step
    xz = zlo + (zhi - zlo) * np.linspace(0.0, 1.0, N_ZOOM)[:, None]
    lpz = _log_post_x(d, prior, mp, xz)[0]
    jz = np.argmax(lpz, axis=0)
    cols = np.arange(n)
    x0 = xz[jz, cols]
    topz = lpz[jz, cols]
    bl, br, _, _ = _outer_crossings(xz, lpz, topz - DROP_BULK)
    zstep = (zhi - zlo) / (N_ZOOM - 1)
    floor = np.maximum(zstep, 1e-9 * (1 + np.abs(x0)))
    cl = np.maximum(x0 - bl, floor) / 1.2
    cr = np.maximum(br - x0, floor) / 1.2
    slope = _map_coefficients(cl, cr, np.minimum(cl, cr))[0]  # resolve the narrower flank of the bulk
    # the grid's ends need not be exact (they carry a margin of one search step)
    t_lo = _x_to_t(np.minimum(tl, bl) - step, x0, slope, cl, cr, tol=1e-6)
    t_hi = _x_to_t(np.maximum(tr, br) + step, x0, slope, cl, cr, tol=1e-6)
    h = (t_hi - t_lo) / (n_nodes - 1)
    t = t_lo + h * np.arange(n_nodes)[:, None]
    x, dxdt = _t_to_x(t, x0, slope, cl, cr)
    lp, ftau, cmean, cvar = _log_post_x(d, prior, mp, x)
    lg = lp + np.log(dxdt)
    lmax = lg.max(axis=0)
    wt = np.exp(lg - lmax)
    s = wt.sum(axis=0)
    tw = wt / s
    log_norm = lmax + np.log(s * h)  # log ∫ p(y | τ) p(τ) dτ over the grid
    # Below the first node τ_1, where τ² <= 1e-16 σ_min² and so p(y | τ) = p(y | 0) to double
    # precision, the posterior mass is exactly p(y | 0) P_prior(τ < τ_1): it joins the first node
    # (a heavy-tailed prior such as the log-t puts mass there that no grid reaches).
    below = np.zeros(n, bool)
    if prior.proper:
        tau1 = ftau[0]
        below = tau1 * tau1 <= 1e-16 * np.exp(2 * d.logv_min)
        if below.any():
            ll0 = _marginal(d, np.zeros((1, n)))[0][0]
            with np.errstate(divide="ignore"):
                lmass = np.where(below, ll0 + np.log(prior.cdf(tau1, d.v_nan)), -np.inf)
            total = np.logaddexp(log_norm, lmass)
            eps = np.exp(lmass - total)
            tw = tw * (1 - eps)
            tw[0] += eps
            log_norm = total
    # mass beyond each end of the grid (not so accounted for): (density in x at the end) / (its
    # local rate of decay), the tail integral of an exponential with that rate (for a polynomial
    # tail ~|x|^-p the rate is p/|x| and the estimate |x| f / p is the tail integral to first
    # order); infinite where the density does not decay outward
    lpx = lp - log_norm
    with np.errstate(divide="ignore", invalid="ignore"):
        rate_l = (lpx[1] - lpx[0]) / (x[1] - x[0])
        rate_r = (lpx[-2] - lpx[-1]) / (x[-1] - x[-2])
        tail_l = np.where(below, 0.0, np.where(rate_l > 0, np.exp(lpx[0]) / rate_l, np.inf))
        tail = tail_l + np.where(rate_r > 0, np.exp(lpx[-1]) / rate_r, np.inf)
    tail = np.where(np.isnan(tail), np.inf, tail)
    ok = tail < TAIL_MASS
    # the normal mixtures use every MIXTURE_STRIDE-th node (their trapezoid sums converge faster than
    # the sinc-interpolated τ distribution function, which uses all)
    sl = slice(None, None, MIXTURE_STRIDE)
    wm = tw[sl] / tw[sl].sum(axis=0)
    return dict(t=t, h=h, tw=tw, ftau=ftau, lg=lg, x0=x0, slope=slope, cl=cl, cr=cr, tau=ftau[sl], weight=wm,
                cmean=cmean[sl], cvar=cvar[sl], log_norm=log_norm, ok=ok, mp=mp)


# --------------------------------------------------------------------------- mixtures of normals


def _mixture_cdf_pdf(q, w, mean, sd):
    z = (q[None] - mean) / sd
    cdf = np.einsum("nm,nm->m", w, special.ndtr(z))
    pdf = np.einsum("nm,nm->m", w, np.exp(-0.5 * z * z) / sd) * _INV_SQRT_2PI
    return cdf, pdf


def _robust_scale(w, sd, sd_m):
    """A scale for the stopping rules: the component sd at the weighted median node, or the
    mixture's sd if smaller (a heavy-tailed τ posterior inflates the mixture's sd without bound)."""
    j50 = np.argmax(np.cumsum(w, axis=0) >= 0.5, axis=0)
    return np.minimum(sd_m, sd[j50, np.arange(sd.shape[1])])


def _mixture_quantile(w, mean, sd, p):
    """Quantiles ``F⁻¹(p)`` of normal mixtures ``Σ_j w_j N(mean_j, sd_j²)``, one per column of the
    (nodes, problems) arrays; ``p`` per column. Safeguarded Newton (bisection on Cantelli's bracket)
    from the Cornish-Fisher approximation; returns ``(q, converged)``."""
    zp = special.ndtri(p)
    mu_m = np.einsum("nm,nm->m", w, mean)
    dev = mean - mu_m
    dev2 = dev * dev
    var_c = sd * sd
    m2 = np.einsum("nm,nm->m", w, var_c + dev2)
    m3 = np.einsum("nm,nm->m", w, dev * (dev2 + 3 * var_c))
    m4 = np.einsum("nm,nm->m", w, dev2 * dev2 + 6 * dev2 * var_c + 3 * var_c * var_c)
    sd_m = np.sqrt(m2)
    # bracket by Cantelli's inequality, P(X - μ >= kσ) <= 1/(1 + k²), valid for any distribution
    lo = mu_m - np.sqrt((1 - p) / p) * sd_m * (1 + 1e-12)
    hi = mu_m + np.sqrt(p / (1 - p)) * sd_m * (1 + 1e-12)
    # start: the Cornish-Fisher expansion with the mixture's skewness and excess kurtosis
    g1, g2 = m3 / (m2 * sd_m), m4 / (m2 * m2) - 3
    z = zp + (zp * zp - 1) * g1 / 6 + (zp**3 - 3 * zp) * g2 / 24 - (2 * zp**3 - 5 * zp) * g1 * g1 / 36
    q = np.clip(mu_m + sd_m * np.where(np.isfinite(z), z, zp), lo, hi)
    scale = _robust_scale(w, sd, sd_m)
    tol = TOL_QUANTILE * scale
    stop = NEWTON_STOP * scale
    done = np.zeros(q.shape, bool)
    idx = np.arange(q.size)
    for _ in range(MAXITER_QUANTILE):
        a = idx[~done]
        if a.size == 0:
            break
        if a.size == q.size:  # all still live: no copies
            cdf, pdf = _mixture_cdf_pdf(q, w, mean, sd)
        else:
            cdf, pdf = _mixture_cdf_pdf(q[a], w[:, a], mean[:, a], sd[:, a])
        r = cdf - p[a]
        lo[a] = np.where(r <= 0, q[a], lo[a])
        hi[a] = np.where(r >= 0, q[a], hi[a])
        with np.errstate(divide="ignore", invalid="ignore"):
            new = q[a] - r / pdf
        fin = (np.abs(new - q[a]) <= stop[a]) | (r == 0)
        bad = ~fin & ~((new > lo[a]) & (new < hi[a]))
        new = np.where(bad, 0.5 * (lo[a] + hi[a]), new)
        q[a] = np.where(r == 0, q[a], new)
        done[a] = fin | (hi[a] - lo[a] <= tol[a])
    return q, done


def _mixture_mode(w, mean, sd, start, scale):
    """Mode of each normal mixture, by Newton's method on the density's derivative from ``start``
    with a sign bracket ``start ± 12 scale``; returns ``(mode, converged)``."""
    q = start.copy()
    lo, hi = start - 12 * scale, start + 12 * scale
    tol = TOL_QUANTILE * scale
    done = np.zeros(q.shape, bool)
    idx = np.arange(q.size)
    for _ in range(MAXITER_QUANTILE):
        a = idx[~done]
        if a.size == 0:
            break
        z = (q[a][None] - mean[:, a]) / sd[:, a]
        phi = w[:, a] * np.exp(-0.5 * z * z) / sd[:, a]
        g = np.einsum("nm,nm->m", phi, -z / sd[:, a])  # f'(q) up to 1/sqrt(2π)
        g2 = np.einsum("nm,nm->m", phi, (z * z - 1) / sd[:, a] ** 2)
        lo[a] = np.where(g >= 0, q[a], lo[a])
        hi[a] = np.where(g <= 0, q[a], hi[a])
        with np.errstate(divide="ignore", invalid="ignore"):
            new = np.where(g2 < 0, q[a] - g / g2, np.nan)
        fin = (np.abs(new - q[a]) <= NEWTON_STOP * scale[a]) | (g == 0)
        bad = ~fin & ~((new > lo[a]) & (new < hi[a]))
        new = np.where(bad, 0.5 * (lo[a] + hi[a]), new)
        done[a] = fin | (hi[a] - lo[a] <= tol[a])
        q[a] = np.where(g == 0, q[a], new)
    return q, done


# --------------------------------------------------------------------------- the τ distribution (sinc)


#: Si(x) by its asymptotic series beyond |x| = π·SI_BAND (truncation error < 4e-16), exactly
#: (scipy.special.sici) within SI_BAND node spacings of the evaluation point.
SI_BAND = 32
_SI_X0 = math.pi * SI_BAND


def _si_asymptotic(x):
    """``Si(x) = sign(x) π/2 - f(x) cos x - g(x) sin x`` with the asymptotic series of the auxiliary
    functions to 5 terms (Abramowitz & Stegun 5.2.8-5.2.9, 5.2.34-5.2.35); for |x| >= 100."""
    r = 1.0 / (x * x)
    f = (1 - r * (2 - r * (24 - r * (720 - r * 40320)))) / x
    g = r * (1 - r * (6 - r * (120 - r * (5040 - r * 362880))))
    return f, g


def _sinc_cdf_pdf(ts, t, h, weight):
    """CDF and density (in t) of the sinc interpolant of the quadrature integrand at ``ts``.

    With ``u_j = (ts - t_j)/h = u_0 - j``: ``sin(π u_j) = (-1)^j sin(π u_0)`` (one sine per
    column), the sinc interpolant's CDF is ``Σ w_j (1/2 + Si(π u_j)/π)``, and Si comes from its
    asymptotic series except in a band of SI_BAND nodes around ``ts``, where it is computed exactly.
    """
    n = t.shape[0]
    u0 = (ts - t[0]) / h
    u = u0[None] - np.arange(n)[:, None]
    sign = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)[:, None]
    s0, c0 = np.sin(np.pi * u0), np.cos(np.pi * u0)
    x = np.pi * u
    far = np.abs(x) >= _SI_X0
    xs = np.where(far, x, _SI_X0)  # placeholder inside the band (replaced below)
    f, g = _si_asymptotic(xs)
    si = np.sign(x) * (np.pi / 2) - sign * (f * c0[None] + g * s0[None])
    with np.errstate(divide="ignore", invalid="ignore"):
        sinc = np.where(u == 0, 1.0, sign * s0[None] / x)
    # exact Si in the band around ts
    m = ts.shape[0]
    cols = np.arange(m)
    centre = np.clip(np.round(u0).astype(int), 0, n - 1)
    rows = np.clip(centre[None] + np.arange(-SI_BAND, SI_BAND + 1)[:, None], 0, n - 1)
    ub = u[rows, cols]
    keep = np.abs(np.pi * ub) < _SI_X0
    # a row can appear twice after clipping at the grid's ends: count it once
    first = np.ones(rows.shape, bool)
    first[1:] = rows[1:] != rows[:-1]
    band = keep & first
    ubz = np.where(band, ub, 0.0)
    where = (rows[band], np.broadcast_to(cols, rows.shape)[band])
    si[where] = special.sici(np.pi * ubz)[0][band]
    sinc[where] = np.sinc(ubz)[band]  # the one-sine recurrence loses relative precision near nodes
    cdf = np.einsum("nm,nm->m", weight, 0.5 + si / np.pi)
    pdf = np.einsum("nm,nm->m", weight, sinc) / h
    return cdf, pdf


_SI_KERNELS: dict = {}


def _si_kernel(n: int) -> np.ndarray:
    """``0.5 + Si(π d)/π`` for ``d = -(n-1) .. n-1``: the sinc-interpolant CDF at node i of a unit
    mass at node j depends on ``d = i - j`` only (computed once per grid size)."""
    if n not in _SI_KERNELS:
        d = np.arange(-(n - 1), n, dtype=float)
        _SI_KERNELS[n] = 0.5 + special.sici(np.pi * d)[0] / np.pi
    return _SI_KERNELS[n]


def _tau_quantile_t(t, h, weight, p):
    """Solve ``F(t*) = p`` in the mapped variable for each column; returns ``(t*, converged)``.

    Start: the exact sinc CDF at the two nodes around the root (a fixed kernel, no special
    functions) and the cubic Hermite interpolant through them (the density at a node is
    ``weight/h`` exactly); then Newton steps on the sinc CDF with bisection on a bracket, stopping
    once a step is below NEWTON_STOP node spacings (the error after it is of the order of its
    square).
    """
    n, m = t.shape
    cols = np.arange(m)
    kern = _si_kernel(n)
    node = np.arange(n)[:, None]

    def node_cdf(j):
        return np.einsum("nm,nm->m", weight, kern[j[None] - node + n - 1])

    cum = np.cumsum(weight, axis=0) - 0.5 * weight
    j = np.clip((cum < p[None]).sum(axis=0) - 1, 0, n - 2)
    f0, f1 = node_cdf(j), node_cdf(j + 1)
    for _ in range(4):  # the trapezoid sums may put the root one node off
        down, up = (p < f0) & (j > 0), (p > f1) & (j < n - 2)
        if not (down.any() or up.any()):
            break
        j = j - down + up
        f0, f1 = node_cdf(j), node_cdf(j + 1)
    w0, w1 = weight[j, cols], weight[j + 1, cols]  # h · density at the two nodes
    sv = np.clip((p - f0) / np.where(f1 > f0, f1 - f0, 1.0), 0.0, 1.0)
    for _ in range(3):  # Newton on the cubic Hermite interpolant, s in [0, 1]
        s2, s3 = sv * sv, sv * sv * sv
        hv = f0 * (2 * s3 - 3 * s2 + 1) + w0 * (s3 - 2 * s2 + sv) + f1 * (-2 * s3 + 3 * s2) + w1 * (s3 - s2)
        dh = f0 * (6 * s2 - 6 * sv) + w0 * (3 * s2 - 4 * sv + 1) + f1 * (-6 * s2 + 6 * sv) + w1 * (3 * s2 - 2 * sv)
        with np.errstate(divide="ignore", invalid="ignore"):
            sv = np.clip(np.where(dh > 0, sv - (hv - p) / dh, sv), 0.0, 1.0)
    ts = t[j, cols] + sv * h
    lo = t[np.maximum(j - 1, 0), cols]
    hi = t[np.minimum(j + 2, n - 1), cols]
    done = np.zeros(ts.shape, bool)
    idx = np.arange(ts.size)
    for _ in range(MAXITER_QUANTILE):
        a = idx[~done]
        if a.size == 0:
            break
        if a.size == ts.size:
            cdf, pdf = _sinc_cdf_pdf(ts, t, h, weight)
        else:
            cdf, pdf = _sinc_cdf_pdf(ts[a], t[:, a], h[a], weight[:, a])
        r = cdf - p[a]
        lo[a] = np.where(r <= 0, ts[a], lo[a])
        hi[a] = np.where(r >= 0, ts[a], hi[a])
        with np.errstate(divide="ignore", invalid="ignore"):
            new = ts[a] - r / pdf
        fin = (np.abs(new - ts[a]) <= NEWTON_STOP * h[a]) | (r == 0)
        bad = ~fin & ~((new > lo[a]) & (new < hi[a]))
        new = np.where(bad, 0.5 * (lo[a] + hi[a]), new)
        ts[a] = np.where(r == 0, ts[a], new)
        done[a] = fin | (hi[a] - lo[a] <= TOL_QUANTILE * h[a])
    return ts, done


def _log_post_tau(d: _Data, prior: TauPrior, tau: np.ndarray):
    """Unnormalised log posterior density of τ (in τ, no Jacobian) at τ of shape (nodes, analyses)."""
    ll = _marginal(d, tau)[0]
    v = d.v_nan
    with np.errstate(divide="ignore", invalid="ignore"):
        out = ll + prior.logpdf(tau, v)
    return np.where(np.isnan(out), -np.inf, out)


def _tau_mode(d: _Data, prior: TauPrior, g: dict) -> np.ndarray:
    """Posterior mode of τ (of the density in τ, as bayesmeta's ``optimize``): the best quadrature
    node, refined by MODE_ROUNDS rounds of MODE_POINTS-point search between the best point's
    neighbours and a final parabola through the best three; τ = 0 when the density is largest
    there (a density decreasing from the boundary)."""
    tau = g["ftau"]
    n_nodes, n = tau.shape
    cols = np.arange(n)
    mp = g["mp"]
    lq = g["lg"] - np.log(_t_to_x(g["t"], g["x0"], g["slope"], g["cl"], g["cr"])[1]) - mp.log_jac(mp.x(tau))
    j = np.argmax(lq, axis=0)
    a = np.where(j > 0, tau[np.maximum(j - 1, 0), cols], 0.0)
    b = tau[np.minimum(j + 1, n_nodes - 1), cols]
    u = np.linspace(0.0, 1.0, MODE_POINTS)[:, None]
    for _ in range(MODE_ROUNDS):
        pts = a + (b - a) * u
        f = _log_post_tau(d, prior, pts)
        i = np.argmax(f, axis=0)
        step = (b - a) / (MODE_POINTS - 1)
        best = pts[i, cols]
        a, b = np.maximum(best - step, 0.0), best + step
    # parabola through the best point and its neighbours (spacing `step`)
    pts = np.stack([best - step, best, best + step])
    f = _log_post_tau(d, prior, np.maximum(pts, 0.0))
    den = f[0] - 2 * f[1] + f[2]
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(np.isfinite(f).all(axis=0) & (den < 0), 0.5 * step * (f[0] - f[2]) / den, 0.0)
    mode = np.maximum(best + np.clip(shift, -step, step), 0.0)
    f0 = _log_post_tau(d, prior, np.zeros((1, n)))[0]
    return np.where((f0 >= f.max(axis=0)) & (best - step <= 0.0), 0.0, mode)


# --------------------------------------------------------------------------- shrinkage (θ_i | y)


def _shrinkage_moments(yi, vi, tau, cmean, cvar):
    """Conditional moments of θ_i given τ (Röver 2020, Sec. 2.8): with ``B = σ_i²/(σ_i² + τ²)``,
    ``E = (1 - B) y_i + B μ̂(τ)`` and ``Var = τ² B + B² σ̂²(τ)``. Arrays (nodes, studies)."""
    t2 = (tau * tau)[:, None]
    b = vi[None] / (vi[None] + t2)
    mean = (1 - b) * yi[None] + b * cmean[:, None]
    var = t2 * b + b * b * cvar[:, None]
    return mean, var


# --------------------------------------------------------------------------- engine


def _properness(k: np.ndarray, prior: TauPrior, mu_prior: MuNormal | None, where: str) -> None:
    """Raise ``ValueError`` where the posterior is improper. ``p(y | τ) ~ τ^-(k-1)`` (flat μ) or
    ``τ^-k`` (normal μ) as τ → ∞, so an improper prior ``p(τ) ~ τ^a`` needs ``k - 1 > a + 1``
    (flat μ) or ``k > a + 1``; a proper prior always gives a proper posterior."""
    if prior.proper:
        return
    kk = k - (0 if mu_prior is not None else 1)
    bad = kk <= prior.tail_power + 1
    if not np.any(bad):
        return
    i = int(np.flatnonzero(np.atleast_1d(bad))[0])
    ki = int(np.atleast_1d(k)[i])
    need = int(prior.tail_power + 2 + (0 if mu_prior is not None else 1))
    mu_txt = "a normal mu prior" if mu_prior is not None else "the flat (improper) mu prior"
    if ki == 1 and mu_prior is None:
        why = ("one study carries no information on tau (its marginal likelihood does not depend on tau), "
               "so the posterior of tau equals its improper prior")
    else:
        why = f"the posterior of tau is improper: with {mu_txt} this prior needs k >= {need} studies"
    raise ValueError(f"tau_prior={prior.describe()} with k={ki}{where}: {why}. Use a proper tau prior "
                     "(e.g. half_normal(0.5)) or, for the Jeffreys prior, a normal mu prior.")


def _summaries(d: _Data, prior: TauPrior, mu_prior: MuNormal | None, level: float, n_nodes: int,
               shrink: tuple | None = None) -> dict:
    """Posterior summaries of every analysis in the block; with ``shrink = (yi, vi)`` (one analysis)
    also those of the study effects θ_i."""
    g = _grid(d, prior, n_nodes)
    w, tau = g["weight"], g["tau"]
    n = d.n
    alpha = 1 - level
    cmean = g["cmean"] + d.c  # conditional posterior mean of μ, uncentred
    csd = np.sqrt(g["cvar"])
    psd = np.sqrt(g["cvar"] + tau * tau)
    out = {}
    tw, ftau = g["tw"], g["ftau"]
    tau_mean = np.einsum("nm,nm->m", tw, ftau)
    out["tau_mean"] = tau_mean
    out["tau_sd"] = np.sqrt(np.einsum("nm,nm->m", tw, (ftau - tau_mean) ** 2))
    # τ quantiles: median and central interval
    ps = np.array([0.5, alpha / 2, 1 - alpha / 2])
    rep = np.repeat(np.arange(n)[None], 3, axis=0).ravel()
    tq, tconv = _tau_quantile_t(g["t"][:, rep], g["h"][rep], tw[:, rep], np.repeat(ps, n))
    xq = _t_to_x(tq, g["x0"][rep], g["slope"][rep], g["cl"][rep], g["cr"][rep])[0]
    tq = g["mp"].tau(xq).reshape(3, n)
    out["tau_median"], out["tau_ci_low"], out["tau_ci_high"] = tq
    out["tau_mode"] = _tau_mode(d, prior, g)
    # the normal mixtures, solved together: μ, the predictive θ_{k+1} and (one analysis, shrink=True)
    # the study effects θ_i (Röver 2020, Secs. 2.6-2.8)
    means, sds, wts = [cmean, cmean], [csd, psd], [w, w]
    if shrink is not None:
        th_mean, th_var = _shrinkage_moments(shrink[0], shrink[1], tau[:, 0], g["cmean"][:, 0] + d.c[0], g["cvar"][:, 0])
        k = th_mean.shape[1]
        means.append(th_mean)
        sds.append(np.sqrt(th_var))
        wts.append(np.repeat(w, k, axis=1))
    means, sds, wts = np.concatenate(means, axis=1), np.concatenate(sds, axis=1), np.concatenate(wts, axis=1)
    m_cols = means.shape[1]
    mix_mean = np.einsum("nm,nm->m", wts, means)
    mix_sd = np.sqrt(np.einsum("nm,nm->m", wts, sds * sds + (means - mix_mean) ** 2))
    rep = np.tile(np.arange(m_cols), 3)
    q, qconv = _mixture_quantile(wts[:, rep], means[:, rep], sds[:, rep], np.repeat(ps, m_cols))
    q = q.reshape(3, m_cols)
    mode, mconv = _mixture_mode(wts, means, sds, q[0].copy(), _robust_scale(wts, sds, mix_sd))
    ok = qconv.reshape(3, m_cols).all(axis=0) & mconv
    conv = tconv.reshape(3, n).all(axis=0) & ok[:n] & ok[n:2 * n]
    for j, name in enumerate(("mu", "pred")):
        sl = slice(j * n, (j + 1) * n)
        out[f"{name}_mean"], out[f"{name}_sd"], out[f"{name}_mode"] = mix_mean[sl], mix_sd[sl], mode[sl]
        out[f"{name}_median"], out[f"{name}_ci_low"], out[f"{name}_ci_high"] = q[:, sl]
    if shrink is not None:
        sl = slice(2 * n, None)
        out.update(theta_mean=mix_mean[sl], theta_sd=mix_sd[sl], theta_mode=mode[sl], theta_median=q[0, sl],
                   theta_ci_low=q[1, sl], theta_ci_high=q[2, sl])
        conv &= ok[sl].all()
    out["converged"] = g["ok"] & conv
    # moments that do not exist (heavy posterior tails): p(τ | y) ~ τ^(a - kk), kk = k - 1 (flat μ
    # prior) or k (normal); the m-th moment exists iff a - kk + m < -1 (<= -1 for the log-t prior)
    kk = d.k - (1 if mu_prior is None else 0)
    for m, names in ((1, ("tau_mean", "pred_mean") + (("mu_mean",) if mu_prior is None else ())),
                     (2, ("tau_sd", "pred_sd") + (("mu_sd",) if mu_prior is None else ()))):
        expo = prior.tail_power - kk + m
        missing = expo > -1 if prior.tail_log else expo >= -1
        if np.any(missing):
            for name in names:
                out[name] = np.where(missing, np.inf if name.endswith("sd") or name == "tau_mean" else np.nan, out[name])
    # marginal likelihood and Bayes factors (both priors proper, as bayesmeta)
    both_proper = prior.proper and mu_prior is not None
    if both_proper:
        ll0 = _marginal(d, np.zeros((1, n)))[0][0]
        out["log_marginal_likelihood"] = g["log_norm"]
        out["bf_tau0"] = np.exp(ll0 - g["log_norm"])
        dens0 = _mixture_cdf_pdf(np.zeros(n), w, cmean, csd)[1]
        out["bf_mu0"] = dens0 / np.exp(mu_prior.logpdf(0.0))
    else:
        out["log_marginal_likelihood"] = out["bf_tau0"] = out["bf_mu0"] = np.full(n, np.nan)
    # I²: posterior median of τ²/(τ² + s²) with the typical within-study variance s² (Higgins &
    # Thompson 2002, eq. 9; bayesmeta's I2()); the map is monotone, so it is I²(median τ).
    wv = (1.0 if d.m is None else d.m) / d.v
    sw, sw2 = wv.sum(axis=0), (wv * wv).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        s2 = np.where(d.k > 1, (d.k - 1) * sw / (sw * sw - sw2), 1.0 / sw)
    out["i2"] = 100 * out["tau_median"] ** 2 / (out["tau_median"] ** 2 + s2)
    out["tau2"] = out["tau_median"] ** 2
    out["k"] = d.k.astype(int)
    out["_grid"] = g
    out["_cmean"], out["_csd"] = cmean, csd
    return out


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class TauGrid:
    """The quadrature behind one posterior: nodes ``t`` uniform in the mapped variable (step ``h``;
    ``x = x0 + a t + b (cosh t - 1) + c (sinh t - t)`` with central slope ``a = slope``,
    ``b = (c_R - c_L)/2``, ``c = (c_R + c_L)/2``; ``τ = e^x``, or ``upper · expit(x)`` for a bounded
    prior), τ at the nodes (``tau``) with posterior probabilities ``weight`` (the trapezoid rule;
    the CDF of τ is the integral of the sinc interpolant), and the conditional posterior mean and sd
    of μ there (Röver 2020, eq. 12 / eq. 14): the normal mixtures. ``log_norm`` is
    ``log ∫ p(y|τ) p(τ) dτ``."""

    t: np.ndarray
    h: float
    x0: float
    slope: float
    c_left: float
    c_right: float
    upper: float
    tau: np.ndarray
    weight: np.ndarray
    cond_mean: np.ndarray
    cond_sd: np.ndarray
    log_norm: float

    def tau_of_t(self, t):
        x = _t_to_x(np.asarray(t, dtype=float), self.x0, self.slope, self.c_left, self.c_right)[0]
        return _Map(self.upper).tau(x)

    def t_of_tau(self, tau):
        return _x_to_t(_Map(self.upper).x(np.asarray(tau, dtype=float)), self.x0, self.slope, self.c_left, self.c_right)


_SUMMARY_DOCS = {
    "estimate": "posterior median of mu",
    "se": "posterior standard deviation of mu",
    "ci_low, ci_high": "central credible interval of mu at `level`",
    "pi_low, pi_high": "central posterior-predictive interval of a new study's true effect theta_(k+1)",
    "tau2": "square of the posterior median of tau (= the posterior median of tau^2)",
    "i2": "posterior median of I^2 = tau^2/(tau^2 + s^2), percent, s^2 the typical within-study variance",
}


@dataclass(frozen=True)
class BayesEstimate:
    """Posterior of a Bayesian random-effects meta-analysis (one analysis), as bayesmeta reports it.

    Protocol fields (:class:`hipacu.models.protocol.SummaryEstimate`): ``estimate`` is the posterior
    median of μ, ``se`` its posterior sd, ``ci_low``/``ci_high`` the central credible interval and
    ``pi_low``/``pi_high`` the central posterior-predictive interval of a new study's effect
    ``θ_{k+1}``; ``tau2`` is the square of the posterior median of τ (equal to the posterior median
    of τ²); ``i2`` is the posterior median of ``I² = τ²/(τ² + s²)`` in percent, with ``s²`` the
    typical within-study variance of Higgins & Thompson (2002, eq. 9), bayesmeta's ``I2()`` (for
    k = 1, ``s² = σ_1²``); ``pval`` is NaN (no test); ``converged`` says whether the quadrature
    captured the posterior and every quantile/mode solve met its tolerance.

    Per distribution (``mu``, ``tau``, ``pred`` = θ_{k+1}): ``*_mode``, ``*_median``, ``*_mean``,
    ``*_sd``; ``tau_ci_low``/``tau_ci_high`` central. Per study (read-only arrays, length k):
    ``theta_mode``, ``theta_median``, ``theta_mean``, ``theta_sd``, ``theta_ci_low``,
    ``theta_ci_high`` (central shrinkage intervals). ``log_marginal_likelihood`` (``log p(y)``),
    ``bf_tau0 = p(y | τ = 0)/p(y)`` and ``bf_mu0 = p(y | μ = 0)/p(y)`` (by the Savage-Dickey ratio
    ``p(μ=0 | y)/p(μ=0)``) are defined when both priors are proper (NaN otherwise), as bayesmeta's
    ``marginal.likelihood`` and ``bayesfactor["actual", ]``. Methods evaluate the posterior at any
    point from the stored quadrature ``grid``: :meth:`cdf`, :meth:`pdf`, :meth:`quantile`,
    :meth:`interval` (central or shortest), :meth:`conditional_moments`.
    """

    k: int
    method: str
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    pval: float
    level: float
    tau2: float
    i2: float
    pi_low: float
    pi_high: float
    converged: bool
    mu_mode: float
    mu_median: float
    mu_mean: float
    mu_sd: float
    tau_mode: float
    tau_median: float
    tau_mean: float
    tau_sd: float
    tau_ci_low: float
    tau_ci_high: float
    pred_mode: float
    pred_median: float
    pred_mean: float
    pred_sd: float
    theta_mode: np.ndarray
    theta_median: np.ndarray
    theta_mean: np.ndarray
    theta_sd: np.ndarray
    theta_ci_low: np.ndarray
    theta_ci_high: np.ndarray
    log_marginal_likelihood: float
    bf_tau0: float
    bf_mu0: float
    tau_prior: TauPrior
    mu_prior: MuNormal | None
    yi: np.ndarray
    vi: np.ndarray
    labels: tuple | None
    grid: TauGrid

    # ------------------------------------------------------------------ distributions
    def _mixture(self, of: str, study):
        g = self.grid
        if of == "mu":
            return g.weight, g.cond_mean, g.cond_sd
        if of == "pred":
            return g.weight, g.cond_mean, np.sqrt(g.cond_sd**2 + g.tau**2)
        i = self._study_index(study)
        m, v = _shrinkage_moments(self.yi[i:i + 1], self.vi[i:i + 1], g.tau, g.cond_mean, g.cond_sd**2)
        return g.weight, m[:, 0], np.sqrt(v[:, 0])

    def _study_index(self, study) -> int:
        if study is None:
            raise ValueError("of='theta' needs study=<index or label> (which study's shrinkage posterior)")
        if isinstance(study, str):
            if self.labels is None or study not in self.labels:
                raise ValueError(f"study={study!r} is not a label; labels are {self.labels!r}")
            return self.labels.index(study)
        i = int(study)
        if not 0 <= i < self.k:
            raise ValueError(f"study={study!r} is not allowed; it must be an index 0..{self.k - 1} or a label")
        return i

    def _tau_logpdf(self, tau):
        """Normalised log posterior density of τ."""
        t = np.atleast_1d(np.asarray(tau, dtype=float))
        d = _Data(self.yi[:, None], self.vi[:, None], None, self.mu_prior)
        with np.errstate(divide="ignore", invalid="ignore"):
            lp = _log_post_tau(d, self.tau_prior, t.reshape(-1, 1))[:, 0] - self.grid.log_norm
        return np.where(t < 0, -np.inf, lp).reshape(np.shape(tau))

    def cdf(self, x, of: str = "mu", *, study=None):
        """Posterior distribution function of μ, τ, the predictive θ_{k+1} (``"pred"``) or a study's
        θ_i (``"theta"``, ``study=`` index or label) at ``x`` (bayesmeta ``pposterior``)."""
        check_choice(of, "of", _OF)
        x = np.asarray(x, dtype=float)
        flat = np.atleast_1d(x).ravel()
        if of == "tau":
            g = self.grid
            ts = g.t_of_tau(np.maximum(flat, 0.0))
            cdf = _sinc_cdf_pdf(ts, g.t[:, None], np.full(len(flat), g.h), np.repeat(g.weight[:, None], len(flat), 1))[0]
            cdf = np.where(flat <= 0, 0.0, np.where(np.isinf(flat), 1.0, np.clip(cdf, 0.0, 1.0)))
        else:
            w, m, s = self._mixture(of, study)
            z = (flat[None] - m[:, None]) / s[:, None]
            cdf = w @ special.ndtr(z)
        return cdf.reshape(x.shape) if x.ndim else float(cdf[0])

    def pdf(self, x, of: str = "mu", *, study=None):
        """Posterior density of μ, τ, θ_{k+1} or θ_i at ``x`` (bayesmeta ``dposterior``)."""
        check_choice(of, "of", _OF)
        x = np.asarray(x, dtype=float)
        flat = np.atleast_1d(x).ravel()
        if of == "tau":
            out = np.exp(self._tau_logpdf(flat))
        else:
            w, m, s = self._mixture(of, study)
            z = (flat[None] - m[:, None]) / s[:, None]
            out = w @ (np.exp(-0.5 * z * z) / s[:, None]) * _INV_SQRT_2PI
        return out.reshape(x.shape) if x.ndim else float(out[0])

    def quantile(self, p, of: str = "mu", *, study=None):
        """Posterior quantiles (bayesmeta ``qposterior``)."""
        check_choice(of, "of", _OF)
        p = np.asarray(p, dtype=float)
        flat = np.atleast_1d(p).ravel()
        if np.any(~((flat > 0) & (flat < 1))):
            raise ValueError("p must be probabilities strictly between 0 and 1")
        n = len(flat)
        if of == "tau":
            g = self.grid
            ts = _tau_quantile_t(np.repeat(g.t[:, None], n, 1), np.full(n, g.h), np.repeat(g.weight[:, None], n, 1), flat)[0]
            out = g.tau_of_t(ts)
        else:
            w, m, s = self._mixture(of, study)
            out = _mixture_quantile(np.repeat(w[:, None], n, 1), np.repeat(m[:, None], n, 1),
                                    np.repeat(s[:, None], n, 1), flat)[0]
        return out.reshape(p.shape) if p.ndim else float(out[0])

    def interval(self, of: str = "mu", kind: str = "central", level: float | None = None, *, study=None):
        """Credible (``"mu"``, ``"tau"``), prediction (``"pred"``) or shrinkage (``"theta"``) interval.

        ``kind="central"``: the ``(1-level)/2`` and ``(1+level)/2`` quantiles. ``kind="shortest"``:
        the shortest interval of probability ``level`` (for a unimodal density the highest-density
        interval, where the density is equal at both ends; for τ it is ``[0, q_level]`` when the
        density at 0 is at least that at ``q_level``), bayesmeta's default ``post.interval``.
        Returns ``(low, high)``.
        """
        check_choice(of, "of", _OF)
        check_choice(kind, "kind", _KINDS)
        lev = self.level if level is None else check_level(level)
        if kind == "central":
            lo, hi = self.quantile([(1 - lev) / 2, (1 + lev) / 2], of, study=study)
            return float(lo), float(hi)

        def q(a):
            return self.quantile(a, of, study=study)

        def gap(a):  # density at the right end minus density at the left end
            return self.pdf(q(a + lev), of, study=study) - self.pdf(q(a), of, study=study)

        eps = 1e-12  # the search over the left tail probability a stays inside (0, 1 - level)
        if of == "tau" and self.pdf(q(lev), "tau") <= self.pdf(0.0, "tau"):
            return 0.0, float(q(lev))  # the density falls from τ = 0: the interval starts there
        a = optimize.brentq(gap, eps, 1 - lev - eps, xtol=1e-15, rtol=4 * np.finfo(float).eps)
        return float(q(a)), float(q(a + lev))

    def conditional_moments(self, tau, of: str = "mu", *, study=None):
        """Conditional posterior mean and sd given τ (bayesmeta ``cond.moment``): of μ (Röver 2020,
        eq. 12 / 14), of θ_{k+1} (``"pred"``, variance + τ²) or of θ_i (``"theta"``, Sec. 2.8).
        Returns ``(mean, sd)`` arrays shaped like ``tau``."""
        check_choice(of, "of", ("mu", "pred", "theta"))
        t = np.asarray(tau, dtype=float)
        if np.any(t < 0):
            raise ValueError("tau must be >= 0")
        d = _Data(self.yi[:, None], self.vi[:, None], None, self.mu_prior)
        flat = np.atleast_1d(t).ravel()
        _, cm, cv = _marginal(d, flat[:, None])
        cm, cv = cm[:, 0] + d.c[0], cv[:, 0]
        if of == "pred":
            cv = cv + flat**2
        elif of == "theta":
            i = self._study_index(study)
            m, v = _shrinkage_moments(self.yi[i:i + 1], self.vi[i:i + 1], flat, cm, cv)
            cm, cv = m[:, 0], v[:, 0]
        return cm.reshape(t.shape), np.sqrt(cv).reshape(t.shape)

    # ------------------------------------------------------------------ presentation
    def to_frame(self):
        """One-row DataFrame of the scalar fields (priors as text; per-study arrays and the grid excluded)."""
        import pandas as pd

        skip = {"theta_mode", "theta_median", "theta_mean", "theta_sd", "theta_ci_low", "theta_ci_high",
                "yi", "vi", "labels", "grid", "tau_prior", "mu_prior"}
        row = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}
        row["tau_prior"] = self.tau_prior.describe()
        row["mu_prior"] = "uniform (improper)" if self.mu_prior is None else self.mu_prior.describe()
        return pd.DataFrame([row])

    def shrinkage_frame(self):
        """DataFrame, one row per study: y, sigma and the shrinkage posterior (bayesmeta ``$theta``)."""
        import pandas as pd

        return pd.DataFrame({"study": list(self.labels) if self.labels else list(range(self.k)),
                             "y": self.yi, "sigma": np.sqrt(self.vi), "mode": self.theta_mode,
                             "median": self.theta_median, "mean": self.theta_mean, "sd": self.theta_sd,
                             "ci_low": self.theta_ci_low, "ci_high": self.theta_ci_high})

    def summary(self, digits: int = 4) -> str:
        """Text in the spirit of bayesmeta's ``print.bayesmeta``: priors and the marginal posterior
        summary of τ, μ and θ_{k+1} (central intervals)."""
        f = f"{{:>12.{digits}f}}"
        lev = f"{100 * self.level:g}%"
        mu_txt = "uniform (improper)" if self.mu_prior is None else self.mu_prior.describe() + " (proper)"
        tau_txt = self.tau_prior.describe() + (" (proper)" if self.tau_prior.proper else "")
        setting = getattr(self.tau_prior, "setting", None)
        if setting:
            tau_txt += f"\n           {setting}"
        lines = [
            f"Bayesian random-effects meta-analysis (normal-normal hierarchical model; k = {self.k})",
            "",
            f"tau prior: {tau_txt}",
            f"mu prior:  {mu_txt}",
            "",
            "marginal posterior summary:",
            f"{'':12}{'tau':>12}{'mu':>12}{'theta':>12}",
        ]
        rows = [("mode", "mode"), ("median", "median"), ("mean", "mean"), ("sd", "sd")]
        for label, key in rows:
            vals = (getattr(self, f"tau_{key}"), getattr(self, f"mu_{key}"), getattr(self, f"pred_{key}"))
            lines.append(f"{label:<12}" + "".join(f.format(v) for v in vals))
        lines.append(f"{lev + ' lower':<12}" + "".join(f.format(v) for v in (self.tau_ci_low, self.ci_low, self.pi_low)))
        lines.append(f"{lev + ' upper':<12}" + "".join(f.format(v) for v in (self.tau_ci_high, self.ci_high, self.pi_high)))
        lines += [
            "",
            "(central intervals; theta = a new study's true effect; shortest intervals: .interval(kind='shortest'))",
            f"tau^2 (posterior median) = {self.tau2:.{digits}f}   I^2 (posterior median) = {self.i2:.2f}%",
        ]
        if np.isfinite(self.log_marginal_likelihood):
            lines.append(f"log marginal likelihood = {self.log_marginal_likelihood:.{digits}f}   "
                         f"Bayes factors: tau=0 {self.bf_tau0:.{digits}g}, mu=0 {self.bf_mu0:.{digits}g}")
        if not self.converged:
            lines.append("WARNING: the numerical integration did not meet its accuracy checks")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


_BATCH_SCALARS = ("estimate", "se", "ci_low", "ci_high", "pval", "tau2", "i2", "pi_low", "pi_high",
                  "mu_mode", "mu_median", "mu_mean", "mu_sd", "tau_mode", "tau_median", "tau_mean", "tau_sd",
                  "tau_ci_low", "tau_ci_high", "pred_mode", "pred_median", "pred_mean", "pred_sd",
                  "log_marginal_likelihood", "bf_tau0", "bf_mu0")


@dataclass(frozen=True)
class BayesBatch:
    """Many Bayesian meta-analyses; each field an array with one entry per analysis (row), meaning
    what the same-named field of :class:`BayesEstimate` means. Per-study shrinkage and the quadrature
    grids are not kept (``bayes(Y[i], V[i], ...)`` gives them for one row)."""

    k: np.ndarray
    method: str
    estimate: np.ndarray
    se: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    pval: np.ndarray
    level: float
    tau2: np.ndarray
    i2: np.ndarray
    pi_low: np.ndarray
    pi_high: np.ndarray
    converged: np.ndarray
    mu_mode: np.ndarray
    mu_median: np.ndarray
    mu_mean: np.ndarray
    mu_sd: np.ndarray
    tau_mode: np.ndarray
    tau_median: np.ndarray
    tau_mean: np.ndarray
    tau_sd: np.ndarray
    tau_ci_low: np.ndarray
    tau_ci_high: np.ndarray
    pred_mode: np.ndarray
    pred_median: np.ndarray
    pred_mean: np.ndarray
    pred_sd: np.ndarray
    log_marginal_likelihood: np.ndarray
    bf_tau0: np.ndarray
    bf_mu0: np.ndarray
    tau_prior: TauPrior
    mu_prior: MuNormal | None
    yi: np.ndarray
    vi: np.ndarray

    def __len__(self) -> int:
        return len(self.estimate)

    def to_frame(self):
        """DataFrame, one row per analysis, scalar fields only."""
        import pandas as pd

        df = pd.DataFrame({name: getattr(self, name) for name in ("k", *_BATCH_SCALARS, "converged")})
        df.insert(1, "method", self.method)
        return df


# --------------------------------------------------------------------------- public functions


def _check_priors(tau_prior, mu_prior):
    if isinstance(tau_prior, str):
        tau_prior = _priors.tau_prior_from_name(tau_prior)
    if not isinstance(tau_prior, TauPrior):
        raise ValueError(f"tau_prior={tau_prior!r} is not allowed; pass a prior from hipacu.priors "
                         "(half_normal, half_cauchy, half_t, exponential, log_normal, uniform, jeffreys, "
                         "dumouchel, shrinkage, turner2015, rhodes2015) or one of the names "
                         f"{', '.join(map(repr, _priors.TAU_PRIOR_NAMES))}")
    if mu_prior is not None and not isinstance(mu_prior, MuNormal):
        raise ValueError(f"mu_prior={mu_prior!r} is not allowed; use None (improper uniform) or hipacu.priors.normal(mean, sd)")
    return tau_prior, mu_prior


def _warn_unconverged(conv: np.ndarray) -> None:
    if not np.all(conv):
        warnings.warn(f"the numerical integration did not meet its accuracy checks in {int((~conv).sum())} "
                      "analysis(es); see the 'converged' field", ConvergenceWarning, stacklevel=user_stacklevel())


def bayes(yi, vi=None, *, sei=None, tau_prior: TauPrior | str = DEFAULT_TAU_PRIOR, mu_prior: MuNormal | None = None,
          level: float = 0.95, labels=None) -> BayesEstimate:
    """Bayesian random-effects meta-analysis of one set of studies (R: ``bayesmeta(y, sigma, ...)``).

    Parameters
    ----------
    yi : array-like
        Study estimates (e.g. log odds ratios).
    vi, sei : array-like
        Sampling variances or standard errors (exactly one of them).
    tau_prior : TauPrior or str
        Prior for the heterogeneity τ (default half-normal with scale 0.5, a common choice for log
        odds ratios, Röver 2020 Sec. 2.2); a prior from :mod:`hipacu.priors` or one of the names
        ``"uniform"``, ``"jeffreys"``, ``"dumouchel"``, ``"shrinkage"``.
    mu_prior : MuNormal or None
        Prior for the effect μ: ``None`` (default) is the improper uniform prior; or
        ``hipacu.priors.normal(mean, sd)``.
    level : float
        Level of the credible and prediction intervals.
    labels : sequence of str, optional
        Study labels (for ``study=`` in the methods and for :meth:`BayesEstimate.shrinkage_frame`).

    Returns
    -------
    BayesEstimate

    Raises
    ------
    ValueError
        Bad data (lengths, non-finite values, ``vi <= 0``), both or neither of ``vi``/``sei``, an
        unknown prior, or an improper posterior: an improper τ prior with k = 1 and a flat μ prior
        (one study says nothing about τ), the uniform τ prior with k < 3 (flat μ prior) or k < 2
        (normal μ prior), the Jeffreys prior with k < 2 and a flat μ prior (Röver 2020, Table 1).

    Notes
    -----
    This is :func:`bayes_batch` on one analysis (the same engine), plus the study-level shrinkage
    posteriors. bayesmeta equivalent: ``bayesmeta(y = yi, sigma = sqrt(vi), tau.prior = ...,
    mu.prior.mean = ..., mu.prior.sd = ..., interval.type = "central")``.
    """
    level = check_level(level)
    tau_prior, mu_prior = _check_priors(tau_prior, mu_prior)
    y = as_1d(yi, "yi")
    if (vi is None) == (sei is None):
        raise ValueError("give exactly one of vi (sampling variances) and sei (standard errors)")
    v = as_1d(vi, "vi", positive=True) if sei is None else as_1d(sei, "sei", positive=True) ** 2
    check_same_length(yi=y, **({"vi": v} if sei is None else {"sei": v}))
    if labels is not None:
        labels = tuple(str(x) for x in labels)
        if len(labels) != len(y):
            raise ValueError(f"labels has {len(labels)} entries but there are {len(y)} studies")
    _properness(np.array([len(y)]), tau_prior, mu_prior, "")
    d = _Data(y[:, None], v[:, None], None, mu_prior)
    with np.errstate(over="ignore", under="ignore"):
        out = _summaries(d, tau_prior, mu_prior, level, N_NODES, shrink=(y, v))
        g = out["_grid"]
    shr = {name: out[name] for name in ("theta_mode", "theta_median", "theta_mean", "theta_sd", "theta_ci_low",
                                          "theta_ci_high")}
    converged = bool(out["converged"][0])
    _warn_unconverged(np.array([converged]))
    grid = TauGrid(t=frozen_array(g["t"][:, 0]), h=float(g["h"][0]), x0=float(g["x0"][0]), slope=float(g["slope"][0]), c_left=float(g["cl"][0]),
                   c_right=float(g["cr"][0]), upper=float(tau_prior.upper), tau=frozen_array(g["tau"][:, 0]),
                   weight=frozen_array(g["weight"][:, 0]), cond_mean=frozen_array(out["_cmean"][:, 0]),
                   cond_sd=frozen_array(out["_csd"][:, 0]), log_norm=float(g["log_norm"][0]))
    scal = {name: float(out[name][0]) for name in _BATCH_SCALARS if name in out}
    return BayesEstimate(
        k=len(y), method="bayes", estimate=scal["mu_median"], se=scal["mu_sd"], ci_low=float(out["mu_ci_low"][0]),
        ci_high=float(out["mu_ci_high"][0]), pval=math.nan, level=level, tau2=scal["tau2"], i2=scal["i2"],
        pi_low=float(out["pred_ci_low"][0]), pi_high=float(out["pred_ci_high"][0]), converged=converged,
        **{n: scal[n] for n in ("mu_mode", "mu_median", "mu_mean", "mu_sd", "tau_mode", "tau_median", "tau_mean",
                                 "tau_sd", "pred_mode", "pred_median", "pred_mean", "pred_sd",
                                 "log_marginal_likelihood", "bf_tau0", "bf_mu0")},
        tau_ci_low=float(out["tau_ci_low"][0]), tau_ci_high=float(out["tau_ci_high"][0]),
        **{n: frozen_array(a) for n, a in shr.items()},
        tau_prior=tau_prior, mu_prior=mu_prior, yi=frozen_array(y), vi=frozen_array(v), labels=labels, grid=grid)


def _as_2d(Y, V):
    """Validate ``Y, V`` (analyses × studies, NaN = absent) and return studies × analyses copies and
    the presence mask (None when nothing is absent)."""
    try:
        y = np.array(Y, dtype=float, ndmin=2)
        v = np.array(V, dtype=float, ndmin=2)
    except (TypeError, ValueError) as exc:
        raise ValueError("Y and V must be numeric arrays (rows = analyses, columns = studies)") from exc
    if y.ndim != 2 or y.shape != v.shape:
        raise ValueError(f"Y and V must be 2-D arrays of the same shape (rows = analyses, columns = studies); "
                         f"got {y.shape} and {v.shape}")
    if y.size == 0:
        raise ValueError("Y is empty; at least one analysis with one study is needed")
    ny, nv = np.isnan(y), np.isnan(v)
    if (ny != nv).any():
        r, c = np.argwhere(ny != nv)[0]
        raise ValueError(f"{'Y' if ny[r, c] else 'V'}[{r}, {c}] is NaN but the other is not; NaN must mark the same "
                         "absent studies in Y and V")
    if np.isinf(y).any() or np.isinf(v).any():
        r, c = np.argwhere(np.isinf(y) | np.isinf(v))[0]
        raise ValueError(f"Y or V at [{r}, {c}] is infinite; only finite numbers or NaN (absent study) are allowed")
    bad = ~nv & ~(v > 0)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise ValueError(f"V[{r}, {c}] = {v[r, c]:g}; sampling variances must be > 0")
    empty = ny.all(axis=1)
    if empty.any():
        raise ValueError(f"row {int(np.flatnonzero(empty)[0])} of Y has no study (all NaN); every analysis needs k >= 1")
    mask = None if not ny.any() else np.ascontiguousarray(~ny.T)
    return np.ascontiguousarray(y.T), np.ascontiguousarray(v.T), mask


def bayes_batch(Y, V, *, tau_prior: TauPrior | str = DEFAULT_TAU_PRIOR, mu_prior: MuNormal | None = None,
                level: float = 0.95) -> BayesBatch:
    """Bayesian random-effects meta-analysis of many analyses at once (vectorised).

    Parameters
    ----------
    Y, V : array-like, shape (n_analyses, max_k)
        Estimates and sampling variances; NaN (in both) marks an absent study.
    tau_prior, mu_prior, level
        As in :func:`bayes` (one prior for all analyses; the data-dependent priors use each row's own
        variances).

    Returns
    -------
    BayesBatch
        Row ``i`` equals ``bayes(Y[i], V[i], ...)`` (same engine; tested).
    """
    level = check_level(level)
    tau_prior, mu_prior = _check_priors(tau_prior, mu_prior)
    yc, vc, mask = _as_2d(Y, V)
    k = yc.shape[0] - (0 if mask is None else (~mask).sum(axis=0))
    _properness(k if mask is not None else np.full(yc.shape[1], yc.shape[0]), tau_prior, mu_prior,
                " (in at least one analysis)")
    n = yc.shape[1]
    parts = []
    with np.errstate(over="ignore", under="ignore"):
        for s in range(0, n, CHUNK):
            sl = slice(s, min(n, s + CHUNK))
            d = _Data(yc[:, sl], vc[:, sl], None if mask is None else mask[:, sl], mu_prior)
            o = _summaries(d, tau_prior, mu_prior, level, N_NODES)
            parts.append({key: val for key, val in o.items() if not key.startswith("_")})
    cat = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    _warn_unconverged(cat["converged"])
    res = dict(estimate=cat["mu_median"], se=cat["mu_sd"], ci_low=cat["mu_ci_low"], ci_high=cat["mu_ci_high"],
               pval=np.full(n, np.nan), pi_low=cat["pred_ci_low"], pi_high=cat["pred_ci_high"])
    for name in _BATCH_SCALARS:
        if name not in res:
            res[name] = cat[name]
    for a in res.values():
        a.setflags(write=False)
    kk = cat["k"]
    conv = cat["converged"]
    kk.setflags(write=False)
    conv.setflags(write=False)
    yv, vv = yc.T.copy(), vc.T.copy()
    if mask is not None:
        yv[~mask.T], vv[~mask.T] = np.nan, np.nan
    return BayesBatch(k=kk, method="bayes", level=level, converged=conv, tau_prior=tau_prior, mu_prior=mu_prior,
                      yi=frozen_array(yv), vi=frozen_array(vv), **res)
