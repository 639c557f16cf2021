"""Plots of any model result (:class:`hipacu.models.protocol.SummaryEstimate`): forest, funnel,
sensitivity.

They draw only what the result holds: the pooled diamond is ``estimate``, ``ci_low``, ``ci_high``;
the prediction bar is ``pi_low``, ``pi_high``; per-study intervals are the Wald intervals
``yi ± z sqrt(vi)`` at the result's ``level`` (the same intervals metafor's ``forest()`` draws), or
the rows of a ``studies=`` table when the result keeps no ``yi``/``vi``. Ratio measures
(:data:`RATIO_MEASURES`) are drawn exponentiated on a log axis.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from matplotlib.patches import Polygon, Rectangle
from scipy import special

from hipacu.plots._style import PALETTE, ROB_COLOURS, new_axes, styled

__all__ = ["RATIO_MEASURES", "forest", "funnel", "sensitivity", "study_intervals"]

#: Measures pooled on the log scale and drawn exponentiated on a log axis (metafor ``atransf = exp``).
RATIO_MEASURES = ("RR", "OR", "ROM", "IRLN")
_STUDY_COLUMNS = ("estimate", "ci_low", "ci_high")


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
    z = float(special.ndtri(0.5 + result.level / 2))
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


def _favours_text(favours) -> str:
    if favours is None:
        return ""
    left, right = favours
    return f"<- favours {left}  |  favours {right} ->"


def _log_axis(ax) -> None:
    """A log x axis labelled with plain ratios (0.2, 0.5, 1, 2) rather than powers of ten."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _diamond(ax, est, lo, hi, yv, colour, label=None):
    """The pooled diamond: vertices (lo, y), (est, y + 0.3), (hi, y), (est, y - 0.3)."""
    ax.add_patch(Polygon([[lo, yv], [est, yv + 0.3], [hi, yv], [est, yv - 0.3]], closed=True, color=colour,
                         label=label))


def draw_forest(ax, table: pd.DataFrame, *, pooled=None, show: Callable[[float], float], log: bool,
                xlabel: str, title: str | None = None, pooled_label: str | None = None,
                pooled_n: int | None = None, mids: Sequence[float] = (), show_pi: bool = True,
                subgroups=None, groups=None, show_rob: bool = False):
    """The forest-plot engine shared by :func:`forest` and the evidence adapter.

    ``table``: one row per study on the display scale (``label, estimate, ci_low, ci_high,
    weight`` and optionally ``n``, ``rob_overall``). ``pooled``: the model result, on the analysis
    scale (``show`` maps it to the display scale); its diamond and prediction bar are drawn only
    when it pooled two or more studies (a single study is shown as that study).
    """
    k = len(table)
    if subgroups is not None:
        if groups is None or len(groups) != k:
            raise ValueError(f"groups must give one label per study ({k}); got {None if groups is None else len(groups)}")
        order = [(g, [i for i in range(k) if groups[i] == g]) for g in subgroups.subgroups]
    else:
        order = [(None, list(range(k)))]
    rows: list[tuple[str, object]] = []  # from the top: ("header", g) / ("study", i) / ("subtotal", g)
    for g, idx in order:
        if g is not None:
            rows.append(("header", g))
        rows += [("study", i) for i in idx]
        if g is not None:
            rows.append(("subtotal", g))
    n_rows = len(rows)
    ax = new_axes(ax, (9, 1.2 + 0.35 * (n_rows + 3)))
    summary = pooled if pooled is not None and pooled.k >= 2 else None
    has_n = "n" in table.columns
    weights = table["weight"].to_numpy(float)
    has_w = bool(np.isfinite(weights).any())
    wmax = np.nanmax(weights) if has_w else 1.0
    show_rob = show_rob and "rob_overall" in table.columns
    # text columns to the right of the axes (axes-fraction x positions)
    cols: dict[str, float] = {}
    x = 1.02
    for name, width, on in (("n", 0.11, has_n), ("effect", 0.3, True), ("weight", 0.12, has_w), ("rob", 0.0, show_rob)):
        if on:
            cols[name] = x
            x += width
    ypos = {j: n_rows - j + 1.5 for j in range(n_rows)}
    trans = ax.get_yaxis_transform()
    ticks, labels = [], []
    for j, (kind, key) in enumerate(rows):
        yv = ypos[j]
        if kind == "study":
            r = table.iloc[key]
            ax.plot([r["ci_low"], r["ci_high"]], [yv, yv], color=PALETTE["black"], lw=1)
            w = r["weight"]
            ax.plot([r["estimate"]], [yv], marker="s", ls="none", color=PALETTE["blue"],
                    ms=4 + 10 * np.sqrt(w / wmax) if np.isfinite(w) else 6)
            if has_n:
                ax.text(cols["n"], yv, "" if pd.isna(r["n"]) else f"{int(r['n'])}", transform=trans, va="center")
            ax.text(cols["effect"], yv, f"{r['estimate']:.2f} ({r['ci_low']:.2f}, {r['ci_high']:.2f})",
                    transform=trans, va="center")
            if has_w:
                ax.text(cols["weight"], yv, "" if pd.isna(w) else f"{w:.1f}%", transform=trans, va="center")
            if show_rob:
                ax.plot([cols["rob"]], [yv], transform=trans, marker="o", ms=7, ls="none", clip_on=False,
                        color=ROB_COLOURS.get(r["rob_overall"], ROB_COLOURS["not_assessed"]))
            ticks.append(yv)
            labels.append(str(r["label"]))
        elif kind == "header":
            ax.text(-0.01, yv, str(key), transform=trans, ha="right", va="center", fontweight="bold", fontsize=9)
        else:
            sp = subgroups.subgroups[key]
            est, lo, hi = show(sp.estimate), show(sp.ci_low), show(sp.ci_high)
            _diamond(ax, est, lo, hi, yv, PALETTE["orange"])
            ax.text(cols["effect"], yv, f"{est:.2f} ({lo:.2f}, {hi:.2f})", transform=trans, va="center")
            ticks.append(yv)
            labels.append(f"Subtotal (k = {sp.k}{', I² = ' + format(sp.i2, '.0f') + '%' if sp.k > 1 else ''})")
    level = 100 * (summary.level if summary is not None else 0.95)
    if summary is not None:
        est, lo, hi = show(summary.estimate), show(summary.ci_low), show(summary.ci_high)
        _diamond(ax, est, lo, hi, 0.9, PALETTE["vermillion"], label=f"pooled ({level:g}% CI)")
        pi_low, pi_high = getattr(summary, "pi_low", np.nan), getattr(summary, "pi_high", np.nan)
        if show_pi and np.isfinite(pi_low) and np.isfinite(pi_high):
            ax.plot([show(pi_low), show(pi_high)], [0.35, 0.35], color=PALETTE["vermillion"], lw=2.5,
                    solid_capstyle="butt", label=f"{level:g}% prediction interval")
        if has_n and pooled_n is not None:
            ax.text(cols["n"], 0.9, f"{pooled_n}", transform=trans, va="center", fontweight="bold")
        ax.text(cols["effect"], 0.9, f"{est:.2f} ({lo:.2f}, {hi:.2f})", transform=trans, va="center", fontweight="bold")
        if has_w:
            ax.text(cols["weight"], 0.9, "100%", transform=trans, va="center", fontweight="bold")
        ticks.append(0.9)
        method = getattr(summary, "method", None) or type(summary).__name__.removesuffix("Result")
        labels.append(pooled_label or f"Pooled ({method}{', HK' if getattr(summary, 'knha', False) else ''})")
    ax.axvline(1.0 if log else 0.0, color=PALETTE["grey"], lw=0.8, ls="--")
    for m in mids:
        ax.axvline(m, color=PALETTE["green"], lw=0.8, ls=":")
    if log:
        _log_axis(ax)
    ax.set_yticks(ticks)
    ax.set_yticklabels(labels)
    ax.set_ylim(0, n_rows + 2.5)
    heads = {"n": "n", "effect": f"Effect ({level:g}% CI)", "weight": "Weight", "rob": "RoB"}
    for name, xpos in cols.items():
        ax.text(xpos, n_rows + 2.0, heads[name], transform=trans, fontweight="bold",
                ha="center" if name == "rob" else "left")
    ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title, loc="left", fontsize=10)
    notes = []
    if summary is not None:
        het = []
        for name, fmt in (("tau2", "tau² = {:.3g}"), ("i2", "I² = {:.0f}%"), ("q_pval", "Q p = {:.2g}")):
            value = getattr(summary, name, None)
            if value is not None and np.isfinite(value):
                het.append(fmt.format(value))
        notes.append(f"k = {summary.k}" + (f"   Heterogeneity: {', '.join(het)}" if het else ""))
    elif k == 1:
        notes.append("k = 1: a single study, shown as that study (nothing pooled)")
    if subgroups is not None:
        stat = "F" if subgroups.test == "F" else "Q"
        notes.append(f"Test for subgroup differences: {stat} = {subgroups.q_between:.2f}, df = {subgroups.df}, "
                     f"p = {subgroups.pval:.2g}")
    if notes:
        ax.annotate("\n".join(notes), xy=(0, -0.18 - 0.6 / (n_rows + 3)), xycoords="axes fraction", fontsize=8,
                    va="top")
    ax.spines["left"].set_visible(False)
    ax.tick_params(axis="y", length=0)
    return ax


@styled
def forest(result, labels: Sequence[str] | None = None, *, ax=None, measure: str | None = None,
           xlabel: str | None = None, favours: tuple[str, str] | None = ("intervention", "comparator"),
           title: str | None = None, studies: pd.DataFrame | None = None, show_pi: bool = True,
           subgroups=None, groups=None, **adapter_options):
    """Forest plot of a model result (any :class:`~hipacu.models.protocol.SummaryEstimate`).

    One row per study (label, effect and CI as text, weight), squares sized by weight, whiskers at
    the study's Wald interval at the result's ``level``; a diamond spanning the pooled CI, centred on
    the estimate, and a bar for the prediction interval (``pi_low``, ``pi_high``) when ``k >= 2``.
    A single study is shown as that study, without a diamond. Equivalent metafor call:
    ``forest(rma(yi, vi), slab = labels, atransf = exp)`` (``atransf`` for ratio measures).

    Parameters
    ----------
    result : SummaryEstimate or AnalysisResult
        A model result; an :class:`~hipacu.review.analysis.AnalysisResult` is drawn by
        :func:`hipacu.plots.forest_analysis` (risk-of-bias dots, MID lines, the analysis's labels),
        which receives ``adapter_options`` (e.g. ``topic=``, ``show_rob=``).
    labels : sequence of str, optional
        One label per study (default ``Study 1 .. k``, or the ``label`` column of ``studies``).
    ax : matplotlib Axes, optional
        Draw here instead of a new figure.
    measure : str, optional
        Effect measure (metafor code). Ratio measures (``"RR", "OR", "ROM", "IRLN"``) are drawn
        exponentiated on a log axis, with the null line at 1.
    xlabel : str, optional
        Axis label (default: the measure and the ``favours`` labels).
    favours : (str, str) or None
        What lies left and right of the null line, e.g. ``("vaccine", "no vaccine")`` for an
        outcome where lower is better; ``None`` leaves them out.
    title : str, optional
    studies : DataFrame, optional
        Per-study rows for results that keep no ``yi``/``vi`` (e.g. Mantel-Haenszel): columns
        ``estimate, ci_low, ci_high`` on the axis scale (ratios for ratio measures), optionally
        ``label``, ``weight`` (percent), ``n``.
    show_pi : bool
        Draw the prediction interval bar (where the result defines one).
    subgroups, groups
        A :class:`hipacu.models.subgroups.SubgroupResult` and each study's group label: studies
        are listed under their group with a subtotal diamond and the test for subgroup differences.

    Returns
    -------
    matplotlib Axes
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
    fav = _favours_text(favours)
    if xlabel is None:
        xlabel = (measure or "effect") + (f"  ({fav})" if fav else "")
    return draw_forest(ax, table, pooled=result, show=show, log=log, xlabel=xlabel, title=title, show_pi=show_pi,
                       subgroups=subgroups, groups=groups)


@styled
def funnel(result, contours=None, *, ax=None, filled=None, measure: str | None = None, xlabel: str | None = None,
           yi=None, vi=None):
    """Funnel plot of a model result: each study's effect against its standard error, a line at the
    pooled ``estimate``, and (optionally) contour regions and trim-and-fill studies.

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
        Names the x axis (``log RR`` for ``"RR"``).
    """
    ax = new_axes(ax, (5, 4))
    yi = np.asarray(getattr(result, "yi", None) if yi is None else yi, float)
    vi = np.asarray(getattr(result, "vi", None) if vi is None else vi, float)
    if yi.ndim != 1 or yi.shape != vi.shape:
        raise ValueError(f"{type(result).__name__} keeps no per-study yi/vi; pass yi= and vi= (one per study)")
    if contours is not None:
        shades = ["#FFFFFF", "#DDDDDD", "#BBBBBB", "#999999"]
        levels = list(contours.levels)
        for i, lev in enumerate(sorted(levels, reverse=True)):
            j = levels.index(lev)
            ax.fill_betweenx(contours.se, contours.left[j], contours.right[j], color=shades[min(i + 1, 3)], lw=0,
                             label=f"{100 * lev:g}% contour")
    ax.plot(yi, np.sqrt(vi), "o", color=PALETTE["blue"], label="studies")
    if filled is not None and len(filled.filled_yi):
        ax.plot(filled.filled_yi, np.sqrt(filled.filled_vi), "o", mfc="white", color=PALETTE["vermillion"],
                label="imputed (trim-and-fill)")
    ax.axvline(result.estimate, color=PALETTE["black"], lw=0.8, label="pooled estimate")
    ax.invert_yaxis()
    if xlabel is None:
        xlabel = f"log {measure}" if measure in RATIO_MEASURES else (measure or "effect")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("standard error")
    ax.legend(fontsize=7, loc="lower right")
    return ax


@styled
def sensitivity(loo: pd.DataFrame, cum: pd.DataFrame | None = None, *, ax=None, pooled=None,
                measure: str | None = None):
    """Leave-one-out (and optionally cumulative) estimates with their CIs.

    ``loo``/``cum`` are :func:`hipacu.leave_one_out` / :func:`hipacu.cumulative` DataFrames (their
    ``estimate, ci_low, ci_high`` are drawn, indexed by the study omitted / added); ``pooled`` (any
    SummaryEstimate) draws its estimate as a line and its CI as a band. Ratio measures are drawn
    exponentiated on a log axis.
    """
    import matplotlib.pyplot as plt

    show, log = _transform(measure)
    frames = [("leave one out", loo)] + ([("cumulative", cum)] if cum is not None else [])
    if ax is None:
        _, axes = plt.subplots(1, len(frames), figsize=(5 * len(frames), 1 + 0.35 * len(loo)), squeeze=False)
        axes = axes[0]
    else:
        axes = [ax]
    for a, (name, df) in zip(axes, frames):
        yv = np.arange(len(df), 0, -1)
        est = np.array([show(v) for v in df["estimate"]])
        lo = np.array([show(v) for v in df["ci_low"]])
        hi = np.array([show(v) for v in df["ci_high"]])
        if pooled is not None:
            lo_p, hi_p = show(pooled.ci_low), show(pooled.ci_high)
            a.add_patch(Rectangle((lo_p, 0), hi_p - lo_p, 1, transform=a.get_xaxis_transform(), lw=0, alpha=0.12,
                                  color=PALETTE["vermillion"], label=f"all studies ({100 * pooled.level:g}% CI)"))
            a.axvline(show(pooled.estimate), color=PALETTE["vermillion"], lw=1)
        a.errorbar(est, yv, xerr=[est - lo, hi - est], fmt="o", color=PALETTE["blue"], ecolor=PALETTE["black"],
                   elinewidth=1, capsize=2)
        a.axvline(1.0 if log else 0.0, color=PALETTE["grey"], lw=0.8, ls="--")
        if log:
            _log_axis(a)
        a.set_yticks(yv)
        a.set_yticklabels([("without " if name == "leave one out" else "+ ") + str(i) for i in df.index])
        a.set_title(name, loc="left", fontsize=10)
        if measure:
            a.set_xlabel(measure)
    return axes[0]
