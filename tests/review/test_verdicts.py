"""The claim verdict table, cell by cell, and the properties the verdicts must have: they never depend
on the order of rows or of listed ids, and a claim's certainty is the lowest of its critical analyses."""

from __future__ import annotations

import csv
import itertools
import random
import shutil
from pathlib import Path

import pytest

from hipacu.evidence import bundled_evidence_path, load_evidence
from hipacu.review import claims as cl
from hipacu.review.claims import (
    CONTRADICTED, NOT_SHOWN, OVERSTATED, SUPPORTED, UNCERTAIN, UNCERTAIN_AGREES, VERDICTS, grade_claims, table_verdict,
    verdict_table,
)

LEVEL = {"very_low": 1, "low": 2, "moderate": 3, "high": 4}

# What each category means for each declared direction (the documented mapping, written out).
AGREEMENT = {
    ("present", "benefit"): "agrees", ("present", "little_or_no"): "null", ("present", "harm"): "opposite",
    ("absent", "little_or_no"): "agrees", ("absent", "benefit"): "opposite", ("absent", "harm"): "opposite",
    ("below", "below"): "agrees", ("below", "above"): "opposite",
    ("above", "above"): "agrees", ("above", "below"): "opposite",
}
# The verdict of every (agreement, certainty, implied certainty) cell, written out from the rule text.
_A = {  # agrees: rows = certainty high..very low; columns = implied high, moderate, low, very low
    "high": [SUPPORTED] * 4,
    "moderate": [OVERSTATED, SUPPORTED, SUPPORTED, SUPPORTED],
    "low": [OVERSTATED, OVERSTATED, SUPPORTED, SUPPORTED],
    "very_low": [UNCERTAIN_AGREES, UNCERTAIN_AGREES, UNCERTAIN_AGREES, SUPPORTED],
}
_N = {"high": CONTRADICTED, "moderate": CONTRADICTED, "low": NOT_SHOWN, "very_low": UNCERTAIN}
_O = {"high": CONTRADICTED, "moderate": CONTRADICTED, "low": CONTRADICTED, "very_low": UNCERTAIN}
IMPLIED_ORDER = ["high", "moderate", "low", "very_low"]


def expected(agreement: str, certainty: str, implied: str) -> str:
    if agreement == "agrees":
        return _A[certainty][IMPLIED_ORDER.index(implied)]
    return (_N if agreement == "null" else _O)[certainty]


CELLS = list(itertools.product(AGREEMENT, LEVEL, LEVEL))


def test_the_table_has_every_cell_once():
    table = verdict_table()
    assert len(table) == len(CELLS)
    assert not table.duplicated(["direction", "category", "certainty", "implied_certainty"]).any()
    assert set(table["verdict"]) <= set(VERDICTS)


@pytest.mark.parametrize("cell", CELLS, ids=lambda c: "/".join(c[0]) + f"/{c[1]}/{c[2]}")
def test_verdict_table_cell(cell):
    (direction, category), certainty, implied = cell
    table = verdict_table().set_index(["direction", "category", "certainty", "implied_certainty"])
    row = table.loc[(direction, category, certainty, implied)]
    assert row["agreement"] == AGREEMENT[(direction, category)]
    assert row["verdict"] == expected(AGREEMENT[(direction, category)], certainty, implied)
    assert table_verdict(row["agreement"], LEVEL[certainty], LEVEL[implied]) == row["verdict"]


def test_very_uncertain_evidence_that_agrees_is_not_the_same_finding_as_evidence_of_no_effect():
    assert table_verdict("agrees", 1, 2) != table_verdict("null", 1, 2)
    assert table_verdict("agrees", 1, 2) == UNCERTAIN_AGREES and table_verdict("null", 1, 2) == UNCERTAIN


# ---- properties on the bundled evidence


def _copy_shuffled(dest: Path, seed: int) -> Path:
    """The bundled folder with every CSV's rows shuffled and every ;-list in claims.csv reversed."""
    shutil.copytree(bundled_evidence_path(), dest)
    rng = random.Random(seed)
    for f in dest.glob("*.csv"):
        with open(f, encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
            fields = list(rows[0]) if rows else []
        rng.shuffle(rows)
        if f.name == "claims.csv":
            for r in rows:
                for col in ("analyses", "critical_analyses", "studies"):
                    if r.get(col):
                        r[col] = ";".join(reversed(r[col].split(";")))
        with open(f, "w", encoding="utf-8", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
    return dest


def _topic_free_toml(text: str) -> str:
    lines, skip = [], False
    for line in text.splitlines():
        if line.startswith("notebooks = ["):
            skip = True
        if not skip:
            lines.append(line)
        if skip and line.strip() == "]":
            skip = False
    return "\n".join(lines)


@pytest.mark.parametrize("seed", [1, 2])
def test_verdicts_do_not_depend_on_the_order_of_rows_or_ids(tmp_path, seed):
    base = grade_claims(load_evidence()).set_index("claim_id")
    folder = _copy_shuffled(tmp_path / "ev", seed)
    (folder / "topic.toml").write_text(_topic_free_toml((bundled_evidence_path() / "topic.toml").read_text(encoding="utf-8")),
                                       encoding="utf-8")
    shuffled = grade_claims(load_evidence(folder)).set_index("claim_id").loc[base.index]
    for col in ("verdict", "certainty", "primary_analysis", "critical_analyses", "k", "participants"):
        assert list(shuffled[col]) == list(base[col]), col


def test_claim_certainty_is_the_lowest_among_its_critical_analyses():
    ev = load_evidence()
    from hipacu.review.analysis import run_all
    from hipacu.review.grading import grade

    results = run_all(ev)
    grades = {a: grade(r) for a, r in results.items()}
    table = grade_claims(ev, results, grades)
    for _, c in table[table["certainty"] != ""].iterrows():
        levels = [grades[a].level for a in c["critical_analyses"].split(";") if results[a].pooled is not None]
        assert LEVEL[c["certainty"]] == min(levels)


def test_every_claim_verdict_is_in_the_vocabulary():
    assert set(grade_claims(load_evidence())["verdict"]) <= set(cl.VERDICTS)
