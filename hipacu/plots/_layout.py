"""Figures sized from their content: measuring text, wrapping it to a width, fitting the figure to
what is drawn, placing point labels without collisions, and positions in inches from an axes edge.

Every hipacu figure is laid out in inches (row heights, column widths measured from the text they
hold) and, when hipacu created the figure, resized at the end by :func:`fit_to_content` so that no
artist leaves the canvas. Axes keep their size in inches while the figure grows around them, so
text placed relative to an axes (:func:`at`) stays where it was drawn.
"""

from __future__ import annotations

import functools
import weakref

from matplotlib.font_manager import FontProperties
from matplotlib.transforms import Bbox, ScaledTranslation, blended_transform_factory

__all__ = ["renderer", "text_extent", "wrap", "fit_to_content", "at", "axes_inches", "place_labels", "fmt_number"]


def renderer(fig):
    """A renderer for measuring ``fig``'s artists (the Agg renderer of its canvas)."""
    get = getattr(fig.canvas, "get_renderer", None)
    if get is None:  # a canvas without a renderer of its own: give the figure an Agg canvas
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        return FigureCanvasAgg(fig).get_renderer()
    return get()


@functools.lru_cache(maxsize=65536)
def _width(line: str, fontsize: float, weight: str, style: str, dpi: float, family: tuple) -> float:
    prop = FontProperties(family=list(family), size=fontsize, weight=weight, style=style)
    w, _, _ = _measurer(dpi).get_text_width_height_descent(line or " ", prop, ismath=False)
    return w / dpi


def _line_width(line: str, fontsize: float, weight: str, style: str, dpi: float) -> float:
    """Width in inches of one line of text in the current font family (cached: figures measure the
    same words many times)."""
    import matplotlib

    return _width(line, fontsize, weight, style, dpi, tuple(matplotlib.rcParams["font.family"]))


@functools.lru_cache(maxsize=8)
def _measurer(dpi: float):
    from matplotlib.backends.backend_agg import RendererAgg

    return RendererAgg(1, 1, dpi)


def text_extent(fig, text: str, *, fontsize: float, weight: str = "normal", style: str = "normal",
                linespacing: float = 1.2) -> tuple[float, float]:
    """``(width, height)`` in inches of ``text`` (several lines allowed) at ``fontsize`` points, as
    matplotlib's Agg renderer lays it out."""
    lines = str(text).split("\n") or [""]
    width = max(_line_width(line, float(fontsize), weight, style, float(fig.dpi)) for line in lines)
    height = fontsize / 72 * (1 + linespacing * (len(lines) - 1))
    return width, height


def wrap(fig, text: str, width: float, *, fontsize: float, weight: str = "normal") -> str:
    """``text`` wrapped at word boundaries to ``width`` inches (existing line breaks kept). A word
    longer than the width stays whole on its own line: labels are never cut mid-word.

    Line widths are summed from the measured width of each word and of a space, plus a 3% margin
    for kerning, so wrapping is linear in the length of the text."""
    dpi = float(fig.dpi)
    space = _line_width("a a", fontsize, weight, "normal", dpi) - 2 * _line_width("a", fontsize, weight, "normal", dpi)
    out = []
    for para in str(text).split("\n"):
        line, used = "", 0.0
        for word in para.split(" "):
            w = _line_width(word, float(fontsize), weight, "normal", dpi) if word else 0.0
            if line and (used + space + w) * 1.03 > width:
                out.append(line)
                line, used = word, w
            else:
                line, used = (f"{line} {word}", used + space + w) if line else (word, w)
        out.append(line)
    return "\n".join(out)


def axes_inches(ax) -> tuple[float, float]:
    """Width and height of ``ax`` in inches."""
    w, h = ax.figure.get_size_inches()
    pos = ax.get_position()
    return pos.width * w, pos.height * h


def at(ax, dx: float = 0.0, dy: float = 0.0, *, y: str = "data"):
    """A transform for artists beside an axes: x in axes coordinates (0 = left edge, 1 = right edge)
    shifted by ``dx`` inches; y in data coordinates (``y="data"``) or axes coordinates (``y="axes"``),
    shifted by ``dy`` inches. Artists placed with it keep their distance from the axes in inches
    when :func:`fit_to_content` resizes the figure."""
    base = blended_transform_factory(ax.transAxes, ax.transData if y == "data" else ax.transAxes)
    return base + ScaledTranslation(dx, dy, ax.figure.dpi_scale_trans)


#: Figures resized by :func:`fit_to_content` (saved without a second, "tight" layout pass).
FITTED: "weakref.WeakSet" = weakref.WeakSet()


def fit_to_content(fig, pad: float = 0.12) -> None:
    """Resize ``fig`` so that everything drawn fits inside it with ``pad`` inches to spare, keeping
    every axes' size in inches (so text placed beside an axes moves with it). One layout pass:
    positions are in inches, so the content's extent does not change with the figure's size."""
    bb = fig.get_tightbbox(renderer(fig))
    w, h = fig.get_size_inches()
    new_w, new_h = bb.width + 2 * pad, bb.height + 2 * pad
    dx, dy = pad - bb.x0, pad - bb.y0
    boxes = [(ax, ax.get_position()) for ax in fig.axes]
    fig.set_size_inches(new_w, new_h)
    for ax, pos in boxes:
        ax.set_position([(pos.x0 * w + dx) / new_w, (pos.y0 * h + dy) / new_h, pos.width * w / new_w,
                         pos.height * h / new_h])
    FITTED.add(fig)


def fmt_number(value: float, spec: str = ".2f") -> str:
    """A number for a figure, with a true minus sign (U+2212), as matplotlib writes tick labels."""
    return format(value, spec).replace("-", "\N{MINUS SIGN}")


def _overlap(a: Bbox, b: Bbox) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w * h if w > 0 and h > 0 else 0.0


#: Candidate label offsets (points from the point; horizontal and vertical alignment), tried in order.
_OFFSETS = [((5, 3), "left", "bottom"), ((5, -3), "left", "top"), ((-5, 3), "right", "bottom"),
            ((-5, -3), "right", "top"), ((0, 7), "center", "bottom"), ((0, -7), "center", "top")]


def place_labels(ax, xs, ys, labels, *, fontsize: float = 7, marker_size: float = 7):
    """Annotate points ``(xs, ys)`` with ``labels`` so that no label overlaps another label, a point
    or the axes' edge: each label takes the first free position among :data:`_OFFSETS` (then the
    same offsets twice and three times as far); if none is free, the least overlapping one.
    Deterministic (points in the order given). Returns the annotations."""
    fig = ax.figure
    r = renderer(fig)
    half = marker_size / 2 / 72 * fig.dpi
    pts = [ax.transData.transform((x, y)) for x, y in zip(xs, ys)]
    taken = [Bbox.from_extents(px - half, py - half, px + half, py + half) for px, py in pts]
    frame = ax.get_window_extent(r)
    out = []
    for (x, y), label in zip(zip(xs, ys), labels):
        best = None
        for scale in (1, 2, 3):
            for (ox, oy), ha, va in _OFFSETS:
                a = ax.annotate(str(label), (x, y), xytext=(ox * scale, oy * scale), textcoords="offset points",
                                ha=ha, va=va, fontsize=fontsize)
                bb = a.get_window_extent(r)
                inside = frame.x0 <= bb.x0 and bb.x1 <= frame.x1 and frame.y0 <= bb.y0 and bb.y1 <= frame.y1
                cost = sum(_overlap(bb, t) for t in taken) + (0 if inside else 1e6)
                if best is None or cost < best[0]:
                    if best is not None:
                        best[1].remove()
                    best = (cost, a, bb)
                else:
                    a.remove()
                if cost == 0:
                    break
            if best[0] == 0:
                break
        taken.append(best[2])
        out.append(best[1])
    return out
