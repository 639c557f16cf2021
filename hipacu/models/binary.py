"""Pooling 2 × 2 tables without inverse-variance weights: Mantel–Haenszel and Peto.

Both work on the counts themselves (arm 1 = intervention: ``events1`` of ``total1``; arm 2 =
comparator), so sparse tables need no continuity correction for the pooled estimate. They
reproduce metafor 3.8 ``rma.mh(ai, n1i = , ci, n2i = , measure = ...)`` and
``rma.peto(...)`` with their default zero-cell arguments (``add = c(1/2, 0)``,
``to = c("only0", "none")``, ``drop00 = c(TRUE, FALSE)``): the first value of each pair applies
to the study-level effects behind the heterogeneity test, the second to the pooled estimate.

Zero cells and double-zero tables (metafor's defaults, here fixed):

* **Pooled estimate**: the raw counts, no correction. A table with a zero cell enters the sums as it
  is. A double-zero table (no events in either arm) and a "double-all" table (every participant
  had the event in both arms) add nothing to the Mantel–Haenszel odds ratio nor to Peto's
  odds ratio (their terms are 0). For the MH risk ratio a double-zero table adds nothing, but a
  double-all table adds equal terms to numerator and denominator (it pulls the RR towards 1). For
  the MH risk difference both kinds add weight ``n1 n2 / N`` at a difference of 0 (they pull the RD
  towards 0 and narrow its interval).
* **Heterogeneity (Q, I², H²)**: MH uses Cochran's Q of the study-level effects about the MH
  estimate, ``Q = Σ (y_i - θ̂_MH)² / v_i``, with ``y_i, v_i`` from :mod:`hipacu.effects` after adding
  0.5 to every cell of a table with a zero cell (``add = 0.5, to = "only0"``) and after dropping
  double-zero and double-all tables; ``df`` = tables kept − 1. Peto uses
  ``Q = Σ (O - E)² / V - (Σ (O - E))² / Σ V`` over the tables with ``V > 0`` (double-zero and
  double-all tables have ``V = 0`` and drop out), ``df`` = those tables − 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np
from scipy import special

from hipacu._checks import check_choice, check_level, format_p
from hipacu._checks import two_by_two
from hipacu.effects import log_odds_ratio, log_risk_ratio, risk_difference
from hipacu.models._stats import wald

__all__ = ["MH_MEASURES", "BackTransformed", "MantelHaenszelResult", "PetoResult", "mantel_haenszel", "peto"]

#: Measures of :func:`mantel_haenszel` (metafor codes).
MH_MEASURES = ("RR", "OR", "RD")


@dataclass(frozen=True)
class BackTransformed:
    """A ratio estimate on its natural scale: ``exp`` of the log estimate and of its CI limits."""

    estimate: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class _Pooled2x2:
    measure: str
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    statistic: float
    pval: float
    q: float
    q_df: int
    q_pval: float
    i2: float
    h2: float
    k: int
    k_q: int
    level: float

    def exp(self) -> BackTransformed:
        """The estimate and CI on the ratio scale (``exp``); ValueError for the risk difference."""
        if self.measure == "RD":
            raise ValueError("the risk difference is not on a log scale; exp() applies to RR and OR only")
        return BackTransformed(math.exp(self.estimate), math.exp(self.ci_low), math.exp(self.ci_high))

    def to_frame(self):
        """One-row DataFrame of the fields (``None`` extras as missing)."""
        import pandas as pd

        return pd.DataFrame([{f.name: getattr(self, f.name) for f in fields(self)}])

    def summary(self, digits: int = 4) -> str:
        """Readable text in the spirit of metafor's ``print.rma.mh`` / ``print.rma.peto``."""
        f = f"{{:.{digits}f}}"
        lev = f"{100 * self.level:g}%"
        lines = [
            f"{self._title()} (k = {self.k})",
            f"I^2 = {self.i2:.2f}%   H^2 = {self.h2:.2f}",
            f"Q(df = {self.q_df}) = {f.format(self.q)}, p = {format_p(self.q_pval)}",
            "",
            f"estimate ({'RD' if self.measure == 'RD' else 'log ' + self.measure}) = {f.format(self.estimate)}   "
            f"se = {f.format(self.se)}   z = {self.statistic:.2f}   p = {format_p(self.pval)}",
            f"{lev} CI {f.format(self.ci_low)} to {f.format(self.ci_high)}",
        ]
        if self.measure != "RD":
            e = self.exp()
            lines.append(f"{self.measure} = {f.format(e.estimate)}, {lev} CI {f.format(e.ci_low)} to {f.format(e.ci_high)}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


@dataclass(frozen=True)
class MantelHaenszelResult(_Pooled2x2):
    """Mantel–Haenszel pooled estimate (metafor ``rma.mh``).

    Attributes
    ----------
    measure : str
        ``"RR"``, ``"OR"`` or ``"RD"``.
    estimate, se : float
        Pooled estimate (log scale for RR and OR) and its standard error.
    ci_low, ci_high : float
        Confidence limits (same scale); :meth:`exp` gives RR / OR and their limits.
    statistic, pval : float
        z test of no effect and its two-sided p-value.
    q, q_df, q_pval : float, int, float
        Cochran's Q of the study-level effects about the MH estimate (see the module docstring for
        the zero-cell rules), its df and p-value (``q_pval = 1`` when fewer than 2 tables enter Q).
    i2, h2 : float
        ``max(0, 100 (Q - df) / Q)`` and ``Q / df`` (0 and 1 when fewer than 2 tables enter Q).
    k : int
        Tables (all, double-zero included).
    k_q : int
        Tables entering Q (double-zero and double-all tables dropped).
    level : float
    cmh, cmh_pval : float or None
        OR only: Cochran–Mantel–Haenszel test with continuity correction (metafor ``MH``, ``MHp``).
    tarone, tarone_pval : float or None
        OR only: Tarone's test for heterogeneity of the odds ratios (metafor ``TA``, ``TAp``;
        ``tarone_pval`` None when fewer than 2 informative tables).
    """

    cmh: float | None = None
    cmh_pval: float | None = None
    tarone: float | None = None
    tarone_pval: float | None = None

    def _title(self) -> str:
        return f"Mantel-Haenszel fixed-effect model, measure {self.measure}"


@dataclass(frozen=True)
class PetoResult(_Pooled2x2):
    """Peto's one-step odds ratio (metafor ``rma.peto``); ``estimate`` is the log odds ratio.

    Attributes
    ----------
    measure : str
        Always ``"OR"`` (``"PETO"`` in metafor's escalc).
    estimate, se, ci_low, ci_high, statistic, pval : float
        ``Σ (O - E) / Σ V``, ``1 / sqrt(Σ V)``, its CI and z test.
    q, q_df, q_pval, i2, h2 : float, int, float, float, float
        Heterogeneity: ``Σ (O - E)² / V - (Σ (O - E))² / Σ V`` over tables with ``V > 0``.
    k : int
        Tables (all).
    k_q : int
        Tables with ``V > 0`` (double-zero and double-all tables drop out).
    level : float
    """

    def _title(self) -> str:
        return "Peto's one-step fixed-effect model, measure OR"


# --------------------------------------------------------------------------- helpers


def _z_test(est: float, se: float, level: float):
    """``(ci_low, ci_high, z, p)`` of a Wald z test (:func:`hipacu.models._stats.wald`)."""
    stat, p, lo, hi = wald(est, se, level)
    return float(lo), float(hi), float(stat), float(p)


def _heterogeneity(q: float, k_q: int):
    """(q_df, q_pval, i2, h2) with metafor's rules for fewer than 2 tables."""
    if k_q > 1:
        df = k_q - 1
        i2 = max(0.0, 100 * (q - df) / q) if q > 0 else 0.0
        return df, float(special.chdtrc(df, q)), i2, q / df
    return max(k_q - 1, 0), 1.0, 0.0, 1.0


def _double_zero(a, b, c, d) -> np.ndarray:
    """metafor's ``drop00``: no events in both arms, or only events in both arms."""
    return ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))


# --------------------------------------------------------------------------- Mantel–Haenszel


def mantel_haenszel(events1, total1, events2, total2, *, measure: str = "RR", level: float = 0.95) -> MantelHaenszelResult:
    """Mantel–Haenszel pooled risk ratio, odds ratio or risk difference.

    With ``a, b`` the events and non-events in arm 1, ``c, d`` in arm 2, ``n1, n2`` the arm sizes
    and ``N = n1 + n2`` (Mantel & Haenszel 1959; Greenland & Robins 1985; Robins, Breslow &
    Greenland 1986; Sato, Greenland & Robins 1989; formulas as in metafor ``rma.mh``):

    * OR: ``Σ (a d / N) / Σ (b c / N)``; variance of its log by Robins, Breslow & Greenland (1986).
    * RR: ``Σ (a n2 / N) / Σ (c n1 / N)``; variance of its log
      ``Σ (n1 n2 (a + c) / N² - a c / N) / (R S)`` (Greenland & Robins 1985).
    * RD: ``Σ (a n2 - c n1) / N / Σ (n1 n2 / N)``; variance by Sato, Greenland & Robins (1989).

    Zero cells need no correction for the estimate; see the module docstring for how zero-cell,
    double-zero and double-all tables enter the estimate and the heterogeneity test. For the OR the
    Cochran–Mantel–Haenszel test (continuity-corrected) and Tarone's test are also reported.

    Parameters
    ----------
    events1, total1, events2, total2 : array-like of counts, shape (k,)
    measure : {"RR", "OR", "RD"}
    level : float

    Returns
    -------
    MantelHaenszelResult

    Raises
    ------
    ValueError
        Bad counts (negative, not whole, events > total, lengths differ), an unknown measure, or an
        estimate that does not exist: no events in arm 1 or arm 2 of any table (RR; metafor returns
        NA), ``Σ a d / N = 0`` or ``Σ b c / N = 0`` (OR; NA in metafor), or zero variance (RD with no
        events, or only events, in every arm).
    """
    check_choice(measure, "measure", MH_MEASURES)
    lev = check_level(level)
    a, b, c, d = two_by_two(events1, total1, events2, total2)
    n1, n2 = a + b, c + d
    N = n1 + n2
    k = len(a)
    cmh = cmh_p = ta = ta_p = None

    if measure == "OR":
        R, S = np.sum(a * d / N), np.sum(b * c / N)
        if R == 0 or S == 0:
            raise ValueError(
                "the Mantel-Haenszel odds ratio is undefined for these tables: "
                + ("no table has events in arm 1 together with non-events in arm 2 (sum of a*d/N = 0)" if R == 0
                   else "no table has non-events in arm 1 together with events in arm 2 (sum of b*c/N = 0)")
                + "; metafor's rma.mh returns NA here"
            )
        P, Q = (a + d) / N, (b + c) / N
        Ri, Si = a * d / N, b * c / N
        est = math.log(R / S)
        var = 0.5 * (np.sum(P * Ri) / R**2 + np.sum(P * Si + Q * Ri) / (R * S) + np.sum(Q * Si) / S**2)
        xt, yt = a + c, b + d
        # Cochran-Mantel-Haenszel test, continuity-corrected (metafor "MH", correct = TRUE)
        cmh = float((abs(np.sum(a - n1 / N * xt)) - 0.5) ** 2 / np.sum(n1 / N * (n2 / N) * (xt * (yt / (N - 1)))))
        cmh_p = float(special.chdtrc(1, cmh))
        ta, ta_p = _tarone(a, n1, n2, N, xt, yt, R / S)
    elif measure == "RR":
        if a.sum() == 0 or c.sum() == 0:
            arm = "1" if a.sum() == 0 else "2"
            raise ValueError(
                f"the Mantel-Haenszel risk ratio is undefined: no events in arm {arm} of any table "
                f"(events{arm} are all 0); metafor's rma.mh returns NA here"
            )
        R, S = np.sum(a * n2 / N), np.sum(c * n1 / N)
        est = math.log(R / S)
        var = np.sum(n1 / N * (n2 / N) * (a + c) - a / N * c) / (R * S)
    else:  # RD
        sw = np.sum(n1 * (n2 / N))
        est = float(np.sum(a * (n2 / N) - c * (n1 / N)) / sw)
        var = (est * np.sum(c * (n1 / N) ** 2 - a * (n2 / N) ** 2 + n1 / N * (n2 / N) * (n2 - n1) / 2)
               + np.sum(a * (n2 - c) / N + c * (n1 - a) / N) / 2) / sw**2
        if not var > 0:
            raise ValueError(
                "the Mantel-Haenszel risk difference has zero variance: every arm of every table has either no "
                "events or only events, so no test or interval is possible"
            )
    se = math.sqrt(var)
    lo, hi, stat, pval = _z_test(est, se, lev)

    # heterogeneity: study-level effects with escalc's defaults (add 1/2 to tables with a zero cell,
    # double-zero and double-all tables dropped)
    keep = ~_double_zero(a, b, c, d)
    k_q = int(keep.sum())
    q = 0.0
    if k_q > 1:
        fun = {"RR": log_risk_ratio, "OR": log_odds_ratio, "RD": risk_difference}[measure]
        es = fun(a[keep], n1[keep], c[keep], n2[keep], add=0.5, to="only0")
        q = max(0.0, float(np.sum((np.asarray(es.yi) - est) ** 2 / np.asarray(es.vi))))
    q_df, q_p, i2, h2 = _heterogeneity(q, k_q)
    return MantelHaenszelResult(
        measure=measure, estimate=float(est), se=se, ci_low=lo, ci_high=hi, statistic=stat, pval=pval,
        q=q, q_df=q_df, q_pval=q_p, i2=i2, h2=h2, k=k, k_q=k_q, level=lev,
        cmh=cmh, cmh_pval=cmh_p, tarone=ta, tarone_pval=ta_p,
    )


def _tarone(a, n1, n2, N, xt, yt, psi: float):
    """Breslow–Day statistic with Tarone's (1985) correction, as metafor ``rma.mh`` ("TA", "TAp").

    The expected count ``N11`` of each table under the common MH odds ratio ``psi`` solves the
    quadratic of Breslow & Day (1980, eq. 4.32); tables with ``N11 > 0`` and events and non-events
    in the margin are informative.
    """
    if psi == 1:
        N11 = n1 / N * xt
    else:
        A = psi * (n1 + xt) + (n2 - xt)
        B = np.sqrt(A**2 - 4 * n1 * xt * psi * (psi - 1))
        N11 = (A - B) / (2 * (psi - 1))
    pos = (N11 > 0) & (xt > 0) & (yt > 0)
    k_pos = int(pos.sum())
    N11 = N11[pos]
    N12 = n1[pos] - N11
    N21 = xt[pos] - N11
    N22 = N11 - n1[pos] - xt[pos] + N[pos]
    inv = 1 / N11 + 1 / N12 + 1 / N21 + 1 / N22
    bd = max(0.0, float(np.sum((a[pos] - N11) ** 2 / inv ** (-1))))
    ta = max(0.0, bd - float(np.sum(a[pos] - N11) ** 2 / np.sum(inv ** (-1))))
    ta_p = float(special.chdtrc(k_pos - 1, ta)) if k_pos > 1 else None
    return ta, ta_p


# --------------------------------------------------------------------------- Peto


def peto(events1, total1, events2, total2, *, level: float = 0.95) -> PetoResult:
    """Peto's one-step pooled odds ratio (Yusuf et al. 1985; metafor ``rma.peto``).

    Per table, with ``x = a + c`` events of ``N`` participants: observed ``O = a``, expected
    ``E = x n1 / N`` and hypergeometric variance ``V = x (N - x) n1 n2 / (N² (N - 1))``. The log odds
    ratio is ``Σ (O - E) / Σ V`` with standard error ``1 / sqrt(Σ V)``; heterogeneity
    ``Q = Σ (O - E)² / V - (Σ (O - E))² / Σ V`` over tables with ``V > 0`` (Deeks, Higgins & Altman,
    Cochrane Handbook 10.4.2). No continuity correction is needed; double-zero and double-all tables
    have ``V = 0`` and contribute nothing (see the module docstring).

    Raises
    ------
    ValueError
        Bad counts, or ``Σ V = 0`` (every table has no events or only events; metafor stops with
        "Peto's method cannot be used").
    """
    lev = check_level(level)
    a, b, c, d = two_by_two(events1, total1, events2, total2)
    n1, n2 = a + b, c + d
    N = n1 + n2
    xt, yt = a + c, b + d
    E = xt * n1 / N
    V = xt * yt * (n1 / N) * (n2 / N) / (N - 1)
    sv = float(V.sum())
    if sv == 0:
        raise ValueError(
            "Peto's method cannot be used: every table has either no events or only events in both arms "
            "(the hypergeometric variances are all 0)"
        )
    oe = a - E
    est = float(oe.sum() / sv)
    se = 1 / math.sqrt(sv)
    lo, hi, stat, pval = _z_test(est, se, lev)
    pos = V > 0
    k_q = int((~_double_zero(a, b, c, d)).sum())
    q = max(0.0, float(np.sum(oe[pos] ** 2 / V[pos]) - oe.sum() ** 2 / sv))
    if int(pos.sum()) > 1:
        q_df, q_p, i2, h2 = _heterogeneity(q, k_q)
    else:
        q_df, q_p, i2, h2 = max(k_q - 1, 0), 1.0, 0.0, 1.0
    return PetoResult(
        measure="OR", estimate=est, se=se, ci_low=lo, ci_high=hi, statistic=stat, pval=pval,
        q=q, q_df=q_df, q_pval=q_p, i2=i2, h2=h2, k=len(a), k_q=k_q, level=lev,
    )
