"""`hipacu init` writes a valid folder with no invented numbers; `hipacu validate` checks that every
analysis can pool something and hints at the delimiter; `hipacu --version`."""

from __future__ import annotations

import csv
import tomllib
from pathlib import Path

import pytest

import hipacu
from hipacu import cli
from hipacu.evidence import Problem, validate
from hipacu.evidence.template import TEMPLATE_FILES
from evidence_fixture import OUTCOME, make_folder

ROOT = Path(__file__).resolve().parents[2]
BCG = ROOT / "tests" / "data" / "bcg"


def test_init_writes_a_folder_that_validate_accepts(tmp_path, capsys):
    folder = tmp_path / "new"
    assert cli.main(["init", str(folder)]) == 0
    assert sorted(p.name for p in folder.iterdir()) == sorted(TEMPLATE_FILES)
    assert cli.main(["validate", str(folder)]) == 0
    assert "valid; 1 studies" in capsys.readouterr().out
    ev, problems = validate(folder)
    assert problems == [] and [a.id for a in ev.analyses] == ["example"]


def test_init_copies_a_sourced_bcg_row_and_invents_no_number(tmp_path):
    folder = tmp_path / "new"
    cli.main(["init", str(folder)])
    for name in ("studies.csv", "outcomes.csv"):
        with open(folder / name, encoding="utf-8") as fh:
            mine = list(csv.DictReader(fh))
        with open(BCG / name, encoding="utf-8") as fh:
            bcg = {r[next(iter(r))]: r for r in csv.DictReader(fh)}
        assert len(mine) == 1
        assert mine[0] == bcg[mine[0][next(iter(mine[0]))]]  # the row is a BCG row, byte for byte
        assert mine[0]["source_url"].startswith("https://")


def test_init_never_overwrites(tmp_path, capsys):
    folder = tmp_path / "new"
    cli.main(["init", str(folder)])
    (folder / "studies.csv").write_text("mine", encoding="utf-8")
    assert cli.main(["init", str(folder)]) == 1
    assert "already has" in capsys.readouterr().err
    assert (folder / "studies.csv").read_text(encoding="utf-8") == "mine"


def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    assert capsys.readouterr().out.strip() == f"hipacu {version}" == f"hipacu {hipacu.__version__}"


def test_an_analysis_that_can_pool_none_of_its_rows_is_a_validation_problem(tmp_path):
    events = dict(OUTCOME, form="events", mean1="", sd1="", mean2="", sd2="", events1="5", events2="9")
    toml = (Path(make_folder(tmp_path / "a")) / "analyses.toml").read_text(encoding="utf-8").replace(
        'measure = "MD"', 'measure = "SMD"')
    folder = make_folder(tmp_path / "b", outcomes_csv=[events], analyses_toml=toml)
    ev, problems = validate(folder)
    assert ev is None
    assert problems == [Problem("analyses.toml", None, "sham_opioid.measure",
                                "analysis 'sham_opioid' pools SMD, but none of its rows can give SMD (Usichenko2005.opioid.h36: "
                                "event counts (RR, OR or RD)); change the measure or the rows")]


def test_a_safety_analysis_needs_a_single_group_measure(tmp_path):
    toml = (Path(make_folder(tmp_path / "a")) / "analyses.toml").read_text(encoding="utf-8").replace(
        'table = "outcomes"', 'table = "safety"').replace('["Usichenko2005.opioid.h36"]', '["Zhao2011.serious"]')
    ev, problems = validate(make_folder(tmp_path / "b", analyses_toml=toml))
    assert [p.column for p in problems] == ["sham_opioid.measure"]
    assert "cannot be computed from safety rows" in problems[0].message


def test_a_semicolon_separated_file_gets_a_delimiter_hint_and_no_traceback(tmp_path, capsys):
    folder = make_folder(tmp_path / "f")
    text = (folder / "studies.csv").read_text(encoding="utf-8")
    (folder / "studies.csv").write_text(text.replace(",", ";"), encoding="utf-8")
    assert cli.main(["validate", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "studies.csv line 1: the header has one column containing ';': the file looks semicolon-separated" in err
    assert "Traceback" not in err
