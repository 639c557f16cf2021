"""Adapters for evidence folders: figures of :class:`~hipacu.review.analysis.AnalysisResult`,
claims and their method-sensitivity panels.

They add what an evidence folder knows and a model result does not (arm-level data, risk of bias,
MIDs, flags on implausible numbers, source URLs, the analysis's intervention and comparator, the
topic's labels and stated schedule) and leave the drawing of effects to :mod:`hipacu.plots.core`.
Nothing topic-specific is written here: every word about the topic comes from ``analyses.toml``
or ``topic.toml``.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from hipacu.plots._layout import at, fit_to_content, fmt_number, place_labels, text_extent, wrap
from hipacu.plots._style import (
    CERTAINTY_COLOURS,
    FONT,
    MEASURE_NAMES,
    PALETTE,
    ROB_DOMAINS,
    ROB_KEY,
    ROB_NAMES,
    SAFETY_ROB_DOMAINS,
    SAFETY_ROB_KEY,
    SAFETY_ROB_NAMES,
    styled,
)
from hipacu.plots.core import (
    GAP,
    ROW,
    RobColumns,
    TextColumn,
    _limits,
    _set_linear_axis,
    _set_ratio_axis,
    draw_forest,
    effect_header,
)

__all__ = ["dose", "evidence_map", "favours", "forest_analysis", "method_sensitivity", "arm_columns",
           "IMPLAUSIBLE_MARK"]

#: Effect categories of the grading (:func:`hipacu.review.grading.effect_category`) in words.
CATEGORY_WORDS = {"benefit": "important benefit", "little_or_no": "little or no effect", "harm": "important harm",
                  "below": "below the threshold", "above": "above the threshold", "none": "no data"}
#: The mark put after the label of a study whose numbers the curators flagged implausible.
IMPLAUSIBLE_MARK = "\N{DAGGER}"
#: Arm names longer than this (characters) are replaced by the topic's labels in column heads.
_ARM_HEAD_CHARS = 28


# --------------------------------------------------------------------------- forest of an analysis


def _lower_first(text: str) -> str:
    """Lower-case the first letter unless the first word is an acronym (BCG, TENS)."""
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def _name(text: str | None, fallback: str) -> str:
    """A short name for an axis: the first clause of ``text`` (before " plus ", the co-intervention
    both arms share), else ``fallback``."""
    text = (text or "").split(" plus ")[0].strip().rstrip(",;:")
    return _lower_first(text) if text else fallback


def favours(result, topic=None) -> tuple[str, str] | None:
    """``(left, right)``: what lies left and right of the null line in a forest plot of ``result``.

    Names are the analysis's ``intervention`` and ``comparator`` (``analyses.toml``; first clause),
    else the topic's ``intervention_label``/``comparator_label``; sides follow the outcome's
    direction (``lower_is_better``). ``None`` for frequency questions and unknown directions.
    """
    if result.spec.question == "frequency" or result.lower_is_better is None:
        return None
    i_fallback = topic.intervention_label if topic is not None else "intervention"
    c_fallback = topic.comparator_label if topic is not None else "comparator"
    names = (_name(result.spec.intervention, i_fallback), _name(result.spec.comparator, c_fallback))
    return names if result.lower_is_better else names[::-1]


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _num(v, spec: str = "g") -> str:
    return "" if v is None or pd.isna(v) else fmt_number(float(v), spec)


def arm_columns(result, evidence, topic=None) -> list[TextColumn]:
    """The arm columns RevMan prints left of the weight: events and total per arm (binary), mean, SD
    and total per arm (continuous, arm-level rows), events and total (single-group rates), or the
    analysed total when the studies print only contrasts. Read from the evidence rows of the
    pooled studies (``outcomes.csv`` / ``safety.csv``); a cell is empty where a row prints no arm data
    (contrast-level rows, comparator arms combined from several rows)."""
    inc = result.included
    ids = list(inc["row_id"])
    combined = {rid for group in result.spec.combine for rid in group}
    if result.spec.table == "safety":
        rows = evidence.safety.set_index("safety_id").reindex(ids)
        unit = " / ".join(sorted({str(u).replace("_", " ") for u in rows["denominator_unit"].dropna()}))
        return [TextColumn("Events", tuple(_num(v, ".0f") for v in rows["events"]), total=_num(rows["events"].sum(), ".0f")),
                TextColumn(f"Total ({unit})" if unit else "Total", tuple(_num(v, ".0f") for v in rows["denominator"]),
                           total=_num(rows["denominator"].sum(), ".0f"))]
    rows = evidence.outcomes.set_index("outcome_id").reindex(ids)
    if combined:  # a comparator arm combined from several rows is not any one row's arm: leave it empty
        rows = rows.copy()
        rows.loc[rows.index.isin(combined), ["events2", "n2", "mean2", "sd2"]] = np.nan
    names = [_name(result.spec.intervention, topic.intervention_label if topic else "intervention"),
             _name(result.spec.comparator, topic.comparator_label if topic else "comparator")]
    fallback = [topic.intervention_label if topic else "Intervention", topic.comparator_label if topic else "Comparator"]
    heads = [_capital(n if len(n) <= _ARM_HEAD_CHARS else f) for n, f in zip(names, fallback)]
    forms = set(rows["form"].dropna())

    def total(col) -> str:
        v = rows[col]
        return "" if v.isna().any() else _num(v.sum(), ".0f")

    if forms == {"events"}:
        return [TextColumn("Events", tuple(_num(v, ".0f") for v in rows["events1"]), heads[0], total("events1")),
                TextColumn("Total", tuple(_num(v, ".0f") for v in rows["n1"]), heads[0], total("n1")),
                TextColumn("Events", tuple(_num(v, ".0f") for v in rows["events2"]), heads[1], total("events2")),
                TextColumn("Total", tuple(_num(v, ".0f") for v in rows["n2"]), heads[1], total("n2"))]
    if "arm" in forms:
        arm = rows["form"] == "arm"
        cols = []
        for a, head in ((1, heads[0]), (2, heads[1])):
            cols += [TextColumn("Mean", tuple(_num(v) if ok else "" for v, ok in zip(rows[f"mean{a}"], arm)), head),
                     TextColumn("SD", tuple(_num(v) if ok else "" for v, ok in zip(rows[f"sd{a}"], arm)), head),
                     TextColumn("Total", tuple(_num(v, ".0f") for v in rows[f"n{a}"]), head, total(f"n{a}"))]
        return cols
    n = inc["n"]
    return [TextColumn("Total", tuple(_num(v, ".0f") for v in n), total="" if n.isna().any() else _num(n.sum(), ".0f"))]


def _rob_columns(result) -> RobColumns | None:
    inc = result.included
    frequency = result.spec.question == "frequency" and not inc["design"].isin(("rct", "quasi_randomised")).all()
    domains, keys, names = ((SAFETY_ROB_DOMAINS, SAFETY_ROB_KEY, SAFETY_ROB_NAMES) if frequency
                            else (ROB_DOMAINS, ROB_KEY, ROB_NAMES))
    values = inc[list(domains)].fillna("not_assessed")
    if (values == "not_assessed").all().all():
        return None
    short = [k if len(k) <= 2 else k[0] for k in keys]
    key = ("Risk of bias (RoB 2): " if not frequency else "Appraisal of the study: ") + "; ".join(
        f"{s} {n[0].lower() + n[1:]}" for s, n in zip(short, names)) + " (studies.csv rob_*)."
    return RobColumns(tuple(keys), tuple(tuple(str(v) for v in row) for row in values.to_numpy()), key)


def _mid_lines(result) -> tuple[tuple[float, ...], str | None]:
    spec = result.spec
    if spec.question == "frequency":
        if spec.threshold is None:
            return (), None
        label = f"threshold {spec.threshold:g} per {spec.per:,.0f}" + (f" ({spec.threshold_label})" if spec.threshold_label else "")
        return (float(spec.threshold),), label
    if spec.mid is None:
        return (), None
    unit = f" {spec.mid_unit}" if spec.mid_unit else ""
    if result.is_ratio:
        lo, hi = sorted((spec.mid, 1 / spec.mid))
        return (lo, hi), f"minimal important difference ({spec.measure} {lo:.3g} and {hi:.3g})"
    return (-spec.mid, spec.mid), f"minimal important difference (\N{PLUS-MINUS SIGN}{spec.mid:g}{unit})"


@styled
def forest_analysis(result, *, ax=None, topic=None, evidence=None, subgroups=None, groups=None, show_rob: bool = True,
                    show_pi: bool = True, xlabel: str | None = None, title: str | None = None):
    """Forest plot of an :class:`~hipacu.review.analysis.AnalysisResult` in the RevMan 5 layout.

    The model result (``result.pooled``) is drawn as :func:`hipacu.plots.forest` draws any result,
    on the analysis's reporting scale (``result.display``: exponentiated for ratio measures, a rate
    per ``per`` for proportions), with the evidence columns added: arm data (with ``evidence=``, the
    :class:`~hipacu.evidence.Evidence` the analysis came from; else the analysed totals), a column
    of risk-of-bias dots per domain (when any study was assessed), dotted lines at the MID (or the
    rate threshold), a dagger on studies flagged implausible with the result without them, links
    from each study label to its source (in the SVG), and the favours labels of :func:`favours`. A
    single study is shown as that study, without a pooled diamond.

    Subgroups: pass ``subgroups``, a :class:`hipacu.models.subgroups.SubgroupResult` fitted on the
    analysis's studies, and ``groups``, each included study's group label (in the order of
    ``result.included``); :meth:`AnalysisResult.subgroups` returns both.
    """
    table = result.study_table()
    p = result.pooled
    spec = result.spec
    inc = result.included
    if xlabel is None:
        if spec.question == "frequency":
            unit = f"Events per {spec.per:,.0f}" if spec.per else "Proportion"
            xlabel = effect_header("PLO", p, result.test).replace(MEASURE_NAMES["PLO"], unit, 1)
        else:
            xlabel = effect_header(spec.measure, p, result.test)
    columns = arm_columns(result, evidence, topic) if evidence is not None else [
        TextColumn("Total", tuple(_num(v, ".0f") for v in table["n"]),
                   total="" if table["n"].isna().any() else _num(table["n"].sum(), ".0f"))]
    mids, mid_label = _mid_lines(result)
    marks = [IMPLAUSIBLE_MARK if flag else "" for flag in inc["implausible"]]
    notes = []
    if result.implausible_labels:
        why = "; ".join(f"{lab}: {str(reason).rstrip('. ')}" for lab, reason in zip(inc.loc[inc["implausible"], "label"],
                                                                                   inc.loc[inc["implausible"], "implausible_reason"]))
        q = result.without_implausible
        alt = (f"Without them: {_effect_text(result, q)}, k = {q.k}." if q is not None else
               "No unflagged study remains, so there is no result without them.")
        notes.append(f"{IMPLAUSIBLE_MARK} Numbers flagged implausible by the curators (studies.csv): {why}. {alt}")
    null = None if spec.question == "frequency" else (1.0 if result.is_ratio else 0.0)
    return draw_forest(ax, table, pooled=p, show=result.display, log=result.is_ratio, header=xlabel,
                       title=title or spec.title, pooled_n=result.participants, mids=mids, mid_label=mid_label,
                       show_pi=show_pi, subgroups=subgroups, groups=groups, columns=columns,
                       rob=_rob_columns(result) if show_rob else None, favours=favours(result, topic), null=null,
                       marks=marks, urls=[str(u) if isinstance(u, str) else "" for u in inc["source_url"]], notes=notes,
                       overall_test=spec.question != "frequency")


def _effect_text(result, q) -> str:
    est, lo, hi = (result.display(x) for x in (q.estimate, q.ci_low, q.ci_high))
    name = result.spec.measure if result.spec.question != "frequency" else f"per {result.spec.per:,.0f}"
    return f"{name} {fmt_number(est)} [{fmt_number(lo)}, {fmt_number(hi)}]"


# --------------------------------------------------------------------------- method sensitivity


def _category_words(result, category: str) -> str:
    """An effect category in words; without an MID "benefit" only means the side of no effect."""
    if result.spec.mid is None and category in ("benefit", "harm"):
        return f"{category} (no MID: judged against no effect)"
    return CATEGORY_WORDS.get(category, str(category))


@styled
def method_sensitivity(result, panel: pd.DataFrame | None = None, *, ax=None, title: str | None = None):
    """The method-sensitivity panel of an analysis as a figure: the estimate and CI under each model
    and interval of :data:`hipacu.review.grading.METHOD_PANEL` beside the analysis as run, with the
    imprecision rating and effect category each gives; rows that change either are drawn in
    vermillion and marked "changes". ``panel`` is :func:`hipacu.review.grading.method_sensitivity`
    output (computed when omitted). Returns the plot's axes."""
    if panel is None:
        from hipacu.review.grading import method_sensitivity as compute

        panel = compute(result)
    if not len(panel):
        raise ValueError(f"analysis {result.spec.id!r} has no method-sensitivity panel (k = {result.k} < 2)")
    created = ax is None
    n = len(panel)
    if created:
        fig = plt.figure(figsize=(8, ROW * (n + 2) + 1.2))
        ax = fig.add_axes((0.3, 0.3, 0.3, 0.5))
    fig = ax.figure
    heads = ("Model and interval", "Estimate [95% CI]", "Imprecision", "Effect category", "")
    base_imp = int(panel.loc[panel["primary"], "imprecision"].iloc[0])
    cells = []
    for _, r in panel.iterrows():
        change = []
        if r["differs"]:
            if int(r["imprecision"]) != base_imp:
                change.append("imprecision")
            if r["category"] != panel.loc[panel["primary"], "category"].iloc[0]:
                change.append("category")
        cells.append((str(r["label"]), f"{fmt_number(r['estimate'])} [{fmt_number(r['ci_low'])}, {fmt_number(r['ci_high'])}]",
                      fmt_number(int(r["imprecision"]), "+d"), _category_words(result, r["category"]),
                      ("changes " + " and ".join(change)) if change else ""))
    widths = [max(text_extent(fig, str(c), fontsize=FONT, weight="bold")[0] for c in col) + GAP
              for col in zip(heads, *cells)]
    left_w = sum(widths[:2]) + GAP
    right_w = sum(widths[2:]) + GAP
    plot_w = 2.4
    if created:
        fw, fh = left_w + plot_w + right_w + 0.3, ROW * (n + 2) + 1.2
        fig.set_size_inches(fw, fh)
        ax.set_position(((left_w + 0.1) / fw, 0.7 / fh, plot_w / fw, ROW * (n + 1) / fh))
    ax.set_ylim(-(n + 0.5), 0.5)
    xs = [-left_w, -left_w + widths[0], GAP, GAP + widths[2], GAP + widths[2] + widths[3]]
    sides = (0, 0, 1, 1, 1)
    for i, h in enumerate(heads):
        ax.text(sides[i], 0, h, transform=at(ax, xs[i]), ha="left", va="center", fontsize=FONT, fontweight="bold")
    lo, hi = _limits(list(panel["ci_low"]) + list(panel["ci_high"]), result.is_ratio,
                     None if result.spec.question == "frequency" else (1.0 if result.is_ratio else 0.0))
    for j, (cell, (_, r)) in enumerate(zip(cells, panel.iterrows()), start=1):
        colour = PALETTE["vermillion"] if r["differs"] else PALETTE["blue"]
        weight = "bold" if r["primary"] else "normal"
        for i, text in enumerate(cell):
            ax.text(sides[i], -j, text, transform=at(ax, xs[i]), ha="left", va="center", fontsize=FONT,
                    fontweight=weight, color=PALETTE["vermillion"] if (i == 4 and text) else PALETTE["black"])
        ax.plot([r["ci_low"], r["ci_high"]], [-j, -j], color=colour, lw=1.4)
        ax.plot([r["estimate"]], [-j], marker="D" if r["primary"] else "o", ms=6, color=colour, ls="none")
    mids, mid_label = _mid_lines(result)
    (_set_ratio_axis if result.is_ratio else _set_linear_axis)(ax, *_limits([lo, hi, *mids], result.is_ratio, None))
    null = None if result.spec.question == "frequency" else (1.0 if result.is_ratio else 0.0)
    if null is not None:
        ax.plot([null, null], [-0.5, -(n + 0.5)], color=PALETTE["grey"], lw=0.8, ls="--")
    for m in mids:
        ax.plot([m, m], [-0.5, -(n + 0.5)], color=PALETTE["green"], lw=0.9, ls=":")
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_yticks([])
    ax.tick_params(axis="x", labelsize=FONT)
    name = (f"events per {result.spec.per:,.0f}" if result.spec.question == "frequency" else
            MEASURE_NAMES.get(result.spec.measure, result.spec.measure))
    ax.set_xlabel(f"{_capital(name)} ({100 * result.pooled.level:g}% CI)", fontsize=FONT)
    handles = [Line2D([], [], color=PALETTE["blue"], marker="D", ls="-", ms=5),
               Line2D([], [], color=PALETTE["blue"], marker="o", ls="-", ms=5)]
    names = ["the analysis as run", "same studies, another model or interval"]
    if panel["differs"].any():
        handles.append(Line2D([], [], color=PALETTE["vermillion"], marker="o", ls="-", ms=5))
        names.append("changes the imprecision rating or category")
    if mids:
        handles.append(Line2D([], [], color=PALETTE["green"], lw=0.9, ls=":"))
        names.append(mid_label)
    ax.legend(handles, names, loc="upper left", bbox_to_anchor=(0, 0), ncol=2, fontsize=FONT - 0.5, frameon=False,
              borderaxespad=0, bbox_transform=at(ax, -left_w, -0.55, y="axes"))
    ax.text(0, 1, wrap(fig, title or f"Method sensitivity: {result.spec.title}", left_w + plot_w + right_w,
                       fontsize=FONT + 1, weight="bold"),
            transform=at(ax, -left_w, 0.08, y="axes"), ha="left", va="bottom", fontsize=FONT + 1, fontweight="bold")
    if created:
        fit_to_content(fig)
    return ax


# --------------------------------------------------------------------------- evidence map

_LABEL_W = 3.1   # inches for the claim column
_PLOT_W = 3.4
_VERDICT_W = 2.3
_LINE = FONT / 72 * 1.25


def _cioms():
    from hipacu.review.grading import CIOMS_BANDS

    return CIOMS_BANDS


def _panel_of(result) -> str:
    if result is None or result.pooled is None:
        return "none"
    return "rate" if result.spec.question == "frequency" else "effect"


def _mid_units(result) -> tuple[float, float, float] | None:
    """``(ci_low, estimate, ci_high)`` divided by the MID on the analysis scale (negative = favours the
    intervention), or None without an MID (never a made-up scale)."""
    from hipacu.review.grading import mid_on_analysis_scale

    mid = mid_on_analysis_scale(result)
    if mid is None:
        return None
    p = result.pooled
    sign = 1.0 if result.lower_is_better in (True, None) else -1.0
    lo, hi = sorted((sign * p.ci_low / mid, sign * p.ci_high / mid))
    return lo, sign * p.estimate / mid, hi


def _rate(result, value: float) -> float:
    return result.display(value) / (result.spec.per or 1.0)


def _pct(v: float, _=None) -> str:
    return f"{fmt_number(100 * v, 'g')}%"


@styled
def evidence_map(claims: pd.DataFrame, results: dict, *, topic=None):
    """The article's claims against the graded evidence, one row per claim, one panel per scale.

    **Effects** (claims whose primary analysis compares arms): the estimate and CI in units of the
    analysis's minimal important difference (negative = favours the intervention), against the band
    of little or no effect (within ±1 MID); an analysis without an MID is written out as "no MID"
    with its effect on its own scale, never rescaled. **Rates** (frequency questions): the rate and
    its CI on a log axis shaded by the CIOMS frequency bands, with the claim's threshold marked.
    **Not pooled**: mechanistic, dose and claims without data. Each row is coloured by GRADE
    certainty and ends with the verdict and certainty; claim texts are wrapped, never cut.

    ``claims`` is :func:`hipacu.review.claims.grade_claims` output (its ``primary_analysis`` chooses
    each row's analysis); ``results`` maps analysis ids to :class:`AnalysisResult`; ``topic`` names
    the intervention on the axis. Builds its own figure; returns the first panel's axes.
    """
    fig = plt.figure(figsize=(10, 8))
    who = topic.intervention_label if topic is not None else "the intervention"
    rows = {"effect": [], "rate": [], "none": []}
    for _, c in claims.iterrows():
        r = results.get(c["primary_analysis"]) if c["primary_analysis"] else None
        label = wrap(fig, f"{c['claim_id']}  {c['claim']}", _LABEL_W, fontsize=FONT)
        cert = f"{c['symbols']} {str(c['certainty']).replace('_', ' ')}" if c["certainty"] else "not graded"
        verdict = wrap(fig, f"{c['verdict']}", _VERDICT_W, fontsize=FONT, weight="bold")
        lines = max(label.count("\n") + 1, verdict.count("\n") + 2) + 0.7  # and a gap between claims
        rows[_panel_of(r)].append(dict(claim=c, result=r, label=label, verdict=verdict, cert=cert, lines=lines))
    panels = [(k, v) for k, v in rows.items() if v]
    heights = [sum(x["lines"] for x in v) * _LINE + (0.3 if k == "rate" else 0.1) for k, v in panels]
    gap = 0.85
    total_h = sum(heights) + gap * len(panels) + 1.2
    fig.set_size_inches(_LABEL_W + _PLOT_W + _VERDICT_W + 0.8, total_h)
    W = fig.get_size_inches()[0]
    axes = []
    top = total_h - 0.5
    for (kind, items), h in zip(panels, heights):
        top -= gap
        ax = fig.add_axes(((_LABEL_W + 0.3) / W, (top - h) / total_h, _PLOT_W / W, h / total_h))
        top -= h
        axes.append(ax)
        extra = 0.3 / _LINE if kind == "rate" else 0.1 / _LINE
        n_lines = sum(x["lines"] for x in items)
        ax.set_ylim(-(n_lines + 0.1 / _LINE), extra)
        y = 0.0
        for x in items:
            yc = y - x["lines"] / 2
            c, r = x["claim"], x["result"]
            colour = CERTAINTY_COLOURS.get(c["certainty"] or "", PALETTE["grey"])
            ax.text(0, yc, x["label"], transform=at(ax, -_LABEL_W - 0.15), ha="left", va="center", fontsize=FONT)
            ax.text(1, yc + 0.5, x["verdict"], transform=at(ax, 0.15), ha="left", va="center", fontsize=FONT,
                    fontweight="bold")
            ax.text(1, yc - (x["verdict"].count("\n") + 1) / 2 - 0.05, x["cert"], transform=at(ax, 0.15), ha="left",
                    va="center", fontsize=FONT, color=colour if c["certainty"] else PALETTE["grey"])
            if kind == "effect":
                units = _mid_units(r)
                if units is None:
                    est = r.effect_text()
                    ax.text(0.5, yc, f"no MID: {est}", transform=_axes_x(ax), ha="center",
                            va="center", fontsize=FONT - 0.5, color=PALETTE["black"], style="italic")
                else:
                    lo, est, hi = units
                    ax.plot([lo, hi], [yc, yc], color=colour, lw=2.5, solid_capstyle="butt")
                    ax.plot([est], [yc], "D", color=colour, ms=6.5, mec="black", mew=0.4)
            elif kind == "rate":
                p = r.pooled
                lo, est, hi = (_rate(r, v) for v in (p.ci_low, p.estimate, p.ci_high))
                ax.plot([lo, hi], [yc, yc], color=colour, lw=2.5, solid_capstyle="butt")
                ax.plot([est], [yc], "D", color=colour, ms=6.5, mec="black", mew=0.4)
                if r.spec.threshold is not None:
                    thr = r.spec.threshold / (r.spec.per or 1.0)
                    ax.plot([thr], [yc], marker="|", ms=14, mew=1.6, color=PALETTE["black"], ls="none")
            else:
                why = {"mechanism": "no outcome data: laboratory and review sources",
                       "dose": "schedules described, not pooled"}.get(c["kind"], "no usable data")
                ax.text(0.5, yc, why, transform=_axes_x(ax), ha="center", va="center", fontsize=FONT - 0.5,
                        color=PALETTE["grey"], style="italic")
            y -= x["lines"]
        if kind == "effect":
            vals = [v for x in items if _mid_units(x["result"]) is not None for v in _mid_units(x["result"])]
            span = max([2.0] + [abs(v) * 1.1 for v in vals])
            ax.axvspan(-1, 1, color="#EEEEEE", zorder=0)
            ax.axvline(0, color=PALETTE["grey"], lw=0.8, ls="--", zorder=1)
            _set_linear_axis(ax, -span, span)
            ax.set_xlabel("effect in units of the minimal important difference (MID); grey band: little or no effect "
                          f"(within \N{PLUS-MINUS SIGN}1 MID);\nnegative: favours {who}", fontsize=FONT)
            title = "Effects, in units of the MID"
        elif kind == "rate":
            bands = _cioms()
            lo_x = min([1e-5] + [_rate(x["result"], x["result"].pooled.ci_low) / 2 for x in items])
            ax.set_xscale("log")
            ax.set_xlim(lo_x, 1.6)  # room for a marker at 100%
            bounds = [lo_x] + sorted(b for _, b in bands if b > 0) + [1.0]
            names = [n for n, _ in sorted(bands, key=lambda b: b[1])]
            for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
                if i % 2 == 0:
                    ax.axvspan(a, b, color="#F1F1F1", zorder=0)
                ax.text(math.sqrt(a * b), extra - 0.1, names[i], transform=ax.transData, ha="center", va="top",
                        fontsize=FONT - 1, color=PALETTE["black"])
            from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

            ax.xaxis.set_major_locator(FixedLocator([v for v in (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0) if v >= lo_x]))
            ax.xaxis.set_major_formatter(FuncFormatter(_pct))
            ax.xaxis.set_minor_locator(NullLocator())
            ax.set_xlabel("rate: events per person (or per unit of the denominator), log scale; bands: CIOMS III "
                          "frequency categories;\n| marks the claim's threshold", fontsize=FONT)
            title = "Rates, in CIOMS frequency bands"
        else:
            ax.set_xticks([])
            ax.set_xlim(0, 1)
            title = "Not pooled"
        for side in ("left", "right", "top"):
            ax.spines[side].set_visible(False)
        if kind == "none":
            ax.spines["bottom"].set_visible(False)
        ax.set_yticks([])
        ax.tick_params(axis="x", labelsize=FONT)
        ax.text(0, 1, title, transform=at(ax, -_LABEL_W - 0.15, 0.06, y="axes"), ha="left", va="bottom",
                fontsize=FONT + 1, fontweight="bold")
    first = axes[0]
    first.text(0, 1, "The article's claims against the graded evidence", transform=at(first, -_LABEL_W - 0.15, 0.32, y="axes"),
               ha="left", va="bottom", fontsize=FONT + 2, fontweight="bold")
    last = axes[-1]
    handles = [Patch(color=CERTAINTY_COLOURS[k], label=k.replace("_", " ")) for k in ("high", "moderate", "low", "very_low")]
    handles.append(Line2D([], [], color=PALETTE["grey"], marker="D", lw=2.5, mec="black", mew=0.4,
                          label="pooled estimate and 95% CI of the claim's primary analysis"))
    drop = 0.75 if panels[-1][0] != "none" else 0.1
    last.legend(handles=handles, title="GRADE certainty", loc="upper left", bbox_to_anchor=(0, 0), ncol=5,
                fontsize=FONT - 0.5, title_fontsize=FONT - 0.5, frameon=False, borderaxespad=0, alignment="left",
                bbox_transform=at(last, -_LABEL_W - 0.15, -drop, y="axes"))
    fit_to_content(fig)
    return first


def _axes_x(ax):
    from matplotlib.transforms import blended_transform_factory

    return blended_transform_factory(ax.transAxes, ax.transData)


# --------------------------------------------------------------------------- dose


@styled
def dose(schedules: pd.DataFrame, *, ax=None, schedule=None):
    """Treatment schedules: sessions per week against course length (weeks), one point per trial,
    each labelled without collisions (:func:`hipacu.plots._layout.place_labels`).

    ``schedules`` needs ``label, sessions, weeks`` (``studies.csv``). ``schedule`` is the schedule
    the article states (``Evidence.topic.article.schedule``, a :class:`hipacu.evidence.topic.Schedule`),
    drawn as a shaded box when it gives both ``per_week`` and ``weeks``; without one no box is drawn.
    The legend sits under the axes, so it hides no point.
    """
    created = ax is None
    if created:
        _, ax = plt.subplots(figsize=(5.5, 3.8))
    band = schedule is not None and schedule.per_week is not None and schedule.weeks is not None
    if band:
        (plo, phi), (wlo, whi) = schedule.per_week, schedule.weeks
        ax.add_patch(Rectangle((wlo, plo), whi - wlo, phi - plo, color=PALETTE["sky"], alpha=0.3, lw=0,
                               label=f"stated schedule: {plo:g}-{phi:g} a week for {wlo:g}-{whi:g} weeks"))
    d = schedules.dropna(subset=["sessions", "weeks"])
    per_week = (d["sessions"] / d["weeks"]).to_numpy(float)
    ax.plot(d["weeks"], per_week, "o", color=PALETTE["vermillion"], ms=5, label="trials", zorder=3)
    ax.set_xlabel("course length (weeks)", fontsize=FONT + 1)
    ax.set_ylabel("sessions per week", fontsize=FONT + 1)
    top_w = max(float(d["weeks"].max()) if len(d) else 0.0, schedule.weeks[1] if band else 0.0)
    top_p = max(float(per_week.max()) if len(d) else 0.0, schedule.per_week[1] if band else 0.0)
    ax.set_xlim(0, max(14, top_w * 1.15 + 1))
    ax.set_ylim(0, max(3.5, top_p * 1.15 + 0.5))
    ax.tick_params(labelsize=FONT)
    ax.legend(fontsize=FONT - 0.5, loc="upper left", bbox_to_anchor=(0, -0.16), frameon=False, borderaxespad=0, ncol=2)
    place_labels(ax, list(d["weeks"]), list(per_week), list(d["label"]), fontsize=FONT - 1)
    if created:
        fit_to_content(ax.figure)
    return ax

