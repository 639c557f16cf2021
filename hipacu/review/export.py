"""Machine-readable grades: the JSON that ``hipacu grade --json`` prints (schema in the README).

Numbers are JSON numbers (estimate, CI, k, participants; NaN becomes ``null``), lists are JSON lists
(claims' analyses, each analysis's studies and domains), and every GRADE domain carries its rating and
rationale. Effects are given on both scales: ``estimate, ci_low, ci_high`` on the analysis scale (log
for ratio measures, logit for proportions) and ``effect`` with ``estimate, ci_low, ci_high`` on the
reporting scale (ratios, rates per ``per``).
"""

from __future__ import annotations

import math
from typing import Any

from hipacu.evidence import Evidence, split_ids
from hipacu.review.analysis import AnalysisResult, run_all
from hipacu.review.grading import Grade, grade

__all__ = ["SCHEMA_VERSION", "grades_json", "analysis_json"]

#: Bumped when a key changes meaning or disappears (adding keys does not bump it).
SCHEMA_VERSION = 1


def _num(x) -> float | int | None:
    if x is None:
        return None
    x = float(x)
    return None if not math.isfinite(x) else x


def analysis_json(r: AnalysisResult, g: Grade) -> dict[str, Any]:
    """One analysis: its numbers, its grade and the studies behind it."""
    p = r.pooled
    scale = "log" if r.is_ratio else ("logit" if r.spec.measure == "PLO" else "identity")
    out: dict[str, Any] = {
        "id": r.spec.id, "title": r.spec.title, "measure": r.spec.measure, "question": r.spec.question,
        "scale": scale, "k": int(r.k), "participants": int(r.participants),
        "method": r.spec.method, "test": r.test,
        "estimate": None if p is None else _num(p.estimate), "ci_low": None if p is None else _num(p.ci_low),
        "ci_high": None if p is None else _num(p.ci_high), "level": None if p is None else _num(p.level),
        "tau2": None if p is None else _num(p.tau2), "i2": None if p is None else _num(p.i2),
        "effect": None if p is None else {"estimate": _num(r.display(p.estimate)), "ci_low": _num(r.display(p.ci_low)),
                                          "ci_high": _num(r.display(p.ci_high)), "text": r.effect_text()},
        "mid": _num(r.spec.mid), "mid_unit": r.spec.mid_unit,
        "certainty": g.certainty, "certainty_level": int(g.level), "symbols": g.symbols, "start": int(g.start),
        "start_reason": g.start_reason, "statement": g.statement, "effect_category": g.effect_category,
        "method_sensitive": bool(g.method_sensitive), "method_note": g.method_note,
        "domains": [{"domain": j.domain, "rating": int(j.rating), "rationale": j.rationale, "criterion": j.criterion,
                     "guidance": j.guidance, "override": bool(j.override),
                     "computed_rating": None if j.computed_rating is None else int(j.computed_rating)}
                    for j in g.judgements],
        "studies": [str(x) for x in r.included["label"]],
        "excluded": [{"row_id": str(x["row_id"]), "study_id": str(x["study_id"]), "reason": str(x["reason"])}
                     for _, x in r.excluded.iterrows()],
    }
    return out


def grades_json(ev: Evidence, results: dict[str, AnalysisResult] | None = None,
                grades: dict[str, Grade] | None = None) -> dict[str, Any]:
    """Every analysis of ``ev`` with its grade, and every claim with its verdict (see the module docstring)."""
    from hipacu.review.claims import grade_claims

    results = run_all(ev) if results is None else results
    grades = {aid: grade(r) for aid, r in results.items()} if grades is None else grades
    claims = []
    if len(ev.claims):
        table = grade_claims(ev, results, grades)
        for _, c in table.iterrows():
            claims.append({
                "claim_id": c["claim_id"], "claim": c["claim"], "wording": c["wording"], "kind": c["kind"],
                "direction": c["direction"] or None, "implied_certainty": c["implied_certainty"],
                "analyses": split_ids(c["analyses"]), "critical_analyses": split_ids(c["critical_analyses"]),
                "primary_analysis": c["primary_analysis"] or None, "k": int(c["k"]), "participants": int(c["participants"]),
                "certainty": c["certainty"] or None, "symbols": c["symbols"] or None, "statement": c["statement"],
                "verdict": c["verdict"], "reason": c["reason"], "method_sensitive": bool(c["method_sensitive"]),
                "method_note": c["method_note"], "reviews": [x.strip() for x in str(c["reviews"]).split(";") if x.strip()],
            })
    return {"schema_version": SCHEMA_VERSION, "evidence": str(ev.path), "title": ev.topic.title,
            "question": ev.topic.question,
            "analyses": [analysis_json(results[aid], grades[aid]) for aid in results], "claims": claims}
