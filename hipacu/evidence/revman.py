"""Read a RevMan 5 review file (``.rm5``, XML): comparisons, outcomes, subgroups, per-study data and
RevMan's own stored results.

The parts of the RevMan 5 schema read here (learned from RevMan 5 files and from R meta's reader,
``read.rm5``; this parser is hipacu's own):

- ``COCHRANE_REVIEW > COVER_SHEET > TITLE``; included studies
  ``STUDIES_AND_REFERENCES > STUDIES > INCLUDED_STUDIES > STUDY`` (``ID``, ``NAME``, ``YEAR``);
- ``ANALYSES_AND_DATA > COMPARISON`` (``NO``, ``NAME``) > ``DICH_OUTCOME`` / ``CONT_OUTCOME`` /
  ``IV_OUTCOME`` (``NO``, ``NAME``, ``GROUP_LABEL_1/2``, ``GRAPH_LABEL_1/2``), optionally
  > ``*_SUBGROUP`` (``NAME``), > ``*_DATA`` per study;
- the outcome's analysis: ``METHOD`` (``MH``, ``IV``, ``PETO``), ``EFFECT_MEASURE`` (``RR``, ``OR``,
  ``RD``, ``PETO_OR``, ``MD``, ``SMD``; for ``IV_OUTCOME`` a child element in words, e.g. "Hazard
  Ratio"), ``RANDOM`` (``YES``: DerSimonian-Laird), ``CI_STUDY`` / ``CI_TOTAL`` (percent);
- RevMan's stored totals, on the outcome and on each subgroup: ``EFFECT_SIZE``, ``CI_START``,
  ``CI_END`` (natural scale: ratios for ratio measures), ``CHI2``, ``DF``, ``P_CHI2``, ``I2`` (the
  heterogeneity test), ``TAU2``, ``Z``, ``P_Z`` (the test of the overall effect), and on the outcome
  ``Q``, ``P_Q``, ``I2_Q`` (the test for subgroup differences), ``EVENTS_1/2``, ``TOTAL_1/2``;
  ``LOG_*`` attributes are log10 values for plotting and are not read;
- per study: ``STUDY_ID``, ``EVENTS_1/2``, ``TOTAL_1/2`` (dichotomous); ``MEAN_1/2``, ``SD_1/2``,
  ``TOTAL_1/2`` (continuous); ``EFFECT_SIZE``, ``SE``, ``CI_START``, ``CI_END`` (generic inverse
  variance); RevMan's ``WEIGHT`` (percent) and ``ORDER``.

Nothing is computed here: :func:`read_rm5` returns the file's contents as frozen records;
``hipacu.read_revman`` turns them into :class:`hipacu.meta.MetaAnalysis` objects.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["RevManError", "RevManStudy", "RevManGroup", "RevManOutcome", "RevManReview", "read_rm5", "MEASURES_IN_WORDS",
           "TOTAL_KEYS"]

#: IV_OUTCOME effect measures written in words -> hipacu / metafor codes.
MEASURES_IN_WORDS = {"risk ratio": "RR", "odds ratio": "OR", "hazard ratio": "HR", "risk difference": "RD",
                     "mean difference": "MD", "std. mean difference": "SMD", "standardized mean difference": "SMD",
                     "standardised mean difference": "SMD", "ratio of means": "ROM"}
#: Stored totals read from an outcome or subgroup element (attribute -> key).
TOTAL_KEYS = {"EFFECT_SIZE": "effect", "CI_START": "ci_start", "CI_END": "ci_end", "CHI2": "chi2", "DF": "df",
              "P_CHI2": "p_chi2", "I2": "i2", "TAU2": "tau2", "Z": "z", "P_Z": "p_z", "Q": "q_between",
              "P_Q": "p_between", "I2_Q": "i2_between", "EVENTS_1": "events1", "EVENTS_2": "events2",
              "TOTAL_1": "total1", "TOTAL_2": "total2", "WEIGHT": "weight", "STUDIES": "studies"}
_DATA = {"DICH": ("EVENTS_1", "TOTAL_1", "EVENTS_2", "TOTAL_2"),
         "CONT": ("MEAN_1", "SD_1", "TOTAL_1", "MEAN_2", "SD_2", "TOTAL_2"),
         "IV": ("EFFECT_SIZE", "SE", "CI_START", "CI_END", "TOTAL_1", "TOTAL_2")}
_KEY = {"EVENTS_1": "events1", "TOTAL_1": "n1", "EVENTS_2": "events2", "TOTAL_2": "n2", "MEAN_1": "mean1",
        "SD_1": "sd1", "MEAN_2": "mean2", "SD_2": "sd2", "EFFECT_SIZE": "estimate", "SE": "sei", "CI_START": "ci_low",
        "CI_END": "ci_high"}


class RevManError(ValueError):
    """The file is not a RevMan 5 review this reader understands; the message says where and why."""


@dataclass(frozen=True)
class RevManStudy:
    """One study's data in one outcome: ``values`` under hipacu's names (``events1, n1, ...``; NaN
    where the file leaves a field empty), RevMan's ``weight`` (percent) and its subgroup."""

    study_id: str
    label: str
    values: dict
    weight: float = math.nan
    order: float = math.nan
    subgroup: str | None = None
    estimable: bool = True


@dataclass(frozen=True)
class RevManGroup:
    """A subgroup and its stored totals."""

    name: str
    totals: dict


@dataclass(frozen=True)
class RevManOutcome:
    """One analysis of a RevMan review (comparison x outcome)."""

    comparison_no: int
    comparison: str
    outcome_no: int
    name: str
    kind: str  # DICH, CONT or IV
    method: str  # MH, IV or PETO
    measure: str  # RR, OR, RD, MD, SMD, HR, ... (PETO_OR is read as OR with method PETO)
    random: bool
    ci_study: float
    ci_total: float
    totals: dict
    studies: tuple[RevManStudy, ...]
    subgroups: tuple[RevManGroup, ...] = ()
    group_label_1: str = ""
    group_label_2: str = ""
    graph_label_1: str = ""
    graph_label_2: str = ""
    log_data: bool | None = None

    @property
    def id(self) -> str:
        """``"comparison.outcome"``, e.g. ``"1.2"`` (RevMan's analysis number)."""
        return f"{self.comparison_no}.{self.outcome_no}"


@dataclass(frozen=True)
class RevManReview:
    """What :func:`read_rm5` read: the title, the included studies and every outcome."""

    path: Path
    title: str
    studies: dict = field(default_factory=dict)  # study id -> (name, year)
    outcomes: tuple[RevManOutcome, ...] = ()

    def outcome(self, id: str) -> RevManOutcome:
        for o in self.outcomes:
            if o.id == id:
                return o
        raise KeyError(f"no outcome {id!r} in {self.path.name}; outcomes: {', '.join(o.id for o in self.outcomes)}")


def _float(el: ET.Element, attr: str, where: str) -> float:
    v = el.get(attr)
    if v is None or v.strip() == "":
        return math.nan
    try:
        return float(v.replace(",", ""))
    except ValueError as exc:
        raise RevManError(f"{where}: attribute {attr}={v!r} is not a number") from exc


def _text(el: ET.Element | None, tag: str) -> str:
    if el is None:
        return ""
    child = el.find(tag)
    return "" if child is None else "".join(child.itertext()).strip()


def _totals(el: ET.Element, where: str) -> dict:
    return {key: _float(el, attr, where) for attr, key in TOTAL_KEYS.items() if el.get(attr) is not None}


def read_rm5(path: str | Path) -> RevManReview:
    """Read a RevMan 5 file.

    Raises
    ------
    RevManError
        Not XML, not a RevMan 5 review, or an outcome this reader cannot read (the message names the
        comparison and outcome).
    """
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise RevManError(f"{path.name} is not a readable XML file ({exc}); RevMan 5 files (.rm5) are XML") from exc
    except OSError as exc:
        raise RevManError(f"cannot read {path}: {exc}") from exc
    if root.tag != "COCHRANE_REVIEW":
        raise RevManError(f"{path.name}: the root element is <{root.tag}>, not <COCHRANE_REVIEW>: not a RevMan 5 review")
    title = _text(root.find("COVER_SHEET"), "TITLE")
    studies = {}
    for st in root.iter("STUDY"):
        if st.get("ID"):
            studies[st.get("ID")] = (st.get("NAME") or st.get("ID"), st.get("YEAR") or "")
    data = root.find("ANALYSES_AND_DATA")
    outcomes = []
    for comp in ([] if data is None else data.findall("COMPARISON")):
        cno = int(_float(comp, "NO", "COMPARISON") or 0)
        cname = _text(comp, "NAME")
        for kind in ("DICH", "CONT", "IV"):
            for out in comp.findall(f"{kind}_OUTCOME"):
                outcomes.append(_outcome(out, kind, cno, cname, studies))
    outcomes.sort(key=lambda o: (o.comparison_no, o.outcome_no))
    return RevManReview(path=path, title=title, studies=studies, outcomes=tuple(outcomes))


def _outcome(out: ET.Element, kind: str, cno: int, cname: str, studies: dict) -> RevManOutcome:
    ono = int(_float(out, "NO", f"comparison {cno}") or 0)
    where = f"comparison {cno}, outcome {ono} ({_text(out, 'NAME')!r})"
    method = (out.get("METHOD") or ("IV" if kind in ("CONT", "IV") else "")).upper()
    if method not in ("MH", "IV", "PETO"):
        raise RevManError(f"{where}: METHOD={out.get('METHOD')!r} is not one of MH, IV, PETO")
    measure = (out.get("EFFECT_MEASURE") or "").upper()
    if kind == "IV" and not measure:
        words = _text(out, "EFFECT_MEASURE").lower()
        measure = MEASURES_IN_WORDS.get(words, "")
        if not measure:
            raise RevManError(f"{where}: the generic inverse-variance effect measure {words!r} is not one hipacu knows "
                              f"({', '.join(MEASURES_IN_WORDS)})")
    if measure == "PETO_OR":
        measure, method = "OR", "PETO"
    allowed = {"DICH": ("RR", "OR", "RD"), "CONT": ("MD", "SMD"), "IV": tuple(MEASURES_IN_WORDS.values())}[kind]
    if measure not in allowed:
        raise RevManError(f"{where}: EFFECT_MEASURE={out.get('EFFECT_MEASURE')!r} is not one of {', '.join(allowed)} "
                          f"for {kind} data")
    rows = []

    def read_data(parent: ET.Element, group: str | None):
        for d in parent.findall(f"{kind}_DATA"):
            sid = d.get("STUDY_ID") or ""
            name, year = studies.get(sid, (sid, ""))
            label = f"{name} {year}".strip() if year and year not in name else name
            vals = {_KEY[a]: _float(d, a, f"{where}, study {sid}") for a in _DATA[kind]}
            rows.append(RevManStudy(study_id=sid, label=label, values=vals, weight=_float(d, "WEIGHT", where),
                                    order=_float(d, "ORDER", where), subgroup=group,
                                    estimable=(d.get("ESTIMABLE") or "YES").upper() == "YES"))

    groups = []
    subs = out.findall(f"{kind}_SUBGROUP")
    for sg in subs:
        name = _text(sg, "NAME") or f"subgroup {sg.get('NO')}"
        groups.append(RevManGroup(name=name, totals=_totals(sg, f"{where}, subgroup {name!r}")))
        read_data(sg, name)
    read_data(out, None)
    log_data = None if out.get("LOG_DATA") is None else out.get("LOG_DATA").upper() == "YES"
    return RevManOutcome(
        comparison_no=cno, comparison=cname, outcome_no=ono, name=_text(out, "NAME"), kind=kind, method=method,
        measure=measure, random=(out.get("RANDOM") or "NO").upper() == "YES",
        ci_study=_float(out, "CI_STUDY", where) if out.get("CI_STUDY") else 95.0,
        ci_total=_float(out, "CI_TOTAL", where) if out.get("CI_TOTAL") else 95.0,
        totals=_totals(out, where), studies=tuple(rows), subgroups=tuple(groups),
        group_label_1=_text(out, "GROUP_LABEL_1"), group_label_2=_text(out, "GROUP_LABEL_2"),
        graph_label_1=_text(out, "GRAPH_LABEL_1"), graph_label_2=_text(out, "GRAPH_LABEL_2"), log_data=log_data,
    )
