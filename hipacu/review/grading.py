"""GRADE from the data: certainty of a body of evidence, each judgement with a computed rationale.

The rules are a table (:data:`RULES`): one row per criterion, with the domain, the rating it gives,
a predicate on the analysis's numbers (:class:`Context`), a rationale template and the guidance it
encodes. Thresholds are named constants and every criterion's text is formatted from them, so the
README table, the predicate and the tests cannot drift. For each domain the most severe matching
row wins; a curated override (``analyses.toml``) replaces a domain's rating and is shown as such.

What the rules compute rather than assume:

- the **starting level** from the designs carrying the weight (trials, or prospective cohorts for a
  frequency question: Iorio 2015; GRADE 28, Foroutan 2020), never from a label;
- **effect categories** from the decision thresholds: the minimal important difference on both sides
  of no effect (GRADE 34's minimally contextualised approach: important benefit / little or no
  effect / important harm; without an MID the threshold is no effect), or the CIOMS frequency bands
  for rates; the same categories serve the verdicts (:mod:`hipacu.review.claims`);
- the **optimal information size**, from the MID and the outcome's SD (continuous) or from the
  comparator risk and a relative reduction (binary), with α = :data:`OIS_ALPHA` and power
  :data:`OIS_POWER`, applied only where GRADE applies it: when the CI crosses no threshold and lies
  outside the "little or no effect" range;
- **reporting bias** only from results known to exist and be unpublished (``data_status.csv``), or
  from funnel asymmetry with at least 10 studies; results that are published but not extractable,
  or trials never found, are listed and counted in no domain.

One concern is counted in one domain: small samples and wide intervals in imprecision only; missing
studies in reporting bias only if their results are known to be unpublished; data-integrity flags in
risk of bias only.

References (the bibliography of the rule table):

- GRADE 4  Guyatt GH et al. Rating the quality of evidence - study limitations (risk of bias).
  J Clin Epidemiol 2011;64:407-415.
- GRADE 5  Guyatt GH et al. Rating the quality of evidence - publication bias. J Clin Epidemiol
  2011;64:1277-1282.
- GRADE 6  Guyatt GH et al. Rating the quality of evidence - imprecision. J Clin Epidemiol
  2011;64:1283-1293 (the OIS as a conventional sample-size calculation; RR 0.75/1.25 as a rough
  guide to appreciable benefit or harm without other thresholds).
- GRADE 7  Guyatt GH et al. Rating the quality of evidence - inconsistency. J Clin Epidemiol
  2011;64:1294-1302.
- GRADE 8  Guyatt GH et al. Rating the quality of evidence - indirectness. J Clin Epidemiol
  2011;64:1303-1310.
- GRADE 11 Guyatt GH et al. Making an overall rating of confidence in effect estimates for a single
  outcome and for all outcomes. J Clin Epidemiol 2013;66:151-157.
- GRADE 26 Santesso N et al. Informative statements to communicate the findings of systematic
  reviews of interventions. J Clin Epidemiol 2020;119:126-135.
- GRADE 28 Foroutan F et al. Use of GRADE for the assessment of evidence about prognostic factors.
  J Clin Epidemiol 2020;121:62-70.
- GRADE 34 Zeng L et al. Update on rating imprecision using a minimally contextualized approach.
  J Clin Epidemiol 2022;150:216-224.
- Iorio A et al. Use of GRADE for assessment of evidence about prognosis. BMJ 2015;350:h870.
- Cochrane Handbook v6: 10.10.2 (I² bands), 13.3.5.4 (funnel tests need >= 10 studies), 14.2
  (GRADE in Cochrane reviews; table 14.2.a and the former 12.2.d on risk of bias), 23.3.4 (multi-arm).
- CIOMS Working Group III (1995), frequency categories of adverse reactions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import pandas as pd
from scipy import special

from hipacu.review.analysis import RATIO_MEASURES, AnalysisResult

__all__ = ["Rule", "RULES", "DOMAINS", "LEVELS", "SYMBOLS", "Judgement", "Grade", "grade", "Context", "context",
           "rules_frame", "rules_markdown", "effect_category", "categories", "optimal_information_size", "cioms_band", "CIOMS_BANDS",
           "method_sensitivity", "METHOD_PANEL", "start_level", "mid_on_analysis_scale"]

DOMAINS = ("risk_of_bias", "inconsistency", "indirectness", "imprecision", "publication_bias")
LEVELS = {4: "high", 3: "moderate", 2: "low", 1: "very_low"}
SYMBOLS = {4: "⊕⊕⊕⊕", 3: "⊕⊕⊕◯", 2: "⊕⊕◯◯", 1: "⊕◯◯◯"}

# --------------------------------------------------------------------------- named thresholds

#: Share of the analysis weight that makes a study-level concern "most of the evidence" (GRADE 4, 8;
#: Handbook 14.2: "most information is from studies at ...").
MAJORITY = 0.5
#: RoB 2 domains at high risk that make a study's limitations "very serious" (several crucial limitations).
SEVERAL_DOMAINS = 2
#: I² bands (Cochrane Handbook 10.10.2: 50-90% may be substantial; 75-100% considerable).
I2_SUBSTANTIAL = 50.0
I2_CONSIDERABLE = 75.0
#: Q test threshold for heterogeneity (GRADE 7; the test is underpowered, hence 0.10).
Q_ALPHA = 0.10
#: Optimal information size: two-sided α and power of the conventional sample-size calculation (GRADE 6).
OIS_ALPHA = 0.05
OIS_POWER = 0.80
#: Relative risk reduction assumed for a binary OIS when the analysis gives no MID (GRADE 6 / GRADE
#: handbook suggest 20-30%; KCE process book 5.5.4 uses 25%).
OIS_DEFAULT_RRR = 0.25
#: Without an MID, GRADE 6's rough guide to appreciable benefit or harm for ratio measures.
RATIO_APPRECIABLE = (0.75, 1.25)
#: hipacu's reading of "appreciably crosses" (GRADE 34 gives no number): the CI reaches past a
#: threshold by at least this many MIDs.
APPRECIABLE_MIDS = 1.0
#: Funnel asymmetry: Egger's test at this level with at least MIN_K_FUNNEL studies (Handbook 13.3.5.4).
EGGER_ALPHA = 0.10
MIN_K_FUNNEL = 10
#: Share of eligible studies whose results are known to exist but are unpublished that makes
#: non-reporting a serious concern (GRADE 5 gives no number; hipacu's operationalisation).
UNPUBLISHED_SHARE = 0.25
#: CIOMS III frequency bands (lower bound of each band, as a proportion).
CIOMS_BANDS = (("very common", 0.1), ("common", 0.01), ("uncommon", 0.001), ("rare", 0.0001), ("very rare", 0.0))

#: Designs that start at high certainty for an effect question (quasi-randomised allocation is judged
#: in risk of bias, not twice by also starting low) and for a frequency question (prospective data).
TRIALS = ("rct", "quasi_randomised")
PROSPECTIVE = ("rct", "quasi_randomised", "prospective_cohort", "survey")
_ROB_DOMAINS = ("rob_randomisation", "rob_deviations", "rob_missing", "rob_measurement", "rob_reporting")
_SAFETY_DOMAINS = ("rob_selection", "rob_ascertainment", "rob_followup")


# --------------------------------------------------------------------------- effect categories


def _thresholds(r: AnalysisResult) -> float | None:
    """The MID on the analysis scale (log scale for ratio measures), or None without an MID."""
    mid = r.spec.mid
    if mid is None:
        return None
    if r.spec.measure in RATIO_MEASURES:
        return abs(math.log(mid)) if mid != 1 else None
    return float(mid)


def mid_on_analysis_scale(r: AnalysisResult) -> float | None:
    """The decision threshold the effect categories use: the MID on the analysis scale (``|log MID|``
    for ratio measures), or None when the analysis declares no MID (read-only; for figures)."""
    return _thresholds(r)


def _category_of(value: float, mid: float | None, lower_is_better: bool | None) -> str:
    """``benefit``, ``little_or_no`` or ``harm`` for one value on the analysis scale."""
    lib = True if lower_is_better is None else lower_is_better
    m = 0.0 if mid is None else mid
    if -m < value < m or value == 0:
        return "little_or_no"
    favourable = value < 0 if lib else value > 0
    return "benefit" if favourable else "harm"


def categories(r: AnalysisResult, lo: float, hi: float) -> tuple[str, ...]:
    """Effect categories an interval ``[lo, hi]`` (analysis scale) overlaps, ordered from benefit to harm.

    With an MID the thresholds are minus and plus the MID (GRADE 34, minimally contextualised:
    important benefit / little or no effect / important harm). Without one the only threshold is no
    effect, so an interval that contains it spans benefit and harm (one threshold crossed).
    """
    mid = _thresholds(r)
    lib = True if r.lower_is_better is None else r.lower_is_better
    low_side, high_side = ("benefit", "harm") if lib else ("harm", "benefit")
    m = 0.0 if mid is None else mid
    cats = []
    if lo < -m:
        cats.append(low_side)
    if mid is not None and lo < m and hi > -m:
        cats.append("little_or_no")
    if hi > m:
        cats.append(high_side)
    if not cats:  # no MID and a degenerate interval at exactly no effect
        cats.append("little_or_no")
    order = ("benefit", "little_or_no", "harm")
    return tuple(sorted(set(cats), key=order.index))


def cioms_band(rate: float) -> str:
    """The CIOMS III frequency category of a proportion (very common >= 1/10 ... very rare < 1/10,000)."""
    for name, lower in CIOMS_BANDS:
        if rate >= lower:
            return name
    return CIOMS_BANDS[-1][0]


def _rate(r: AnalysisResult, value: float) -> float:
    """A pooled value of a frequency analysis as a proportion (events per unit)."""
    return r.display(value) / (r.spec.per or 1.0)


def effect_category(r: AnalysisResult) -> str:
    """Where the point estimate lies: ``benefit``, ``little_or_no``, ``harm`` (effect questions) or
    ``below``/``above`` the threshold (frequency questions); ``none`` without data."""
    p = r.pooled
    if p is None:
        return "none"
    if r.spec.question == "frequency":
        if r.spec.threshold is None:
            return "below"
        return "below" if r.display(p.estimate) < r.spec.threshold else "above"
    return _category_of(p.estimate, _thresholds(r), r.lower_is_better)


# --------------------------------------------------------------------------- optimal information size


def optimal_information_size(*, mid: float | None = None, sd: float | None = None, control_risk: float | None = None,
                             rrr: float | None = None, alpha: float = OIS_ALPHA, power: float = OIS_POWER) -> float:
    """Total participants of a single adequately powered two-arm trial (GRADE 6's optimal information size).

    Continuous outcome (``mid``, ``sd``): ``2 · 2 (z_{1-α/2} + z_{power})² σ² / δ²`` with δ the MID.
    Binary outcome (``control_risk`` p1, relative risk reduction ``rrr``): p2 = p1 (1 - rrr) and
    ``2 (z_{1-α/2} + z_{power})² [p1(1-p1) + p2(1-p2)] / (p1 - p2)²`` (unpooled variance).
    GRADE 6's example (via the KCE process book 5.5.4): p1 = 0.2, RRR 25% gives "approximately 2000".
    """
    z = special.ndtri(1 - alpha / 2) + special.ndtri(power)
    if mid is not None and sd is not None:
        if mid <= 0 or sd <= 0:
            raise ValueError(f"mid = {mid!r} and sd = {sd!r} must both be > 0")
        return float(2 * 2 * z**2 * sd**2 / mid**2)
    if control_risk is not None:
        rrr = OIS_DEFAULT_RRR if rrr is None else rrr
        if not 0 < control_risk < 1 or not 0 < rrr < 1:
            raise ValueError(f"control_risk = {control_risk!r} and rrr = {rrr!r} must be between 0 and 1")
        p1, p2 = control_risk, control_risk * (1 - rrr)
        return float(2 * z**2 * (p1 * (1 - p1) + p2 * (1 - p2)) / (p1 - p2) ** 2)
    raise ValueError("an optimal information size needs mid and sd (continuous) or control_risk (binary)")


def _ois(r: AnalysisResult) -> tuple[float | None, str]:
    """The OIS of an analysis and how it was computed, or ``(None, why not)``."""
    spec, inc = r.spec, r.included
    if spec.question == "frequency":
        return None, "not applicable to a frequency question"
    if spec.measure in ("MD", "SMD", "ROM"):
        if spec.mid is None:
            return None, "not computable without an MID"
        if spec.measure == "SMD":
            return optimal_information_size(mid=spec.mid, sd=1.0), f"MID {spec.mid:g} SD units"
        if spec.ois_sd is not None:
            sd, how = spec.ois_sd, f"SD {spec.ois_sd:g} ({spec.ois_sd_source})"
        else:
            ok = inc["sd_pooled"].notna() & inc["n"].notna()
            if not ok.any():
                return None, "not computable: no arm-level SD among the pooled studies and no ois_sd in analyses.toml"
            w = inc.loc[ok, "n"].to_numpy(float)
            sd = float(np.sqrt(np.sum(w * inc.loc[ok, "sd_pooled"].to_numpy(float) ** 2) / w.sum()))
            how = f"SD {sd:.3g} pooled from the trials' arms"
        if spec.measure == "ROM":
            return None, "not computable for a ratio of means"
        return optimal_information_size(mid=spec.mid, sd=sd), f"MID {spec.mid:g}, {how}"
    # binary
    if spec.control_risk is not None:
        cr, how = spec.control_risk, f"comparator risk {spec.control_risk:.3g} ({spec.control_risk_source})"
    else:
        ok = inc["events2"].notna() & inc["n2"].notna()
        if not ok.any() or inc.loc[ok, "n2"].sum() == 0:
            return None, "not computable: no comparator-arm counts and no control_risk in analyses.toml"
        cr = float(inc.loc[ok, "events2"].sum() / inc.loc[ok, "n2"].sum())
        how = f"comparator risk {cr:.3g} pooled from the trials"
    if not 0 < cr < 1:
        return None, f"not computable: comparator risk {cr:g}"
    if spec.mid is not None and spec.measure in ("RR", "OR"):
        rrr = 1 - (spec.mid if spec.mid < 1 else 1 / spec.mid)
        how += f", relative reduction {rrr:.0%} from the MID"
    else:
        rrr = OIS_DEFAULT_RRR
        how += f", relative reduction {rrr:.0%} (GRADE 6 default)"
    return optimal_information_size(control_risk=cr, rrr=rrr), how


# --------------------------------------------------------------------------- the numbers rules read


@dataclass(frozen=True)
class Context:
    """What the rules read, computed once from an :class:`AnalysisResult` (:func:`context`)."""

    k: int
    participants: int
    question: str
    has_mid: bool = True
    # risk of bias (weight shares)
    weight_high_rob: float = 0.0
    weight_concerns_rob: float = 0.0
    weight_rob_not_assessed: float = 0.0
    weight_very_serious_rob: float = 0.0
    very_serious_labels: str = ""
    # inconsistency
    i2: float = 0.0
    q_pval: float = 1.0
    estimate_categories: tuple[str, ...] = ()
    pi_categories: tuple[str, ...] = ()
    # indirectness (weight shares)
    weight_indirect_population: float = 0.0
    weight_indirect_intervention: float = 0.0
    weight_indirect_comparator: float = 0.0
    weight_indirect_outcome: float = 0.0
    weight_confounded: float = 0.0
    confounded_labels: str = ""
    # imprecision
    ci_categories: tuple[str, ...] = ("little_or_no",)
    appreciable: bool = False
    ois: float | None = None
    ois_how: str = ""
    rate_bands: tuple[str, ...] = ()
    crosses_rate_threshold: bool = False
    events: float | None = None
    # reporting bias
    eligible: int = 0
    unpublished: int = 0
    unpublished_labels: str = ""
    not_extractable_labels: str = ""
    not_found_labels: str = ""
    egger_pval: float = float("nan")
    # text
    ci_text: str = ""
    threshold_text: str = ""

    @property
    def indirect_components(self) -> tuple[str, ...]:
        """Which of population, intervention, comparator and outcome are indirect for most of the weight."""
        shares = {"population": self.weight_indirect_population, "intervention": self.weight_indirect_intervention,
                  "comparator": self.weight_indirect_comparator, "outcome": self.weight_indirect_outcome}
        return tuple(name for name, s in shares.items() if s >= MAJORITY)


def _share(inc: pd.DataFrame, mask) -> float:
    w = inc["weight"].to_numpy(float)
    m = np.asarray(mask, bool)
    return float(w[m].sum() / w.sum()) if len(w) and w.sum() > 0 else 0.0


def _study_rob(inc: pd.DataFrame, question: str) -> pd.Series:
    """Per study: ``low``/``some_concerns``/``high``/``not_assessed``. Trials use RoB 2's overall
    judgement; surveys and cohorts answering a frequency question use the worst of their appraisal
    domains (selection/response, ascertainment of events, follow-up) when any is recorded."""
    order = {"low": 0, "some_concerns": 1, "high": 2}
    out = []
    for _, s in inc.iterrows():
        if question == "frequency" and s["design"] not in TRIALS:
            vals = [s[c] for c in _SAFETY_DOMAINS if isinstance(s[c], str) and s[c] in order]
            out.append(max(vals, key=order.get) if vals else "not_assessed")
        else:
            out.append(s["rob_overall"] if s["rob_overall"] in order else "not_assessed")
    return pd.Series(out, index=inc.index)


def _very_serious(inc: pd.DataFrame) -> pd.Series:
    """Studies with very serious limitations: high risk in several RoB domains, or numbers flagged implausible."""
    highs = sum((inc[c] == "high").astype(int) for c in _ROB_DOMAINS + _SAFETY_DOMAINS)
    return (highs >= SEVERAL_DOMAINS) | inc["implausible"].astype(bool)


def _labels(inc: pd.DataFrame, mask) -> str:
    return ", ".join(inc.loc[np.asarray(mask, bool), "label"].astype(str))


def _heterogeneity(r: AnalysisResult) -> tuple[float, float]:
    """I² (percent) and the Q-test p-value. Heterogeneity is a property of the data: the model's own I²
    where it defines one, otherwise I² from Cochran's Q (Higgins & Thompson 2002) on the normal
    approximation, so a GLMM or Bayesian fit is judged for inconsistency like any other."""
    from hipacu.models._stats import i2_h2_from_q
    from hipacu.models.pooling import pool

    p = r.pooled
    k = len(r.included)
    qp = getattr(p, "q_pval", None)
    i2 = p.i2 if np.isfinite(p.i2) else None
    if (qp is None or i2 is None) and k >= 2:
        fe = pool(r.included["yi"].to_numpy(float), r.included["vi"].to_numpy(float), method="FE")
        qp = fe.q_pval if qp is None else qp
        i2 = i2_h2_from_q(fe.q, k - 1)[0] if i2 is None else i2
    return (float(i2) if i2 is not None else 0.0), (float(qp) if qp is not None else 1.0)


def context(r: AnalysisResult, *, ci: tuple[float, float] | None = None) -> Context:
    """The numbers the rules read; ``ci`` replaces the pooled interval (method-sensitivity panel)."""
    spec, inc, p = r.spec, r.included, r.pooled
    el = r.eligible
    status = el["status"] if len(el) else pd.Series(dtype=object)
    report = dict(
        eligible=int(len(el)), unpublished=int((status == "unpublished").sum()),
        unpublished_labels=_labels(el, status == "unpublished"),
        not_extractable_labels=_labels(el, status == "published_not_extractable"),
        not_found_labels=_labels(el, status == "not_found"),
    )
    if p is None:
        return Context(k=0, participants=0, question=spec.question, has_mid=spec.mid is not None, **report)
    lo, hi = ci if ci is not None else (p.ci_low, p.ci_high)
    mid = _thresholds(r)
    rob = _study_rob(inc, spec.question)
    vs = _very_serious(inc)
    confounded = inc["co_intervention_arms"].isin(["intervention_only", "comparator_only"])
    names = [b for b, _ in CIOMS_BANDS]
    if spec.question == "frequency":  # categories of a rate are its CIOMS bands
        est_cats = tuple(sorted({cioms_band(_rate(r, y)) for y in inc["yi"]}, key=names.index))
    else:
        est_cats = tuple(sorted({_category_of(y, mid, r.lower_is_better) for y in inc["yi"]},
                                key=("benefit", "little_or_no", "harm").index))
    pi_cats: tuple[str, ...] = ()
    if p.k >= 3 and np.isfinite(p.pi_low) and np.isfinite(p.pi_high):
        if spec.question == "frequency":
            pi_cats = tuple(names[names.index(cioms_band(_rate(r, p.pi_high))):names.index(cioms_band(_rate(r, p.pi_low))) + 1])
        else:
            pi_cats = categories(r, p.pi_low, p.pi_high)
    ci_cats = categories(r, lo, hi) if spec.question == "effect" else ()
    appreciable = False
    if spec.question == "effect" and len(ci_cats) == 2:
        if mid is not None:
            reach = APPRECIABLE_MIDS * mid
            appreciable = (lo < -mid - reach and hi > -mid) or (hi > mid + reach and lo < mid)
            appreciable &= "little_or_no" in ci_cats and (lo < -mid - reach or hi > mid + reach)
        elif spec.measure in RATIO_MEASURES:
            appreciable = math.exp(lo) < RATIO_APPRECIABLE[0] and math.exp(hi) > RATIO_APPRECIABLE[1]
    bands: tuple[str, ...] = ()
    crosses_rate = False
    events = None
    if spec.question == "frequency":
        lo_b, hi_b = names.index(cioms_band(_rate(r, hi))), names.index(cioms_band(_rate(r, lo)))
        bands = tuple(names[lo_b:hi_b + 1])
        if spec.threshold is not None:
            crosses_rate = r.display(lo) < spec.threshold < r.display(hi)
    ois, ois_how = _ois(r)
    i2, qp = _heterogeneity(r)
    egger = r.small_study.egger
    level = getattr(p, "level", 0.95)
    if spec.question == "frequency":
        unit = f" per {spec.per:g}" if spec.per else ""
        ci_text = f"{100 * level:g}% CI {r.display(lo):.3g} to {r.display(hi):.3g}{unit}"
        thr = "the CIOMS frequency bands" + (f" and the threshold of {spec.threshold:g}{unit}" if spec.threshold else "")
    else:
        ci_text = f"{100 * level:g}% CI {r.display(lo):.3g} to {r.display(hi):.3g}"
        if spec.mid is not None and spec.measure in RATIO_MEASURES:  # a ratio MID means two thresholds: m and 1/m
            low = min(spec.mid, 1 / spec.mid)
            thr = f"the MID ({spec.measure} {low:.3g} and {1 / low:.3g})"
        elif spec.mid is not None:
            thr = f"the MID of {spec.mid:g} {spec.mid_unit or ''}".rstrip()
        else:
            thr = "no effect (no MID declared)"
    return Context(
        k=p.k, participants=r.participants, question=spec.question, has_mid=spec.mid is not None,
        weight_high_rob=_share(inc, rob == "high"),
        weight_concerns_rob=_share(inc, rob.isin(["high", "some_concerns"])),
        weight_rob_not_assessed=_share(inc, rob == "not_assessed"),
        weight_very_serious_rob=_share(inc, vs), very_serious_labels=_labels(inc, vs),
        i2=i2, q_pval=qp,
        estimate_categories=est_cats, pi_categories=pi_cats,
        weight_indirect_population=_share(inc, ~inc["condition"].isin(spec.conditions)) if spec.conditions else 0.0,
        weight_indirect_intervention=_share(inc, ~inc["intervention"].isin(spec.interventions)) if spec.interventions else 0.0,
        weight_indirect_comparator=_share(inc, inc["comparison"] != spec.comparison)
        if spec.comparison and spec.question == "effect" else 0.0,
        weight_indirect_outcome=_share(inc, ~inc["outcome"].isin(spec.outcomes)) if spec.outcomes else 0.0,
        weight_confounded=_share(inc, confounded), confounded_labels=_labels(inc, confounded),
        ci_categories=ci_cats, appreciable=appreciable, ois=ois, ois_how=ois_how,
        rate_bands=bands, crosses_rate_threshold=crosses_rate, events=events,
        egger_pval=float("nan") if egger is None else float(egger.pval),
        ci_text=ci_text, threshold_text=thr, **report,
    )


# --------------------------------------------------------------------------- the rule table


@dataclass(frozen=True)
class Rule:
    """One row of the rule table: in ``domain``, rate ``rating`` when ``applies``; say ``rationale``."""

    domain: str
    rating: int
    criterion: str
    applies: Callable[[Context], bool]
    rationale: Callable[[Context], str]
    guidance: str


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _cats(c: tuple[str, ...]) -> str:
    return ", ".join(x.replace("_", " ") for x in c) or "none"


def _below_ois(c: Context) -> bool:
    return c.ois is not None and c.participants < c.ois


RULES: tuple[Rule, ...] = (
    # ---- risk of bias (GRADE 4; Cochrane Handbook 14.2, former table 12.2.d)
    Rule("risk_of_bias", -2,
         f"at least {_pct(MAJORITY)} of the weight from studies with very serious limitations (high risk in "
         f"{SEVERAL_DOMAINS} or more domains, or numbers flagged implausible)",
         lambda c: c.k > 0 and c.weight_very_serious_rob >= MAJORITY,
         lambda c: f"{_pct(c.weight_very_serious_rob)} of the weight from studies with very serious limitations "
                   f"({c.very_serious_labels})",
         "GRADE 4 (Guyatt 2011) and Cochrane Handbook 14.2: rate down twice for very serious limitations "
         "(crucial limitations in several criteria, or one that substantially lowers confidence)"),
    Rule("risk_of_bias", -1, f"at least {_pct(MAJORITY)} of the weight from studies at high risk or with some concerns",
         lambda c: c.k > 0 and c.weight_concerns_rob >= MAJORITY,
         lambda c: f"{_pct(c.weight_concerns_rob)} of the weight from studies at high risk or with some concerns "
                   f"({_pct(c.weight_high_rob)} high)",
         "GRADE 4 (Guyatt 2011); Cochrane Handbook 14.2: most information from studies whose limitations "
         "lower confidence: rate down once"),
    Rule("risk_of_bias", -1, f"at least {_pct(MAJORITY)} of the weight from studies with no appraisal recorded",
         lambda c: c.k > 0 and c.weight_rob_not_assessed >= MAJORITY,
         lambda c: f"no risk-of-bias appraisal recorded for {_pct(c.weight_rob_not_assessed)} of the weight, so "
                   "limitations cannot be excluded (record one in studies.csv)",
         "GRADE 4 (Guyatt 2011): limitations that cannot be excluded for most of the evidence"),
    Rule("risk_of_bias", 0, "most weight from studies at low risk of bias",
         lambda c: c.k > 0,
         lambda c: f"{_pct(1 - c.weight_concerns_rob - c.weight_rob_not_assessed)} of the weight from studies at "
                   "low risk of bias",
         "GRADE 4 (Guyatt 2011)"),
    # ---- inconsistency (GRADE 7; Handbook 10.10.2)
    Rule("inconsistency", 0, "a single study: inconsistency cannot be assessed",
         lambda c: c.k == 1,
         lambda c: "single study: inconsistency not assessable (not rated down; imprecision carries the "
                   "uncertainty of a single trial)",
         "GRADE 7 (Guyatt 2011)"),
    Rule("inconsistency", -2,
         f"I² >= {I2_CONSIDERABLE:g}% with Q p < {Q_ALPHA:g}, and studies in both important benefit and important harm",
         lambda c: c.k >= 2 and c.i2 >= I2_CONSIDERABLE and c.q_pval < Q_ALPHA
         and {"benefit", "harm"} <= set(c.estimate_categories),
         lambda c: f"I² = {c.i2:.0f}% (Q p = {c.q_pval:.2g}); study estimates in {_cats(c.estimate_categories)}",
         "GRADE 7 (Guyatt 2011): rate down when some studies suggest substantial benefit and others harm; "
         "Cochrane Handbook 10.10.2: I² 75-100% is considerable"),
    Rule("inconsistency", -1,
         f"I² >= {I2_SUBSTANTIAL:g}% with Q p < {Q_ALPHA:g}, and study estimates (or, k >= 3, the prediction interval) "
         "in different effect categories",
         lambda c: c.k >= 2 and c.i2 >= I2_SUBSTANTIAL and c.q_pval < Q_ALPHA
         and (len(c.estimate_categories) >= 2 or {"benefit", "harm"} <= set(c.pi_categories)),
         lambda c: f"I² = {c.i2:.0f}% (Q p = {c.q_pval:.2g}); study estimates in {_cats(c.estimate_categories)}"
                   + (f"; prediction interval spans {_cats(c.pi_categories)}" if c.pi_categories else
                      "; with k = 2 no prediction interval is estimable"),
         "GRADE 7 (Guyatt 2011): inconsistency that changes the decision (benefit vs no effect or harm); "
         "Cochrane Handbook 10.10.2: I² 50-90% may be substantial"),
    Rule("inconsistency", 0, "heterogeneous, but every study in the same effect category",
         lambda c: c.k >= 2 and c.i2 >= I2_SUBSTANTIAL and c.q_pval < Q_ALPHA,
         lambda c: f"I² = {c.i2:.0f}% (Q p = {c.q_pval:.2g}), but every study estimate lies in "
                   f"{_cats(c.estimate_categories)}, so the decision does not depend on which study is right",
         "GRADE 7 (Guyatt 2011): differences that do not change the decision are not important inconsistency"),
    Rule("inconsistency", 0, "little heterogeneity",
         lambda c: c.k >= 2,
         lambda c: f"I² = {c.i2:.0f}%, Q p = {c.q_pval:.2g}" + ("; with k = 2, judged from I², Q and the two estimates"
                                                                 if c.k == 2 else ""),
         "GRADE 7 (Guyatt 2011)"),
    # ---- indirectness (GRADE 8)
    Rule("indirectness", -2,
         f"at least {_pct(MAJORITY)} of the weight from comparisons confounded by a co-intervention given to one arm, "
         "or indirect in two or more of population, intervention, comparator and outcome",
         lambda c: c.k > 0 and (c.weight_confounded >= MAJORITY or len(c.indirect_components) >= 2),
         lambda c: (f"{_pct(c.weight_confounded)} of the weight from comparisons where a co-intervention was given to "
                    f"one arm only ({c.confounded_labels}), so the effect of the intervention itself is not isolated"
                    if c.weight_confounded >= MAJORITY else
                    f"most of the weight indirect in {', '.join(c.indirect_components)}"),
         "GRADE 8 (Guyatt 2011): rate down twice when indirectness is very serious (differences in population, "
         "intervention, comparator and outcome; an intervention given with another active component)"),
    Rule("indirectness", -1,
         f"at least {_pct(MAJORITY)} of the weight indirect in one of population, intervention, comparator or outcome",
         lambda c: c.k > 0 and len(c.indirect_components) == 1,
         lambda c: f"most of the weight indirect in {c.indirect_components[0]} ("
                   + {"population": _pct(c.weight_indirect_population), "intervention": _pct(c.weight_indirect_intervention),
                      "comparator": _pct(c.weight_indirect_comparator),
                      "outcome": _pct(c.weight_indirect_outcome)}[c.indirect_components[0]]
                   + " of the weight)",
         "GRADE 8 (Guyatt 2011): differences in population, intervention, comparator or outcome"),
    Rule("indirectness", 0, "population, intervention, comparator and outcome as the question asks",
         lambda c: c.k > 0,
         lambda c: "population, intervention, comparator and outcome match the question for most of the weight"
                   + (f"; {_pct(c.weight_confounded)} of the weight with a one-arm co-intervention"
                      if c.weight_confounded > 0 else ""),
         "GRADE 8 (Guyatt 2011)"),
    # ---- imprecision (GRADE 6, GRADE 34): effect questions
    Rule("imprecision", -2, "the CI spans important benefit, little or no effect and important harm",
         lambda c: c.question == "effect" and c.k > 0 and len(c.ci_categories) >= 3,
         lambda c: f"{c.ci_text} includes important benefit and important harm ({c.threshold_text})",
         "GRADE 34 (Zeng 2022): rate down twice when the CI crosses both thresholds"),
    Rule("imprecision", -2,
         f"the CI crosses one threshold appreciably (by at least {APPRECIABLE_MIDS:g} MID beyond it; without an MID, "
         f"a ratio CI below {RATIO_APPRECIABLE[0]:g} and above {RATIO_APPRECIABLE[1]:g})",
         lambda c: c.question == "effect" and c.k > 0 and len(c.ci_categories) == 2 and c.appreciable,
         lambda c: f"{c.ci_text} crosses {c.threshold_text} appreciably (spans {_cats(c.ci_categories)})",
         "GRADE 34 (Zeng 2022): rate down two levels when the CI appreciably crosses a threshold; GRADE 6: "
         "RR below 0.75 and above 1.25 as a rough guide"),
    Rule("imprecision", -1, "the CI crosses one decision threshold",
         lambda c: c.question == "effect" and c.k > 0 and len(c.ci_categories) == 2,
         lambda c: f"{c.ci_text} crosses {c.threshold_text} (spans {_cats(c.ci_categories)})",
         "GRADE 34 (Zeng 2022): rate down once when the CI crosses one threshold"),
    Rule("imprecision", -1,
         f"the CI crosses no threshold and lies outside little or no effect, but the sample is below the optimal "
         f"information size (α {OIS_ALPHA:g}, power {OIS_POWER:g})",
         lambda c: c.question == "effect" and c.k > 0 and c.ci_categories != ("little_or_no",) and _below_ois(c),
         lambda c: f"{c.ci_text} stays in {_cats(c.ci_categories)}, but {c.participants} participants are below the "
                   f"optimal information size of {c.ois:.0f} ({c.ois_how})",
         "GRADE 6 (Guyatt 2011) and GRADE 34 (Zeng 2022): when the CI does not cross a threshold, rate down if the "
         "optimal information size is not met (large effects from small samples)"),
    # ---- imprecision: frequency questions (CIOMS bands)
    Rule("imprecision", -2, "the rate's CI spans three or more CIOMS frequency bands",
         lambda c: c.question == "frequency" and c.k > 0 and len(c.rate_bands) >= 3,
         lambda c: f"{c.ci_text} spans {len(c.rate_bands)} frequency bands ({', '.join(c.rate_bands)})",
         "GRADE 6 (Guyatt 2011) applied to rates (Iorio 2015): very serious imprecision when the interval "
         "allows several frequency categories; CIOMS III bands"),
    Rule("imprecision", -1, "the rate's CI spans two CIOMS frequency bands or crosses the claim's threshold",
         lambda c: c.question == "frequency" and c.k > 0 and (len(c.rate_bands) == 2 or c.crosses_rate_threshold),
         lambda c: f"{c.ci_text} spans {', '.join(c.rate_bands)}"
                   + ("; it crosses the threshold" if c.crosses_rate_threshold else ""),
         "GRADE 6 (Guyatt 2011) applied to rates (Iorio 2015); CIOMS III bands"),
    Rule("imprecision", 0, "the CI stays within one effect category (or frequency band) and the sample is large enough",
         lambda c: c.k > 0,
         lambda c: (f"{c.ci_text} stays within {', '.join(c.rate_bands) or 'one band'}" if c.question == "frequency" else
                    f"{c.ci_text} stays in {_cats(c.ci_categories)} ({c.threshold_text})"
                    + ("" if c.ci_categories == ("little_or_no",) or c.ois is None else
                       f"; {c.participants} participants meet the optimal information size of {c.ois:.0f}")
                    + ("" if c.ois is not None or c.ci_categories == ("little_or_no",) else f"; OIS {c.ois_how}")),
         "GRADE 6 (Guyatt 2011); GRADE 34 (Zeng 2022)"),
    # ---- publication / reporting bias (GRADE 5; Handbook 13)
    Rule("publication_bias", -1, f"funnel asymmetry (Egger p < {EGGER_ALPHA:g}) with at least {MIN_K_FUNNEL} studies",
         lambda c: c.k >= MIN_K_FUNNEL and c.egger_pval < EGGER_ALPHA,
         lambda c: f"Egger's test p = {c.egger_pval:.2g} with {c.k} studies",
         "GRADE 5 (Guyatt 2011); Cochrane Handbook 13.3.5.4"),
    Rule("publication_bias", -1,
         f"results known to exist but unpublished for at least {_pct(UNPUBLISHED_SHARE)} of the eligible studies",
         lambda c: c.unpublished > 0 and c.unpublished / max(c.unpublished + c.k, 1) >= UNPUBLISHED_SHARE,
         lambda c: f"{c.unpublished} eligible studies with results registered or known but unpublished "
                   f"({c.unpublished_labels}) beside {c.k} pooled",
         "GRADE 5 (Guyatt 2011); Cochrane Handbook 13: rate down when results are known to be unavailable "
         "(non-reporting bias)"),
    Rule("publication_bias", 0, "no sign of non-reporting",
         lambda c: c.k > 0,
         lambda c: "; ".join(x for x in (
             f"{c.unpublished} unpublished ({c.unpublished_labels})" if c.unpublished else "",
             f"published but not extractable, not evidence of non-reporting: {c.not_extractable_labels}"
             if c.not_extractable_labels else "",
             f"not found: {c.not_found_labels}" if c.not_found_labels else "",
             "funnel tests not run (k < 10)" if c.k < MIN_K_FUNNEL else f"Egger's test p = {c.egger_pval:.2g}") if x),
         "GRADE 5 (Guyatt 2011): only results known to be unavailable, or funnel asymmetry, rate down"),
)


def rules_frame() -> pd.DataFrame:
    """The rule table as a DataFrame (domain, rating, criterion, guidance), for documentation."""
    return pd.DataFrame([{"domain": r.domain, "rating": r.rating, "criterion": r.criterion, "guidance": r.guidance}
                         for r in RULES])


def rules_markdown() -> str:
    """The rule table as the Markdown table the README shows (tests keep the two identical)."""
    lines = ["| domain | rating | criterion | GRADE guidance |", "|---|---|---|---|"]
    lines += [f"| {r.domain.replace('_', ' ')} | {r.rating:+d} | {r.criterion} | {r.guidance} |" for r in RULES]
    return "\n".join(lines)


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
        4 (high) or 2 (low), from the designs carrying the weight (:func:`start_level`).
    start_reason : str
    judgements : tuple of Judgement
        One per domain, in :data:`DOMAINS` order.
    level : int
        1-4 after rating down (floor 1).
    certainty : str
        ``high``, ``moderate``, ``low`` or ``very_low``.
    statement : str
        The GRADE informative statement (GRADE 26).
    effect_category : str
        Where the point estimate lies (:func:`effect_category`).
    method_sensitive : bool
        Whether the imprecision rating or the effect category changes under another model or interval
        in :data:`METHOD_PANEL` (:func:`method_sensitivity`).
    method_note : str
    method_panel : DataFrame
        The panel itself (:func:`method_sensitivity`), computed once here for the claims and the report.
    """

    analysis_id: str
    start: int
    judgements: tuple[Judgement, ...]
    level: int
    certainty: str
    statement: str
    effect_category: str = ""
    start_reason: str = ""
    method_sensitive: bool = False
    method_note: str = ""
    method_panel: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    @property
    def symbols(self) -> str:
        return SYMBOLS[self.level]

    def judgement(self, domain: str) -> Judgement:
        return next(j for j in self.judgements if j.domain == domain)

    def to_frame(self) -> pd.DataFrame:
        """One row per domain: rating, rationale, criterion, guidance, override."""
        return pd.DataFrame([j.__dict__ for j in self.judgements])

    def summary(self) -> str:
        lines = [f"{self.analysis_id}: {self.certainty.replace('_', ' ')} certainty {self.symbols}", self.statement,
                 f"  start: {LEVELS[self.start]} ({self.start_reason})"]
        for j in self.judgements:
            tag = " (override)" if j.override else ""
            lines.append(f"  {j.domain:<17} {j.rating:+d}{tag}: {j.rationale}")
        if self.method_note:
            lines.append(f"  methods: {self.method_note}")
        return "\n".join(lines)


def _judge(domain: str, c: Context) -> Judgement:
    for rule in RULES:
        if rule.domain == domain and rule.applies(c):
            return Judgement(domain, rule.rating, rule.rationale(c), rule.criterion, rule.guidance)
    return Judgement(domain, 0, "not assessable: no usable data", "no data", "")


def start_level(r: AnalysisResult) -> tuple[int, str]:
    """``(4 or 2, reason)``: high when most of the weight comes from trials (effect questions) or from
    prospective data (frequency questions: Iorio 2015; GRADE 28), low otherwise (GRADE 4)."""
    inc = r.included
    if not len(inc):
        return 4, "no data"
    if r.spec.question == "frequency":
        share = _share(inc, inc["design"].isin(PROSPECTIVE))
        if share >= MAJORITY:
            return 4, f"{_pct(share)} of the weight from prospective cohorts, surveys or trial arms (Iorio 2015; GRADE 28)"
        return 2, f"{_pct(1 - share)} of the weight from retrospective or other observational data"
    share = _share(inc, inc["design"].isin(TRIALS))
    quasi = _share(inc, inc["design"] == "quasi_randomised")
    if share >= MAJORITY:
        extra = f"; {_pct(quasi)} quasi-randomised, judged in risk of bias" if quasi else ""
        return 4, f"{_pct(share)} of the weight from randomised or quasi-randomised trials{extra}"
    return 2, f"{_pct(1 - share)} of the weight from observational studies"


#: The method-sensitivity panel: (label, method, test) of inverse-variance fits every analysis is re-run
#: under; :func:`method_sensitivity` adds the Bayesian model (log risk/odds ratios, or any analysis that
#: names a prior) and the GLMM (rates), so each analysis is seen under the models its question allows.
METHOD_PANEL = (("common effect", "FE", "z"), ("REML, Wald", "REML", "z"), ("REML, Hartung-Knapp", "REML", "knha"),
                ("REML, Hartung-Knapp ad hoc", "REML", "adhoc"))


def _panel_fits(r: AnalysisResult):
    """``(label, fit)`` pairs: each ``fit()`` returns a SummaryEstimate of the same studies."""
    from hipacu.models.pooling import pool
    from hipacu.review.analysis import DEFAULT_PRIOR, MODELS
    from hipacu.review.study_table import StudyTable

    y, v = r.included["yi"].to_numpy(float), r.included["vi"].to_numpy(float)
    fits = [(label, lambda m=method, t=test: pool(y, v, method=m, test=t)) for label, method, test in METHOD_PANEL]
    if r.spec.measure in ("RR", "OR") or r.spec.prior is not None:
        prior = r.spec.prior or DEFAULT_PRIOR
        fits.append((f"Bayesian, {prior} prior on tau", lambda: MODELS["bayes"](
            StudyTable(r.included, r.excluded, r.lower_is_better), replace(r.spec, prior=prior), "z")))
    if r.spec.question == "frequency" and r.spec.measure in ("PLO", "IRLN") and r.included["events"].notna().all():
        fits.append(("GLMM (counts)", lambda: MODELS["glmm"](StudyTable(r.included, r.excluded, r.lower_is_better),
                                                               r.spec, "z")))
    return fits


def method_sensitivity(r: AnalysisResult) -> pd.DataFrame:
    """The analysis under every model and interval of the panel (:data:`METHOD_PANEL`, the Bayesian model,
    the GLMM where they apply): estimate and CI (reporting scale), the imprecision rating that CI gets,
    the effect category, and whether either differs from the analysis as run (``differs``). Empty for a
    single study."""
    import warnings

    from hipacu.exceptions import ConvergenceWarning, FewStudiesWarning

    cols = ["label", "estimate", "ci_low", "ci_high", "imprecision", "category", "primary", "differs"]
    if r.pooled is None or r.k < 2:
        return pd.DataFrame(columns=cols)
    base_imp = _judge("imprecision", context(r)).rating
    base_cat = effect_category(r)
    def row(label, p, imp, cat, primary):
        return {"label": label, "estimate": r.display(p.estimate), "ci_low": r.display(p.ci_low),
                "ci_high": r.display(p.ci_high), "imprecision": imp, "category": cat, "primary": primary,
                "differs": not primary and (imp != base_imp or cat != base_cat)}

    run_as = f"{r.spec.method}, {r.test}" if r.model == "rma" else r.model
    rows = [row(f"as run ({run_as})", r.pooled, base_imp, base_cat, True)]
    for label, fit in _panel_fits(r):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FewStudiesWarning)
            warnings.simplefilter("ignore", ConvergenceWarning)  # shown by the row itself
            p = fit()
        imp = _judge("imprecision", context(r, ci=(p.ci_low, p.ci_high))).rating
        if r.spec.question == "frequency":
            cat = base_cat if r.spec.threshold is None else ("below" if r.display(p.estimate) < r.spec.threshold else "above")
        else:
            cat = _category_of(p.estimate, _thresholds(r), r.lower_is_better)
        rows.append(row(label + ("" if getattr(p, "converged", True) else " (did not converge)"), p, imp, cat, False))
    return pd.DataFrame(rows, columns=cols)


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
    third = {"improve": "improves", "reduce": "reduces", "worsen": "worsens",
             "result in little to no difference in": "results in little to no difference in"}
    verb = {4: third[verb], 3: "probably " + third[verb]}.get(level, "may " + verb)
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
    """Grade one analysis (see the module docstring)."""
    spec = result.spec
    c = context(result)
    start, why = start_level(result)
    judgements = []
    for d in DOMAINS:
        j = _judge(d, c)
        for o in spec.overrides:
            if o.domain == d:
                j = Judgement(d, o.rating, f"override: {o.reason} (computed: {j.rationale})", j.criterion,
                              j.guidance, override=True, computed_rating=j.rating)
        judgements.append(j)
    level = max(1, start + sum(j.rating for j in judgements)) if result.pooled is not None else 1
    panel = method_sensitivity(result)
    sensitive = bool(panel["differs"].any()) if len(panel) else False
    note = ""
    if sensitive:
        alt = panel[panel["differs"]]
        note = "; ".join(f"{x['label']}: {x['estimate']:.3g} ({x['ci_low']:.3g} to {x['ci_high']:.3g}), imprecision "
                         f"{x['imprecision']:+d}, {x['category'].replace('_', ' ')}" for _, x in alt.iterrows())
        note = "the conclusion depends on the method: " + note
    elif len(panel):
        note = "the imprecision rating and effect category hold under every model in the panel"
    return Grade(analysis_id=spec.id, start=start, judgements=tuple(judgements), level=level, certainty=LEVELS[level],
                 statement=statement(result, level), effect_category=effect_category(result), start_reason=why,
                 method_sensitive=sensitive, method_note=note, method_panel=panel)

