"""hipacu: an evidence-grading meta-analysis toolkit.

Numbers that match metafor, evidence traced to its source, GRADE from the data.
``import hipacu`` stays light: plotting (matplotlib) and the evidence layer (pandas,
pandera) load only when first used.
"""

from __future__ import annotations

import importlib

from hipacu import effects
from hipacu.exceptions import ConvergenceError, ConvergenceWarning, FewStudiesWarning
from hipacu.models.pooling import METHODS, PooledBatch, PooledEstimate, pool, pool_batch

__version__ = "0.1.0"

# name -> module providing it, imported on first access (PEP 562)
_LAZY = {
    "meta_regression": "hipacu.models.regression",
    "subgroup_test": "hipacu.models.subgroups",
    "MetaRegressionResult": "hipacu.models.regression",
    "PermutationTestResult": "hipacu.models.regression",
    "SubgroupResult": "hipacu.models.subgroups",
    "mantel_haenszel": "hipacu.models.binary",
    "peto": "hipacu.models.binary",
    "MantelHaenszelResult": "hipacu.models.binary",
    "PetoResult": "hipacu.models.binary",
    "run_analysis": "hipacu.review.analysis",
    "run_all": "hipacu.review.analysis",
    "AnalysisResult": "hipacu.review.analysis",
    "grade": "hipacu.review.grading",
    "method_sensitivity": "hipacu.review.grading",
    "optimal_information_size": "hipacu.review.grading",
    "verdict_table": "hipacu.review.claims",
    "interval_rule": "hipacu.review.analysis",
    "build_study_table": "hipacu.review.study_table",
    "Grade": "hipacu.review.grading",
    "grade_claims": "hipacu.review.claims",
    "summary_of_findings": "hipacu.review.sof",
    "sof_html": "hipacu.review.sof",
    "sof_footnotes": "hipacu.review.sof",
    "evidence_profile": "hipacu.review.sof",
    "evidence_profile_html": "hipacu.review.sof",
    "absolute_effect": "hipacu.review.sof",
    "compare_with_reviews": "hipacu.review.claims",
    "q_profile": "hipacu.models.heterogeneity",
    "HeterogeneityCI": "hipacu.models.heterogeneity",
    "load_evidence": "hipacu.evidence",
    "Evidence": "hipacu.evidence",
    "EvidenceError": "hipacu.evidence",
    "leave_one_out": "hipacu.diagnostics.sensitivity",
    "cumulative": "hipacu.diagnostics.sensitivity",
    "influence": "hipacu.diagnostics.sensitivity",
    "InfluenceDiagnostics": "hipacu.diagnostics.sensitivity",
    "egger_test": "hipacu.diagnostics.bias",
    "peters_test": "hipacu.diagnostics.bias",
    "begg_test": "hipacu.diagnostics.bias",
    "trim_and_fill": "hipacu.diagnostics.bias",
    "funnel_contours": "hipacu.diagnostics.bias",
    "EggerResult": "hipacu.diagnostics.bias",
    "RankTestResult": "hipacu.diagnostics.bias",
    "TrimFillResult": "hipacu.diagnostics.bias",
    "FunnelContours": "hipacu.diagnostics.bias",
    "glmm": "hipacu.models.glmm",
    "GLMMEstimate": "hipacu.models.glmm",
    "exact_rate": "hipacu.models.glmm",
    "ExactRate": "hipacu.models.glmm",
    "bayes": "hipacu.models.bayes",
    "bayes_batch": "hipacu.models.bayes",
    "BayesEstimate": "hipacu.models.bayes",
    "BayesBatch": "hipacu.models.bayes",
    "MetaAnalysis": "hipacu.meta",
    "read_revman": "hipacu.revman",
}
#: names that are modules, imported on first access; ``hipacu.meta`` is the module of
#: :func:`hipacu.meta.meta` and is itself callable (``hipacu.meta(df, measure=..., ...)``)
_MODULES = ("plots", "models", "diagnostics", "evidence", "review", "report", "exceptions", "meta", "datasets", "priors")

__all__ = [
    "effects",
    "pool",
    "pool_batch",
    "PooledEstimate",
    "PooledBatch",
    "METHODS",
    "ConvergenceWarning",
    "ConvergenceError",
    "FewStudiesWarning",
    "priors",
    "meta",
    "datasets",
    *_LAZY,
]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _MODULES:
        return importlib.import_module(f"hipacu.{name}")

    raise AttributeError(f"module 'hipacu' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
