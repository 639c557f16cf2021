"""GRADE from the data: certainty of a body of evidence, each judgement with a computed rationale.

The rules are a table (:data:`RULES`): one row per criterion, with the domain, the rating it
gives, a predicate on the analysis's numbers, a rationale template and the GRADE guidance it
encodes. For each domain the most severe matching row wins (a domain is rated down 0, 1 or 2
levels); curated overrides from ``analyses.toml`` replace a domain's rating and are shown as
overrides with their reason. Certainty starts at high for randomised evidence and for frequency
(rate) questions answered by prospective cohorts (Iorio 2015), and at low for other observational
evidence.

References (the bibliography of the rule table):

- GRADE 4  Guyatt GH et al. Rating the quality of evidence - study limitations (risk of bias).
  J Clin Epidemiol 2011;64:407-415.
- GRADE 5  Guyatt GH et al. Rating the quality of evidence - publication bias. J Clin Epidemiol
  2011;64:1277-1282.
- GRADE 6  Guyatt GH et al. Rating the quality of evidence - imprecision. J Clin Epidemiol
  2011;64:1283-1293 (optimal information size: about 400 participants for a continuous outcome).
- GRADE 7  Guyatt GH et al. Rating the quality of evidence - inconsistency. J Clin Epidemiol
  2011;64:1294-1302.
- GRADE 8  Guyatt GH et al. Rating the quality of evidence - indirectness. J Clin Epidemiol
  2011;64:1303-1310.
- GRADE 9  Guyatt GH et al. Rating up the quality of evidence. J Clin Epidemiol 2011;64:1311-1316.
- GRADE 26 Santesso N et al. Informative statements to communicate the findings of systematic
  reviews of interventions. J Clin Epidemiol 2020;119:126-135.
- GRADE 34 Zeng L et al. Update on rating imprecision using a minimally contextualized approach.
  J Clin Epidemiol 2022;150:216-224.
- Iorio A et al. Use of GRADE for assessment of evidence about prognosis. BMJ 2015;350:h870.
- Cochrane Handbook v6, section 10.10.2 (I² bands) and 13.3.5.4 (funnel tests need >= 10 studies).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from hipacu.review.analysis import AnalysisResult

__all__ = ["Rule", "RULES", "DOMAINS", "LEVELS", "Judgement", "Grade", "grade", "Context", "context",
           "OPTIMAL_INFORMATION_SIZE", "rules_frame"]

DOMAINS = ("risk_of_bias", "inconsistency", "indirectness", "imprecision", "publication_bias")
LEVELS = {4: "high", 3: "moderate", 2: "low", 1: "very_low"}
SYMBOLS = {4: "⊕⊕⊕⊕", 3: "⊕⊕⊕◯", 2: "⊕⊕◯◯", 1: "⊕◯◯◯"}
#: GRADE 6 rule of thumb: optimal information size for a continuous outcome (participants).
OPTIMAL_INFORMATION_SIZE = 400
#: Share of the analysis weight that makes a study-level problem "most of the evidence".
MAJORITY = 0.5


# --------------------------------------------------------------------------- the numbers rules read


@dataclass(frozen=True)
class Context:
    """What the rules read, computed once from an :class:`AnalysisResult`."""

    k: int
    participants: int
    question: str
    weight_high_rob: float
    weight_concerns_rob: float
    weight_rob_not_assessed: float
    weight_indirect_population: float
    weight_indirect_intervention: float
    i2: float
    q_pval: float
    sides: int  # how many sides of the decision threshold(s) the study estimates fall on
    ci_categories: int  # effect categories the CI spans (1-3)
    crosses_threshold: bool
    eligible: int
    eligible_missing: int
    missing_labels: str
    egger_pval: float
    ci_text: str
    threshold_text: str


def _share(included: pd.DataFrame, mask: pd.Series) -> float:
    w = included["weight"].to_numpy(float)
    return float(w[mask.to_numpy(bool)].sum() / w.sum()) if len(w) and w.sum() > 0 else 0.0


def _categories(r: AnalysisResult, lo: float, hi: float) -> tuple[int, bool, str]:
    """Effect categories spanned by [lo, hi] (GRADE 34, minimally contextualised): with an MID the
    thresholds are -MID and +MID (important benefit / little or no effect / important harm); without
    one, the null; for frequency questions, the analysis's threshold on the reporting scale."""
    spec = r.spec
    if spec.question == "frequency":
        thr = spec.threshold
        if thr is None:
            return 1, False, "no threshold declared"
        dlo, dhi = r.display(lo), r.display(hi)
        crosses = dlo < thr < dhi
        return (2 if crosses else 1), crosses, f"the threshold of {thr:g} per {spec.per:g}"
    if spec.mid is not None:
        cuts = (-spec.mid, spec.mid)
        n = 1 + sum(lo < c < hi for c in cuts)
        return n, n > 1, f"the MID of {spec.mid:g} {spec.mid_unit or ''}".rstrip()
    crosses = lo < 0 < hi
    return (2 if crosses else 1), crosses, "no effect"


def context(r: AnalysisResult) -> Context:
    """The numbers the rules read."""
    inc = r.included
    p = r.pooled
    spec = r.spec
    if p is None:
        nan = float("nan")
        return Context(0, 0, spec.question, 0, 0, 0, 0, 0, nan, nan, 0, 0, False, len(r.eligible),
                       int((r.eligible["data_status"] != "usable").sum()), "", nan, "", "")
    cats, crosses, thr = _categories(r, p.ci_low, p.ci_high)
    if spec.question == "frequency" and spec.threshold is not None:
        disp = np.array([r.display(y) for y in inc["yi"]])
        sides = int((disp < spec.threshold).any()) + int((disp > spec.threshold).any())
    else:
        cut = 0.0
        sides = int((inc["yi"] < cut).any()) + int((inc["yi"] > cut).any())
    missing = r.eligible[r.eligible["data_status"] != "usable"]
    egger = r.diagnostics.get("egger")
    lo, hi = r.display(p.ci_low), r.display(p.ci_high)
    return Context(
        k=p.k,
        participants=r.participants,
        question=spec.question,
        weight_high_rob=_share(inc, inc["rob_overall"] == "high"),
        weight_concerns_rob=_share(inc, inc["rob_overall"].isin(["high", "some_concerns"])),
        weight_rob_not_assessed=_share(inc, inc["rob_overall"] == "not_assessed"),
        weight_indirect_population=_share(inc, ~inc["condition"].isin(spec.conditions)) if spec.conditions else 0.0,
        weight_indirect_intervention=_share(inc, ~inc["intervention"].isin(spec.interventions)) if spec.interventions else 0.0,
        i2=p.i2,
        q_pval=p.q_pval,
        sides=sides,
        ci_categories=cats,
        crosses_threshold=crosses,
        eligible=len(r.eligible),
        eligible_missing=len(missing),
        missing_labels=", ".join(missing["label"].astype(str)),
        egger_pval=float("nan") if egger is None else float(egger.pval),
        ci_text=f"{100 * p.level:g}% CI {lo:.3g} to {hi:.3g}",
        threshold_text=thr,
    )


# --------------------------------------------------------------------------- the rule table


@dataclass(frozen=True)
class Rule:
    """One row of the rule table."""

    domain: str
    rating: int
    criterion: str
    applies: Callable[[Context], bool]
    rationale: Callable[[Context], str]
    guidance: str


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


RULES: tuple[Rule, ...] = (
    # ---- risk of bias (GRADE 4)
    Rule("risk_of_bias", -2, "at least half of the weight from studies at high risk of bias, and none at low risk",
         lambda c: c.k > 0 and c.weight_high_rob >= MAJORITY and c.weight_concerns_rob >= 0.999,
         lambda c: f"{_pct(c.weight_high_rob)} of the weight from studies at high risk of bias; none at low risk",
         "GRADE 4 (Guyatt 2011): very serious limitations when most evidence comes from studies with crucial limitations"),
    Rule("risk_of_bias", -1, "at least half of the weight from studies at high risk or with some concerns",
         lambda c: c.k > 0 and c.weight_concerns_rob >= MAJORITY,
         lambda c: f"{_pct(c.weight_concerns_rob)} of the weight from studies at high risk or with some concerns "
                   f"({_pct(c.weight_high_rob)} high)",
         "GRADE 4 (Guyatt 2011): serious limitations when most information comes from studies at moderate or high risk"),
    Rule("risk_of_bias", -1, "at least half of the weight from studies whose risk of bias could not be assessed",
         lambda c: c.k > 0 and c.weight_rob_not_assessed >= MAJORITY,
         lambda c: f"risk of bias not assessable for {_pct(c.weight_rob_not_assessed)} of the weight (no published "
                   "appraisal; methods not reported in the sources)",
         "GRADE 4 (Guyatt 2011): rate down when limitations cannot be excluded for most of the evidence"),
    Rule("risk_of_bias", 0, "most weight from studies at low risk of bias",
         lambda c: c.k > 0,
         lambda c: f"{_pct(1 - c.weight_concerns_rob - c.weight_rob_not_assessed)} of the weight from studies at low risk of bias",
         "GRADE 4 (Guyatt 2011)"),
    # ---- inconsistency (GRADE 7; Handbook 10.10.2)
    Rule("inconsistency", 0, "a single study: inconsistency cannot be assessed",
         lambda c: c.k == 1,
         lambda c: "single study: inconsistency not assessable (not rated down; the imprecision rating carries the "
                   "uncertainty of a single trial)",
         "GRADE 7 (Guyatt 2011)"),
    Rule("inconsistency", -2, "I² >= 75% with Q p < 0.10, and study estimates on both sides of the decision threshold",
         lambda c: c.k >= 2 and c.i2 >= 75 and c.q_pval < 0.10 and c.sides == 2,
         lambda c: f"I² = {c.i2:.0f}% (Q p = {c.q_pval:.2g}); study results point in opposite directions",
         "GRADE 7 (Guyatt 2011); Cochrane Handbook 10.10.2: I² 75-100% is considerable heterogeneity"),
    Rule("inconsistency", -1, "I² >= 50% with Q p < 0.10, and study estimates on both sides of the decision threshold",
         lambda c: c.k >= 2 and c.i2 >= 50 and c.q_pval < 0.10 and c.sides == 2,
         lambda c: f"I² = {c.i2:.0f}% (Q p = {c.q_pval:.2g}); study results point in opposite directions",
         "GRADE 7 (Guyatt 2011); Cochrane Handbook 10.10.2: I² 50-90% may be substantial"),
    Rule("inconsistency", 0, "heterogeneous, but every study on the same side of the decision threshold",
         lambda c: c.k >= 2 and c.i2 >= 50 and c.q_pval < 0.10 and c.sides < 2,
         lambda c: f"I² = {c.i2:.0f}% (Q p = {c.q_pval:.2g}), but every study lies on the same side, so the conclusion "
                   "does not depend on which study is right",
         "GRADE 7 (Guyatt 2011): differences that do not change the decision are not important inconsistency"),
    Rule("inconsistency", 0, "little heterogeneity",
         lambda c: c.k >= 2,
         lambda c: f"I² = {c.i2:.0f}%, Q p = {c.q_pval:.2g}",
         "GRADE 7 (Guyatt 2011)"),
    # ---- indirectness (GRADE 8)
    Rule("indirectness", -2, "most of the weight indirect in both population and intervention",
         lambda c: c.k > 0 and c.weight_indirect_population >= MAJORITY and c.weight_indirect_intervention >= MAJORITY,
         lambda c: f"{_pct(c.weight_indirect_population)} of the weight from another population and "
                   f"{_pct(c.weight_indirect_intervention)} from another intervention than the question asks about",
         "GRADE 8 (Guyatt 2011): rate down twice when indirectness is very serious"),
    Rule("indirectness", -1, "most of the weight from another population than the question's",
         lambda c: c.k > 0 and c.weight_indirect_population >= MAJORITY,
         lambda c: f"{_pct(c.weight_indirect_population)} of the weight from studies in another population "
                   "than the question's",
         "GRADE 8 (Guyatt 2011): differences in population"),
    Rule("indirectness", -1, "most of the weight from another intervention than the question's",
         lambda c: c.k > 0 and c.weight_indirect_intervention >= MAJORITY,
         lambda c: f"{_pct(c.weight_indirect_intervention)} of the weight from studies of another intervention "
                   "than the question's",
         "GRADE 8 (Guyatt 2011): differences in intervention"),
    Rule("indirectness", 0, "population and intervention as the question asks",
         lambda c: c.k > 0,
         lambda c: "population and intervention match the question",
         "GRADE 8 (Guyatt 2011)"),
    # ---- imprecision (GRADE 6, GRADE 34)
    Rule("imprecision", -2, "the CI spans important benefit, little or no effect and important harm",
         lambda c: c.k > 0 and c.ci_categories >= 3,
         lambda c: f"{c.ci_text} includes both important benefit and important harm ({c.threshold_text})",
         "GRADE 34 (Zeng 2022): rate down twice when the CI crosses both thresholds"),
    Rule("imprecision", -2, "the CI crosses a threshold and the sample is below the optimal information size",
         lambda c: c.k > 0 and c.crosses_threshold and c.question == "effect" and c.participants < OPTIMAL_INFORMATION_SIZE,
         lambda c: f"{c.ci_text} crosses {c.threshold_text}, and {c.participants or 'an unreported number of'} "
                   f"participants is below the optimal information size of {OPTIMAL_INFORMATION_SIZE}",
         "GRADE 6 (Guyatt 2011) and GRADE 34 (Zeng 2022)"),
    Rule("imprecision", -1, "the CI crosses a decision threshold",
         lambda c: c.k > 0 and c.crosses_threshold,
         lambda c: f"{c.ci_text} crosses {c.threshold_text}",
         "GRADE 34 (Zeng 2022): rate down once when the CI crosses one threshold"),
    Rule("imprecision", -1, "fewer participants than the optimal information size",
         lambda c: c.k > 0 and c.question == "effect" and c.participants < OPTIMAL_INFORMATION_SIZE,
         lambda c: f"{c.participants or 'an unreported number of'} participants, below the optimal information size "
                   f"of {OPTIMAL_INFORMATION_SIZE} ({c.ci_text} does not cross {c.threshold_text})",
         "GRADE 6 (Guyatt 2011): rate down if the optimal information size is not met"),
    Rule("imprecision", 0, "the CI stays within one effect category and the sample is large enough",
         lambda c: c.k > 0,
         lambda c: f"{c.ci_text} does not cross {c.threshold_text}"
                   + (f"; {c.participants} participants" if c.question == "effect" else ""),
         "GRADE 6 (Guyatt 2011); GRADE 34 (Zeng 2022)"),
    # ---- publication / reporting bias (GRADE 5)
    Rule("publication_bias", -1, "funnel asymmetry (Egger p < 0.10) with at least 10 studies",
         lambda c: c.k >= 10 and c.egger_pval < 0.10,
         lambda c: f"Egger's test p = {c.egger_pval:.2g} with {c.k} studies",
         "GRADE 5 (Guyatt 2011); Cochrane Handbook 13.3.5.4"),
    Rule("publication_bias", -1, "at least half of the eligible trials report no usable numbers",
         lambda c: c.question == "effect" and c.eligible > 0 and c.eligible_missing / c.eligible >= MAJORITY,
         lambda c: f"{c.eligible_missing} of {c.eligible} eligible trials give no usable numbers ({c.missing_labels}); "
                   "the missing results may differ",
         "GRADE 5 (Guyatt 2011): rate down when results of studies are known to be unavailable (reporting bias)"),
    Rule("publication_bias", 0, "no sign of missing evidence",
         lambda c: c.k > 0,
         lambda c: (f"{c.eligible_missing} of {c.eligible} eligible trials without usable numbers; " if c.eligible else "")
                   + ("funnel tests not run (k < 10)" if c.k < 10 else f"Egger's test p = {c.egger_pval:.2g}"),
         "GRADE 5 (Guyatt 2011)"),
)


def rules_frame() -> pd.DataFrame:
    """The rule table as a DataFrame (domain, rating, criterion, guidance), for documentation."""
    return pd.DataFrame([{"domain": r.domain, "rating": r.rating, "criterion": r.criterion, "guidance": r.guidance}
                         for r in RULES])


# --------------------------------------------------------------------------- the grade


@dataclass(frozen=True)
class Judgement:
    """One domain's judgement: rating (0, -1, -2), rationale, the rule applied, and whether a curated
    override replaced the computed rating."""

    domain: str
    rating: int
    rationale: str
    criterion: str
    guidance: str
    override: bool = False
    computed_rating: int | None = None


@dataclass(frozen=True)
class Grade:
    """GRADE certainty of one analysis.

    Attributes
    ----------
    analysis_id : str
    start : int
        4 (high) or 2 (low).
    judgements : tuple of Judgement
        One per domain, in :data:`DOMAINS` order.
    level : int
        1-4 after rating down (floor 1).
    certainty : str
        ``high``, ``moderate``, ``low`` or ``very_low``.
    statement : str
        The GRADE informative statement (GRADE 26).
    """

    analysis_id: str
    start: int
    judgements: tuple[Judgement, ...]
    level: int
    certainty: str
    statement: str
    effect_category: str = field(default="")

    @property
    def symbols(self) -> str:
        return SYMBOLS[self.level]

    def judgement(self, domain: str) -> Judgement:
        return next(j for j in self.judgements if j.domain == domain)

    def to_frame(self) -> pd.DataFrame:
        """One row per domain: rating, rationale, criterion, guidance, override."""
        return pd.DataFrame([j.__dict__ for j in self.judgements])

    def summary(self) -> str:
        lines = [f"{self.analysis_id}: {self.certainty.replace('_', ' ')} certainty {self.symbols}", self.statement]
        for j in self.judgements:
            tag = " (override)" if j.override else ""
            lines.append(f"  {j.domain:<17} {j.rating:+d}{tag}: {j.rationale}")
        return "\n".join(lines)


def _judge(domain: str, c: Context) -> Judgement:
    for rule in RULES:
        if rule.domain == domain and rule.applies(c):
            return Judgement(domain, rule.rating, rule.rationale(c), rule.criterion, rule.guidance)
    return Judgement(domain, 0, "not assessable: no usable data", "no data", "")


def effect_category(r: AnalysisResult) -> str:
    """Where the point estimate lies: ``benefit``, ``little_or_no``, ``harm`` (effect questions) or
    ``below``/``above`` the threshold (frequency questions); ``none`` without data."""
    p = r.pooled
    if p is None:
        return "none"
    spec = r.spec
    if spec.question == "frequency":
        if spec.threshold is None:
            return "below"
        return "below" if r.display(p.estimate) < spec.threshold else "above"
    est = p.estimate
    fav = r.favours_intervention(est)
    if spec.mid is not None:
        if abs(est) < spec.mid:
            return "little_or_no"
        return "benefit" if fav else "harm"
    if p.ci_low < 0 < p.ci_high:
        return "little_or_no"
    return "benefit" if fav else "harm"


_HEDGE = {4: "", 3: "probably ", 2: "may ", 1: ""}


def statement(r: AnalysisResult, level: int) -> str:
    """GRADE informative statement (GRADE 26, Santesso 2020): the verb carries the certainty
    (high: none; moderate: 'probably'; low: 'may'; very low: 'the evidence is very uncertain')."""
    spec = r.spec
    if r.pooled is None:
        return f"No usable data: the effect of {_lower_first(spec.intervention)} on {_short(spec.outcome_label)} is unknown."
    cat = effect_category(r)
    if spec.question == "frequency":
        p = r.pooled
        est, lo, hi = (r.display(x) for x in (p.estimate, p.ci_low, p.ci_high))
        rate = f"about {est:.2g} per {spec.per:g} (95% CI {lo:.2g} to {hi:.2g})"
        if level == 1:
            return f"The evidence is very uncertain about the rate of {_short(spec.outcome_label)}: {rate}."
        rel = "below" if cat == "below" else "above"
        label = f" ({spec.threshold_label})" if spec.threshold_label else ""
        verb = {4: "is", 3: "is probably", 2: "may be"}[level]
        thr = "" if spec.threshold is None else f"; the rate {verb} {rel} {spec.threshold:g} per {spec.per:g}{label}"
        return f"{spec.outcome_label}: {rate}{thr}."
    who, what, vs = spec.intervention, _short(spec.outcome_label), _lower_first(spec.comparator)
    if level == 1:
        return f"The evidence is very uncertain about the effect of {_lower_first(who)} on {what} compared with {vs}."
    verb = {"benefit": "improve" if not r.lower_is_better else "reduce", "harm": "worsen",
            "little_or_no": "result in little to no difference in"}[cat]
    if level == 4:
        verb = {"improve": "improves", "reduce": "reduces", "worsen": "worsens",
                "result in little to no difference in": "results in little to no difference in"}[verb]
    elif level == 3:
        verb = "probably " + {"improve": "improves", "reduce": "reduces", "worsen": "worsens",
                              "result in little to no difference in": "results in little to no difference in"}[verb]
    else:
        verb = "may " + verb
    return f"{who} {verb} {what} compared with {vs}."


def _lower_first(text: str) -> str:
    """Lower-case the first letter unless the first word is an acronym (WOMAC, VAS)."""
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def _short(label: str) -> str:
    """The outcome without its instrument or timing: 'Pain (VAS 0-100 mm), at 1 week' -> 'pain'."""
    for sep in (" (", ","):
        label = label.split(sep)[0]
    return _lower_first(label.strip())


def grade(result: AnalysisResult) -> Grade:
    """Grade one analysis (see module docstring)."""
    spec = result.spec
    c = context(result)
    randomised = len(result.included) > 0 and (result.included["design"] == "rct").all()
    start = 4 if (randomised or spec.question == "frequency") else 2
    judgements = []
    for d in DOMAINS:
        j = _judge(d, c)
        for o in spec.overrides:
            if o.domain == d:
                j = Judgement(d, o.rating, f"override: {o.reason} (computed: {j.rationale})", j.criterion,
                              j.guidance, override=True, computed_rating=j.rating)
        judgements.append(j)
    level = max(1, start + sum(j.rating for j in judgements)) if result.pooled is not None else 1
    return Grade(analysis_id=spec.id, start=start, judgements=tuple(judgements), level=level, certainty=LEVELS[level],
                 statement=statement(result, level), effect_category=effect_category(result))
