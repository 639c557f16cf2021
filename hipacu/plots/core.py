"""Plots of any model result (:class:`hipacu.models.protocol.SummaryEstimate`): forest, funnel,
sensitivity.

They draw only what the result holds: the pooled diamond is ``estimate``, ``ci_low``, ``ci_high``;
the prediction bar is ``pi_low``, ``pi_high``; per-study intervals are the Wald intervals
``yi ± z sqrt(vi)`` at the result's ``level`` (the same intervals metafor's ``forest()`` draws), or
the rows of a ``studies=`` table when the result keeps no ``yi``/``vi``. Ratio measures
(:data:`RATIO_MEASURES`) are drawn exponentiated on a log axis with plain-number ticks (0.1, 0.5,
1, 2).

The forest plot follows the RevMan 5 layout (R meta's ``forest(..., layout = "RevMan5")``): study
column, optional arm columns (events and totals, or mean, SD and total, per arm), weight, the
effect with its CI as text, the plot, and risk-of-bias dots; then the total row with its diamond,
the prediction interval, the heterogeneity line and the test for the overall effect; favours
labels under the axis and a legend for every mark drawn. Columns are as wide as their text and
the figure is sized to hold everything (:func:`hipacu.plots._layout.fit_to_content`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.legend_handler import HandlerTuple
from matplotlib.patches import Polygon, Rectangle

from hipacu.plots._layout import at, axes_inches, fit_to_content, fmt_number, text_extent, wrap
from hipacu.plots._style import FONT, MEASURE_NAMES, PALETTE, ROB_COLOURS, ROB_SYMBOLS, ROB_WORDS, styled
from hipacu.models._stats import critical_value

__all__ = ["RATIO_MEASURES", "TextColumn", "RobColumns", "forest", "funnel", "sensitivity", "study_intervals",
           "ratio_ticks", "effect_header"]

#: Measures pooled on the log scale and drawn exponentiated on a log axis (metafor ``atransf = exp``).
RATIO_MEASURES = ("RR", "OR", "ROM", "IRLN")
_STUDY_COLUMNS = ("estimate", "ci_low", "ci_high")
#: Height of one forest-plot row, inches (at :data:`FONT` points).
ROW = 0.2
#: Space between text columns, inches.
GAP = 0.14
#: Width of the plot column of a forest plot, inches.
PLOT_WIDTH = 2.6
_NICE = (1, 2, 5)


def _transform(measure: str | None) -> tuple[Callable[[float], float], bool]:
    """``(to the display scale, log axis?)`` for ``measure``."""
    if measure is not None and measure in RATIO_MEASURES:
        return (lambda v: float(np.exp(v))), True
    return (lambda v: float(v)), False


def study_intervals(result, labels: Sequence[str] | None = None, *, measure: str | None = None) -> pd.DataFrame:
    """Per-study rows of a forest plot from a result that keeps its inputs (``yi``, ``vi``).

    Columns ``label, estimate, ci_low, ci_high, weight``: the Wald interval
    ``yi ± z_(1+level)/2 sqrt(vi)`` at the result's ``level`` (metafor ``forest.rma``), exponentiated
    for ratio measures; ``weight`` is the result's ``weights`` (percent; NaN if it has none).
    """
    yi, vi = getattr(result, "yi", None), getattr(result, "vi", None)
    if yi is None or vi is None:
        raise ValueError(f"{type(result).__name__} keeps no per-study yi/vi; pass studies=, a DataFrame with "
                         f"columns {', '.join(_STUDY_COLUMNS)} (and optionally label, weight, n)")
    yi, vi = np.asarray(yi, float), np.asarray(vi, float)
    k = len(yi)
    labels = [f"Study {i + 1}" for i in range(k)] if labels is None else [str(x) for x in labels]
    if len(labels) != k:
        raise ValueError(f"labels has {len(labels)} entries; the result has k = {k} studies")
    z = float(critical_value(result.level))
    show, _ = _transform(measure)
    w = getattr(result, "weights", None)
    weight = np.asarray(w, float) if w is not None and len(w) == k else np.full(k, np.nan)
    half = z * np.sqrt(vi)
    return pd.DataFrame({
        "label": labels,
        "estimate": [show(v) for v in yi],
        "ci_low": [show(v) for v in yi - half],
        "ci_high": [show(v) for v in yi + half],
        "weight": weight,
    })


def _studies_frame(studies: pd.DataFrame, labels) -> pd.DataFrame:
    missing = [c for c in _STUDY_COLUMNS if c not in studies.columns]
    if missing:
        raise ValueError(f"studies is missing column(s) {', '.join(missing)}; it needs {', '.join(_STUDY_COLUMNS)} "
                         "(on the axis scale: ratios, not logs, for ratio measures)")
    out = studies.reset_index(drop=True).copy()
    if labels is not None:
        if len(labels) != len(out):
            raise ValueError(f"labels has {len(labels)} entries; studies has {len(out)} rows")
        out["label"] = [str(x) for x in labels]
    elif "label" not in out.columns:
        out["label"] = [f"Study {i + 1}" for i in range(len(out))]
    if "weight" not in out.columns:
        out["weight"] = np.nan
    return out


# --------------------------------------------------------------------------- axes


def ratio_ticks(lo: float, hi: float, max_ticks: int = 7) -> list[float]:
    """Plain-number ticks for a log axis spanning ``[lo, hi]``: 1, 2, 5 times powers of ten
    (0.1, 0.2, 0.5, 1, 2, 5, 10), thinned to decades and their reciprocal pairs when there are more
    than ``max_ticks``; always including 1 when it is in range."""
    if not (lo > 0 and hi > lo):
        raise ValueError(f"a log axis needs 0 < lo < hi; got lo = {lo!r}, hi = {hi!r}")
    ticks = []
    for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1):
        for m in _NICE:
            v = float(f"{m}e{e}")
            if lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9):
                ticks.append(v)
    for keep in ((1, 2, 5), (1, 5), (1,)):
        thinned = [v for v in ticks if round(v / 10 ** math.floor(math.log10(v) + 1e-9)) in keep]
        if len(thinned) <= max_ticks:
            return thinned
    return thinned


def _set_ratio_axis(ax, lo: float, hi: float) -> None:
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator

    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    ax.xaxis.set_major_locator(FixedLocator(ratio_ticks(lo, hi)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt_number(v, "g")))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())


def _set_linear_axis(ax, lo: float, hi: float) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ax.set_xlim(lo, hi)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt_number(v, "g")))


def _limits(values: list[float], log: bool, null: float | None) -> tuple[float, float]:
    """x limits holding every value, symmetric about the null (RevMan) for effects, with a margin."""
    vals = [v for v in values if np.isfinite(v) and (v > 0 or not log)]
    if log:
        logs = [math.log10(v) for v in vals] or [0.0]
        if null is not None:
            span = max(abs(x) for x in logs) * 1.08 or 0.3
            span = max(span, 0.3)
            return 10 ** -span, 10 ** span
        lo, hi = min(logs), max(logs)
        pad = 0.06 * (hi - lo or 1)
        return 10 ** (lo - pad), 10 ** (hi + pad)
    lo, hi = (min(vals), max(vals)) if vals else (-1.0, 1.0)
    if null is not None:
        span = max(abs(lo - null), abs(hi - null)) * 1.08 or 1.0
        return null - span, null + span
    pad = 0.06 * (hi - lo or 1)
    return lo - pad, hi + pad


def effect_header(measure: str | None, pooled=None, test: str | None = None) -> str:
    """The RevMan column head of the effect: ``"Mean difference\\nIV, random (REML), 95% CI"``."""
    name = MEASURE_NAMES.get(measure or "", measure or "Effect")
    if pooled is None:
        return f"{name}\n95% CI"
    level = f"{100 * getattr(pooled, 'level', 0.95):g}% CI"
    method = getattr(pooled, "method", "") or ""
    test = test or getattr(pooled, "test", "") or ("knha" if getattr(pooled, "knha", False) else "z")
    interval = {"knha": ", HK", "adhoc": ", HK ad hoc", "t": ", t"}.get(test, "")
    if method == "bayes":
        model = "Bayesian, random"
        level = f"{100 * getattr(pooled, 'level', 0.95):g}% CrI"
    elif method == "exact":
        model = "exact, common effect"
    elif hasattr(pooled, "nagq"):  # a GLMM (metafor rma.glmm)
        kind = getattr(pooled, "model", "") if getattr(pooled, "measure", "") in ("OR", "IRR") else ""
        model = f"GLMM, {'fixed' if method in ('EE', 'FE') else 'random'} ({kind + ', ' if kind else ''}{method})"
    else:
        model = "IV, fixed" if method == "FE" else f"IV, random ({method}{interval})"
    return f"{name}\n{model}, {level}"


# --------------------------------------------------------------------------- the forest engine


def _group_spans(columns) -> list[tuple[int, int]]:
    """``(first, last)`` index of each run of adjacent columns sharing a group head (columns without one skipped)."""
    spans, i = [], 0
    while i < len(columns):
        j = i
        while j + 1 < len(columns) and columns[j + 1].group and columns[j + 1].group == columns[i].group:
            j += 1
        if columns[i].group:
            spans.append((i, j))
        i = j + 1
    return spans


@dataclass(frozen=True)
class TextColumn:
    """A text column of a forest plot, left of the effect: its head, an optional group head spanning
    adjacent columns with the same group (e.g. the intervention arm), one cell per study and the
    text of the total row."""

    header: str
    cells: tuple[str, ...]
    group: str = ""
    total: str = ""


@dataclass(frozen=True)
class RobColumns:
    """Risk-of-bias dots right of a forest plot: one column per domain (``keys`` are the heads),
    judgements per study (``low``/``some_concerns``/``high``/``not_assessed``), and the key text
    printed under the plot."""

    keys: tuple[str, ...]
    judgements: tuple[tuple[str, ...], ...]
    key_text: str = ""
    title: str = "Risk of bias"


def _p(p: float) -> str:
    return "P < 0.001" if p < 0.001 else f"P = {p:.2g}" if p < 0.1 else f"P = {p:.2f}"


def _het_text(summary, prefix: str = "Heterogeneity") -> str:
    parts = []
    tau2 = getattr(summary, "tau2", np.nan)
    if getattr(summary, "method", "") != "FE" and np.isfinite(tau2):
        parts.append(f"Tau\N{SUPERSCRIPT TWO} = {fmt_number(tau2, '.2f' if tau2 >= 0.01 else '.2g')}")
    q, k = getattr(summary, "q", np.nan), summary.k
    if np.isfinite(q):
        qp = getattr(summary, "q_pval", np.nan)
        parts.append(f"Chi\N{SUPERSCRIPT TWO} = {q:.2f}, df = {k - 1}" + (f" ({_p(qp)})" if np.isfinite(qp) else ""))
    i2 = getattr(summary, "i2", np.nan)
    if np.isfinite(i2):
        parts.append(f"I\N{SUPERSCRIPT TWO} = {i2:.0f}%")
    return f"{prefix}: {'; '.join(parts)}" if parts else ""


def _overall_text(summary) -> str:
    stat, p = getattr(summary, "statistic", np.nan), getattr(summary, "pval", np.nan)
    if not np.isfinite(p):
        return ""
    df = getattr(summary, "df", np.nan)
    if np.isfinite(stat):
        name = f"t({df:g})" if np.isfinite(df) else "Z"
        return f"Test for overall effect: {name} = {fmt_number(stat, '.2f')} ({_p(p)})"
    return f"Test for overall effect: {_p(p)}"


def _ci_text(est: float, lo: float, hi: float, spec: str = ".2f") -> str:
    return f"{fmt_number(est, spec)} [{fmt_number(lo, spec)}, {fmt_number(hi, spec)}]"


def draw_forest(ax, table: pd.DataFrame, *, pooled=None, show: Callable[[float], float], log: bool,
                header: str, title: str | None = None, pooled_n: int | None = None,
                mids: Sequence[float] = (), mid_label: str | None = None, show_pi: bool = True, subgroups=None,
                groups=None, columns: Sequence[TextColumn] = (), rob: RobColumns | None = None,
                favours: tuple[str, str] | None = None, null: float | None = None, marks: Sequence[str] = (),
                urls: Sequence[str] = (), notes: Sequence[str] = (), digits: str = ".2f", overall_test: bool = True):
    """The forest-plot engine shared by :func:`forest` and the evidence adapter (RevMan 5 layout).

    ``table``: one row per study on the display scale (``label, estimate, ci_low, ci_high, weight``).
    ``pooled``: the model result on the analysis scale (``show`` maps it to the display scale); its
    total row, diamond and prediction bar are drawn only when it pooled two or more studies (a
    single study is shown as that study). ``columns`` are extra text columns (arm data); ``rob``
    the risk-of-bias dots; ``marks`` a suffix per study label (e.g. ``"†"``), ``urls`` a link per
    label (written into the SVG); ``notes`` lines printed under the legend. ``null`` is the line of
    no effect (1 for ratios, 0 for differences, None for single-group rates); ``overall_test=False``
    leaves out the test for the overall effect (meaningless for a single-group rate).
    """
    import matplotlib.pyplot as plt

    k = len(table)
    created = ax is None
    if subgroups is not None:
        if groups is None or len(groups) != k:
            raise ValueError(f"groups must give one label per study ({k}); got {None if groups is None else len(groups)}")
        order = [(g, [i for i in range(k) if groups[i] == g]) for g in subgroups.subgroups]
    else:
        order = [(None, list(range(k)))]
    summary = pooled if pooled is not None and pooled.k >= 2 else None
    level = 100 * (pooled.level if pooled is not None else 0.95)

    # ---- rows, from the top: (kind, key)
    rows: list[tuple[str, object]] = [("head1", None), ("head2", None)]
    for g, idx in order:
        if g is not None:
            rows.append(("group", g))
        rows += [("study", i) for i in idx]
        if g is not None:
            rows.append(("subtotal", g))
            sp = subgroups.subgroups[g]
            if sp.k > 1 and _het_text(sp):
                rows.append(("text", _het_text(sp)))
    pi_ok = False
    if summary is not None:
        rows.append(("total", None))
        pi_low, pi_high = getattr(summary, "pi_low", np.nan), getattr(summary, "pi_high", np.nan)
        pi_ok = bool(show_pi and np.isfinite(pi_low) and np.isfinite(pi_high) and summary.k >= 3)
        if pi_ok:
            rows.append(("pi", None))
        for line in (_het_text(summary), _overall_text(summary) if overall_test else ""):
            if line:
                rows.append(("text", line))
    if subgroups is not None:
        stat = "F" if subgroups.test == "F" else "Chi\N{SUPERSCRIPT TWO}"
        rows.append(("text", f"Test for subgroup differences: {stat} = {subgroups.q_between:.2f}, df = {subgroups.df} "
                             f"({_p(subgroups.pval)})" + (f", I\N{SUPERSCRIPT TWO} = {subgroups.i2_between:.0f}%"
                                                          if np.isfinite(getattr(subgroups, 'i2_between', np.nan)) else "")))
    n_rows = len(rows)
    y = {j: -float(j) for j in range(n_rows)}

    # ---- the figure: the plot column in inches, text columns measured from their text
    if created:
        fig = plt.figure(figsize=(8, ROW * (n_rows + 1) + 1))
        ax = fig.add_axes((0.4, 0.3, 0.3, 0.5))
    fig = ax.figure
    weights = table["weight"].to_numpy(float)
    has_w = bool(np.isfinite(weights).any())
    wmax = float(np.nanmax(weights)) if has_w else 1.0
    labels = [str(lab) + (f" {marks[i]}" if i < len(marks) and marks[i] else "") for i, lab in enumerate(table["label"])]
    eff = [_ci_text(r["estimate"], r["ci_low"], r["ci_high"], digits) for _, r in table.iterrows()]
    total_eff = ""
    if summary is not None:
        total_eff = _ci_text(show(summary.estimate), show(summary.ci_low), show(summary.ci_high), digits)
    sub_eff = {}
    if subgroups is not None:
        sub_eff = {g: _ci_text(show(sp.estimate), show(sp.ci_low), show(sp.ci_high), digits)
                   for g, sp in subgroups.subgroups.items()}
    pi_text = _ci_text(np.nan, show(summary.pi_low), show(summary.pi_high), digits).split(" ", 1)[1] if pi_ok else ""
    study_col = TextColumn("Study or Subgroup", tuple(labels), total=f"Total ({level:g}% CI)")
    weight_col = TextColumn("Weight", tuple("" if not np.isfinite(w) else f"{w:.1f}%" for w in weights),
                            total="100.0%" if has_w and summary is not None else "")
    head1, head2 = (header.split("\n", 1) + [""])[:2]
    eff_col = TextColumn(head2, tuple(eff), group=head1, total=total_eff)
    left = [study_col, *columns] + ([weight_col] if has_w else []) + [eff_col]

    def extent(text, bold=False):
        return text_extent(fig, text, fontsize=FONT, weight="bold" if bold else "normal")[0]

    widths = []
    for c in left:
        cells = [c.header, *c.cells, c.total]
        if c is study_col:
            cells += [str(g) for g, _ in order if g is not None] + ["Subtotal (95% CI)", f"{level:g}% prediction interval"]
        if c is eff_col:
            cells += list(sub_eff.values()) + [pi_text]
        widths.append(max(extent(t, bold=True) for t in cells if t is not None) + GAP)
    # a group head wider than its columns widens the last of them
    for i, j in _group_spans(left):
        need = extent(left[i].group, bold=True) + GAP
        have = sum(widths[i:j + 1])
        if need > have:
            widths[j] += need - have
    left_total = sum(widths) + GAP
    rob_w = 0.22
    right_total = (GAP + rob_w * len(rob.keys)) if rob is not None else 0.0
    if created:
        fig_w = left_total + PLOT_WIDTH + right_total + 0.3
        fig_h = ROW * n_rows + 1.0
        fig.set_size_inches(fig_w, fig_h)
        ax.set_position(((left_total + 0.15) / fig_w, 0.8 / fig_h, PLOT_WIDTH / fig_w, ROW * n_rows / fig_h))
    ax.set_ylim(-(n_rows - 0.5), 0.5)

    # ---- text columns
    xs = []
    x = -left_total
    for w in widths:
        xs.append(x)
        x += w
    numeric = {id(c): c is not study_col for c in left}

    def put(col_i, yv, text, *, bold=False, italic=False, url=None, head=False):
        c = left[col_i]
        if numeric[id(c)]:
            xpos, ha = xs[col_i] + widths[col_i] - GAP, "right"
        else:
            xpos, ha = xs[col_i], "left"
        t = ax.text(0, yv, text, transform=at(ax, xpos), ha=ha, va="center", fontsize=FONT,
                    fontweight="bold" if bold else "normal", fontstyle="italic" if italic else "normal")
        if url:
            t.set_url(url)
        return t

    # heads
    for ci, c in enumerate(left):
        put(ci, y[1], c.header, bold=True)
    for i, j in _group_spans(left):
        centre = (xs[i] + xs[j] + widths[j] - GAP) / 2 if i != j or left[i] is not eff_col else xs[i] + widths[i] - GAP
        ha = "center" if i != j or left[i] is not eff_col else "right"
        ax.text(0, y[0], left[i].group, transform=at(ax, centre), ha=ha, va="center", fontsize=FONT, fontweight="bold")
    ax.text(0.5, y[0], head1, transform=_axes_x_data_y(ax), ha="center", va="center", fontsize=FONT, fontweight="bold")
    ax.text(0.5, y[1], head2, transform=_axes_x_data_y(ax), ha="center", va="center", fontsize=FONT, fontweight="bold")
    rule_y = y[1] - 0.5
    ax.add_line(Line2D([-left_total / axes_inches(ax)[0], 1 + right_total / axes_inches(ax)[0]], [rule_y, rule_y],
                       transform=_axes_x_data_y(ax), color=PALETTE["black"], lw=0.6, clip_on=False))

    # ---- rows
    study_rows = [j for j, (kind, _) in enumerate(rows) if kind in ("study", "subtotal", "total", "pi")]
    for j, (kind, key) in enumerate(rows):
        yv = y[j]
        if kind == "study":
            r = table.iloc[key]
            put(0, yv, labels[key], url=urls[key] if key < len(urls) and urls[key] else None)
            for ci, c in enumerate(left[1:], start=1):
                if c is eff_col:
                    put(ci, yv, eff[key])
                elif c is weight_col:
                    put(ci, yv, weight_col.cells[key])
                else:
                    put(ci, yv, c.cells[key])
            ax.plot([r["ci_low"], r["ci_high"]], [yv, yv], color=PALETTE["black"], lw=1, solid_capstyle="butt")
            w = r["weight"]
            ax.plot([r["estimate"]], [yv], marker="s", ls="none", color=PALETTE["blue"],
                    ms=3 + 7 * math.sqrt(w / wmax) if np.isfinite(w) else 5)
            if rob is not None:
                for d, judgement in enumerate(rob.judgements[key]):
                    _rob_dot(ax, GAP + rob_w * (d + 0.5), yv, judgement)
        elif kind == "group":
            put(0, yv, str(key), bold=True)
        elif kind == "subtotal":
            sp = subgroups.subgroups[key]
            put(0, yv, "Subtotal (95% CI)", bold=True)
            put(len(left) - 1, yv, sub_eff[key], bold=True)
            _diamond(ax, show(sp.estimate), show(sp.ci_low), show(sp.ci_high), yv, PALETTE["orange"])
        elif kind == "total":
            put(0, yv, study_col.total, bold=True)
            for ci, c in enumerate(left[1:], start=1):
                if c.total:
                    put(ci, yv, c.total, bold=True)
            _diamond(ax, show(summary.estimate), show(summary.ci_low), show(summary.ci_high), yv, PALETTE["vermillion"])
        elif kind == "pi":
            put(0, yv, f"{level:g}% prediction interval", italic=True)
            put(len(left) - 1, yv, pi_text, italic=True)
            ax.add_patch(Rectangle((show(summary.pi_low), yv - 0.12), show(summary.pi_high) - show(summary.pi_low), 0.24,
                                   color=PALETTE["vermillion"], alpha=0.55, lw=0, label=f"{level:g}% prediction interval"))
        elif kind == "text":
            put(0, yv, str(key), italic=False)
    if rob is not None:
        ax.text(1, y[0], rob.title, transform=at(ax, GAP + rob_w * len(rob.keys) / 2), ha="center", va="center",
                fontsize=FONT, fontweight="bold")
        for d, key in enumerate(rob.keys):
            short = key if len(key) <= 2 else key[0]
            ax.text(1, y[1], short, transform=at(ax, GAP + rob_w * (d + 0.5)), ha="center", va="center", fontsize=FONT,
                    fontweight="bold")

    # ---- axis, null and MID lines
    values = list(table["ci_low"]) + list(table["ci_high"])
    if summary is not None:
        values += [show(summary.ci_low), show(summary.ci_high)]
        if pi_ok:
            values += [show(summary.pi_low), show(summary.pi_high)]
    if subgroups is not None:
        values += [show(sp.ci_low) for sp in subgroups.subgroups.values()] + [show(sp.ci_high) for sp in subgroups.subgroups.values()]
    values += list(mids)
    lo, hi = _limits(values, log, null)
    (_set_ratio_axis if log else _set_linear_axis)(ax, lo, hi)
    top, bottom = (y[min(study_rows)] + 0.5, y[max(study_rows)] - 0.5) if study_rows else (0, 0)
    if null is not None:
        ax.plot([null, null], [top, bottom], color=PALETTE["grey"], lw=0.8, ls="--")
    for m in mids:
        ax.plot([m, m], [top, bottom], color=PALETTE["green"], lw=0.9, ls=":")
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.spines["bottom"].set_bounds(lo, hi)
    ax.set_yticks([])
    ax.tick_params(axis="x", labelsize=FONT)
    ax.set_xlabel("")

    # ---- under the axis: favours labels, legend, notes
    tick_h = (3.5 + 3.5 + FONT * 1.25) / 72  # tick length, pad and label height, inches
    drop = tick_h + 0.06
    if favours is not None and null is not None:
        plot_w = axes_inches(ax)[0]
        xn = (math.log10(null) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) if log else (null - lo) / (hi - lo)
        # each label may reach under the text columns beside the plot (empty below the axis)
        fl = wrap(fig, f"Favours {favours[0]}", max(xn * plot_w + min(left_total, 1.2), 1.0) - 0.05, fontsize=FONT)
        fr = wrap(fig, f"Favours {favours[1]}", max((1 - xn) * plot_w + max(right_total, 0.6), 1.0) - 0.05,
                  fontsize=FONT)
        ax.text(xn, 0, fl, transform=at(ax, -0.05, -drop, y="axes"), ha="right", va="top", fontsize=FONT)
        ax.text(xn, 0, fr, transform=at(ax, 0.05, -drop, y="axes"), ha="left", va="top", fontsize=FONT)
        drop += max(text_extent(fig, fl, fontsize=FONT)[1], text_extent(fig, fr, fontsize=FONT)[1]) + 0.08
    handles, names = [], []
    handles.append(Line2D([], [], color=PALETTE["black"], lw=1, marker="s", mfc=PALETTE["blue"], mec=PALETTE["blue"], ms=5))
    names.append(f"study estimate ({level:g}% CI), square sized by weight")
    if summary is not None or subgroups is not None:
        handles.append(Line2D([], [], ls="none", marker="D", color=PALETTE["vermillion"], ms=6))
        names.append(f"pooled estimate: diamond spans its {level:g}% CI")
    if pi_ok:
        handles.append(Rectangle((0, 0), 1, 1, color=PALETTE["vermillion"], alpha=0.55, lw=0))
        names.append(f"{level:g}% prediction interval (a new study's true effect)")
    if null is not None:
        handles.append(Line2D([], [], color=PALETTE["grey"], lw=0.8, ls="--"))
        names.append("no effect")
    if mids:
        handles.append(Line2D([], [], color=PALETTE["green"], lw=0.9, ls=":"))
        names.append(mid_label or "minimal important difference")
    if rob is not None:
        seen = []
        for js in rob.judgements:
            for jv in js:
                if jv not in seen:
                    seen.append(jv)
        for jv in [v for v in ROB_COLOURS if v in seen]:
            handles.append(_rob_handle(jv))
            names.append(f"risk of bias: {ROB_WORDS[jv]}")
    total_w = left_total + axes_inches(ax)[0] + right_total
    leg = ax.legend(handles, names, loc="upper left", bbox_to_anchor=(0, 0), ncol=2, fontsize=FONT - 0.5,
                    frameon=False, handler_map={tuple: HandlerTuple(ndivide=1)}, borderaxespad=0, columnspacing=1.2,
                    handlelength=1.8, bbox_transform=at(ax, -left_total, -drop, y="axes"))
    from hipacu.plots._layout import renderer

    drop += leg.get_window_extent(renderer(fig)).height / fig.dpi + 0.08
    lines = list(notes)
    if rob is not None and rob.key_text:
        lines.append(rob.key_text)
    if summary is None and k == 1:
        lines.append("A single study: shown as that study, nothing pooled (no total row, no diamond).")
    if lines:
        body = "\n".join(wrap(fig, line, total_w, fontsize=FONT - 0.5) for line in lines)
        ax.text(0, 0, body, transform=at(ax, -left_total, -drop, y="axes"), ha="left", va="top", fontsize=FONT - 0.5)
    if title:
        ax.text(0, 1, wrap(fig, title, total_w, fontsize=FONT + 1, weight="bold"),
                transform=at(ax, -left_total, 0.08, y="axes"), ha="left", va="bottom", fontsize=FONT + 1,
                fontweight="bold")
    if created:
        fit_to_content(fig)
    return ax


def _axes_x_data_y(ax):
    from matplotlib.transforms import blended_transform_factory

    return blended_transform_factory(ax.transAxes, ax.transData)


def _rob_dot(ax, dx: float, yv: float, judgement: str) -> None:
    """A risk-of-bias dot ``dx`` inches right of the plot: colour and symbol of the judgement."""
    j = judgement if judgement in ROB_COLOURS else "not_assessed"
    tr = at(ax, dx)
    ax.plot([1], [yv], transform=tr, marker="o", ms=9, ls="none", color=ROB_COLOURS[j], mec=PALETTE["black"],
            mew=0.3, clip_on=False)
    ax.plot([1], [yv], transform=tr, marker=f"${ROB_SYMBOLS[j]}$", ms=5, ls="none", color=PALETTE["black"], clip_on=False)


def _rob_handle(judgement: str):
    return (Line2D([], [], marker="o", ms=8, ls="none", color=ROB_COLOURS[judgement], mec=PALETTE["black"], mew=0.3),
            Line2D([], [], marker=f"${ROB_SYMBOLS[judgement]}$", ms=4.5, ls="none", color=PALETTE["black"]))


def _diamond(ax, est, lo, hi, yv, colour, label=None):
    """The pooled diamond: vertices (lo, y), (est, y + 0.3), (hi, y), (est, y - 0.3)."""
    ax.add_patch(Polygon([[lo, yv], [est, yv + 0.3], [hi, yv], [est, yv - 0.3]], closed=True, color=colour,
                         label=label))


@styled
def forest(result, labels: Sequence[str] | None = None, *, ax=None, measure: str | None = None,
           xlabel: str | None = None, favours: tuple[str, str] | None = ("intervention", "comparator"),
           title: str | None = None, studies: pd.DataFrame | None = None, show_pi: bool = True,
           subgroups=None, groups=None, **adapter_options):
    """Forest plot of a model result (any :class:`~hipacu.models.protocol.SummaryEstimate`), RevMan 5 layout.

    One row per study (label, weight, effect and CI as text), squares sized by weight, whiskers at
    the study's Wald interval at the result's ``level``; a total row with a diamond spanning the
    pooled CI, centred on the estimate, a bar for the prediction interval (``pi_low``, ``pi_high``;
    k >= 3), the heterogeneity line and the test for the overall effect. A single study is shown as
    that study, without a diamond. Equivalent R: ``meta::forest(metagen(yi, sqrt(vi)), layout =
    "RevMan5")`` or metafor ``forest(rma(yi, vi), slab = labels, atransf = exp)``.

    Parameters
    ----------
    result : SummaryEstimate or AnalysisResult
        A model result; an :class:`~hipacu.review.analysis.AnalysisResult` is drawn by
        :func:`hipacu.plots.forest_analysis` (arm data, risk-of-bias dots, MID lines, the analysis's
        labels), which receives ``adapter_options`` (e.g. ``topic=``, ``evidence=``, ``show_rob=``).
    labels : sequence of str, optional
        One label per study (default ``Study 1 .. k``, or the ``label`` column of ``studies``).
    ax : matplotlib Axes, optional
        Draw the plot column here (text columns are placed beside it, in inches) instead of a new
        figure sized to its content.
    measure : str, optional
        Effect measure (metafor code). Ratio measures (``"RR", "OR", "ROM", "IRLN"``) are drawn
        exponentiated on a log axis, with the null line at 1 and ticks 0.1, 0.2, 0.5, 1, 2 ...
    xlabel : str, optional
        Head of the effect column and the plot (default: the measure's name, the model, the level).
    favours : (str, str) or None
        What lies left and right of the null line, e.g. ``("vaccine", "no vaccine")`` for an
        outcome where lower is better, printed under the axis as "Favours ..."; ``None`` leaves them out.
    title : str, optional
    studies : DataFrame, optional
        Per-study rows for results that keep no ``yi``/``vi`` (e.g. Mantel-Haenszel): columns
        ``estimate, ci_low, ci_high`` on the axis scale (ratios for ratio measures), optionally
        ``label``, ``weight`` (percent), ``n``.
    show_pi : bool
        Draw the prediction interval (where the result defines one and k >= 3).
    subgroups, groups
        A :class:`hipacu.models.subgroups.SubgroupResult` and each study's group label: studies
        are listed under their group with a subtotal diamond and the test for subgroup differences.

    Returns
    -------
    matplotlib Axes
        The plot column's axes.
    """
    from hipacu.review.analysis import AnalysisResult

    if isinstance(result, AnalysisResult):
        from hipacu.plots.review import forest_analysis

        if labels is not None or studies is not None or measure is not None:
            raise ValueError("an AnalysisResult brings its own labels, studies and measure; pass its .pooled "
                             "to forest() to draw the model result with labels of your own")
        return forest_analysis(result, ax=ax, xlabel=xlabel, title=title, subgroups=subgroups, groups=groups,
                               show_pi=show_pi, **adapter_options)
    if adapter_options:
        raise TypeError(f"forest() got unexpected keyword argument(s) {', '.join(adapter_options)} "
                        "(they apply to an AnalysisResult only)")
    show, log = _transform(measure)
    table = study_intervals(result, labels, measure=measure) if studies is None else _studies_frame(studies, labels)
    if studies is None and len(table) != result.k:
        raise ValueError(f"the result says k = {result.k} but keeps {len(table)} studies")
    columns = []
    if "n" in table.columns:
        n = table["n"]
        columns.append(TextColumn("Total", tuple("" if pd.isna(v) else f"{int(v)}" for v in n),
                                  total="" if n.isna().any() else f"{int(n.sum())}"))
    return draw_forest(ax, table, pooled=result, show=show, log=log, header=xlabel or effect_header(measure, result),
                       title=title, show_pi=show_pi, subgroups=subgroups, groups=groups, columns=columns,
                       favours=favours, null=1.0 if log else 0.0)


# --------------------------------------------------------------------------- funnel


@styled
def funnel(result, contours=None, *, ax=None, filled=None, measure: str | None = None, xlabel: str | None = None,
           yi=None, vi=None):
    """Funnel plot of a model result: each study's effect against its standard error, a line at the
    pooled ``estimate``, and (optionally) contour regions and trim-and-fill studies.

    The legend sits outside the axes, so it never hides a study.

    Parameters
    ----------
    result : SummaryEstimate
        The model result; its ``yi``/``vi`` are the points (pass ``yi=``, ``vi=`` for a result that
        keeps none) and its ``estimate`` the reference line. Drawn on the analysis scale (log scale
        for ratio measures), as metafor's ``funnel()``.
    contours : FunnelContours, optional
        :func:`hipacu.funnel_contours` output, drawn as shaded regions (e.g. centred on 0 for a
        contour-enhanced funnel plot, Peters et al. 2008).
    filled : TrimFillResult, optional
        Its imputed studies are drawn as open circles.
    measure : str, optional
        Names the x axis (``log risk ratio`` for ``"RR"``).
    """
    import matplotlib.pyplot as plt

    created = ax is None
    if created:
        _, ax = plt.subplots(figsize=(4.2, 3.4))
    yi = np.asarray(getattr(result, "yi", None) if yi is None else yi, float)
    vi = np.asarray(getattr(result, "vi", None) if vi is None else vi, float)
    if yi.ndim != 1 or yi.shape != vi.shape:
        raise ValueError(f"{type(result).__name__} keeps no per-study yi/vi; pass yi= and vi= (one per study)")
    if contours is not None:
        shades = ["#FFFFFF", "#E4E4E4", "#C8C8C8", "#ADADAD"]
        levels = list(contours.levels)
        for i, lev in enumerate(sorted(levels, reverse=True)):
            j = levels.index(lev)
            ax.fill_betweenx(contours.se, contours.left[j], contours.right[j], color=shades[min(i + 1, 3)], lw=0,
                             label=f"{100 * lev:g}% contour")
    ax.plot(yi, np.sqrt(vi), "o", color=PALETTE["blue"], ms=5, label="studies", zorder=3)
    if filled is not None and len(filled.filled_yi):
        ax.plot(filled.filled_yi, np.sqrt(filled.filled_vi), "o", mfc="white", color=PALETTE["vermillion"], ms=5,
                label="imputed (trim-and-fill)", zorder=3)
    ax.axvline(result.estimate, color=PALETTE["black"], lw=0.8, label="pooled estimate")
    ax.invert_yaxis()
    if xlabel is None:
        name = MEASURE_NAMES.get(measure or "", measure or "effect")
        xlabel = f"log {name[0].lower() + name[1:]}" if measure in RATIO_MEASURES else name
    ax.set_xlabel(xlabel, fontsize=FONT + 1)
    ax.set_ylabel("standard error", fontsize=FONT + 1)
    from matplotlib.ticker import FuncFormatter

    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt_number(v, "g")))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt_number(v, "g")))
    ax.tick_params(labelsize=FONT)
    ax.legend(fontsize=FONT - 0.5, loc="upper left", bbox_to_anchor=(1.03, 1.0), frameon=False, borderaxespad=0)
    if created:
        fit_to_content(ax.figure)
    return ax


# --------------------------------------------------------------------------- sensitivity


@styled
def sensitivity(loo: pd.DataFrame, cum: pd.DataFrame | None = None, *, ax=None, pooled=None,
                measure: str | None = None, xlabel: str | None = None, display: Callable[[float], float] | None = None):
    """Leave-one-out (and optionally cumulative) estimates with their CIs, one panel above the other.

    ``loo``/``cum`` are :func:`hipacu.leave_one_out` / :func:`hipacu.cumulative` DataFrames (their
    ``estimate, ci_low, ci_high`` are drawn, indexed by the study omitted / added); ``pooled`` (any
    SummaryEstimate) draws its estimate as a line and its CI as a band. Ratio measures are drawn
    exponentiated on a log axis with plain-number ticks; ``display`` maps other analysis scales to
    the reporting scale (e.g. an :class:`~hipacu.review.analysis.AnalysisResult`'s ``display`` for
    a logit proportion shown per 100). Returns the first panel's axes.
    """
    import matplotlib.pyplot as plt

    show, log = _transform(measure)
    if display is not None:
        show = display
    frames = [("Leave one out: pooled without each study", "without ", loo)]
    if cum is not None:
        frames.append(("Cumulative: pooled as each study is added", "+ ", cum))
    created = ax is None
    if created:
        heights = [ROW * (len(df) + 1.5) for _, _, df in frames]
        fig = plt.figure(figsize=(6, sum(heights) + 1.2 * len(frames)))
        axes = []
        y0 = 0.3
        for h in reversed(heights):
            axes.insert(0, fig.add_axes((0.4, y0 / fig.get_size_inches()[1], 0.5, h / fig.get_size_inches()[1])))
            y0 += h + 1.0
    else:
        axes = [ax]
        frames = frames[:1]
    name = MEASURE_NAMES.get(measure or "", measure or "estimate")
    xlabel = xlabel or (f"{name} (pooled, {100 * pooled.level:g}% CI)" if pooled is not None else f"{name} (pooled)")
    everything = []
    for _, _, df in frames:
        everything += [show(v) for v in df["ci_low"]] + [show(v) for v in df["ci_high"]]
    if pooled is not None:
        everything += [show(pooled.ci_low), show(pooled.ci_high)]
    lo, hi = _limits(everything, log, None)
    for a, (title, prefix, df) in zip(axes, frames):
        yv = np.arange(len(df), 0, -1, dtype=float)
        est = np.array([show(v) for v in df["estimate"]])
        low = np.array([show(v) for v in df["ci_low"]])
        high = np.array([show(v) for v in df["ci_high"]])
        if pooled is not None:
            lo_p, hi_p = show(pooled.ci_low), show(pooled.ci_high)
            a.add_patch(Rectangle((lo_p, 0), hi_p - lo_p, 1, transform=a.get_xaxis_transform(), lw=0, alpha=0.12,
                                  color=PALETTE["vermillion"], label=f"all studies ({100 * pooled.level:g}% CI)"))
            a.axvline(show(pooled.estimate), color=PALETTE["vermillion"], lw=1, label="all studies (estimate)")
        a.errorbar(est, yv, xerr=[est - low, high - est], fmt="o", color=PALETTE["blue"], ecolor=PALETTE["black"],
                   elinewidth=1, capsize=2, ms=4, label="pooled estimate and CI")
        if display is None and lo < (1.0 if log else 0.0) < hi:
            a.axvline(1.0 if log else 0.0, color=PALETTE["grey"], lw=0.8, ls="--")
        (_set_ratio_axis if log else _set_linear_axis)(a, lo, hi)
        a.set_ylim(0.4, len(df) + 0.6)
        a.set_yticks(yv)
        a.set_yticklabels([prefix + str(i) for i in df.index], fontsize=FONT)
        a.tick_params(axis="x", labelsize=FONT)
        a.set_title(title, loc="left", fontsize=FONT + 1)
        a.set_xlabel(xlabel, fontsize=FONT)
    axes[0].legend(fontsize=FONT - 0.5, loc="upper left", bbox_to_anchor=(1.03, 1.0), frameon=False, borderaxespad=0)
    if created:
        fit_to_content(axes[0].figure)
    return axes[0]
