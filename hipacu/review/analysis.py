"""Run a planned analysis of an evidence folder: rows -> effect sizes -> pooled estimate.

:func:`run_analysis` reads one ``[[analysis]]`` of ``analyses.toml``, turns every listed row into an
effect size whatever its form, excludes rows that cannot enter (with the reason, never silently),
pools the rest with the analysis's model and keeps everything the grading and the figures need.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special

from hipacu import effects
from hipacu.evidence import AnalysisSpec, Evidence
from hipacu.models.pooling import PooledEstimate, pool

__all__ = ["AnalysisResult", "run_analysis", "run_all", "RATIO_MEASURES", "MIN_K_SMALL_STUDY_TESTS"]

#: Measures pooled on the log scale and shown exponentiated.
RATIO_MEASURES = ("RR", "OR", "ROM", "IRLN")
#: Egger's test and trim-and-fill only with at least this many studies (Cochrane Handbook 13.3.5.4;
#: GRADE guidelines 5, Guyatt 2011).
MIN_K_SMALL_STUDY_TESTS = 10


@dataclass(frozen=True)
class AnalysisResult:
    """One analysis of the evidence.

    Attributes
    ----------
    spec : AnalysisSpec
        The analysis as declared in ``analyses.toml``.
    included : DataFrame
        One row per pooled study: ``row_id, study_id, label, yi, vi, n, weight, lower_is_better,
        rob_overall, design, condition, intervention, derivation, n_source`` (``yi`` oriented so that
        negative favours the intervention when ``lower_is_better``; ``n`` is the analysed number, or the
        number randomised when the source prints no arm sizes for the comparison, as ``n_source`` says).
    excluded : DataFrame
        ``row_id, study_id, reason`` for every listed row that was not pooled.
    pooled : PooledEstimate or None
        None when no row could be pooled.
    participants : int
        Participants (or, for frequency questions, the summed denominators) in the pooled rows.
    lower_is_better : bool or None
        Direction of the outcome (None when no row is included).
    eligible : DataFrame
        Studies in ``studies.csv`` that match the analysis's design, condition and comparison, with
        their ``data_status`` (the missing evidence is visible here).
    reviews : DataFrame
        Published pooled results linked to this analysis in ``reviews.csv``.
    diagnostics : dict
        Small-study tests run (k >= 10) or the reason they were not.
    """

    spec: AnalysisSpec
    included: pd.DataFrame
    excluded: pd.DataFrame
    pooled: PooledEstimate | None
    participants: int
    lower_is_better: bool | None
    eligible: pd.DataFrame
    reviews: pd.DataFrame
    diagnostics: dict = field(default_factory=dict)

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

    def favours_intervention(self, value: float) -> bool | None:
        """Whether an effect value (on the pooled scale) favours the intervention."""
        if self.lower_is_better is None or self.spec.question == "frequency":
            return None
        null = 0.0
        return bool(value < null) if self.lower_is_better else bool(value > null)

    def study_table(self) -> pd.DataFrame:
        """Per-study rows for a forest plot: ``label, n, estimate, ci_low, ci_high, weight, rob_overall``,
        on the reporting scale, with Wald CIs ``yi ± z sqrt(vi)`` at the pooled result's level."""
        inc = self.included
        level = self.pooled.level if self.pooled is not None else 0.95
        z = float(special.ndtri(0.5 + level / 2))
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
        with the analysis's model (:func:`hipacu.models.regression.subgroup_test`), ready for
        :func:`hipacu.plots.forest`."""
        from hipacu.models.regression import subgroup_test

        if column not in self.included.columns:
            raise ValueError(f"column={column!r} is not a column of the included studies; choose one of "
                             f"{', '.join(map(repr, self.included.columns))}")
        if self.pooled is None:
            raise ValueError(f"analysis {self.spec.id!r} has no pooled studies to split into subgroups")
        groups = self.included[column].astype(str).to_numpy()
        knha = self.pooled.knha
        return groups, subgroup_test(self.pooled.yi, self.pooled.vi, groups, method=self.spec.method, tau2=tau2,
                                     knha=knha)

    def favours_label(self) -> str:
        """Which side of the axis favours the intervention, for axis labels."""
        if self.spec.question == "frequency":
            return f"events per {self.spec.per:g}" if self.spec.per else "proportion"
        if self.lower_is_better is None:
            return "direction unknown"
        left, right = ("intervention", "comparator") if self.lower_is_better else ("comparator", "intervention")
        names = {"intervention": self.spec.intervention.split(" plus ")[0].lower(), "comparator": self.spec.comparator.lower()}
        return f"<- favours {names[left]}  |  favours {names[right]} ->"

    def scaled_effect(self) -> tuple[float, float, float]:
        """``(ci_low, estimate, ci_high)`` in units of the decision threshold, for the evidence map:
        effects divided by the MID (negative = favours the intervention); rates as
        ``log10(rate / threshold)`` (negative = below the threshold)."""
        p = self.pooled
        if p is None:
            return (np.nan, np.nan, np.nan)
        vals = (p.ci_low, p.estimate, p.ci_high)
        if self.spec.question == "frequency":
            thr = self.spec.threshold or 1.0
            return tuple(float(np.log10(self.display(v) / thr)) for v in vals)  # type: ignore[return-value]
        unit = self.spec.mid if self.spec.mid else max(abs(p.estimate), 1e-12)
        sign = 1.0 if self.lower_is_better in (True, None) else -1.0
        out = sorted(sign * v / unit for v in vals)
        return out[0], sign * p.estimate / unit, out[2]

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


# --------------------------------------------------------------------------- row -> effect size


def _num(r: pd.Series, col: str) -> float | None:
    v = r.get(col)
    return None if v is None or pd.isna(v) else float(v)


def _outcome_effect(r: pd.Series, measure: str) -> tuple[float, float, int | None, str] | str:
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


def _safety_effect(r: pd.Series, measure: str) -> tuple[float, float, int | None, str] | str:
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


# --------------------------------------------------------------------------- the analysis


def _eligible(ev: Evidence, spec: AnalysisSpec) -> pd.DataFrame:
    st = ev.studies
    if spec.question == "frequency" or not spec.comparison:
        sel = st["study_id"].isin(ev.safety.loc[ev.safety["safety_id"].isin(spec.rows), "study_id"])
    else:
        sel = (st["design"] == "rct") & (st["comparison"] == spec.comparison)
        conditions = spec.eligible_conditions or spec.conditions
        if conditions:
            sel &= st["condition"].isin(conditions)
    return st.loc[sel, ["study_id", "label", "design", "condition", "intervention", "data_status", "data_note",
                        "n_randomised"]].reset_index(drop=True)


def run_analysis(evidence: Evidence, analysis_id: str) -> AnalysisResult:
    """Run one analysis of ``evidence`` (see module docstring).

    Rules applied to every listed row, in order (each failure is an exclusion with its reason):
    the study must be randomised when the analysis has any randomised row; the row's data must give
    the analysis's measure; a study contributes one row (the first listed), so shared arms or
    interim reports are not counted twice; mean differences need a common scale.
    Model: ``spec.method`` with the Hartung–Knapp interval when ``spec.knha`` (the default), for
    k >= 2; a single study is reported as such (its own estimate and CI).
    """
    spec = evidence.analysis(analysis_id)
    studies = evidence.studies.set_index("study_id")
    table = evidence.outcomes if spec.table == "outcomes" else evidence.safety
    key = "outcome_id" if spec.table == "outcomes" else "safety_id"
    rows = table.set_index(key).loc[list(spec.rows)]
    designs = rows["study_id"].map(studies["design"])
    any_rct = spec.table == "outcomes" and (designs == "rct").any()

    inc, exc = [], []
    seen: dict[str, str] = {}
    scale = None
    direction = None
    for row_id, r in rows.iterrows():
        sid = r["study_id"]
        st = studies.loc[sid]
        reason = None
        if spec.designs and st["design"] not in spec.designs:  # designs declared in analyses.toml
            reason = f"design {st['design']} is not among the designs this analysis pools ({', '.join(spec.designs)})"
        elif not spec.designs and any_rct and st["design"] != "rct":
            reason = f"not randomised (design {st['design']}); this analysis pools randomised trials"
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
        inc.append({"row_id": row_id, "study_id": sid, "label": st["label"], "yi": yi, "vi": vi, "n": n,
                    "n_source": n_source, "how": how, "rob_overall": st["rob_overall"], "design": st["design"],
                    "condition": st["condition"], "intervention": st["intervention"],
                    "derivation": r.get("derivation")})
    included = pd.DataFrame(inc, columns=["row_id", "study_id", "label", "yi", "vi", "n", "n_source", "how", "rob_overall", "design",
                                          "condition", "intervention", "derivation"])
    excluded = pd.DataFrame(exc, columns=["row_id", "study_id", "reason"])

    pooled = None
    if len(included):
        knha = spec.knha and len(included) >= 2
        pooled = pool(included["yi"].to_numpy(float), included["vi"].to_numpy(float), method=spec.method, knha=knha)
        included["weight"] = pooled.weights
    else:
        included["weight"] = pd.Series(dtype=float)
    participants = int(np.nansum(included["n"].to_numpy(float))) if len(included) else 0

    diagnostics: dict = {}
    if pooled is not None and pooled.k >= MIN_K_SMALL_STUDY_TESTS:
        from hipacu.diagnostics.bias import egger_test, trim_and_fill

        try:
            diagnostics["egger"] = egger_test(pooled.yi, pooled.vi)
            diagnostics["trim_and_fill"] = trim_and_fill(pooled.yi, pooled.vi)
            diagnostics["small_study_tests"] = "run"
        except ValueError as exc:  # e.g. every study with the same standard error: recorded, not hidden
            diagnostics["small_study_tests"] = f"not run: {exc}"
    else:
        diagnostics["small_study_tests"] = (f"not run: k = {0 if pooled is None else pooled.k} < "
                                            f"{MIN_K_SMALL_STUDY_TESTS} (tests for funnel asymmetry need at least 10 studies)")
    reviews = evidence.reviews[evidence.reviews["analysis_id"] == spec.id].reset_index(drop=True)
    return AnalysisResult(spec=spec, included=included, excluded=excluded, pooled=pooled, participants=participants,
                          lower_is_better=direction, eligible=_eligible(evidence, spec), reviews=reviews,
                          diagnostics=diagnostics)


def run_all(evidence: Evidence) -> dict[str, AnalysisResult]:
    """Every analysis of ``evidence``, keyed by id, in file order."""
    return {a.id: run_analysis(evidence, a.id) for a in evidence.analyses}
