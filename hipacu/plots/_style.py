"""Palette, the figure style (applied inside a context, never globally) and deterministic saving."""

from __future__ import annotations

import functools
from pathlib import Path

import matplotlib

__all__ = ["CERTAINTY_COLOURS", "PALETTE", "ROB_COLOURS", "ROB_DOMAINS", "ROB_LABELS", "STYLE", "save", "style"]

#: Okabe & Ito (2008) colour-blind-safe palette.
PALETTE = {"black": "#000000", "orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73", "yellow": "#F0E442",
           "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7", "grey": "#999999"}
CERTAINTY_COLOURS = {"high": PALETTE["blue"], "moderate": PALETTE["sky"], "low": PALETTE["orange"],
                     "very_low": PALETTE["vermillion"], "": PALETTE["grey"]}
ROB_COLOURS = {"low": PALETTE["green"], "some_concerns": PALETTE["yellow"], "high": PALETTE["vermillion"],
               "not_assessed": "#DDDDDD"}
ROB_DOMAINS = ("rob_randomisation", "rob_deviations", "rob_missing", "rob_measurement", "rob_reporting", "rob_overall")
ROB_LABELS = ("D1 randomisation", "D2 deviations", "D3 missing data", "D4 measurement", "D5 reporting", "Overall")

#: rcParams of hipacu's figures: readable at print size (9-pt text, no top/right spines), text as
#: paths and a fixed SVG hash salt so that the same figure saves to the same bytes.
STYLE = {"font.size": 9, "axes.spines.top": False, "axes.spines.right": False, "svg.hashsalt": "hipacu",
         "svg.fonttype": "path", "figure.dpi": 100}


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
    salt). Returns the two paths."""
    path = Path(path)
    if path.suffix in (".svg", ".png"):
        path = path.with_suffix("")
    out = []
    with style():
        for ext, meta in (("svg", {"Date": None, "Creator": "hipacu"}), ("png", {"Software": "hipacu"})):
            p = path.parent / f"{path.name}.{ext}"  # not with_suffix: ids may hold dots ("forest_a.b")
            fig.savefig(p, format=ext, metadata=meta, bbox_inches="tight", dpi=150 if ext == "png" else None)
            out.append(p)
    return out
