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


@pytest.fixture(scope="session")
def metafor_core() -> dict:
    with open(REFERENCE / "metafor_core.json", encoding="utf-8") as fh:
        return json.load(fh)


def load_reference(name: str) -> dict:
    with open(REFERENCE / name, encoding="utf-8") as fh:
        return json.load(fh)
