"""Figures for papers. Every function accepts ``ax=``, returns the Axes and recomputes nothing:
positions, bars and diamonds come from the results' fields and methods.

Two layers:

* :mod:`hipacu.plots.core` takes any model result (a
  :class:`~hipacu.models.protocol.SummaryEstimate` such as :func:`hipacu.pool`'s) plus labels:
  :func:`forest`, :func:`funnel`, :func:`sensitivity`.
* :mod:`hipacu.plots.review` adapts them to evidence folders: :func:`forest_analysis` (what
  :func:`forest` draws for an :class:`~hipacu.review.analysis.AnalysisResult`: risk-of-bias dots,
  MID lines, the analysis's favours labels), :func:`risk_of_bias`, :func:`evidence_map`,
  :func:`summary_of_findings`, :func:`dose` (with the schedule the topic states).

Palette: Okabe & Ito (2008), colour-blind safe. The figure style is applied inside a context
(:func:`style`), never to matplotlib's global state. :func:`save` writes SVG and PNG with fixed
metadata and hash salt, so the same figure gives byte-identical files.
"""

from hipacu.plots._style import (
    CERTAINTY_COLOURS,
    PALETTE,
    ROB_COLOURS,
    ROB_DOMAINS,
    ROB_LABELS,
    STYLE,
    save,
    style,
)
from hipacu.plots.core import (
    RATIO_MEASURES,
    forest,
    funnel,
    sensitivity,
    study_intervals,
)
from hipacu.plots.review import (
    dose,
    evidence_map,
    favours,
    forest_analysis,
    risk_of_bias,
    summary_of_findings,
)

__all__ = [
    "CERTAINTY_COLOURS", "PALETTE", "RATIO_MEASURES", "ROB_COLOURS", "ROB_DOMAINS", "ROB_LABELS", "STYLE",
    "dose", "evidence_map", "favours", "forest", "forest_analysis", "funnel", "risk_of_bias", "save",
    "sensitivity", "study_intervals", "style", "summary_of_findings",
]
