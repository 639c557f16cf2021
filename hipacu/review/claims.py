"""Each claim of the article against the graded evidence: a verdict from a declared table, with its reason.

**Which analyses decide.** ``claims.csv`` names a claim's critical analyses (``critical_analyses``;
all of its ``analyses`` when none is named). Following GRADE 11 (Guyatt 2013), the claim's
certainty is the *lowest* certainty among its critical analyses that have data, and its effect
category is the *weakest* agreement among them (an opposite finding outweighs no effect, which
outweighs agreement). Nothing depends on the order of rows or of listed ids.

**What the claim asserts** is declared, never read from its wording: ``kind`` and ``direction``
(``present``: an effect exists, the default for ``effect``; ``absent``: little or no effect, the
default for ``no_difference``; ``below`` / ``above`` a rate threshold for ``safety``).

**The verdict table** (:func:`verdict_table`) maps direction × effect category × certainty ×
the certainty the claim's wording implies to a verdict (:data:`VERDICTS`). The effect categories are
the grading's (:func:`hipacu.review.grading.effect_category`: relative to the MID, not to zero; a
rate relative to its threshold). In words:

- the estimate agrees with the claim: *supported* at or above the implied certainty; *supported but
  overstated* below it (low or moderate); *too uncertain to say (the estimate agrees)* at very low;
- the estimate shows little or no effect for a claimed effect: *contradicted* at moderate or high
  certainty, *not shown* at low, *too uncertain to say* at very low;
- the estimate is on the other side: *contradicted* at low or above, *too uncertain to say* at very low.

Claims of kind ``quality`` (the evidence is weak) are *supported* when no critical analysis reaches
moderate certainty, *not shown* when one reaches moderate, *contradicted* when one is high. ``dose``
claims compare the cited schedules with the schedule the article states (``topic.toml``);
``mechanism`` claims are listed, not graded. A claim is *not assessable* when none of its critical
analyses has data.

Each claim also says whether its verdict changes under another model or interval
(:func:`hipacu.review.grading.method_sensitivity`).
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from hipacu.evidence import Evidence, split_ids
from hipacu.review.analysis import AnalysisResult, run_all
from hipacu.review.grading import LEVELS, Grade, grade, method_sensitivity
from hipacu.review.sof import sof_html, summary_of_findings  # moved to hipacu.review.sof; kept importable here

__all__ = ["VERDICTS", "DIRECTIONS", "verdict_table", "table_verdict", "primary", "grade_claims",
           "summary_of_findings", "sof_html", "compare_with_reviews"]

SUPPORTED = "supported"
OVERSTATED = "supported but overstated"
UNCERTAIN_AGREES = "too uncertain to say (the estimate agrees)"
UNCERTAIN = "too uncertain to say"
NOT_SHOWN = "not shown"
CONTRADICTED = "contradicted"
NOT_ASSESSABLE = "not assessable"
MECHANISTIC = "mechanistic evidence, not graded"
VERDICTS = (SUPPORTED, OVERSTATED, UNCERTAIN_AGREES, UNCERTAIN, NOT_SHOWN, CONTRADICTED, NOT_ASSESSABLE, MECHANISTIC)

#: Effect category -> how it relates to what the claim asserts, per direction.
DIRECTIONS = {
    "present": {"benefit": "agrees", "little_or_no": "null", "harm": "opposite"},
    "absent": {"little_or_no": "agrees", "benefit": "opposite", "harm": "opposite"},
    "below": {"below": "agrees", "above": "opposite"},
    "above": {"above": "agrees", "below": "opposite"},
}
_DEFAULT_DIRECTION = {"effect": "present", "no_difference": "absent"}
_RANK = {v: k for k, v in LEVELS.items()}
#: Agreement from weakest to strongest, for combining several critical analyses.
_AGREEMENT_ORDER = ("opposite", "null", "agrees")


def table_verdict(agreement: str, level: int, implied: int) -> str:
    """The verdict of one cell: agreement (``agrees``/``null``/``opposite``), certainty level (1-4),
    and the level the claim's wording implies (1-4)."""
    if agreement == "agrees":
        if level >= implied:
            return SUPPORTED
        return OVERSTATED if level >= 2 else UNCERTAIN_AGREES
    if agreement == "null":
        return CONTRADICTED if level >= 3 else NOT_SHOWN if level == 2 else UNCERTAIN
    return CONTRADICTED if level >= 2 else UNCERTAIN


def verdict_table() -> pd.DataFrame:
    """Every cell: ``direction, category, certainty, implied_certainty, agreement, verdict``."""
    rows = []
    for direction, cats in DIRECTIONS.items():
        for (cat, agreement), level, implied in itertools.product(cats.items(), LEVELS, LEVELS):
            rows.append({"direction": direction, "category": cat, "certainty": LEVELS[level],
                         "implied_certainty": LEVELS[implied], "agreement": agreement,
                         "verdict": table_verdict(agreement, level, implied)})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- one claim


def _critical(c: pd.Series) -> list[str]:
    named = split_ids(c.get("critical_analyses"))
    return sorted(named or split_ids(c["analyses"]))


def primary(tested: list[tuple[AnalysisResult, Grade]]) -> tuple[AnalysisResult, Grade] | None:
    """The critical analysis that sets the claim's certainty: with data, the lowest certainty, then the
    weakest agreement; ties broken by analysis id (never by list order)."""
    with_data = [(r, g) for r, g in tested if r.pooled is not None]
    if not with_data:
        return None
    return min(with_data, key=lambda rg: (rg[1].level, rg[0].spec.id))


def _direction(c: pd.Series) -> str | None:
    d = c.get("direction")
    if isinstance(d, str) and d and d != "none":
        return d
    return _DEFAULT_DIRECTION.get(c["kind"])


def _agreement(direction: str, category: str) -> str | None:
    return DIRECTIONS.get(direction, {}).get(category)


def _effect_verdict(c: pd.Series, tested: list[tuple[AnalysisResult, Grade]]) -> tuple[str, str, int | None]:
    """``(verdict, reason, level)`` for an effect, no-difference or safety claim."""
    direction = _direction(c)
    if direction is None:
        return NOT_ASSESSABLE, "claims.csv declares no direction for this claim (present, absent, below or above)", None
    with_data = [(r, g) for r, g in tested if r.pooled is not None]
    if not with_data:
        missing = sorted({lab for r, _ in tested for lab in r.eligible.loc[r.eligible["status"] != "included", "label"]
                          if isinstance(lab, str)})
        extra = f"; eligible studies without usable numbers: {', '.join(missing)}" if missing else ""
        return NOT_ASSESSABLE, "no critical analysis has usable data" + extra, None
    level = min(g.level for _, g in with_data)
    parts, agreements = [], []
    for r, g in sorted(with_data, key=lambda rg: rg[0].spec.id):
        a = _agreement(direction, g.effect_category)
        if a is None:
            return (NOT_ASSESSABLE, f"{r.spec.id}: a {g.effect_category.replace('_', ' ')} result cannot test a claim "
                                    f"whose direction is {direction!r}", None)
        agreements.append(a)
        parts.append(f"{r.spec.id}: {r.effect_text()}, {g.effect_category.replace('_', ' ')}, "
                     f"{g.certainty.replace('_', ' ')} certainty")
    agreement = min(agreements, key=_AGREEMENT_ORDER.index)
    implied = _RANK[c["implied_certainty"]]
    v = table_verdict(agreement, level, implied)
    why = {"agrees": "the estimate agrees with the claim", "null": "the estimate shows little or no effect",
           "opposite": "the estimate is on the other side of the claim"}[agreement]
    tail = ""
    if v == OVERSTATED:
        tail = f"; the certainty ({LEVELS[level].replace('_', ' ')}) is below the {c['implied_certainty'].replace('_', ' ')} the wording implies"
    return v, f"{'; '.join(parts)} -> {why} (lowest certainty among critical analyses: {LEVELS[level].replace('_', ' ')}){tail}", level


def _quality_verdict(tested: list[tuple[AnalysisResult, Grade]]) -> tuple[str, str, int | None]:
    with_data = [(r, g) for r, g in tested if r.pooled is not None]
    if not with_data:
        return NOT_ASSESSABLE, "none of the critical analyses has usable data", None
    best = max(g.level for _, g in with_data)
    names = "; ".join(f"{r.spec.id}: {g.certainty.replace('_', ' ')}" for r, g in sorted(with_data, key=lambda x: x[0].spec.id))
    if best >= 4:
        return CONTRADICTED, f"an analysis reaches high certainty ({names})", best
    if best == 3:
        return NOT_SHOWN, f"an analysis reaches moderate certainty ({names})", best
    counts: dict[str, int] = {}
    for _, g in with_data:
        for j in g.judgements:
            if j.rating < 0:
                counts[j.domain] = counts.get(j.domain, 0) - j.rating
    reasons = ", ".join(d.replace("_", " ") for d, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))) or "none"
    return SUPPORTED, f"no critical analysis reaches moderate certainty ({names}); rated down for: {reasons}", best


def _dose_verdict(evidence: Evidence, study_ids: list[str]) -> tuple[str, str]:
    """The cited trials' schedules against the schedule the article states (``topic.toml``
    ``[article.schedule]``); descriptive, not graded."""
    sched_claim = evidence.topic.article.schedule
    if sched_claim is None or sched_claim.per_week is None or sched_claim.weeks is None:
        return NOT_ASSESSABLE, "topic.toml states no schedule ([article.schedule] per_week and weeks)"
    st = evidence.studies.set_index("study_id").loc[sorted(study_ids)]
    trials = st[st["design"].isin(("rct", "quasi_randomised"))]
    sched = trials.dropna(subset=["sessions", "weeks"])
    if sched.empty:
        return NOT_ASSESSABLE, "no cited trial reports both the number of sessions and the course length"
    per_week = sched["sessions"] / sched["weeks"]
    (lo, hi), (wlo, whi) = sched_claim.per_week, sched_claim.weeks
    fits = (per_week >= lo) & (per_week <= hi) & (sched["weeks"] >= wlo) & (sched["weeks"] <= whi)
    detail = "; ".join(f"{st.loc[i, 'label']}: {per_week[i]:.2g}/week for {sched.loc[i, 'weeks']:g} weeks" for i in sched.index)
    reason = (f"{int(fits.sum())} of {len(sched)} cited trials with a reported schedule gave {lo:g}-{hi:g} sessions a "
              f"week for {wlo:g}-{whi:g} weeks ({detail})")
    if sched_claim.minutes is not None:
        minutes = trials["minutes_per_session"].dropna()
        mlo, mhi = sched_claim.minutes
        mfit = ((minutes >= mlo) & (minutes <= mhi)).sum()
        reason += f"; {int(mfit)} of {len(minutes)} reporting session length used {mlo:g}-{mhi:g} minutes"
    reviews = st[st["design"] == "systematic_review"]
    for sid in reviews.index:
        if isinstance(reviews.loc[sid, "dose_as_printed"], str) and reviews.loc[sid, "dose_as_printed"]:
            reason += f"; {reviews.loc[sid, 'label']}: {reviews.loc[sid, 'dose_as_printed']}"
    reason += ". No cited trial compared schedules, so the schedule is descriptive, not shown to be best"
    return (SUPPORTED if fits.sum() * 2 >= len(sched) else NOT_SHOWN), reason


def _method_flag(c: pd.Series, tested: list[tuple[AnalysisResult, Grade]], verdict: str) -> tuple[bool, str]:
    """Whether the claim's verdict changes when a critical analysis is re-run under another model or
    interval of the method-sensitivity panel (its imprecision rating and category change with it)."""
    direction = _direction(c)
    if direction is None or c["kind"] not in ("effect", "no_difference", "safety"):
        return False, ""
    notes = []
    with_data = [(r, g) for r, g in tested if r.pooled is not None]
    for r, g in sorted(with_data, key=lambda rg: rg[0].spec.id):
        panel = g.method_panel if g.method_panel is not None else method_sensitivity(r)
        if not len(panel):
            continue
        base_imp = int(panel.loc[panel["primary"], "imprecision"].iloc[0])
        for _, row in panel[~panel["primary"]].iterrows():
            level = max(1, g.level + int(row["imprecision"]) - base_imp)
            others = [(g2.level, _agreement(direction, g2.effect_category)) for r2, g2 in with_data if r2 is not r]
            a = _agreement(direction, row["category"])
            if a is None:
                continue
            lv = min([level] + [x[0] for x in others])
            ag = min([a] + [x[1] for x in others if x[1]], key=_AGREEMENT_ORDER.index)
            alt = table_verdict(ag, lv, _RANK[c["implied_certainty"]])
            if alt != verdict:
                notes.append(f"{r.spec.id} under {row['label']}: {alt}")
    return bool(notes), "; ".join(notes)


# --------------------------------------------------------------------------- published reviews


def compare_with_reviews(r: AnalysisResult, g: Grade | None = None) -> pd.DataFrame:
    """hipacu's pooled result beside each published pooled result linked to the analysis.

    Columns: ``review_result_id, review, measure, review_estimate, review_ci, review_k, review_certainty,
    hipacu_estimate, hipacu_ci, hipacu_k, hipacu_certainty, comparable, disagreement, why_they_differ``.
    A comparison is made only on the same measure; ``disagreement`` is True when the published estimate
    lies outside hipacu's CI by more than the rounding of its printed digits, or the directions differ.
    ``why_they_differ`` lists the differences in studies, participants and certainty that explain it.
    """
    rows = []
    p = r.pooled
    for _, rv in r.reviews.iterrows():
        measure = rv["measure"]
        same = (measure == r.spec.measure) or (r.spec.measure == "PLO" and measure in ("proportion", "rate_per_10000"))
        h_est = h_lo = h_hi = np.nan
        if p is not None:
            h_est, h_lo, h_hi = (r.display(x) for x in (p.estimate, p.ci_low, p.ci_high))
            if r.spec.measure == "PLO":
                scale = (1.0 if measure == "proportion" else 10000.0) / (r.spec.per or 1.0)
                h_est, h_lo, h_hi = h_est * scale, h_lo * scale, h_hi * scale
        disagree = None
        if same and p is not None:
            est = float(rv["estimate"])
            digits = len(str(rv["estimate"]).split(".")[-1]) if "." in str(rv["estimate"]) else 0
            tol = 0.5 * 10.0 ** (-digits)
            outside = est < h_lo - tol or est > h_hi + tol
            disagree = bool(outside or (np.sign(est) != np.sign(h_est) and r.spec.measure not in ("PLO",)))
        why = []
        if not pd.isna(rv["k"]) and int(rv["k"]) != r.k:
            why.append(f"the review pooled {int(rv['k'])} studies, hipacu {r.k}")
        if not pd.isna(rv["participants"]) and int(rv["participants"]) != r.participants:
            why.append(f"{int(rv['participants'])} vs {r.participants} participants")
        h_cert = g.certainty if g is not None else ""
        if g is not None and rv["certainty"] not in ("not_reported", h_cert):
            downs = ", ".join(f"{j.domain.replace('_', ' ')} {j.rating:+d}" for j in g.judgements if j.rating)
            why.append(f"certainty {rv['certainty'].replace('_', ' ')} in the review vs {h_cert.replace('_', ' ')} "
                       f"here ({downs or 'not rated down'})")
        rows.append({
            "review_result_id": rv["review_result_id"], "review": rv["study_id"], "measure": measure,
            "review_estimate": rv["estimate"], "review_ci": f"{rv['ci_low']:g} to {rv['ci_high']:g}",
            "review_k": rv["k"], "review_certainty": rv["certainty"],
            "hipacu_estimate": h_est, "hipacu_ci": f"{h_lo:.3g} to {h_hi:.3g}", "hipacu_k": r.k,
            "hipacu_certainty": h_cert, "comparable": same, "disagreement": disagree, "why_they_differ": "; ".join(why),
        })
    return pd.DataFrame(rows, columns=["review_result_id", "review", "measure", "review_estimate", "review_ci",
                                       "review_k", "review_certainty", "hipacu_estimate", "hipacu_ci", "hipacu_k",
                                       "hipacu_certainty", "comparable", "disagreement", "why_they_differ"])


# --------------------------------------------------------------------------- the claims table


def grade_claims(evidence: Evidence, results: dict[str, AnalysisResult] | None = None,
                 grades: dict[str, Grade] | None = None) -> pd.DataFrame:
    """The article's claims with their verdicts.

    Columns: ``claim_id, claim, wording, kind, direction, implied_certainty, analyses, critical_analyses,
    primary_analysis, k, participants, certainty, symbols, statement, verdict, reason, method_sensitive,
    method_note, reviews``. ``primary_analysis`` is the critical analysis that sets the certainty
    (:func:`primary`); ``reviews`` gives published pooled results beside hipacu's, with their certainty
    and, where they disagree, why.
    """
    results = run_all(evidence) if results is None else results
    grades = {aid: grade(r) for aid, r in results.items()} if grades is None else grades
    out = []
    for _, c in evidence.claims.iterrows():
        aids = split_ids(c["analyses"])
        crit = _critical(c)
        tested = [(results[a], grades[a]) for a in crit]
        level = None
        if c["kind"] == "mechanism":
            sids = sorted(split_ids(c["studies"]))
            st = evidence.studies.set_index("study_id").loc[sids]
            srcs = "; ".join(f"{st.loc[s, 'label']} ({st.loc[s, 'data_status'].replace('_', ' ')})" for s in sids)
            v, reason = MECHANISTIC, f"laboratory and review sources, not outcome trials: {srcs}"
        elif c["kind"] == "dose":
            v, reason = _dose_verdict(evidence, split_ids(c["studies"]))
        elif c["kind"] == "quality":
            v, reason, level = _quality_verdict(tested)
        else:
            v, reason, level = _effect_verdict(c, tested)
        main = primary(tested)
        sensitive, note = _method_flag(c, tested, v) if level is not None else (False, "")
        rv = ""
        if main is not None:
            cmp = compare_with_reviews(*main)
            parts = []
            for _, x in cmp.iterrows():
                cert = "" if x["review_certainty"] == "not_reported" else f", {x['review_certainty'].replace('_', ' ')} certainty"
                flag = ""
                if x["disagreement"]:
                    flag = " - differs from hipacu beyond the printed rounding" + (f" ({x['why_they_differ']})"
                                                                                  if x["why_they_differ"] else "")
                elif not x["comparable"]:
                    flag = " (other measure)"
                parts.append(f"{x['review']} {x['measure']} {x['review_estimate']:g} ({x['review_ci']}){cert}{flag}")
            rv = "; ".join(parts)
        with_data = [(r, g) for r, g in tested if r.pooled is not None]
        out.append({
            "claim_id": c["claim_id"], "claim": c["claim"], "wording": c["wording"], "kind": c["kind"],
            "direction": _direction(c) or "", "implied_certainty": c["implied_certainty"], "analyses": ";".join(aids),
            "critical_analyses": ";".join(crit),
            "primary_analysis": "" if main is None else main[0].spec.id,
            "k": int(sum(r.k for r, _ in with_data)),
            "participants": int(sum(r.participants for r, _ in with_data)),
            "certainty": "" if level is None else LEVELS[min(g.level for _, g in with_data)],
            "symbols": "" if level is None else main[1].symbols,
            "statement": "" if main is None else main[1].statement,
            "verdict": v, "reason": reason, "method_sensitive": sensitive, "method_note": note, "reviews": rv,
        })
    return pd.DataFrame(out)
