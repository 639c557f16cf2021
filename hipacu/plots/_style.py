"""Palette, the figure style (applied inside a context, never globally) and deterministic saving."""

from __future__ import annotations

import functools
from pathlib import Path

import matplotlib

__all__ = ["CERTAINTY_COLOURS", "FONT", "MEASURE_NAMES", "PALETTE", "ROB_COLOURS", "ROB_DOMAINS", "ROB_KEY",
           "ROB_LABELS", "ROB_NAMES", "ROB_SYMBOLS", "SAFETY_ROB_DOMAINS", "SAFETY_ROB_KEY", "STYLE", "save", "style"]

#: Okabe & Ito (2008) colour-blind-safe palette.
PALETTE = {"black": "#000000", "orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73", "yellow": "#F0E442",
           "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7", "grey": "#999999"}
CERTAINTY_COLOURS = {"high": PALETTE["blue"], "moderate": PALETTE["sky"], "low": PALETTE["orange"],
                     "very_low": PALETTE["vermillion"], "": PALETTE["grey"]}
ROB_COLOURS = {"low": PALETTE["green"], "some_concerns": PALETTE["yellow"], "high": PALETTE["vermillion"],
               "not_assessed": "#CCCCCC"}
ROB_DOMAINS = ("rob_randomisation", "rob_deviations", "rob_missing", "rob_measurement", "rob_reporting", "rob_overall")
ROB_LABELS = ("D1 randomisation", "D2 deviations", "D3 missing data", "D4 measurement", "D5 reporting", "Overall")
#: Column heads of the risk-of-bias dots (robvis, RevMan): the RoB 2 domains and the overall judgement.
ROB_KEY = ("D1", "D2", "D3", "D4", "D5", "Overall")
#: The RoB 2 domains in full, as robvis writes them in its key (Sterne 2019).
ROB_NAMES = ("Bias arising from the randomisation process", "Bias due to deviations from intended interventions",
             "Bias due to missing outcome data", "Bias in measurement of the outcome",
             "Bias in selection of the reported result", "Overall risk of bias")
#: Appraisal domains of surveys and cohorts answering a frequency question (studies.csv), and their heads.
SAFETY_ROB_DOMAINS = ("rob_selection", "rob_ascertainment", "rob_followup", "rob_overall")
SAFETY_ROB_KEY = ("S", "A", "F", "Overall")
SAFETY_ROB_NAMES = ("Selection (response)", "Ascertainment of events", "Follow-up", "Overall")
#: The symbol drawn inside each judgement's dot (robvis: + low, − some concerns, × high, ? no information),
#: so a judgement never rests on colour alone.
ROB_SYMBOLS = {"low": "+", "some_concerns": "\N{MINUS SIGN}", "high": "\N{MULTIPLICATION SIGN}", "not_assessed": "?"}
ROB_WORDS = {"low": "low", "some_concerns": "some concerns", "high": "high", "not_assessed": "not assessed"}
#: Axis and column names of effect measures (metafor codes are for code, not for readers).
MEASURE_NAMES = {"MD": "Mean difference", "SMD": "Std. mean difference", "RR": "Risk ratio", "OR": "Odds ratio",
                 "RD": "Risk difference", "ROM": "Ratio of means", "PLO": "Proportion", "IRLN": "Incidence rate"}
#: Text size of figure body text (points); titles are one point larger.
FONT = 8

#: Resolution of the PNG files, and of every figure hipacu lays out: text is measured at the
#: resolution it is rendered at (hinted glyph widths do not scale exactly with the resolution).
PNG_DPI = 150

#: rcParams of hipacu's figures: readable at print size (9-pt text, no top/right spines), text as
#: paths and a fixed SVG hash salt so that the same figure saves to the same bytes.
STYLE = {"font.size": 9, "axes.spines.top": False, "axes.spines.right": False, "svg.hashsalt": "hipacu",
         "svg.fonttype": "path", "figure.dpi": PNG_DPI}


def style():
    """The figure style as a context manager: ``with hipacu.plots.style(): ...``.

    Every plotting function and :func:`save` applies it internally, so importing or calling
    :mod:`hipacu.plots` never changes matplotlib's global ``rcParams``.
    """
    return matplotlib.rc_context(STYLE)


def styled(fn):
    """Run a plotting function inside :func:`style`."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with style():
            return fn(*args, **kwargs)

    return wrapper


def new_axes(ax, size):
    """``ax``, or the axes of a new figure of ``size`` inches."""
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=size)
    return ax


def save(fig, path: str | Path) -> list[Path]:
    """Save ``fig`` as ``path``.svg and ``path``.png (a trailing ``.svg``/``.png`` is dropped first);
    the same figure gives byte-identical files (no date in the metadata, the style's fixed SVG hash
    salt). Figures hipacu sized to their content are saved as they are; others with a tight
    bounding box. Returns the two paths."""
    path = Path(path)
    if path.suffix in (".svg", ".png"):
        path = path.with_suffix("")
    from hipacu.plots._layout import FITTED

    out = []
    tight = None if fig in FITTED else "tight"  # a figure hipacu sized to its content is saved as it is
    with style():
        for ext, meta in (("svg", {"Date": None, "Creator": "hipacu"}), ("png", {"Software": "hipacu"})):
            p = path.parent / f"{path.name}.{ext}"  # not with_suffix: ids may hold dots ("forest_a.b")
            fig.savefig(p, format=ext, metadata=meta, bbox_inches=tight, dpi=PNG_DPI if ext == "png" else None)
            out.append(p)
    return out
