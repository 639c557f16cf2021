"""Meta-regression (mixed-effects models), its permutation test, and subgroup analyses.

One vectorised engine fits many meta-regressions that share a design matrix ``X`` (k × p) and
differ in their outcomes ``Y`` and variances ``V`` (rows = fits). The observed fit is one row;
a permutation test is n rows (``permutest`` permutes the rows of ``X``, which is the same as
permuting the studies' ``(y, v)`` pairs against a fixed ``X``), so every cross-product is a
matrix product ``(n, k) @ (k, p²)`` and nothing loops over permutations in Python.

The model is ``y = X β + u + ε`` with ``u ~ N(0, τ²)`` and ``ε ~ N(0, v)``; ``β`` is the weighted
least-squares solution with ``W = diag(1 / (v + τ²))`` and ``Var(β̂) = (X'WX)⁻¹`` (Raudenbush 2009;
Viechtbauer 2010, section 3.3). τ² comes from the one estimator registry of
:mod:`hipacu.models.tau2` (the same functions that pool an intercept-only model), run on a
:class:`~hipacu.models.tau2.DesignSpace`: traces from p × p products in the orthonormal basis of
``X``, never from a k × k matrix.

The regression tests of :mod:`hipacu.diagnostics.bias` (``model="rma"``) and trim-and-fill's choice of side fit
their two-column models with this engine too (:func:`coefficient_fit`).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import special

from hipacu.models import tau2 as _tau2_module
from hipacu.models.tau2 import Design, DesignSpace, _inv, _rowsum, _tr, estimate_tau2
from hipacu._checks import as_1d, check_flag, check_model_options, check_same_length, format_p, frozen_array
from hipacu.exceptions import ConvergenceError, ConvergenceWarning, user_stacklevel
from hipacu.models._stats import critical_value, two_sided_p
from hipacu.models.pooling import METHODS, pool

__all__ = [
    "REGRESSION_METHODS",
    "MetaRegressionResult",
    "PermutationTestResult",
    "meta_regression",
]

#: Every ``method`` accepted by :func:`meta_regression` and :func:`subgroup_test` (metafor's codes).
REGRESSION_METHODS = METHODS

#: Tolerance of the permutation comparisons ``|z*| >= |z| - COMPTOL`` (metafor ``comptol``, sqrt(eps)).
COMPTOL = float(np.sqrt(np.finfo(float).eps))
#: Largest number of permutations enumerated for an exact permutation test.
MAX_EXACT = 2_000_000
#: Rows fitted per chunk in a permutation test (bounds memory for exact tests).
_CHUNK = 65_536

def _tau2(Y, V, d: Design, method: str, maxiter: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Truncated τ² and the convergence flag of each row, from the shared estimator registry."""
    return estimate_tau2(DesignSpace(Y, V, d), method, maxiter=maxiter)


def _coefficients(Y, V, d: Design, tau2, knha: bool, btt: np.ndarray):
    """β̂, Var(β̂), z (or t) and the omnibus statistic QM for each row (QM/m with knha, an F value)."""
    w = 1 / (V + tau2[:, None])
    vg, g, e = d.wls(Y, w)
    b, vb = d.to_x(g, vg)
    if knha:  # Knapp & Hartung (2003): scale by Σ w e² / (k - p), no truncation (metafor test="knha")
        vb = vb * (_rowsum(w * e * e) / (d.k - d.p))[:, None, None]
    se = np.sqrt(np.diagonal(vb, axis1=1, axis2=2))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = b / se
        bt = b[:, btt]
        sub = vb[:, btt][:, :, btt]
        qm = np.einsum("ni,nij,nj->n", bt, _inv(sub), bt)
    if knha:
        qm = qm / len(btt)
    return b, vb, se, z, qm


@dataclass(frozen=True)
class CoefficientFit:
    """One meta-regression reduced to its coefficient tests (what :mod:`hipacu.diagnostics.bias` needs).

    ``coefficients`` and ``se`` in the coordinates of ``X``; ``df`` of the coefficient tests (``k - p``
    with ``knha``, ``inf`` otherwise); the truncated ``tau2`` and whether its estimator converged.
    """

    coefficients: np.ndarray
    se: np.ndarray
    df: float
    tau2: float
    converged: bool


def coefficient_fit(y: np.ndarray, v: np.ndarray, X: np.ndarray, method: str, knha: bool, *,
                    maxiter: int | None = None) -> CoefficientFit:
    """Fit ``y = X β + u + ε`` once with :func:`_tau2` and :func:`_coefficients`, as :func:`fit_design` does.

    No input checks, warnings about non-convergence or heterogeneity statistics: the caller checks
    ``X`` (full column rank, ``k > p``) and decides what non-convergence means (``converged``).
    metafor ``rma.uni(yi, vi, mods = X, intercept = FALSE, method = method, test = "knha"|"z")``.
    """
    d = Design(X)
    Y, V = y[None, :], v[None, :]
    tau2, conv = _tau2(Y, V, d, method, maxiter)
    b, _, se, _, _ = _coefficients(Y, V, d, tau2, knha, np.arange(d.p))
    return CoefficientFit(
        coefficients=b[0],
        se=se[0],
        df=float(d.k - d.p) if knha else math.inf,
        tau2=float(tau2[0]),
        converged=bool(conv[0]),
    )


# --------------------------------------------------------------------------- input checking




def _moderators(mods, k: int) -> tuple[np.ndarray, list[str]]:
    """``mods`` as a (k, q) float matrix with column names, or ValueError naming ``mods``."""
    import pandas as pd

    if isinstance(mods, pd.DataFrame):
        names = [str(c) for c in mods.columns]
        bad = [c for c in mods.columns if not (pd.api.types.is_numeric_dtype(mods[c]) or pd.api.types.is_bool_dtype(mods[c]))]
        if bad:
            raise ValueError(
                f"mods column {bad[0]!r} is not numeric (dtype {mods[bad[0]].dtype}); encode a categorical "
                "moderator as dummy columns, e.g. pandas.get_dummies(df[col], drop_first=True, dtype=float)"
            )
        M = mods.to_numpy(dtype=float)
    elif isinstance(mods, pd.Series):
        names = [str(mods.name) if mods.name is not None else "x1"]
        if not (pd.api.types.is_numeric_dtype(mods) or pd.api.types.is_bool_dtype(mods)):
            raise ValueError(
                f"mods is not numeric (dtype {mods.dtype}); encode a categorical moderator as dummy columns"
            )
        M = mods.to_numpy(dtype=float)[:, None]
    else:
        try:
            M = np.asarray(mods, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"mods must be numbers (an array of shape (k,) or (k, p), or a DataFrame); got {mods!r:.80}") from exc
        if M.ndim == 1:
            M = M[:, None]
        if M.ndim != 2:
            raise ValueError(f"mods must be an array of shape (k,) or (k, p); got shape {M.shape}")
        names = [f"x{j + 1}" for j in range(M.shape[1])]
    if M.shape[1] == 0:
        raise ValueError("mods has no columns; give at least one moderator")
    if M.shape[0] != k:
        raise ValueError(f"mods must have one row per study; got {M.shape[0]} rows for k = {k} studies (yi)")
    bad = ~np.isfinite(M)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(f"mods[{i}, {names[j]!r}] is {M[i, j]}; only finite numbers are allowed")
    if len(set(names)) != len(names):
        raise ValueError(f"mods column names must be unique; got {names}")
    return M, names


def _design(M: np.ndarray, names: list[str], intercept: bool) -> tuple[np.ndarray, list[str], bool]:
    """Full design matrix, its column names and whether it contains an intercept column."""
    k = M.shape[0]
    is_one = np.all(np.abs(M - 1) < 1e-8, axis=0)  # metafor .is.intercept
    if intercept:
        const = np.flatnonzero(np.ptp(M, axis=0) == 0)
        if len(const):
            j = const[0]
            raise ValueError(
                f"mods column {names[j]!r} has no variance (every value is {M[0, j]:g}); it cannot be "
                "estimated alongside the intercept. Drop it, or pass intercept=False if it is meant as the intercept"
            )
        X = np.column_stack([np.ones(k), M])
        cols = ["intercept", *names]
        has_int = True
    else:
        X, cols = M, list(names)
        has_int = bool(is_one.any())
        if has_int:  # an all-ones column is the intercept (moved first, as metafor does)
            j = int(np.flatnonzero(is_one)[0])
            order = [j] + [i for i in range(M.shape[1]) if i != j]
            X, cols = M[:, order], [names[i] for i in order]
    p = X.shape[1]
    if k <= p:
        raise ValueError(
            f"meta-regression needs more studies than coefficients; got k = {k} studies (yi) for p = {p} "
            f"coefficients ({', '.join(cols)})"
        )
    # full column rank (metafor: eigenvalues of X'X above evtol, on the correlation scale here)
    scale = np.sqrt((X * X).sum(axis=0))
    s = np.linalg.svd(X / scale, compute_uv=False)
    if s[-1] <= 1e-7 * s[0]:
        raise ValueError(
            f"mods columns are linearly dependent (with the intercept: {has_int}); the design {cols} is not of "
            "full rank, so a coefficient cannot be estimated. Drop a redundant column"
        )
    return X, cols, has_int


# --------------------------------------------------------------------------- results



@dataclass(frozen=True)
class PermutationTestResult:
    """Permutation p-values for a meta-regression (metafor ``permutest(rma(...))``).

    Attributes
    ----------
    names : tuple of str
        Coefficient names.
    pval : ndarray
        Two-sided permutation p-value of each coefficient: the share of permutations with
        ``|z*| >= |z| - COMPTOL`` (``t`` under Hartung–Knapp).
    qm_pval : float
        Permutation p-value of the omnibus test: share with ``QM* >= QM - COMPTOL``.
    n : int
        Permutations used, the observed arrangement included (all of them when ``exact``).
    exact : bool
        Whether every distinct permutation was enumerated (sign flips for an intercept-only model).
    seed : int or None
        Seed of ``numpy.random.default_rng`` for a random test (None when exact or unseeded).
    statistic_perm : ndarray, shape (n, p)
        z (or t) statistics of every permutation; row 0 is the observed fit for a random test.
    qm_perm : ndarray, shape (n,)
        QM of every permutation.
    n_failed : int
        Permutations whose τ² estimator did not converge; they are left out of the p-values (as
        metafor leaves out refits that fail).
    """

    names: tuple[str, ...]
    pval: np.ndarray
    qm_pval: float
    n: int
    exact: bool
    seed: int | None
    statistic_perm: np.ndarray
    qm_perm: np.ndarray
    n_failed: int

    def to_frame(self):
        """DataFrame indexed by coefficient with column ``pval`` (permutation p-values)."""
        import pandas as pd

        return pd.DataFrame({"pval": self.pval}, index=pd.Index(self.names, name="coefficient"))


_REG_FIELD_DOCS = """
    names : tuple of str
        Coefficient names: ``"intercept"`` then the moderators (DataFrame / Series names kept,
        ``x1, x2, ...`` for unnamed arrays).
    coefficients, se, statistic, pval, ci_low, ci_high : ndarray, shape (p,)
        Estimates, standard errors, z (t with ``knha``) statistics, two-sided p-values and
        confidence limits (metafor ``coef(summary(res))``).
    vcov : ndarray, shape (p, p)
        Variance–covariance matrix of the coefficients (Hartung–Knapp scaled with ``knha``).
    df : float
        Degrees of freedom of the coefficient tests: ``k - p`` with ``knha``, ``inf`` otherwise.
    tau2 : float
        Residual between-study variance (0 for ``"FE"``).
    qm, qm_df, qm_df2, qm_pval : float, int, float, float
        Omnibus test of the moderators (all coefficients except the intercept; all coefficients
        when there is no intercept): Wald χ² on ``qm_df`` df, or with ``knha`` the F statistic
        ``QM / m`` on ``(qm_df, qm_df2 = k - p)`` df (metafor ``QM``, ``QMdf``, ``QMp``).
    qe, qe_df, qe_pval : float, int, float
        Test for residual heterogeneity ``Q_E = Σ (y - X β̂_FE)² / v`` on ``k - p`` df.
    i2, h2 : float
        Residual I² (percent) and H²: ``100 τ² / (τ² + ṽ)`` and ``(τ² + ṽ) / ṽ`` with the typical
        variance ``ṽ = (k - p) / tr P₀`` (metafor); for ``"FE"`` ``100 (Q_E - (k-p)) / Q_E`` truncated
        at 0 and ``Q_E / (k - p)``.
    r2 : float or None
        Pseudo R² (percent) as metafor: ``max(0, 100 (τ²₀ - τ²) / τ²₀)`` with ``τ²₀`` from the
        intercept-only model with the same method (0 when ``τ²₀ = 0``); for ``"FE"`` metafor's
        ``max(0, 100 × adjusted R²)`` of the weighted least-squares fit. None without an intercept.
    k, p : int
        Studies and coefficients.
    method : str
    knha : bool
    level : float
    converged : bool
        Whether the τ² estimator met its tolerance.
    intercept : bool
        Whether the design contains an intercept.
    btt : tuple of int
        Indices of the coefficients in the omnibus test.
    yi, vi : ndarray
        The data; ``X`` the design matrix (k, p).
"""


@dataclass(frozen=True)
class MetaRegressionResult:
    __doc__ = (
        "A fitted meta-regression (mixed-effects model), as metafor ``rma(yi, vi, mods = ...)`` prints it.\n\n"
        "    Attributes\n    ----------" + _REG_FIELD_DOCS
    )

    names: tuple[str, ...]
    coefficients: np.ndarray
    se: np.ndarray
    statistic: np.ndarray
    pval: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    vcov: np.ndarray
    df: float
    tau2: float
    qm: float
    qm_df: int
    qm_df2: float
    qm_pval: float
    qe: float
    qe_df: int
    qe_pval: float
    i2: float
    h2: float
    r2: float | None
    k: int
    p: int
    method: str
    knha: bool
    level: float
    converged: bool
    intercept: bool
    btt: tuple[int, ...]
    yi: np.ndarray = field(repr=False)
    vi: np.ndarray = field(repr=False)
    X: np.ndarray = field(repr=False)

    @property
    def tau(self) -> float:
        """Residual between-study standard deviation ``sqrt(tau2)``."""
        return float(np.sqrt(self.tau2))

    def to_frame(self):
        """Coefficient table: index = names; columns estimate, se, statistic, pval, ci_low, ci_high."""
        import pandas as pd

        return pd.DataFrame(
            {
                "estimate": self.coefficients,
                "se": self.se,
                "statistic": self.statistic,
                "pval": self.pval,
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
            },
            index=pd.Index(self.names, name="coefficient"),
        )

    def summary(self, digits: int = 4) -> str:
        """Readable text in the spirit of metafor's ``print.rma.uni`` for models with moderators."""
        f = f"{{:.{digits}f}}"
        model = "Fixed-effects with moderators" if self.method == "FE" else f"Mixed-effects ({self.method})"
        lines = [f"{model} model (k = {self.k}, p = {self.p})" + ("; Knapp-Hartung adjustment" if self.knha else ""), ""]
        if self.method != "FE":
            lines.append(f"tau^2 (residual) = {f.format(self.tau2)} (tau = {f.format(self.tau)})")
        lines.append(f"I^2 (residual) = {self.i2:.2f}%   H^2 = {self.h2:.2f}")
        if self.r2 is not None:
            lines.append(f"R^2 (amount of heterogeneity accounted for) = {self.r2:.2f}%")
        lines += [
            f"Test for residual heterogeneity: QE(df = {self.qe_df}) = {f.format(self.qe)}, p = {format_p(self.qe_pval)}",
            (
                f"Test of moderators (coefficients {', '.join(str(i + 1) for i in self.btt)}): "
                + (
                    f"F({self.qm_df}, {self.qm_df2:g}) = {f.format(self.qm)}"
                    if self.knha
                    else f"QM(df = {self.qm_df}) = {f.format(self.qm)}"
                )
                + f", p = {format_p(self.qm_pval)}"
            ),
            "",
        ]
        tab = self.to_frame()
        width = max(len(n) for n in self.names)
        stat = "tval" if self.knha else "zval"
        lines.append(f"{'':{width}}  {'estimate':>10} {'se':>10} {stat:>8} {'pval':>8} {'ci.lb':>10} {'ci.ub':>10}")
        for name, r in tab.iterrows():
            lines.append(
                f"{name:{width}}  {f.format(r.estimate):>10} {f.format(r.se):>10} {r.statistic:>8.2f} "
                f"{format_p(r.pval):>8} {f.format(r.ci_low):>10} {f.format(r.ci_high):>10}"
            )
        if not self.converged:
            lines.append("WARNING: the tau^2 estimator did not converge")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def permutation_test(self, n: int = 1000, seed: int | None = None, *, exact: bool = False) -> PermutationTestResult:
        """Permutation test of every coefficient and of the moderators (metafor ``permutest``).

        The rows of the design are permuted against the ``(yi, vi)`` pairs and the model is refitted
        with the same method and test (Higgins & Thompson 2004; Viechtbauer et al. 2015); for an
        intercept-only design the signs of ``yi`` are flipped instead. All refits run as one batch of
        matrix products. As in metafor, a random test uses ``n`` arrangements of which the first is
        the observed one, and the test becomes exact (every distinct permutation, observed included)
        when ``exact=True`` or when there are no more than ``n`` distinct permutations.

        Parameters
        ----------
        n : int
            Number of permutations (>= 2) for a random test.
        seed : int, optional
            Seed for ``numpy.random.default_rng``; the same seed gives the same p-values.
        exact : bool
            Enumerate every distinct permutation (at most ``MAX_EXACT``).

        Returns
        -------
        PermutationTestResult
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
            raise ValueError(f"n={n!r} is not allowed; the number of permutations must be an integer >= 2")
        exact = check_flag(exact, "exact")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise ValueError(f"seed={seed!r} is not allowed; use an integer or None")
        y, v, X = np.asarray(self.yi), np.asarray(self.vi), np.asarray(self.X)
        k = self.k
        int_only = self.p == 1 and self.intercept
        if int_only:
            log_n = k * math.log(2)
        else:  # distinct arrangements of the design rows: k! / prod(multiplicity!)
            _, labels, counts = np.unique(X, axis=0, return_inverse=True, return_counts=True)
            labels = labels.ravel()
            log_n = math.lgamma(k + 1) - sum(math.lgamma(c + 1) for c in counts)
        n_exact = math.inf if log_n > 700 else float(round(math.exp(log_n)))
        if exact or n_exact <= n:
            if n_exact > MAX_EXACT:
                raise ValueError(
                    f"an exact permutation test would need "
                    f"{f'{n_exact:.3g}' if math.isfinite(n_exact) else f'about 1e{log_n / math.log(10):.0f}'} "
                    f"permutations (more than {MAX_EXACT:,}); "
                    "use exact=False with n random permutations"
                )
            is_exact = True
            if int_only:
                bits = (np.arange(2**k)[:, None] >> np.arange(k)) & 1
                Y = np.where(bits == 1, -y, y)
                Vp = np.broadcast_to(v, Y.shape)
            else:
                L = _multiset_permutations(counts)  # label of the X row given to each study
                order = np.argsort(L, axis=1, kind="stable")  # studies sorted by their X label
                rows = np.argsort(labels, kind="stable")  # X rows sorted by label
                Y = np.empty(L.shape)
                Vp = np.empty(L.shape)
                Y[:, rows] = y[order]
                Vp[:, rows] = v[order]
            used_seed = None
        else:
            is_exact = False
            rng = np.random.default_rng(seed)
            if int_only:
                signs = rng.integers(0, 2, size=(n, k)) * 2 - 1
                signs[0] = 1
                Y = signs * y
                Vp = np.broadcast_to(v, Y.shape)
            else:
                perm = np.argsort(rng.random((n, k)), axis=1)
                perm[0] = np.arange(k)
                Y, Vp = y[perm], v[perm]
            used_seed = None if seed is None else int(seed)
        d = Design(X)
        btt = np.array(self.btt)
        stats, qms, convs = [], [], []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # local-maximum resets are part of each refit
            for s in range(0, len(Y), _CHUNK):
                Yc, Vc = np.ascontiguousarray(Y[s : s + _CHUNK]), np.ascontiguousarray(Vp[s : s + _CHUNK])
                tau2, conv = _tau2(Yc, Vc, d, self.method)
                _, _, _, z, qm = _coefficients(Yc, Vc, d, tau2, self.knha, btt)
                stats.append(z)
                qms.append(qm)
                convs.append(conv)
        z = np.concatenate(stats)
        qm = np.concatenate(qms)
        conv = np.concatenate(convs)
        n_failed = int((~conv).sum())
        if n_failed == len(conv):
            raise ConvergenceError(
                f"the {self.method} estimator did not converge in any of the {len(conv)} permutation refits; "
                "no permutation p-value can be computed"
            )
        if n_failed:
            warnings.warn(
                f"the {self.method} estimator did not converge in {n_failed} of {len(conv)} permutations; they are "
                "left out of the permutation p-values",
                ConvergenceWarning,
                stacklevel=user_stacklevel(),
            )
        zs = z[conv]
        pval = np.minimum(1.0, (np.abs(zs) >= np.abs(self.statistic) - COMPTOL).mean(axis=0))
        qm_pval = float(min(1.0, (qm[conv] >= self.qm - COMPTOL).mean()))
        return PermutationTestResult(
            names=self.names,
            pval=frozen_array(pval),
            qm_pval=qm_pval,
            n=int(len(Y)),
            exact=is_exact,
            seed=used_seed,
            statistic_perm=frozen_array(z),
            qm_perm=frozen_array(qm),
            n_failed=n_failed,
        )


def _multiset_permutations(counts) -> np.ndarray:
    """Every distinct arrangement of a multiset of labels ``0..L-1`` with the given counts.

    Returns an (N, k) integer array, ``N = k! / Π counts!``, built breadth-first (one numpy step per
    position and label).
    """
    counts = np.asarray(counts, dtype=np.int64)
    k = int(counts.sum())
    rows = np.zeros((1, 0), dtype=np.int32)
    rem = counts[None, :].copy()
    for _ in range(k):
        new_rows, new_rem = [], []
        for lab in range(len(counts)):
            ok = rem[:, lab] > 0
            if not ok.any():
                continue
            r = rows[ok]
            rr = rem[ok].copy()
            rr[:, lab] -= 1
            new_rows.append(np.column_stack([r, np.full(len(r), lab, dtype=np.int32)]))
            new_rem.append(rr)
        rows = np.concatenate(new_rows)
        rem = np.concatenate(new_rem)
    return rows


# --------------------------------------------------------------------------- meta_regression


def fit_design(y: np.ndarray, v: np.ndarray, X: np.ndarray, cols: list[str], has_int: bool, method: str, knha: bool,
         level: float) -> MetaRegressionResult:
    k, p = X.shape
    d = Design(X)
    btt = np.arange(1, p) if (has_int and p > 1) else np.arange(p)
    Y, V = y[None, :], v[None, :]
    tau2_a, conv_a = _tau2(Y, V, d, method)
    tau2, converged = float(tau2_a[0]), bool(conv_a[0])
    if not converged:
        warnings.warn(
            f"the {method} estimator did not converge in {_tau2_module.MAXITER} iterations; see the 'converged' field",
            ConvergenceWarning,
            stacklevel=user_stacklevel(),
        )
    b, vb, se, z, qm = (a[0] for a in _coefficients(Y, V, d, tau2_a, knha, btt))
    df = float(k - p) if knha else math.inf
    m = len(btt)
    pval = two_sided_p(z, df)
    crit = float(critical_value(level, df))
    if knha:
        qm_pval = float(special.fdtrc(m, k - p, qm))
    else:
        qm_pval = float(special.chdtrc(m, qm))

    # residual heterogeneity (fixed-effect weights) and the typical within-study variance
    w0 = 1 / v
    Ainv0, _, e0 = d.wls(Y, w0[None, :])
    qe = max(0.0, float(np.sum(w0 * e0[0] ** 2)))
    qe_df = k - p
    qe_pval = float(special.chdtrc(qe_df, qe))
    trp0 = float(np.sum(w0) - _tr(Ainv0, d.cross((w0 * w0)[None, :]))[0])
    vt = qe_df / trp0
    if method == "FE":
        i2 = max(0.0, 100 * (qe - qe_df) / qe) if qe > 0 else 0.0
        h2 = qe / qe_df
    else:
        i2 = 100 * tau2 / (vt + tau2)
        h2 = tau2 / vt + 1

    r2 = None
    if has_int and p > 1:
        if method == "FE":
            if np.ptp(y) == 0:
                r2 = 0.0
            else:
                q0 = float(np.sum(w0 * (y - np.sum(w0 * y) / np.sum(w0)) ** 2))
                r2 = max(0.0, 100 * (1 - (qe / (k - p)) / (q0 / (k - 1))))
        else:
            tau2_0 = pool(y, v, method=method).tau2
            r2 = 0.0 if tau2_0 == 0 else max(0.0, 100 * (tau2_0 - tau2) / tau2_0)

    return MetaRegressionResult(
        names=tuple(cols),
        coefficients=frozen_array(b),
        se=frozen_array(se),
        statistic=frozen_array(z),
        pval=frozen_array(pval),
        ci_low=frozen_array(b - crit * se),
        ci_high=frozen_array(b + crit * se),
        vcov=frozen_array(vb),
        df=df,
        tau2=tau2,
        qm=float(qm),
        qm_df=int(m),
        qm_df2=float(k - p) if knha else math.inf,
        qm_pval=qm_pval,
        qe=qe,
        qe_df=int(qe_df),
        qe_pval=qe_pval,
        i2=float(i2),
        h2=float(h2),
        r2=r2,
        k=int(k),
        p=int(p),
        method=method,
        knha=knha,
        level=level,
        converged=converged,
        intercept=has_int,
        btt=tuple(int(i) for i in btt),
        yi=frozen_array(y),
        vi=frozen_array(v),
        X=frozen_array(X),
    )


def meta_regression(yi, vi, mods, *, method: str = "REML", knha: bool = False, level: float = 0.95,
                    intercept: bool = True) -> MetaRegressionResult:
    """Meta-regression: a mixed-effects (or, with ``"FE"``, fixed-effects) model with moderators.

    ``y = X β + u + ε``, ``u ~ N(0, τ²)``, ``ε ~ N(0, v)``; ``β̂ = (X'WX)⁻¹ X'Wy`` with
    ``W = diag(1/(v + τ̂²))`` and ``Var(β̂) = (X'WX)⁻¹`` (Raudenbush 2009; Viechtbauer 2010,
    section 3.3), scaled by ``Σ w e² / (k - p)`` with Knapp & Hartung (2003) t and F tests on
    ``k - p`` df. Equivalent metafor call: ``rma(yi, vi, mods = ~ x1 + x2, method = method,
    test = "knha" if knha else "z")``.

    Parameters
    ----------
    yi, vi : array-like, shape (k,)
        Effects and sampling variances (> 0).
    mods : array-like (k,) or (k, q), pandas Series or DataFrame
        Moderators (numbers; DataFrame column names become coefficient names). Encode a
        categorical moderator as dummy columns.
    method : str
        ``"FE"`` or a τ² estimator: ``"DL", "REML", "ML", "PM", "HS", "SJ", "EB", "HE"`` (metafor's
        formulas for models with moderators; see the module docstring).
    knha : bool
        Knapp & Hartung adjustment (metafor ``test="knha"``).
    level : float
        Confidence level.
    intercept : bool
        Add an intercept column (default). With ``False`` a column of ones in ``mods`` still counts
        as the intercept (as in metafor).

    Returns
    -------
    MetaRegressionResult
        With :meth:`~MetaRegressionResult.permutation_test`, ``to_frame()`` and ``summary()``.

    Raises
    ------
    ValueError
        NaN or inf anywhere, ``vi <= 0``, ``mods`` of the wrong length, a moderator without
        variance, linearly dependent moderators, too few studies (``k <= p``) or an unknown option;
        the message names the argument.

    Notes
    -----
    For a model without an intercept whose columns do not span the constant vector (e.g.
    ``intercept=False`` with one continuous moderator), metafor 3.8 centres ``yi`` before
    estimating τ² and computing ``Q_E``; hipacu uses the uncentred outcomes, so ``Q_E`` is the
    weighted residual sum of squares of the fitted model. The two agree whenever the design
    contains an intercept or a full set of group dummies.
    """
    method, knha, level = check_model_options(method, knha, level, REGRESSION_METHODS)
    intercept = check_flag(intercept, "intercept")
    y = as_1d(yi, "yi")
    v = as_1d(vi, "vi", positive=True)
    k = check_same_length(yi=y, vi=v)
    M, names = _moderators(mods, k)
    X, cols, has_int = _design(M, names, intercept)
    return fit_design(y, v, X, cols, has_int, method, knha, level)
