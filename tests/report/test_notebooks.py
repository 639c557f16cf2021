"""Every notebook is stored clean, takes the evidence folder as a papermill-style parameter, executes,
and ends with a conclusion that `hipacu grade` agrees with."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys

import nbformat
import pytest

from hipacu.report import execute_notebook, inject_parameters, notebooks, template_path
from hipacu.report.execution import INJECTED_TAG, PARAMETERS_TAG

NOTEBOOKS = notebooks()
ALL = [*NOTEBOOKS, template_path()]


def test_there_is_a_notebook_per_claim_family():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06", "07", "08"]


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs_and_uses_only_the_public_api(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    src = "\n".join(c.source for c in code)
    assert not re.search(r"hipacu\.\w+\._|from hipacu\.\w+ import _|import hipacu\.\w+", src)
    assert nb.cells[0].cell_type == "markdown" and "**Question.**" in nb.cells[0].source


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_notebook_takes_the_evidence_folder_from_its_parameters_cell(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    first = code[0]
    assert PARAMETERS_TAG in first.metadata.get("tags", [])
    statements = ast.parse(first.source).body
    assert all(isinstance(s, ast.Assign) for s in statements), "a parameters cell only assigns defaults"
    assert {t.id: ast.literal_eval(s.value) for s in statements for t in s.targets} == {"EVIDENCE": None}
    src = "\n".join(c.source for c in code[1:])
    assert "hipacu.load_evidence(EVIDENCE)" in src
    assert not re.search(r"load_evidence\(\s*\)", src), "every load must use the parameter"


@pytest.fixture(scope="module")
def graded() -> dict:
    out = subprocess.run([sys.executable, "-m", "hipacu.cli", "grade", "--json"], capture_output=True, text=True, check=True)
    return {r["claim_id"]: r for r in json.loads(out.stdout)["claims"]}  # schema: README "hipacu grade --json"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes_and_its_last_cell_agrees_with_hipacu_grade(path, graded):
    nb = execute_notebook(path)
    last = nb.cells[-1]
    text = "".join(o.get("text", "") for o in last.outputs if o.get("output_type") == "stream")
    assert text.strip(), "the last cell must print the graded conclusion"
    found = re.findall(r"^(C\d+) - (.+?) \((?:high|moderate|low|very low|not graded)\):", text, flags=re.MULTILINE)
    if not path.name.startswith(("01", "08")):
        assert found, "the last cell must print at least one claim as 'Cn - VERDICT (certainty): reason'"
    for claim_id, verdict in found:
        assert graded[claim_id]["verdict"].upper() == verdict
    if path.name.startswith("08"):
        for row in graded.values():
            assert row["verdict"] in text


def test_inject_parameters_puts_the_values_right_after_the_parameters_cell_or_first():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# t"), nbformat.v4.new_code_cell("X = 1"),
                                         nbformat.v4.new_code_cell("print(X)")])
    nb.cells[1].metadata["tags"] = [PARAMETERS_TAG]
    assert inject_parameters(nb, {"X": "a/b", "N": 3}) == 2
    assert nb.cells[2].metadata["tags"] == [INJECTED_TAG]
    body = ast.parse(nb.cells[2].source).body  # the injected cell assigns plain Python literals
    assert {t.id: ast.literal_eval(a.value) for a in body for t in a.targets} == {"X": "a/b", "N": 3}
    untagged = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(X)")])
    assert inject_parameters(untagged, {"X": 1}) == 0  # papermill: no parameters cell -> first
    with pytest.raises(TypeError, match="parameter 'X' is a object"):
        inject_parameters(untagged, {"X": object()})


def test_execute_notebook_overrides_the_default_and_leaves_the_stored_file_alone(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("EVIDENCE = None"),
                                         nbformat.v4.new_code_cell("print(repr(EVIDENCE))")])
    nb.cells[0].metadata["tags"] = [PARAMETERS_TAG]
    path = tmp_path / "p.ipynb"
    nbformat.write(nb, path)
    stored = path.read_bytes()
    ran = execute_notebook(path, parameters={"EVIDENCE": tmp_path / "folder"})
    assert ran.cells[-1].outputs[0]["text"].strip() == repr(str(tmp_path / "folder"))
    assert path.read_bytes() == stored
