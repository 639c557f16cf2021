"""Adapters for evidence folders: figures of :class:`~hipacu.review.analysis.AnalysisResult`,
study tables, claims and Summary of Findings tables.

They add what an evidence folder knows and a model result does not (risk of bias, MIDs, the
analysis's intervention and comparator, the topic's labels and stated schedule) and leave the
drawing of effects to :mod:`hipacu.plots.core`. Nothing topic-specific is written here: every
word about the topic comes from ``analyses.toml`` or ``topic.toml``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Patch, Rectangle

from hipacu.plots._style import (
    CERTAINTY_COLOURS,
    PALETTE,
    ROB_COLOURS,
    ROB_DOMAINS,
    ROB_LABELS,
    new_axes,
    styled,
)
from hipacu.plots.core import draw_forest

_TEST_LABEL = {"z": "", "t": ", t", "knha": ", HK", "adhoc": ", HK ad hoc"}

__all__ = ["dose", "evidence_map", "forest_analysis", "risk_of_bias", "summary_of_findings"]


# --------------------------------------------------------------------------- forest of an analysis


def _lower_first(text: str) -> str:
    """Lower-case the first letter unless the first word is an acronym (BCG, TENS)."""
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def _name(text: str | None, fallback: str) -> str:
    """A short name for an axis: the first clause of ``text`` (before " plus ", the co-intervention
    both arms share), else ``fallback``."""
    text = (text or "").split(" plus ")[0].strip()
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


@styled
def forest_analysis(result, *, ax=None, topic=None, subgroups=None, groups=None, show_rob: bool = True,
                    show_pi: bool = True, xlabel: str | None = None, title: str | None = None):
    """Forest plot of an :class:`~hipacu.review.analysis.AnalysisResult`.

    The model result (``result.pooled``) is drawn as :func:`hipacu.plots.forest` draws any result,
    on the analysis's reporting scale (``result.display``: exponentiated for ratio measures, a rate
    per ``per`` for proportions), with the evidence columns added: analysed ``n`` per study and in
    total, a column of risk-of-bias dots (when any study was assessed), dotted lines at ± the MID,
    and the favours labels of :func:`favours`. A single study is shown as that study, without a
    pooled diamond.

    Subgroups: pass ``subgroups``, a :class:`hipacu.models.subgroups.SubgroupResult` fitted on the
    analysis's studies, and ``groups``, each included study's group label (in the order of
    ``result.included``); :meth:`AnalysisResult.subgroups` returns both.
    """
    table = result.study_table()
    p = result.pooled
    spec = result.spec
    if xlabel is None:
        if spec.question == "frequency":
            xlabel = f"{spec.measure}  (events per {spec.per:g})" if spec.per else f"{spec.measure}  (proportion)"
        else:
            fav = favours(result, topic)
            xlabel = spec.measure + (f"  (<- favours {fav[0]}  |  favours {fav[1]} ->)" if fav else "")
    mids = (-spec.mid, spec.mid) if spec.mid is not None and not result.is_ratio else ()
    assessed = show_rob and bool((table["rob_overall"].fillna("not_assessed") != "not_assessed").any())
    pooled_label = None
    if p is not None:
        pooled_label = f"Pooled ({spec.method}{_TEST_LABEL.get(result.test, '')})"
    return draw_forest(ax, table, pooled=p, show=result.display, log=result.is_ratio, xlabel=xlabel,
                       title=title or spec.title, pooled_label=pooled_label, pooled_n=result.participants, mids=mids,
                       show_pi=show_pi, subgroups=subgroups, groups=groups, show_rob=assessed)


# --------------------------------------------------------------------------- risk of bias


@styled
def risk_of_bias(studies: pd.DataFrame, *, ax=None, weights: pd.Series | None = None, title: str = "Risk of bias (RoB 2)"):
    """Traffic-light grid: one row per study, one column per RoB 2 domain (and overall).

    ``studies`` holds ``label`` and the ``rob_*`` columns of ``studies.csv``. With ``weights`` (indexed
    like ``studies``) a second panel shows the weighted share of each judgement per domain.
    """
    k = len(studies)
    if ax is None:
        if weights is not None:
            _, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 1 + 0.32 * k), gridspec_kw={"width_ratios": [1.2, 1]})
        else:
            _, ax = plt.subplots(figsize=(6, 1 + 0.32 * k))
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


@styled
def evidence_map(claims: pd.DataFrame, results: dict, *, ax=None, topic=None):
    """One row per article claim: the primary analysis's effect and CI in units of its decision
    threshold (the MID, or the rate threshold), against the band of 'little or no effect', coloured by
    GRADE certainty, with the verdict. Claims without usable data, and mechanistic or dose claims,
    are shown as such.

    ``claims`` is :func:`hipacu.review.claims.grade_claims` output (its ``primary_analysis`` and
    ``certainty`` columns choose and colour each row); ``results`` maps analysis ids to
    :class:`AnalysisResult`; ``topic`` (the evidence folder's :class:`~hipacu.evidence.Topic`)
    names the intervention on the axis.
    """
    n = len(claims)
    ax = new_axes(ax, (10, 0.9 + 0.5 * n))
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
    who = topic.intervention_label if topic is not None else "the intervention"
    ax.set_xlabel("effect in units of the decision threshold (MID or rate threshold); grey band = little or no effect,\n"
                  f"negative = favours {who} (effects) / below the threshold (rates)")
    ax.legend(handles=[Patch(color=CERTAINTY_COLOURS[k], label=k.replace("_", " ")) for k in ("high", "moderate", "low", "very_low")],
              title="GRADE certainty", fontsize=7, title_fontsize=7, loc="upper left", bbox_to_anchor=(1.25, 1.0),
              frameon=False)
    ax.set_title("The article's claims against the graded evidence", loc="left", fontsize=10)
    return ax


# --------------------------------------------------------------------------- SoF table as a figure


@styled
def summary_of_findings(sof: pd.DataFrame, *, ax=None):
    """The Summary of Findings table (:func:`hipacu.review.claims.summary_of_findings`) drawn as a figure."""
    ax = new_axes(ax, (12, 0.8 + 0.55 * len(sof)))
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


# --------------------------------------------------------------------------- dose


@styled
def dose(schedules: pd.DataFrame, *, ax=None, schedule=None):
    """Treatment schedules: sessions per week against course length (weeks), one point per trial.

    ``schedules`` needs ``label, sessions, weeks`` (``studies.csv``). ``schedule`` is the schedule
    the article states (``Evidence.topic.article.schedule``, a :class:`hipacu.evidence.topic.Schedule`),
    drawn as a shaded box when it gives both ``per_week`` and ``weeks``; without one no box is drawn.
    """
    ax = new_axes(ax, (6, 4))
    band = schedule is not None and schedule.per_week is not None and schedule.weeks is not None
    if band:
        (plo, phi), (wlo, whi) = schedule.per_week, schedule.weeks
        ax.add_patch(Rectangle((wlo, plo), whi - wlo, phi - plo, color=PALETTE["sky"], alpha=0.3, lw=0,
                               label=f"stated schedule: {plo:g}-{phi:g}/week for {wlo:g}-{whi:g} weeks"))
    d = schedules.dropna(subset=["sessions", "weeks"])
    per_week = d["sessions"] / d["weeks"]
    ax.plot(d["weeks"], per_week, "o", color=PALETTE["vermillion"], label="trials")
    for (_, r), pw in zip(d.iterrows(), per_week):
        ax.annotate(str(r["label"]), (r["weeks"], pw), textcoords="offset points", xytext=(4, 3), fontsize=7)
    ax.set_xlabel("course length (weeks)")
    ax.set_ylabel("sessions per week")
    top_w = max(float(d["weeks"].max()) if len(d) else 0.0, schedule.weeks[1] if band else 0.0)
    top_p = max(float(per_week.max()) if len(d) else 0.0, schedule.per_week[1] if band else 0.0)
    ax.set_xlim(0, max(14, top_w + 1))
    ax.set_ylim(0, max(3.5, top_p + 0.5))
    ax.legend(fontsize=7, loc="upper right")
    return ax
