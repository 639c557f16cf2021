"""`hipacu grade --json`: numbers as numbers, lists as lists, every domain's rating and rationale, the
schema the README documents."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from numpy.testing import assert_allclose

from hipacu import cli
from hipacu.evidence import load_evidence
from hipacu.review.analysis import run_analysis
from hipacu.review.grading import DOMAINS

ROOT = Path(__file__).resolve().parents[2]
BCG = ROOT / "tests" / "data" / "bcg"


def _json(capsys, *args) -> dict:
    assert cli.main(["grade", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_bcg_json_has_numbers_lists_and_every_domain(capsys):
    out = _json(capsys, "--evidence", str(BCG))
    assert out["schema_version"] == 1 and out["claims"] == []
    (a,) = out["analyses"]
    r = run_analysis(load_evidence(BCG), "bcg_tb")
    for key in ("k", "participants"):
        assert isinstance(a[key], int)
    assert a["k"] == 13 and a["participants"] == r.participants
    # metafor rma(measure = "RR", ...) REML on dat.bcg, as printed (tests/data/bcg/README.md): -0.7145 (-1.0669, -0.3622)
    assert_allclose([a["estimate"], a["ci_low"], a["ci_high"]], [-0.7145, -1.0669, -0.3622], atol=0.5e-4)
    assert all(isinstance(a[k], float) for k in ("estimate", "ci_low", "ci_high", "tau2", "i2"))
    assert a["scale"] == "log" and isinstance(a["effect"]["estimate"], float)
    assert [d["domain"] for d in a["domains"]] == list(DOMAINS)
    for d in a["domains"]:
        assert isinstance(d["rating"], int) and d["rating"] in (0, -1, -2) and d["rationale"]
    assert isinstance(a["studies"], list) and len(a["studies"]) == 13
    assert a["certainty"] in ("high", "moderate", "low", "very_low") and 1 <= a["certainty_level"] <= 4


def test_bundled_json_lists_claims_with_lists_of_analyses(capsys):
    out = _json(capsys)
    assert out["claims"], "the bundled evidence has claims"
    for c in out["claims"]:
        assert isinstance(c["analyses"], list) and all(isinstance(x, str) for x in c["analyses"])
        assert isinstance(c["critical_analyses"], list) and isinstance(c["k"], int) and isinstance(c["participants"], int)
        assert isinstance(c["reviews"], list)
    ids = {a["id"] for a in out["analyses"]}
    assert {x for c in out["claims"] for x in c["analyses"]} <= ids


def test_the_readme_documents_every_key(capsys):
    out = _json(capsys, "--evidence", str(BCG))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### `hipacu grade --json`"):]
    section = section[:section.index("\n## ")]
    documented = set(re.findall(r"`([a-z_0-9]+)`", section))
    keys = set(out) | set(out["analyses"][0]) | set(out["analyses"][0]["domains"][0]) | set(out["analyses"][0]["effect"])
    claim_keys = set(_json(capsys)["claims"][0])
    missing = sorted((keys | claim_keys) - documented)
    assert not missing, f"keys not documented in the README: {missing}"


@pytest.mark.parametrize("bad", ["nan", "NaN", "Infinity"])
def test_no_nan_tokens_in_the_json(capsys, bad):
    assert cli.main(["grade", "--json", "--evidence", str(BCG)]) == 0
    assert bad not in capsys.readouterr().out
