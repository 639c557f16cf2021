"""Shared test helpers: named tolerances and the metafor fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REFERENCE = Path(__file__).parent / "reference"

#: Closed-form quantities (effect sizes, FE, DL, HE, HS, SJ): only floating-point rounding differs.
TOL_CLOSED_FORM = 1e-10
#: Iterative estimators (REML, ML, EB, PM): both programs iterate to ~1e-14 absolute; quantities
#: derived from tau² inherit its last-digit differences.
TOL_ITERATIVE = 1e-8
#: Root-finding for Q-profile bounds (metafor uniroot at machine-epsilon tolerance, hipacu brentq).
TOL_ROOT = 1e-7
#: Absolute floor for quantities that are exactly 0 in one program and ~1e-17 in the other.
ATOL_ZERO = 1e-12

# GLMMs (tests/models/test_glmm.py): the divergence table there explains each size.
#: ML estimates (μ, τ², σ², CI/PI limits, I², H², logLik) against metafor's tightly converged refit:
#: lme4's PIRLS noise (~1e-10 in the deviance) moves a flat optimum by up to ~5e-6 relative.
TOL_GLMM = 1e-5
#: Absolute floor for quantities near 0 (a PI limit at -0.001, τ² at its boundary).
ATOL_GLMM = 1e-6
#: se of glmer fits: lme4's finite-difference Hessian (δ = 1e-4) of its noisy deviance.
TOL_SE_GLMER = 2e-4
#: se of glm fits and of the Laplace fit: glm's stale IRLS weights; lme4's stale Cholesky factor.
TOL_SE_STALE = 5e-5
#: OR + CM.EL: metafor's nlminb (finite-difference gradient) and numDeriv Hessian.
TOL_CMEL = 2e-5
TOL_SE_CMEL = 1e-3
#: GLMM quantities both programs compute to rounding: glm estimates (IRLS), ṽ, exact intervals.
TOL_EXACT = 1e-9
#: metafor with its default control (Nelder_Mead, FtolAbs = 1e-5 on the deviance).
TOL_METAFOR_DEFAULT = 2e-3
#: se of the Laplace fit (OR + UM.RS + ML) with metafor's defaults: PIRLS at tolPwrss = 1e-7 and a
#: Cholesky factor one step stale make the deviance noisy at ~1e-5, and deriv12 divides by δ² = 1e-8.
TOL_SE_LAPLACE_DEFAULT = 1e-2


@pytest.fixture(scope="session")
def metafor_core() -> dict:
    with open(REFERENCE / "metafor_core.json", encoding="utf-8") as fh:
        return json.load(fh)


def load_reference(name: str) -> dict:
    with open(REFERENCE / name, encoding="utf-8") as fh:
        return json.load(fh)
