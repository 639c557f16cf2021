"""Confidence intervals for heterogeneity: the Q-profile method (Viechtbauer 2007).

The generalised Q statistic ``Q(τ²) = Σ (y - μ̂(τ²))² / (v + τ²)`` is decreasing in τ²; the
``1 - α`` interval for τ² is the set of τ² with ``χ²_{α/2, k-1} <= Q(τ²) <= χ²_{1-α/2, k-1}``,
truncated at 0. Bounds for I² and H² follow from those for τ² through the typical within-study
variance ``s² = (k-1) Σw / ((Σw)² - Σw²)`` (Higgins & Thompson 2002), exactly as metafor
``confint.rma.uni`` reports them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from hipacu._checks import as_1d, check_level, check_same_length

__all__ = ["HeterogeneityCI", "q_profile", "generalised_q"]


@dataclass(frozen=True)
class HeterogeneityCI:
    """Q-profile confidence bounds.

    Attributes
    ----------
    level : float
    tau2_low, tau2_high : float
        Bounds for τ² (``tau2_low = 0`` when Q(0) is below the upper χ² quantile; both 0 when
        Q(0) is below the lower quantile, as metafor reports).
    i2_low, i2_high : float
        Bounds for I², percent.
    h2_low, h2_high : float
        Bounds for H².
    """

    level: float
    tau2_low: float
    tau2_high: float
    i2_low: float
    i2_high: float
    h2_low: float
    h2_high: float

    @property
    def tau_low(self) -> float:
        return float(np.sqrt(self.tau2_low))

    @property
    def tau_high(self) -> float:
        return float(np.sqrt(self.tau2_high))

    def to_frame(self):
        """DataFrame with rows tau2, tau, I2 (%), H2 and columns ci_low, ci_high (as metafor's confint)."""
        import pandas as pd

        return pd.DataFrame(
            {
                "ci_low": [self.tau2_low, self.tau_low, self.i2_low, self.h2_low],
                "ci_high": [self.tau2_high, self.tau_high, self.i2_high, self.h2_high],
            },
            index=["tau2", "tau", "I2", "H2"],
        )


def generalised_q(yi: np.ndarray, vi: np.ndarray, tau2: float) -> float:
    """``Q(τ²) = Σ w (y - Σwy/Σw)²`` with ``w = 1/(v + τ²)``."""
    w = 1 / (vi + tau2)
    mu = np.sum(w * yi) / np.sum(w)
    return float(np.sum(w * (yi - mu) ** 2))


def _root(yi, vi, target: float) -> float:
    """τ² where Q(τ²) = target (Q(0) >= target assumed); bracket by doubling, then Brent."""
    f = lambda t: generalised_q(yi, vi, t) - target  # noqa: E731
    hi = max(1.0, 10 * np.var(yi))
    while f(hi) > 0:
        hi *= 2
        if hi > 1e300:
            raise ValueError("Q-profile bound search failed: Q(tau2) does not fall to the chi-square quantile")
    return float(optimize.brentq(f, 0.0, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=500))


def q_profile(yi, vi, *, level: float = 0.95) -> HeterogeneityCI:
    """Q-profile confidence intervals for τ², I² and H² (Viechtbauer 2007, section 3.2).

    metafor ``confint(rma(yi, vi))``. Needs ``k >= 2``.
    """
    y = as_1d(yi, "yi")
    v = as_1d(vi, "vi", positive=True)
    k = check_same_length(yi=y, vi=v)
    lev = check_level(level)
    if k < 2:
        raise ValueError(f"heterogeneity confidence intervals need k >= 2 studies; got k = {k}")
    alpha = 1 - lev
    crit_upper = float(special.chdtri(k - 1, alpha / 2))  # upper-tail quantile
    crit_lower = float(special.chdtri(k - 1, 1 - alpha / 2))  # lower-tail quantile
    q0 = generalised_q(y, v, 0.0)
    if q0 < crit_lower:
        lo = hi = 0.0
    else:
        lo = 0.0 if q0 < crit_upper else _root(y, v, crit_upper)
        hi = _root(y, v, crit_lower)
    w = 1 / v
    s2 = (k - 1) * w.sum() / (w.sum() ** 2 - (w**2).sum())
    return HeterogeneityCI(
        level=lev,
        tau2_low=lo,
        tau2_high=hi,
        i2_low=float(100 * lo / (lo + s2)),
        i2_high=float(100 * hi / (hi + s2)),
        h2_low=float((lo + s2) / s2),
        h2_high=float((hi + s2) / s2),
    )
