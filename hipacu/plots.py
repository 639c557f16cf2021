"""Figures for papers. Every function takes result objects, accepts ``ax=``, returns the Axes and
recomputes nothing: positions, bars and diamonds come from the results' fields and methods.

Palette: Okabe & Ito (2008), colour-blind safe. :func:`save` writes SVG and PNG with fixed metadata
and hash salt, so the same figure gives byte-identical files.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Patch, Polygon, Rectangle

__all__ = ["PALETTE", "CERTAINTY_COLOURS", "ROB_COLOURS", "forest", "funnel", "risk_of_bias", "evidence_map",
           "summary_of_findings", "sensitivity", "dose", "save", "style"]

#: Okabe-Ito colour-blind-safe palette.
PALETTE = {"black": "#000000", "orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73", "yellow": "#F0E442",
           "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7", "grey": "#999999"}
CERTAINTY_COLOURS = {"high": PALETTE["blue"], "moderate": PALETTE["sky"], "low": PALETTE["orange"],
                     "very_low": PALETTE["vermillion"], "": PALETTE["grey"]}
ROB_COLOURS = {"low": PALETTE["green"], "some_concerns": PALETTE["yellow"], "high": PALETTE["vermillion"],
               "not_assessed": "#DDDDDD"}
ROB_DOMAINS = ("rob_randomisation", "rob_deviations", "rob_missing", "rob_measurement", "rob_reporting", "rob_overall")
ROB_LABELS = ("D1 randomisation", "D2 deviations", "D3 missing data", "D4 measurement", "D5 reporting", "Overall")


def style() -> None:
    """Readable at print size: 9-pt text, no top/right spines, fixed SVG hash salt."""
    plt.rcParams.update({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False,
                         "svg.hashsalt": "hipacu", "svg.fonttype": "path", "figure.dpi": 100})


style()


def _ax(ax, size):
    if ax is None:
        _, ax = plt.subplots(figsize=size)
    return ax


def save(fig, path: str | Path) -> list[Path]:
    """Save ``fig`` as ``path``.svg and ``path``.png (deterministic: no date, fixed hash salt)."""
    path = Path(path)
    out = []
    for ext, meta in (("svg", {"Date": None, "Creator": "hipacu"}), ("png", {"Software": "hipacu"})):
        p = path.with_suffix("." + ext)
        fig.savefig(p, format=ext, metadata=meta, bbox_inches="tight", dpi=150 if ext == "png" else None)
        out.append(p)
    return out


# --------------------------------------------------------------------------- forest


def _diamond(ax, est, lo, hi, yv, colour, label=None):
    ax.add_patch(Polygon([[lo, yv], [est, yv + 0.3], [hi, yv], [est, yv - 0.3]], closed=True, color=colour, label=label))


def forest(result, *, ax=None, subgroups=None, groups=None, show_rob: bool = True, xlabel: str | None = None,
           title: str | None = None):
    """Forest plot of an :class:`~hipacu.review.analysis.AnalysisResult`.

    Rows: study label, n, effect (95% CI) as text and weight; squares sized by weight; the pooled
    diamond spans the result's CI; a bar below it shows the prediction interval (k >= 2); an optional
    column of risk-of-bias dots. The axis says which side favours the intervention; ratio measures use
    a log axis.

    Subgroups: pass ``subgroups``, a :class:`hipacu.models.subgroups.SubgroupResult` fitted on the analysis's
    studies, and ``groups``, each included study's group label (in the order of ``result.included``);
    :meth:`AnalysisResult.subgroups` returns both. Studies are then listed under their group with a
    subtotal diamond from the subgroup's pooled estimate, and the test for subgroup differences is
    printed under the plot.
    """
    table = result.study_table()
    p = result.pooled
    k = len(table)
    if subgroups is not None:
        if groups is None or len(groups) != k:
            raise ValueError(f"groups must give one label per included study ({k}); got "
                             f"{None if groups is None else len(groups)}")
        order = [(g, [i for i in range(k) if groups[i] == g]) for g in subgroups.subgroups]
    else:
        order = [(None, list(range(k)))]
    # rows from the top: ("header", group) / ("study", i) / ("subtotal", group); then the pooled row
    rows: list[tuple[str, object]] = []
    for g, idx in order:
        if g is not None:
            rows.append(("header", g))
        rows += [("study", i) for i in idx]
        if g is not None:
            rows.append(("subtotal", g))
    n_rows = len(rows)
    ax = _ax(ax, (9, 1.2 + 0.35 * (n_rows + 3)))
    ratio = result.is_ratio
    ypos = {j: n_rows - j + 1.5 for j in range(n_rows)}
    trans = ax.get_yaxis_transform()
    wmax = table["weight"].max() if k else 1
    ticks, labels = [], []
    for j, (kind, key) in enumerate(rows):
        yv = ypos[j]
        if kind == "study":
            r = table.iloc[key]
            ax.plot([r["ci_low"], r["ci_high"]], [yv, yv], color=PALETTE["black"], lw=1)
            ax.plot([r["estimate"]], [yv], marker="s", ms=4 + 10 * np.sqrt(r["weight"] / wmax), color=PALETTE["blue"],
                    ls="none")
            ax.text(1.02, yv, "" if pd.isna(r["n"]) else f"{int(r['n'])}", transform=trans, va="center")
            ax.text(1.13, yv, f"{r['estimate']:.2f} ({r['ci_low']:.2f}, {r['ci_high']:.2f})", transform=trans, va="center")
            ax.text(1.45, yv, f"{r['weight']:.1f}%", transform=trans, va="center")
            if show_rob:
                ax.plot([1.57], [yv], transform=trans, marker="o", ms=7, ls="none", clip_on=False,
                        color=ROB_COLOURS.get(r["rob_overall"], "#DDDDDD"))
            ticks.append(yv)
            labels.append(str(r["label"]))
        elif kind == "header":
            ax.text(-0.01, yv, str(key), transform=trans, ha="right", va="center", fontweight="bold", fontsize=9)
        else:
            sp = subgroups.subgroups[key]
            est, lo, hi = (result.display(x) for x in (sp.estimate, sp.ci_low, sp.ci_high))
            _diamond(ax, est, lo, hi, yv, PALETTE["orange"])
            ax.text(1.13, yv, f"{est:.2f} ({lo:.2f}, {hi:.2f})", transform=trans, va="center")
            ticks.append(yv)
            labels.append(f"Subtotal (k = {sp.k}{', I² = ' + format(sp.i2, '.0f') + '%' if sp.k > 1 else ''})")
    if p is not None:
        est, lo, hi = (result.display(x) for x in (p.estimate, p.ci_low, p.ci_high))
        _diamond(ax, est, lo, hi, 0.9, PALETTE["vermillion"], label="pooled (95% CI)")
        if p.k >= 2:
            plo, phi = result.display(p.pi_low), result.display(p.pi_high)
            ax.plot([plo, phi], [0.35, 0.35], color=PALETTE["vermillion"], lw=2.5, solid_capstyle="butt",
                    label="95% prediction interval")
        ax.text(1.02, 0.9, f"{result.participants}", transform=trans, va="center", fontweight="bold")
        ax.text(1.13, 0.9, f"{est:.2f} ({lo:.2f}, {hi:.2f})", transform=trans, va="center", fontweight="bold")
        ax.text(1.45, 0.9, "100%", transform=trans, va="center", fontweight="bold")
        ticks.append(0.9)
        labels.append(f"Pooled ({result.spec.method}{', HK' if p.knha else ''})")
    null = 1.0 if ratio else 0.0
    ax.axvline(null, color=PALETTE["grey"], lw=0.8, ls="--")
    if result.spec.mid is not None and not ratio:
        for m in (-result.spec.mid, result.spec.mid):
            ax.axvline(m, color=PALETTE["green"], lw=0.8, ls=":")
    if ratio:
        ax.set_xscale("log")
    ax.set_yticks(ticks)
    ax.set_yticklabels(labels)
    ax.set_ylim(0, n_rows + 2.5)
    for x, text in ((1.02, "n"), (1.13, "Effect (95% CI)"), (1.45, "Weight")):
        ax.text(x, n_rows + 2.0, text, transform=trans, fontweight="bold", ha="left")
    if show_rob and k:
        ax.text(1.57, n_rows + 2.0, "RoB", transform=trans, fontweight="bold", ha="center")
    ax.set_xlabel(xlabel or f"{result.spec.measure}  ({result.favours_label()})")
    ax.set_title(title or result.spec.title, loc="left", fontsize=10)
    notes = []
    if p is not None:
        notes.append(f"k = {p.k}" + ("" if p.k < 2 else f"   Heterogeneity: tau² = {p.tau2:.3g}, I² = {p.i2:.0f}%, "
                                                       f"Q p = {p.q_pval:.2g}"))
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


# --------------------------------------------------------------------------- funnel


def funnel(yi, vi, contours, *, ax=None, filled=None, xlabel: str = "effect"):
    """Contour-enhanced funnel plot.

    ``contours`` is a :class:`hipacu.diagnostics.bias.FunnelContours` (its lines are drawn as shaded regions);
    ``filled`` an optional :class:`hipacu.diagnostics.bias.TrimFillResult` whose imputed studies are drawn open.
    """
    ax = _ax(ax, (5, 4))
    se = np.sqrt(np.asarray(vi, float))
    shades = ["#FFFFFF", "#DDDDDD", "#BBBBBB", "#999999"]
    levels = list(contours.levels)
    for i, lev in enumerate(sorted(levels, reverse=True)):
        j = levels.index(lev)
        ax.fill_betweenx(contours.se, contours.left[j], contours.right[j], color=shades[min(i + 1, 3)], lw=0,
                         label=f"{100 * lev:g}% contour")
    ax.plot(yi, se, "o", color=PALETTE["blue"], label="studies")
    if filled is not None and len(filled.filled_yi):
        ax.plot(filled.filled_yi, np.sqrt(filled.filled_vi), "o", mfc="white", color=PALETTE["vermillion"],
                label="imputed (trim-and-fill)")
    ax.axvline(contours.estimate, color=PALETTE["black"], lw=0.8)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_ylabel("standard error")
    ax.legend(fontsize=7, loc="lower right")
    return ax


# --------------------------------------------------------------------------- risk of bias


def risk_of_bias(studies: pd.DataFrame, *, ax=None, weights: pd.Series | None = None, title: str = "Risk of bias (RoB 2)"):
    """Traffic-light grid: one row per study, one column per RoB 2 domain (and overall).

    ``studies`` holds ``label`` and the ``rob_*`` columns of ``studies.csv``. With ``weights`` (indexed
    like ``studies``) a second panel shows the weighted share of each judgement per domain.
    """
    k = len(studies)
    if ax is None:
        if weights is not None:
            fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 1 + 0.32 * k), gridspec_kw={"width_ratios": [1.2, 1]})
        else:
            fig, ax = plt.subplots(figsize=(6, 1 + 0.32 * k))
            ax2 = None
    else:
        ax2 = None
    for i, (_, r) in enumerate(studies.iterrows()):
        for j, d in enumerate(ROB_DOMAINS):
            ax.plot(j, k - i, "o", ms=11, color=ROB_COLOURS.get(r[d], "#DDDDDD"), mec="black", mew=0.3)
    ax.set_xticks(range(len(ROB_DOMAINS)))
    ax.set_xticklabels(ROB_LABELS, rotation=35, ha="right")
    ax.set_yticks(range(k, 0, -1))
    ax.set_yticklabels(studies["label"])
    ax.set_xlim(-0.6, len(ROB_DOMAINS) - 0.4)
    ax.set_ylim(0.4, k + 0.6)
    ax.set_title(title, loc="left", fontsize=10)
    ax.legend(handles=[Patch(color=c, label=l.replace("_", " ")) for l, c in ROB_COLOURS.items()], fontsize=7,
              loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    if ax2 is not None:
        w = np.asarray(weights, float)
        w = w / w.sum()
        for j, d in enumerate(ROB_DOMAINS):
            left = 0.0
            for level, colour in ROB_COLOURS.items():
                share = float(w[(studies[d] == level).to_numpy()].sum())
                ax2.barh(j, share, left=left, color=colour, edgecolor="black", lw=0.3)
                left += share
        ax2.set_yticks(range(len(ROB_DOMAINS)))
        ax2.set_yticklabels(ROB_LABELS)
        ax2.invert_yaxis()
        ax2.set_xlim(0, 1)
        ax2.set_xlabel("share of the analysis weight")
    return ax


# --------------------------------------------------------------------------- evidence map


def evidence_map(claims: pd.DataFrame, results: dict, *, ax=None):
    """One row per article claim: the primary analysis's effect and CI in units of its decision
    threshold (the MID, or the rate threshold), against the band of 'little or no effect', coloured by
    GRADE certainty, with the verdict. Claims without usable data, and mechanistic or dose claims,
    are shown as such.

    ``claims`` is :func:`hipacu.review.claims.grade_claims` output (its ``primary_analysis`` and
    ``certainty`` columns choose and colour each row); ``results`` maps analysis ids to
    :class:`AnalysisResult`.
    """
    n = len(claims)
    ax = _ax(ax, (10, 0.9 + 0.5 * n))
    ax.axvspan(-1, 1, color="#EEEEEE", zorder=0)
    ax.axvline(0, color=PALETTE["grey"], lw=0.8, ls="--")
    for i, (_, c) in enumerate(claims.iterrows()):
        yv = n - i
        primary = c["primary_analysis"]  # chosen by hipacu.review.claims.primary, not here
        colour = CERTAINTY_COLOURS.get(c["certainty"] or "", PALETTE["grey"])
        if not primary:
            ax.text(0, yv, "no pooled data (" + c["kind"] + ")", ha="center", va="center", fontsize=8, color=PALETTE["grey"])
        else:
            lo, est, hi = results[primary].scaled_effect()
            ax.plot([lo, hi], [yv, yv], color=colour, lw=2.5)
            ax.plot([est], [yv], "D", color=colour, ms=7, mec="black", mew=0.4)
        ax.text(1.02, yv, c["verdict"], transform=ax.get_yaxis_transform(), va="center", fontsize=8)
    ax.set_yticks(range(n, 0, -1))
    ax.set_yticklabels([f"{c['claim_id']}: {c['wording'][:48]}" for _, c in claims.iterrows()], fontsize=8)
    ax.set_ylim(0.3, n + 0.7)
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xlabel("effect in units of the decision threshold (MID or rate threshold); grey band = little or no effect,\n"
                  "negative = favours acupuncture (effects) / below the threshold (rates)")
    ax.legend(handles=[Patch(color=CERTAINTY_COLOURS[k], label=k.replace("_", " ")) for k in ("high", "moderate", "low", "very_low")],
              title="GRADE certainty", fontsize=7, title_fontsize=7, loc="upper left", bbox_to_anchor=(1.25, 1.0),
              frameon=False)
    ax.set_title("The article's claims against the graded evidence", loc="left", fontsize=10)
    return ax


# --------------------------------------------------------------------------- SoF table as a figure


def summary_of_findings(sof: pd.DataFrame, *, ax=None):
    """The Summary of Findings table (:func:`hipacu.review.claims.summary_of_findings`) drawn as a figure."""
    ax = _ax(ax, (12, 0.8 + 0.55 * len(sof)))
    ax.axis("off")
    cols = ["outcome", "participants_studies", "effect", "symbols", "certainty"]
    heads = ["Outcome", "Participants (studies)", "Effect (95% CI)", "Certainty", ""]
    cells = [[str(r[c]) if c != "outcome" else str(r[c])[:55] for c in cols] for _, r in sof.iterrows()]
    table = ax.table(cellText=cells, colLabels=heads, loc="upper left", cellLoc="left", colLoc="left",
                     colWidths=[0.42, 0.18, 0.22, 0.08, 0.1])
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    for (row, col), cell in table.get_celld().items():
        cell.set_linewidth(0.3)
        if row > 0 and col == 4:
            cell.get_text().set_color(CERTAINTY_COLOURS.get(sof.iloc[row - 1]["certainty"].replace(" ", "_"), "black"))
    return ax


# --------------------------------------------------------------------------- sensitivity and dose


def sensitivity(loo: pd.DataFrame, cum: pd.DataFrame | None = None, *, ax=None, pooled=None):
    """Leave-one-out (and optionally cumulative) estimates with their CIs, from
    :func:`hipacu.diagnostics.sensitivity.leave_one_out` / :func:`cumulative` DataFrames; ``pooled`` (a
    PooledEstimate) draws the full estimate as a reference line."""
    frames = [("leave one out", loo)] + ([("cumulative", cum)] if cum is not None else [])
    if ax is None:
        fig, axes = plt.subplots(1, len(frames), figsize=(5 * len(frames), 1 + 0.35 * len(loo)), squeeze=False)
        axes = axes[0]
    else:
        axes = [ax]
    for a, (name, df) in zip(axes, frames):
        yv = np.arange(len(df), 0, -1)
        a.errorbar(df["estimate"], yv, xerr=[df["estimate"] - df["ci_low"], df["ci_high"] - df["estimate"]], fmt="o",
                   color=PALETTE["blue"], ecolor=PALETTE["black"], elinewidth=1, capsize=2)
        if pooled is not None:
            a.axvline(pooled.estimate, color=PALETTE["vermillion"], lw=1)
        a.axvline(0, color=PALETTE["grey"], lw=0.8, ls="--")
        a.set_yticks(yv)
        a.set_yticklabels([("without " if name == "leave one out" else "+ ") + str(i) for i in df.index])
        a.set_title(name, loc="left", fontsize=10)
    return axes[0]


def dose(schedules: pd.DataFrame, *, ax=None, band=((1, 2), (4, 8))):
    """Treatment schedules: sessions per week against course length (weeks), one point per trial, with
    the article's stated schedule as a shaded box. ``schedules`` needs ``label, sessions, weeks``."""
    ax = _ax(ax, (6, 4))
    (plo, phi), (wlo, whi) = band
    ax.add_patch(Rectangle((wlo, plo), whi - wlo, phi - plo, color=PALETTE["sky"], alpha=0.3, lw=0,
                           label="article: 1-2/week for 4-8 weeks"))
    d = schedules.dropna(subset=["sessions", "weeks"])
    per_week = d["sessions"] / d["weeks"]
    ax.plot(d["weeks"], per_week, "o", color=PALETTE["vermillion"], label="trials")
    for (_, r), pw in zip(d.iterrows(), per_week):
        ax.annotate(str(r["label"]), (r["weeks"], pw), textcoords="offset points", xytext=(4, 3), fontsize=7)
    ax.set_xlabel("course length (weeks)")
    ax.set_ylabel("sessions per week")
    ax.set_xlim(0, max(14, float(d["weeks"].max()) + 1) if len(d) else 14)
    ax.set_ylim(0, max(3.5, float(per_week.max()) + 0.5) if len(d) else 3.5)
    ax.legend(fontsize=7, loc="upper right")
    return ax
