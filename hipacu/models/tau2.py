"""The between-study variance (τ²) estimators: one registry over a design matrix.

Every estimator is written once, as metafor 3.8 ``rma.uni`` defines it for the model
``y = X β + u + ε`` (``u ~ N(0, τ²)``, ``ε ~ N(0, v)``), in terms of a few quantities of the
projection ``P = W - W X (X'WX)⁻¹ X'W`` with ``W = diag(1/(v + τ²))``:

* ``Q(τ²) = y'Py = Σ w e²`` (``e`` the weighted least-squares residuals),
* ``y'PPy = Σ (w e)²`` and ``y'PPPy``,
* ``tr P`` and ``tr PP``, and the generalised moment traces for arbitrary fixed weights.

Those quantities come from a *space*: the data of many analyses laid out for fast reductions.

* :class:`InterceptSpace` is the intercept-only model (``X = 1``, plain pooling), many analyses
  with absent studies masked, laid out studies × analyses so each sum is one reduction;
* :class:`DesignSpace` is a meta-regression on a shared design matrix, analyses × studies, with
  every trace computed from p × p products in the orthonormal basis of ``X``;
* :class:`ScalarSpace` is one small intercept-only analysis in plain Python floats (a single
  ``pool`` call of k = 10 spends its time in call overhead, not in arithmetic).

The intercept-only formulas are the design-matrix ones with ``X = 1`` (e.g. ``tr P = Σw - Σw²/Σw``);
the spaces differ in speed, not in what they compute. ML and REML share one iteration step
(:func:`_score_step`) at every speed: a Newton step where the likelihood is locally concave and
agrees with the Fisher-scoring step, Fisher scoring elsewhere, a bracket on the score's root with
bisection on overshoot, secant extrapolation where Fisher steps crawl, and metafor's check that
τ² = 0 does not have a higher likelihood (``ll0check``). PM and EB solve the same estimating
equation ``y'P(τ²)y = k - p`` (Paule & Mandel 1982; Morris 1983, whose fixed point
``y'Py k/(k-p) = k`` is the same equation) with one safeguarded Newton solver.

Registry: :data:`TAU2_ESTIMATORS`, keyed by metafor's method codes. Each estimator has the
signature ``f(space, tol, maxiter) -> (tau2, converged)``; ``tau2`` is untruncated (the caller
truncates at 0 once) and ``converged`` is ``None`` for closed forms.
"""

from __future__ import annotations

import math
import operator
import warnings
from typing import Callable

import numpy as np

from hipacu.exceptions import ConvergenceWarning, user_stacklevel

__all__ = ["TAU2_ESTIMATORS", "TOL", "MAXITER", "InterceptSpace", "DesignSpace", "ScalarSpace", "estimate_tau2"]

#: Convergence tolerance of the iterative estimators: ``|Δτ²| <= TOL * (1 + τ²)``.
TOL = 1e-12
#: Iteration cap of the iterative estimators.
MAXITER = 1000
#: After this many bisections in a row toward zero (no positive score seen), try τ² = 0 itself.
_BISECT_TO_ZERO = 3


# --------------------------------------------------------------------------- small linear algebra


def _inv(A: np.ndarray) -> np.ndarray:
    """Inverse of a stack of small symmetric positive-definite matrices ``(n, p, p)``.

    Closed forms for p = 1 and p = 2 (a batched LAPACK call costs more than the arithmetic for
    thousands of 2 × 2 systems); LU (``numpy.linalg.inv``) otherwise.
    """
    p = A.shape[-1]
    if p == 1:
        return 1.0 / A
    if p == 2:
        a, b, d = A[:, 0, 0], A[:, 0, 1], A[:, 1, 1]
        det = a * d - b * b
        out = np.empty_like(A)
        out[:, 0, 0] = d / det
        out[:, 1, 1] = a / det
        out[:, 0, 1] = out[:, 1, 0] = -b / det
        return out
    return np.linalg.inv(A)


def _rowsum(a: np.ndarray) -> np.ndarray:
    """Row sums of a 2-D array (a matrix-vector product: faster than ``sum(axis=1)`` for short rows)."""
    return a @ np.ones(a.shape[1])


def _mv(A: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``A[n] @ x[n]`` for a stack of p × p matrices and p-vectors."""
    p = A.shape[-1]
    if p <= 3:
        return np.stack([sum(A[:, i, j] * x[:, j] for j in range(p)) for i in range(p)], axis=1)
    return np.einsum("nij,nj->ni", A, x)


def _mm(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``A[n] @ B[n]`` for stacks of p × p matrices (explicit sums for p <= 3)."""
    p = A.shape[-1]
    if p <= 3:
        out = np.empty_like(A)
        for i in range(p):
            for j in range(p):
                out[:, i, j] = sum(A[:, i, m] * B[:, m, j] for m in range(p))
        return out
    return A @ B


def _tr(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``tr(A B)`` for stacks of symmetric matrices (element-wise product summed)."""
    n = A.shape[0]
    return (A * B).reshape(n, -1) @ np.ones(A.shape[1] * A.shape[2])


class Design:
    """A design matrix in orthonormal coordinates.

    ``X = Q R`` (thin QR); the fits run on ``Z = Q`` (so ``Z'WZ`` has the condition number of the
    weights, not of ``X'X`` -- a moderator such as the publication year next to an intercept would
    otherwise cost five or more digits) and coefficients are mapped back with ``β = R⁻¹ γ``,
    ``Var(β) = R⁻¹ Var(γ) R⁻ᵀ``. ``P``, the fitted values and every τ² estimator depend on the column
    span only, so they are unchanged. ``O[i] = z_i z_i'`` (flattened) turns every cross-product into a
    matrix product.
    """

    __slots__ = ("X", "Z", "Rinv", "K", "O", "k", "p")

    def __init__(self, X: np.ndarray):
        self.X = X
        self.k, self.p = X.shape
        Q, R = np.linalg.qr(X)
        self.Z = Q
        self.Rinv = np.linalg.inv(R)
        self.K = np.kron(self.Rinv, self.Rinv).T  # vec(R⁻¹ V R⁻ᵀ) = (R⁻¹ ⊗ R⁻¹) vec(V), row-major
        self.O = (Q[:, :, None] * Q[:, None, :]).reshape(self.k, self.p * self.p)

    def cross(self, a: np.ndarray) -> np.ndarray:
        """``Z' diag(a_r) Z`` for every row ``a_r`` of ``a`` (n, k) -> (n, p, p)."""
        return (a @ self.O).reshape(-1, self.p, self.p)

    def wls(self, Y: np.ndarray, a: np.ndarray):
        """Weighted least squares of each row of ``Y`` on ``Z`` with weights ``a``: ((Z'AZ)⁻¹, γ, e)."""
        Ainv = _inv(self.cross(a))
        g = _mv(Ainv, (a * Y) @ self.Z)
        return Ainv, g, Y - g @ self.Z.T

    def to_x(self, g: np.ndarray, Vg: np.ndarray):
        """Coefficients and their covariance in the coordinates of ``X``."""
        n = len(g)
        return g @ self.Rinv.T, (Vg.reshape(n, -1) @ self.K).reshape(n, self.p, self.p)


# --------------------------------------------------------------------------- spaces


class InterceptSpace:
    """Many intercept-only analyses, laid out studies × analyses (axis 0 = studies), so every sum is
    a fast reduction over a few contiguous rows. ``m`` is the presence mask (1/0), or ``None`` when
    no study is absent. ``w0`` (the fixed-effect weights 1/v) and scratch buffers are made once and
    reused: at 100,000 analyses every fresh array costs page faults, and a division costs more than
    any other step."""

    __slots__ = ("y", "v", "m", "k", "_w0", "_fe", "_buf")
    p = 1

    def __init__(self, y: np.ndarray, v: np.ndarray, m: np.ndarray | None, k: np.ndarray):
        self.y, self.v, self.m, self.k = y, v, m, k
        self._w0 = None
        self._fe = None
        self._buf: list[np.ndarray] = []

    @classmethod
    def from_columns(cls, y: np.ndarray, v: np.ndarray, *, complete: bool = False) -> "InterceptSpace":
        """From studies × analyses arrays with NaN marking absent studies (``complete=True``: the
        caller has checked that nothing is absent)."""
        absent = None if complete else np.isnan(y)
        if absent is not None and absent.any():
            m = (~absent).astype(float)
            return cls(np.where(absent, 0.0, y), np.where(absent, 1.0, v), m, m.sum(axis=0))
        return cls(np.ascontiguousarray(y), np.ascontiguousarray(v), None, np.full(y.shape[1], float(y.shape[0])))

    @property
    def n(self) -> int:
        return len(self.k)

    def take(self, idx: np.ndarray) -> "InterceptSpace":
        return InterceptSpace(self.y[:, idx], self.v[:, idx], None if self.m is None else self.m[:, idx], self.k[idx])

    @property
    def w0(self) -> np.ndarray:
        """Fixed-effect weights ``1/v`` (0 for absent studies); computed once."""
        if self._w0 is None:
            self._w0 = self.weights(0.0)
        return self._w0

    def fixed_effect(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(Σw, μ̂, Q, Σw²)`` with the fixed-effect weights ``w = 1/v``, computed once: Cochran's Q,
        the DerSimonian-Laird estimator and I² all read them."""
        if self._fe is None:
            w = self.w0
            mu, sw = self.wmean(w)
            r = self.y - mu
            self._fe = (sw, mu, np.einsum("ij,ij,ij->j", w, r, r), np.einsum("ij,ij->j", w, w))
        return self._fe

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

    # -- the quantities the estimators need (X = 1)

    def moment(self, a: np.ndarray | None) -> np.ndarray:
        """``(Q_a - tr(P_a V)) / tr(P_a)`` with fixed weights ``a`` (``None``: unit weights); with
        ``X = 1``: ``tr(P_a V) = Σav - Σa²v/Σa`` and ``tr P_a = Σa - Σa²/Σa``. With ``a = 1/v``
        (DerSimonian-Laird) ``tr(P_a V) = k - 1`` and ``Q_a`` is Cochran's Q, both already known."""
        if a is self._w0 and a is not None:
            sw, _, q, sw2 = self.fixed_effect()
            return (q - (self.k - 1)) / (sw - sw2 / sw)
        if a is None:
            ones = self.m
            if ones is None:
                r = self.y - self.y.mean(axis=0)
                sv = self.v.sum(axis=0)
            else:
                r = (self.y - (self.y * ones).sum(axis=0) / self.k) * ones
                sv = (self.v * ones).sum(axis=0)
            return (np.einsum("ij,ij->j", r, r) - sv * (self.k - 1) / self.k) / (self.k - 1)
        mu, sa = self.wmean(a)
        r = self.y - mu
        qa = np.einsum("ij,ij,ij->j", a, r, r)
        av = a * self.v
        num = qa - (av.sum(axis=0) - np.einsum("ij,ij->j", a, av) / sa)
        return num / (sa - np.einsum("ij,ij->j", a, a) / sa)

    def q_fixed(self, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(Q_a, Σa)``: the weighted residual sum of squares and the weight total for weights ``a``."""
        mu, sa = self.wmean(a)
        r = self.y - mu
        return np.einsum("ij,ij,ij->j", a, r, r), sa

    def unweighted_spread(self) -> np.ndarray:
        """``Σ (y - ȳ)² / k`` with the unweighted mean (Sidik & Jonkman's start)."""
        ones = np.ones_like(self.y) if self.m is None else self.m
        mu0, _ = self.wmean(ones)
        return (ones * (self.y - mu0) ** 2).sum(axis=0) / self.k

    def q_and_slope(self, tau2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(y'Py, -y'PPy)`` at ``tau2``: the generalised Q and its derivative in τ²."""
        w = self.weights(tau2)
        mu, _ = self.wmean(w)
        wr = w * (self.y - mu)
        return np.einsum("ij,ij->j", wr, self.y - mu), -np.einsum("ij,ij->j", wr, wr)

    def score_steps(self, tau2: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
        """Fisher-scoring and Newton steps of the ML or REML likelihood (see :func:`_score_step`).

        ``Σw²r² = y'PPy``; ``tr P = Σw - Σw²/Σw``; ``tr PP = Σw² - 2Σw³/Σw + (Σw²/Σw)²``;
        ``y'PPPy = Σw³r² - (Σw²r)²/Σw`` (Viechtbauer 2005, eqs. 15-16).
        """
        w, wr, b = self.buffers(3)
        self.weights(tau2, out=w)
        sw = w.sum(axis=0)
        mu = np.einsum("ij,ij->j", w, self.y) / sw
        np.subtract(self.y, mu, out=wr)
        wr *= w
        yppy = np.einsum("ij,ij->j", wr, wr)
        np.multiply(wr, wr, out=b)
        w3r2 = np.einsum("ij,ij->j", b, w)
        w2r = np.einsum("ij,ij->j", wr, w)
        np.multiply(w, w, out=b)
        sw2 = b.sum(axis=0)
        ypppy = w3r2 - w2r * w2r / sw
        if kind == "ML":
            return _steps(yppy, sw, sw2, ypppy)
        sw3 = np.einsum("ij,ij->j", b, w)
        return _steps(yppy, sw - sw2 / sw, sw2 - 2 * sw3 / sw + (sw2 / sw) ** 2, ypppy)

    def loglik(self, tau2: np.ndarray, kind: str) -> np.ndarray:
        """ML or REML log-likelihood (up to a constant)."""
        w = self.weights(tau2)
        mu, sw = self.wmean(w)
        logv = np.log(self.v + tau2)
        if self.m is not None:
            logv = logv * self.m
        ll = -0.5 * logv.sum(axis=0) - 0.5 * (w * (self.y - mu) ** 2).sum(axis=0)
        if kind == "REML":
            ll -= 0.5 * np.log(sw)
        return ll


class DesignSpace:
    """Many meta-regressions sharing one design (rows of ``Y``, ``V`` = fits; columns = studies)."""

    __slots__ = ("Y", "V", "d", "k")

    def __init__(self, Y: np.ndarray, V: np.ndarray, d: Design):
        self.Y, self.V, self.d = Y, V, d
        self.k = np.full(len(Y), float(d.k))

    @property
    def p(self) -> int:
        return self.d.p

    @property
    def n(self) -> int:
        return len(self.Y)

    def take(self, idx: np.ndarray) -> "DesignSpace":
        return DesignSpace(self.Y[idx], self.V[idx], self.d)

    @property
    def w0(self) -> np.ndarray:
        return 1 / self.V

    def moment(self, a: np.ndarray | None) -> np.ndarray:
        """``(Q_a - tr(P_a V)) / tr(P_a)`` with fixed weights ``a`` (``None``: unit weights);
        ``tr(P_a V) = Σav - tr((X'AX)⁻¹ X'AVAX)``, ``tr P_a = Σa - tr((X'AX)⁻¹ X'A²X)``."""
        d = self.d
        a = np.ones_like(self.Y) if a is None else a
        Ainv, _, e = d.wls(self.Y, a)
        trpv = _rowsum(a * self.V) - _tr(Ainv, d.cross(a * a * self.V))
        trp = _rowsum(a) - _tr(Ainv, d.cross(a * a))
        return (_rowsum(a * e * e) - trpv) / trp

    def q_fixed(self, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        _, _, e = self.d.wls(self.Y, a)
        return _rowsum(a * e * e), _rowsum(a)

    def unweighted_spread(self) -> np.ndarray:
        return ((self.Y - self.Y.mean(axis=1, keepdims=True)) ** 2).mean(axis=1)

    def q_and_slope(self, tau2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w = 1 / (self.V + tau2[:, None])
        _, _, e = self.d.wls(self.Y, w)
        we = w * e
        return _rowsum(we * e), -_rowsum(we * we)

    def score_steps(self, tau2: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`InterceptSpace.score_steps`, with the traces from p × p products:
        ``tr P = Σw - tr(A⁻¹B₂)``, ``tr PP = Σw² - 2 tr(A⁻¹B₃) + tr((A⁻¹B₂)²)`` with ``A = Z'WZ``,
        ``B_j = Z'W^jZ``; ``y'PPPy = u'Pu`` with ``u = Py = W e``."""
        d = self.d
        w = 1 / (self.V + tau2[:, None])
        Ainv, _, e = d.wls(self.Y, w)
        u = w * e
        yppy = _rowsum(u * u)
        gu = _mv(Ainv, (w * u) @ d.Z)
        ru = u - gu @ d.Z.T
        ypppy = _rowsum(w * ru * ru)
        w2 = w * w
        if kind == "ML":
            return _steps(yppy, _rowsum(w), _rowsum(w2), ypppy)
        B2 = d.cross(w2)
        M = _mm(Ainv, B2)
        trp = _rowsum(w) - _tr(Ainv, B2)
        trpp = _rowsum(w2) - 2 * _tr(Ainv, d.cross(w2 * w)) + _tr(M, M.transpose(0, 2, 1))
        return _steps(yppy, trp, trpp, ypppy)

    def loglik(self, tau2: np.ndarray, kind: str) -> np.ndarray:
        """ML or REML log-likelihood up to a constant (metafor's ``ll0check``)."""
        d = self.d
        w = 1 / (self.V + tau2[:, None])
        A = d.cross(w)
        Ainv = _inv(A)
        g = _mv(Ainv, (w * self.Y) @ d.Z)
        e = self.Y - g @ d.Z.T
        ll = -0.5 * _rowsum(np.log(self.V + tau2[:, None])) - 0.5 * _rowsum(w * e * e)
        if kind == "REML":  # log det(Z'WZ) = log det(X'WX) - 2 log|det R|: a constant, which cancels in ll0 - ll
            ll -= 0.5 * np.linalg.slogdet(A)[1]
        return ll


class ScalarSpace:
    """One small intercept-only analysis in plain floats: the sums of :class:`InterceptSpace`
    without array machinery. Used only by the ML/REML iteration of a single ``pool`` call."""

    __slots__ = ("y", "v")

    def __init__(self, y: np.ndarray, v: np.ndarray):
        self.y, self.v = y.tolist(), v.tolist()

    def start(self) -> float:
        """``max(0, HE)``, metafor's starting value: ``Σ(y-ȳ)²/(k-1) - Σv/k`` truncated at 0."""
        k = len(self.y)
        ybar = sum(self.y) / k
        he = sum((yi - ybar) ** 2 for yi in self.y) / (k - 1) - sum(self.v) / k
        return he if he > 0 else 0.0

    def score_steps(self, t: float, kind: str) -> tuple[float, float]:
        w = [1.0 / (vi + t) for vi in self.v]
        sw = sum(w)
        mu = sum(wi * yi for wi, yi in zip(w, self.y)) / sw
        yppy = w3r2 = w2r = sw2 = sw3 = 0.0
        for wi, yi in zip(w, self.y):
            wr = wi * (yi - mu)
            w2 = wi * wi
            yppy += wr * wr
            w3r2 += wr * wr * wi
            w2r += wr * wi
            sw2 += w2
            sw3 += w2 * wi
        ypppy = w3r2 - w2r * w2r / sw
        if kind == "ML":
            return _steps(yppy, sw, sw2, ypppy, scalar=True)
        return _steps(yppy, sw - sw2 / sw, sw2 - 2 * sw3 / sw + (sw2 / sw) ** 2, ypppy, scalar=True)

    def loglik(self, t: float, kind: str) -> float:
        w = [1.0 / (vi + t) for vi in self.v]
        sw = sum(w)
        mu = sum(wi * yi for wi, yi in zip(w, self.y)) / sw
        ll = -0.5 * sum(math.log(vi + t) for vi in self.v) - 0.5 * sum(wi * (yi - mu) ** 2 for wi, yi in zip(w, self.y))
        return ll - 0.5 * math.log(sw) if kind == "REML" else ll


def _steps(yppy, tr, tr2, ypppy, *, scalar: bool = False):
    """Fisher-scoring and Newton steps from the likelihood's score ``½(y'PPy - tr)`` (``tr = Σw`` for
    ML, ``tr P`` for REML), its expected information ``½ tr2`` (``Σw²``, ``tr PP``) and its observed
    information ``y'PPPy - ½ tr2``. The Newton step is NaN where the observed information is not
    positive (the likelihood is not locally concave)."""
    score = 0.5 * (yppy - tr)
    fisher = score / (0.5 * tr2)
    info = ypppy - 0.5 * tr2
    if scalar:
        return fisher, (score / info if info > 0 else math.nan)
    return fisher, np.where(info > 0, score / np.where(info > 0, info, 1.0), np.nan)


# --------------------------------------------------------------------------- one iteration step


class _Floats:
    """The few array operations :func:`_score_step` uses, for plain floats (numpy is the other)."""

    where = staticmethod(lambda c, a, b: a if c else b)
    maximum = staticmethod(max)
    minimum = staticmethod(min)
    abs = staticmethod(abs)
    isfinite = staticmethod(math.isfinite)
    logical_not = staticmethod(operator.not_)


def _score_step(xp, t, fisher, newton, lo, hi, prev, t_prev, f_prev, toward0):
    """One safeguarded step toward the root of the ML/REML score, for arrays (``xp = numpy``) and
    for plain floats (``xp = _Floats``): the same rule at both speeds.

    Newton steps (quadratic convergence) where the likelihood is locally concave and the Newton step
    is within half of the Fisher step, Fisher-scoring steps elsewhere. Both have the sign of the score,
    so the iterates keep a bracket ``[lo, hi]`` around the root; a step that leaves the bracket, or
    that reverses the previous step without at least halving it (plain Fisher scoring can cycle for
    ever), is replaced by bisection. Where Fisher steps crawl in one direction, a secant step on the
    last two points extrapolates. After ``_BISECT_TO_ZERO`` bisections toward 0 with no positive
    score seen, τ² = 0 itself is tried. The stationary point reached is the one metafor's Fisher
    scoring converges to. Returns ``(new, at_zero, lo, hi, toward0)``; ``at_zero`` marks a boundary
    maximum (the likelihood falls from τ² = 0).
    """
    lo = xp.where(fisher > 0, xp.maximum(lo, t), lo)
    hi = xp.where(fisher < 0, xp.minimum(hi, t), hi)
    no_newton = xp.logical_not(xp.abs(newton - fisher) <= 0.5 * xp.abs(fisher))  # NaN, or far from Fisher's
    adj = xp.where(no_newton, fisher, newton)
    crawl = no_newton & (fisher * f_prev > 0) & (fisher != f_prev)
    secant = xp.where(crawl, -fisher * (t - t_prev) / xp.where(crawl, fisher - f_prev, 1.0), 0.0)
    adj = xp.where(crawl & (secant * fisher > 0) & (xp.abs(secant) > xp.abs(fisher)), secant, adj)
    new = t + adj
    new = xp.where((new <= lo) & xp.logical_not(xp.isfinite(hi)), t + fisher, new)
    bisect = xp.isfinite(hi) & ((new <= lo) | (new >= hi) | ((adj * prev < 0) & (xp.abs(adj) > 0.5 * xp.abs(prev))))
    toward0 = xp.where(bisect & (lo == 0), toward0 + 1, 0)
    new = xp.where(bisect, xp.where(toward0 > _BISECT_TO_ZERO, 0.0, (lo + hi) / 2), new)
    at_zero = (t == 0) & (fisher <= 0)
    new = xp.where(at_zero, t, xp.maximum(new, 0.0))
    return new, at_zero, lo, hi, toward0


class _ActiveSet:
    """Analyses still iterating. Finished ones keep their value; the working space is compacted only
    when at most 80% of its analyses are still live, so copies stay rare."""

    def __init__(self, space, converged: np.ndarray):
        self.cols = np.flatnonzero(~converged)
        self.sub = space.take(self.cols) if len(self.cols) < len(converged) else space
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


def _iterate_scalar(space: ScalarSpace, kind: str, t: float, tol: float, maxiter: int) -> tuple[float, bool]:
    lo, hi, prev, t_prev, f_prev, toward0 = 0.0, math.inf, 0.0, math.nan, math.nan, 0
    for _ in range(maxiter):
        fisher, newton = space.score_steps(t, kind)
        new, at_zero, lo, hi, toward0 = _score_step(_Floats, t, fisher, newton, lo, hi, prev, t_prev, f_prev, toward0)
        t_prev, f_prev = t, fisher
        prev = new - t
        t = new
        if at_zero or abs(prev) <= tol * (1 + new):
            break
    else:
        return t, False
    if t > TOL and space.score_steps(0.0, kind)[0] < 0 and space.loglik(0.0, kind) - space.loglik(t, kind) > 1e-10:
        _warn_local_maximum(kind, 1)
        t = 0.0
    return t, True


def _warn_local_maximum(kind: str, n: int) -> None:
    warnings.warn(f"{kind} Fisher scoring stopped at a local maximum in {n} analysis(es); tau2 set to 0 as "
                  "metafor does. Check the profile likelihood.", ConvergenceWarning, stacklevel=user_stacklevel())


def _likelihood_root(kind: str):
    def estimator(space, tol: float, maxiter: int):
        if isinstance(space, ScalarSpace):
            raise TypeError("use estimate_tau2 for a ScalarSpace")
        tau2 = np.maximum(0.0, np.nan_to_num(space.moment(None)))  # metafor starts at max(0, HE)
        converged = space.k < space.p + 1
        act = _ActiveSet(space, converged)
        n0 = len(act.cols)
        lo, hi, prev = np.zeros(n0), np.full(n0, np.inf), np.zeros(n0)
        t_prev, f_prev = np.full(n0, np.nan), np.full(n0, np.nan)
        toward0 = np.zeros(n0, int)
        for _ in range(maxiter):
            if act.empty:
                break
            t = tau2[act.cols]
            fisher, newton = act.sub.score_steps(t, kind)
            new, at_zero, lo, hi, toward0 = _score_step(np, t, fisher, newton, lo, hi, prev, t_prev, f_prev, toward0)
            new = np.where(act.live, new, t)
            t_prev, f_prev = t, fisher
            prev = new - t
            tau2[act.cols] = new
            done = act.live & (at_zero | (np.abs(prev) <= tol * (1 + new)))
            lo, hi, prev, t_prev, f_prev, toward0 = act.finish(done, converged, lo, hi, prev, t_prev, f_prev, toward0)
        return _local_maximum_check(space, tau2, kind, converged), converged

    estimator.__doc__ = (f"{kind}: root of the likelihood score from max(0, HE) by the safeguarded step of "
                         f":func:`_score_step`, then metafor's ``ll0check`` (metafor ``\"{kind}\"``).")
    return estimator


def _local_maximum_check(space, tau2: np.ndarray, kind: str, converged: np.ndarray) -> np.ndarray:
    """Set τ² = 0 where the likelihood at 0 beats the iteration's solution (metafor ``ll0check``).

    Only analyses whose likelihood falls when leaving τ² = 0 (score at 0 below zero) can have their
    maximum there, so the likelihoods are compared for those alone.
    """
    cand = converged & (tau2 > TOL) & (space.k >= space.p + 1)
    if not cand.any():
        return tau2
    pos = np.flatnonzero(cand)
    sub = space.take(pos)
    zero = np.zeros(len(pos))
    fisher0, _ = sub.score_steps(zero, kind)
    falls = np.flatnonzero(fisher0 < 0)
    if len(falls) == 0:
        return tau2
    pos, sub = pos[falls], sub.take(falls)
    stuck = sub.loglik(zero[falls], kind) - sub.loglik(tau2[pos], kind) > 1e-10
    if stuck.any():
        _warn_local_maximum(kind, int(stuck.sum()))
        tau2 = tau2.copy()
        tau2[pos[stuck]] = 0.0
    return tau2


# --------------------------------------------------------------------------- the estimators


def tau2_dl(space, tol: float, maxiter: int):
    """DerSimonian & Laird (1986): the moment estimator with ``a = 1/v``,
    ``(Q - (k - p)) / tr P₀`` (DerSimonian & Kacker 2007, eq. 6; Raudenbush 2009, eq. 16.43)."""
    return space.moment(space.w0), None


def tau2_he(space, tol: float, maxiter: int):
    """Hedges (1983) / Hedges & Olkin (1985): the moment estimator with unit weights,
    ``(y'P₁y - tr(P₁V)) / (k - p)``; ``Σ(y-ȳ)²/(k-1) - Σv/k`` for ``X = 1``."""
    return space.moment(None), None


def tau2_hs(space, tol: float, maxiter: int):
    """Hunter & Schmidt (2004): ``(Q - k) / Σw``, ``w = 1/v`` (metafor ``"HS"``)."""
    q, sw = space.q_fixed(space.w0)
    return (q - space.k) / sw, None


def tau2_sj(space, tol: float, maxiter: int):
    """Sidik & Jonkman (2005), one step from ``τ²₀ = Σ(y-ȳ)²/k`` (unweighted mean, moderators
    ignored as in metafor): ``τ²₀ y'P(τ²₀)y / (k - p)`` (metafor ``"SJ"``, not ``"SJIT"``)."""
    tau0 = space.unweighted_spread()
    q, _ = space.q_and_slope(tau0)
    return tau0 * q / (space.k - space.p), None


def tau2_pm(space, tol: float, maxiter: int):
    """Paule & Mandel (1982): root of ``y'P(τ²)y = k - p`` (0 if ``y'P(0)y < k - p``).

    Safeguarded Newton from 0 (the generalised Q is decreasing in τ²; its derivative is
    ``-y'PPy``), with bisection whenever a step leaves the bracket. metafor ``"PM"``. The empirical
    Bayes estimator (``"EB"``, Morris 1983) solves the same equation (``y'Py k/(k-p) = k``), so it
    uses this solver too.
    """
    tau2 = np.zeros(space.n)
    converged = space.k < space.p + 1
    act = _ActiveSet(space, converged)
    lo, hi = np.zeros(len(act.cols)), np.full(len(act.cols), np.inf)
    for _ in range(maxiter):
        if act.empty:
            break
        t = tau2[act.cols]
        q, slope = act.sub.q_and_slope(t)
        f = q - (act.sub.k - act.sub.p)
        lo = np.where(f > 0, np.maximum(lo, t), lo)
        hi = np.where(f < 0, np.minimum(hi, t), hi)
        at_zero = (t == 0) & (f <= 0)  # Q(0) <= k - p: tau² = 0
        new = t - f / slope
        bad = ~np.isfinite(new) | (new <= lo) | (new >= hi)
        new = np.where(bad, np.where(np.isfinite(hi), (lo + hi) / 2, 2 * lo + 1), new)
        new = np.where(at_zero, 0.0, new)
        new = np.where(act.live, new, t)
        tau2[act.cols] = new
        done = act.live & (at_zero | (np.abs(new - t) <= tol * (1 + new)))
        lo, hi = act.finish(done, converged, lo, hi)
    return tau2, converged


#: τ² estimators by metafor method code; each ``f(space, tol, maxiter) -> (tau2, converged or None)``.
TAU2_ESTIMATORS: dict[str, Callable] = {
    "DL": tau2_dl,
    "HE": tau2_he,
    "HS": tau2_hs,
    "SJ": tau2_sj,
    "ML": _likelihood_root("ML"),
    "REML": _likelihood_root("REML"),
    "EB": tau2_pm,
    "PM": tau2_pm,
}

#: Analyses with at most this many studies are iterated in plain floats when estimated alone.
SCALAR_K = 64


def estimate_tau2(space, method: str, *, maxiter: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Truncated τ² (``max(0, ·)``; 0 where ``k <= p``) and the convergence flag of every analysis.

    ``method="FE"`` gives τ² = 0. A single intercept-only analysis of at most :data:`SCALAR_K`
    studies with nothing absent is iterated (ML/REML) in plain floats by the same step.
    """
    n = space.n
    if method == "FE":
        return np.zeros(n), np.ones(n, bool)
    maxiter = MAXITER if maxiter is None else maxiter
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if (method in ("ML", "REML") and isinstance(space, InterceptSpace) and n == 1 and space.m is None
                and space.y.shape[0] <= SCALAR_K and space.k[0] >= 2):
            scalar = ScalarSpace(space.y[:, 0], space.v[:, 0])
            t, ok = _iterate_scalar(scalar, method, scalar.start(), TOL, maxiter)
            raw, conv = np.array([t]), np.array([ok])
        else:
            raw, conv = TAU2_ESTIMATORS[method](space, TOL, maxiter)
    tau2 = np.maximum(0.0, raw)
    few = space.k < space.p + 1
    if few.any():
        tau2 = np.where(few, 0.0, tau2)
    conv = np.ones(n, bool) if conv is None else np.asarray(conv, bool)
    return tau2, conv
