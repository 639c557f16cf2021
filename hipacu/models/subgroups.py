"""Subgroup analyses: a pooled estimate per subgroup and the test for subgroup differences.

:func:`subgroup_test` pools each subgroup with :func:`hipacu.pool_batch` (one row per subgroup,
separate τ²) or fits one meta-regression on the group factor (common τ²), as metafor
``rma(yi, vi, mods = ~ factor(g))`` and RevMan's test for subgroup differences do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import special

from hipacu._checks import as_1d, check_choice, check_model_options, check_same_length, format_p, frozen_array
from hipacu.models._stats import critical_value, two_sided_p
from hipacu.models.pooling import PooledEstimate, pool_batch
from hipacu.models.regression import REGRESSION_METHODS, MetaRegressionResult, fit_design

__all__ = ["SubgroupResult", "subgroup_test"]

# --------------------------------------------------------------------------- subgroups


@dataclass(frozen=True)
class SubgroupResult:
    """Pooled estimate per subgroup and the test for subgroup differences.

    Attributes
    ----------
    subgroups : dict of str -> PooledEstimate
        One pooled estimate per subgroup, in level order (pandas categories order for a
        categorical, sorted labels otherwise).
    q_between : float
        Test statistic for subgroup differences. ``tau2="separate"``: Cochran's Q of the subgroup
        estimates with weights ``1/se²`` (fixed-effect test on their SEs, as RevMan and metafor's
        ``rma(estimates, sei = ses, method = "FE")``). ``tau2="common"``: metafor's ``QM`` of
        ``rma(yi, vi, mods = ~ factor(group))`` -- a Wald χ², or with ``knha`` an F value.
    df : int
        Numerator degrees of freedom, number of subgroups minus 1.
    df2 : float
        Denominator df of the F test (``k - G``, common τ² with ``knha``); ``inf`` for χ² tests.
    pval : float
        p-value of the test.
    test : str
        ``"chi2"`` or ``"F"``.
    i2_between : float
        ``max(0, 100 (q_between - df) / q_between)`` for χ² tests (RevMan's I² for subgroup
        differences), 0 when ``q_between <= df``; for the F test it uses the Wald χ² ``df × F``.
    tau2_mode : str
        ``"separate"`` or ``"common"``.
    tau2 : float or None
        The common τ² (``"common"``); None for separate estimates (see each subgroup's ``tau2``).
    method, knha, level
        The options used.
    regression : MetaRegressionResult or None
        The fitted group-factor meta-regression for ``tau2="common"``.
    """

    subgroups: dict[str, PooledEstimate]
    q_between: float
    df: int
    df2: float
    pval: float
    test: str
    i2_between: float
    tau2_mode: str
    tau2: float | None
    method: str
    knha: bool
    level: float
    regression: MetaRegressionResult | None = field(default=None, repr=False)

    def to_frame(self):
        """DataFrame, one row per subgroup: group, k, estimate, se, ci_low, ci_high, statistic, pval,
        tau2, i2, q, q_pval, pi_low, pi_high."""
        import pandas as pd

        cols = ["k", "estimate", "se", "ci_low", "ci_high", "statistic", "pval", "tau2", "i2", "q", "q_pval",
                "pi_low", "pi_high"]
        rows = [{"group": g, **{c: getattr(r, c) for c in cols}} for g, r in self.subgroups.items()]
        return pd.DataFrame(rows, columns=["group", *cols])

    def summary(self, digits: int = 4) -> str:
        """Subgroup table and the test for subgroup differences, as text."""
        f = f"{{:.{digits}f}}"
        lines = [f"Subgroup analysis ({self.method}, tau2 {self.tau2_mode}" + (", Knapp-Hartung" if self.knha else "") + ")"]
        width = max(len(str(g)) for g in self.subgroups)
        lev = f"{100 * self.level:g}%"
        for g, r in self.subgroups.items():
            lines.append(
                f"  {str(g):{width}}  k = {r.k:<3d} estimate {f.format(r.estimate)}  {lev} CI {f.format(r.ci_low)} "
                f"to {f.format(r.ci_high)}  tau2 = {f.format(r.tau2)}  I2 = {r.i2:.1f}%"
            )
        if self.test == "F":
            stat = f"F({self.df}, {self.df2:g}) = {f.format(self.q_between)}"
        else:
            stat = f"Chi2 = {f.format(self.q_between)}, df = {self.df}"
        lines.append(f"Test for subgroup differences: {stat}, p = {format_p(self.pval)}, I2 = {self.i2_between:.1f}%")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _group_levels(groups, k: int) -> tuple[np.ndarray, list]:
    """Per-study level index and the level labels (sorted, or category order)."""
    import pandas as pd

    if isinstance(groups, (str, bytes)):
        raise ValueError(f"groups must be a sequence with one label per study; got the string {groups!r}")
    cat = None
    if isinstance(groups, pd.Series) and isinstance(groups.dtype, pd.CategoricalDtype):
        cat = groups.cat
        values = list(groups)
    elif isinstance(groups, pd.Categorical):
        cat = pd.Series(groups).cat
        values = list(groups)
    else:
        try:
            values = list(np.asarray(groups, dtype=object).ravel()) if not isinstance(groups, (list, tuple)) else list(groups)
        except TypeError as exc:
            raise ValueError(f"groups must be a sequence with one label per study; got {groups!r:.80}") from exc
    if len(values) != k:
        raise ValueError(f"groups must have one label per study; got {len(values)} labels for k = {k} studies (yi)")
    for i, g in enumerate(values):
        if g is None or (isinstance(g, float) and math.isnan(g)) or g is pd.NA or g is pd.NaT:
            raise ValueError(f"groups[{i}] is missing ({g!r}); every study needs a subgroup label")
    if cat is not None:
        present = set(values)
        levels = [c for c in cat.categories if c in present]
    else:
        uniq = list(dict.fromkeys(values))
        try:
            levels = sorted(uniq)
        except TypeError:
            levels = uniq  # mixed, unorderable labels: order of first appearance
    index = {g: i for i, g in enumerate(levels)}
    return np.array([index[g] for g in values]), levels


def subgroup_test(yi, vi, groups, *, method: str = "REML", tau2: str = "separate", knha: bool = False,
                  level: float = 0.95) -> SubgroupResult:
    """Pooled estimate per subgroup and the test for subgroup differences.

    ``tau2="separate"`` (RevMan, Cochrane Handbook 10.11.3): each subgroup is pooled on its own
    (one :func:`hipacu.pool_batch` call, one row per subgroup) and the test is Cochran's Q of the
    subgroup estimates ``θ_g`` with weights ``1/se_g²``: ``Q_B = Σ (θ_g - θ̄)² / se_g²`` on ``G - 1``
    df (Borenstein et al. 2009, ch. 19; metafor ``rma(estimates, sei = ses, method = "FE")``). A
    subgroup of one study is that study, with τ² = 0 (as metafor's ``rma`` with ``k = 1``).

    ``tau2="common"``: one τ² shared by all subgroups, i.e. the meta-regression on the group factor
    (metafor ``rma(yi, vi, mods = ~ factor(group))``); the test is its omnibus ``QM`` (an F test
    with ``knha``). Each subgroup's estimate, SE, CI and prediction interval are those of
    ``predict(rma(yi, vi, mods = ~ factor(group) - 1))``; its ``tau2``, ``i2`` and ``h2`` are the
    model's residual values; ``q`` and ``q_pval`` are the subgroup's own Cochran's Q.

    Parameters
    ----------
    yi, vi : array-like, shape (k,)
    groups : array-like, shape (k,)
        Subgroup label per study (any hashable labels; a pandas categorical keeps its category
        order).
    method : str
        ``"FE"`` or a τ² estimator code.
    tau2 : {"separate", "common"}
    knha : bool
        Knapp–Hartung t tests within subgroups (separate) or in the model (common).
    level : float

    Returns
    -------
    SubgroupResult

    Raises
    ------
    ValueError
        Fewer than 2 subgroups; ``knha=True`` with ``tau2="separate"`` and a subgroup of one study
        (its Knapp–Hartung test is impossible; metafor would silently switch that subgroup to a z
        test); ``tau2="common"`` without more studies than subgroups; missing labels; the
        usual input errors. Each message names the group or argument.
    """
    method, knha, level = check_model_options(method, knha, level, REGRESSION_METHODS)
    check_choice(tau2, "tau2", ("separate", "common"))
    y = as_1d(yi, "yi")
    v = as_1d(vi, "vi", positive=True)
    k = check_same_length(yi=y, vi=v)
    gi, levels = _group_levels(groups, k)
    G = len(levels)
    sizes = np.bincount(gi, minlength=G)
    if G < 2:
        raise ValueError(
            f"groups has a single subgroup {levels[0]!r}; a test for subgroup differences needs at least 2 subgroups"
        )
    singletons = [levels[g] for g in range(G) if sizes[g] == 1]
    if tau2 == "separate" and knha and singletons:
        raise ValueError(
            f"subgroup {singletons[0]!r} has one study, so its Knapp-Hartung (knha) t test is impossible "
            f"(it needs >= 2 studies); use knha=False or tau2='common'"
            + (f" (also one study: {', '.join(map(repr, singletons[1:]))})" if len(singletons) > 1 else "")
        )
    if tau2 == "common" and k <= G:
        raise ValueError(
            f"tau2='common' needs more studies than subgroups to estimate the model; got k = {k} studies in "
            f"{G} subgroups (every subgroup, e.g. {singletons[0]!r}, has one study); use tau2='separate'"
        )

    width = int(sizes.max())
    Y = np.full((G, width), np.nan)
    Vm = np.full((G, width), np.nan)
    for g in range(G):
        sel = gi == g
        Y[g, : sizes[g]] = y[sel]
        Vm[g, : sizes[g]] = v[sel]

    keys = [str(g) if not isinstance(g, str) else g for g in levels]
    if len(set(keys)) != len(keys):
        keys = list(levels)

    if tau2 == "separate":
        batch = pool_batch(Y, Vm, method=method, knha=knha, level=level)
        subgroups = {key: batch[g] for g, key in enumerate(keys)}
        est = np.asarray(batch.estimate)
        w = 1 / np.asarray(batch.se) ** 2
        mu = np.sum(w * est) / np.sum(w)
        q = float(np.sum(w * (est - mu) ** 2))
        df = G - 1
        pval = float(special.chdtrc(df, q))
        i2b = max(0.0, 100 * (q - df) / q) if q > 0 else 0.0
        return SubgroupResult(
            subgroups=subgroups, q_between=q, df=df, df2=math.inf, pval=pval, test="chi2", i2_between=i2b,
            tau2_mode="separate", tau2=None, method=method, knha=knha, level=level, regression=None,
        )

    # common tau²: treatment-coded group factor (reference = first level), one fit
    D = np.zeros((k, G - 1))
    for g in range(1, G):
        D[gi == g, g - 1] = 1.0
    X = np.column_stack([np.ones(k), D])
    cols = [f"intercept ({keys[0]})", *[f"group {key}" for key in keys[1:]]]
    reg = fit_design(y, v, X, cols, True, method, knha, level)
    L = np.eye(G)
    L[:, 0] = 1.0
    vb = np.asarray(reg.vcov)
    est = L @ np.asarray(reg.coefficients)
    se = np.sqrt(np.einsum("gi,ij,gj->g", L, vb, L))
    crit = float(critical_value(level, reg.df))
    stat = est / se
    pv = two_sided_p(stat, reg.df)
    pi_half = crit * np.sqrt(se**2 + reg.tau2)
    fe = pool_batch(Y, Vm, method="FE", level=level)  # each subgroup's own Cochran's Q
    subgroups = {}
    for g, key in enumerate(keys):
        base = fe[g]
        wg = 1 / (np.asarray(base.vi) + reg.tau2)
        subgroups[key] = replace(
            base,
            method=method,
            estimate=float(est[g]),
            se=float(se[g]),
            ci_low=float(est[g] - crit * se[g]),
            ci_high=float(est[g] + crit * se[g]),
            statistic=float(stat[g]),
            pval=float(pv[g]),
            df=reg.df,
            tau2=reg.tau2,
            i2=reg.i2,
            h2=reg.h2,
            pi_low=float(est[g] - pi_half[g]),
            pi_high=float(est[g] + pi_half[g]),
            weights=frozen_array(100 * wg / wg.sum()),
            converged=reg.converged,
            knha=knha,
        )
    chi2_equiv = reg.qm * reg.qm_df if knha else reg.qm
    df = G - 1
    i2b = max(0.0, 100 * (chi2_equiv - df) / chi2_equiv) if chi2_equiv > 0 else 0.0
    return SubgroupResult(
        subgroups=subgroups, q_between=reg.qm, df=df, df2=reg.qm_df2, pval=reg.qm_pval,
        test="F" if knha else "chi2", i2_between=i2b, tau2_mode="common", tau2=reg.tau2, method=method,
        knha=knha, level=level, regression=reg,
    )
