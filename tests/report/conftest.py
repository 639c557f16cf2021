"""One bundled report for every report test (building it executes all eight notebooks)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hipacu.report import build_report


@pytest.fixture(scope="session")
def report_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    build_report(out, jobs=2, log=lambda *_: None)
    return out
