"""Evidence tables: load, validate, report every problem at once.

An evidence folder holds ``studies.csv``, ``outcomes.csv``, ``safety.csv``, ``reviews.csv``,
``claims.csv`` and ``analyses.toml`` (columns documented in ``evidence/README.md``). The column
rules are declared once in :data:`COLUMNS`; pandera checks types, ranges, allowed values and
keys; row rules (which value columns each data form needs, CI ordering, events <= n, provenance)
and cross-file keys are a rule table below. :func:`load_evidence` raises one
:class:`EvidenceError` listing every problem as (file, line, column, message); it never drops,
clips or alters a row.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Problem", "EvidenceError", "Evidence", "AnalysisSpec", "Override", "Topic", "load_evidence", "validate",
           "COLUMNS", "FILES", "bundled_evidence_path", "split_ids", "ANALYSIS_KEYS", "OVERRIDE_DOMAINS", "MEASURES",
           "VOCABULARIES", "DESIGNS", "DATA_STATUS", "OUTCOME_STATUS"]

# --------------------------------------------------------------------------- declarations

from hipacu.evidence.spec import ANALYSIS_KEYS, ID_PATTERN, MEASURES, OVERRIDE_DOMAINS, AnalysisSpec, Override, read_analyses  # noqa: E402
from hipacu.evidence.topic import VOCABULARIES, Topic, read_topic  # noqa: E402

ROB = ("low", "some_concerns", "high", "not_assessed", "not_applicable")
CERTAINTY = ("high", "moderate", "low", "very_low")
#: Designs as the primary source states them (``quasi_randomised``: allocation by alternation, date,
#: or "divided" without a random method; Cochrane Handbook 24.6.2).
DESIGNS = ("rct", "quasi_randomised", "non_randomised", "prospective_cohort", "retrospective_cohort", "observational",
           "case_series", "survey", "systematic_review", "mechanistic", "protocol")
#: Whether a study's numbers could be used (per study; per outcome in data_status.csv).
DATA_STATUS = ("usable", "published_not_extractable", "unpublished", "not_found")
#: Status of one study's result for one analysis (data_status.csv). Only ``unpublished`` is evidence of
#: non-reporting (GRADE 5); ``not_measured`` means the study is not eligible for that outcome.
OUTCOME_STATUS = ("published_not_extractable", "unpublished", "not_found", "not_measured")
CLAIM_DIRECTIONS = ("present", "absent", "below", "above", "none")


@dataclass(frozen=True)
class Col:
    """Declaration of one column: kind (``str``, ``float``, ``int``, ``bool``, ``url``), whether a
    value is required, allowed values (a tuple, or ``"vocabulary:NAME"`` for a topic vocabulary),
    numeric bounds, uniqueness, and whether the column may be left out of the header
    (``optional``: an absent optional column reads as empty)."""

    kind: str = "str"
    required: bool = False
    allowed: tuple[str, ...] | str | None = None
    gt: float | None = None
    ge: float | None = None
    le: float | None = None
    pattern: str | None = None
    unique: bool = False
    optional: bool = False


_S = Col()
_O = Col(optional=True)
_URL = Col("url")
_KEY = Col(required=True, pattern=ID_PATTERN, unique=True)
_REF = Col(required=True, pattern=ID_PATTERN)
_VOCAB_ID = r"^[A-Za-z0-9_.\-]+$"


def _vocab(name: str, **kw) -> Col:
    return Col(allowed=f"vocabulary:{name}", pattern=_VOCAB_ID, **kw)


COLUMNS: dict[str, dict[str, Col]] = {
    "studies.csv": {
        "study_id": _KEY, "label": Col(required=True), "citation": Col(required=True), "year": Col("int", ge=1900, le=2030),
        "doi": _S, "pmid": Col(pattern=r"^\d+$"),
        "design": Col(required=True, allowed=DESIGNS),
        "allocation_as_printed": _O,
        "condition": _vocab("conditions", required=True),
        "comparison": _vocab("comparisons", required=True),
        "intervention": _vocab("interventions", required=True),
        "co_intervention": _O,
        "co_intervention_arms": Col(allowed=("both", "intervention_only", "comparator_only", "none"), optional=True),
        "sessions": Col("float", gt=0, optional=True), "weeks": Col("float", gt=0, optional=True),
        "minutes_per_session": Col("float", gt=0, optional=True),
        "dose_as_printed": _O, "dose_derivation": _O,
        "data_status": Col(required=True, allowed=DATA_STATUS),
        "data_note": _S, "data_status_evidence": _O, "n_randomised": Col("int", ge=1),
        "implausible": Col("bool", optional=True), "implausible_reason": _O,
        "rob_randomisation": Col(required=True, allowed=ROB), "rob_deviations": Col(required=True, allowed=ROB),
        "rob_missing": Col(required=True, allowed=ROB), "rob_measurement": Col(required=True, allowed=ROB),
        "rob_reporting": Col(required=True, allowed=ROB), "rob_overall": Col(required=True, allowed=ROB),
        "rob_selection": Col(allowed=ROB, optional=True), "rob_ascertainment": Col(allowed=ROB, optional=True),
        "rob_followup": Col(allowed=ROB, optional=True),
        "rob_support": _S,
        "rob_source": Col(required=True, allowed=("published", "pedro", "own_judgement", "not_applicable")),
        "rob_source_url": _URL, "indirectness_note": _S, "source_url": _URL, "locator": _S,
    },
    "outcomes.csv": {
        "outcome_id": _KEY, "study_id": _REF, "outcome": _vocab("outcomes", required=True), "measure": Col(required=True),
        "scale_min": Col("float"), "scale_max": Col("float"), "lower_is_better": Col("bool", required=True),
        "timepoint_label": Col(required=True), "timepoint_weeks": Col("float", ge=0),
        "comparison": _vocab("comparisons", required=True), "arm1": Col(required=True), "arm2": _S,
        "multiarm_group": Col(pattern=ID_PATTERN, optional=True), "shared_arm": Col(allowed=("arm1", "arm2"), optional=True),
        "form": Col(required=True, allowed=("arm", "contrast", "events", "prepost")),
        "value_type": Col(allowed=("final", "change")),
        "population": Col(required=True, allowed=("itt", "per_protocol", "completers", "not_reported")),
        "n1": Col("int", ge=1), "n2": Col("int", ge=1),
        "mean1": Col("float"), "sd1": Col("float", gt=0), "mean2": Col("float"), "sd2": Col("float", gt=0),
        "estimate": Col("float"), "ci_low": Col("float"), "ci_high": Col("float"), "se": Col("float", gt=0),
        "ci_level": Col("float", gt=0, le=0.9999),
        "contrast_measure": Col(allowed=("MD", "SMD", "RR", "OR", "RD", "mean_change")),
        "events1": Col("int", ge=0), "events2": Col("int", ge=0),
        "as_printed": Col(required=True), "derivation": _S, "source_url": Col("url", required=True),
        "locator": Col(required=True), "note": _S,
    },
    "safety.csv": {
        "safety_id": _KEY, "study_id": _REF,
        "category": Col(required=True, allowed=("any", "minor", "needing_treatment", "serious", "specific", "transient")),
        "event": Col(required=True), "events": Col("int", ge=0), "denominator": Col("int", ge=1),
        "denominator_unit": Col(required=True, allowed=("patients", "treatments", "consultations", "treatment_cycles",
                                                         "events")),
        "rate_as_printed": _S, "as_printed": Col(required=True), "derivation": _S,
        "source_url": Col("url", required=True), "locator": Col(required=True), "note": _S,
    },
    "reviews.csv": {
        "review_result_id": _KEY, "study_id": _REF, "analysis_id": Col(pattern=ID_PATTERN),
        "outcome": _vocab("outcomes", required=True), "comparison": _vocab("comparisons", required=True),
        "condition": _vocab("conditions", required=True), "timepoint_label": _S, "k": Col("int", ge=1),
        "participants": Col("int", ge=1),
        "measure": Col(required=True, allowed=("MD", "SMD", "RR", "OR", "RD", "proportion", "rate_per_10000")),
        "estimate": Col("float", required=True), "ci_low": Col("float"), "ci_high": Col("float"),
        "i2": Col("float", ge=0, le=100), "certainty": Col(required=True, allowed=CERTAINTY + ("not_reported",)),
        "as_printed": Col(required=True), "source_url": Col("url", required=True), "locator": Col(required=True), "note": _S,
    },
    "claims.csv": {
        "claim_id": _KEY, "claim": Col(required=True), "wording": Col(required=True),
        "implied_certainty": Col(required=True, allowed=CERTAINTY),
        "kind": Col(required=True, allowed=("effect", "no_difference", "quality", "safety", "dose", "mechanism")),
        "direction": Col(allowed=CLAIM_DIRECTIONS, optional=True),
        "analyses": _S, "critical_analyses": _O, "studies": _S, "article_locator": Col(required=True), "note": _O,
    },
    "data_status.csv": {
        "status_id": _KEY, "study_id": _REF, "analysis_id": Col(pattern=ID_PATTERN),
        "status": Col(required=True, allowed=OUTCOME_STATUS), "evidence": Col(required=True),
        "source_url": _URL, "locator": _S, "note": _S,
    },
}
#: Files an evidence folder may hold; ``studies.csv`` and ``analyses.toml`` are required, and at least
#: one of ``outcomes.csv`` / ``safety.csv``.
FILES = tuple(COLUMNS) + ("analyses.toml", "topic.toml")
REQUIRED_FILES = ("studies.csv", "analyses.toml")
DATA_FILES = ("outcomes.csv", "safety.csv")


# --------------------------------------------------------------------------- problems


@dataclass(frozen=True, order=True)
class Problem:
    """One defect: file name, CSV line (header = line 1; ``None`` for the whole file), column, message."""

    file: str
    line: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f" line {self.line}"
        if self.column:
            where += f", column {self.column}"
        return f"{where}: {self.message}"


class EvidenceError(ValueError):
    """Raised by :func:`load_evidence` with every problem found (``.problems``)."""

    def __init__(self, problems: list[Problem], path: Path | None = None):
        self.problems = sorted(set(problems), key=lambda p: (p.file, p.line or 0, p.column or "", p.message))
        self.path = path
        head = f"{len(self.problems)} problem(s) in evidence folder {path}" if path else f"{len(self.problems)} problem(s)"
        super().__init__(head + ":\n" + "\n".join(f"  {p}" for p in self.problems))


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Evidence:
    """A validated evidence folder: one DataFrame per CSV file and the analyses."""

    path: Path
    studies: pd.DataFrame
    outcomes: pd.DataFrame
    safety: pd.DataFrame
    reviews: pd.DataFrame
    claims: pd.DataFrame
    analyses: tuple[AnalysisSpec, ...] = field(default=())
    data_status: pd.DataFrame | None = None
    topic: Topic = field(default_factory=Topic)

    def analysis(self, analysis_id: str) -> AnalysisSpec:
        """The analysis with that id, or ``KeyError`` listing the known ids."""
        for a in self.analyses:
            if a.id == analysis_id:
                return a
        raise KeyError(f"no analysis {analysis_id!r}; known: {', '.join(a.id for a in self.analyses)}")

    def summary(self) -> str:
        """One line: counts of studies, outcome rows, safety rows, review results, claims, analyses."""
        usable = int((self.studies["data_status"] == "usable").sum())
        return (f"{len(self.studies)} studies ({usable} with usable numbers), {len(self.outcomes)} outcome rows, "
                f"{len(self.safety)} safety rows, {len(self.reviews)} review results, {len(self.claims)} claims, "
                f"{len(self.analyses)} analyses")


def bundled_evidence_path() -> Path:
    """The bundled evidence folder: ``hipacu/_bundled/evidence`` in an installed package, the
    repository's ``evidence/`` in a source checkout or editable install."""
    pkg = Path(__file__).resolve().parents[1]
    installed = pkg / "_bundled" / "evidence"
    return installed if installed.is_dir() else pkg.parent / "evidence"


# --------------------------------------------------------------------------- reading


def _read_csv(path: Path, name: str, problems: list[Problem]) -> pd.DataFrame | None:
    spec = COLUMNS[name]
    if not path.exists():
        if name in REQUIRED_FILES:
            problems.append(Problem(name, None, None, f"file is missing from {path.parent}; expected columns: "
                                                      f"{', '.join(c for c in spec if not spec[c].optional)}"))
        return None
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        problems.append(Problem(name, line, None, f"is not UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                                                  "save the file as UTF-8"))
        return None
    if not text.strip():
        problems.append(Problem(name, None, None, f"file is empty; expected a header row with: {', '.join(spec)}"))
        return None
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False)
    except (pd.errors.ParserError, ValueError) as exc:
        problems.append(Problem(name, None, None, f"is not valid CSV: {exc}"))
        return None
    if len(df.columns) == 1 and ";" in df.columns[0]:
        problems.append(Problem(name, 1, None, "the header has one column containing ';': the file looks "
                                               "semicolon-separated; save it comma-separated (CSV)"))
        return None
    missing = [c for c in spec if c not in df.columns and not spec[c].optional]
    unknown = [c for c in df.columns if c not in spec]
    for c in missing:
        problems.append(Problem(name, 1, c, "required column is missing from the header"))
    for c in unknown:
        problems.append(Problem(name, 1, c, f"unknown column (allowed: {', '.join(spec)})"))
    if missing:
        return None
    df = df.map(str.strip)
    for c in spec:
        if c not in df.columns:
            df[c] = ""
    return df[list(spec)]


def _coerce(df: pd.DataFrame, name: str, problems: list[Problem]) -> tuple[pd.DataFrame, set[int]]:
    """Parse typed columns cell by cell; an unparseable cell is a problem, never silently NaN.

    Returns the typed frame and the rows holding an unparseable cell (later rules skip those
    rows, so one defect gives one message).
    """
    out = {}
    before = len(problems)
    for col, spec in COLUMNS[name].items():
        s = df[col]
        if spec.kind in ("float", "int"):
            vals = np.full(len(s), np.nan)
            for i, cell in enumerate(s):
                if cell == "":
                    continue
                try:
                    v = float(cell)
                except ValueError:
                    problems.append(Problem(name, i + 2, col, f"{cell!r} is not a number"))
                    continue
                if not np.isfinite(v):
                    problems.append(Problem(name, i + 2, col, f"{cell!r} is not a finite number"))
                elif spec.kind == "int" and v != round(v):
                    problems.append(Problem(name, i + 2, col, f"{cell!r} must be a whole number"))
                else:
                    vals[i] = v
            out[col] = pd.Series(vals, index=s.index, dtype=float)
        elif spec.kind == "bool":
            vals = []
            for i, cell in enumerate(s):
                low = cell.lower()
                if low in ("true", "false"):
                    vals.append(low == "true")
                else:
                    if cell != "" or spec.required:
                        problems.append(Problem(name, i + 2, col, f"{cell!r} is not allowed; use true or false"))
                    vals.append(None)
            out[col] = pd.Series(vals, index=s.index, dtype="boolean")
        else:
            out[col] = s.astype(object).where(s != "", None)
    bad_rows = {p.line - 2 for p in problems[before:] if p.line is not None}
    return pd.DataFrame(out, index=df.index), bad_rows


def _allowed(spec: Col, topic: Topic) -> tuple[str, ...] | None:
    """A column's allowed values; a topic vocabulary resolves to the topic's list (``None``: any id)."""
    if isinstance(spec.allowed, str):
        return topic.allowed(spec.allowed.split(":", 1)[1])
    return spec.allowed


def _schema(name: str, topic: Topic):
    import pandera.pandas as pa

    cols = {}
    for col, spec in COLUMNS[name].items():
        checks = []
        allowed = _allowed(spec, topic)
        if allowed:
            where = " (topic.toml [vocabulary])" if isinstance(spec.allowed, str) else ""
            checks.append(pa.Check.isin(list(allowed), error=f"is not allowed; allowed{where}: {', '.join(allowed)}"))
        if spec.pattern:
            checks.append(pa.Check.str_matches(spec.pattern, error=f"must match {spec.pattern} (letters, digits, _ . -)"))
        if spec.kind == "url":
            checks.append(pa.Check.str_matches(r"^https?://\S+$", error="must be a URL starting with http:// or https://"))
        if spec.gt is not None:
            checks.append(pa.Check.gt(spec.gt, error=f"must be > {spec.gt:g}"))
        if spec.ge is not None:
            checks.append(pa.Check.ge(spec.ge, error=f"must be >= {spec.ge:g}"))
        if spec.le is not None:
            checks.append(pa.Check.le(spec.le, error=f"must be <= {spec.le:g}"))
        dtype = {"float": float, "int": float, "bool": "boolean"}.get(spec.kind)  # text: no dtype check
        cols[col] = pa.Column(dtype, checks, nullable=True, unique=spec.unique, coerce=False)
    return pa.DataFrameSchema(cols, strict=False)


def _validate_columns(df: pd.DataFrame, name: str, problems: list[Problem], bad_rows: set[int], topic: Topic) -> None:
    import pandera.pandas as pa

    for col, spec in COLUMNS[name].items():
        if spec.required:
            for i in np.flatnonzero(df[col].isna().to_numpy()):
                if int(i) not in bad_rows:
                    problems.append(Problem(name, int(i) + 2, col, "a value is required"))
    try:
        _schema(name, topic).validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases
        for _, r in fc.iterrows():
            col, check, value, idx = r["column"], str(r["check"]), r["failure_case"], r["index"]
            line = None if pd.isna(idx) else int(idx) + 2
            if check == "field_uniqueness" or "uniqueness" in check:
                problems.append(Problem(name, line, col, f"duplicate key {value!r}; each {col} must be unique"))
            elif check.startswith("dtype"):
                problems.append(Problem(name, None, col, f"wrong type: {check}"))
            else:
                problems.append(Problem(name, line, col, f"{value!r} {check}"))


# --------------------------------------------------------------------------- row rules

# Values each data form needs. Arm sizes of an ``arm`` row may be empty when the source does not
# print them (the row is kept, and analyses exclude it with that reason).
_FORM_NEEDS = {
    "arm": ("mean1", "sd1", "mean2", "sd2", "value_type"),
    "contrast": ("estimate", "contrast_measure", "value_type"),
    "events": ("n1", "events1", "n2", "events2"),
    "prepost": ("n1", "estimate", "value_type"),
}


def _row_rules(t: dict[str, pd.DataFrame], problems: list[Problem]) -> None:
    st = t.get("studies.csv")
    if st is not None:
        for i, r in st.iterrows():
            if r["data_status"] != "not_found":
                for col in ("source_url", "locator"):
                    if r[col] is None:
                        problems.append(Problem("studies.csv", int(i) + 2, col,
                                                "a value is required (only a study whose data_status is 'not_found' may lack it)"))
            # quasi-randomised allocation starts at high certainty only because its allocation is judged in
            # risk of bias (RoB 2 domain 1 is high for non-random sequences): the two must agree
            if r["design"] == "quasi_randomised" and r["rob_randomisation"] in ("low", "some_concerns"):
                problems.append(Problem("studies.csv", int(i) + 2, "rob_randomisation",
                                        f"{r['rob_randomisation']!r} contradicts design 'quasi_randomised'; a sequence that "
                                        "is not random is at high risk of bias in the randomisation domain (RoB 2 D1)"))
    o = t.get("outcomes.csv")
    if o is not None:
        for i, r in o.iterrows():
            line = int(i) + 2
            form = r["form"]
            for col in _FORM_NEEDS.get(form, ()):
                if pd.isna(r[col]):
                    problems.append(Problem("outcomes.csv", line, col, f"a value is required for form {form!r}"))
            if form == "contrast" and pd.isna(r["se"]) and (pd.isna(r["ci_low"]) or pd.isna(r["ci_high"])):
                problems.append(Problem("outcomes.csv", line, "ci_low", "form 'contrast' needs ci_low and ci_high, or se"))
            lo, est, hi = r["ci_low"], r["estimate"], r["ci_high"]
            if not pd.isna(lo) and not pd.isna(est) and not pd.isna(hi) and not (lo <= est <= hi):
                problems.append(Problem("outcomes.csv", line, "estimate",
                                        f"CI {lo:g} to {hi:g} does not contain the estimate {est:g}; need ci_low <= estimate <= ci_high"))
            for ev, n in (("events1", "n1"), ("events2", "n2")):
                if not pd.isna(r[ev]) and not pd.isna(r[n]) and r[ev] > r[n]:
                    problems.append(Problem("outcomes.csv", line, ev, f"{r[ev]:g} events exceed {n} = {r[n]:g}; need events <= n"))
            smin, smax = r["scale_min"], r["scale_max"]
            if not pd.isna(smin) and not pd.isna(smax) and smin >= smax:
                problems.append(Problem("outcomes.csv", line, "scale_max", f"scale_max {smax:g} must exceed scale_min {smin:g}"))
    s = t.get("safety.csv")
    if s is not None:
        for i, r in s.iterrows():
            if not pd.isna(r["events"]) and not pd.isna(r["denominator"]) and r["events"] > r["denominator"]:
                problems.append(Problem("safety.csv", int(i) + 2, "events",
                                        f"{r['events']:g} events exceed the denominator {r['denominator']:g}"))
            if pd.isna(r["events"]) and not r["rate_as_printed"]:
                problems.append(Problem("safety.csv", int(i) + 2, "events", "give events (with denominator) or rate_as_printed"))
            if not pd.isna(r["events"]) and pd.isna(r["denominator"]) and not r["rate_as_printed"]:
                problems.append(Problem("safety.csv", int(i) + 2, "denominator",
                                        "events need a denominator (or the printed rate in rate_as_printed)"))
    rv = t.get("reviews.csv")
    if rv is not None:
        for i, r in rv.iterrows():
            lo, est, hi = r["ci_low"], r["estimate"], r["ci_high"]
            if not pd.isna(lo) and not pd.isna(hi) and not (lo <= est <= hi):
                problems.append(Problem("reviews.csv", int(i) + 2, "estimate",
                                        f"CI {lo:g} to {hi:g} does not contain the estimate {est:g}"))


def split_ids(cell: Any) -> list[str]:
    """The ids of a ``;``-separated list cell (claims.csv ``analyses`` and ``studies``); [] when empty."""
    return [x.strip() for x in str(cell).split(";") if x.strip()] if isinstance(cell, str) else []


def _cross_keys(t: dict[str, pd.DataFrame], analyses: list[AnalysisSpec], analysis_ids: set[str] | None,
                problems: list[Problem]) -> None:
    st = t.get("studies.csv")
    study_ids = set(st["study_id"].dropna()) if st is not None else None
    if study_ids is not None:
        for name in ("outcomes.csv", "safety.csv", "reviews.csv", "data_status.csv"):
            df = t.get(name)
            if df is None:
                continue
            for i, sid in df["study_id"].items():
                if isinstance(sid, str) and sid not in study_ids:
                    problems.append(Problem(name, int(i) + 2, "study_id", f"unknown study {sid!r}; not in studies.csv"))
        rv = t.get("reviews.csv")
        if rv is not None:
            designs = dict(zip(st["study_id"], st["design"]))
            for i, sid in rv["study_id"].items():
                if sid in designs and designs[sid] != "systematic_review":
                    problems.append(Problem("reviews.csv", int(i) + 2, "study_id",
                                            f"{sid!r} has design {designs[sid]!r} in studies.csv; review results need 'systematic_review'"))
    cl = t.get("claims.csv")
    claim_ids = set(cl["claim_id"].dropna()) if cl is not None else None
    if cl is not None:
        for i, r in cl.iterrows():
            for aid in split_ids(r["analyses"]):
                if analysis_ids is not None and aid not in analysis_ids:
                    problems.append(Problem("claims.csv", int(i) + 2, "analyses", f"unknown analysis {aid!r}; not in analyses.toml"))
            for aid in split_ids(r["critical_analyses"]):
                if aid not in split_ids(r["analyses"]):
                    problems.append(Problem("claims.csv", int(i) + 2, "critical_analyses",
                                            f"{aid!r} is not among the claim's analyses; a critical analysis must also be listed in analyses"))
            for sid in split_ids(r["studies"]):
                if study_ids is not None and sid not in study_ids:
                    problems.append(Problem("claims.csv", int(i) + 2, "studies", f"unknown study {sid!r}; not in studies.csv"))
    ds = t.get("data_status.csv")
    if ds is not None:
        for i, aid in ds["analysis_id"].items():
            if isinstance(aid, str) and analysis_ids is not None and aid not in analysis_ids:
                problems.append(Problem("data_status.csv", int(i) + 2, "analysis_id",
                                        f"unknown analysis {aid!r}; not in analyses.toml"))
    rv = t.get("reviews.csv")
    if rv is not None:
        for i, aid in rv["analysis_id"].items():
            if isinstance(aid, str) and analysis_ids is not None and aid not in analysis_ids:
                problems.append(Problem("reviews.csv", int(i) + 2, "analysis_id", f"unknown analysis {aid!r}; not in analyses.toml"))
    row_ids = {
        "outcomes": set(t["outcomes.csv"]["outcome_id"].dropna()) if t.get("outcomes.csv") is not None else None,
        "safety": set(t["safety.csv"]["safety_id"].dropna()) if t.get("safety.csv") is not None else None,
    }
    for a in analyses:
        aid = a.id
        ids = row_ids.get(a.table)
        if ids is not None:
            for rid in a.rows:
                if rid not in ids:
                    problems.append(Problem("analyses.toml", None, f"{aid}.rows",
                                            f"unknown row {rid!r}; not in {a.table}.csv"))
        if claim_ids is not None:
            for cid in a.claims:
                if cid not in claim_ids:
                    problems.append(Problem("analyses.toml", None, f"{aid}.claims", f"unknown claim {cid!r}; not in claims.csv"))


#: What each kind of row can give (the study table's rules, declared for validation): outcome rows by
#: ``form``, contrast rows by their ``contrast_measure``, safety rows by the analysis measure.
FORM_MEASURES = {"events": ("RR", "OR", "RD"), "arm": ("MD", "SMD", "ROM"), "prepost": (),
                 "safety": ("PLO", "IRLN")}
#: A contrast row of ``contrast_measure`` can enter analyses of these measures.
CONTRAST_MEASURES = {"MD": ("MD", "SMD"), "SMD": ("SMD",), "RR": ("RR",), "OR": ("OR",), "RD": ("RD",), "mean_change": ()}
_FORM_TEXT = {"events": "event counts (RR, OR or RD)", "arm": "arm-level means and SDs (MD, SMD or ROM)",
              "prepost": "single-group before/after data (no comparator)", "contrast": "contrasts"}


def _poolable(t: dict[str, pd.DataFrame], analyses: list[AnalysisSpec], problems: list[Problem]) -> None:
    """Every analysis must be able to pool at least one of its listed rows with its measure: e.g. an
    SMD analysis of event rows is an error here, not an analysis graded "not assessable" later."""
    for a in analyses:
        if a.table == "safety":
            if a.measure not in FORM_MEASURES["safety"]:
                problems.append(Problem("analyses.toml", None, f"{a.id}.measure",
                                        f"{a.measure!r} cannot be computed from safety rows (single-group events and "
                                        f"denominators give {' or '.join(FORM_MEASURES['safety'])})"))
            continue
        df = t.get("outcomes.csv")
        if df is None:
            continue
        rows = df[df["outcome_id"].isin(a.rows)]
        if not len(rows):
            continue  # unknown rows are reported by the cross-key rules
        ok = [r["form"] == "contrast" and a.measure in CONTRAST_MEASURES.get(r["contrast_measure"], ())
              or a.measure in FORM_MEASURES.get(r["form"], ()) for _, r in rows.iterrows()]
        if any(ok):
            continue
        kinds = {}
        for _, r in rows.iterrows():
            kind = f"contrasts of {r['contrast_measure'] or 'no measure'}" if r["form"] == "contrast" else \
                _FORM_TEXT.get(r["form"], r["form"])
            kinds.setdefault(kind, []).append(r["outcome_id"])
        listing = "; ".join(f"{', '.join(ids)}: {kind}" for kind, ids in kinds.items())
        problems.append(Problem("analyses.toml", None, f"{a.id}.measure",
                                f"analysis {a.id!r} pools {a.measure}, but none of its rows can give {a.measure} "
                                f"({listing}); change the measure or the rows"))


# --------------------------------------------------------------------------- entry points


def _empty(name: str) -> pd.DataFrame:
    """The typed, empty table of an optional file that the folder does not have."""
    dtypes = {"float": float, "int": float, "bool": "boolean"}
    return pd.DataFrame({c: pd.Series(dtype=dtypes.get(s.kind, object)) for c, s in COLUMNS[name].items()})


def validate(path: str | Path) -> tuple[Evidence | None, list[Problem]]:
    """Check an evidence folder; return ``(evidence or None, problems)`` without raising."""
    folder = Path(path)
    problems: list[Problem] = []
    if not folder.is_dir():
        return None, [Problem(str(folder), None, None, "is not a folder; give the folder that holds studies.csv etc.")]
    topic = read_topic(folder / "topic.toml", problems)
    tables: dict[str, pd.DataFrame] = {}
    checked: dict[str, pd.DataFrame] = {}  # rows without unparseable cells, for the row rules
    for name in COLUMNS:
        raw = _read_csv(folder / name, name, problems)
        if raw is None:
            continue
        typed, bad_rows = _coerce(raw, name, problems)
        _validate_columns(typed, name, problems, bad_rows, topic)
        tables[name] = typed
        checked[name] = typed.drop(index=sorted(bad_rows))
    if not any((folder / f).exists() for f in DATA_FILES):
        problems.append(Problem(" or ".join(DATA_FILES), None, None,
                                f"the folder {folder} has neither; at least one is needed for an analysis"))
    analyses, analysis_ids = read_analyses(folder / "analyses.toml", problems, topic)
    for a in analyses:
        if not (folder / f"{a.table}.csv").exists():
            problems.append(Problem("analyses.toml", None, f"{a.id}.table", f"pools rows of {a.table}.csv, which the "
                                                                            f"folder does not have"))
    _row_rules(checked, problems)
    _cross_keys(tables, analyses, analysis_ids, problems)
    if not problems:  # once the files are otherwise valid, so that one defect gives one message
        _poolable(tables, analyses, problems)
    if problems:
        return None, sorted(set(problems), key=lambda p: (p.file, p.line or 0, p.column or "", p.message))
    get = lambda name: tables[name] if name in tables else _empty(name)  # noqa: E731
    ev = Evidence(
        path=folder.resolve(),
        studies=tables["studies.csv"],
        outcomes=get("outcomes.csv"),
        safety=get("safety.csv"),
        reviews=get("reviews.csv"),
        claims=get("claims.csv"),
        analyses=tuple(analyses),
        data_status=get("data_status.csv"),
        topic=topic,
    )
    return ev, []


def load_evidence(path: str | Path | None = None) -> Evidence:
    """Load and validate an evidence folder (the bundled ``evidence/`` by default).

    Raises
    ------
    EvidenceError
        Listing every problem found, as (file, line, column, message).
    """
    folder = bundled_evidence_path() if path is None else Path(path)
    if path is None and not folder.is_dir():
        raise EvidenceError([Problem("evidence", None, None, f"the bundled evidence folder {folder} is not there; "
                                                             "reinstall hipacu, or pass the path of an evidence folder")])
    ev, problems = validate(folder)
    if problems:
        raise EvidenceError(problems, folder)
    return ev  # type: ignore[return-value]  # validate returns evidence whenever there are no problems
