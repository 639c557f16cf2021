"""A planned analysis (one ``[[analysis]]`` of ``analyses.toml``), declared once.

:class:`AnalysisSpec` is the single declaration: each field's TOML type, whether it is required,
its default and its allowed values live in the field's metadata, and the reader
(:func:`read_analyses`), the data dictionary test and the error messages are derived from it.
Curated overrides of a GRADE domain are the frozen :class:`Override`.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

__all__ = ["AnalysisSpec", "Override", "ANALYSIS_KEYS", "OVERRIDE_DOMAINS", "MEASURES", "MODELS", "TESTS",
           "read_analyses", "ID_PATTERN"]

ID_PATTERN = r"^[A-Za-z0-9_.\-]+$"
MEASURES = ("SMD", "MD", "ROM", "RR", "OR", "RD", "PLO", "IRLN")
#: Model families an analysis may ask for (``rma``: inverse-variance FE/RE; the others land with their models).
MODELS = ("rma", "glmm", "bayes")
#: Interval/test choices of an inverse-variance model (metafor ``test``).
TESTS = ("z", "t", "knha", "adhoc")
OVERRIDE_DOMAINS = ("risk_of_bias", "inconsistency", "indirectness", "imprecision", "publication_bias")


def _key(typ, *, required: bool = False, allowed: tuple | str | None = None, doc: str = "", default=MISSING,
         default_factory=MISSING):
    """A spec field: ``typ`` is the TOML type (``float`` accepts integers), ``allowed`` a tuple of values
    or the name of a topic vocabulary (``"vocabulary:conditions"``), ``"methods"`` (pooling codes) or
    ``"designs"`` (study designs of ``studies.csv``)."""
    meta = {"type": typ, "required": required, "allowed": allowed, "doc": doc}
    if default_factory is not MISSING:
        return field(default_factory=default_factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Override:
    """A curated replacement of one GRADE domain's computed rating, with its reason."""

    domain: str
    rating: int
    reason: str


@dataclass(frozen=True)
class AnalysisSpec:
    """One planned analysis from ``analyses.toml`` (keys documented in evidence/README.md)."""

    id: str = _key(str, required=True, doc="key, `[A-Za-z0-9_.-]+`")
    title: str = _key(str, required=True, doc="one line for figures and tables")
    table: str = _key(str, required=True, allowed=("outcomes", "safety"), doc="where the rows are")
    rows: tuple[str, ...] = _key(list, required=True, doc="outcome_id or safety_id values; each is pooled or excluded with its reason")
    measure: str = _key(str, required=True, allowed=MEASURES, doc="effect measure (metafor codes)")
    outcome_label: str = _key(str, required=True, doc="outcome with instrument and time frame")
    population: str = _key(str, required=True, doc="who the question is about")
    intervention: str = _key(str, required=True, doc="intervention as the question names it")
    comparator: str = _key(str, required=True, doc="comparator as the question names it")
    claims: tuple[str, ...] = _key(list, default=(), doc="claim ids in claims.csv that this analysis tests")
    combine: tuple[tuple[str, ...], ...] = _key(list, default=(), doc="groups of rows of one multi-arm trial whose comparator arms are combined (Handbook 23.3.4), e.g. [[\"a\", \"b\"]]")
    outcomes: tuple[str, ...] = _key(list, allowed="vocabulary:outcomes", default=(), doc="outcome kinds the question is about (rows of other kinds count as indirect)")
    model: str | None = _key(str, allowed=MODELS, default=None, doc="model family: rma (inverse variance), glmm, bayes; unset: the model rule chooses (glmm for rates, else rma)")
    method: str = _key(str, allowed="methods", default="REML", doc="metafor tau² code or `FE` (rma) ")
    knha: bool | None = _key(bool, default=None, doc="true: Hartung-Knapp interval (same as test = \"knha\"); unset: the few-studies rule chooses")
    test: str | None = _key(str, allowed=TESTS, default=None, doc="interval: z, t, knha or adhoc; unset: the few-studies rule chooses")
    prior: str | None = _key(str, default=None, doc="prior on tau for model = \"bayes\", e.g. `half_normal(0.5)`")
    mid: float | None = _key(float, default=None, doc="minimal important difference, natural scale, > 0")
    mid_unit: str | None = _key(str, default=None, doc="unit of the MID")
    mid_source: str | None = _key(str, default=None, doc="where the MID comes from (required with mid)")
    ois_sd: float | None = _key(float, default=None, doc="outcome SD for the optimal information size (else pooled from the arm data)")
    ois_sd_source: str | None = _key(str, default=None, doc="source of ois_sd")
    control_risk: float | None = _key(float, default=None, doc="assumed comparator risk (0-1) for binary outcomes")
    control_risk_source: str | None = _key(str, default=None, doc="source of control_risk")
    per: float | None = _key(float, default=None, doc="report rates per this many (e.g. 10000)")
    note: str | None = _key(str, default=None, doc="curation notes")
    overrides: tuple[Override, ...] = _key(list, default=(), doc="[[analysis.override]] tables: domain, rating, reason")
    question: str = _key(str, allowed=("effect", "frequency"), default="effect", doc="`frequency`: single-group rates")
    comparison: str | None = _key(str, allowed="vocabulary:comparisons", default=None, doc="comparison family that makes a study eligible")
    conditions: tuple[str, ...] = _key(list, allowed="vocabulary:conditions", default=(), doc="populations the question is about (others indirect)")
    interventions: tuple[str, ...] = _key(list, allowed="vocabulary:interventions", default=(), doc="interventions the question is about (others indirect)")
    eligible_conditions: tuple[str, ...] = _key(list, allowed="vocabulary:conditions", default=(), doc="populations whose studies are eligible (default: conditions)")
    designs: tuple[str, ...] = _key(list, allowed="designs", default=(), doc="study designs pooled, e.g. [\"rct\", \"quasi_randomised\"] (default: randomised trials only, when any listed row is from one)")
    threshold: float | None = _key(float, default=None, doc="decision threshold for a rate, per `per`")
    threshold_label: str | None = _key(str, default=None, doc="what the threshold means, e.g. `rare (CIOMS)`")
    threshold_source: str | None = _key(str, default=None, doc="where the threshold comes from (required with threshold)")

    @property
    def test_choice(self) -> str | None:
        """The interval the spec asks for (``test``, else ``"knha"``/``"z"`` from ``knha``), or ``None``
        when it leaves the choice to the few-studies rule."""
        if self.test is not None:
            return self.test
        if self.knha is None:
            return None
        return "knha" if self.knha else "z"


#: TOML key -> (type, required) for every key of an ``[[analysis]]`` (``override`` is the TOML name of ``overrides``).
ANALYSIS_KEYS: dict[str, tuple[type, bool]] = {
    ("override" if f.name == "overrides" else f.name): (f.metadata["type"], f.metadata["required"]) for f in fields(AnalysisSpec)
}
_FIELD = {("override" if f.name == "overrides" else f.name): f for f in fields(AnalysisSpec)}


def _type_ok(value: Any, typ: type) -> bool:
    if typ is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, typ)


def _allowed(spec_allowed, topic) -> tuple | None:
    if spec_allowed is None:
        return None
    if spec_allowed == "designs":
        from hipacu.evidence import DESIGNS

        return DESIGNS
    if spec_allowed == "methods":
        from hipacu.models.pooling import METHODS

        return METHODS
    if isinstance(spec_allowed, str) and spec_allowed.startswith("vocabulary:"):
        return topic.allowed(spec_allowed.split(":", 1)[1]) if topic is not None else None
    return spec_allowed


def read_analyses(path: Path, problems: list, topic=None) -> tuple[list[AnalysisSpec], set[str] | None]:
    """Valid analyses, and the ids of all analyses (``None`` when the file could not be read)."""
    from hipacu.evidence import Problem

    def bad(col, msg):
        problems.append(Problem("analyses.toml", None, col, msg))

    if not path.exists():
        bad(None, f"file is missing from {path.parent}")
        return [], None
    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        bad(None, "is not UTF-8; save the file as UTF-8")
        return [], None
    except tomllib.TOMLDecodeError as exc:
        bad(None, f"is not valid TOML: {exc}")
        return [], None
    items = data.get("analysis", [])
    if not isinstance(items, list) or not items or not all(isinstance(a, dict) for a in items):
        bad(None, "needs at least one [[analysis]] table")
        return [], None
    seen: set[str] = set()
    good = []
    for n, a in enumerate(items, start=1):
        aid = a.get("id", f"#{n}")
        ok = True
        for key, f in _FIELD.items():
            typ, required = f.metadata["type"], f.metadata["required"]
            if key not in a:
                if required:
                    bad(f"{aid}.{key}", "a value is required")
                    ok = False
                continue
            v = a[key]
            if not _type_ok(v, typ):
                bad(f"{aid}.{key}", f"{v!r} must be a {typ.__name__}")
                ok = False
                continue
            allowed = _allowed(f.metadata["allowed"], topic)
            if allowed is not None:
                for item in (v if typ is list else [v]):
                    if item not in allowed:
                        bad(f"{aid}.{key}", f"{item!r} is not allowed; allowed: {', '.join(map(str, allowed))}")
                        ok = False
        for key in a:
            if key not in _FIELD:
                bad(f"{aid}.{key}", f"unknown key (allowed: {', '.join(_FIELD)})")
        if aid in seen:
            bad(f"{aid}.id", f"duplicate analysis id {aid!r}")
        seen.add(aid)
        if isinstance(aid, str) and not re.match(ID_PATTERN, aid):
            bad(f"{aid}.id", f"must match {ID_PATTERN}")
        for key in ("mid", "ois_sd", "per"):
            if _type_ok(a.get(key), float) and a[key] <= 0:
                bad(f"{aid}.{key}", "must be > 0" + (" (a distance from no effect, on the measure's natural scale)"
                                                     if key == "mid" else ""))
        if _type_ok(a.get("control_risk"), float) and not 0 < a["control_risk"] < 1:
            bad(f"{aid}.control_risk", "must be between 0 and 1 (a risk, not a percentage)")
        for key, src, what in (("threshold", "threshold_source", "a decision threshold"),
                               ("mid", "mid_source", "a minimal important difference"),
                               ("ois_sd", "ois_sd_source", "an outcome SD for the optimal information size"),
                               ("control_risk", "control_risk_source", "an assumed comparator risk")):
            if key in a and not a.get(src):
                bad(f"{aid}.{src}", f"{what} needs its source")
        overrides = []
        for o in a.get("override", []) if isinstance(a.get("override"), list) else []:
            if not isinstance(o, dict):
                bad(f"{aid}.override", "each override must be a table with domain, rating and reason")
                ok = False
                continue
            o_ok = True
            if o.get("domain") not in OVERRIDE_DOMAINS:
                bad(f"{aid}.override.domain", f"{o.get('domain')!r} is not allowed; allowed: {', '.join(OVERRIDE_DOMAINS)}")
                o_ok = False
            if o.get("rating") not in (0, -1, -2) or isinstance(o.get("rating"), bool):
                bad(f"{aid}.override.rating", f"{o.get('rating')!r} must be 0, -1 or -2")
                o_ok = False
            if not str(o.get("reason", "")).strip():
                bad(f"{aid}.override.reason", "an override needs a reason")
                o_ok = False
            for key in o:
                if key not in ("domain", "rating", "reason"):
                    bad(f"{aid}.override.{key}", "unknown key (allowed: domain, rating, reason)")
                    o_ok = False
            if o_ok:
                overrides.append(Override(o["domain"], int(o["rating"]), str(o["reason"]).strip()))
            ok &= o_ok
        if isinstance(a.get("rows"), list) and not a["rows"]:
            bad(f"{aid}.rows", "lists no rows")
        if isinstance(a.get("combine"), list):
            listed, used = set(a.get("rows", [])) if isinstance(a.get("rows"), list) else set(), set()
            for g in a["combine"]:
                if not isinstance(g, list) or len(g) < 2 or not all(isinstance(x, str) for x in g):
                    bad(f"{aid}.combine", f"{g!r} must be a list of at least two row ids")
                    ok = False
                    continue
                for rid in g:
                    if rid not in listed:
                        bad(f"{aid}.combine", f"{rid!r} is not in rows")
                        ok = False
                    if rid in used:
                        bad(f"{aid}.combine", f"{rid!r} is in two combine groups")
                        ok = False
                    used.add(rid)
        if isinstance(a.get("prior"), str):
            from hipacu.models.priors import parse_tau_prior

            try:
                parse_tau_prior(a["prior"])
            except ValueError as exc:
                bad(f"{aid}.prior", str(exc))
                ok = False
        if "test" in a and "knha" in a and a.get("knha") and a.get("test") != "knha":
            bad(f"{aid}.knha", f"knha = true conflicts with test = {a.get('test')!r}; give one of them")
            ok = False
        if ok:
            good.append(_spec(a, tuple(overrides)))
    return good, {str(a.get("id")) for a in items}


def _spec(a: dict, overrides: tuple[Override, ...]) -> AnalysisSpec:
    kw = {}
    for key, f in _FIELD.items():
        if key == "override":
            kw["overrides"] = overrides
        elif key in a:
            v = a[key]
            if f.name == "combine":
                kw[f.name] = tuple(tuple(g) for g in v)
            else:
                kw[f.name] = tuple(v) if f.metadata["type"] is list else (float(v) if f.metadata["type"] is float else v)
    return AnalysisSpec(**kw)
