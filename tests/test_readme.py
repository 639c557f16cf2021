"""The README's analyst quickstart runs as printed, in a fresh interpreter, and its numbers are metafor's."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import REFERENCE, TOL_ITERATIVE
from numpy.testing import assert_allclose

ROOT = Path(__file__).resolve().parents[1]


def quickstart() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- quickstart -->\s*```python\n(.*?)```", text, flags=re.DOTALL)
    assert m, "README.md has no ```python block after <!-- quickstart -->"
    return m.group(1)


def test_the_quickstart_is_at_most_ten_lines():
    lines = [ln for ln in quickstart().splitlines() if ln.strip()]
    assert len(lines) <= 10, lines


def test_the_quickstart_runs_and_prints_metafors_numbers(tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=str(ROOT))
    run = subprocess.run([sys.executable, "-c", quickstart()], cwd=tmp_path, capture_output=True, text=True, env=env,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    with open(REFERENCE / "metafor_core.json", encoding="utf-8") as fh:
        case = next(c for c in json.load(fh)["pooling"] if c["id"] == "bcg_logrr/REML/z")["expected"]
    out = run.stdout
    # metafor rma(measure = "RR", ...) on dat.bcg, REML, z: the pooled RR and its CI, exponentiated
    assert f"{math.exp(case['estimate']):.4f}" in out
    assert f"{math.exp(case['ci_low']):.4f} to {math.exp(case['ci_high']):.4f}" in out
    assert f"tau^2 = {case['tau2']:.4f}" in out and f"Q(df = 12) = {case['q']:.4f}" in out
    assert "certainty" in out and "imprecision" in out and "p < 0.0001" in out
    assert (tmp_path / "forest.png").stat().st_size > 10_000
    index = (tmp_path / "bcg_report" / "index.html").read_text(encoding="utf-8")
    fig = re.search(r"<figure class='forest-plot' data-analysis='meta'([^>]*)>", index)
    assert fig, "the report has no forest plot of the analysis"
    drawn = dict(re.findall(r"data-([\w-]+)='([^']*)'", fig.group(1)))
    assert_allclose(float(drawn["estimate"]), case["estimate"], rtol=TOL_ITERATIVE)
    assert_allclose(float(drawn["tau2"]), case["tau2"], rtol=TOL_ITERATIVE)
    assert "Tuberculosis" in index and "acupunct" not in index.lower()
