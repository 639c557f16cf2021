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
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Problem", "EvidenceError", "Evidence", "AnalysisSpec", "load_evidence", "validate", "COLUMNS", "FILES",
           "bundled_evidence_path"]

# --------------------------------------------------------------------------- declarations

ID_PATTERN = r"^[A-Za-z0-9_.\-]+$"
OUTCOMES = ("pain", "function", "global", "quality_of_life", "opioid_use", "anaesthetic_use", "adverse_events",
            "delirium", "cognition", "other")
COMPARISONS = ("sham", "adjunct_routine_care", "active", "no_treatment", "multiple", "none")
CONDITIONS = ("hip_oa", "mixed_hip_knee_oa", "gtps", "post_arthroplasty", "hip_fracture", "mixed_conditions", "other")
ROB = ("low", "some_concerns", "high", "not_assessed")
CERTAINTY = ("high", "moderate", "low", "very_low")
MEASURES = ("SMD", "MD", "ROM", "RR", "OR", "RD", "PLO", "IRLN")
INTERVENTIONS = ("manual", "electro", "auricular", "dry_needling", "acupoint_tens", "acupressure", "mixed", "not_applicable")


@dataclass(frozen=True)
class Col:
    """Declaration of one column: kind (``str``, ``float``, ``int``, ``bool``, ``url``), whether a
    value is required, allowed values, numeric bounds and uniqueness."""

    kind: str = "str"
    required: bool = False
    allowed: tuple[str, ...] | None = None
    gt: float | None = None
    ge: float | None = None
    le: float | None = None
    pattern: str | None = None
    unique: bool = False


_S = Col()
_URL = Col("url")
_KEY = Col(required=True, pattern=ID_PATTERN, unique=True)
_REF = Col(required=True, pattern=ID_PATTERN)

COLUMNS: dict[str, dict[str, Col]] = {
    "studies.csv": {
        "study_id": _KEY, "label": Col(required=True), "citation": Col(required=True), "year": Col("int", ge=1900, le=2030),
        "doi": _S, "pmid": Col(pattern=r"^\d+$"),
        "design": Col(required=True, allowed=("rct", "observational", "case_series", "survey", "systematic_review",
                                              "mechanistic", "protocol")),
        "condition": Col(required=True, allowed=CONDITIONS),
        "comparison": Col(required=True, allowed=COMPARISONS),
        "intervention": Col(required=True, allowed=INTERVENTIONS),
        "sessions": Col("float", gt=0), "weeks": Col("float", gt=0), "minutes_per_session": Col("float", gt=0),
        "dose_as_printed": _S, "dose_derivation": _S,
        "data_status": Col(required=True, allowed=("usable", "narrative_only", "not_found")),
        "data_note": _S, "n_randomised": Col("int", ge=1),
        "rob_randomisation": Col(required=True, allowed=ROB), "rob_deviations": Col(required=True, allowed=ROB),
        "rob_missing": Col(required=True, allowed=ROB), "rob_measurement": Col(required=True, allowed=ROB),
        "rob_reporting": Col(required=True, allowed=ROB), "rob_overall": Col(required=True, allowed=ROB),
        "rob_support": _S,
        "rob_source": Col(required=True, allowed=("published", "pedro", "own_judgement", "not_applicable")),
        "rob_source_url": _URL, "indirectness_note": _S, "source_url": _URL, "locator": _S,
    },
    "outcomes.csv": {
        "outcome_id": _KEY, "study_id": _REF, "outcome": Col(required=True, allowed=OUTCOMES), "measure": Col(required=True),
        "scale_min": Col("float"), "scale_max": Col("float"), "lower_is_better": Col("bool", required=True),
        "timepoint_label": Col(required=True), "timepoint_weeks": Col("float", ge=0),
        "comparison": Col(required=True, allowed=COMPARISONS), "arm1": Col(required=True), "arm2": _S,
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
        "category": Col(required=True, allowed=("any", "minor", "needing_treatment", "serious", "specific")),
        "event": Col(required=True), "events": Col("int", ge=0), "denominator": Col("int", ge=1),
        "denominator_unit": Col(required=True, allowed=("patients", "treatments", "consultations", "treatment_cycles")),
        "rate_as_printed": _S, "as_printed": Col(required=True), "derivation": _S,
        "source_url": Col("url", required=True), "locator": Col(required=True), "note": _S,
    },
    "reviews.csv": {
        "review_result_id": _KEY, "study_id": _REF, "analysis_id": Col(pattern=ID_PATTERN),
        "outcome": Col(required=True, allowed=OUTCOMES), "comparison": Col(required=True, allowed=COMPARISONS),
        "condition": Col(required=True, allowed=CONDITIONS), "timepoint_label": _S, "k": Col("int", ge=1),
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
        "analyses": _S, "studies": _S, "article_locator": Col(required=True),
    },
}
FILES = tuple(COLUMNS) + ("analyses.toml",)

ANALYSIS_KEYS: dict[str, tuple[type, bool]] = {
    # key: (type, required)
    "id": (str, True), "title": (str, True), "claims": (list, True), "table": (str, True), "rows": (list, True),
    "measure": (str, True), "method": (str, False), "knha": (bool, False), "outcome_label": (str, True),
    "population": (str, True), "intervention": (str, True), "comparator": (str, True),
    "mid": (float, False), "mid_unit": (str, False), "mid_source": (str, False), "per": (float, False),
    "note": (str, False), "override": (list, False),
    "question": (str, False), "comparison": (str, False), "conditions": (list, False), "interventions": (list, False), "eligible_conditions": (list, False),
    "threshold": (float, False), "threshold_label": (str, False), "threshold_source": (str, False),
}
OVERRIDE_DOMAINS = ("risk_of_bias", "inconsistency", "indirectness", "imprecision", "publication_bias")


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
class AnalysisSpec:
    """One planned analysis from ``analyses.toml`` (keys documented in evidence/README.md)."""

    id: str
    title: str
    claims: tuple[str, ...]
    table: str
    rows: tuple[str, ...]
    measure: str
    outcome_label: str
    population: str
    intervention: str
    comparator: str
    method: str = "REML"
    knha: bool = True
    mid: float | None = None
    mid_unit: str | None = None
    mid_source: str | None = None
    per: float | None = None
    note: str | None = None
    overrides: tuple[dict, ...] = ()
    question: str = "effect"
    comparison: str | None = None
    conditions: tuple[str, ...] = ()
    interventions: tuple[str, ...] = ()
    eligible_conditions: tuple[str, ...] = ()
    threshold: float | None = None
    threshold_label: str | None = None
    threshold_source: str | None = None


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
    """The ``evidence/`` folder shipped beside the package (a source checkout or editable install)."""
    return Path(__file__).resolve().parents[2] / "evidence"


# --------------------------------------------------------------------------- reading


def _read_csv(path: Path, name: str, problems: list[Problem]) -> pd.DataFrame | None:
    spec = COLUMNS[name]
    if not path.exists():
        problems.append(Problem(name, None, None, f"file is missing from {path.parent}; expected columns: {', '.join(spec)}"))
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
    missing = [c for c in spec if c not in df.columns]
    unknown = [c for c in df.columns if c not in spec]
    for c in missing:
        problems.append(Problem(name, 1, c, "required column is missing from the header"))
    for c in unknown:
        problems.append(Problem(name, 1, c, f"unknown column (allowed: {', '.join(spec)})"))
    if missing:
        return None
    return df.map(str.strip)


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


def _schema(name: str):
    import pandera.pandas as pa

    cols = {}
    for col, spec in COLUMNS[name].items():
        checks = []
        if spec.allowed:
            checks.append(pa.Check.isin(list(spec.allowed), error=f"is not allowed; allowed: {', '.join(spec.allowed)}"))
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


def _validate_columns(df: pd.DataFrame, name: str, problems: list[Problem], bad_rows: set[int]) -> None:
    import pandera.pandas as pa

    for col, spec in COLUMNS[name].items():
        if spec.required:
            for i in np.flatnonzero(df[col].isna().to_numpy()):
                if int(i) not in bad_rows:
                    problems.append(Problem(name, int(i) + 2, col, "a value is required"))
    try:
        _schema(name).validate(df, lazy=True)
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


def _cross_keys(t: dict[str, pd.DataFrame], analyses: list[dict], analysis_ids: set[str] | None,
                problems: list[Problem]) -> None:
    st = t.get("studies.csv")
    study_ids = set(st["study_id"].dropna()) if st is not None else None
    if study_ids is not None:
        for name in ("outcomes.csv", "safety.csv", "reviews.csv"):
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
            for sid in split_ids(r["studies"]):
                if study_ids is not None and sid not in study_ids:
                    problems.append(Problem("claims.csv", int(i) + 2, "studies", f"unknown study {sid!r}; not in studies.csv"))
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
        aid = a.get("id", "?")
        ids = row_ids.get(a.get("table"))
        if ids is not None:
            for rid in a.get("rows", []):
                if rid not in ids:
                    problems.append(Problem("analyses.toml", None, f"{aid}.rows",
                                            f"unknown row {rid!r}; not in {a['table']}.csv"))
        if claim_ids is not None:
            for cid in a.get("claims", []):
                if cid not in claim_ids:
                    problems.append(Problem("analyses.toml", None, f"{aid}.claims", f"unknown claim {cid!r}; not in claims.csv"))


# --------------------------------------------------------------------------- analyses.toml


def _read_analyses(path: Path, problems: list[Problem]) -> tuple[list[dict], set[str] | None]:
    """Valid analyses, and the ids of all analyses (None when the file could not be read)."""
    from hipacu.models.pooling import METHODS

    if not path.exists():
        problems.append(Problem("analyses.toml", None, None, f"file is missing from {path.parent}"))
        return [], None
    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        problems.append(Problem("analyses.toml", None, None, "is not UTF-8; save the file as UTF-8"))
        return [], None
    except tomllib.TOMLDecodeError as exc:
        problems.append(Problem("analyses.toml", None, None, f"is not valid TOML: {exc}"))
        return [], None
    items = data.get("analysis", [])
    if not isinstance(items, list) or not items or not all(isinstance(a, dict) for a in items):
        problems.append(Problem("analyses.toml", None, None, "needs at least one [[analysis]] table"))
        return [], None
    seen: set[str] = set()
    good = []
    for n, a in enumerate(items, start=1):
        aid = a.get("id", f"#{n}")
        bad = False
        for key, (typ, required) in ANALYSIS_KEYS.items():
            if key not in a:
                if required:
                    problems.append(Problem("analyses.toml", None, f"{aid}.{key}", "a value is required"))
                    bad = True
                continue
            v = a[key]
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) if typ is float else isinstance(v, typ)
            if not ok:
                problems.append(Problem("analyses.toml", None, f"{aid}.{key}", f"{v!r} must be a {typ.__name__}"))
                bad = True
        for key in a:
            if key not in ANALYSIS_KEYS:
                problems.append(Problem("analyses.toml", None, f"{aid}.{key}", f"unknown key (allowed: {', '.join(ANALYSIS_KEYS)})"))
        if aid in seen:
            problems.append(Problem("analyses.toml", None, f"{aid}.id", f"duplicate analysis id {aid!r}"))
        seen.add(aid)
        if isinstance(aid, str) and not re.match(ID_PATTERN, aid):
            problems.append(Problem("analyses.toml", None, f"{aid}.id", f"must match {ID_PATTERN}"))
        checks = [("table", ("outcomes", "safety")), ("measure", MEASURES), ("method", METHODS),
                  ("question", ("effect", "frequency")), ("comparison", COMPARISONS)]
        for key, allowed in checks:
            if key in a and a[key] not in allowed:
                problems.append(Problem("analyses.toml", None, f"{aid}.{key}", f"{a[key]!r} is not allowed; allowed: {', '.join(allowed)}"))
                bad = True
        if isinstance(a.get("mid"), (int, float)) and a["mid"] <= 0:
            problems.append(Problem("analyses.toml", None, f"{aid}.mid", "must be > 0 (a distance from no effect, in measure units)"))
        if "threshold" in a and not a.get("threshold_source"):
            problems.append(Problem("analyses.toml", None, f"{aid}.threshold_source", "a decision threshold needs its source"))
        if "mid" in a and not a.get("mid_source"):
            problems.append(Problem("analyses.toml", None, f"{aid}.mid_source", "a minimal important difference needs its source"))
        for o in a.get("override", []) if isinstance(a.get("override"), list) else []:
            if o.get("domain") not in OVERRIDE_DOMAINS:
                problems.append(Problem("analyses.toml", None, f"{aid}.override.domain",
                                        f"{o.get('domain')!r} is not allowed; allowed: {', '.join(OVERRIDE_DOMAINS)}"))
            if o.get("rating") not in (0, -1, -2):
                problems.append(Problem("analyses.toml", None, f"{aid}.override.rating", f"{o.get('rating')!r} must be 0, -1 or -2"))
            if not str(o.get("reason", "")).strip():
                problems.append(Problem("analyses.toml", None, f"{aid}.override.reason", "an override needs a reason"))
        for key, allowed in (("conditions", CONDITIONS), ("eligible_conditions", CONDITIONS), ("interventions", INTERVENTIONS)):
            for v in a.get(key, []) if isinstance(a.get(key), list) else []:
                if v not in allowed:
                    problems.append(Problem("analyses.toml", None, f"{aid}.{key}", f"{v!r} is not allowed; allowed: {', '.join(allowed)}"))
        if isinstance(a.get("rows"), list) and not a["rows"]:
            problems.append(Problem("analyses.toml", None, f"{aid}.rows", "lists no rows"))
        if not bad:
            good.append(a)
    return good, {str(a.get("id")) for a in items}


def _spec(a: dict) -> AnalysisSpec:
    return AnalysisSpec(
        id=a["id"], title=a["title"], claims=tuple(a["claims"]), table=a["table"], rows=tuple(a["rows"]),
        measure=a["measure"], outcome_label=a["outcome_label"], population=a["population"],
        intervention=a["intervention"], comparator=a["comparator"], method=a.get("method", "REML"),
        knha=a.get("knha", True), mid=float(a["mid"]) if "mid" in a else None, mid_unit=a.get("mid_unit"),
        mid_source=a.get("mid_source"), per=float(a["per"]) if "per" in a else None, note=a.get("note"),
        overrides=tuple(a.get("override", [])), question=a.get("question", "effect"),
        comparison=a.get("comparison"), conditions=tuple(a.get("conditions", ())),
        interventions=tuple(a.get("interventions", ())),
        eligible_conditions=tuple(a.get("eligible_conditions", ())),
        threshold=float(a["threshold"]) if "threshold" in a else None, threshold_label=a.get("threshold_label"),
        threshold_source=a.get("threshold_source"),
    )


# --------------------------------------------------------------------------- entry points


def validate(path: str | Path) -> tuple[Evidence | None, list[Problem]]:
    """Check an evidence folder; return ``(evidence or None, problems)`` without raising."""
    folder = Path(path)
    problems: list[Problem] = []
    if not folder.is_dir():
        return None, [Problem(str(folder), None, None, "is not a folder; give the folder that holds studies.csv etc.")]
    tables: dict[str, pd.DataFrame] = {}
    checked: dict[str, pd.DataFrame] = {}  # rows without unparseable cells, for the row rules
    for name in COLUMNS:
        raw = _read_csv(folder / name, name, problems)
        if raw is None:
            continue
        typed, bad_rows = _coerce(raw, name, problems)
        _validate_columns(typed, name, problems, bad_rows)
        tables[name] = typed
        checked[name] = typed.drop(index=sorted(bad_rows))
    analyses, analysis_ids = _read_analyses(folder / "analyses.toml", problems)
    _row_rules(checked, problems)
    _cross_keys(tables, analyses, analysis_ids, problems)
    if problems:
        return None, sorted(set(problems), key=lambda p: (p.file, p.line or 0, p.column or "", p.message))
    ev = Evidence(
        path=folder.resolve(),
        studies=tables["studies.csv"],
        outcomes=tables["outcomes.csv"],
        safety=tables["safety.csv"],
        reviews=tables["reviews.csv"],
        claims=tables["claims.csv"],
        analyses=tuple(_spec(a) for a in analyses),
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
                                                             "install hipacu from a source checkout (pip install -e .) "
                                                             "or pass the path of an evidence folder")])
    ev, problems = validate(folder)
    if problems:
        raise EvidenceError(problems, folder)
    return ev  # type: ignore[return-value]  # validate returns evidence whenever there are no problems
