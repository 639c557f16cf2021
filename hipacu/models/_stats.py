"""Small shared statistics: critical values, Wald intervals, I² and H² from Q, Q p-values.

One copy each; every model calls these (Higgins & Thompson 2002 for I² and H²; metafor ``rma.uni``
conventions for k < 2). Work on scalars and on arrays alike.
"""

from __future__ import annotations

import numpy as np
from scipy import special

__all__ = ["critical_value", "wald", "i2_h2_from_q", "q_pval", "two_sided_p"]


def critical_value(level, df=np.inf):
    """Two-sided critical value: ``z_{1-α/2}`` where ``df`` is infinite, else ``t_{df, 1-α/2}``."""
    alpha = 1.0 - np.asarray(level, dtype=float)
    df = np.asarray(df, dtype=float)
    if df.ndim == 0 and not np.isfinite(df):
        return special.ndtri(1 - alpha / 2)
    return np.where(np.isfinite(df), special.stdtrit(np.where(np.isfinite(df), df, 1.0), 1 - alpha / 2),
                    special.ndtri(1 - alpha / 2))


def two_sided_p(stat, df=np.inf):
    """Two-sided p-value of a z (``df`` infinite) or t statistic."""
    stat = np.abs(np.asarray(stat, dtype=float))
    df = np.asarray(df, dtype=float)
    if df.ndim == 0 and not np.isfinite(df):
        return 2 * special.ndtr(-stat)
    return np.where(np.isfinite(df), 2 * special.stdtr(np.where(np.isfinite(df), df, 1.0), -stat),
                    2 * special.ndtr(-stat))


def wald(estimate, se, level, df=np.inf):
    """``(statistic, pval, ci_low, ci_high)`` of a Wald-type interval ``estimate ± crit · se``."""
    est = np.asarray(estimate, dtype=float)
    se = np.asarray(se, dtype=float)
    crit = critical_value(level, df)
    stat = est / se
    return stat, two_sided_p(stat, df), est - crit * se, est + crit * se


def i2_h2_from_q(q, df):
    """I² (percent) and H² from Cochran's Q on ``df`` degrees of freedom (Higgins & Thompson 2002,
    eqs. 6 and 9): ``I² = max(0, (Q - df)/Q)``, ``H² = Q/df``; with ``df < 1`` (one study) I² = 0, H² = 1."""
    q = np.asarray(q, dtype=float)
    df = np.asarray(df, dtype=float)
    single = df < 1
    with np.errstate(divide="ignore", invalid="ignore"):
        i2 = np.where(single | (q <= df), 0.0, 100 * (q - df) / np.where(q > 0, q, 1.0))
        h2 = np.where(single, 1.0, q / np.maximum(df, 1))
    if i2.ndim == 0:
        return float(i2), float(h2)
    return i2, h2


def q_pval(q, df):
    """Upper chi-square tail of Q on ``df`` degrees of freedom; 1 where ``df < 1``."""
    q = np.asarray(q, dtype=float)
    df = np.asarray(df, dtype=float)
    p = np.where(df < 1, 1.0, special.chdtrc(np.maximum(df, 1), q))
    return float(p) if p.ndim == 0 else p
