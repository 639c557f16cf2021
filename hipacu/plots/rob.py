"""Risk-of-bias figures as robvis draws them (McGuinness & Higgins 2021, ``rob_traffic_light`` and
``rob_summary``): a traffic-light grid, one row per study and one column per RoB 2 domain plus the
overall judgement, each judgement a coloured dot with its symbol (+ low, − some concerns,
× high, ? no information), the domains spelled out in a key; and a summary of horizontal bars, the
share of studies (or of the analysis weight) at each judgement per domain.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from hipacu.plots._layout import at, fit_to_content, text_extent, wrap
from hipacu.plots._style import (
    FONT,
    PALETTE,
    ROB_COLOURS,
    ROB_DOMAINS,
    ROB_KEY,
    ROB_NAMES,
    ROB_SYMBOLS,
    styled,
)

__all__ = ["risk_of_bias", "risk_of_bias_summary", "JUDGEMENT_NAMES"]

#: robvis's legend words for each judgement.
JUDGEMENT_NAMES = {"high": "High", "some_concerns": "Some concerns", "low": "Low", "not_assessed": "No information"}
_CELL_W, _CELL_H = 0.42, 0.26


def _judgement(value) -> str:
    return value if isinstance(value, str) and value in ROB_COLOURS else "not_assessed"


def _handles():
    return [(Line2D([], [], marker="o", ms=10, ls="none", color=ROB_COLOURS[j], mec=PALETTE["black"], mew=0.3),
             Line2D([], [], marker=f"${ROB_SYMBOLS[j]}$", ms=5.5, ls="none", color=PALETTE["black"]))
            for j in JUDGEMENT_NAMES]


@styled
def risk_of_bias(studies: pd.DataFrame, *, ax=None, domains: tuple[str, ...] = ROB_DOMAINS,
                 keys: tuple[str, ...] = ROB_KEY, names: tuple[str, ...] = ROB_NAMES,
                 title: str = "Risk of bias domains (RoB 2)", urls: bool = True):
    """Traffic-light plot (robvis ``rob_traffic_light``): one row per study, one column per domain.

    ``studies`` holds ``label`` and the judgement columns ``domains`` (default the RoB 2 columns of
    ``studies.csv`` and the overall judgement); ``keys`` head the columns and ``names`` spell them
    out in the key under the grid. With ``urls`` and a ``source_url`` column each study label links
    to its source in the SVG. Returns the grid's axes.
    """
    from matplotlib.legend_handler import HandlerTuple

    k, m = len(studies), len(domains)
    created = ax is None
    if created:
        fig = plt.figure(figsize=(6, 1 + _CELL_H * k))
        ax = fig.add_axes((0.5, 0.3, 0.3, 0.5))
        fw, fh = 3 + _CELL_W * m + 1, _CELL_H * k + 3
        fig.set_size_inches(fw, fh)
        ax.set_position((3 / fw, 2.2 / fh, _CELL_W * m / fw, _CELL_H * k / fh))
    fig = ax.figure
    ax.set_xlim(-0.5, m - 0.5)
    ax.set_ylim(k - 0.5, -0.5)
    for i in range(k):
        if i % 2 == 0:
            ax.axhspan(i - 0.5, i + 0.5, color="#F3F3F3", lw=0, zorder=0)
    for i, (_, r) in enumerate(studies.iterrows()):
        for j, d in enumerate(domains):
            jv = _judgement(r.get(d))
            ax.plot(j, i, "o", ms=12, color=ROB_COLOURS[jv], mec=PALETTE["black"], mew=0.3, zorder=2)
            ax.plot(j, i, marker=f"${ROB_SYMBOLS[jv]}$", ms=6.5, color=PALETTE["black"], ls="none", zorder=3)
    ax.set_xticks(range(m))
    ax.set_xticklabels(keys, fontsize=FONT, fontweight="bold")
    ax.xaxis.tick_top()
    ax.set_yticks(range(k))
    ax.set_yticklabels([str(x) for x in studies["label"]], fontsize=FONT)
    if urls and "source_url" in studies.columns:
        for t, u in zip(ax.get_yticklabels(), studies["source_url"]):
            if isinstance(u, str) and u:
                t.set_url(u)
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    label_w = max([text_extent(fig, str(x), fontsize=FONT)[0] for x in studies["label"]] + [0.5]) + 0.1
    ax.text(0.5, 1, title, transform=at(ax, 0, 0.32, y="axes"), ha="center", va="bottom", fontsize=FONT + 1,
            fontweight="bold")
    ax.text(0, 0.5, "Study", transform=at(ax, -label_w - 0.12, y="axes"), ha="right", va="center", rotation=90,
            fontsize=FONT + 1, fontweight="bold")
    width = label_w + _CELL_W * m + 1.6
    key = "Domains:\n" + "\n".join(wrap(fig, f"{kk}: {nn}.", width, fontsize=FONT - 0.5) for kk, nn in zip(keys, names))
    ax.text(0, 0, key, transform=at(ax, -label_w, -0.12, y="axes"), ha="left", va="top", fontsize=FONT - 0.5)
    key_h = text_extent(fig, key, fontsize=FONT - 0.5)[1]
    ax.legend(_handles(), list(JUDGEMENT_NAMES.values()), title="Judgement", loc="upper left", bbox_to_anchor=(0, 0),
              bbox_transform=at(ax, -label_w, -0.24 - key_h, y="axes"), ncol=4, fontsize=FONT - 0.5,
              title_fontsize=FONT - 0.5, frameon=False, borderaxespad=0, alignment="left",
              handler_map={tuple: HandlerTuple(ndivide=1)})
    if created:
        fit_to_content(fig)
    return ax


@styled
def risk_of_bias_summary(studies: pd.DataFrame, *, ax=None, weights=None, domains: tuple[str, ...] = ROB_DOMAINS,
                         names: tuple[str, ...] = ROB_NAMES, title: str = "Risk of bias (RoB 2): summary"):
    """Summary plot (robvis ``rob_summary``): per domain a horizontal bar split into the share of
    studies at each judgement (low, some concerns, high, no information), overall last.

    With ``weights`` (aligned with ``studies``) the shares are of the total weight, as robvis's
    ``weighted = TRUE``; otherwise of the number of studies. Returns the axes.
    """
    m = len(domains)
    created = ax is None
    if created:
        fig = plt.figure(figsize=(6, 3))
        fw, fh = 7.5, 0.34 * m + 1.6
        fig.set_size_inches(fw, fh)
        ax = fig.add_axes((3.4 / fw, 1.0 / fh, 3.6 / fw, 0.34 * m / fh))
    w = np.ones(len(studies)) if weights is None else np.asarray(weights, float)
    if w.shape != (len(studies),) or not np.all(np.isfinite(w)) or w.sum() <= 0:
        raise ValueError(f"weights must be {len(studies)} finite values with a positive sum; got shape {w.shape}")
    w = w / w.sum()
    for i, d in enumerate(domains):
        left = 0.0
        values = [_judgement(v) for v in studies[d]]
        for jv in ("low", "some_concerns", "high", "not_assessed"):
            share = float(w[[v == jv for v in values]].sum())
            if share > 0:
                ax.barh(i, share, left=left, height=0.7, color=ROB_COLOURS[jv], edgecolor=PALETTE["black"], lw=0.4)
            left += share
    ax.set_yticks(range(m))
    ax.set_yticklabels(names, fontsize=FONT)
    for t, d in zip(ax.get_yticklabels(), domains):
        if d == "rob_overall":
            t.set_fontweight("bold")
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.set_xticklabels(["0%", "25%", "50%", "75%", "100%"], fontsize=FONT)
    ax.set_xlabel("share of the analysis weight" if weights is not None else f"share of the {len(studies)} studies",
                  fontsize=FONT)
    ax.tick_params(axis="y", length=0)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.set_title(title, loc="left", fontsize=FONT + 1, fontweight="bold")
    words = {"low": "Low risk of bias", "some_concerns": "Some concerns", "high": "High risk of bias",
             "not_assessed": "No information"}
    ax.legend(handles=[Patch(facecolor=ROB_COLOURS[j], edgecolor=PALETTE["black"], lw=0.4, label=words[j]) for j in words],
              loc="upper left", bbox_to_anchor=(0, -0.55 / (0.34 * m) - 0.1), ncol=4, fontsize=FONT - 0.5, frameon=False,
              borderaxespad=0)
    if created:
        fit_to_content(ax.figure)
    return ax

