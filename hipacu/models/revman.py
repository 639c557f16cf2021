"""Pooling as RevMan 5 states its methods: Mantel-Haenszel, inverse variance and Peto, fixed effect or
DerSimonian-Laird random effects (Deeks JJ, Higgins JPT. Statistical algorithms in Review Manager 5,
2010; Cochrane Handbook 10.4).

- **Inverse variance** (dichotomous, continuous, generic): :func:`hipacu.pool` with ``method="FE"``
  or ``"DL"`` and the z interval.
- **Mantel-Haenszel** fixed effect: :func:`hipacu.mantel_haenszel` (RR, OR, RD; metafor ``rma.mh``);
  heterogeneity is Cochran's Q of the study effects about the MH estimate, ``Q = Σ w_i (y_i - θ_MH)²``
  with ``w_i = 1/v_i``. Random effects: DerSimonian-Laird ``τ² = max(0, (Q - df) / (Σw - Σw²/Σw))``
  from that Q, then the inverse-variance estimate with weights ``1/(v_i + τ²)`` (RevMan 5; R meta's
  ``Q.Cochrane``).
- **Peto** odds ratio (fixed effect only): :func:`hipacu.peto` (metafor ``rma.peto``).
- Weights (percent) as RevMan shows them: MH ``c_i n1_i / N_i`` (RR), ``b_i c_i / N_i`` (OR),
  ``n1_i n2_i / N_i`` (RD); Peto ``V_i``; inverse variance ``1/v_i`` or ``1/(v_i + τ²)``.
- RevMan's standardised mean difference (Hedges' adjusted g, :func:`smd_revman`):
  ``g = (m1 - m2) / s (1 - 3 / (4N - 9))``, ``var = N / (n1 n2) + g² / (2 (N - 3.94))`` (Deeks &
  Higgins 2010), which differs from metafor's exact-J SMD in the last digits.

Every result satisfies :class:`~hipacu.models.protocol.SummaryEstimate`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from hipacu._checks import check_choice, check_level, format_p, frozen_array, two_by_two
from hipacu.models.binary import mantel_haenszel, peto
from hipacu.models.pooling import pool
from hipacu.models._stats import wald

__all__ = ["RevManEstimate", "revman_pool", "smd_revman", "REVMAN_METHODS"]

#: Pooling methods of RevMan 5.
REVMAN_METHODS = ("MH", "IV", "PETO")


@dataclass(frozen=True)
class RevManEstimate:
    """A pooled estimate computed as RevMan 5 computes it (log scale for ratio measures).

    Fields as :class:`hipacu.PooledEstimate` (``k, method, estimate, se, ci_low, ci_high, statistic,
    pval, df, tau2, i2, h2, q, q_pval, pi_low, pi_high, weights, converged, yi, vi, level, test``)
    plus ``pooling`` (``"MH"``, ``"IV"`` or ``"PETO"``) and ``random`` (DerSimonian-Laird).
    ``method`` is ``"FE"`` or ``"DL"`` (the τ² estimator, for re-fits by other functions);
    prediction intervals are not part of RevMan 5's output (NaN).
    """

    k: int
    method: str
    pooling: str
    random: bool
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    statistic: float
    pval: float
    tau2: float
    i2: float
    h2: float
    q: float
    q_pval: float
    weights: np.ndarray
    yi: np.ndarray
    vi: np.ndarray
    level: float
    df: float = np.inf
    pi_low: float = np.nan
    pi_high: float = np.nan
    converged: bool = True
    test: str = "z"
    knha: bool = False

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame([{f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("weights", "yi", "vi")}])

    def summary(self, digits: int = 4) -> str:
        f = f"{{:.{digits}f}}"
        model = "random effects (DerSimonian-Laird)" if self.random else "fixed effect"
        return "\n".join([
            f"RevMan 5 {self.pooling} {model} (k = {self.k})",
            f"tau^2 = {f.format(self.tau2)}   I^2 = {self.i2:.2f}%   Chi^2 = {f.format(self.q)}, "
            f"p = {format_p(self.q_pval)}",
            f"estimate = {f.format(self.estimate)}   se = {f.format(self.se)}   z = {self.statistic:.2f}   "
            f"p = {format_p(self.pval)}",
            f"{100 * self.level:g}% CI {f.format(self.ci_low)} to {f.format(self.ci_high)}",
        ])

    def __str__(self) -> str:
        return self.summary()


def _z(est: float, se: float, level: float):
    """``(ci_low, ci_high, z, p)`` of a Wald z test (:func:`hipacu.models._stats.wald`)."""
    stat, p, lo, hi = wald(est, se, level)
    return float(lo), float(hi), float(stat), float(p)


def _i2(q: float, df: int) -> tuple[float, float]:
    if df < 1 or q <= 0:
        return 0.0, 1.0
    return max(0.0, 100 * (q - df) / q), q / df


def smd_revman(mean1, sd1, n1, mean2, sd2, n2) -> tuple[np.ndarray, np.ndarray]:
    """RevMan 5's standardised mean difference (Hedges' adjusted g) and its variance (see module docstring)."""
    m1, s1, k1, m2, s2, k2 = (np.asarray(x, float) for x in (mean1, sd1, n1, mean2, sd2, n2))
    N = k1 + k2
    s = np.sqrt(((k1 - 1) * s1**2 + (k2 - 1) * s2**2) / (N - 2))
    g = (m1 - m2) / s * (1 - 3 / (4 * N - 9))
    return g, N / (k1 * k2) + g**2 / (2 * (N - 3.94))


def revman_pool(*, method: str, measure: str, random: bool, yi, vi, cells=None, level: float = 0.95):
    """Pool one RevMan analysis (see the module docstring).

    Parameters
    ----------
    method : {"MH", "IV", "PETO"}
    measure : str
        ``RR``, ``OR``, ``RD`` for MH and Peto (``OR``); any measure for IV.
    random : bool
        DerSimonian-Laird random effects (not for Peto).
    yi, vi : array-like
        Study effects and variances (log scale for ratios; zero cells corrected as
        :mod:`hipacu.effects` does), for inverse variance and for the MH heterogeneity test.
    cells : tuple (events1, total1, events2, total2), optional
        The 2x2 counts, required for MH and Peto.
    level : float

    Returns
    -------
    RevManEstimate or PooledEstimate
        Inverse variance returns :func:`hipacu.pool`'s result (FE or DL, z interval).
    """
    method = check_choice(method, "method", REVMAN_METHODS)
    level = check_level(level)
    y, v = np.asarray(yi, float), np.asarray(vi, float)
    if method == "IV":
        return pool(y, v, method="DL" if random else "FE", level=level)
    if cells is None:
        raise ValueError(f"method={method!r} needs the 2x2 counts (cells=(events1, total1, events2, total2))")
    a, b, c, d = two_by_two(*cells)
    n1, n2 = a + b, c + d
    N = n1 + n2
    if method == "PETO":
        if random:
            raise ValueError("RevMan's Peto odds ratio is a fixed-effect method; random=True is not available")
        r = peto(*cells, level=level)
        V = n1 * n2 * (a + c) * (b + d) / (N**2 * (N - 1))
        i2, h2 = _i2(r.q, r.q_df)
        return RevManEstimate(k=r.k, method="FE", pooling="PETO", random=False, estimate=r.estimate, se=r.se,
                              ci_low=r.ci_low, ci_high=r.ci_high, statistic=r.statistic, pval=r.pval, tau2=0.0, i2=i2,
                              h2=h2, q=r.q, q_pval=r.q_pval, weights=frozen_array(100 * V / V.sum()), yi=frozen_array(y),
                              vi=frozen_array(v), level=level)
    check_choice(measure, "measure", ("RR", "OR", "RD"))
    r = mantel_haenszel(*cells, measure=measure, level=level)
    raw = {"RR": c * n1 / N, "OR": b * c / N, "RD": n1 * n2 / N}[measure]
    i2, h2 = _i2(r.q, r.q_df)
    if not random:
        return RevManEstimate(k=r.k, method="FE", pooling="MH", random=False, estimate=r.estimate, se=r.se,
                              ci_low=r.ci_low, ci_high=r.ci_high, statistic=r.statistic, pval=r.pval, tau2=0.0, i2=i2,
                              h2=h2, q=r.q, q_pval=r.q_pval, weights=frozen_array(100 * raw / raw.sum()),
                              yi=frozen_array(y), vi=frozen_array(v), level=level)
    keep = ~(((a == 0) & (c == 0)) | ((b == 0) & (d == 0))) if measure != "RD" else np.ones(len(y), bool)
    w = 1 / v[keep]
    df = int(keep.sum()) - 1
    tau2 = max(0.0, (r.q - df) / (w.sum() - (w**2).sum() / w.sum())) if df >= 1 else 0.0
    ws = np.where(keep, 1 / (v + tau2), 0.0)
    est = float(np.sum(ws * y) / ws.sum())
    se = float(1 / np.sqrt(ws.sum()))
    lo, hi, stat, p = _z(est, se, level)
    return RevManEstimate(k=r.k, method="DL", pooling="MH", random=True, estimate=est, se=se, ci_low=lo, ci_high=hi,
                          statistic=stat, pval=p, tau2=float(tau2), i2=i2, h2=h2, q=r.q, q_pval=r.q_pval,
                          weights=frozen_array(100 * ws / ws.sum()), yi=frozen_array(y), vi=frozen_array(v), level=level)
