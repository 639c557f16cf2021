"""Tables drawn as figures: the Summary of Findings in GRADEpro's layout, sized to its text.

Every cell is wrapped at word boundaries to its column's width and every row is as tall as its
tallest cell, so nothing is clipped and the canvas holds only the table, its footnotes and the
GRADE legend (:func:`summary_of_findings`).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.lines import Line2D

from hipacu.review.sof import footnote_marks
from hipacu.plots._layout import fit_to_content, text_extent, wrap
from hipacu.plots._style import CERTAINTY_COLOURS, FONT, PALETTE, styled

__all__ = ["summary_of_findings", "SOF_WIDTHS", "superscript"]

#: Column widths of the Summary of Findings figure, inches (text is wrapped to them).
SOF_WIDTHS = {"outcome": 1.8, "risk_comparator": 1.25, "risk_intervention": 1.3, "risk_difference": 1.3,
              "relative_effect": 1.0, "participants_studies": 1.3, "certainty": 1.0, "comments": 2.2}
_PAD = 0.05
_SUP = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def superscript(numbers) -> str:
    """Footnote numbers as superscript digits separated by thin spaces: ``[1, 12] -> "¹ ¹²"``."""
    return "\N{THIN SPACE}".join(str(n).translate(_SUP) for n in numbers)


@styled
def summary_of_findings(sof: pd.DataFrame, *, ax=None, footnotes: str | None = "text", fontsize: float = FONT - 0.5):
    """The Summary of Findings table (:func:`hipacu.review.sof.summary_of_findings`) drawn as a figure.

    GRADEpro's columns (outcome; risk with comparator, risk with intervention and the difference
    under "anticipated absolute effects"; relative effect; participants (studies); certainty with its
    symbols; comments), one group of rows per comparison, each footnote number as a superscript in
    the cell it explains. ``footnotes``: ``"text"`` (default) lists every footnote under the table
    and says where their sources are; ``"full"`` adds each source (long, and a source may hold text
    the figure's font lacks; :func:`hipacu.sof_html` always shows them); ``None`` lists none. The
    figure is sized to the table (``ax`` is then used as given: its limits are set in inches of the
    table). Returns the axes.
    """
    from hipacu.review.sof import CERTAINTY_DEFINITIONS, SOF_COLUMNS, sof_footnotes, sof_groups

    if footnotes not in ("full", "text", None):
        raise ValueError(f"footnotes={footnotes!r}; choose 'full', 'text' or None")
    created = ax is None
    fig = plt.figure(figsize=(10, 6)) if created else ax.figure
    line = fontsize / 72 * 1.2
    cols = list(SOF_COLUMNS)
    widths = [SOF_WIDTHS[c] for c in cols]
    total_w = sum(widths)
    xs = [sum(widths[:i]) for i in range(len(cols))]
    items = []  # (kind, top, height, payload)

    def height(text: str) -> float:
        return (text.count("\n") + 1) * line + 2 * _PAD

    head_a = ["Outcomes", "Anticipated absolute effects* (95% CI)", "", "", "Relative effect (95% CI)",
              "№ of participants (studies)", "Certainty of the evidence (GRADE)", "Comments"]
    head_b = ["", "Risk with comparator", "Risk with intervention", "Difference", "", "", "", ""]
    span_w = sum(widths[1:4])
    wrapped_a = [wrap(fig, t, (span_w if i == 1 else widths[i]) - 2 * _PAD, fontsize=fontsize, weight="bold")
                 for i, t in enumerate(head_a)]
    wrapped_b = [wrap(fig, t, widths[i] - 2 * _PAD, fontsize=fontsize, weight="bold") for i, t in enumerate(head_b)]
    ha_ = max(height(wrapped_a[1]), 0)
    hb_ = max(height(t) for t in wrapped_b)
    h_head = max(ha_ + hb_, max(height(t) for i, t in enumerate(wrapped_a) if i not in (1, 2, 3)))
    y = 0.0
    items.append(("head", y, h_head, (wrapped_a, wrapped_b, ha_)))
    y += h_head
    last = None
    for _, r in sof_groups(sof).iterrows():
        group = (r["population"], r["intervention"], r["comparator"])
        if group != last:
            text = wrap(fig, f"Population: {r['population']}. Intervention: {r['intervention']}. "
                             f"Comparison: {r['comparator']}.", total_w - 4 * _PAD, fontsize=fontsize, weight="bold")
            items.append(("group", y, height(text), text))
            y += height(text)
            last = group
        marks = footnote_marks(r["footnotes"])
        cells = []
        for c, w in zip(cols, widths):
            value = str(r[c]) if str(r[c]) else "\N{EM DASH}"
            if c == "certainty":  # the symbols on a line of their own, in the certainty's colour
                value = f"{r['symbols']}\n{str(r['certainty']).capitalize()}" if r["certainty"] else "not assessable"
            sup = superscript(marks.get(c, []))
            text = wrap(fig, value + (f" {sup}" if sup else ""), w - 3 * _PAD, fontsize=fontsize)
            cells.append(text)
        h = max(height(t) for t in cells)
        items.append(("row", y, h, (cells, str(r["certainty"]).replace(" ", "_"))))
        y += h
    table_h = y
    blocks = []
    notes = sof_footnotes(sof)
    star = ("* The risk in the intervention group (and its 95% CI) is based on the assumed risk in the comparison "
            "group and the relative effect of the intervention (and its 95% CI); each row's footnote names the "
            "assumed risk and where it comes from.")
    blocks.append(wrap(fig, star, total_w, fontsize=fontsize - 0.5))
    if footnotes is not None and len(notes):
        lines = []
        for n in notes.itertuples():
            text = f"{n.number}. {n.text}" + (f" [Source: {n.source}]" if footnotes == "full" and n.source else "")
            lines.append(wrap(fig, text, total_w, fontsize=fontsize - 0.5))
        head = "Footnotes" + ("" if footnotes == "full" else
                              " (the source of each: hipacu.sof_footnotes(sof), or the report's Summary of Findings)")
        blocks.append(head + "\n" + "\n".join(lines))
    blocks.append("GRADE Working Group grades of evidence\n" + "\n".join(
        wrap(fig, f"{level.capitalize()} certainty: {text}.", total_w, fontsize=fontsize - 0.5)
        for level, text in CERTAINTY_DEFINITIONS))
    foot = "\n\n".join(blocks)
    foot_h = text_extent(fig, foot, fontsize=fontsize - 0.5)[1]
    total_h = table_h + 0.15 + foot_h
    if created:
        fig.set_size_inches(total_w + 0.2, total_h + 0.2)
        ax = fig.add_axes((0.1 / (total_w + 0.2), 0.1 / (total_h + 0.2), total_w / (total_w + 0.2), total_h / (total_h + 0.2)))
    ax.set_xlim(0, total_w)
    ax.set_ylim(-total_h, 0)
    ax.axis("off")

    def text(x, y0, s, **kw):
        return ax.text(x, y0, s, ha="left", va="top", fontsize=kw.pop("fontsize", fontsize), **kw)

    def rule(y0, lw=0.4, x0=0.0, x1=total_w):
        ax.add_line(Line2D([x0, x1], [y0, y0], color=PALETTE["black"], lw=lw))

    for kind, top, h, payload in items:
        if kind == "head":
            wrapped_a, wrapped_b, ha_h = payload
            for i, t in enumerate(wrapped_a):
                if t:
                    text(xs[i] + _PAD, -top - _PAD, t, fontweight="bold")
            for i, t in enumerate(wrapped_b):
                if t:
                    text(xs[i] + _PAD, -top - ha_h - _PAD, t, fontweight="bold")
            rule(-top - ha_h, lw=0.4, x0=xs[1], x1=xs[4])
            rule(-top, lw=1.0)
            rule(-top - h, lw=1.0)
        elif kind == "group":
            ax.add_patch(plt.Rectangle((0, -top - h), total_w, h, color="#EEEEEE", lw=0, zorder=0))
            text(_PAD, -top - _PAD, payload, fontweight="bold")
            rule(-top - h, lw=0.3)
        else:
            cells, cert = payload
            for i, t in enumerate(cells):
                if cols[i] == "certainty" and cert in CERTAINTY_COLOURS and "\n" in t:
                    symbols, rest = t.split("\n", 1)
                    text(xs[i] + _PAD, -top - _PAD, symbols, color=CERTAINTY_COLOURS[cert])
                    text(xs[i] + _PAD, -top - _PAD - line, rest)
                else:
                    text(xs[i] + _PAD, -top - _PAD, t)
            rule(-top - h, lw=0.3)
    rule(-table_h, lw=1.0)
    text(0, -table_h - 0.15, foot, fontsize=fontsize - 0.5)
    if created:
        fit_to_content(fig)
    return ax
