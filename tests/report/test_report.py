"""`hipacu report` end to end: files written, byte-identical figures across runs, failure reporting,
and (where Chromium is installed, as .ci/run does) the page renders with every image loaded."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from hipacu.report import NotebookFailed, build_report


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    build_report(out, jobs=2, log=lambda *_: None)
    return out


def test_report_writes_index_notebooks_and_figures(report_dir):
    index = (report_dir / "index.html").read_text(encoding="utf-8")
    for name in ("evidence_map.png", "summary_of_findings", "risk_of_bias.png"):
        assert name in index
    assert len(list(report_dir.glob("0*.html"))) == 8
    for img in re.findall(r"src='(figures/[^']+)'|src=\"(figures/[^\"]+)\"", index):
        assert (report_dir / (img[0] or img[1])).exists()


def test_report_figures_are_byte_identical_across_runs(report_dir, tmp_path):
    second = tmp_path / "again"
    build_report(second, jobs=1, notebook_dir=tmp_path / "none", log=lambda *_: None)
    first = sorted((report_dir / "figures").iterdir())
    assert first and [p.name for p in first] == sorted(p.name for p in (second / "figures").iterdir())
    for p in first:
        assert p.read_bytes() == (second / "figures" / p.name).read_bytes(), p.name


def test_a_failing_notebook_stops_the_report_with_its_name_and_cell(tmp_path):
    nbdir = tmp_path / "nbs"
    nbdir.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# broken"), nbformat.v4.new_code_cell("x = 1"),
                nbformat.v4.new_code_cell("raise ValueError('deliberate')")]
    nbformat.write(nb, nbdir / "99_broken.ipynb")
    with pytest.raises(NotebookFailed) as info:
        build_report(tmp_path / "out", notebook_dir=nbdir, log=lambda *_: None)
    assert info.value.notebook == "99_broken.ipynb" and info.value.cell == 2 and "deliberate" in info.value.error


def test_cli_report_failure_exits_1_without_traceback(tmp_path):
    bad = tmp_path / "evidence"
    bad.mkdir()
    out = subprocess.run([sys.executable, "-m", "hipacu.cli", "report", "--out", str(tmp_path / "r"), "--evidence", str(bad)],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 1 and "studies.csv" in out.stderr and "Traceback" not in out.stderr


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed here; .ci/run installs Debian's chromium so CI runs this")
def test_index_renders_in_headless_chromium_with_images_loaded_and_no_console_errors(report_dir, tmp_path):
    shot = tmp_path / "index.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
             "--allow-file-access-from-files", "--window-size=1200,3000"]
    url = (report_dir / "index.html").as_uri()
    run = subprocess.run([CHROMIUM, *flags, f"--screenshot={shot}", url], capture_output=True, text=True, timeout=120,
                         check=False)
    assert shot.exists() and shot.stat().st_size > 10_000, run.stderr[-2000:]
    console = [l for l in run.stderr.splitlines() if "CONSOLE" in l or "Failed to load resource" in l]
    assert not console, console
    dom = subprocess.run([CHROMIUM, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120,
                         check=False).stdout
    srcs = re.findall(r'<img[^>]+src="([^"]+)"', dom)
    assert srcs and all((report_dir / s).stat().st_size > 1000 for s in srcs)
