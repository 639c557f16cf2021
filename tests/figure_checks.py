"""Checks of a figure as a reader sees it: nothing drawn outside the canvas, no two texts on top of
each other, tick labels written as plain numbers. Used by tests/test_plots.py and the report tests."""

from __future__ import annotations

import re

from matplotlib.text import Text

#: Pixels two text boxes may share (anti-aliasing, rounding of extents) before they count as overlapping.
TOL_OVERLAP_PX = 1.0
#: Pixels an artist may reach past the canvas edge (rounding of extents).
TOL_EDGE_PX = 1.0
#: A tick label as a plain number: "0.1", "−2", "100%", "1,000" -- never "10⁰" or "1e-05".
PLAIN_NUMBER = re.compile(r"^[−-]?\d{1,3}(,\d{3})*(\.\d+)?%?$|^[−-]?\d+(\.\d+)?%?$")


def _renderer(fig):
    return fig.canvas.get_renderer()


def tick_labels(fig, which: str = "xy") -> list[Text]:
    """The tick labels drawn on the ``which`` axes ("x", "y", "xy"): ticks inside the view interval,
    non-empty text."""
    out = []
    for ax in fig.axes:
        for name, axis, (lo, hi) in (("x", ax.xaxis, sorted(ax.get_xlim())), ("y", ax.yaxis, sorted(ax.get_ylim()))):
            if name not in which or not axis.get_visible():
                continue
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                loc = tick.get_loc()
                if loc is None or not (lo - 1e-9 * abs(hi - lo) <= loc <= hi + 1e-9 * abs(hi - lo)):
                    continue
                for label in (tick.label1, tick.label2):
                    if label.get_visible() and label.get_text().strip():
                        out.append(label)
    return out


def drawn_texts(fig) -> list[Text]:
    """Every visible, non-empty text of the figure, tick labels only where their tick is drawn."""
    fig.canvas.draw()
    ticks = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                ticks.update((id(tick.label1), id(tick.label2)))
    texts = [t for t in fig.findobj(Text) if id(t) not in ticks and t.get_visible() and t.get_text().strip()
             and (t.axes is None or t.axes.get_visible())]
    return texts + tick_labels(fig)


def check_inside(fig) -> list[str]:
    """Artists (and each text) reaching outside the canvas."""
    r = _renderer(fig)
    problems = []
    W, H = fig.bbox.width, fig.bbox.height
    bb = fig.get_tightbbox(r)  # inches
    dpi = fig.dpi
    if bb.x0 * dpi < -TOL_EDGE_PX or bb.y0 * dpi < -TOL_EDGE_PX or bb.x1 * dpi > W + TOL_EDGE_PX or bb.y1 * dpi > H + TOL_EDGE_PX:
        problems.append(f"content {bb.bounds} (inches) leaves the canvas {fig.get_size_inches()}")
    for t in drawn_texts(fig):
        e = t.get_window_extent(r)
        if e.x0 < -TOL_EDGE_PX or e.y0 < -TOL_EDGE_PX or e.x1 > W + TOL_EDGE_PX or e.y1 > H + TOL_EDGE_PX:
            problems.append(f"text {t.get_text()[:40]!r} at {e.bounds} leaves the canvas {W:.0f}x{H:.0f}")
    return problems


def check_overlaps(fig) -> list[str]:
    """Pairs of texts whose boxes overlap by more than :data:`TOL_OVERLAP_PX` in both directions."""
    r = _renderer(fig)
    boxes = [(t, t.get_window_extent(r)) for t in drawn_texts(fig)]
    problems = []
    for i, (a, ea) in enumerate(boxes):
        for b, eb in boxes[i + 1:]:
            w = min(ea.x1, eb.x1) - max(ea.x0, eb.x0)
            h = min(ea.y1, eb.y1) - max(ea.y0, eb.y0)
            if w > TOL_OVERLAP_PX and h > TOL_OVERLAP_PX:
                problems.append(f"{a.get_text()[:40]!r} overlaps {b.get_text()[:40]!r}")
    return problems


def check_ticks(fig, which: str = "x") -> list[str]:
    """Tick labels of the ``which`` axes ("x", "y" or "xy") that are not plain numbers."""
    return [f"tick label {t.get_text()!r} is not a plain number" for t in tick_labels(fig, which)
            if not PLAIN_NUMBER.match(t.get_text().strip())]


def assert_clean(fig, *, ticks: str = "x") -> None:
    """Nothing outside the canvas, no overlapping texts, and plain-number tick labels on the ``ticks``
    axes ("x", "y", "xy"; "" for none, e.g. categorical axes)."""
    problems = check_inside(fig) + check_overlaps(fig) + (check_ticks(fig, ticks) if ticks else [])
    assert not problems, "\n".join(problems)
