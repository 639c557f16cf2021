"""What every model result offers: the :class:`SummaryEstimate` protocol.

Grading, plots and the report accept any object with these attributes and methods, so a new model
(GLMM, Bayesian) plugs in without changes downstream. Fields a model cannot define are NaN
(e.g. ``i2`` of a Bayesian fit is NaN unless the model defines it; ``pi_low``/``pi_high`` of a
common-effect model equal the CI).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["SummaryEstimate", "SUMMARY_FIELDS"]

#: the attributes every result has (``summary()`` and ``to_frame()`` besides)
SUMMARY_FIELDS = ("k", "method", "estimate", "se", "ci_low", "ci_high", "pval", "level",
                  "tau2", "i2", "pi_low", "pi_high", "converged")


@runtime_checkable
class SummaryEstimate(Protocol):
    """A pooled estimate on the analysis scale (log scale for ratio measures).

    Attributes
    ----------
    k : int
        Number of studies that entered the model.
    method : str
        The model's code (metafor's where one exists: ``"REML"``, ``"FE"``, ``"ML"`` ...).
    estimate, se : float
        Point estimate and its standard error (posterior median and sd for Bayesian models).
    ci_low, ci_high, level : float
        Confidence (credible) interval and its level.
    pval : float
        Two-sided p-value against 0 (NaN where the model defines none).
    tau2, i2 : float
        Between-study variance and I² in percent (0 for common-effect models; NaN if undefined).
    pi_low, pi_high : float
        Prediction interval for a new study's true effect (NaN where undefined).
    converged : bool
        Whether the fit met its tolerance.
    """

    k: int
    method: str
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    pval: float
    level: float
    tau2: float
    i2: float
    pi_low: float
    pi_high: float
    converged: bool

    def summary(self, digits: int = 4) -> str: ...

    def to_frame(self): ...
