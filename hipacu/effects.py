"""Effect sizes and their sampling variances (metafor ``escalc`` equivalents).

Every function takes arrays (one value per study), names its arms (``1`` = intervention,
``2`` = comparator) and returns a frozen :class:`EffectSizes` with ``yi`` and ``vi``.
Formulas and references are in each docstring; the bibliography is ``hipacu.references``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import special

from hipacu._checks import two_by_two, as_1d, check_choice, check_level, check_same_length, frozen_array

__all__ = [
    "combine_groups",
    "CombinedGroup",
    "EffectSizes",
    "smd",
    "mean_difference",
    "log_ratio_of_means",
    "log_risk_ratio",
    "log_odds_ratio",
    "risk_difference",
    "logit_proportion",
    "log_incidence_rate",
    "from_ci",
    "sd_from_se",
    "sd_from_ci",
    "smd_from_md_ci",
    "ZERO_CELL_RULES",
]

#: Allowed values of ``to`` for zero-cell corrections (metafor ``escalc(to=)``).
ZERO_CELL_RULES = ("only0", "all", "if0all", "none")



@dataclass(frozen=True)
class EffectSizes:
    """Study-level effect sizes.

    Attributes
    ----------
    yi : ndarray
        Observed effects (log scale for ratio measures).
    vi : ndarray
        Sampling variances.
    measure : str
        metafor's code for the measure (``"SMD"``, ``"MD"``, ``"RR"``, ...).
    corrected : ndarray of bool
        Whether a zero-cell correction was added to that study (binary and count measures).
    """

    yi: np.ndarray
    vi: np.ndarray
    measure: str
    corrected: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        object.__setattr__(self, "yi", frozen_array(self.yi))
        object.__setattr__(self, "vi", frozen_array(self.vi))
        corr = np.zeros(self.yi.shape, bool) if self.corrected is None else np.asarray(self.corrected, bool)
        corr = corr.copy()
        corr.setflags(write=False)
        object.__setattr__(self, "corrected", corr)

    @property
    def sei(self) -> np.ndarray:
        """Standard errors, ``sqrt(vi)``."""
        return np.sqrt(self.vi)

    def __len__(self) -> int:
        return len(self.yi)

    def to_frame(self):
        """The effects as a DataFrame with columns ``yi, vi, sei, corrected``."""
        import pandas as pd

        return pd.DataFrame({"yi": self.yi, "vi": self.vi, "sei": self.sei, "corrected": self.corrected})


# --------------------------------------------------------------------------- continuous


def _arms(mean1, sd1, n1, mean2, sd2, n2, *, min_n: float):
    m1 = as_1d(mean1, "mean1")
    s1 = as_1d(sd1, "sd1", positive=True)
    k1 = as_1d(n1, "n1", integer=True, min_value=min_n)
    m2 = as_1d(mean2, "mean2")
    s2 = as_1d(sd2, "sd2", positive=True)
    k2 = as_1d(n2, "n2", integer=True, min_value=min_n)
    check_same_length(mean1=m1, sd1=s1, n1=k1, mean2=m2, sd2=s2, n2=k2)
    return m1, s1, k1, m2, s2, k2


def hedges_correction(df: np.ndarray) -> np.ndarray:
    """Exact small-sample bias correction ``J(m) = Γ(m/2) / (sqrt(m/2) Γ((m-1)/2))``.

    Hedges (1981), eq. 6e; metafor ``.cmicalc``. Computed on the log scale so it stays exact
    for large ``m``.
    """
    m = np.asarray(df, dtype=float)
    return np.exp(special.gammaln(m / 2) - 0.5 * np.log(m / 2) - special.gammaln((m - 1) / 2))


def smd(mean1, sd1, n1, mean2, sd2, n2) -> EffectSizes:
    """Standardised mean difference, Hedges' *g*.

    ``g = J(m) (mean1 - mean2) / s_p`` with ``s_p² = ((n1-1) sd1² + (n2-1) sd2²) / m``,
    ``m = n1 + n2 - 2`` and the exact correction ``J`` (Hedges 1981). Variance is the
    large-sample approximation ``1/n1 + 1/n2 + g² / (2 (n1 + n2))`` (Hedges & Olkin 1985,
    eq. 5.15 with *g*), metafor ``escalc("SMD")`` default ``vtype="LS"``.

    Needs ``n >= 2`` per arm (a standard deviation needs two observations).
    """
    m1, s1, k1, m2, s2, k2 = _arms(mean1, sd1, n1, mean2, sd2, n2, min_n=2)
    df = k1 + k2 - 2
    sp = np.sqrt(((k1 - 1) * s1**2 + (k2 - 1) * s2**2) / df)
    g = hedges_correction(df) * (m1 - m2) / sp
    vi = 1 / k1 + 1 / k2 + g**2 / (2 * (k1 + k2))
    return EffectSizes(g, vi, "SMD")


def mean_difference(mean1, sd1, n1, mean2, sd2, n2) -> EffectSizes:
    """Raw mean difference ``mean1 - mean2`` with variance ``sd1²/n1 + sd2²/n2``.

    metafor ``escalc("MD")`` (default ``vtype="LS"``, no equal-variance assumption).
    """
    m1, s1, k1, m2, s2, k2 = _arms(mean1, sd1, n1, mean2, sd2, n2, min_n=1)
    return EffectSizes(m1 - m2, s1**2 / k1 + s2**2 / k2, "MD")


def log_ratio_of_means(mean1, sd1, n1, mean2, sd2, n2) -> EffectSizes:
    """Log ratio of means ``log(mean1/mean2)``, variance ``sd1²/(n1 mean1²) + sd2²/(n2 mean2²)``.

    Hedges, Gurevitch & Curtis (1999); metafor ``escalc("ROM")``. Means must be > 0.
    """
    m1, s1, k1, m2, s2, k2 = _arms(mean1, sd1, n1, mean2, sd2, n2, min_n=1)
    as_1d(m1, "mean1", positive=True)
    as_1d(m2, "mean2", positive=True)
    return EffectSizes(np.log(m1 / m2), s1**2 / (k1 * m1**2) + s2**2 / (k2 * m2**2), "ROM")


# --------------------------------------------------------------------------- binary


def _zero_cell_mask(cells: np.ndarray, add: float, to: str) -> np.ndarray:
    """Which studies get ``add`` added to every cell (metafor ``escalc`` rules).

    ``cells`` is (k, n_cells). ``"only0"``: studies with any zero cell; ``"all"``: every study;
    ``"if0all"``: every study if any study has a zero cell; ``"none"``: no study.
    """
    check_choice(to, "to", ZERO_CELL_RULES)
    if not np.isfinite(add) or add < 0:
        raise ValueError(f"add={add!r} is not allowed; it must be a finite number >= 0 (metafor uses 0.5)")
    has0 = (cells == 0).any(axis=1)
    if to == "only0":
        return has0
    if to == "all":
        return np.ones(len(cells), bool)
    if to == "if0all":
        return np.full(len(cells), bool(has0.any()))
    return np.zeros(len(cells), bool)


def _corrected_cells(cells: np.ndarray, add: float, to: str, measure: str, needs_nonzero) -> tuple[np.ndarray, np.ndarray]:
    mask = _zero_cell_mask(cells, add, to)
    if add == 0:
        mask = np.zeros_like(mask)
    cells = cells + np.where(mask, add, 0.0)[:, None]
    bad = needs_nonzero(cells)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"study {i} has a zero cell, so its {measure} is undefined with add={add}, to={to!r}; "
            "use the default add=0.5, to='only0' (metafor's convention) or leave the study out explicitly"
        )
    return cells, mask


def log_risk_ratio(events1, total1, events2, total2, *, add: float = 0.5, to: str = "only0") -> EffectSizes:
    """Log risk ratio ``log((a/n1) / (c/n2))``, variance ``1/a - 1/n1 + 1/c - 1/n2``.

    Zero cells: ``add`` is added to each of the four cells of the studies chosen by ``to``
    (``"only0"`` = studies with a zero cell, the default; ``"all"``; ``"if0all"`` = all studies
    if any has a zero cell; ``"none"``). Double-zero studies are kept and corrected, as
    ``escalc(drop00=FALSE)`` does. metafor ``escalc("RR")``.
    """
    a, b, c, d = two_by_two(events1, total1, events2, total2)
    cells, mask = _corrected_cells(
        np.column_stack([a, b, c, d]), add, to, "log risk ratio", lambda x: (x[:, 0] == 0) | (x[:, 2] == 0)
    )
    a, b, c, d = cells.T
    n1, n2 = a + b, c + d
    return EffectSizes(np.log(a / n1) - np.log(c / n2), 1 / a - 1 / n1 + 1 / c - 1 / n2, "RR", mask)


def log_odds_ratio(events1, total1, events2, total2, *, add: float = 0.5, to: str = "only0") -> EffectSizes:
    """Log odds ratio ``log(ad / bc)``, variance ``1/a + 1/b + 1/c + 1/d`` (Woolf 1955).

    Zero cells as in :func:`log_risk_ratio`. metafor ``escalc("OR")``.
    """
    a, b, c, d = two_by_two(events1, total1, events2, total2)
    cells, mask = _corrected_cells(np.column_stack([a, b, c, d]), add, to, "log odds ratio", lambda x: (x == 0).any(axis=1))
    a, b, c, d = cells.T
    return EffectSizes(np.log(a * d / (b * c)), 1 / a + 1 / b + 1 / c + 1 / d, "OR", mask)


def risk_difference(events1, total1, events2, total2, *, add: float = 0.5, to: str = "only0") -> EffectSizes:
    """Risk difference ``a/n1 - c/n2``, variance ``p1 (1-p1)/n1 + p2 (1-p2)/n2``.

    metafor applies the zero-cell correction to RD too (``escalc("RD")``); so does this
    function by default. Pass ``add=0`` for the uncorrected difference.
    """
    a, b, c, d = two_by_two(events1, total1, events2, total2)
    cells, mask = _corrected_cells(np.column_stack([a, b, c, d]), add, to, "risk difference", lambda x: np.zeros(len(x), bool))
    a, b, c, d = cells.T
    n1, n2 = a + b, c + d
    p1, p2 = a / n1, c / n2
    return EffectSizes(p1 - p2, p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2, "RD", mask)


def logit_proportion(events, total, *, add: float = 0.5, to: str = "only0") -> EffectSizes:
    """Logit of a proportion ``log(x / (n - x))``, variance ``1/x + 1/(n - x)``.

    Zero cells (``x = 0`` or ``x = n``): ``add`` is added to both ``x`` and ``n - x``.
    metafor ``escalc("PLO")``. Back-transform with ``scipy.special.expit``.
    """
    x = as_1d(events, "events", nonnegative=True, integer=True)
    n = as_1d(total, "total", integer=True, min_value=1)
    check_same_length(events=x, total=n)
    if (x > n).any():
        i = int(np.flatnonzero(x > n)[0])
        raise ValueError(f"events[{i}] = {x[i]:g} exceeds total[{i}] = {n[i]:g}; events must be <= total")
    cells, mask = _corrected_cells(np.column_stack([x, n - x]), add, to, "logit proportion", lambda c: (c == 0).any(axis=1))
    x, y = cells.T
    return EffectSizes(np.log(x / y), 1 / x + 1 / y, "PLO", mask)


def log_incidence_rate(events, exposure, *, add: float = 0.5, to: str = "only0") -> EffectSizes:
    """Log incidence rate ``log(x / t)``, variance ``1/x``.

    Zero counts: ``add`` is added to the count only (the exposure is unchanged), as metafor
    ``escalc("IRLN")`` does. ``exposure`` is person-time, treatments, or any denominator of a
    rate.
    """
    x = as_1d(events, "events", nonnegative=True, integer=True)
    t = as_1d(exposure, "exposure", positive=True)
    check_same_length(events=x, exposure=t)
    cells, mask = _corrected_cells(x[:, None], add, to, "log incidence rate", lambda c: c[:, 0] == 0)
    x = cells[:, 0]
    return EffectSizes(np.log(x / t), 1 / x, "IRLN", mask)


# --------------------------------------------------------------------------- contrast level


def _z(level: float) -> float:
    return float(special.ndtri(0.5 + level / 2))


def from_ci(estimate, ci_low, ci_high, *, level: float = 0.95, log: bool = False) -> EffectSizes:
    """Generic inverse variance from an estimate and its confidence interval.

    ``se = (ci_high - ci_low) / (2 z)`` with ``z = Φ⁻¹((1 + level)/2)`` (Cochrane Handbook
    §6.3.1). With ``log=True`` (ratio measures) estimate and limits are logged first and the
    returned ``yi`` is on the log scale. ``ci_low <= estimate <= ci_high`` is required.
    """
    est = as_1d(estimate, "estimate", positive=log)
    lo = as_1d(ci_low, "ci_low", positive=log)
    hi = as_1d(ci_high, "ci_high", positive=log)
    check_same_length(estimate=est, ci_low=lo, ci_high=hi)
    lev = check_level(level)
    for bad, msg in (
        (lo > est, "ci_low[{i}] = {l:g} is above estimate[{i}] = {e:g}"),
        (est > hi, "estimate[{i}] = {e:g} is above ci_high[{i}] = {h:g}"),
        (lo == hi, "ci_low[{i}] equals ci_high[{i}] = {h:g}; a zero-width interval has no variance"),
    ):
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(msg.format(i=i, l=lo[i], e=est[i], h=hi[i]) + "; need ci_low <= estimate <= ci_high")
    if log:
        est, lo, hi = np.log(est), np.log(lo), np.log(hi)
    se = (hi - lo) / (2 * _z(lev))
    return EffectSizes(est, se**2, "GEN")


def sd_from_se(se, n) -> np.ndarray:
    """Standard deviation from a standard error of a mean: ``sd = se * sqrt(n)`` (Handbook §6.5.2.2)."""
    s = as_1d(se, "se", positive=True)
    k = as_1d(n, "n", integer=True, min_value=1)
    check_same_length(se=s, n=k)
    return s * np.sqrt(k)


def sd_from_ci(ci_low, ci_high, n, *, level: float = 0.95, dist: str = "t") -> np.ndarray:
    """Standard deviation from a confidence interval for a single mean.

    ``sd = sqrt(n) (ci_high - ci_low) / (2 c)`` with ``c`` the ``t`` quantile on ``n - 1`` df
    (``dist="t"``, Handbook §6.5.2.2 for small samples) or the normal quantile (``dist="z"``).
    """
    lo = as_1d(ci_low, "ci_low")
    hi = as_1d(ci_high, "ci_high")
    k = as_1d(n, "n", integer=True, min_value=2)
    check_same_length(ci_low=lo, ci_high=hi, n=k)
    lev = check_level(level)
    check_choice(dist, "dist", ("t", "z"))
    if (hi <= lo).any():
        i = int(np.flatnonzero(hi <= lo)[0])
        raise ValueError(f"ci_high[{i}] = {hi[i]:g} must be above ci_low[{i}] = {lo[i]:g}")
    c = special.stdtrit(k - 1, 0.5 + lev / 2) if dist == "t" else _z(lev)
    return np.sqrt(k) * (hi - lo) / (2 * c)


def smd_from_md_ci(md, ci_low, ci_high, n1, n2, *, level: float = 0.95) -> EffectSizes:
    """Hedges' *g* from a mean difference, its confidence interval and the arm sizes.

    The CI gives ``se(MD)`` (normal quantile); the pooled SD is ``se / sqrt(1/n1 + 1/n2)``
    (Handbook §6.5.2.3, large-sample form); then ``g = J(n1+n2-2) MD / s_p`` with the variance
    of :func:`smd`.
    """
    d = from_ci(md, ci_low, ci_high, level=level)
    k1 = as_1d(n1, "n1", integer=True, min_value=2)
    k2 = as_1d(n2, "n2", integer=True, min_value=2)
    check_same_length(md=d.yi, n1=k1, n2=k2)
    sp = np.sqrt(d.vi) / np.sqrt(1 / k1 + 1 / k2)
    g = hedges_correction(k1 + k2 - 2) * d.yi / sp
    return EffectSizes(g, 1 / k1 + 1 / k2 + g**2 / (2 * (k1 + k2)), "SMD")


# --------------------------------------------------------------------------- multi-arm trials


@dataclass(frozen=True)
class CombinedGroup:
    """Two or more arms merged into one group (``n``, ``mean``, ``sd``, or ``events``)."""

    n: float
    mean: float | None = None
    sd: float | None = None
    events: float | None = None


def combine_groups(n, mean=None, sd=None, *, events=None) -> CombinedGroup:
    """Merge arms of one trial into a single group, as the Cochrane Handbook (v6, section 23.3.4,
    table 6.5.a) describes for a multi-arm trial whose arms would otherwise share a comparator.

    Continuous outcomes (``mean``, ``sd`` per arm): arms are merged pairwise,
    ``N = N1 + N2``, ``M = (N1 M1 + N2 M2) / N`` and
    ``SD = sqrt(((N1 - 1) SD1² + (N2 - 1) SD2² + N1 N2 / N (M1 - M2)²) / (N - 1))``, which is the
    sample SD of the pooled participants. Dichotomous outcomes (``events``): events and totals add.

    Parameters
    ----------
    n : array-like
        Participants per arm (at least two arms).
    mean, sd : array-like, optional
        Mean and SD per arm (both, for a continuous outcome).
    events : array-like, optional
        Events per arm (for a dichotomous outcome).

    Examples
    --------
    Two sham arms of 10 (mean 5, SD 1) and 30 (mean 7, SD 2):
    ``combine_groups([10, 30], [5, 7], [1, 2])`` gives n = 40, mean 6.5, SD ≈ 1.99 (the SD of the 40 participants pooled).
    """
    n_ = as_1d(n, "n", integer=True, min_value=1)
    if len(n_) < 2:
        raise ValueError(f"n has {len(n_)} arm(s); combining needs at least two arms")
    if events is not None:
        if mean is not None or sd is not None:
            raise ValueError("give either events (dichotomous) or mean and sd (continuous), not both")
        ev = as_1d(events, "events", nonnegative=True, integer=True)
        check_same_length(n=n_, events=ev)
        if (ev > n_).any():
            i = int(np.flatnonzero(ev > n_)[0])
            raise ValueError(f"events[{i}] = {ev[i]:g} exceeds n[{i}] = {n_[i]:g}; events must be <= n")
        return CombinedGroup(n=float(n_.sum()), events=float(ev.sum()))
    if mean is None or sd is None:
        raise ValueError("a continuous outcome needs both mean and sd for every arm (or give events)")
    m = as_1d(mean, "mean")
    s = as_1d(sd, "sd", positive=True)
    check_same_length(n=n_, mean=m, sd=s)
    N, M, S = n_[0], m[0], s[0]
    for n2, m2, s2 in zip(n_[1:], m[1:], s[1:]):
        tot = N + n2
        var = ((N - 1) * S**2 + (n2 - 1) * s2**2 + N * n2 / tot * (M - m2) ** 2) / (tot - 1)
        M = (N * M + n2 * m2) / tot
        N, S = tot, float(np.sqrt(var))
    return CombinedGroup(n=float(N), mean=float(M), sd=float(S))
