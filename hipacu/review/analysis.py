"""Run a planned analysis of an evidence folder: study table -> model -> pooled estimate.

:func:`run_analysis` builds the study table of one ``[[analysis]]`` (:mod:`hipacu.review.study_table`:
every listed row pooled or excluded with its reason), chooses the interval by the few-studies rule
(:func:`interval_rule`) unless the analysis fixes it, fits the analysis's model through the
:data:`MODELS` dispatch, runs the small-study tests where they are meaningful, and pools a
sensitivity analysis without studies whose numbers are flagged implausible.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
from scipy import special

from hipacu.evidence import AnalysisSpec, Evidence
from hipacu.models.pooling import pool
from hipacu.models.protocol import SummaryEstimate
from hipacu.review.study_table import StudyTable, build_study_table
from hipacu.models._stats import critical_value

__all__ = ["AnalysisResult", "run_analysis", "run_all", "RATIO_MEASURES", "MIN_K_SMALL_STUDY_TESTS", "MODELS",
           "SmallStudyTests", "small_study_tests", "interval_rule", "model_rule", "study_weights", "ELIGIBLE_STATUSES"]

#: Measures pooled on the log scale and shown exponentiated.
RATIO_MEASURES = ("RR", "OR", "ROM", "IRLN", "HR")
#: Egger's test and trim-and-fill only with at least this many studies (Cochrane Handbook 13.3.5.4;
#: GRADE guidelines 5, Guyatt 2011).
MIN_K_SMALL_STUDY_TESTS = 10
#: What the eligible table's ``status`` column can say about a study for this analysis.
ELIGIBLE_STATUSES = ("included", "excluded", "published_not_extractable", "unpublished", "not_found", "not_measured")


# --------------------------------------------------------------------------- interval and model


def interval_rule(k: int, spec: AnalysisSpec) -> tuple[str, str]:
    """``(test, reason)``: the interval an analysis uses.

    An interval named in ``analyses.toml`` (``test`` or ``knha``) is used as given. Otherwise:

    - k >= 3: REML with the Hartung-Knapp-Sidik-Jonkman interval in its *ad hoc* form (the variance
      scale factor floored at 1, so the interval is never narrower than the Wald interval): HKSJ keeps
      error rates near nominal where the DerSimonian-Laird/Wald interval does not (IntHout, Ioannidis &
      Borm 2014; Cochrane's methods guidance for RevMan), and the ad hoc floor removes its
      anti-conservative cases with studies of unequal precision (Röver, Knapp & Friede 2015).
    - k = 2: HKSJ uses t on 1 degree of freedom (critical value 12.7), so two concordant trials that
      each exclude no effect pool to an interval that includes it; the variance of τ² is not estimable
      either. The Wald interval with REML is used, and the method-sensitivity panel shows HKSJ, ad hoc
      and the common-effect model beside it, so a conclusion that depends on the choice is flagged
      (Cochrane Handbook 10.10.4: with very few studies no method is reliable, and the choice must be
      stated).
    - k = 1: the single study's own estimate and Wald interval.
    """
    chosen = spec.test_choice
    if chosen is not None:
        return chosen, f"interval as specified in analyses.toml (test = {chosen!r})"
    if k <= 1:
        return "z", "a single study: its own estimate and 95% Wald interval"
    if k == 2:
        return "z", ("k = 2: Wald interval (Hartung-Knapp would use t with 1 df, critical value 12.7); the "
                     "method-sensitivity panel shows the alternatives")
    return "adhoc", "k >= 3: Hartung-Knapp-Sidik-Jonkman interval, ad hoc variant (never narrower than Wald)"


def model_rule(spec: AnalysisSpec) -> tuple[str, str]:
    """``(model, reason)``: the model family an analysis uses.

    A model named in ``analyses.toml`` is used as given. Otherwise a rate (frequency question,
    ``PLO`` or ``IRLN``) is fitted by the binomial- or Poisson-normal GLMM (metafor ``rma.glmm``),
    which needs no continuity correction for zero events (Stijnen, Hamza & Özdemir 2010; Cochrane
    Handbook 10.4.4.1 on rare events), and a single study by its exact interval (Clopper-Pearson for a
    proportion, Garwood for a rate); everything else by inverse-variance pooling (``rma``).
    """
    if spec.model is not None:
        return spec.model, f"model as specified in analyses.toml ({spec.model})"
    if spec.question == "frequency" and spec.measure in ("PLO", "IRLN"):
        return "glmm", "a rate: GLMM on the counts (no continuity correction for zero events)"
    return "rma", "inverse-variance pooling"


def _fit_rma(table: StudyTable, spec: AnalysisSpec, test: str) -> SummaryEstimate:
    inc = table.included
    return pool(inc["yi"].to_numpy(float), inc["vi"].to_numpy(float), method=spec.method, test=test)


#: The prior on τ of a Bayesian analysis that names none (Röver 2020, Sec. 2.2: half-normal with
#: scale 0.5 for log odds or risk ratios; Friede et al. 2017).
DEFAULT_PRIOR = "half_normal(0.5)"


def _fit_bayes(table: StudyTable, spec: AnalysisSpec, test: str) -> SummaryEstimate:
    from hipacu.models.bayes import bayes
    from hipacu.models.priors import parse_tau_prior

    inc = table.included
    return bayes(inc["yi"].to_numpy(float), inc["vi"].to_numpy(float), tau_prior=parse_tau_prior(spec.prior or DEFAULT_PRIOR))


def _fit_glmm(table: StudyTable, spec: AnalysisSpec, test: str) -> SummaryEstimate:
    from hipacu.models.glmm import glmm

    inc = table.included
    if spec.measure in ("PLO", "IRLN") and len(inc) == 1:  # one study: its exact interval (Clopper-Pearson / Garwood)
        from hipacu.models.glmm import exact_rate

        return exact_rate(inc["events"].to_numpy(float), inc["n"].to_numpy(float),
                          kind="binomial" if spec.measure == "PLO" else "poisson")
    if spec.measure == "PLO":
        return glmm(measure="PLO", events=inc["events"].to_numpy(float), total=inc["n"].to_numpy(float))
    if spec.measure == "IRLN":
        return glmm(measure="IRLN", events=inc["events"].to_numpy(float), exposure=inc["n"].to_numpy(float))
    if spec.measure == "OR":
        return glmm(measure="OR", events1=inc["events1"].to_numpy(float), total1=inc["n1"].to_numpy(float),
                    events2=inc["events2"].to_numpy(float), total2=inc["n2"].to_numpy(float), model="UM.FS")
    raise ValueError(f"analysis {spec.id!r}: model = 'glmm' fits PLO, IRLN or OR counts; measure {spec.measure!r} "
                     "is not one of them")


#: Model family (``analyses.toml`` ``model``) -> fitting function ``f(study_table, spec, test) -> SummaryEstimate``.
MODELS: dict[str, Callable[[StudyTable, AnalysisSpec, str], SummaryEstimate]] = {
    "rma": _fit_rma,
    "bayes": _fit_bayes,
    "glmm": _fit_glmm,
}


def study_weights(pooled: SummaryEstimate, vi: np.ndarray) -> np.ndarray:
    """Study weights in percent: the model's own inverse-variance weights where it has them; for models
    without such weights (GLMM, Bayesian), those of the normal model at the model's τ², ``1/(v + τ²)``,
    which is what the grading's weight shares need."""
    w = getattr(pooled, "weights", None)
    if w is not None:
        return np.asarray(w, float)
    tau2 = float(pooled.tau2) if np.isfinite(pooled.tau2) else 0.0
    inv = 1.0 / (np.asarray(vi, float) + tau2)
    return 100 * inv / inv.sum()


# --------------------------------------------------------------------------- small-study tests


@dataclass(frozen=True)
class SmallStudyTests:
    """Egger's regression test and trim-and-fill, or why they were not run (``reason``)."""

    egger: object | None
    trim_and_fill: object | None
    reason: str

    @property
    def run(self) -> bool:
        return self.egger is not None


def small_study_tests(yi: np.ndarray, vi: np.ndarray) -> SmallStudyTests:
    """Egger's test and trim-and-fill when they are meaningful: at least
    :data:`MIN_K_SMALL_STUDY_TESTS` studies (Cochrane Handbook 13.3.5.4) whose standard errors differ
    (with equal standard errors funnel asymmetry is not defined)."""
    k = len(yi)
    if k < MIN_K_SMALL_STUDY_TESTS:
        return SmallStudyTests(None, None, f"not run: k = {k} < {MIN_K_SMALL_STUDY_TESTS} "
                                           "(tests for funnel asymmetry need at least 10 studies)")
    sei = np.sqrt(vi)
    if np.ptp(sei) <= 1e-12 * sei.max():
        return SmallStudyTests(None, None, "not run: every study has the same standard error, so funnel "
                                           "asymmetry is not defined")
    from hipacu.diagnostics.bias import egger_test, trim_and_fill

    return SmallStudyTests(egger_test(yi, vi), trim_and_fill(yi, vi), "run")


@dataclass(frozen=True)
class AnalysisResult:
    """One analysis of the evidence.

    Attributes
    ----------
    spec : AnalysisSpec
        The analysis as declared in ``analyses.toml``.
    included : DataFrame
        One row per pooled study (:data:`hipacu.review.study_table.INCLUDED_COLUMNS`): ``yi`` oriented so
        that negative favours the intervention when ``lower_is_better``; ``n`` is the analysed number, or
        the number randomised when the source prints no arm sizes (``n_source`` says which); ``weight``
        in percent of the pooled model.
    excluded : DataFrame
        ``row_id, study_id, reason`` for every listed row that was not pooled.
    pooled : SummaryEstimate or None
        The model's result (None when no row could be pooled).
    participants : int
        Participants (for frequency questions, the summed denominators) in the pooled rows.
    lower_is_better : bool or None
        Direction of the outcome (None when no row is included).
    eligible : DataFrame
        Every study eligible for this analysis and its ``status`` (:data:`ELIGIBLE_STATUSES`) with the
        evidence for it: the pooled ones, and those whose result is published but not extractable,
        unpublished, not found or not measured (``data_status.csv``; the study-level status otherwise).
    reviews : DataFrame
        Published pooled results linked to this analysis in ``reviews.csv``.
    small_study : SmallStudyTests
        Egger's test and trim-and-fill, or why they were not run.
    test, test_reason : str
        The interval used (``"z"``, ``"t"``, ``"knha"``, ``"adhoc"``; ``"model"`` for a GLMM or Bayesian fit,
        whose interval is its own) and why (:func:`interval_rule`).
    model, model_reason : str
        The model family used (``"rma"``, ``"glmm"``, ``"bayes"``) and why (:func:`model_rule`).
    without_implausible : SummaryEstimate or None
        The same model without studies whose numbers are flagged implausible (None when none is
        flagged or none would remain).
    """

    spec: AnalysisSpec
    included: pd.DataFrame
    excluded: pd.DataFrame
    pooled: SummaryEstimate | None
    participants: int
    lower_is_better: bool | None
    eligible: pd.DataFrame
    reviews: pd.DataFrame
    small_study: SmallStudyTests
    test: str = "z"
    test_reason: str = ""
    without_implausible: SummaryEstimate | None = None
    model: str = "rma"
    model_reason: str = ""

    @property
    def implausible_labels(self) -> list[str]:
        """Labels of the pooled studies whose numbers are flagged implausible."""
        return [str(x) for x in self.included.loc[self.included["implausible"], "label"]]

    @property
    def k(self) -> int:
        return 0 if self.pooled is None else self.pooled.k

    @property
    def is_ratio(self) -> bool:
        return self.spec.measure in RATIO_MEASURES

    def display(self, value: float) -> float:
        """A value on the reporting scale: exp for ratio measures, a rate per ``spec.per`` for
        logit proportions and log rates, unchanged otherwise."""
        if self.spec.measure in RATIO_MEASURES:
            return float(np.exp(value))
        if self.spec.measure == "PLO":
            return float(special.expit(value) * (self.spec.per or 1.0))
        return float(value)

    def effect_text(self, digits: int = 2) -> str:
        """The pooled effect with its CI on the reporting scale, e.g. ``MD -2.70 (-9.00 to 3.60)``."""
        if self.pooled is None:
            return "no usable data"
        p = self.pooled
        est, lo, hi = (self.display(x) for x in (p.estimate, p.ci_low, p.ci_high))
        label = {"PLO": f"per {self.spec.per:g}" if self.spec.per else "proportion"}.get(self.spec.measure, self.spec.measure)
        return f"{label} {est:.{digits}f} ({lo:.{digits}f} to {hi:.{digits}f})"

    def study_table(self) -> pd.DataFrame:
        """Per-study rows for a forest plot: ``label, n, estimate, ci_low, ci_high, weight, rob_overall``,
        on the reporting scale, with Wald CIs ``yi ± z sqrt(vi)`` at the pooled result's level."""
        inc = self.included
        level = self.pooled.level if self.pooled is not None else 0.95
        z = float(critical_value(level))
        yi, se = inc["yi"].to_numpy(float), np.sqrt(inc["vi"].to_numpy(float))
        show = np.vectorize(self.display, otypes=[float])
        return pd.DataFrame({
            "label": inc["label"], "n": inc["n"],
            "estimate": show(yi) if len(yi) else yi, "ci_low": show(yi - z * se) if len(yi) else yi,
            "ci_high": show(yi + z * se) if len(yi) else yi, "weight": inc["weight"], "rob_overall": inc["rob_overall"],
        }).reset_index(drop=True)

    def subgroups(self, column: str, *, tau2: str = "separate"):
        """Subgroup analysis of the pooled studies by a study-level column of ``included`` (e.g.
        ``"intervention"``, ``"condition"``, ``"rob_overall"``): returns ``(groups, SubgroupResult)``
        with the analysis's model (:func:`hipacu.models.subgroups.subgroup_test`), ready for
        :func:`hipacu.plots.forest`."""
        from hipacu.models.subgroups import subgroup_test

        if column not in self.included.columns:
            raise ValueError(f"column={column!r} is not a column of the included studies; choose one of "
                             f"{', '.join(map(repr, self.included.columns))}")
        if self.pooled is None:
            raise ValueError(f"analysis {self.spec.id!r} has no pooled studies to split into subgroups")
        groups = self.included[column].astype(str).to_numpy()
        knha = self.test in ("knha", "adhoc")
        yi, vi = self.included["yi"].to_numpy(float), self.included["vi"].to_numpy(float)
        return groups, subgroup_test(yi, vi, groups, method=self.spec.method, tau2=tau2, knha=knha)

    def to_frame(self) -> pd.DataFrame:
        """One row: analysis id, k, participants, estimate, CI, tau², I² (NaN when nothing pooled)."""
        p = self.pooled
        return pd.DataFrame([{
            "analysis_id": self.spec.id, "k": self.k, "participants": self.participants,
            "measure": self.spec.measure,
            "estimate": np.nan if p is None else p.estimate, "ci_low": np.nan if p is None else p.ci_low,
            "ci_high": np.nan if p is None else p.ci_high, "tau2": np.nan if p is None else p.tau2,
            "i2": np.nan if p is None else p.i2, "effect": self.effect_text(),
        }])


# --------------------------------------------------------------------------- the analysis


def _eligible(ev: Evidence, spec: AnalysisSpec, table: StudyTable) -> pd.DataFrame:
    """Every study eligible for the analysis, with its status for this analysis and the evidence."""
    st = ev.studies.set_index("study_id")
    rows: dict[str, tuple[str, str]] = {}
    for sid in table.included["study_id"]:
        rows[sid] = ("included", "pooled")
    for _, x in table.excluded.iterrows():
        rows.setdefault(x["study_id"], ("excluded", x["reason"]))
    ds = ev.data_status
    if ds is not None and len(ds):
        for _, x in ds[ds["analysis_id"] == spec.id].iterrows():
            if x["study_id"] not in rows or rows[x["study_id"]][0] == "excluded":
                rows[x["study_id"]] = (x["status"], x["evidence"])
    if spec.question != "frequency" and spec.comparison:
        sel = st["design"].isin(("rct", "quasi_randomised")) & (st["comparison"] == spec.comparison)
        conditions = spec.eligible_conditions or spec.conditions
        if conditions:
            sel &= st["condition"].isin(conditions)
        for sid in st.index[sel]:
            status = st.loc[sid, "data_status"]
            if sid not in rows and status != "usable":
                rows[sid] = (status, st.loc[sid, "data_note"] or "")
    out = pd.DataFrame([{"study_id": sid, "status": s, "evidence": why} for sid, (s, why) in rows.items()],
                       columns=["study_id", "status", "evidence"])
    for col in ("label", "design", "condition", "intervention", "n_randomised"):
        out.insert(len(out.columns) - 2, col, out["study_id"].map(st[col]))
    return out.sort_values(["status", "study_id"], key=lambda s: s.map(ELIGIBLE_STATUSES.index)
                           if s.name == "status" else s).reset_index(drop=True)


def run_analysis(evidence: Evidence, analysis_id: str) -> AnalysisResult:
    """Run one analysis of ``evidence`` (see the module docstring)."""
    spec = evidence.analysis(analysis_id)
    table = build_study_table(evidence, spec)
    inc = table.included
    k = len(inc)
    model, model_why = model_rule(spec)
    test, why = interval_rule(k, spec)
    if model != "rma":  # the interval is the model's own
        test, why = "model", {"glmm": "the GLMM's Wald interval on its ML fit (a single study: its exact interval)",
                              "bayes": "the central credible interval of the posterior"}[model]
    fit = MODELS[model]
    pooled = fit(table, spec, test) if k else None
    inc = inc.copy()
    inc["weight"] = study_weights(pooled, inc["vi"].to_numpy(float)) if pooled is not None else pd.Series(dtype=float)
    participants = int(np.nansum(inc["n"].to_numpy(float))) if k else 0
    flagged = inc["implausible"].to_numpy(bool) if k else np.zeros(0, bool)
    without = None
    if flagged.any() and (~flagged).any():
        rest = StudyTable(table.included[~flagged].reset_index(drop=True), table.excluded, table.lower_is_better)
        without = fit(rest, spec, interval_rule(int((~flagged).sum()), spec)[0])
    sst = (small_study_tests(inc["yi"].to_numpy(float), inc["vi"].to_numpy(float)) if k
           else SmallStudyTests(None, None, "not run: no pooled studies"))
    reviews = evidence.reviews[evidence.reviews["analysis_id"] == spec.id].reset_index(drop=True)
    return AnalysisResult(spec=spec, included=inc, excluded=table.excluded, pooled=pooled, participants=participants,
                          lower_is_better=table.lower_is_better, eligible=_eligible(evidence, spec, table),
                          reviews=reviews, small_study=sst, test=test, test_reason=why, without_implausible=without,
                          model=model, model_reason=model_why)


def run_all(evidence: Evidence) -> dict[str, AnalysisResult]:
    """Every analysis of ``evidence``, keyed by id, in file order."""
    return {a.id: run_analysis(evidence, a.id) for a in evidence.analyses}
