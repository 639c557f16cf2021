"""Each claim of the article against the graded evidence: a verdict with its one-sentence reason.

Verdict rule (:func:`verdict`), by the claim's kind:

- ``effect`` (the article says the intervention helps): *supported* when the primary analysis's CI
  excludes no effect in the favourable direction and the GRADE certainty is at least the certainty
  the article's wording implies; *supported but overstated* when the effect is there but the
  certainty is lower than the wording implies; *contradicted* when the estimate shows important
  harm with a CI excluding no effect, or little to no difference at moderate or high certainty;
  *not supported* otherwise (including very low certainty, where GRADE says the evidence is very
  uncertain).
- ``no_difference``: *supported* / *supported but overstated* when the point estimate lies within
  the minimal important difference; *contradicted* when it shows an important benefit with a CI
  excluding no effect; *not supported* otherwise.
- ``quality`` (the article says the evidence is weak): *supported* when no tested analysis reaches
  moderate certainty; *not supported* when one does; *contradicted* when one is high.
- ``safety``: the rate against the analysis's threshold, as for ``effect``.
- ``dose``: the treatment schedules of the cited trials against the stated schedule (descriptive,
  not graded).
- ``mechanism``: *mechanistic evidence, not graded by GRADE*, with the sources.
- *not assessable* whenever the tested analyses have no usable data; the reason names the eligible
  studies whose numbers are missing.

The primary analysis of a claim is the one with data and the highest certainty (the first listed in
``claims.csv`` on ties); the others are listed in the claims table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hipacu.review.analysis import AnalysisResult, run_all
from hipacu.evidence import Evidence, split_ids
from hipacu.review.grading import LEVELS, Grade, grade

__all__ = ["VERDICTS", "primary", "verdict", "grade_claims", "summary_of_findings", "sof_html", "compare_with_reviews"]

VERDICTS = ("supported", "supported but overstated", "not supported", "contradicted", "not assessable",
            "mechanistic evidence, not graded")
_RANK = {v: k for k, v in LEVELS.items()}


def primary(results: list[tuple[AnalysisResult, Grade]]) -> tuple[AnalysisResult, Grade] | None:
    """The claim's primary analysis: with data and the highest certainty, the first listed on ties."""
    with_data = [(r, g) for r, g in results if r.pooled is not None]
    return max(with_data, key=lambda rg: rg[1].level) if with_data else None


def verdict(kind: str, implied: str, results: list[tuple[AnalysisResult, Grade]]) -> tuple[str, str]:
    """``(verdict, reason)`` for one claim from its tested analyses (see module docstring)."""
    with_data = [(r, g) for r, g in results if r.pooled is not None]
    if kind == "quality":
        if not with_data:
            return "not assessable", "none of the tested analyses has usable data"
        best = primary(results)
        names = "; ".join(f"{r.spec.id}: {g.certainty.replace('_', ' ')}" for r, g in with_data)
        if best[1].level >= 4:
            return "contradicted", f"{best[0].spec.id} reaches high certainty ({names})"
        if best[1].level == 3:
            return "not supported", f"{best[0].spec.id} reaches moderate certainty ({names})"
        worst = _main_downgrades(with_data)
        return "supported", f"no tested analysis reaches moderate certainty ({names}); main reasons: {worst}"
    if not with_data:
        missing = sorted({lab for r, _ in results for lab in r.eligible.loc[r.eligible["data_status"] != "usable", "label"]})
        extra = f"; eligible studies without usable numbers: {', '.join(missing)}" if missing else ""
        return "not assessable", "no tested analysis has usable data" + extra
    r, g = primary(results)
    p = r.pooled
    cert = g.certainty.replace("_", " ")
    text = f"{r.spec.id}: {r.effect_text()}, {cert} certainty"
    enough = g.level >= _RANK[implied]
    cat = g.effect_category
    if kind == "safety":
        thr = r.spec.threshold
        lo, hi = r.display(p.ci_low), r.display(p.ci_high)
        claimed = "below" if r.spec.threshold_label and "rare" in r.spec.threshold_label else "above"
        ci_side = "below" if hi < thr else "above" if lo > thr else "across"
        if cat == claimed:
            if ci_side == claimed and enough:
                return "supported", f"{text}; the whole CI is {claimed} {thr:g} per {r.spec.per:g}"
            return ("supported but overstated",
                    f"{text}; the estimate is {claimed} {thr:g} per {r.spec.per:g} but "
                    + ("the CI crosses it" if ci_side == "across" else f"the certainty is below the {implied.replace('_', ' ')} the wording implies"))
        if ci_side not in (claimed, "across"):
            return "contradicted", f"{text}; the whole CI is on the other side of {thr:g} per {r.spec.per:g}"
        return "not supported", f"{text}; the estimate is not {claimed} {thr:g} per {r.spec.per:g}"
    ci_excludes_null = not (p.ci_low < 0 < p.ci_high)
    favourable_ci = ci_excludes_null and r.favours_intervention(p.estimate)
    if kind == "no_difference":
        if cat == "little_or_no":
            if enough:
                return "supported", f"{text}; the estimate lies within the minimal important difference"
            return ("supported but overstated",
                    f"{text}; the estimate lies within the minimal important difference, but the certainty is lower "
                    f"than the {implied.replace('_', ' ')} certainty the wording implies")
        if cat == "benefit" and favourable_ci:
            return "contradicted", f"{text}; an important benefit with a CI excluding no effect"
        return "not supported", f"{text}; the estimate does not show little or no difference"
    # kind == "effect"
    if g.level == 1 and not enough:
        if favourable_ci:
            return ("supported but overstated",
                    f"{text}; the estimate favours the intervention but the evidence is very uncertain")
        return "not supported", f"{text}; the evidence is very uncertain"
    if cat == "harm" and ci_excludes_null:
        return "contradicted", f"{text}; the estimate shows important harm"
    if favourable_ci:
        if enough:
            return "supported", f"{text}; the CI excludes no effect"
        return ("supported but overstated",
                f"{text}; the effect is there but the certainty is lower than the {implied.replace('_', ' ')} "
                "certainty the wording implies")
    if cat == "little_or_no" and g.level >= 3:
        return "contradicted", f"{text}; probably little or no difference"
    return "not supported", f"{text}; the CI includes no effect"


def _main_downgrades(with_data) -> str:
    counts: dict[str, int] = {}
    for _, g in with_data:
        for j in g.judgements:
            if j.rating < 0:
                counts[j.domain] = counts.get(j.domain, 0) - j.rating
    return ", ".join(d.replace("_", " ") for d, _ in sorted(counts.items(), key=lambda kv: -kv[1])) or "none"


def _dose_verdict(evidence: Evidence, study_ids: list[str]) -> tuple[str, str]:
    """The cited trials' schedules against the schedule the article states (``topic.toml``
    ``[article.schedule]``); descriptive, not graded."""
    sched_claim = evidence.topic.article.schedule
    if sched_claim is None or sched_claim.per_week is None or sched_claim.weeks is None:
        return "not assessable", "topic.toml states no schedule ([article.schedule] per_week and weeks)"
    st = evidence.studies.set_index("study_id").loc[study_ids]
    trials = st[st["design"] == "rct"]
    sched = trials.dropna(subset=["sessions", "weeks"])
    if sched.empty:
        return "not assessable", "no cited trial reports both the number of sessions and the course length"
    per_week = sched["sessions"] / sched["weeks"]
    (lo, hi), (wlo, whi) = sched_claim.per_week, sched_claim.weeks
    fits = (per_week >= lo) & (per_week <= hi) & (sched["weeks"] >= wlo) & (sched["weeks"] <= whi)
    detail = "; ".join(f"{st.loc[i, 'label']}: {per_week[i]:.2g}/week for {sched.loc[i, 'weeks']:g} weeks" for i in sched.index)
    reason = (f"{int(fits.sum())} of {len(sched)} trials with a reported schedule gave {lo:g}-{hi:g} sessions a week "
              f"for {wlo:g}-{whi:g} weeks ({detail})")
    if sched_claim.minutes is not None:
        minutes = trials["minutes_per_session"].dropna()
        mlo, mhi = sched_claim.minutes
        mfit = ((minutes >= mlo) & (minutes <= mhi)).sum()
        reason += f"; {int(mfit)} of {len(minutes)} reporting session length used {mlo:g}-{mhi:g} minutes"
    reason += ". No cited trial compared schedules, so the schedule is descriptive, not shown to be best"
    return ("supported" if fits.sum() * 2 >= len(sched) else "not supported"), reason


def compare_with_reviews(r: AnalysisResult) -> pd.DataFrame:
    """hipacu's pooled result beside each published pooled result linked to the analysis.

    Columns: ``review_result_id, review, measure, review_estimate, review_ci, hipacu_estimate,
    hipacu_ci, comparable, disagreement``. A comparison is made only on the same measure;
    ``disagreement`` is True when the published estimate lies outside hipacu's CI or the
    directions differ (differences within rounding of the printed digits never flag).
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
            digits = max(0, len(str(rv["estimate"]).split(".")[-1])) if "." in str(rv["estimate"]) else 0
            tol = 0.5 * 10.0 ** (-digits)
            outside = est < h_lo - tol or est > h_hi + tol
            disagree = bool(outside or np.sign(est) != np.sign(h_est) and r.spec.measure not in ("PLO",))
        rows.append({
            "review_result_id": rv["review_result_id"], "review": rv["study_id"], "measure": measure,
            "review_estimate": rv["estimate"], "review_ci": f"{rv['ci_low']:g} to {rv['ci_high']:g}",
            "review_k": rv["k"], "review_certainty": rv["certainty"],
            "hipacu_estimate": h_est, "hipacu_ci": f"{h_lo:.3g} to {h_hi:.3g}", "hipacu_k": r.k,
            "comparable": same, "disagreement": disagree,
        })
    return pd.DataFrame(rows, columns=["review_result_id", "review", "measure", "review_estimate", "review_ci",
                                       "review_k", "review_certainty", "hipacu_estimate", "hipacu_ci", "hipacu_k",
                                       "comparable", "disagreement"])


def grade_claims(evidence: Evidence, results: dict[str, AnalysisResult] | None = None,
                 grades: dict[str, Grade] | None = None) -> pd.DataFrame:
    """The article's claims with their verdicts.

    Columns: ``claim_id, claim, wording, kind, implied_certainty, analyses, primary_analysis,
    certainty, symbols, statement, verdict, reason, reviews`` (``reviews``: published pooled results beside hipacu's,
    with disagreements flagged).
    """
    results = run_all(evidence) if results is None else results
    grades = {aid: grade(r) for aid, r in results.items()} if grades is None else grades
    out = []
    for _, c in evidence.claims.iterrows():
        aids = split_ids(c["analyses"])
        tested = [(results[a], grades[a]) for a in aids]
        if c["kind"] == "mechanism":
            sids = split_ids(c["studies"])
            st = evidence.studies.set_index("study_id").loc[sids]
            srcs = "; ".join(f"{st.loc[s, 'label']} ({st.loc[s, 'data_status'].replace('_', ' ')})" for s in sids)
            v, reason = VERDICTS[5], f"laboratory and review sources, not outcome trials: {srcs}"
        elif c["kind"] == "dose":
            v, reason = _dose_verdict(evidence, split_ids(c["studies"]))
        else:
            v, reason = verdict(c["kind"], c["implied_certainty"], tested)
        main = primary(tested) or (tested[0] if tested else None)
        rv = ""
        if main is not None:
            cmp = compare_with_reviews(main[0])
            parts = []
            for _, x in cmp.iterrows():
                flag = " DISAGREES" if x["disagreement"] else ("" if x["comparable"] else " (other measure)")
                parts.append(f"{x['review']} {x['measure']} {x['review_estimate']:g} ({x['review_ci']}){flag}")
            rv = "; ".join(parts)
        out.append({
            "claim_id": c["claim_id"], "claim": c["claim"], "wording": c["wording"], "kind": c["kind"],
            "implied_certainty": c["implied_certainty"], "analyses": ";".join(aids),
            "primary_analysis": "" if main is None or main[0].pooled is None else main[0].spec.id,
            "certainty": "" if main is None or main[0].pooled is None else main[1].certainty,
            "symbols": "" if main is None or main[0].pooled is None else main[1].symbols,
            "statement": "" if main is None else main[1].statement,
            "verdict": v, "reason": reason, "reviews": rv,
        })
    return pd.DataFrame(out)


def summary_of_findings(evidence: Evidence, analyses: list[str] | None = None,
                        results: dict[str, AnalysisResult] | None = None,
                        grades: dict[str, Grade] | None = None) -> pd.DataFrame:
    """A Summary of Findings table, one row per analysis, in the layout GRADEpro prints.

    Columns: ``outcome, analysis_id, participants_studies, effect, certainty, symbols, statement,
    footnotes`` (footnotes list each domain rated down with its computed rationale).
    """
    results = run_all(evidence) if results is None else results
    ids = list(results) if analyses is None else analyses
    rows = []
    for aid in ids:
        r = results[aid]
        g = grade(r) if grades is None else grades[aid]
        notes = [f"{j.domain.replace('_', ' ')} ({j.rating:+d}{', override' if j.override else ''}): {j.rationale}"
                 for j in g.judgements if j.rating != 0 or j.override]
        unit = "patients" if r.spec.question == "frequency" else "participants"
        rows.append({
            "outcome": r.spec.outcome_label, "analysis_id": aid,
            "comparison": f"{r.spec.intervention} vs {r.spec.comparator}",
            "participants_studies": f"{r.participants:,} {unit} ({r.k} {'study' if r.k == 1 else 'studies'})",
            "effect": r.effect_text(), "certainty": g.certainty.replace("_", " "), "symbols": g.symbols,
            "statement": g.statement, "footnotes": " | ".join(notes),
        })
    return pd.DataFrame(rows)


def sof_html(sof: pd.DataFrame) -> str:
    """The Summary of Findings table as a self-contained HTML table."""
    import html

    head = ("<tr><th>Outcome</th><th>Comparison</th><th>Participants (studies)</th><th>Effect (95% CI)</th>"
            "<th>Certainty</th><th>What happens</th><th>Footnotes</th></tr>")
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(x))}</td>" for x in (
            r["outcome"], r["comparison"], r["participants_studies"], r["effect"], f"{r['symbols']} {r['certainty']}",
            r["statement"], r["footnotes"])) + "</tr>"
        for _, r in sof.iterrows())
    return f'<table class="sof"><thead>{head}</thead><tbody>{body}</tbody></table>'



