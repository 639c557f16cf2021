"""Every notebook is stored clean, executes, and ends with a conclusion that `hipacu grade` agrees with."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import nbformat
import pytest

from hipacu.report import execute_notebook, notebooks

NOTEBOOKS = notebooks()


def test_there_is_a_notebook_per_claim_family():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06", "07", "08"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs_and_uses_only_the_public_api(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    src = "\n".join(c.source for c in code)
    assert not re.search(r"hipacu\.\w+\._|from hipacu\.\w+ import _|import hipacu\.\w+", src)
    assert nb.cells[0].cell_type == "markdown" and "**Question.**" in nb.cells[0].source


@pytest.fixture(scope="module")
def graded() -> dict:
    out = subprocess.run([sys.executable, "-m", "hipacu.cli", "grade", "--json"], capture_output=True, text=True, check=True)
    return {r["claim_id"]: r for r in json.loads(out.stdout)}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes_and_its_last_cell_agrees_with_hipacu_grade(path, graded):
    nb = execute_notebook(path)
    last = nb.cells[-1]
    text = "".join(o.get("text", "") for o in last.outputs if o.get("output_type") == "stream")
    assert text.strip(), "the last cell must print the graded conclusion"
    for claim_id, verdict in re.findall(r"^(C\d+) - ([A-Z ]+?) \(", text, flags=re.M):
        assert graded[claim_id]["verdict"].upper() == verdict
    if path.name.startswith("08"):
        for row in graded.values():
            assert row["verdict"] in text
