"""Inverse-variance pooling: fixed effect and random effects, one vectorised engine.

:func:`pool_batch` pools many meta-analyses at once (rows = analyses, NaN = study absent);
:func:`pool` is :func:`pool_batch` on one row. Each between-study variance (tau²) estimator is a
small function in :mod:`hipacu.models.tau2` (one registry, shared with meta-regression), keyed by
metafor's code. Formulas follow Viechtbauer (2005, 2010) and metafor 3.8 ``rma.uni``
(intercept-only model); each estimator's docstring names its source.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, fields

import numpy as np
from scipy import special

from hipacu.exceptions import ConvergenceWarning, FewStudiesWarning, user_stacklevel
from hipacu.models import tau2 as _tau2
from hipacu.models.tau2 import TAU2_ESTIMATORS, InterceptSpace, estimate_tau2
from hipacu.models._stats import i2_h2_from_q, q_pval
from hipacu._checks import PI_METHODS, as_1d, check_choice, check_model_options, check_same_length, check_test, format_p, frozen_array

__all__ = [
    "METHODS",
    "TAU2_ESTIMATORS",
    "PooledEstimate",
    "PooledBatch",
    "pool",
    "pool_batch",
]

_TEST_TEXT = {"z": "", "t": "; t distribution", "knha": "; Hartung-Knapp adjustment",
              "adhoc": "; Hartung-Knapp adjustment (ad hoc: scale factor >= 1)"}

#: Every allowed ``method``: ``"FE"`` (fixed/common effect) and the tau² estimators.
METHODS = ("FE",) + tuple(TAU2_ESTIMATORS)


# --------------------------------------------------------------------------- results



_FIELD_DOCS = {
    "k": "number of studies",
    "method": "metafor code of the model: 'FE' or a tau² estimator",
    "estimate": "pooled effect (log scale for ratio measures)",
    "se": "standard error of the pooled effect (Hartung–Knapp scaled for test 'knha' and 'adhoc')",
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
    "test": "interval: 'z', 't' (t on k-1 df), 'knha' (Hartung-Knapp), 'adhoc' (Hartung-Knapp, scale >= 1)",
    "pi_method": "prediction interval: 'metafor' (the CI's critical value) or 'HTS' (t on k-2 df)",
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
    test: str = "z"
    pi_method: str = "metafor"

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
            f"{model} model (k = {self.k})" + _TEST_TEXT[self.test],
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
    test: str = "z"
    pi_method: str = "metafor"

    @property
    def q_pval(self) -> np.ndarray:
        """p-value of Q on k-1 df (1 when k = 1), as in :class:`PooledEstimate`."""
        return q_pval(self.q, self.k - 1)

    def __len__(self) -> int:
        return len(self.estimate)

    def __getitem__(self, i: int) -> PooledEstimate:
        present = ~np.isnan(self.yi[i])
        vals = {}
        for f in fields(PooledEstimate):
            a = getattr(self, f.name)
            if f.name in ("method", "knha", "level", "test", "pi_method"):
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

        skip = {"weights", "yi", "vi", "method", "knha", "level", "test", "pi_method"}
        df = pd.DataFrame({f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip})
        df.insert(1, "method", self.method)
        df.insert(df.columns.get_loc("q") + 1, "q_pval", self.q_pval)
        return df


# --------------------------------------------------------------------------- engine



def _as_2d(Y, V) -> tuple[np.ndarray, np.ndarray, bool]:
    """Validate ``Y, V`` (analyses × studies) and return private studies × analyses copies
    (C-contiguous, the engine's layout; one copy, made here) and whether no study is absent."""
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
        return yc, vc, True  # the common case: nothing absent, nothing wrong
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
    return yc, vc, False


def _engine(y: np.ndarray, v: np.ndarray, method: str, test: str, level: float, pi: str, *, columns: bool = False,
            complete: bool = False) -> dict:
    """Pool every analysis. ``y, v``: analyses × studies (NaN = absent), or studies × analyses when
    ``columns=True``. Returns a dict of per-analysis arrays (``weights`` analyses × studies)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return _engine_cols(y if columns else y.T, v if columns else v.T, method, test, level, pi, complete)


def _engine_cols(y: np.ndarray, v: np.ndarray, method: str, test: str, level: float, pi: str = "metafor",
                 complete: bool = False) -> dict:
    d = InterceptSpace.from_columns(y, v, complete=complete)
    k = d.k
    single = k < 2
    any_single = single.any()
    df_q = k - 1

    # Cochran's Q with fixed-effect weights
    w_fe = d.w0
    sw_fe, mu_fe, q, sw2_fe = d.fixed_effect()

    if method == "FE":
        tau2 = np.zeros(len(k))
        converged = np.ones(len(k), bool)
        i2, h2 = i2_h2_from_q(q, df_q)
        w, est, sw = w_fe, mu_fe, sw_fe
    else:
        tau2, converged = estimate_tau2(d, method)
        # typical within-study variance (Higgins & Thompson 2002, eq. 9)
        s2 = df_q * sw_fe / (sw_fe**2 - sw2_fe)
        i2 = 100 * tau2 / (tau2 + s2)
        h2 = (tau2 + s2) / s2
        if any_single:
            i2, h2 = np.where(single, 0.0, i2), np.where(single, 1.0, h2)
        w = d.weights(tau2)
        est, sw = d.wmean(w)
    if not converged.all():
        warnings.warn(
            f"the {method} estimator did not converge in {_tau2.MAXITER} iterations for "
            f"{int((~converged).sum())} analysis(es); see the 'converged' field",
            ConvergenceWarning,
            stacklevel=user_stacklevel(),
        )

    se = np.sqrt(1 / sw)
    alpha = 1 - level
    uses_t = test != "z"
    if uses_t and any_single:
        warnings.warn(f"test={test!r} needs k >= 2; analyses with k = 1 use the z test (as metafor)", FewStudiesWarning,
                      stacklevel=user_stacklevel())
    se_classic = se
    if uses_t and not single.all():
        if test in ("knha", "adhoc"):
            r = d.y - est
            s2_knha = np.einsum("ij,ij,ij->j", w, r, r) / np.maximum(df_q, 1)
            if test == "adhoc":  # the scale factor floored at 1 (Knapp & Hartung 2003; metafor test="adhoc")
                s2_knha = np.maximum(s2_knha, 1.0)
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
    if pi == "HTS":  # Higgins, Thompson & Spiegelhalter 2009: t on k - 2 df, the classic SE (Handbook 10.10.4.3)
        pi_df = k - 2
        pi_crit = np.where(pi_df >= 1, special.stdtrit(np.maximum(pi_df, 1), 1 - alpha / 2), np.nan)
        pi_half = pi_crit * np.sqrt(se_classic * se_classic + tau2)
    else:
        pi_half = crit * np.sqrt(se * se + tau2)
    weights = w * (100 / sw)
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


def pool_batch(Y, V, *, method: str = "REML", knha: bool = False, level: float = 0.95, test: str | None = None,
               pi: str = "metafor") -> PooledBatch:
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
        The same as ``test="knha"``.
    level : float
        Confidence level for the CI and prediction interval.
    test : {"z", "t", "knha", "adhoc"}, optional
        The interval (metafor ``test``): ``"z"`` normal; ``"t"`` t on k-1 df with the usual
        variance; ``"knha"`` Hartung-Knapp; ``"adhoc"`` Hartung-Knapp with the scale factor floored
        at 1, so the interval is never narrower than the z interval's variance allows (Knapp &
        Hartung 2003; Röver, Knapp & Friede 2015). Default: ``"knha"`` if ``knha`` else ``"z"``.
        Analyses with k = 1 use z (with a :class:`~hipacu.FewStudiesWarning`).
    pi : {"metafor", "HTS"}
        Prediction interval: metafor's ``predict`` (the CI's critical value and variance) or
        Higgins, Thompson & Spiegelhalter (2009), ``μ̂ ± t_{k-2} sqrt(τ² + SE²)`` with the classic
        SE (Cochrane Handbook 10.10.4.3; RevMan; R meta ``method.predict = "HTS"``); NaN for k < 3.

    Returns
    -------
    PooledBatch
    """
    method, _, level = check_model_options(method, knha, level, METHODS)
    test = check_test(test, knha)
    pi = check_choice(pi, "pi", PI_METHODS)
    yc, vc, complete = _as_2d(Y, V)  # private studies × analyses copies
    out = _engine(yc, vc, method, test, level, pi, columns=True, complete=complete)
    for a in out.values():  # fresh arrays owned by the result: freeze, do not copy
        a.setflags(write=False)
    yc.setflags(write=False)
    vc.setflags(write=False)
    return PooledBatch(method=method, yi=yc.T, vi=vc.T, knha=test == "knha", level=level, test=test, pi_method=pi, **out)


def pool(yi, vi, *, method: str = "REML", knha: bool = False, level: float = 0.95, test: str | None = None,
         pi: str = "metafor") -> PooledEstimate:
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
    method, _, level = check_model_options(method, knha, level, METHODS)
    test = check_test(test, knha)
    pi = check_choice(pi, "pi", PI_METHODS)
    y = as_1d(yi, "yi")
    v = as_1d(vi, "vi", positive=True)
    check_same_length(yi=y, vi=v)
    out = _engine(y[:, None], v[:, None], method, test, level, pi, columns=True, complete=True)
    scalars = {name: float(a[0]) for name, a in out.items() if name not in ("k", "weights", "converged")}
    scalars["q_pval"] = float(q_pval(out["q"][0], out["k"][0] - 1))
    return PooledEstimate(k=int(out["k"][0]), method=method, weights=frozen_array(out["weights"][0]),
                          converged=bool(out["converged"][0]), yi=frozen_array(y), vi=frozen_array(v),
                          knha=test == "knha", level=level, test=test, pi_method=pi, **scalars)
