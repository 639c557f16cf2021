"""The package's shape: every subpackage is installed, and the layering contracts and ruff hold.

These run the project's own tools (ruff, import-linter, from the test extra) so a change that
breaks the layering fails the test run, not only a separate CI step.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_every_subpackage_is_listed_for_installation():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "hipacu").rglob("__init__.py")}
    assert found <= listed, f"packages missing from pyproject.toml [tool.setuptools] packages: {sorted(found - listed)}"
    for pkg, folder in config["package-dir"].items():
        assert pkg in listed and (ROOT / folder).is_dir()


def _tool(name: str) -> str:
    exe = Path(sys.executable).with_name(name)
    if exe.exists():
        return str(exe)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; it is part of the test extra (pip install -e '.[test]')")
    return found


def test_layering_contracts_hold():
    run = subprocess.run([_tool("lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "0 broken" in run.stdout


def test_ruff_finds_nothing():
    run = subprocess.run([_tool("ruff"), "check", "hipacu", "tests", "benchmarks"], cwd=ROOT, capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-1000:]


def test_models_and_diagnostics_import_no_pandas_or_matplotlib():
    code = ("import sys, importlib, pkgutil, hipacu.models, hipacu.diagnostics\n"
            "for pkg in (hipacu.models, hipacu.diagnostics):\n"
            "    for m in pkgutil.iter_modules(pkg.__path__):\n"
            "        importlib.import_module(pkg.__name__ + '.' + m.name)\n"
            "print(sorted(n for n in ('pandas', 'pandera', 'matplotlib') if n in sys.modules))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"


def test_every_public_name_resolves_without_loading_pandas_first():
    code = ("import sys, hipacu\n"
            "assert 'pandas' not in sys.modules and 'matplotlib' not in sys.modules\n"
            "missing = [n for n in hipacu.__all__ if not hasattr(hipacu, n)]\n"
            "print(missing)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]"
