"""Summary of Findings and evidence profile, laid out as GRADEpro prints them.

The Summary of Findings (Cochrane Handbook v6 ch. 14, Schünemann et al. 2019; GRADE 12, Guyatt
2013) gives one row per outcome: the outcome with its time frame; the anticipated absolute effects
(risk with the comparator, risk with the intervention and the difference, per 1,000) for binary
outcomes, or the comparator mean and the mean difference for continuous ones; the relative effect;
participants (studies) named by their unit; the certainty with its symbols; comments; and numbered
footnotes, each attached to the cell it explains and citing what it rests on.

**Absolute effects** (Handbook 14.1.5.1; GRADE 12): the risk with the intervention is the assumed
comparator risk (ACR) combined with the relative effect and its CI: ``ACR × RR`` for a risk ratio,
``ACR · OR / (1 − ACR + ACR · OR)`` for an odds ratio, ``ACR + RD`` for a risk difference; the
difference is ``per × (risk with intervention − ACR)``, rounded half away from zero. The ACR is the
analysis's ``control_risk`` (``analyses.toml``, with its source) when given, else the pooled
comparator-arm risk of the included trials (events over participants in their comparator arms,
GRADEpro's default "study population" risk); the table says which.

The **evidence profile** (:func:`evidence_profile`) is GRADEpro's other view: per outcome every
domain's rating (not serious / serious / very serious) with its computed rationale.

References: Schünemann HJ et al. Completing 'Summary of findings' tables and grading the certainty
of the evidence. Cochrane Handbook v6.4, chapter 14 (2023). Guyatt GH et al. GRADE guidelines 12:
preparing summary of findings tables - binary outcomes. J Clin Epidemiol 2013;66:158-172. GRADE 13
(Guyatt 2013): continuous outcomes. Santesso N et al. GRADE 26 (2020): informative statements.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hipacu.evidence import Evidence
from hipacu.review.analysis import AnalysisResult, run_all
from hipacu.review.grading import DOMAINS, LEVELS, Grade, grade

__all__ = ["ABSOLUTE_PER", "BINARY_MEASURES", "SOF_COLUMNS", "SOF_HEADINGS", "RATING_WORDS", "AbsoluteEffect",
           "Footnote", "absolute_effect", "assumed_comparator_risk", "summary_of_findings", "sof_footnotes",
           "sof_html", "sof_groups", "footnote_marks", "evidence_profile", "evidence_profile_html", "CERTAINTY_DEFINITIONS"]

#: Absolute effects are given per this many people (GRADEpro's and the Handbook's default, 14.1.5.1).
ABSOLUTE_PER = 1000
#: Measures with anticipated absolute effects (binary outcomes with a comparator arm).
BINARY_MEASURES = ("RR", "OR", "RD")
#: The Summary of Findings columns a reader sees, in GRADEpro's order (see :data:`SOF_HEADINGS`).
SOF_COLUMNS = ("outcome", "risk_comparator", "risk_intervention", "risk_difference", "relative_effect",
               "participants_studies", "certainty", "comments")
SOF_HEADINGS = {"outcome": "Outcomes", "risk_comparator": "Risk with comparator",
                "risk_intervention": "Risk with intervention", "risk_difference": "Difference",
                "relative_effect": "Relative effect (95% CI)", "participants_studies": "№ of participants (studies)",
                "certainty": "Certainty of the evidence (GRADE)", "comments": "Comments"}
#: GRADEpro's words for a domain's rating in the evidence profile.
RATING_WORDS = {0: "not serious", -1: "serious", -2: "very serious"}
_PUBLICATION_WORDS = {0: "not detected", -1: "strongly suspected", -2: "very strongly suspected"}
#: The GRADE Working Group's definitions, printed under every Summary of Findings table (Handbook 14.2.1).
CERTAINTY_DEFINITIONS = (
    ("high", "we are very confident that the true effect lies close to that of the estimate of the effect"),
    ("moderate", "we are moderately confident in the effect estimate: the true effect is likely to be close to "
                 "the estimate of the effect, but there is a possibility that it is substantially different"),
    ("low", "our confidence in the effect estimate is limited: the true effect may be substantially different "
            "from the estimate of the effect"),
    ("very low", "we have very little confidence in the effect estimate: the true effect is likely to be "
                 "substantially different from the estimate of effect"),
)
_DESIGN_NAMES = {"rct": ("RCT", "RCTs"), "quasi_randomised": ("quasi-randomised trial", "quasi-randomised trials"),
                 "non_randomised": ("non-randomised study", "non-randomised studies"),
                 "prospective_cohort": ("prospective cohort", "prospective cohorts"),
                 "retrospective_cohort": ("retrospective cohort", "retrospective cohorts"),
                 "survey": ("survey", "surveys"), "case_series": ("case series", "case series")}


# --------------------------------------------------------------------------- absolute effects


def _round_half_away(x: float) -> int:
    """Round to an integer, halves away from zero (12.5 -> 13), as printed tables do; ``x`` is first
    rounded to 9 decimals so that floating-point noise (100 × (0.075 − 0.1) = −2.4999999999999996) does
    not move a printed half."""
    return int(math.copysign(math.floor(abs(round(x, 9)) + 0.5), x))


def _count(x: float) -> str:
    return f"{_round_half_away(x):,}"


def _more_fewer(x: float) -> str:
    """``"2 fewer"`` / ``"12 more"``: a difference per ``per`` people; an exact zero is ``"0 more"``,
    as GRADEpro prints it (CAPRIE, Handbook example)."""
    n = _round_half_away(abs(x))
    return f"{n:,} {'fewer' if round(x, 9) < 0 else 'more'}"


@dataclass(frozen=True)
class AbsoluteEffect:
    """The anticipated absolute effect of a binary outcome (Cochrane Handbook 14.1.5.1; GRADE 12).

    Attributes
    ----------
    measure : str
        ``"RR"``, ``"OR"`` or ``"RD"``.
    comparator_risk : float
        The assumed comparator risk (a proportion).
    intervention_risk, intervention_risk_low, intervention_risk_high : float
        The corresponding risk with the intervention and its CI (proportions, full precision).
    per : int
        Express risks per this many people (:data:`ABSOLUTE_PER`).
    """

    measure: str
    comparator_risk: float
    intervention_risk: float
    intervention_risk_low: float
    intervention_risk_high: float
    per: int = ABSOLUTE_PER

    @property
    def difference(self) -> tuple[float, float, float]:
        """``(estimate, low, high)`` of ``per × (risk with intervention − comparator risk)``, unrounded."""
        return tuple(self.per * (r - self.comparator_risk)  # type: ignore[return-value]
                     for r in (self.intervention_risk, self.intervention_risk_low, self.intervention_risk_high))

    def comparator_text(self) -> str:
        """e.g. ``"120 per 1,000"``."""
        return f"{_count(self.per * self.comparator_risk)} per {self.per:,}"

    def intervention_text(self) -> str:
        """e.g. ``"118 per 1,000 (104 to 132)"``."""
        est, lo, hi = (self.per * r for r in (self.intervention_risk, self.intervention_risk_low,
                                               self.intervention_risk_high))
        return f"{_count(est)} per {self.per:,} ({_count(lo)} to {_count(hi)})"

    def difference_text(self) -> str:
        """e.g. ``"2 fewer per 1,000 (from 16 fewer to 12 more)"``, GRADEpro's wording."""
        est, lo, hi = self.difference
        return f"{_more_fewer(est)} per {self.per:,} (from {_more_fewer(lo)} to {_more_fewer(hi)})"


def absolute_effect(measure: str, estimate: float, ci_low: float, ci_high: float, comparator_risk: float, *,
                    per: int = ABSOLUTE_PER) -> AbsoluteEffect:
    """Anticipated absolute effect from a relative effect and an assumed comparator risk.

    ``estimate, ci_low, ci_high`` are on the reporting scale (ratios for RR/OR, a difference of
    proportions for RD). The risk with the intervention is ``ACR × RR`` (RR), ``ACR · OR / (1 − ACR +
    ACR · OR)`` (OR) or ``ACR + RD`` (RD), applied to the estimate and to each CI limit (GRADE 12,
    Guyatt 2013; Cochrane Handbook 14.1.5.1).
    """
    if measure not in BINARY_MEASURES:
        raise ValueError(f"measure={measure!r} has no absolute effect; choose one of {', '.join(map(repr, BINARY_MEASURES))}")
    if not 0 <= comparator_risk <= 1:
        raise ValueError(f"comparator_risk = {comparator_risk!r}; it must be a proportion between 0 and 1")
    if per <= 0:
        raise ValueError(f"per = {per!r}; it must be > 0")

    def risk(effect: float) -> float:
        if measure == "RR":
            return comparator_risk * effect
        if measure == "OR":
            return comparator_risk * effect / (1 - comparator_risk + comparator_risk * effect)
        return comparator_risk + effect

    return AbsoluteEffect(measure, float(comparator_risk), risk(estimate), risk(ci_low), risk(ci_high), per)


def assumed_comparator_risk(result: AnalysisResult) -> tuple[float | None, str, str]:
    """``(risk, how, source)``: the assumed comparator risk of a binary analysis.

    The analysis's ``control_risk`` (with its ``control_risk_source``) when ``analyses.toml`` gives
    one, else the pooled comparator-arm risk of the included trials (sum of comparator events over
    the sum of comparator participants); ``(None, why not, "")`` without either.
    """
    spec = result.spec
    if spec.control_risk is not None:
        return (float(spec.control_risk), f"assumed comparator risk {spec.control_risk:g} given in analyses.toml",
                spec.control_risk_source or "analyses.toml control_risk (no source recorded)")
    inc = result.included
    ok = inc["events2"].notna() & inc["n2"].notna() if len(inc) else pd.Series(dtype=bool)
    if not ok.any() or float(inc.loc[ok, "n2"].sum()) <= 0:
        return None, "no comparator-arm counts among the pooled studies and no control_risk in analyses.toml", ""
    events, total = float(inc.loc[ok, "events2"].sum()), float(inc.loc[ok, "n2"].sum())
    m = int(ok.sum())
    how = (f"pooled comparator-arm risk of the included trials: {events:,.0f} events among {total:,.0f} participants "
           f"in the comparator arms of {m} {'trial' if m == 1 else 'trials'}")
    return events / total, how, f"{spec.table}.csv events2 and n2 of rows {', '.join(inc.loc[ok, 'row_id'])}"


# --------------------------------------------------------------------------- footnotes


@dataclass(frozen=True)
class Footnote:
    """One numbered footnote of a Summary of Findings table.

    ``number`` is shared by identical footnotes (as GRADEpro reuses a letter); ``column`` is the
    cell it explains (one of :data:`SOF_COLUMNS`); ``source`` is what it rests on (files, columns,
    guidance, URLs)."""

    number: int
    column: str
    text: str
    source: str

    def __str__(self) -> str:
        return f"{self.number}. {self.text}" + (f" [Source: {self.source}]" if self.source else "")


def _unit(r: AnalysisResult, evidence: Evidence | None) -> str:
    """The unit of the participants count: participants, or a frequency question's denominator unit."""
    if r.spec.question != "frequency":
        return "participants"
    if evidence is not None and len(r.included):
        units = evidence.safety.set_index("safety_id").loc[list(r.included["row_id"]), "denominator_unit"].unique()
        return " / ".join(str(u).replace("_", " ") for u in sorted(units))
    return "units"


def _designs(inc: pd.DataFrame) -> str:
    """``"3 RCTs"`` or ``"13 studies: 7 RCTs, 6 quasi-randomised trials"``."""
    k = len(inc)
    if not k:
        return "0 studies"
    counts = inc["design"].value_counts()
    parts = []
    for design in sorted(counts.index, key=lambda d: (-counts[d], d)):
        one, many = _DESIGN_NAMES.get(design, (design.replace("_", " ") + " study", design.replace("_", " ") + " studies"))
        parts.append(f"{counts[design]} {one if counts[design] == 1 else many}")
    if len(parts) == 1:
        return parts[0]
    return f"{k} studies: {', '.join(parts)}"


def _domain_source(domain: str, r: AnalysisResult, evidence: Evidence, g: Grade) -> str:
    """What a domain's judgement rests on: the guidance and the evidence columns (with URLs)."""
    j = g.judgement(domain)
    spec, inc = r.spec, r.included
    parts = [j.guidance] if j.guidance else []
    if j.override:
        parts.append("analyses.toml [[analysis.override]] (curated, with its reason)")
    if domain == "risk_of_bias":
        st = evidence.studies.set_index("study_id")
        urls = sorted({str(u) for u in st.loc[list(inc["study_id"]), "rob_source_url"].dropna() if str(u).startswith("http")})
        parts.append("studies.csv risk-of-bias columns (rob_*, rob_support, rob_source) of the pooled studies"
                     + (f"; appraisals at {', '.join(urls)}" if urls else ""))
        if len(r.implausible_labels):
            parts.append("studies.csv implausible, implausible_reason")
    elif domain == "inconsistency":
        parts.append(f"I² and Cochran's Q of the pooled model ({spec.method})")
    elif domain == "indirectness":
        parts.append("studies.csv condition, intervention, comparison and co_intervention_arms against the question "
                     "in analyses.toml")
    elif domain == "imprecision":
        if spec.question == "frequency":
            parts.append("CIOMS III frequency bands" + (f"; threshold {spec.threshold:g} per {spec.per:g}: "
                                                       f"{spec.threshold_source}" if spec.threshold is not None else ""))
        elif spec.mid is not None:
            parts.append(f"MID {spec.mid:g} {spec.mid_unit or ''}".rstrip() + f": {spec.mid_source}")
        else:
            parts.append("no MID declared in analyses.toml, so the CI is judged against no effect")
    elif domain == "publication_bias":
        parts.append("data_status.csv (results registered or known but unpublished; published but not extractable; "
                     "not found)")
    return "; ".join(p for p in parts if p)


def _row_notes(r: AnalysisResult, g: Grade, evidence: Evidence, effect_col: str,
               comparator_note: tuple[str, str] | None) -> list[tuple[str, str, str]]:
    """``(column, text, source)`` of one row's footnotes, in column order."""
    notes: list[tuple[str, str, str]] = []
    inc, p = r.included, r.pooled
    if comparator_note is not None:
        notes.append(("risk_comparator", *comparator_note))
    if p is not None:
        model = "common-effect" if p.method == "FE" else f"random-effects ({p.method})"
        notes.append((effect_col, f"{model} model; interval: {r.test_reason}" if r.k > 1 else r.test_reason,
                      "hipacu.review.analysis.interval_rule (IntHout 2014; Röver 2015; Cochrane Handbook 10.10.4)"))
    flagged = r.implausible_labels
    if flagged:
        reasons = "; ".join(f"{lab}: {why}" for lab, why in zip(inc.loc[inc["implausible"], "label"],
                                                                  inc.loc[inc["implausible"], "implausible_reason"]))
        w = float(inc.loc[inc["implausible"], "weight"].sum())
        if r.without_implausible is not None:
            q = r.without_implausible
            alt = (f"without them: {_effect(r, q.estimate, q.ci_low, q.ci_high)}, k = {q.k}")
        else:
            alt = "no unflagged study remains, so no sensitivity analysis without them is possible"
        notes.append((effect_col, f"† includes {len(flagged)} {'study' if len(flagged) == 1 else 'studies'} whose "
                                  f"numbers the curators flagged implausible ({w:.0f}% of the weight: "
                                  f"{', '.join(flagged)}); {alt}",
                      f"studies.csv implausible_reason: {reasons}; the result without them is "
                      "AnalysisResult.without_implausible (same model)"))
    randomised = inc["n_source"].astype(str).str.startswith("randomised") if len(inc) else pd.Series(dtype=bool)
    if randomised.any():
        labs = ", ".join(inc.loc[randomised, "label"].astype(str))
        notes.append(("participants_studies", f"number randomised, not analysed, for {labs}: arm sizes of this "
                                              "comparison are not printed", "studies.csv n_randomised"))
    if g.start != 4 or r.spec.question == "frequency":
        notes.append(("certainty", f"certainty started at {LEVELS[g.start].replace('_', ' ')}: {g.start_reason}",
                      "GRADE 4 (Guyatt 2011); Iorio 2015 and GRADE 28 (Foroutan 2020) for frequencies; studies.csv design"))
    for j in g.judgements:
        if j.rating != 0 or j.override:
            word = (_PUBLICATION_WORDS if j.domain == "publication_bias" else RATING_WORDS).get(j.rating, f"{j.rating:+d}")
            notes.append(("certainty", f"{j.domain.replace('_', ' ').capitalize()}: {word} "
                                       f"({'rated down ' + str(-j.rating) if j.rating else 'not rated down'}"
                                       f"{', override' if j.override else ''}). {j.rationale[:1].upper() + j.rationale[1:]}",
                          _domain_source(j.domain, r, evidence, g)))
    if g.method_sensitive:
        notes.append(("certainty", g.method_note, "hipacu.review.grading.method_sensitivity (METHOD_PANEL)"))
    return notes


# --------------------------------------------------------------------------- cells


def _fmt(x: float, digits: int = 2) -> str:
    return f"{x:.{digits}f}"


def _effect(r: AnalysisResult, est: float, lo: float, hi: float) -> str:
    """An effect on the reporting scale with its CI, e.g. ``MD -0.42 (-0.77 to -0.07)``."""
    e, l, h = (r.display(x) for x in (est, lo, hi))
    if r.spec.measure == "PLO":
        return f"{e:.3g} per {r.spec.per:g} ({l:.3g} to {h:.3g})" if r.spec.per else f"{e:.3g} ({l:.3g} to {h:.3g})"
    return f"{r.spec.measure} {_fmt(e)} ({_fmt(l)} to {_fmt(h)})"


def _lower_higher(measure: str, est: float, lo: float, hi: float) -> str:
    """GRADEpro's continuous-outcome wording: ``MD 2.70 lower (9.00 lower to 3.60 higher)``."""
    def word(x: float) -> str:
        return f"{_fmt(abs(x))} {'lower' if x < 0 else 'higher'}"

    return f"{measure} {word(est)} ({word(lo)} to {word(hi)})"


def _comparator_means(r: AnalysisResult, evidence: Evidence) -> tuple[str, tuple[str, str] | None]:
    """The comparator-arm mean(s) of a continuous outcome, as printed in outcomes.csv, with a footnote."""
    if r.spec.table != "outcomes" or not len(r.included):
        return "not reported", None
    rows = evidence.outcomes.set_index("outcome_id").reindex(list(r.included["row_id"]))
    arm = rows[(rows["form"] == "arm") & rows["mean2"].notna()]
    if arm.empty:
        return "not reported (contrast-level data only)", None
    means = arm["mean2"].astype(float)
    text = (f"Mean {means.iloc[0]:g} in the comparator arm" if len(means) == 1 else
            f"Means ranged from {means.min():g} to {means.max():g} in the comparator arms")
    srcs = "; ".join(f"{rid}: {row['source_url']}" + (f" ({row['locator']})" if isinstance(row["locator"], str) else "")
                     for rid, row in arm.iterrows())
    return (text,
            (f"comparator-arm mean as printed in {len(means)} of {len(rows)} pooled "
             f"{'study' if len(rows) == 1 else 'studies'}", f"outcomes.csv mean2; {srcs}"))


def _row(r: AnalysisResult, g: Grade, evidence: Evidence, per: int) -> tuple[dict, list[tuple[str, str, str]]]:
    spec, p = r.spec, r.pooled
    row = {"analysis_id": spec.id, "outcome": spec.outcome_label, "population": spec.population,
           "intervention": spec.intervention, "comparator": spec.comparator,
           "comparison": f"{spec.intervention} vs {spec.comparator}",
           "risk_comparator": "", "risk_intervention": "", "risk_difference": "", "relative_effect": "",
           "participants": r.participants, "k": r.k, "designs": _designs(r.included),
           "assumed_risk": np.nan, "assumed_risk_source": ""}
    row["participants_studies"] = f"{r.participants:,} {_unit(r, evidence)} ({row['designs']})"
    comparator_note = None
    effect_col = "risk_intervention"
    if p is None:
        row.update(risk_intervention="no usable data", relative_effect="not estimable")
    elif spec.question == "frequency":
        row.update(risk_comparator="not applicable (single-group rates)",
                   risk_intervention=_effect(r, p.estimate, p.ci_low, p.ci_high).replace(
                       f"per {spec.per:g}", f"per {spec.per:,.0f} {_unit(r, evidence)}") if spec.per else
                   _effect(r, p.estimate, p.ci_low, p.ci_high),
                   relative_effect="not applicable")
    elif spec.measure in BINARY_MEASURES:
        effect_col = "relative_effect"
        est, lo, hi = (r.display(x) for x in (p.estimate, p.ci_low, p.ci_high))
        row["relative_effect"] = f"{spec.measure} {_fmt(est)} ({_fmt(lo)} to {_fmt(hi)})"
        acr, how, source = assumed_comparator_risk(r)
        if acr is None:
            row.update(risk_comparator="not estimable", risk_intervention="not estimable")
            comparator_note = (how, "analyses.toml control_risk; outcomes.csv events2, n2")
        else:
            ae = absolute_effect(spec.measure, est, lo, hi, acr, per=per)
            row.update(risk_comparator=ae.comparator_text(), risk_intervention=ae.intervention_text(),
                       risk_difference=ae.difference_text(), assumed_risk=acr, assumed_risk_source=how)
            comparator_note = (f"assumed comparator risk: {how}; the risk with the intervention (and its 95% CI) "
                               "is this risk combined with the relative effect (and its 95% CI)", source)
    elif spec.measure == "ROM":
        effect_col = "relative_effect"
        row["relative_effect"] = _effect(r, p.estimate, p.ci_low, p.ci_high)
        row["risk_comparator"], comparator_note = _comparator_means(r, evidence)
    else:  # MD, SMD
        row["risk_comparator"], comparator_note = _comparator_means(r, evidence)
        row["risk_intervention"] = _lower_higher(spec.measure, *(r.display(x) for x in (p.estimate, p.ci_low, p.ci_high)))
        row["relative_effect"] = "not applicable"
    row.update(effect=r.effect_text(), certainty="" if p is None else g.certainty.replace("_", " "),
               symbols="" if p is None else g.symbols, level=0 if p is None else g.level,
               statement=g.statement, comments=g.statement)
    return row, _row_notes(r, g, evidence, effect_col, comparator_note)


def summary_of_findings(evidence: Evidence, analyses: list[str] | None = None,
                        results: dict[str, AnalysisResult] | None = None,
                        grades: dict[str, Grade] | None = None, *, per: int = ABSOLUTE_PER) -> pd.DataFrame:
    """A Summary of Findings table, one row per analysis, in the layout GRADEpro prints.

    Columns: the cells a reader sees (:data:`SOF_COLUMNS`: ``outcome, risk_comparator,
    risk_intervention, risk_difference, relative_effect, participants_studies, certainty, comments``),
    then ``analysis_id, population, intervention, comparator, comparison, participants, k, designs,
    symbols, level, statement, effect, assumed_risk, assumed_risk_source`` and ``footnotes``: a tuple
    of :class:`Footnote` per row, each naming the cell (column) it explains, numbered across the
    table (identical footnotes share a number). :func:`sof_footnotes` lists them as a DataFrame;
    :func:`sof_html` and :func:`hipacu.plots.summary_of_findings` place the numbers in their cells.

    Binary outcomes (RR, OR, RD) get anticipated absolute effects per ``per`` people from the assumed
    comparator risk (:func:`assumed_comparator_risk`, :func:`absolute_effect`); continuous ones the
    comparator-arm means as printed and the mean difference in GRADEpro's words ("2.70 lower");
    frequency questions their rate per the analysis's ``per`` and denominator unit.
    """
    results = run_all(evidence) if results is None else results
    ids = list(results) if analyses is None else list(analyses)
    rows, row_notes = [], []
    for aid in ids:
        r = results[aid]
        row, notes = _row(r, grade(r) if grades is None else grades[aid], evidence, per)
        rows.append(row)
        row_notes.append(notes)
    cols = list(SOF_COLUMNS) + ["analysis_id", "population", "intervention", "comparator", "comparison",
                                "participants", "k", "designs", "symbols", "level", "statement", "effect",
                                "assumed_risk", "assumed_risk_source", "footnotes"]
    sof = pd.DataFrame(rows, columns=cols)
    # number the footnotes in the order a reader meets them: rows as displayed (grouped by comparison,
    # sof_groups), cells left to right; identical footnotes share a number
    numbers: dict[tuple[str, str], int] = {}
    order = {c: i for i, c in enumerate(SOF_COLUMNS)}
    feet: dict[int, tuple[Footnote, ...]] = {}
    for i in sof_groups(sof).index:
        out = []
        for col, text, source in sorted(row_notes[i], key=lambda n: order[n[0]]):
            numbers.setdefault((text, source), len(numbers) + 1)
            out.append(Footnote(numbers[(text, source)], col, text, source))
        feet[i] = tuple(out)
    sof["footnotes"] = [feet[i] for i in sof.index]
    return sof


def sof_footnotes(sof: pd.DataFrame) -> pd.DataFrame:
    """Every footnote of a Summary of Findings table once: ``number, analysis_ids, columns, text, source``
    (a shared footnote lists every row and cell it is attached to)."""
    seen: dict[int, dict] = {}
    for _, row in sof_groups(sof).iterrows():
        for f in row["footnotes"]:
            entry = seen.setdefault(f.number, {"number": f.number, "analysis_ids": [], "columns": [],
                                               "text": f.text, "source": f.source})
            if row["analysis_id"] not in entry["analysis_ids"]:
                entry["analysis_ids"].append(row["analysis_id"])
            if f.column not in entry["columns"]:
                entry["columns"].append(f.column)
    out = [dict(e, analysis_ids=";".join(e["analysis_ids"]), columns=";".join(e["columns"]))
           for _, e in sorted(seen.items())]
    return pd.DataFrame(out, columns=["number", "analysis_ids", "columns", "text", "source"])


# --------------------------------------------------------------------------- HTML


def _linkify(escaped: str) -> str:
    """Wrap the http(s) URLs of already-escaped text in links."""
    import re

    return re.sub(r"(https?://[^\s;,<>()\[\]]+[^\s;,<>()\[\].])", r"<a href='\1'>\1</a>", escaped)


def footnote_marks(footnotes) -> dict[str, list[int]]:
    """The footnote numbers of one SoF row by the column they are attached to, each once, in order."""
    marks: dict[str, list[int]] = {}
    for f in footnotes:
        nums = marks.setdefault(f.column, [])
        if f.number not in nums:
            nums.append(f.number)
    return marks


def _cell(text: str, marks: list[int], anchor: str, link=None) -> str:
    import html

    sup = "".join(f"<sup><a class='fn' href='#{anchor}-fn-{n}'>{n}</a></sup>" for n in marks)
    escaped = html.escape(str(text))
    return (link(escaped) if link else escaped) + sup


def sof_groups(sof: pd.DataFrame) -> pd.DataFrame:
    """The rows with those of one comparison (population, intervention, comparator) together, groups
    in order of first appearance (GRADEpro prints one table per comparison)."""
    keys = list(zip(sof["population"], sof["intervention"], sof["comparator"]))
    first = {k: i for i, k in reversed(list(enumerate(keys)))}
    order = sorted(range(len(keys)), key=lambda i: (first[keys[i]], i))
    return sof.iloc[order]


def sof_html(sof: pd.DataFrame, *, anchor: str = "sof", link=None) -> str:
    """The Summary of Findings table as self-contained HTML in GRADEpro's layout.

    One group of rows per comparison (population, intervention, comparison), the anticipated
    absolute effects under one heading, each footnote number in the cell it explains (a link to
    the footnote), then the numbered footnotes with their sources (URLs as links), the explanation
    of the absolute effects and the GRADE Working Group's certainty definitions. ``link`` is an
    optional function applied to escaped footnote text (e.g. to link study labels to their sources).
    """
    import html

    def e(x) -> str:
        return html.escape(str(x))

    link = link or (lambda s: s)
    head = ("<tr><th rowspan='2'>Outcomes</th><th colspan='3'>Anticipated absolute effects<sup>*</sup> (95% CI)</th>"
            "<th rowspan='2'>Relative effect (95% CI)</th><th rowspan='2'>№ of participants (studies)</th>"
            "<th rowspan='2'>Certainty of the evidence (GRADE)</th><th rowspan='2'>Comments</th></tr>"
            "<tr><th>Risk with comparator</th><th>Risk with intervention</th><th>Difference</th></tr>")
    body, last = [], None
    for _, r in sof_groups(sof).iterrows():
        group = (r["population"], r["intervention"], r["comparator"])
        if group != last:
            body.append(f"<tr class='sof-group'><th colspan='8'>Population: {link(e(r['population']))}. "
                        f"Intervention: {link(e(r['intervention']))}. Comparison: {link(e(r['comparator']))}.</th></tr>")
            last = group
        marks = footnote_marks(r["footnotes"])
        cert = f"{r['symbols']} {str(r['certainty']).capitalize()}" if r["certainty"] else "not assessable"
        cells = {c: r[c] for c in SOF_COLUMNS}
        cells["certainty"] = cert
        tds = "".join(f"<td class='sof-{c.replace('_', '-')}'>{_cell(cells[c] or '—', marks.get(c, []), anchor, link)}</td>"
                      for c in SOF_COLUMNS)
        body.append(f"<tr id='{anchor}-{e(r['analysis_id'])}' data-analysis='{e(r['analysis_id'])}'>{tds}</tr>")
    notes = sof_footnotes(sof)
    items = "".join(f"<li id='{anchor}-fn-{n.number}' value='{n.number}'>{link(e(n.text))}"
                    + (f" <span class='source'>Source: {link(_linkify(e(n.source)))}</span>" if n.source else "")
                    + "</li>" for n in notes.itertuples())
    defs = "".join(f"<li><b>{e(level.capitalize())} certainty:</b> {e(text)}.</li>" for level, text in CERTAINTY_DEFINITIONS)
    return (f"<table class='sof'><thead>{head}</thead><tbody>{''.join(body)}</tbody></table>"
            "<p class='sof-star'><sup>*</sup>The risk in the intervention group (and its 95% confidence interval) is "
            "based on the assumed risk in the comparison group and the relative effect of the intervention (and its "
            "95% CI); each row's footnote names the assumed risk and where it comes from. CI: confidence interval; "
            "RR: risk ratio; OR: odds ratio; MD: mean difference; SMD: standardised mean difference.</p>"
            f"<ol class='sof-footnotes'>{items}</ol>"
            f"<p class='grade-legend'><b>GRADE Working Group grades of evidence</b></p><ul class='grade-legend'>{defs}</ul>")


# --------------------------------------------------------------------------- evidence profile


def evidence_profile(evidence: Evidence, analyses: list[str] | None = None,
                     results: dict[str, AnalysisResult] | None = None,
                     grades: dict[str, Grade] | None = None, *, per: int = ABSOLUTE_PER) -> pd.DataFrame:
    """GRADEpro's evidence profile: per outcome, every domain's rating and its rationale.

    Columns: ``analysis_id, outcome, studies, study_design, start`` (the starting level and why), for
    each domain of :data:`hipacu.review.grading.DOMAINS` the rating in GRADEpro's words
    (:data:`RATING_WORDS`), ``<domain>_rating`` (0, -1, -2), ``<domain>_rationale`` and
    ``<domain>_override``; then ``other_considerations`` (method sensitivity, numbers flagged
    implausible), ``participants, relative_effect, absolute_effect, certainty, symbols``.
    """
    results = run_all(evidence) if results is None else results
    ids = list(results) if analyses is None else list(analyses)
    sof = summary_of_findings(evidence, ids, results, grades, per=per)
    rows = []
    for (_, s), aid in zip(sof.iterrows(), ids):
        r = results[aid]
        g = grade(r) if grades is None else grades[aid]
        row = {"analysis_id": aid, "outcome": r.spec.outcome_label, "studies": r.k, "study_design": s["designs"],
               "start": f"{LEVELS[g.start].replace('_', ' ')}: {g.start_reason}"}
        for j in g.judgements:
            words = _PUBLICATION_WORDS if j.domain == "publication_bias" else RATING_WORDS
            row[j.domain] = words.get(j.rating, f"{j.rating:+d}") + (" (override)" if j.override else "")
            row[f"{j.domain}_rating"] = j.rating
            row[f"{j.domain}_rationale"] = j.rationale
            row[f"{j.domain}_override"] = j.override
        other = []
        if g.method_note:
            other.append(("method sensitive: " if g.method_sensitive else "") + g.method_note)
        if r.implausible_labels:
            other.append(f"numbers flagged implausible: {', '.join(r.implausible_labels)}")
        row["other_considerations"] = "; ".join(other)
        absolute = s["risk_difference"] or s["risk_intervention"]
        row.update(participants=s["participants_studies"], relative_effect=s["relative_effect"], absolute_effect=absolute,
                   certainty=s["certainty"], symbols=s["symbols"])
        rows.append(row)
    cols = ["analysis_id", "outcome", "studies", "study_design", "start"]
    for d in DOMAINS:
        cols += [d, f"{d}_rating", f"{d}_rationale", f"{d}_override"]
    cols += ["other_considerations", "participants", "relative_effect", "absolute_effect", "certainty", "symbols"]
    return pd.DataFrame(rows, columns=cols)


def evidence_profile_html(profile: pd.DataFrame, *, link=None) -> str:
    """The evidence profile as an HTML table: GRADEpro's certainty-assessment columns, each domain's
    rating in bold with its rationale beneath, then participants, effect and certainty."""
    import html

    def e(x) -> str:
        return html.escape(str(x))

    link = link or (lambda s: s)
    heads = ["Outcome", "№ of studies (design)", "Risk of bias", "Inconsistency", "Indirectness", "Imprecision",
             "Publication bias", "Other considerations", "№ of participants", "Relative effect", "Absolute effect",
             "Certainty"]
    body = []
    for _, r in profile.iterrows():
        cells = [link(e(r["outcome"])), f"{r['studies']} ({e(r['study_design'])})<div class='rationale'>start: "
                                  f"{link(e(r['start']))}</div>"]
        for d in DOMAINS:
            cells.append(f"<b>{e(r[d])}</b><div class='rationale'>{link(e(r[f'{d}_rationale']))}</div>")
        cells += [link(e(r["other_considerations"])) or "none", e(r["participants"]), e(r["relative_effect"]) or "—",
                  e(r["absolute_effect"]) or "—",
                  f"{e(r['symbols'])} {e(str(r['certainty']).capitalize())}" if r["certainty"] else "not assessable"]
        body.append(f"<tr data-analysis='{e(r['analysis_id'])}'>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in heads)
    return f"<table class='evidence-profile'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
