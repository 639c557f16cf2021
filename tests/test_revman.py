"""RevMan 5 import: every analysis of the test files, re-analysed with RevMan's stated method, reproduces
the file's stored totals.

- tests/data/revman/bcg.rm5: written to the RevMan 5 schema by make_bcg_rm5.py from dat.bcg and
  dat.normand1999, with metafor's totals (tests/reference/make_revman_totals.R: rma.mh, rma.peto,
  rma with DL, and RevMan's MH + DerSimonian-Laird from metafor's pieces).
- tests/data/revman/fleiss1993.rm5: the aspirin trials of Fleiss (1993) with the totals and weights that
  RevMan 5.0.23 itself stored (R meta's inst/extdata/Fleiss1993.rm5).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from conftest import REFERENCE
from numpy.testing import assert_allclose

import hipacu
from hipacu import cli
from hipacu.evidence import validate
from hipacu.evidence.revman import RevManError, read_rm5
from hipacu.revman import RTOL_REVMAN_P, check_against_revman, read_revman

DATA = Path(__file__).parent / "data" / "revman"
FILES = sorted(DATA.glob("*.rm5"))
#: Stored totals are metafor's at 17 digits, or RevMan's own doubles: the methods are closed-form.
TOL_REVMAN = 1e-9


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_analysis_reproduces_revmans_stored_totals(path):
    analyses = read_revman(path)
    assert analyses
    for aid, m in analyses.items():
        assert check_against_revman(m, rtol=TOL_REVMAN) == [], aid


def test_the_bcg_file_holds_every_method_revman_has():
    review = read_rm5(DATA / "bcg.rm5")
    kinds = {(o.kind, o.method, o.measure, o.random) for o in review.outcomes}
    assert {("DICH", "MH", "RR", False), ("DICH", "MH", "RR", True), ("DICH", "MH", "OR", False),
            ("DICH", "MH", "RD", True), ("DICH", "IV", "OR", True), ("DICH", "PETO", "OR", False),
            ("IV", "IV", "RR", False), ("CONT", "IV", "MD", True)} <= kinds
    assert any(o.subgroups for o in review.outcomes)


def test_mantel_haenszel_fixed_equals_metafors_rma_mh():
    ref = next(c for c in json.loads((REFERENCE / "metafor_binary.json").read_text())["cases"] if c["id"] == "bcg/RR/0.95")
    m = read_revman(DATA / "bcg.rm5")["1.1"]
    assert_allclose([m.pooled.estimate, m.pooled.se, m.pooled.q], [ref["expected"][k] for k in ("estimate", "se", "q")],
                    rtol=TOL_REVMAN)
    assert m.k == 13 and m.labels[0] == "Aronson 1948" and m.label1 == "BCG vaccine"


def test_revmans_own_fleiss_1993_totals_and_weights():
    """RevMan 5.0.23 (meta's Fleiss1993.rm5): OR 0.8969 (0.8405 to 0.9570), Chi2 9.95, df 6, I2 40%,
    Z 3.29; ISIS-2 weighs 72.88%."""
    m = read_revman(DATA / "fleiss1993.rm5")["1.1"]
    assert_allclose(math.exp(m.pooled.estimate), 0.8968655609130709, rtol=TOL_REVMAN)
    assert_allclose(m.studies.loc["ISIS-2 1988", "weight"], 72.87984024392564, rtol=TOL_REVMAN)
    assert_allclose(m.pooled.q_pval, 0.1269422521561745, rtol=RTOL_REVMAN_P)


def test_a_wrong_stored_total_is_reported(tmp_path):
    text = (DATA / "fleiss1993.rm5").read_text(encoding="utf-8").replace('CHI2="9.946055983220074"', 'CHI2="9.9"')
    path = tmp_path / "wrong.rm5"
    path.write_text(text, encoding="utf-8")
    (diff,) = check_against_revman(read_revman(path)["1.1"])
    assert diff.key == "chi2" and diff.stored == 9.9 and math.isclose(diff.computed, 9.946055983220074, rel_tol=1e-9)


def test_a_file_that_is_not_revman_is_a_clear_error(tmp_path):
    bad = tmp_path / "x.rm5"
    bad.write_text("not xml", encoding="utf-8")
    with pytest.raises(RevManError, match="is not a readable XML file"):
        read_rm5(bad)
    bad.write_text("<REVIEW/>", encoding="utf-8")
    with pytest.raises(RevManError, match="not <COCHRANE_REVIEW>"):
        read_rm5(bad)
    assert cli.main(["import-revman", str(bad), str(tmp_path / "out"), "--source-url", "https://example.org",
                     "--design", "rct"]) == 1


def test_import_revman_writes_valid_evidence_folders(tmp_path, capsys):
    out = tmp_path / "ev"
    assert cli.main(["import-revman", str(DATA / "bcg.rm5"), str(out), "--source-url",
                     "https://doi.org/10.1001/jama.1994.03510330076038", "--design", "rct", "--value-type", "final"]) == 0
    folders = sorted(out.iterdir())
    assert len(folders) == len(read_rm5(DATA / "bcg.rm5").outcomes)
    for f in folders:
        ev, problems = validate(f)
        assert problems == [], (f, problems)
    ev, _ = validate(out / "analysis_1.5")  # inverse-variance OR, DerSimonian-Laird: the folder pools the same
    r = hipacu.run_analysis(ev, "revman_1_5")
    assert_allclose(r.pooled.estimate, read_revman(DATA / "bcg.rm5")["1.5"].pooled.estimate, rtol=1e-12)


def test_hipacu_read_revman_is_exported():
    assert hipacu.read_revman is read_revman
