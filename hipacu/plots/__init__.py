"""Figures for papers. Every function accepts ``ax=``, returns the Axes and recomputes nothing:
positions, bars and diamonds come from the results' fields and methods.

Two layers:

* :mod:`hipacu.plots.core` takes any model result (a
  :class:`~hipacu.models.protocol.SummaryEstimate` such as :func:`hipacu.pool`'s) plus labels:
  :func:`forest` (RevMan 5 layout), :func:`funnel`, :func:`sensitivity`.
* :mod:`hipacu.plots.review`, :mod:`hipacu.plots.rob` and :mod:`hipacu.plots.tables` adapt them to
  evidence folders: :func:`forest_analysis` (what :func:`forest` draws for an
  :class:`~hipacu.review.analysis.AnalysisResult`: arm data, risk-of-bias dots, MID lines, flags on
  implausible numbers, the analysis's favours labels), :func:`method_sensitivity`,
  :func:`risk_of_bias` (robvis traffic light), :func:`risk_of_bias_summary` (robvis bars),
  :func:`evidence_map`, :func:`summary_of_findings`, :func:`dose` (with the schedule the topic states).

Layout: every figure hipacu creates is laid out in inches from the text it holds and resized to
its content (:mod:`hipacu.plots._layout`), so no text is clipped and none overlaps another.
Palette: Okabe & Ito (2008), colour-blind safe; risk-of-bias judgements also carry a symbol. The
figure style is applied inside a context (:func:`style`), never to matplotlib's global state.
:func:`save` writes SVG and PNG with fixed metadata and hash salt, so the same figure gives
byte-identical files.
"""

from hipacu.plots._style import (
    CERTAINTY_COLOURS,
    MEASURE_NAMES,
    PALETTE,
    ROB_COLOURS,
    ROB_DOMAINS,
    ROB_LABELS,
    ROB_SYMBOLS,
    STYLE,
    save,
    style,
)
from hipacu.plots.core import (
    RATIO_MEASURES,
    forest,
    funnel,
    ratio_ticks,
    sensitivity,
    study_intervals,
)
from hipacu.plots.review import (
    IMPLAUSIBLE_MARK,
    dose,
    evidence_map,
    favours,
    forest_analysis,
    method_sensitivity,
)
from hipacu.plots.rob import risk_of_bias, risk_of_bias_summary
from hipacu.plots.tables import summary_of_findings

__all__ = [
    "CERTAINTY_COLOURS", "IMPLAUSIBLE_MARK", "MEASURE_NAMES", "PALETTE", "RATIO_MEASURES", "ROB_COLOURS",
    "ROB_DOMAINS", "ROB_LABELS", "ROB_SYMBOLS", "STYLE", "dose", "evidence_map", "favours", "forest",
    "forest_analysis", "funnel", "method_sensitivity", "ratio_ticks", "risk_of_bias", "risk_of_bias_summary",
    "save", "sensitivity", "study_intervals", "style", "summary_of_findings",
]
