"""What :class:`hipacu.meta.MetaAnalysis` hands to the review layer: the
:class:`~hipacu.review.analysis.AnalysisResult` that GRADE reads (:func:`analysis_result`), and the
evidence folder that ``hipacu report`` reads (:func:`write_evidence`).

Both are built from the same per-study judgements (design, risk of bias, indirectness), so an
analysis graded in memory and the same analysis written as a folder, loaded and graded through
:func:`hipacu.run_analysis` get the same judgements (``tests/test_meta_grade.py`` checks it).
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hipacu.meta import DESIGN_CHOICES, ROB_CHOICES, MetaAnalysis, _INDIRECT_KEYS, _ROB_DOMAINS, _Table

__all__ = ["Assessment", "assess", "analysis_result", "write_evidence"]

_DIRECT, _INDIRECT = "as_asked", "indirect"
_VOCAB = {"conditions": "population", "interventions": "intervention", "comparisons": "comparator", "outcomes": "outcome"}


@dataclass(frozen=True)
class Assessment:
    """The per-study judgements and the question's words, checked once (:func:`assess`)."""

    design: tuple[str, ...]
    rob: tuple[str, ...]
    rob_domains: dict[str, tuple[str, ...]]
    rob_given: bool
    indirect: dict[str, tuple[bool, ...]]
    lower_is_better: bool | None
    mid: float | None
    mid_unit: str | None
    mid_source: str | None
    population: str
    intervention: str
    comparator: str
    outcome: str
    unpublished: tuple[str, ...]
    control_risk: float | None
    ois_sd: float | None
    overrides: tuple[tuple[str, int, str], ...]
    per: float | None
    threshold: float | None
    threshold_label: str | None
    threshold_source: str | None
    analysis_id: str
    title: str


def _values(m: MetaAnalysis, arg: str, value, choices: tuple[str, ...] | None = None) -> list:
    """Per-study values of a grading argument: a constant for every study, a column of ``m.data`` or one
    value per study."""
    if isinstance(value, str) and (m.data is None or value not in m.data.columns):
        if choices is not None and _norm(value) not in choices:
            cols = "" if m.data is None else f" nor a column of data ({', '.join(map(repr, m.data.columns))})"
            raise ValueError(f"{arg}={value!r} is neither one of {', '.join(map(repr, choices))}{cols}")
        return [value] * m.k
    if isinstance(value, (bool, np.bool_)) or value is None:
        return [value] * m.k
    t = _Table(m.data, {arg: value})
    t.labels = list(m.labels)
    s, name = t.raw(arg, value)
    if len(s) != m.k:
        raise ValueError(f"{arg} has {len(s)} values for k = {m.k} studies")
    out = []
    for i, v in enumerate(s):
        if v is None or (not isinstance(v, str) and pd.isna(v)):
            raise ValueError(f"{name} is missing at {t.row(i)}; every study needs a value")
        out.append(v)
    return out


def _norm(v) -> str:
    return re.sub(r"[\s\-]+", "_", str(v).strip().lower())


def _choice_list(m, arg, value, choices) -> tuple[str, ...]:
    vals = _values(m, arg, value, choices)
    out = []
    for i, v in enumerate(vals):
        c = _norm(v)
        if c not in choices:
            raise ValueError(f"{arg} is {v!r} for study {m.labels[i]!r}; allowed: {', '.join(choices)} (case and spaces "
                             "are normalised)")
        out.append(c)
    return tuple(out)


def _flags(m, key, value) -> tuple[bool, ...]:
    vals = _values(m, f"indirect[{key!r}]", value)
    out = []
    for i, v in enumerate(vals):
        if not isinstance(v, (bool, np.bool_)):
            raise ValueError(f"indirect[{key!r}] is {v!r} for study {m.labels[i]!r}; use True (indirect) or False")
        out.append(bool(v))
    return tuple(out)


def assess(m: MetaAnalysis, *, design=None, rob=None, rob_domains=None, mid=None, mid_unit=None, mid_source=None,
           lower_is_better=None, indirect=None, population=None, intervention=None, comparator=None, outcome=None,
           unpublished=(), control_risk=None, ois_sd=None, overrides=(), per=None, threshold=None, threshold_label=None,
           threshold_source=None, analysis_id="meta", title=None) -> Assessment:
    """Check the keywords of :meth:`MetaAnalysis.grade` (see there) and resolve per-study values."""
    if design is None:
        raise ValueError(f"grade() needs the study design: design='rct' (all studies), or a column of data, or one "
                         f"value per study; allowed: {', '.join(DESIGN_CHOICES)} (certainty starts high only for "
                         "randomised and quasi-randomised trials, so hipacu does not assume it)")
    designs = _choice_list(m, "design", design, DESIGN_CHOICES)
    robs = ("not_assessed",) * m.k if rob is None else _choice_list(m, "rob", rob, ROB_CHOICES)
    domains = {}
    for d, v in (rob_domains or {}).items():
        if d not in _ROB_DOMAINS:
            raise ValueError(f"rob_domains key {d!r} is not allowed; choose from {', '.join(_ROB_DOMAINS)} (RoB 2 domains)")
        domains[d] = _choice_list(m, f"rob_domains[{d!r}]", v, ROB_CHOICES)
    flags = {}
    for key, v in (indirect or {}).items():
        if key not in _INDIRECT_KEYS:
            raise ValueError(f"indirect key {key!r} is not allowed; choose from {', '.join(_INDIRECT_KEYS)}")
        flags[key] = _flags(m, key, v)
    lib = m.lower_is_better if lower_is_better is None else lower_is_better
    if lib is not None and not isinstance(lib, (bool, np.bool_)):
        raise ValueError(f"lower_is_better={lib!r} is not allowed; use True or False")
    question = "frequency" if m.measure == "PLO" else "effect"
    if question == "effect" and lib is None:
        raise ValueError("grade() needs the outcome's direction: lower_is_better=True (e.g. deaths, pain) or False "
                         "(e.g. function), here or in meta(); GRADE's benefit and harm depend on it")
    if mid is not None:
        if isinstance(mid, bool) or not isinstance(mid, (int, float)) or not math.isfinite(mid):
            raise ValueError(f"mid={mid!r} must be a number")
        if m.is_ratio and (mid <= 0 or mid == 1):
            raise ValueError(f"mid={mid!r}: for the ratio measure {m.measure} the MID is a ratio other than 1 on the "
                             f"natural scale, e.g. 0.8 (thresholds {m.measure} 0.8 and 1.25)")
        if not m.is_ratio and mid <= 0:
            raise ValueError(f"mid={mid!r} must be > 0: a distance from no effect in {m.measure} units")
    for name, v in (("control_risk", control_risk), ("ois_sd", ois_sd), ("per", per)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0):
            raise ValueError(f"{name}={v!r} must be a number > 0")
    if control_risk is not None and not 0 < control_risk < 1:
        raise ValueError(f"control_risk={control_risk!r} must be between 0 and 1 (a risk, not a percentage)")
    ovs = []
    for o in overrides:
        try:
            domain, rating, reason = o
        except (TypeError, ValueError) as exc:
            raise ValueError(f"each override is (domain, rating, reason); got {o!r}") from exc
        from hipacu.evidence.spec import OVERRIDE_DOMAINS

        if domain not in OVERRIDE_DOMAINS or rating not in (0, -1, -2) or not str(reason).strip():
            raise ValueError(f"override {o!r}: domain one of {', '.join(OVERRIDE_DOMAINS)}, rating 0, -1 or -2, and a reason")
        ovs.append((domain, int(rating), str(reason).strip()))
    if isinstance(unpublished, str):
        unpublished = (unpublished,)
    unpub = tuple(str(u) for u in unpublished)
    clash = [u for u in unpub if u in m.labels]
    if clash:
        raise ValueError(f"unpublished lists {clash[0]!r}, which is a pooled study; list only eligible studies whose "
                         "results are unpublished")
    measure_name = {"RR": "risk ratio", "OR": "odds ratio", "HR": "hazard ratio", "SMD": "standard deviations"}
    return Assessment(
        design=designs, rob=robs, rob_domains=domains, rob_given=rob is not None, indirect=flags,
        lower_is_better=None if lib is None else bool(lib), mid=None if mid is None else float(mid),
        mid_unit=mid_unit or (measure_name.get(m.measure) if mid is not None else None), mid_source=mid_source,
        population=population or "the studies' participants", intervention=intervention or m.label1 or "The intervention",
        comparator=comparator or m.label2 or "the comparator", outcome=outcome or m.title or "the outcome",
        unpublished=unpub, control_risk=control_risk, ois_sd=ois_sd, overrides=tuple(ovs), per=per,
        threshold=threshold, threshold_label=threshold_label, threshold_source=threshold_source,
        analysis_id=str(analysis_id), title=title or m.title or f"{m.measure} meta-analysis, {m.k} studies",
    )


def _spec(m: MetaAnalysis, a: Assessment):
    from hipacu.evidence.spec import AnalysisSpec, Override

    question = "frequency" if m.measure == "PLO" else "effect"
    return AnalysisSpec(
        id=a.analysis_id, title=a.title, table="outcomes" if question == "effect" else "safety", rows=tuple(m.labels),
        measure=m.measure, outcome_label=a.outcome[:1].upper() + a.outcome[1:], population=a.population,
        intervention=a.intervention, comparator=a.comparator, method=m.pooled.method if m.pooled.method in _methods() else m.method,
        test=m.test, mid=a.mid, mid_unit=a.mid_unit, mid_source=a.mid_source, ois_sd=a.ois_sd,
        ois_sd_source="given to grade()" if a.ois_sd is not None else None, control_risk=a.control_risk,
        control_risk_source="given to grade()" if a.control_risk is not None else None, per=a.per,
        overrides=tuple(Override(d, r, why) for d, r, why in a.overrides), question=question,
        comparison=_DIRECT if "comparator" in a.indirect else None,
        conditions=(_DIRECT,) if "population" in a.indirect else (),
        interventions=(_DIRECT,) if "intervention" in a.indirect else (),
        outcomes=(_DIRECT,) if "outcome" in a.indirect else (),
        designs=tuple(sorted(set(a.design))), threshold=a.threshold, threshold_label=a.threshold_label,
        threshold_source=a.threshold_source,
    )


def _methods():
    from hipacu.models.pooling import METHODS

    return METHODS


def _sd_pooled(s: pd.DataFrame) -> np.ndarray | None:
    if not {"sd1", "sd2", "n1", "n2"} <= set(s.columns):
        return None
    n1, n2, s1, s2 = (s[c].to_numpy(float) for c in ("n1", "n2", "sd1", "sd2"))
    return np.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / (n1 + n2 - 2))


def analysis_result(m: MetaAnalysis, **keywords):
    """The :class:`~hipacu.review.analysis.AnalysisResult` of ``m`` with the judgements of ``keywords``."""
    from hipacu.review.analysis import AnalysisResult, small_study_tests
    from hipacu.review.study_table import INCLUDED_COLUMNS

    a = assess(m, **keywords)
    spec = _spec(m, a)
    s = m.studies
    k = m.k
    inc = pd.DataFrame({c: [None] * k for c in INCLUDED_COLUMNS})
    labels = list(m.labels)
    inc["row_id"] = labels
    inc["study_id"] = labels
    inc["label"] = labels
    inc["yi"] = np.asarray(m.yi, float)
    inc["vi"] = np.asarray(m.vi, float)
    n = s["n"].to_numpy(float)
    inc["n"] = [None if not np.isfinite(x) else int(x) for x in n]
    inc["n_source"] = "analysed"
    inc["how"] = f"{m.measure} from the analyst's table (hipacu.meta, {m.form} data)"
    inc["design"] = list(a.design)
    inc["rob_overall"] = list(a.rob)
    for d in _ROB_DOMAINS:
        inc[f"rob_{d}"] = list(a.rob_domains.get(d, ("not_assessed",) * k))
    if spec.question == "frequency":
        for c in ("rob_selection", "rob_ascertainment", "rob_followup"):
            inc[c] = list(a.rob)
    inc["implausible"] = False
    flag = {key: a.indirect.get(key, (False,) * k) for key in _INDIRECT_KEYS}
    inc["condition"] = [_INDIRECT if f else _DIRECT for f in flag["population"]]
    inc["intervention"] = [_INDIRECT if f else _DIRECT for f in flag["intervention"]]
    inc["comparison"] = [_INDIRECT if f else _DIRECT for f in flag["comparator"]]
    inc["outcome"] = [_INDIRECT if f else _DIRECT for f in flag["outcome"]]
    inc["co_intervention_arms"] = ["intervention_only" if f else "none" for f in flag["co_intervention"]]
    if m.form == "binary":
        inc["events2"] = s["events2"].to_numpy(float)
        inc["n2"] = s["n2"].to_numpy(float)
    sd = _sd_pooled(s) if m.form == "continuous" else None
    if sd is not None:
        inc["sd_pooled"] = sd
    inc["weight"] = s["weight"].to_numpy(float)
    participants = int(np.nansum(n)) if np.isfinite(n).any() else 0
    if spec.question == "effect" and not np.isfinite(n).all():
        missing = [lab for lab, x in zip(labels, n) if not np.isfinite(x)]
        raise ValueError(f"grade() needs the participants of every study (n1 and n2, or n, in meta()) for the "
                         f"optimal information size; missing for {', '.join(missing[:3])}")
    rows = [{"study_id": lab, "label": lab, "design": d, "condition": c, "intervention": iv, "n_randomised": nn,
             "status": "included", "evidence": "pooled"}
            for lab, d, c, iv, nn in zip(labels, a.design, inc["condition"], inc["intervention"], inc["n"])]
    rows += [{"study_id": u, "label": u, "design": None, "condition": None, "intervention": None, "n_randomised": None,
              "status": "unpublished", "evidence": "results known to exist but unpublished (given to grade())"}
             for u in a.unpublished]
    eligible = pd.DataFrame(rows, columns=["study_id", "label", "design", "condition", "intervention", "n_randomised",
                                           "status", "evidence"])
    return AnalysisResult(
        spec=spec, included=inc, excluded=pd.DataFrame(columns=["row_id", "study_id", "reason"]), pooled=m.pooled,
        participants=participants, lower_is_better=a.lower_is_better, eligible=eligible, reviews=pd.DataFrame(),
        small_study=small_study_tests(np.asarray(m.yi, float), np.asarray(m.vi, float)), test=m.test,
        test_reason=f"as run by hipacu.meta (test = {m.test!r})",
    )


# --------------------------------------------------------------------------- evidence folder


def _sid(label: str, used: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_.\-]+", "", label.replace(" ", "_").replace("&", "and")) or "study"
    sid, i = base, 2
    while sid in used:
        sid, i = f"{base}_{i}", i + 1
    used.add(sid)
    return sid


def _per_row(m: MetaAnalysis, arg: str, value, *, required: bool) -> list[str]:
    if value is None:
        if required:
            raise ValueError(f"{arg} is required: every number in an evidence folder needs a source a reader can open "
                             f"(a URL for all rows, or a column of data with one per row)")
        return [""] * m.k
    if isinstance(value, str) and m.data is not None and value in m.data.columns:
        vals = [str(v) for v in _values(m, arg, value)]
    elif isinstance(value, str):
        vals = [value] * m.k
    else:
        vals = [str(v) for v in _values(m, arg, value)]
    if arg == "source_url":
        for lab, v in zip(m.labels, vals):
            if not re.match(r"^https?://\S+$", v):
                raise ValueError(f"source_url for study {lab!r} is {v!r}; a URL (http:// or https://) is needed")
    return vals


def _fmt(x) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return ""
    x = float(x)
    return str(int(x)) if x == round(x) and abs(x) < 1e15 else repr(x)


def _toml(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_evidence(m: MetaAnalysis, folder: Path, *, source_url=None, locator=None, citation=None, value_type=None,
                   **keywords) -> Path:
    """Write ``m`` as an evidence folder (see :meth:`MetaAnalysis.to_evidence`)."""
    from hipacu.evidence import COLUMNS

    if m.form in ("continuous", "generic") and value_type not in ("final", "change"):
        raise ValueError(f"to_evidence() of {m.form} data needs value_type='final' (values at follow-up) or 'change' "
                         f"(change from baseline): the evidence folder records which; got {value_type!r}")

    a = assess(m, **keywords)
    if m.form == "proportion":
        raise ValueError("to_evidence() writes two-arm and generic contrast data; a single-group (PLO) analysis is "
                         "not supported yet (write its safety.csv by hand, see evidence/README.md)")
    if m.form == "generic" and m.measure not in ("MD", "SMD", "RR", "OR", "RD"):
        raise ValueError(f"to_evidence(): an evidence folder's contrast rows hold MD, SMD, RR, OR or RD; {m.measure} "
                         "is not among them")
    if a.unpublished:
        if len(set(a.design)) != 1:
            raise ValueError("to_evidence() with unpublished studies needs one design for all studies (design='rct')")
    urls = _per_row(m, "source_url", source_url, required=True)
    locs = _per_row(m, "locator", locator, required=False)
    cites = _per_row(m, "citation", citation, required=False)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    ids = [_sid(lab, used) for lab in m.labels]
    s = m.studies
    flag = {key: a.indirect.get(key, (False,) * m.k) for key in _INDIRECT_KEYS}
    rob_src = "own_judgement" if a.rob_given else "not_applicable"
    study_rows = []
    for i, lab in enumerate(m.labels):
        r = {c: "" for c in COLUMNS["studies.csv"]}
        r.update(study_id=ids[i], label=lab, citation=cites[i] or lab, design=a.design[i],
                 condition=_INDIRECT if flag["population"][i] else _DIRECT,
                 comparison=_INDIRECT if flag["comparator"][i] else _DIRECT,
                 intervention=_INDIRECT if flag["intervention"][i] else _DIRECT,
                 co_intervention_arms="intervention_only" if flag["co_intervention"][i] else "none",
                 data_status="usable", n_randomised=_fmt(s["n"].iloc[i]), rob_overall=a.rob[i],
                 rob_support="as given to hipacu.meta().grade()" if a.rob_given else "no appraisal given",
                 rob_source=rob_src, source_url=urls[i], locator=locs[i] or f"row {i} of the analyst's table")
        for d in _ROB_DOMAINS:
            r[f"rob_{d}"] = a.rob_domains.get(d, ("not_assessed",) * m.k)[i]
        study_rows.append(r)
    for u in a.unpublished:
        r = {c: "" for c in COLUMNS["studies.csv"]}
        r.update(study_id=_sid(u, used), label=u, citation=u, design=a.design[0], condition=_DIRECT, comparison=_DIRECT,
                 intervention=_DIRECT, data_status="unpublished", data_note="results known to exist but unpublished",
                 rob_source="not_applicable", **{f"rob_{d}": "not_assessed" for d in _ROB_DOMAINS + ("overall",)})
        study_rows.append(r)
    out_rows = []
    label1, label2 = m.label1 or a.intervention, m.label2 or a.comparator
    for i in range(m.k):
        r = {c: "" for c in COLUMNS["outcomes.csv"]}
        row = s.iloc[i]
        r.update(outcome_id=f"{ids[i]}.o", study_id=ids[i], outcome=_INDIRECT if flag["outcome"][i] else _DIRECT,
                 measure=a.outcome, lower_is_better=_toml(bool(a.lower_is_better)),
                 timepoint_label="as in the analyst's table", comparison=r.get("comparison") or
                 (_INDIRECT if flag["comparator"][i] else _DIRECT), arm1=label1, arm2=label2, population="not_reported",
                 source_url=urls[i], locator=locs[i] or f"row {i} of the analyst's table",
                 derivation="", note="written by hipacu.MetaAnalysis.to_evidence()")
        if m.form == "binary":
            vals = {c: row[c] for c in ("events1", "n1", "events2", "n2")}
            r.update(form="events", **{c: _fmt(v) for c, v in vals.items()})
        elif m.form == "continuous":
            vals = {c: row[c] for c in ("mean1", "sd1", "n1", "mean2", "sd2", "n2")}
            r.update(form="arm", value_type=value_type, **{c: _fmt(v) for c, v in vals.items()})
        else:
            vals = {c: row[c] for c in ("estimate", "ci_low", "ci_high", "sei", "n1", "n2") if c in s.columns}
            r.update(form="contrast", contrast_measure=m.measure, value_type=value_type)
            if "ci_low" in vals:
                est, lo, hi = vals["estimate"], vals["ci_low"], vals["ci_high"]
                if m.is_ratio and m.log_input is False:
                    est, lo, hi = math.exp(est), math.exp(lo), math.exp(hi)
                    r["derivation"] = "ratio and CI exponentiated from the log values given to hipacu.meta()"
                r.update(estimate=_fmt(est), ci_low=_fmt(lo), ci_high=_fmt(hi), ci_level=_fmt(m.ci_level))
            elif m.is_ratio:  # outcomes.csv holds a ratio with its CI: derived from the SE of the log
                log_est = vals["estimate"] if m.log_input is False else math.log(vals["estimate"])
                half = 1.959963984540054 * vals["sei"]
                r.update(estimate=_fmt(math.exp(log_est)), ci_low=_fmt(math.exp(log_est - half)),
                         ci_high=_fmt(math.exp(log_est + half)), ci_level="0.95",
                         derivation="95% CI derived from the estimate and the SE of its log: exp(log(estimate) +/- "
                                    "1.96 SE)")
            else:
                r.update(estimate=_fmt(vals["estimate"]), se=_fmt(vals["sei"]))
            for c in ("n1", "n2"):
                if c in vals:
                    r[c] = _fmt(vals[c])
        r["as_printed"] = "given to hipacu.meta(): " + ", ".join(f"{c} = {_fmt(v)}" for c, v in vals.items())
        out_rows.append(r)
    for name, rows in (("studies.csv", study_rows), ("outcomes.csv", out_rows)):
        with open(folder / name, "w", encoding="utf-8", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(COLUMNS[name]))
            w.writeheader()
            w.writerows(rows)
    if a.unpublished:
        with open(folder / "data_status.csv", "w", encoding="utf-8", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(COLUMNS["data_status.csv"]))
            w.writeheader()
            for j in range(len(a.unpublished)):
                sid = study_rows[m.k + j]["study_id"]
                w.writerow({c: "" for c in COLUMNS["data_status.csv"]} | {
                    "status_id": f"{sid}.status", "study_id": sid, "analysis_id": a.analysis_id, "status": "unpublished",
                    "evidence": "results known to exist but unpublished (given to hipacu.meta().grade())"})
    spec = _spec(m, a)
    lines = ["# Written by hipacu.MetaAnalysis.to_evidence(): one analysis of the analyst's table.", "", "[[analysis]]"]
    keys = dict(id=spec.id, title=spec.title, table="outcomes", rows=[f"{x}.o" for x in ids], measure=m.measure,
                outcome_label=spec.outcome_label, population=spec.population, intervention=spec.intervention,
                comparator=spec.comparator, method=spec.method, test=m.test, designs=list(spec.designs))
    for opt in ("mid", "mid_unit", "mid_source", "ois_sd", "ois_sd_source", "control_risk", "control_risk_source",
                "comparison"):
        v = getattr(spec, opt)
        if v is not None:
            keys[opt] = v
    if a.mid is not None and not a.mid_source:
        keys["mid_source"] = "given to hipacu.meta().grade() without a source"
    for opt, v in (("conditions", spec.conditions), ("interventions", spec.interventions), ("outcomes", spec.outcomes)):
        if v:
            keys[opt] = list(v)
    lines += [f"{k} = {_toml(v)}" for k, v in keys.items()]
    for d, rating, why in a.overrides:
        lines += ["", "[[analysis.override]]", f"domain = {_toml(d)}", f"rating = {rating}", f"reason = {_toml(why)}"]
    (folder / "analyses.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    vocab = "\n".join(f"{v} = {_toml([_DIRECT, _INDIRECT])}" for v in _VOCAB)
    title = a.title
    question = (f"What is the effect of {a.intervention[:1].lower() + a.intervention[1:]} compared with "
                f"{a.comparator} on {a.outcome}?")
    (folder / "topic.toml").write_text(
        f"# Written by hipacu.MetaAnalysis.to_evidence(); keys in evidence/README.md (topic.toml).\n"
        f"title = {_toml(title)}\nquestion = {_toml(question)}\nintervention_label = {_toml(label1)}\n"
        f"comparator_label = {_toml(label2)}\n\n[vocabulary]\n{vocab}\n\n[labels]\n"
        f"{_DIRECT} = \"as the question asks\"\n{_INDIRECT} = \"indirect\"\n", encoding="utf-8")
    (folder / "README.md").write_text(
        f"# {title}\n\nWritten by `hipacu.MetaAnalysis.to_evidence()` from the analyst's table: {m.k} studies, measure "
        f"{m.measure}, {m.method} ({m.test} interval). Where each number comes from: `source_url` and `locator` of each "
        f"row. Judgements (design, risk of bias, indirectness) are those given to `grade()`.\n", encoding="utf-8")
    return folder

