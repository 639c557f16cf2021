"""The study table of one analysis: every listed row becomes an effect size or an exclusion with its reason.

:func:`build_study_table` is a pure function of the evidence and the analysis spec. Rules applied to
every listed row, in order (each failure is an exclusion with its reason, never a silent drop):

1. a study whose design the analysis does not pool is excluded: the ``designs`` it declares, or by
   default any non-trial study in an analysis that has a trial row (randomised or quasi-randomised;
   the grading judges quasi-randomisation in risk of bias rather than excluding it);
2. rows named together in the spec's ``combine`` groups are merged into one contrast first: arms of
   one multi-arm trial that share the intervention arm have their comparator arms combined
   (Cochrane Handbook 23.3.4, :func:`hipacu.effects.combine_groups`), so the shared arm is counted
   once and the participants are those of the comparison actually made;
3. the row's data must give the analysis's measure;
4. a study contributes one row (the first listed), so shared arms or interim reports are not
   counted twice;
5. mean differences need a common scale.

The table keeps what the grading reads for each included study: its design, risk of bias per
domain, population, intervention, comparison and co-interventions, the data-integrity flag, and the
control-arm counts (for the comparator risk).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from hipacu import effects
from hipacu.evidence import AnalysisSpec, Evidence

__all__ = ["StudyTable", "build_study_table", "TRIAL_DESIGNS", "INCLUDED_COLUMNS"]

#: Designs that make a row a trial (allocation by the investigator).
TRIAL_DESIGNS = ("rct", "quasi_randomised")
#: Study columns carried into the table for the grading and the figures.
_STUDY_COLUMNS = ("label", "design", "condition", "intervention", "rob_overall", "rob_randomisation",
                  "rob_deviations", "rob_missing", "rob_measurement", "rob_reporting", "rob_selection",
                  "rob_ascertainment", "rob_followup", "co_intervention", "co_intervention_arms", "implausible",
                  "implausible_reason", "source_url")
INCLUDED_COLUMNS = ("row_id", "study_id", "yi", "vi", "n", "n_source", "how", "comparison", "outcome",
                    "events", "events1", "n1", "events2", "n2", "sd_pooled", "derivation") + _STUDY_COLUMNS


@dataclass(frozen=True)
class StudyTable:
    """Included rows (one per study, ``INCLUDED_COLUMNS``) and excluded rows (``row_id, study_id, reason``),
    with the outcome's direction (``lower_is_better``; ``None`` without included outcome rows)."""

    included: pd.DataFrame
    excluded: pd.DataFrame
    lower_is_better: bool | None


def _num(r, col: str) -> float | None:
    v = r.get(col)
    return None if v is None or pd.isna(v) else float(v)


def _pooled_sd(n1, sd1, n2, sd2) -> float | None:
    if None in (n1, sd1, n2, sd2) or n1 + n2 <= 2:
        return None
    return float((((n1 - 1) * sd1**2 + (n2 - 1) * sd2**2) / (n1 + n2 - 2)) ** 0.5)


def _outcome_effect(r, measure: str) -> tuple[float, float, int | None, str] | str:
    """``(yi, vi, n, how)`` for one outcome row, or the reason it cannot enter an analysis of ``measure``."""
    form = r["form"]
    n1, n2 = _num(r, "n1"), _num(r, "n2")
    n = int(n1 + n2) if n1 is not None and n2 is not None else None
    if form == "prepost":
        return "single-group before/after data: no comparator arm"
    if form == "arm":
        if n1 is None or n2 is None:
            return "arm sizes (n1, n2) not printed in the source, so the variance cannot be computed"
        args = (r["mean1"], r["sd1"], n1, r["mean2"], r["sd2"], n2)
        if measure == "MD":
            es = effects.mean_difference(*args)
        elif measure == "SMD":
            if n1 < 2 or n2 < 2:
                return "an arm has fewer than 2 participants"
            es = effects.smd(*args)
        elif measure == "ROM":
            if r["mean1"] <= 0 or r["mean2"] <= 0:
                return "ratio of means needs positive means"
            es = effects.log_ratio_of_means(*args)
        else:
            return f"continuous arm-level data cannot give {measure}"
        return float(es.yi[0]), float(es.vi[0]), n, f"{es.measure} from arm-level means, SDs and n"
    if form == "contrast":
        cm = r["contrast_measure"]
        est, lo, hi, se = _num(r, "estimate"), _num(r, "ci_low"), _num(r, "ci_high"), _num(r, "se")
        level = _num(r, "ci_level") or 0.95
        ratio = cm in ("RR", "OR")
        wanted = {"MD": ("MD",), "SMD": ("SMD", "MD"), "RR": ("RR",), "OR": ("OR",), "RD": ("RD",)}.get(measure, ())
        if cm not in wanted:
            return f"reported as {cm}; this analysis pools {measure}"
        if measure == "SMD" and cm == "MD":
            if n1 is None or n2 is None or lo is None or hi is None:
                return "an SMD from a mean difference needs its CI and both arm sizes"
            es = effects.smd_from_md_ci(est, lo, hi, n1, n2, level=level)
            return float(es.yi[0]), float(es.vi[0]), n, "SMD from the mean difference, its CI and arm sizes"
        if lo is not None and hi is not None:
            es = effects.from_ci(est, lo, hi, level=level, log=ratio)
            return float(es.yi[0]), float(es.vi[0]), n, f"{cm} and its {100 * level:g}% CI (generic inverse variance)"
        if se is not None and not ratio:
            return float(est), se**2, n, f"{cm} and its standard error (generic inverse variance)"
        return "no CI or standard error printed"
    if form == "events":
        args = (r["events1"], n1, r["events2"], n2)
        fn = {"RR": effects.log_risk_ratio, "OR": effects.log_odds_ratio, "RD": effects.risk_difference}.get(measure)
        if fn is None:
            return f"event counts cannot give {measure}"
        es = fn(*args)
        return float(es.yi[0]), float(es.vi[0]), n, f"{es.measure} from event counts" + (
            " (0.5 added to every cell: zero cell)" if es.corrected[0] else "")
    return f"unknown form {form!r}"


def _safety_effect(r, measure: str) -> tuple[float, float, int | None, str] | str:
    ev, den = _num(r, "events"), _num(r, "denominator")
    if ev is None:
        return "no event count printed (only a rate)" if r.get("rate_as_printed") else "no event count"
    if den is None:
        return "no denominator printed"
    if measure == "PLO":
        es = effects.logit_proportion(ev, den)
    elif measure == "IRLN":
        es = effects.log_incidence_rate(ev, den)
    else:
        return f"single-group counts cannot give {measure}"
    return float(es.yi[0]), float(es.vi[0]), int(den), f"{es.measure} from {int(ev)}/{int(den)} {r['denominator_unit']}" + (
        " (0.5 added: zero events)" if es.corrected[0] else "")


def _combine(rows: pd.DataFrame, group: tuple[str, ...], spec: AnalysisSpec) -> tuple[pd.Series, str] | str:
    """One contrast from the rows of ``group`` (same study, same intervention arm): the comparator arms
    combined with :func:`hipacu.effects.combine_groups`; or the reason they cannot be combined."""
    sub = rows.loc[list(group)]
    if sub["study_id"].nunique() != 1:
        return f"combine group {', '.join(group)} spans several studies; only arms of one trial can be combined"
    forms = set(sub["form"])
    if forms == {"arm"}:
        first = sub.iloc[0]
        same = sub[["mean1", "sd1", "n1"]].nunique(dropna=False).max() == 1
        if not same:
            return "the rows to combine do not share the same intervention arm (mean1, sd1, n1 differ)"
        if sub[["n2", "mean2", "sd2"]].isna().any().any():
            return "a comparator arm to combine lacks its n, mean or SD"
        g = effects.combine_groups(sub["n2"].to_numpy(float), sub["mean2"].to_numpy(float), sub["sd2"].to_numpy(float))
        row = first.copy()
        row["n2"], row["mean2"], row["sd2"] = g.n, g.mean, g.sd
    elif forms == {"events"}:
        first = sub.iloc[0]
        if sub[["events1", "n1"]].nunique(dropna=False).max() != 1:
            return "the rows to combine do not share the same intervention arm (events1, n1 differ)"
        g = effects.combine_groups(sub["n2"].to_numpy(float), events=sub["events2"].to_numpy(float))
        row = first.copy()
        row["n2"], row["events2"] = g.n, g.events
    else:
        return f"only arm-level or event rows can be combined; these are {', '.join(sorted(forms))}"
    arms = " + ".join(str(a) for a in sub["arm2"])
    return row, f"comparator arms combined ({arms}; Cochrane Handbook 23.3.4)"


def build_study_table(evidence: Evidence, spec: AnalysisSpec) -> StudyTable:
    """Every row listed by ``spec`` as an included effect size or an exclusion with its reason
    (see the module docstring for the rules and their order)."""
    studies = evidence.studies.set_index("study_id")
    table = evidence.outcomes if spec.table == "outcomes" else evidence.safety
    key = "outcome_id" if spec.table == "outcomes" else "safety_id"
    rows = table.set_index(key).loc[list(spec.rows)]
    designs = rows["study_id"].map(studies["design"])
    any_trial = spec.table == "outcomes" and designs.isin(TRIAL_DESIGNS).any()

    merged: dict[str, tuple[pd.Series, str, tuple[str, ...]]] = {}
    absorbed: dict[str, str] = {}
    exc = []
    for group in spec.combine:
        got = _combine(rows, group, spec)
        if isinstance(got, str):
            exc += [{"row_id": rid, "study_id": rows.loc[rid, "study_id"], "reason": got} for rid in group]
            absorbed.update({rid: "" for rid in group})
            continue
        merged[group[0]] = (got[0], got[1], group)
        absorbed.update({rid: group[0] for rid in group[1:]})

    inc = []
    seen: dict[str, str] = {}
    scale = None
    direction = None
    for row_id, r in rows.iterrows():
        if row_id in absorbed:
            if absorbed[row_id]:
                exc.append({"row_id": row_id, "study_id": r["study_id"],
                            "reason": f"combined into row {absorbed[row_id]} (multi-arm trial)"})
            continue
        note = ""
        if row_id in merged:
            r, note, _ = merged[row_id]
        sid = r["study_id"]
        st = studies.loc[sid]
        reason = None
        if spec.designs and st["design"] not in spec.designs:  # designs declared in analyses.toml
            reason = f"design {st['design']} is not among the designs this analysis pools ({', '.join(spec.designs)})"
        elif not spec.designs and any_trial and st["design"] not in TRIAL_DESIGNS:
            reason = f"not a trial (design {st['design']}); this analysis pools randomised and quasi-randomised trials"
        elif sid in seen:
            reason = f"study already contributes row {seen[sid]} (same participants would count twice)"
        if reason is None:
            got = _outcome_effect(r, spec.measure) if spec.table == "outcomes" else _safety_effect(r, spec.measure)
            if isinstance(got, str):
                reason = got
        if reason is None and spec.table == "outcomes" and spec.measure == "MD":
            this_scale = (_num(r, "scale_min"), _num(r, "scale_max"))
            if scale is not None and this_scale != scale and None not in this_scale and None not in scale:
                reason = f"scale {this_scale[0]:g}-{this_scale[1]:g} differs from {scale[0]:g}-{scale[1]:g}; pool as SMD or rescale"
        if reason is not None:
            exc.append({"row_id": row_id, "study_id": sid, "reason": reason})
            continue
        yi, vi, n, how = got
        if note:
            how = f"{how}; {note}"
        if spec.table == "outcomes":
            lib = bool(r["lower_is_better"])
            if direction is None:
                direction = lib
            elif lib != direction:
                yi = -yi  # higher-is-better row in a lower-is-better analysis: orient it the same way
                how += "; sign flipped to the analysis's direction"
            if scale is None and spec.measure == "MD":
                scale = (_num(r, "scale_min"), _num(r, "scale_max"))
        seen[sid] = row_id
        n_source = "analysed"
        if n is None and not pd.isna(st["n_randomised"]):
            n, n_source = int(st["n_randomised"]), "randomised (arm sizes of this comparison not printed)"
        is_outcome = spec.table == "outcomes"
        inc.append({
            "row_id": row_id, "study_id": sid, "yi": yi, "vi": vi, "n": n, "n_source": n_source, "how": how,
            "comparison": r["comparison"] if is_outcome else None, "outcome": r["outcome"] if is_outcome else None,
            "events": None if is_outcome else _num(r, "events"),
            "events1": _num(r, "events1") if is_outcome else None, "n1": _num(r, "n1") if is_outcome else None,
            "events2": _num(r, "events2") if is_outcome else None, "n2": _num(r, "n2") if is_outcome else None,
            "sd_pooled": _pooled_sd(_num(r, "n1"), _num(r, "sd1"), _num(r, "n2"), _num(r, "sd2"))
            if is_outcome and r["form"] == "arm" else None,
            "derivation": r.get("derivation"),
            **{c: st[c] for c in _STUDY_COLUMNS},
        })
    included = pd.DataFrame(inc, columns=list(INCLUDED_COLUMNS))
    included["implausible"] = included["implausible"].fillna(False).astype(bool)
    excluded = pd.DataFrame(exc, columns=["row_id", "study_id", "reason"])
    return StudyTable(included=included, excluded=excluded, lower_is_better=direction)
