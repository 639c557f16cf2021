"""Generalised linear mixed models (GLMMs) for counts, as metafor 3.8 ``rma.glmm`` fits them.

One public function, :func:`glmm`, fits the models below by maximum likelihood on the counts
themselves: no continuity correction enters any fit. ``method="ML"`` gives a normal random effect
with variance τ²; ``method="EE"`` (alias ``"FE"``) is the common-effect model (τ² = 0).

=========  =========  ==========================================================================
measure    model      likelihood (metafor ``rma.glmm(measure=, model=)``; lme4 formula it fits)
=========  =========  ==========================================================================
``PLO``    ``UM.FS``  binomial-normal: ``x_i ~ Bin(n_i, expit(μ + b_i))``, ``b_i ~ N(0, τ²)``
                      (Hamza et al. 2008); ``glmer(cbind(x, n - x) ~ 1 + (1 | study))``
``IRLN``   ``UM.FS``  Poisson-normal: ``x_i ~ Pois(t_i exp(μ + b_i))``; ``glmer(x ~ 1 + (1 | study),
                      offset = log(t))``
``OR``     ``UM.FS``  unconditional logistic model, fixed study intercepts ``α_i``:
                      ``logit p_ij = α_i + μ g_j + b_i c_j`` with ``g = (1, 0)``, ``c = (½, -½)``
                      (Turner et al. 2000; Stijnen et al. 2010, model 4)
``OR``     ``UM.RS``  the same with random study intercepts: ``α + μ g_j + s_i + b_i c_j``,
                      ``s_i ~ N(0, σ²)`` independent of ``b_i``; with ``method="EE"`` the ``s_i``
                      stay (σ² estimated) and only ``b_i`` goes, as in metafor
``OR``     ``CM.EL``  exact conditional: ``a_i`` given ``a_i + c_i`` is non-central hypergeometric
                      with odds ratio ``exp(μ + b_i)`` (van Houwelingen et al. 1993)
``OR``     ``CM.AL``  approximate conditional: ``a_i ~ Bin(a_i + c_i, expit(log(n1_i/n2_i) + μ +
                      b_i))`` (Stijnen et al. 2010, model 5)
``IRR``    ``UM.FS``  Poisson with fixed study intercepts, exposure offsets, ``b_i c_j``
``IRR``    ``CM.EL``  conditional Poisson, exact for rates: ``x1_i ~ Bin(x1_i + x2_i,
                      expit(log(t1_i/t2_i) + μ + b_i))``
=========  =========  ==========================================================================

Integral over the random effect. Each study's likelihood is a one-dimensional integral (two for
``UM.RS``), computed as lme4 and metafor do:

* **Adaptive Gauss–Hermite quadrature** (AGQ; Liu & Pierce 1994; Pinheiro & Bates 1995), the
  nodes centred at the conditional mode ``û_i`` and scaled by the curvature there:
  ``L_i ≈ s_i Σ_q w_q exp(z_q²/2) exp h_i(û_i + s_i z_q)``, where
  ``h_i(u) = log f(y_i | u) - u²/2`` on the standardised scale ``b = τ u``,
  ``s_i = (-h_i''(û_i))^{-1/2}`` and ``(z_q, w_q)`` is the Gauss–Hermite rule for the standard
  normal density. **7 nodes** (metafor's ``nAGQ = 7``) for every glmer-fitted model;
  **31 nodes** for ``CM.EL`` with ``OR``, where metafor integrates with ``integrate()`` instead
  (31 nodes agree with a tight ``integrate()`` to better than 1e-10). ``nagq=`` changes either.
* **Laplace approximation** for ``UM.RS`` with ``method="ML"`` (two random effects per study):
  ``L_i ≈ exp h_i(û_i) / sqrt(det C_i)``, ``C_i = -∇²h_i(û_i)``; metafor forces ``nAGQ = 1``
  there, because glmer only does AGQ for one scalar random effect.

The maximum is found by Newton's method on all parameters at once: the AGQ/Laplace
approximation is differentiated analytically, through the mode (implicit-function theorem), and
its Hessian is differences of that gradient, recomputed every iteration for models with study
intercepts (an arrowhead matrix, solved through its Schur complement) and updated by BFGS for the
others. The iteration stops when a Newton step is below ``XTOL = 1e-8`` relative (the error left is
far smaller); the conditional modes are solved to ``1e-13``. The τ parameter is the signed SD
``θ`` (τ = |θ|, the likelihood is even in θ), so τ = 0 is an interior point that Newton's method can
reach, unlike metafor's ``log τ²`` for ``CM.EL``. The standard error of ``μ`` is
from the inverse of the observed information over all parameters (τ, μ and any study intercepts),
as lme4's ``vcov`` takes it from its finite-difference Hessian of the deviance over
``(θ, β)`` (here the final Hessian is central differences of the analytic gradient); at a maximum
the result does not depend on whether τ, τ² or log τ² is the parameter, so it also matches
metafor's ``CM.EL`` Hessian over ``(μ, log τ²)``. Where hipacu and metafor differ beyond
optimiser precision the reasons are established in ``tests/models/test_glmm.py`` (its table of
divergences): lme4's PIRLS tolerance and finite-difference Hessian, glm's vcov from the weights
before its last IRLS update, numDeriv's Hessian for ``CM.EL``.

Studies left out, as metafor does (``drop00 = TRUE``, its default): with ``OR``, studies with no
events in either arm or with events for everybody in both arms; with ``IRR``, studies with no events
in either arm. Their indices are in :attr:`GLMMEstimate.dropped`. Single zero cells stay in.

I² (metafor): ``I² = 100 τ² / (τ² + ṽ)``, ``H² = τ²/ṽ + 1``, with the typical within-study
variance ``ṽ = (k - 1) / (Σw - Σw²/Σw)``, ``w = 1/v_i``, and ``v_i`` the large-sample variance of the
study's log odds, log rate, log odds ratio or log rate ratio after adding ½ to every cell of a study
with a zero cell (``escalc(add = 1/2, to = "only0")``). These corrected variances are used for I²
only. With ``k = 1``, ``ṽ`` is 0/0 and I², H² are NaN (metafor gives NaN too).
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass, fields

import numpy as np
from scipy import special

from hipacu._checks import (
    as_1d,
    check_choice,
    check_level,
    check_same_length,
    format_p,
    frozen_array,
)
from hipacu.exceptions import ConvergenceWarning, user_stacklevel
from hipacu.models._stats import critical_value, q_pval, wald

__all__ = [
    "MEASURES",
    "METHODS",
    "MODELS",
    "NAGQ",
    "NAGQ_CONDITIONAL",
    "ExactRate",
    "GLMMEstimate",
    "exact_rate",
    "glmm",
]

#: Outcome measures (metafor codes).
MEASURES = ("PLO", "IRLN", "OR", "IRR")
#: The models allowed for each measure (metafor codes); the first is the default.
MODELS = {"PLO": ("UM.FS",), "IRLN": ("UM.FS",), "OR": ("UM.FS", "UM.RS", "CM.EL", "CM.AL"),
          "IRR": ("UM.FS", "CM.EL")}
#: ``"ML"``: random effects; ``"EE"`` and its alias ``"FE"``: common effect.
METHODS = ("ML", "EE", "FE")
#: Adaptive Gauss–Hermite nodes for the glmer-fitted models (metafor's default ``nAGQ``).
NAGQ = 7
#: Nodes for the exact conditional model (OR, CM.EL), which metafor integrates with ``integrate()``.
NAGQ_CONDITIONAL = 31
#: The Newton iteration stops when every step is below ``XTOL * (1 + |parameter|)`` (the error left
#: after that step is smaller still: the convergence is quadratic or, with BFGS updates, superlinear).
XTOL = 1e-8
#: Iteration cap of the Newton iteration.
MAXITER = 100
#: The conditional mode is solved to ``|Δu| <= UTOL * (1 + |u|)``.
UTOL = 1e-13
#: Relative step of the central differences of the analytic gradient that give the Hessian: their
#: truncation error is ~``FD_STEP² ≈ 1e-11`` relative, the rounding error ~``eps / FD_STEP``.
FD_STEP = 3e-6

_MODEL_NAMES = {
    "UM.FS": "Unconditional Model with Fixed Study Effects",
    "UM.RS": "Unconditional Model with Random Study Effects",
    "CM.EL": "Conditional Model with Exact Likelihood",
    "CM.AL": "Conditional Model with Approximate Likelihood",
}


def _pval_text(p: float) -> str:
    """``p-val < .0001`` or ``p-val = 0.0224``, as metafor prints it."""
    s = format_p(p)
    return "p-val " + (s if s.startswith("<") else "= " + s)


# =========================================================================== families
# Each family gives, for a linear predictor η of shape (k, m, *extra), the log-likelihood ℓ(η) of
# each observation without its constant, ℓ'(η) (``r``), -ℓ''(η) (``w``) and -ℓ'''(η) (``t``).
# All three are exponential families in their canonical parameter, so observed = expected
# information and ``w`` is the GLM working weight.


def _expand(a: np.ndarray, ndim: int) -> np.ndarray:
    return a.reshape(a.shape + (1,) * (ndim - a.ndim))


class _Binomial:
    """``y`` events of ``n``, logit link: ``ℓ = y η - n log(1 + e^η)``."""

    def __init__(self, y, n):
        self.y, self.n = y, n
        self._nodes = (y[:, :, None], n[:, :, None])  # shaped for (k, m, nodes)

    def _yn(self, ndim):
        return (self.y, self.n) if ndim == 2 else self._nodes if ndim == 3 else \
            (_expand(self.y, ndim), _expand(self.n, ndim))

    def terms(self, eta, order):
        y, n = self._yn(eta.ndim)
        ll = y * eta - n * np.logaddexp(0.0, eta)
        if order == 0:
            return (ll,)
        p = special.expit(eta)
        r = y - n * p
        if order == 1:
            return ll, r
        q = special.expit(-eta)
        w = n * p * q
        if order == 2:
            return ll, r, w
        return ll, r, w, w * (q - p)

    def score(self, eta):
        """``(ℓ', -ℓ'')`` only: what the mode search needs."""
        y, n = self._yn(eta.ndim)
        p = special.expit(eta)
        return y - n * p, n * p * (1.0 - p)

    def tile(self, b):
        return _Binomial(np.tile(self.y, (b, 1)), np.tile(self.n, (b, 1)))

    def constant(self):
        """``log C(n, y)`` per observation."""
        return special.gammaln(self.n + 1) - special.gammaln(self.y + 1) - special.gammaln(self.n - self.y + 1)

    def saturated(self):
        """Maximum of ``ℓ`` per observation (each observation its own probability)."""
        y, n = self.y, self.n
        return special.xlogy(y, y / n) + special.xlogy(n - y, (n - y) / n)

    def bound(self, eta0):
        """A bound on ``|ℓ'|`` over the half-line where the mode is searched."""
        return np.maximum(self.y, self.n - self.y)


class _Poisson:
    """``y`` events, log link with the exposure in the offset: ``ℓ = y η - e^η``."""

    def __init__(self, y):
        self.y = y

    def terms(self, eta, order):
        y = _expand(self.y, eta.ndim)
        mu = np.exp(eta)
        ll = y * eta - mu
        if order == 0:
            return (ll,)
        r = y - mu
        if order == 1:
            return ll, r
        if order == 2:
            return ll, r, mu
        return ll, r, mu, mu

    def score(self, eta):
        mu = np.exp(eta)
        return _expand(self.y, eta.ndim) - mu, mu

    def tile(self, b):
        return _Poisson(np.tile(self.y, (b, 1)))

    def constant(self):
        return -special.gammaln(self.y + 1)

    def saturated(self):
        return special.xlogy(self.y, self.y) - self.y

    def bound(self, eta0):
        return np.maximum(self.y, np.exp(np.minimum(eta0, 700.0)))


class _NoncentralHypergeometric:
    """``a`` given the margins ``n1 = a + b``, ``n2 = c + d``, ``m1 = a + c``, with log odds ratio η:
    ``P(a | ψ) = C(n1, a) C(n2, m1 - a) ψ^a / Σ_x C(n1, x) C(n2, m1 - x) ψ^x`` over
    ``max(0, m1 - n2) <= x <= min(n1, m1)`` (Fisher's non-central hypergeometric distribution;
    metafor's ``.dnoncenhypergeom``, after Liao & Rosen 2001). ``ℓ`` includes the binomial
    coefficients, so it is the log-probability itself, and ``ℓ' = a - E(X)``, ``-ℓ'' = Var(X)``,
    ``-ℓ''' = E(X - EX)³``."""

    def __init__(self, a, n1, n2, m1):
        lo = np.maximum(0, m1 - n2)
        hi = np.minimum(n1, m1)
        size = int((hi - lo).max()) + 1
        x = lo[:, None] + np.arange(size)[None, :]
        valid = x <= hi[:, None]
        xs = np.where(valid, x, 0.0)
        logc = np.where(valid, _log_choose(n1[:, None], xs) + _log_choose(n2[:, None], m1[:, None] - xs), -np.inf)
        self.y = a[:, None]  # shape (k, 1): one observation per study
        self.lo, self.hi = lo, hi
        self._x = xs[:, None, :]  # (k, 1, S)
        self._logc = logc[:, None, :]
        self._logc_a = (_log_choose(n1, a) + _log_choose(n2, m1 - a))[:, None]

    def terms(self, eta, order):
        extra = eta.ndim - 2
        x = self._x.reshape(self._x.shape[:2] + (1,) * extra + self._x.shape[-1:])
        logc = self._logc.reshape(x.shape)
        lt = logc + x * eta[..., None]
        lse = special.logsumexp(lt, axis=-1)
        y = _expand(self.y, eta.ndim)
        ll = y * eta + _expand(self._logc_a, eta.ndim) - lse
        if order == 0:
            return (ll,)
        pi = np.exp(lt - lse[..., None])
        mean = (pi * x).sum(axis=-1)
        r = y - mean
        if order == 1:
            return ll, r
        dev = x - mean[..., None]
        pd = pi * dev
        var = (pd * dev).sum(axis=-1)
        if order == 2:
            return ll, r, var
        return ll, r, var, (pd * dev * dev).sum(axis=-1)

    def score(self, eta):
        return self.terms(eta, 2)[1:]

    def tile(self, b):
        new = object.__new__(_NoncentralHypergeometric)
        new.y, new.lo, new.hi = np.tile(self.y, (b, 1)), np.tile(self.lo, b), np.tile(self.hi, b)
        new._x, new._logc = np.tile(self._x, (b, 1, 1)), np.tile(self._logc, (b, 1, 1))
        new._logc_a = np.tile(self._logc_a, (b, 1))
        return new

    def constant(self):
        return np.zeros_like(self.y, dtype=float)

    def saturated(self):
        """``max_ψ log P(a | ψ)``: 0 where ``a`` is at an end of its support (ψ → 0 or ∞), else the
        conditional MLE's log-probability (Newton on ``E(X) = a``)."""
        k = self.y.shape[0]
        out = np.zeros((k, 1))
        inner = (self.y[:, 0] > self.lo) & (self.y[:, 0] < self.hi)
        if inner.any():
            eta = np.zeros((k, 1))
            for _ in range(200):
                _, r, w = self.terms(eta, 2)
                step = np.where(inner[:, None], r / np.where(w > 0, w, 1.0), 0.0)
                eta = eta + step
                if np.all(np.abs(step) <= 1e-14 * (1 + np.abs(eta))):
                    break
            out = np.where(inner[:, None], self.terms(eta, 0)[0], 0.0)
        return out

    def bound(self, eta0):
        a = self.y
        return np.maximum(a - self.lo[:, None], self.hi[:, None] - a)


def _log_choose(n, x):
    return special.gammaln(n + 1) - special.gammaln(x + 1) - special.gammaln(n - x + 1)


# =========================================================================== likelihood problems
# A problem holds the data of one model and maps a parameter vector to each study's marginal
# log-likelihood F_i (without constants) and its gradient. Parameters: the random-effect standard
# deviations θ (none for common-effect fits), the fixed effects β (μ first), then one intercept α_i
# per study for models with fixed study effects ("nuisance"). Every α_i enters only F_i, so the
# Hessian is an arrowhead: a dense block for (θ, β), a diagonal for α, and their cross terms.


@functools.lru_cache(maxsize=16)
def _gauss_hermite(n: int):
    """Nodes ``z_q`` and ``log(w_q) + z_q²/2`` of the ``n``-point Gauss–Hermite rule for the standard
    normal density (weights summing to 1), as lme4's ``GHrule``."""
    z, w = np.polynomial.hermite_e.hermegauss(n)
    z.setflags(write=False)
    logw = np.log(w / w.sum()) + z**2 / 2
    logw.setflags(write=False)
    return z, logw


class _Problem:
    def __init__(self, fam, X, off, z, nuisance: bool, nagq: int):
        self.fam = fam
        self.X = X  # (k, m, p)
        self.off = off  # (k, m)
        self.z = z  # (k, m) or None
        self.nuisance = nuisance
        self.k, self.m, self.p = X.shape
        self.nt = 0 if z is None else 1
        self.ng = self.nt + self.p  # global parameters
        self.nagq = nagq
        self.zq, self.logw = _gauss_hermite(nagq)
        if z is not None:
            self._z2, self._z3 = z * z, z**3
        self._u = np.zeros(self.k)
        self._pred = None  # (x, û, dû/dx) of the last gradient evaluation, to start the next mode search
        self._tiled = {}

    # ------------------------------------------------------------------ parameters
    def split(self, x):
        theta = x[0] if self.nt else 0.0
        beta = x[self.nt:self.ng]
        eta0 = self.X @ beta + self.off
        if self.nuisance:
            eta0 = eta0 + x[self.ng:][:, None]
        return theta, eta0

    # ------------------------------------------------------------------ conditional modes
    def modes(self, theta, eta0):
        """Root of ``g(u) = θ Σ_j ℓ'_j z_j - u`` for every study (strictly decreasing, ``g' <= -1``):
        Newton's method kept inside a bracket, bisecting when a step leaves it."""
        z = self.z
        bound = np.abs(theta) * (np.abs(z) * self.fam.bound(eta0)).sum(axis=1) + 1.0
        lo, hi = -bound, bound
        u = np.clip(self._u, lo, hi)
        tz = (theta[:, None] if np.ndim(theta) else theta) * z
        tz2 = tz * tz
        for _ in range(200):
            r, w = self.fam.score(eta0 + tz * u[:, None])
            g = np.einsum("km,km->k", r, tz) - u
            step = g / (1.0 + np.einsum("km,km->k", w, tz2))
            if np.all(np.abs(step) <= UTOL * (1.0 + np.abs(u))):
                u = u + step
                break
            lo = np.where(g > 0, u, lo)
            hi = np.where(g < 0, u, hi)
            new = u + step
            u = np.where((new < lo) | (new > hi), 0.5 * (lo + hi), new)
        self._u = u
        return u

    # ------------------------------------------------------------------ marginal likelihood
    def evaluate(self, x, grad=True):
        """``F`` (k,) and, with ``grad``, the per-study gradient ``G`` (k, ng + nuisance)."""
        theta, eta0 = self.split(x)
        if self.nt == 0:
            if not grad:
                return self.fam.terms(eta0, 0)[0].sum(axis=1), None
            ll, r = self.fam.terms(eta0, 1)
            G = np.einsum("km,kmp->kp", r, self.X)
            if self.nuisance:
                G = np.column_stack([G, r.sum(axis=1)])
            return ll.sum(axis=1), G
        if self._pred is not None:  # first-order prediction of the mode from the last gradient evaluation
            self._u = self._predict(x)
        F, G, du = self._integrate(theta, eta0, grad)
        if grad:
            self._pred = (x.copy(), self._u, du)
        return F, G

    def _predict(self, x):
        x_last, u_last, du_last = self._pred
        dx = x - x_last
        u = u_last + du_last[:, : self.ng] @ dx[: self.ng]
        if self.nuisance:
            u = u + du_last[:, -1] * dx[self.ng:]
        return u

    def evaluate_batch(self, xs):
        """Per-study gradients at each row of ``xs`` (B, P), as (B, k, nP): one evaluation of a problem
        with the studies repeated B times (the studies are independent, so nothing else changes)."""
        b, k = len(xs), self.k
        tiled = self._tiled.get(b)
        if tiled is None:
            tiled = _Problem(self.fam.tile(b), np.tile(self.X, (b, 1, 1)), np.tile(self.off, (b, 1)),
                             np.tile(self.z, (b, 1)), self.nuisance, self.nagq)
            self._tiled = {b: tiled}
        eta0 = np.einsum("kmp,bp->bkm", self.X, xs[:, self.nt:self.ng]) + self.off
        if self.nuisance:
            eta0 = eta0 + xs[:, self.ng:, None]
        tiled._u = np.concatenate([self._predict(row) for row in xs]) if self._pred is not None else \
            np.tile(self._u, b)
        _, G, _ = tiled._integrate(np.repeat(xs[:, 0], k), eta0.reshape(b * k, self.m), True)
        return G.reshape(b, k, -1)

    def _integrate(self, theta, eta0, grad):
        """AGQ of every study at random-effect SD ``theta`` (a scalar, or one per study) and fixed
        linear predictor ``eta0``: ``(F, G, dû/dp)``."""
        z, z2, z3 = self.z, self._z2, self._z3
        u = self.modes(theta, eta0)
        tc = theta[:, None] if np.ndim(theta) else theta
        tz = tc * z
        _, r0, w0, t0 = self.fam.terms(eta0 + tz * u[:, None], 3)
        wz2 = np.einsum("km,km->k", w0, z2)
        c = 1.0 + theta**2 * wz2
        s = 1.0 / np.sqrt(c)
        uq = u[:, None] + s[:, None] * self.zq  # (k, K) nodes
        eta = eta0[:, :, None] + tz[:, :, None] * uq[:, None, :]  # (k, m, K)
        out = self.fam.terms(eta, 1 if grad else 0)
        lt = out[0].sum(axis=1) - 0.5 * uq**2 + self.logw
        top = lt.max(axis=1)
        e = np.exp(lt - top[:, None])
        esum = e.sum(axis=1)
        F = np.log(s) + top + np.log(esum)
        if not grad:
            return F, None, None
        # dF/dp = dlog s/dp + Σ_q π_q [h_p(u_q) + h_u(u_q) (dû/dp + z_q ds/dp)], π = normalised node weights
        pi = e / esum[:, None]
        rbar = np.einsum("kmq,kq->km", out[1], pi)  # Σ_q π_q ℓ'_j(u_q)
        rzq = np.einsum("kmq,km->kq", out[1], z)
        hu_q = tc * rzq - uq
        a1 = np.einsum("kq,kq->k", pi, hu_q)
        a2 = np.einsum("kq,kq->k", pi, hu_q * self.zq)
        nP = self.ng + (1 if self.nuisance else 0)
        ph = np.empty((self.k, nP))  # Σ_q π_q h_p(u_q)
        hup = np.empty((self.k, nP))  # ∂²h/∂u∂p at the mode
        huup = np.empty((self.k, nP))  # ∂³h/∂u²∂p at the mode
        t0z3 = np.einsum("km,km->k", t0, z3)
        ph[:, 0] = np.einsum("kq,kq->k", pi, rzq * uq)
        hup[:, 0] = np.einsum("km,km->k", r0, z) - theta * wz2 * u
        huup[:, 0] = -(theta**2) * t0z3 * u - 2 * theta * wz2
        sl = slice(1, 1 + self.p)
        ph[:, sl] = np.einsum("km,kmp->kp", rbar, self.X)
        hup[:, sl] = -tc * np.einsum("km,kmp->kp", w0 * z, self.X)
        huup[:, sl] = -(tc**2) * np.einsum("km,kmp->kp", t0 * z2, self.X)
        if self.nuisance:
            ph[:, -1] = rbar.sum(axis=1)
            hup[:, -1] = -theta * np.einsum("km,km->k", w0, z)
            huup[:, -1] = -(theta**2) * np.einsum("km,km->k", t0, z2)
        du = hup / c[:, None]
        dc = -(huup - (theta**3 * t0z3)[:, None] * du)
        dlogs = -dc / (2 * c[:, None])
        G = dlogs + ph + du * a1[:, None] + (s[:, None] * dlogs) * a2[:, None]
        return F, G, du


    def exact_hessian(self, x):
        """Analytic Hessian blocks of ``Σ F`` for a common-effect problem (no integral)."""
        _, eta0 = self.split(x)
        _, _, w = self.fam.terms(eta0, 2)
        A = -np.einsum("km,kmp,kmq->pq", w, self.X, self.X)
        if not self.nuisance:
            return A, np.zeros((self.ng, 0)), np.zeros(0)
        B = -np.einsum("km,kmp->pk", w, self.X)
        return A, B, -w.sum(axis=1)

    def conditional(self, x):
        """``Σ ℓ`` at the conditional modes (= at η0 for common-effect fits), per observation."""
        theta, eta0 = self.split(x)
        if self.nt == 0:
            return self.fam.terms(eta0, 0)[0]
        u = self.modes(theta, eta0)
        return self.fam.terms(eta0 + theta * self.z * u[:, None], 0)[0]


class _LaplaceProblem:
    """Two independent random effects per study (``UM.RS``): ``η_ij = η0_ij + Σ_r θ_r z_ijr u_ir``,
    ``u_i ~ N(0, I)``, integrated by the Laplace approximation
    ``F_i = h_i(û_i) - ½ log det C_i``, ``C_i = I + Σ_j w_ij a_ij a_ijᵀ``, ``a_ij = θ ∘ z_ij``
    (lme4's ``nAGQ = 1`` deviance). Parameters: ``θ`` (q), ``β`` (p); no study intercepts."""

    def __init__(self, fam, X, off, Z):
        self.fam, self.X, self.off, self.Z = fam, X, off, Z  # Z: (k, m, q)
        self.k, self.m, self.p = X.shape
        self.q = Z.shape[2]
        self.nt = self.q
        self.ng = self.q + self.p
        self.nuisance = False
        self.nagq = 1
        self._u = np.zeros((self.k, self.q))

    def split(self, x):
        return x[: self.q], self.X @ x[self.q:self.ng] + self.off

    def _h(self, a, eta0, u):
        eta = eta0 + np.einsum("kmr,kr->km", a, u)
        return self.fam.terms(eta, 0)[0].sum(axis=1) - 0.5 * (u * u).sum(axis=1)

    def modes(self, theta, eta0):
        """Damped Newton on the strictly concave ``h_i`` (halving a step that lowers ``h_i``)."""
        a = theta[None, None, :] * self.Z  # (k, m, q)
        u = self._u.copy()
        h = self._h(a, eta0, u)
        eye = np.eye(self.q)
        for _ in range(200):
            eta = eta0 + np.einsum("kmr,kr->km", a, u)
            _, r, w = self.fam.terms(eta, 2)
            g = np.einsum("km,kmr->kr", r, a) - u
            C = eye + np.einsum("km,kmr,kms->krs", w, a, a)
            step = np.linalg.solve(C, g[..., None])[..., 0]
            t = np.ones(self.k)
            for _ in range(60):
                new = u + t[:, None] * step
                hn = self._h(a, eta0, new)
                bad = hn < h - 1e-12 * (1 + np.abs(h))
                if not bad.any():
                    break
                t = np.where(bad, t / 2, t)
            u, h = new, hn
            if np.all(np.abs(t[:, None] * step) <= UTOL * (1 + np.abs(u))):
                break
        self._u = u
        return u

    def evaluate(self, x, grad=True):
        theta, eta0 = self.split(x)
        Z, X = self.Z, self.X
        a = theta[None, None, :] * Z
        u = self.modes(theta, eta0)
        eta = eta0 + np.einsum("kmr,kr->km", a, u)
        ll, r, w, t = self.fam.terms(eta, 3)
        C = np.eye(self.q) + np.einsum("km,kmr,kms->krs", w, a, a)
        _, logdet = np.linalg.slogdet(C)  # C is positive definite
        F = ll.sum(axis=1) - 0.5 * (u * u).sum(axis=1) - 0.5 * logdet
        if not grad:
            return F, None
        Ci = np.linalg.inv(C)
        aa = np.einsum("kmr,kms->kmrs", a, a)
        # ∂C/∂u_r = Σ_j t_j a_jr a_j a_jᵀ
        dC_du = np.einsum("km,kmr,kmst->krst", t, a, aa)
        G = np.empty((self.k, self.ng))
        eye = np.eye(self.q)
        for s_ in range(self.q):  # θ_s: ∂η_j/∂θ_s = z_js u_s, ∂a_j/∂θ_s = z_js e_s
            zs = Z[:, :, s_]
            deta = zs * u[:, s_][:, None]
            dh = (r * deta).sum(axis=1)
            dgrad = -np.einsum("km,kmr->kr", w * deta, a) + (r * zs).sum(axis=1)[:, None] * eye[s_][None, :]
            ea = np.einsum("km,r,kms->krs", w * zs, eye[s_], a)
            dC = np.einsum("km,kmrs->krs", t * deta, aa) + ea + np.swapaxes(ea, 1, 2)
            G[:, s_] = self._laplace_grad(dh, dgrad, dC, Ci, dC_du)
        for l in range(self.p):  # β_l: ∂η_j/∂β_l = X_jl
            xl = X[:, :, l]
            dh = (r * xl).sum(axis=1)
            dgrad = -np.einsum("km,kmr->kr", w * xl, a)
            dC = np.einsum("km,kmrs->krs", t * xl, aa)
            G[:, self.q + l] = self._laplace_grad(dh, dgrad, dC, Ci, dC_du)
        return F, G

    @staticmethod
    def _laplace_grad(dh, dgrad, dC, Ci, dC_du):
        """``dF/dp = ∂h/∂p - ½ tr(C⁻¹ dC/dp)``, ``dC/dp = ∂C/∂p + Σ_r ∂C/∂u_r dû_r/dp``,
        ``dû/dp = C⁻¹ ∂∇h/∂p``."""
        du = np.einsum("krs,ks->kr", Ci, dgrad)
        total = dC + np.einsum("krst,kr->kst", dC_du, du)
        return dh - 0.5 * np.einsum("krs,ksr->k", Ci, total)

    def conditional(self, x):
        theta, eta0 = self.split(x)
        u = self.modes(theta, eta0)
        a = theta[None, None, :] * self.Z
        return self.fam.terms(eta0 + np.einsum("kmr,kr->km", a, u), 0)[0]


# =========================================================================== Newton iteration


def _hessian(prob, x, G0=None):
    """Hessian blocks ``(A, B, D)`` of ``Σ F``: A over the global parameters, B their cross terms
    with each α_i, D the diagonal over α. Differences of the analytic gradient: central, or forward
    from ``G0`` (the gradient at ``x``) when it is given (used inside the iteration, where the
    Hessian only steers). All α are stepped at once, since α_i moves only study i's gradient; all
    the stepped points are evaluated in one batch where the problem allows it."""
    if prob.nt == 0:
        return prob.exact_hessian(x)
    ng, k = prob.ng, prob.k
    signs = (1.0,) if G0 is not None else (1.0, -1.0)
    pts, steps = [], []
    for j in range(ng):
        h = FD_STEP * (1.0 + abs(x[j]))
        steps.append(h)
        for sg in signs:
            xp = x.copy()
            xp[j] += sg * h
            pts.append(xp)
    if prob.nuisance:
        h_a = FD_STEP * (1.0 + np.abs(x[ng:]))
        for sg in signs:
            xp = x.copy()
            xp[ng:] += sg * h_a
            pts.append(xp)
    if hasattr(prob, "evaluate_batch"):
        Gs = list(prob.evaluate_batch(np.array(pts)))
    else:
        Gs = [prob.evaluate(xp)[1] for xp in pts]

    def diff(i, h):
        if G0 is not None:
            return (Gs[i] - G0) / h
        return (Gs[2 * i] - Gs[2 * i + 1]) / (2 * h)

    A = np.empty((ng, ng))
    B = np.zeros((ng, k if prob.nuisance else 0))
    for j in range(ng):
        dG = diff(j, steps[j])
        A[:, j] = dG[:, :ng].sum(axis=0)
        if prob.nuisance:
            B[j] = dG[:, ng]
    A = 0.5 * (A + A.T)
    if not prob.nuisance:
        return A, B, np.zeros(0)
    dG = diff(ng, h_a[:, None])
    B = 0.5 * (B + dG[:, :ng].T)
    return A, B, dG[:, ng]


def _solve_arrow(A, B, D, ga, gb):
    """Solve ``[[A, B], [Bᵀ, diag D]] [da; db] = [ga; gb]`` for a positive definite matrix (Schur
    complement on the diagonal block); raises ``LinAlgError`` if it is not positive definite."""
    if D.size:
        if np.any(D <= 0):
            raise np.linalg.LinAlgError("not positive definite")
        BD = B / D
        S = A - BD @ B.T
        L = np.linalg.cholesky(S)
        da = np.linalg.solve(L.T, np.linalg.solve(L, ga - BD @ gb))
        return da, (gb - B.T @ da) / D
    np.linalg.cholesky(A)  # raises unless A is positive definite
    return np.linalg.solve(A, ga), np.zeros(0)


def _maximise(prob, x0):
    """Newton's method with Levenberg damping and a backtracking line search on ``-Σ F``.

    The Hessian that steers the iteration is forward differences of the gradient. Problems with study
    intercepts recompute it every iteration (its arrowhead structure keeps that cheap); the others
    compute it once and then update it by BFGS from the gradients the line search has already
    evaluated, recomputing it only if an update would lose positive definiteness. At the end the
    Hessian is recomputed by central differences, for the standard errors. Returns
    ``(x, converged, iterations, (A, B, D), F)`` with ``F`` the per-study objective at ``x``."""
    x = np.array(x0, dtype=float)
    ng = prob.ng
    quasi = prob.nt > 0 and not prob.nuisance
    F, G = prob.evaluate(x)
    f = -F.sum()
    converged = False
    it = 0
    hess = None
    for it in range(1, MAXITER + 1):  # noqa: B007 (the count is returned after the loop)
        if hess is None or not quasi:
            hess = _hessian(prob, x, G)
        A, B, D = hess
        g = -G[:, :ng].sum(axis=0)
        gb = -G[:, ng] if prob.nuisance else np.zeros(0)
        lam = 0.0
        scale = max(1.0, float(np.max(np.abs(np.diag(A)))), float(np.max(np.abs(D))) if D.size else 0.0)
        accepted = False
        for _ in range(40):
            try:
                da, db = _solve_arrow(-A + lam * np.eye(ng), -B, -D + lam, -g, -gb)
            except np.linalg.LinAlgError:
                lam = max(4 * lam, 1e-8 * scale)
                continue
            step = np.concatenate([da, db])
            if lam == 0.0 and np.max(np.abs(step) / (1.0 + np.abs(x))) <= XTOL:
                # a Newton step below tolerance: take it without a line search (which cannot tell an
                # improvement of ~1e-16 from rounding); F moves by O(step²), below rounding too
                x = x + step
                converged = True
                break
            slope = float(g @ da + gb @ db)
            t = 1.0
            for _ in range(40):
                xn = x + t * step
                Fn, Gn = prob.evaluate(xn)
                fn = -Fn.sum()
                if np.isfinite(fn) and (fn <= f + 1e-4 * t * slope or fn - f <= 8e-16 * abs(f)):
                    accepted = True
                    break
                t *= 0.5
            if accepted:
                break
            lam = max(4 * lam, 1e-8 * scale)
        if converged or not accepted:
            break
        if quasi:  # BFGS update of M = -A from s = Δx, y = Δ(-gradient of ΣF)
            s_, y_ = t * step, -(Gn[:, :ng].sum(axis=0) - G[:, :ng].sum(axis=0))
            M = -A
            ys, Ms = float(y_ @ s_), M @ s_
            sMs = float(s_ @ Ms)
            if ys > 1e-12 * np.sqrt(float(y_ @ y_) * float(s_ @ s_)) and sMs > 0:
                M = M - np.outer(Ms, Ms) / sMs + np.outer(y_, y_) / ys
                hess = (-M, B, D)
            else:
                hess = None
        x, F, G, f = xn, Fn, Gn, fn
        if np.max(np.abs(t * step) / (1.0 + np.abs(x))) <= XTOL and lam == 0.0 and t == 1.0:
            converged = True
            break
    return x, converged, it, _hessian(prob, x), F


def _covariance_global(A, B, D):
    """Inverse of the observed information ``-∇²ΣF``, block of the global parameters: the inverse
    of the Schur complement ``-(A - B D⁻¹ Bᵀ)`` (equal to that block of the full inverse)."""
    S = -(A - (B / D) @ B.T) if D.size else -A
    try:
        return np.linalg.inv(S)
    except np.linalg.LinAlgError:
        return np.full_like(S, np.nan)


# =========================================================================== result


@dataclass(frozen=True)
class GLMMEstimate:
    """A GLMM fit (one meta-analysis), as metafor's ``rma.glmm`` + ``predict`` print it.

    Satisfies :class:`hipacu.models.protocol.SummaryEstimate`. Estimates are on the model's scale:
    log odds (PLO), log rate (IRLN), log odds ratio (OR), log rate ratio (IRR).

    Attributes
    ----------
    k : int
        Studies in the model (after dropping; see ``dropped``).
    measure, model, method : str
        As passed (``method`` ``"EE"`` or ``"FE"`` for the common-effect model, ``"ML"``).
    estimate, se, statistic, pval, ci_low, ci_high, level : float
        Pooled μ, its standard error (inverse observed information over all parameters), Wald z,
        two-sided p and ``level`` interval ``μ ± z_{1-α/2} se``.
    tau2 : float
        Between-study variance of the effect (0 for the common-effect model).
    sigma2 : float
        Variance of the random study intercepts (``UM.RS`` only; NaN otherwise).
    i2, h2, vt : float
        metafor's I² (percent), H² and the typical within-study variance ``ṽ`` (module docstring);
        NaN when ``k = 1``.
    pi_low, pi_high : float
        Prediction interval ``μ ± z sqrt(se² + τ²)`` (metafor ``predict``); the CI for ``EE``.
    loglik : float
        The maximised marginal log-likelihood (its AGQ or Laplace approximation), with all
        constants (``log C(n, x)``, ``-log x!``).
    loglik_conditional : float
        Log-likelihood at the conditional modes of the random effects (= ``loglik`` for common-effect
        fits). This is what metafor's ``logLik()`` reports for its glmer-based ML fits
        (``ll.QE - deviance(glmer)/2``).
    deviance : float
        ``-2 (loglik - loglik of the saturated model)``: the criterion lme4 minimises.
    qe_lrt, qe_lrt_pval, qe_df : float
        Likelihood-ratio test for heterogeneity: the common-effect model against the saturated one
        (metafor ``QE.LRT`` on ``k - 1`` df). NaN for ``UM.RS`` (whose saturated model is itself a
        mixed model) and for ``k = 1``.
    nagq : int
        Quadrature nodes (1 = Laplace; 0 for fits without an integral).
    converged : bool
        Whether Newton's method met ``XTOL``.
    iterations : int
        Newton iterations of the final fit.
    included, dropped : numpy.ndarray
        0-based indices of the studies in the model and of those left out (read-only).
    dropped_reason : str
        Why the studies in ``dropped`` were left out ("" if none were).
    """

    k: int
    measure: str
    model: str
    method: str
    estimate: float
    se: float
    statistic: float
    pval: float
    ci_low: float
    ci_high: float
    tau2: float
    sigma2: float
    i2: float
    h2: float
    vt: float
    pi_low: float
    pi_high: float
    level: float
    loglik: float
    loglik_conditional: float
    deviance: float
    qe_lrt: float
    qe_lrt_pval: float
    qe_df: float
    nagq: int
    converged: bool
    iterations: int
    included: np.ndarray
    dropped: np.ndarray
    dropped_reason: str

    @property
    def tau(self) -> float:
        """Between-study standard deviation ``sqrt(tau2)``."""
        return float(np.sqrt(self.tau2))

    @property
    def approximation(self) -> str:
        """How each study's integral was computed."""
        if self.nagq == 0:
            return "none (common-effect model: no random effect to integrate)"
        if self.nagq == 1:
            return "Laplace approximation"
        return f"adaptive Gauss-Hermite quadrature, {self.nagq} nodes"

    def to_frame(self):
        """One-row DataFrame of the scalar fields (the index arrays excluded)."""
        import pandas as pd

        skip = {"included", "dropped"}
        return pd.DataFrame([{f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}])

    def summary(self, digits: int = 4) -> str:
        """Readable text in the spirit of metafor's ``print.rma.glmm``."""
        f = f"{{:.{digits}f}}"
        lev = f"{100 * self.level:g}%"
        common = self.method in ("EE", "FE")
        head = ("Equal-Effects Model" if self.method == "EE" else "Fixed-Effects Model") if common else \
            "Random-Effects Model"
        head += f" (k = {self.k}" + ("" if common else "; tau^2 estimator: ML") + ")"
        lines = [head]
        if self.measure in ("OR", "IRR"):
            lines.append(f"Model Type: {_MODEL_NAMES[self.model]}")
        het = []
        if not common:
            het.append(f"tau^2 = {f.format(self.tau2)} (tau = {f.format(self.tau)})")
        if np.isfinite(self.sigma2):
            het.append(f"sigma^2 (random study intercepts) = {f.format(self.sigma2)}")
        if not common:
            het.append(f"I^2 = {self.i2:.2f}%   H^2 = {self.h2:.2f}")
        if np.isfinite(self.qe_lrt):
            het.append(f"LRT(df = {self.qe_df:g}) = {f.format(self.qe_lrt)}, {_pval_text(self.qe_lrt_pval)}")
        lines += ([""] + het) if het else []
        lines += [
            "",
            f"estimate = {f.format(self.estimate)}   se = {f.format(self.se)}   z = {self.statistic:.2f}   "
            f"{_pval_text(self.pval)}",
            f"{lev} CI {f.format(self.ci_low)} to {f.format(self.ci_high)}",
        ]
        if not common:
            lines.append(f"{lev} PI {f.format(self.pi_low)} to {f.format(self.pi_high)}")
        lines += ["", f"log-likelihood (marginal) = {f.format(self.loglik)}; integral: {self.approximation}"]
        if len(self.dropped):
            lines.append(f"Dropped: studies {', '.join(str(i) for i in self.dropped)} ({self.dropped_reason})")
        if not self.converged:
            lines.append(f"WARNING: Newton's method did not converge in {self.iterations} iterations")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


# =========================================================================== data handling


def _counts(values, name):
    return as_1d(values, name, nonnegative=True, integer=True)


def _not_more_than(events, total, ename, tname):
    bad = events > total
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{ename}[{i}] is {events[i]:g}; it must be <= {tname}[{i}] = {total[i]:g}")


def _unused(measure, given: dict, needed: tuple):
    extra = [n for n, v in given.items() if v is not None and n not in needed]
    if extra:
        raise ValueError(f"{', '.join(extra)} not used with measure={measure!r}; give {', '.join(needed)}")
    missing = [n for n in needed if given[n] is None]
    if missing:
        raise ValueError(f"measure={measure!r} needs {', '.join(needed)}; missing {', '.join(missing)}")


_NEEDED = {
    "PLO": ("events", "total"),
    "IRLN": ("events", "exposure"),
    "OR": ("events1", "total1", "events2", "total2"),
    "IRR": ("events1", "exposure1", "events2", "exposure2"),
}


def _read_data(measure, given):
    _unused(measure, given, _NEEDED[measure])
    if measure == "PLO":
        x, n = _counts(given["events"], "events"), as_1d(given["total"], "total", positive=True, integer=True)
        check_same_length(events=x, total=n)
        _not_more_than(x, n, "events", "total")
        return {"x": x, "n": n}
    if measure == "IRLN":
        x, t = _counts(given["events"], "events"), as_1d(given["exposure"], "exposure", positive=True)
        check_same_length(events=x, exposure=t)
        return {"x": x, "t": t}
    if measure == "OR":
        a, n1 = _counts(given["events1"], "events1"), as_1d(given["total1"], "total1", positive=True, integer=True)
        c, n2 = _counts(given["events2"], "events2"), as_1d(given["total2"], "total2", positive=True, integer=True)
        check_same_length(events1=a, total1=n1, events2=c, total2=n2)
        _not_more_than(a, n1, "events1", "total1")
        _not_more_than(c, n2, "events2", "total2")
        return {"a": a, "n1": n1, "c": c, "n2": n2}
    x1, t1 = _counts(given["events1"], "events1"), as_1d(given["exposure1"], "exposure1", positive=True)
    x2, t2 = _counts(given["events2"], "events2"), as_1d(given["exposure2"], "exposure2", positive=True)
    check_same_length(events1=x1, exposure1=t1, events2=x2, exposure2=t2)
    return {"x1": x1, "t1": t1, "x2": x2, "t2": t2}


def _drop(measure, d):
    """metafor's ``drop00 = TRUE``: indices kept, indices dropped, and why."""
    if measure == "OR":
        b, dd = d["n1"] - d["a"], d["n2"] - d["c"]
        none = (d["a"] == 0) & (d["c"] == 0)
        every = (b == 0) & (dd == 0)
        drop = none | every
        reason = " and ".join(s for s, m in (("no events in either arm", none), ("events for all in both arms", every))
                              if m.any())
    elif measure == "IRR":
        drop = (d["x1"] == 0) & (d["x2"] == 0)
        reason = "no events in either arm" if drop.any() else ""
    else:
        drop = np.zeros(len(next(iter(d.values()))), bool)
        reason = ""
    return np.flatnonzero(~drop), np.flatnonzero(drop), reason


def _sampling_variances(measure, d):
    """Large-sample variances of the study estimates after adding ½ to every cell of a study with a
    zero cell (metafor ``escalc(add = 1/2, to = "only0")``); used only for I² and the start value."""
    if measure == "PLO":
        x, m = d["x"], d["n"] - d["x"]
        add = np.where((x == 0) | (m == 0), 0.5, 0.0)
        return 1 / (x + add) + 1 / (m + add), np.log((x + add) / (m + add))
    if measure == "IRLN":
        x = d["x"]
        add = np.where(x == 0, 0.5, 0.0)
        return 1 / (x + add), np.log((x + add) / d["t"])
    if measure == "OR":
        cells = np.stack([d["a"], d["n1"] - d["a"], d["c"], d["n2"] - d["c"]])
        cells = cells + np.where((cells == 0).any(axis=0), 0.5, 0.0)
        return (1 / cells).sum(axis=0), np.log(cells[0] * cells[3] / (cells[1] * cells[2]))
    x = np.stack([d["x1"], d["x2"]])
    x = x + np.where((x == 0).any(axis=0), 0.5, 0.0)
    return (1 / x).sum(axis=0), np.log(x[0] / d["t1"]) - np.log(x[1] / d["t2"])


def _typical_variance(vi):
    """metafor's ``ṽ = (k - p) / tr P`` for the intercept-only model: ``(k-1) / (Σw - Σw²/Σw)``."""
    w = 1 / vi
    with np.errstate(invalid="ignore", divide="ignore"):
        return float((len(w) - 1) / (w.sum() - (w * w).sum() / w.sum()))


def _dl_tau2(yi, vi):
    w = 1 / vi
    if len(w) < 2:
        return 0.0
    mu = (w * yi).sum() / w.sum()
    q = (w * (yi - mu) ** 2).sum()
    return max(0.0, (q - (len(w) - 1)) / (w.sum() - (w * w).sum() / w.sum()))


def _design(measure, model, d, random: bool, nagq: int):
    """The likelihood problem of one model, and a start vector for its fixed effects."""
    k = len(next(iter(d.values())))
    ones1 = np.ones((k, 1))
    if measure in ("PLO", "IRLN"):
        if measure == "PLO":
            fam, off = _Binomial(d["x"][:, None], d["n"][:, None]), np.zeros((k, 1))
            start = [special.logit((d["x"].sum() + 0.5) / (d["n"].sum() + 1.0))]
        else:
            fam, off = _Poisson(d["x"][:, None]), np.log(d["t"])[:, None]
            start = [math.log((d["x"].sum() + 0.5) / d["t"].sum())]
        return _Problem(fam, ones1[:, :, None], off, ones1 if random else None, False, nagq), np.array(start)
    if model == "CM.EL" and measure == "OR":
        a, c, n1, n2 = d["a"], d["c"], d["n1"], d["n2"]
        fam = _NoncentralHypergeometric(a, n1, n2, a + c)
        return _Problem(fam, ones1[:, :, None], np.zeros((k, 1)), ones1 if random else None, False, nagq), np.zeros(1)
    if model in ("CM.EL", "CM.AL"):  # binomial on the first arm's share of the events
        if measure == "OR":
            y, n, off = d["a"], d["a"] + d["c"], np.log(d["n1"] / d["n2"])
        else:
            y, n, off = d["x1"], d["x1"] + d["x2"], np.log(d["t1"] / d["t2"])
        fam = _Binomial(y[:, None], n[:, None])
        return _Problem(fam, ones1[:, :, None], off[:, None], ones1 if random else None, False, nagq), np.zeros(1)
    # unconditional models: two observations per study, arm 1 then arm 2
    if measure == "OR":
        y = np.column_stack([d["a"], d["c"]])
        n = np.column_stack([d["n1"], d["n2"]])
        fam, off = _Binomial(y, n), np.zeros((k, 2))
        alpha0 = special.logit((y.sum(axis=1) + 0.5) / (n.sum(axis=1) + 1.0))
        pooled0 = special.logit((y.sum() + 0.5) / (n.sum() + 1.0))
    else:
        y = np.column_stack([d["x1"], d["x2"]])
        t = np.column_stack([d["t1"], d["t2"]])
        fam, off = _Poisson(y), np.log(t)
        alpha0 = np.log((y.sum(axis=1) + 0.5) / t.sum(axis=1))
        pooled0 = math.log((y.sum() + 0.5) / t.sum())
    group1 = np.tile([1.0, 0.0], (k, 1))
    group12 = np.tile([0.5, -0.5], (k, 1))
    if model == "UM.FS":
        prob = _Problem(fam, group1[:, :, None], off, group12 if random else None, True, nagq)
        return prob, np.concatenate([[0.0], alpha0])
    # UM.RS: fixed effects (μ, α), a random study intercept, and (ML) the random effect on group12
    X = np.stack([group1, np.ones((k, 2))], axis=2)
    if random:
        return _LaplaceProblem(fam, X, off, np.stack([np.ones((k, 2)), group12], axis=2)), np.array([0.0, pooled0])
    return _Problem(fam, X, off, np.ones((k, 2)), False, nagq), np.array([1.0, 0.0, pooled0])


def _check_nagq(nagq, model, measure):
    if nagq is None:
        return NAGQ_CONDITIONAL if (model == "CM.EL" and measure == "OR") else NAGQ
    if isinstance(nagq, bool) or not isinstance(nagq, (int, np.integer)) or nagq < 1:
        raise ValueError(f"nagq={nagq!r} is not allowed; it must be a whole number >= 1 (metafor's default is 7)")
    return int(nagq)


def _fit(measure, model, d, random, nagq, yi, vi):
    """Fit the common-effect model (always: it is the EE result, the ML start and the LRT's null) and,
    if ``random``, the ML model from there. Returns the problems, parameter vectors and Hessians."""
    prob_ee, x0 = _design(measure, model, d, False, nagq)
    x_ee, conv, its, hess, F = _maximise(prob_ee, x0)
    out = {"prob_ee": prob_ee, "x_ee": x_ee, "prob": prob_ee, "x": x_ee, "converged": conv, "iterations": its,
           "hess": hess, "F": F}
    if not random:
        return out
    prob, _ = _design(measure, model, d, True, nagq)
    theta0 = max(math.sqrt(_dl_tau2(yi, vi)), 0.3)
    if isinstance(prob, _LaplaceProblem):
        # (σ, τ, μ, α): σ from the common-effect UM.RS fit's random intercept
        x_start = np.concatenate([[abs(x_ee[0]), theta0], x_ee[1:]])
    else:
        x_start = np.concatenate([[theta0], x_ee])
    x, conv, its, hess, F = _maximise(prob, x_start)
    out.update(prob=prob, x=x, converged=conv, iterations=its, hess=hess, x_start=x_start, F=F)
    return out


# =========================================================================== public function


def glmm(*, measure, events=None, total=None, exposure=None,
         events1=None, total1=None, events2=None, total2=None, exposure1=None, exposure2=None,
         model="UM.FS", method="ML", level=0.95, nagq=None) -> GLMMEstimate:
    """Fit a generalised linear mixed model to counts (metafor ``rma.glmm``).

    Parameters
    ----------
    measure : {"PLO", "IRLN", "OR", "IRR"}
        ``"PLO"``: log odds of a proportion, from ``events`` of ``total`` (binomial-normal model).
        ``"IRLN"``: log incidence rate, from ``events`` in ``exposure`` (Poisson-normal model).
        ``"OR"``: log odds ratio of two arms, from ``events1`` of ``total1`` and ``events2`` of
        ``total2``. ``"IRR"``: log rate ratio, from ``events1`` in ``exposure1`` and ``events2`` in
        ``exposure2``.
    model : str
        ``"UM.FS"`` (default; the only one for PLO and IRLN), and for OR ``"UM.RS"``, ``"CM.EL"``,
        ``"CM.AL"``, for IRR ``"CM.EL"`` (see the module docstring for each likelihood).
    method : {"ML", "EE", "FE"}
        ``"ML"``: normal random effect, τ² by maximum likelihood (needs k >= 2). ``"EE"`` (``"FE"``
        is the same): common effect, τ² = 0.
    level : float
        Confidence level of the CI and prediction interval (0.95, not 95).
    nagq : int, optional
        Quadrature nodes per study: default 7 (metafor's ``nAGQ``), 31 for OR + CM.EL. Ignored by
        OR + UM.RS + ML, which uses the Laplace approximation as metafor does.

    Returns
    -------
    GLMMEstimate

    Raises
    ------
    ValueError
        On a negative or fractional count, events above their total, a non-positive total or
        exposure, mismatched lengths, an unknown measure/model/method, no study left after the
        double-zero drop, or ``method="ML"`` with fewer than two studies (metafor stops there too).

    Warns
    -----
    ConvergenceWarning
        When Newton's method does not converge (e.g. an infinite MLE, as when one arm has no events
        in any study); the result then has ``converged=False`` and holds the last iterate.

    Notes
    -----
    Equivalent metafor call: ``rma.glmm(measure=, xi=, ni= | xi=, ti= | ai=, n1i=, ci=, n2i= |
    x1i=, t1i=, x2i=, t2i=, model=, method=)`` with its defaults (``nAGQ = 7``, ``drop00 = TRUE``,
    ``coding = 1/2``, z tests). References: Stijnen, Hamza & Özdemir (2010), Stat Med 29:3046;
    Hamza, van Houwelingen & Stijnen (2008), J Clin Epidemiol 61:41; Turner et al. (2000), Stat Med
    19:3417; van Houwelingen, Zwinderman & Stijnen (1993), Stat Med 12:2273; Pinheiro & Bates
    (1995), J Comput Graph Stat 4:12 (AGQ); Bates et al. (2015), J Stat Softw 67(1) (lme4).
    """
    measure = check_choice(measure, "measure", MEASURES)
    model = check_choice(model, f"model (for measure={measure!r})", MODELS[measure])
    method = check_choice(method, "method", METHODS)
    level = check_level(level)
    nagq = _check_nagq(nagq, model, measure)
    given = {"events": events, "total": total, "exposure": exposure, "events1": events1, "total1": total1,
             "events2": events2, "total2": total2, "exposure1": exposure1, "exposure2": exposure2}
    data = _read_data(measure, given)
    included, dropped, reason = _drop(measure, data)
    k = len(included)
    if k == 0:
        raise ValueError(f"no study is left after dropping {len(dropped)} with {reason}; nothing to pool")
    random = method == "ML"
    if random and k < 2:
        raise ValueError(f"method='ML' needs at least 2 studies (k = {k}); use method='EE' for one study")
    if model == "UM.RS" and k < 2:
        raise ValueError("model='UM.RS' needs at least 2 studies: with one table the variance of the random "
                         f"study intercepts is not identified (k = {k})")
    d = {key: v[included] for key, v in data.items()}
    vi, yi = _sampling_variances(measure, d)
    fit = _fit(measure, model, d, random, nagq, yi, vi)
    prob, x, converged, iterations, hess = fit["prob"], fit["x"], fit["converged"], fit["iterations"], fit["hess"]
    prob_ee, x_ee = fit["prob_ee"], fit["x_ee"]
    ll_ee_obs = prob_ee.fam.terms(prob_ee.split(x_ee)[1], 0)[0] if prob_ee.nt == 0 else None
    const = prob_ee.fam.constant()
    sat = prob_ee.fam.saturated()
    sigma2 = float("nan")

    if not converged:
        warnings.warn(f"glmm({measure}, {model}, {method}): Newton's method did not converge in {iterations} "
                      "iterations; the result holds the last iterate (converged=False). An infinite estimate "
                      "(e.g. no events in one arm of every study) is the usual cause.",
                      ConvergenceWarning, stacklevel=user_stacklevel())

    cov = _covariance_global(*hess)
    nt = prob.nt
    mu = float(x[nt])
    se = float(np.sqrt(cov[nt, nt])) if cov[nt, nt] >= 0 else float("nan")
    if isinstance(prob, _LaplaceProblem):  # UM.RS + ML: θ = (σ, τ)
        sigma2, tau2 = float(x[0] ** 2), float(x[1] ** 2)
    elif model == "UM.RS":  # UM.RS + EE: θ = σ, the random study intercepts
        sigma2, tau2 = float(x[0] ** 2), 0.0
    else:
        tau2 = float(x[0] ** 2) if random else 0.0
    stat, pval, lo, hi = wald(mu, se, level)

    F = fit["F"]
    loglik = float(F.sum() + const.sum())
    loglik_cond = float((prob.conditional(x) + const).sum())
    deviance = float(-2 * (F.sum() - sat.sum()))
    if model == "UM.RS" or k < 2:
        qe = qe_p = qe_df = float("nan")
    else:
        qe = max(0.0, float(-2 * (ll_ee_obs.sum() - sat.sum())))
        qe_df = float(k - 1)
        qe_p = float(q_pval(qe, qe_df))

    vt = _typical_variance(vi)
    with np.errstate(invalid="ignore", divide="ignore"):
        i2 = float(100 * tau2 / (vt + tau2)) if np.isfinite(vt) else float("nan")
        h2 = float(tau2 / vt + 1) if np.isfinite(vt) else float("nan")
    if random:
        crit = float(critical_value(level))
        half = crit * math.sqrt(se**2 + tau2)
        pi_low, pi_high = mu - half, mu + half
    else:
        pi_low, pi_high = float(lo), float(hi)

    return GLMMEstimate(
        k=k, measure=measure, model=model, method=method, estimate=mu, se=se, statistic=float(stat),
        pval=float(pval), ci_low=float(lo), ci_high=float(hi), tau2=tau2, sigma2=sigma2, i2=i2, h2=h2, vt=vt,
        pi_low=float(pi_low), pi_high=float(pi_high), level=level, loglik=loglik, loglik_conditional=loglik_cond,
        deviance=deviance, qe_lrt=qe, qe_lrt_pval=qe_p, qe_df=qe_df,
        nagq=(1 if isinstance(prob, _LaplaceProblem) else (nagq if prob.nt else 0)),
        converged=bool(converged), iterations=int(iterations), included=frozen_array(included, int),
        dropped=frozen_array(dropped, int), dropped_reason=reason,
    )


# =========================================================================== exact pooled rate

#: ``kind`` values of :func:`exact_rate`.
EXACT_KINDS = ("binomial", "poisson")
#: Relative tolerance for "as likely as the observed count" in the two-sided exact p-value (R's
#: ``binom.test`` / ``poisson.test`` use ``1 + 1e-7``).
EXACT_TIE = 1 + 1e-7


@dataclass(frozen=True)
class ExactRate:
    """Exact interval for a pooled proportion or rate under a common effect (:func:`exact_rate`).

    Satisfies :class:`hipacu.models.protocol.SummaryEstimate`. ``estimate``, ``ci_low`` and
    ``ci_high`` are on the logit scale (``kind="binomial"``) or the log scale (``"poisson"``), like
    :func:`glmm` with ``measure="PLO"`` / ``"IRLN"``; ``proportion`` / ``rate`` give them back on the
    natural scale. ``se`` is the large-sample standard error of that logit or log (``sqrt(1/x + 1/(n-x))``,
    ``1/sqrt(x)``; infinite when ``x = 0`` or ``x = n``): it is the common-effect GLM's and is *not* used
    for the interval. ``pval`` is the two-sided exact test of logit = 0 (p = ½) or log rate = 0
    (rate = 1 per unit of exposure). ``tau2 = 0``; ``i2`` is NaN (no heterogeneity statistic is
    computed); ``pi_low``/``pi_high`` equal the CI.
    """

    k: int
    kind: str
    events: float
    total: float
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    pval: float
    level: float
    method: str = "exact"
    tau2: float = 0.0
    i2: float = float("nan")
    converged: bool = True

    @property
    def pi_low(self) -> float:
        return self.ci_low

    @property
    def pi_high(self) -> float:
        return self.ci_high

    def natural(self) -> tuple[float, float, float]:
        """``(estimate, ci_low, ci_high)`` as a proportion (binomial) or a rate (poisson)."""
        back = special.expit if self.kind == "binomial" else np.exp
        return float(back(self.estimate)), float(back(self.ci_low)), float(back(self.ci_high))

    def to_frame(self):
        """One-row DataFrame of the fields (the prediction interval included)."""
        import pandas as pd

        row = {f.name: getattr(self, f.name) for f in fields(self)}
        row.update(pi_low=self.pi_low, pi_high=self.pi_high)
        return pd.DataFrame([row])

    def summary(self, digits: int = 4) -> str:
        f = f"{{:.{digits}f}}"
        lev = f"{100 * self.level:g}%"
        est, lo, hi = self.natural()
        name, scale = ("Clopper-Pearson", "logit") if self.kind == "binomial" else ("Garwood", "log")
        what = "proportion" if self.kind == "binomial" else "rate"
        return "\n".join([
            f"Exact pooled {what} ({name}; k = {self.k}): {self.events:g} events / {self.total:g}",
            "",
            f"{what} = {f.format(est)}   {lev} CI {f.format(lo)} to {f.format(hi)}",
            f"{scale} scale: estimate = {f.format(self.estimate)}   {lev} CI {f.format(self.ci_low)} to "
            f"{f.format(self.ci_high)}   exact {_pval_text(self.pval)}",
        ])

    def __str__(self) -> str:
        return self.summary()


def _binom_two_sided(x: int, n: int) -> float:
    """Exact two-sided p of ``x ~ Bin(n, ½)``: the probability of every count no more likely than
    ``x`` (the definition R's ``binom.test`` uses)."""
    i = np.arange(n + 1)
    logp = _log_choose(float(n), i.astype(float)) - n * math.log(2.0)
    d = logp[x] + math.log(EXACT_TIE)
    return float(min(1.0, np.exp(logp[logp <= d]).sum()))


def _poisson_two_sided(x: int, m: float) -> float:
    """Exact two-sided p of ``x ~ Pois(m)``: ``P(X <= x) + P(X >= j)`` (or mirrored), where ``j`` is the
    first count past the mode no more likely than ``x`` (R's ``poisson.test`` definition)."""
    def logpmf(i):
        return special.xlogy(i, m) - m - special.gammaln(np.asarray(i, float) + 1)

    if m == 0:
        return 1.0 if x == 0 else 0.0
    d = logpmf(x) + math.log(EXACT_TIE)
    if x == m:
        return 1.0
    if x < m:
        j = math.ceil(m)
        hi = max(j, 2 * math.ceil(m) + 10)
        while logpmf(hi) > d:
            hi *= 2
        cand = np.arange(j, hi + 1)
        first = int(cand[np.argmax(logpmf(cand) <= d)])  # pmf decreases past the mode
        return float(min(1.0, special.pdtr(x, m) + special.pdtrc(first - 1, m)))
    cand = np.arange(0, math.floor(m) + 1)
    ok = logpmf(cand) <= d
    below = special.pdtr(int(cand[ok].max()), m) if ok.any() else 0.0
    return float(min(1.0, below + special.pdtrc(x - 1, m)))


def exact_rate(events, total, *, kind="binomial", level=0.95) -> ExactRate:
    """Exact interval for the pooled proportion ``Σx/Σn`` or rate ``Σx/Σt`` (common effect).

    Parameters
    ----------
    events : array-like
        Event counts per study.
    total : array-like
        Participants per study (``kind="binomial"``) or exposure, e.g. person-years (``"poisson"``).
    kind : {"binomial", "poisson"}
    level : float

    Returns
    -------
    ExactRate
        On the logit (binomial) or log (poisson) scale, comparable with
        ``glmm(measure="PLO" | "IRLN", method="EE")``, whose estimate is the same ``Σx/Σn``.

    Notes
    -----
    Pooling the counts assumes one common proportion or rate. Binomial: Clopper & Pearson (1934),
    ``p_L = B⁻¹(α/2; x, n - x + 1)``, ``p_U = B⁻¹(1 - α/2; x + 1, n - x)`` (``p_L = 0`` if x = 0,
    ``p_U = 1`` if x = n); R ``binom.test(sum(x), sum(n))``. Poisson: Garwood (1936),
    ``λ_L = G⁻¹(α/2; x) / t``, ``λ_U = G⁻¹(1 - α/2; x + 1) / t`` with ``G`` the unit-scale gamma
    distribution (``λ_L = 0`` if x = 0); R ``poisson.test(sum(x), sum(t))``. The limits 0 and 1 are
    ``-inf`` / ``+inf`` on the logit or log scale.
    """
    kind = check_choice(kind, "kind", EXACT_KINDS)
    level = check_level(level)
    x = _counts(events, "events")
    if kind == "binomial":
        n = as_1d(total, "total", positive=True, integer=True)
        check_same_length(events=x, total=n)
        _not_more_than(x, n, "events", "total")
    else:
        n = as_1d(total, "total", positive=True)
        check_same_length(events=x, total=n)
    X, N = float(x.sum()), float(n.sum())
    alpha = 1 - level
    with np.errstate(divide="ignore"):
        if kind == "binomial":
            lo = 0.0 if X == 0 else float(special.betaincinv(X, N - X + 1, alpha / 2))
            hi = 1.0 if X == N else float(special.betaincinv(X + 1, N - X, 1 - alpha / 2))
            est, lo, hi = (float(special.logit(v)) for v in (X / N, lo, hi))
            se = math.sqrt(1 / X + 1 / (N - X)) if 0 < X < N else math.inf
            p = _binom_two_sided(int(X), int(N))
        else:
            lo = 0.0 if X == 0 else float(special.gammaincinv(X, alpha / 2)) / N
            hi = float(special.gammaincinv(X + 1, 1 - alpha / 2)) / N
            est, lo, hi = (float(np.log(v)) for v in (X / N, lo, hi))
            se = 1 / math.sqrt(X) if X > 0 else math.inf
            p = _poisson_two_sided(int(X), N)
    return ExactRate(k=len(x), kind=kind, events=X, total=N, estimate=est, se=se, ci_low=lo, ci_high=hi, pval=p,
                     level=level)
