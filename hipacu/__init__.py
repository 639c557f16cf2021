"""hipacu: an evidence-grading meta-analysis toolkit.

Numbers that match metafor, evidence traced to its source, GRADE from the data.
``import hipacu`` stays light: plotting (matplotlib) and the evidence layer (pandas,
pandera) load only when first used.
"""

from __future__ import annotations

import importlib

from hipacu import effects
from hipacu.pooling import METHODS, ConvergenceWarning, PooledBatch, PooledEstimate, pool, pool_batch

__version__ = "0.1.0"

# name -> module providing it, imported on first access (PEP 562)
_LAZY = {
    "meta_regression": "hipacu.regression",
    "subgroup_test": "hipacu.regression",
    "MetaRegressionResult": "hipacu.regression",
    "PermutationTestResult": "hipacu.regression",
    "SubgroupResult": "hipacu.regression",
    "mantel_haenszel": "hipacu.binary",
    "peto": "hipacu.binary",
    "MantelHaenszelResult": "hipacu.binary",
    "PetoResult": "hipacu.binary",
    "run_analysis": "hipacu.analysis",
    "run_all": "hipacu.analysis",
    "AnalysisResult": "hipacu.analysis",
    "grade": "hipacu.grading",
    "Grade": "hipacu.grading",
    "grade_claims": "hipacu.claims",
    "summary_of_findings": "hipacu.claims",
    "sof_html": "hipacu.claims",
    "compare_with_reviews": "hipacu.claims",
    "q_profile": "hipacu.heterogeneity",
    "HeterogeneityCI": "hipacu.heterogeneity",
    "load_evidence": "hipacu.evidence",
    "Evidence": "hipacu.evidence",
    "EvidenceError": "hipacu.evidence",
    "leave_one_out": "hipacu.sensitivity",
    "cumulative": "hipacu.sensitivity",
    "influence": "hipacu.sensitivity",
    "InfluenceDiagnostics": "hipacu.sensitivity",
    "egger_test": "hipacu.bias",
    "peters_test": "hipacu.bias",
    "begg_test": "hipacu.bias",
    "trim_and_fill": "hipacu.bias",
    "funnel_contours": "hipacu.bias",
    "EggerResult": "hipacu.bias",
    "RankTestResult": "hipacu.bias",
    "TrimFillResult": "hipacu.bias",
    "FunnelContours": "hipacu.bias",
    "bayes": "hipacu.models.bayes",
    "bayes_batch": "hipacu.models.bayes",
    "BayesEstimate": "hipacu.models.bayes",
    "BayesBatch": "hipacu.models.bayes",
}

__all__ = [
    "effects",
    "pool",
    "pool_batch",
    "PooledEstimate",
    "PooledBatch",
    "METHODS",
    "ConvergenceWarning",
    "priors",
    *_LAZY,
]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in ("plots", "heterogeneity", "evidence", "analysis", "grading", "claims", "bias", "sensitivity",
                "regression", "binary", "report", "priors"):
        return importlib.import_module(f"hipacu.{name}")

    raise AttributeError(f"module 'hipacu' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
