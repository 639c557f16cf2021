"""Build an AnalysisResult directly from effect sizes, for rule and property tests (no evidence folder)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from hipacu.evidence import AnalysisSpec
from hipacu.models.pooling import pool
from hipacu.review.analysis import AnalysisResult, SmallStudyTests
from hipacu.review.study_table import INCLUDED_COLUMNS


def result(yi, vi, *, n=None, measure="MD", mid=None, test="z", lower_is_better=True, question="effect", per=None,
           threshold=None, control_risk=None, control_events=None, control_n=None, sd=None, method="REML",
           rob="low", design="rct") -> AnalysisResult:
    yi, vi = np.asarray(yi, float), np.asarray(vi, float)
    k = len(yi)
    pooled = pool(yi, vi, method=method, test=test)
    spec = AnalysisSpec(id="a", title="t", table="outcomes" if question == "effect" else "safety", rows=tuple(f"r{i}" for i in range(k)),
                        measure=measure, outcome_label="Outcome", population="p", intervention="I", comparator="C",
                        mid=mid, mid_unit="units", mid_source="s" if mid else None, test=test, method=method,
                        question=question, per=per, threshold=threshold, threshold_source="s" if threshold else None,
                        control_risk=control_risk, control_risk_source="s" if control_risk else None)
    inc = pd.DataFrame({c: [None] * k for c in INCLUDED_COLUMNS})
    inc["yi"], inc["vi"] = yi, vi
    inc["n"] = n if n is not None else [100] * k
    inc["label"] = [f"S{i}" for i in range(k)]
    inc["design"] = design
    for c in ("rob_overall", "rob_randomisation", "rob_deviations", "rob_missing", "rob_measurement", "rob_reporting"):
        inc[c] = rob
    inc["implausible"] = False
    inc["events2"] = control_events
    inc["n2"] = control_n
    inc["sd_pooled"] = sd
    inc["weight"] = np.asarray(pooled.weights, float)
    eligible = pd.DataFrame({"study_id": inc["label"], "label": inc["label"], "status": "included", "evidence": "pooled"})
    return AnalysisResult(spec=spec, included=inc, excluded=pd.DataFrame(columns=["row_id", "study_id", "reason"]),
                          pooled=pooled, participants=int(np.sum(inc["n"])), lower_is_better=lower_is_better,
                          eligible=eligible, reviews=pd.DataFrame(), small_study=SmallStudyTests(None, None, "not run"),
                          test=test)


def with_spec(r: AnalysisResult, **changes) -> AnalysisResult:
    return dataclasses.replace(r, spec=dataclasses.replace(r.spec, **changes))
