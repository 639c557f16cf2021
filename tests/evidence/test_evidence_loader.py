"""The evidence loader: the bundled evidence validates; each kind of defect gives exactly its message."""

from __future__ import annotations

import subprocess
import sys
import tomllib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hipacu
from hipacu.evidence import COLUMNS, EvidenceError, Problem, load_evidence, validate
from evidence_fixture import (
    ANALYSES, CLAIM, CONTRAST, CONTRAST_STUDY, COPIED_FROM, OUTCOME, REVIEW, REVIEW_RESULT, SAFETY, SAFETY_STUDY, STUDY,
    make_folder, write_table,
)


def test_bundled_evidence_validates():
    ev = load_evidence()
    assert len(ev.studies) > 0 and len(ev.analyses) > 0
    assert set(ev.outcomes["study_id"]) <= set(ev.studies["study_id"])


def test_bundled_evidence_has_a_source_for_every_number():
    ev = load_evidence()
    for table in (ev.outcomes, ev.safety, ev.reviews):
        assert table["source_url"].str.startswith("http").all()
        assert table["locator"].notna().all() and table["as_printed"].notna().all()


def test_bundled_evidence_lists_the_six_cochrane_hip_oa_trials_with_their_data_status():
    ev = load_evidence()
    trials = {"Fink2001", "Haslam2001", "Sheng2010", "Stener-Victorin2004", "White2012", "Witt2006"}
    st = ev.studies.set_index("study_id")
    assert trials <= set(st.index)
    assert set(st.loc[sorted(trials), "data_status"]) <= {"usable", "published_not_extractable", "unpublished", "not_found"}


def test_valid_fixture_folder_loads(tmp_path):
    ev = load_evidence(make_folder(tmp_path))
    assert ev.summary().startswith("4 studies (")
    assert "2 outcome rows, 1 safety rows" in ev.summary()
    assert ev.analysis("sham_opioid").mid == 0.5


def _problems(tmp_path, **changes) -> list[Problem]:
    ev, problems = validate(make_folder(tmp_path, **changes))
    assert ev is None
    return problems


def _drop(row: dict, key: str) -> dict:
    return {k: v for k, v in row.items() if k != key}


BROKEN = {
    "missing column": (
        dict(), lambda p: write_table(p, "outcomes.csv", [OUTCOME], [c for c in COLUMNS["outcomes.csv"] if c != "sd1"]),
        [Problem("outcomes.csv", 1, "sd1", "required column is missing from the header")],
    ),
    "unknown column": (
        dict(), lambda p: write_table(p, "safety.csv", [SAFETY], list(COLUMNS["safety.csv"]) + ["extra"]),
        [Problem("safety.csv", 1, "extra", f"unknown column (allowed: {', '.join(COLUMNS['safety.csv'])})")],
    ),
    "wrong type": (
        dict(outcomes_csv=[dict(OUTCOME, n1="twenty"), CONTRAST]), None,
        [Problem("outcomes.csv", 2, "n1", "'twenty' is not a number")],
    ),
    "count not whole": (
        dict(safety_csv=[dict(SAFETY, events="1.5")]), None,
        [Problem("safety.csv", 2, "events", "'1.5' must be a whole number")],
    ),
    "negative SD": (
        dict(outcomes_csv=[dict(OUTCOME, sd2="-11"), CONTRAST]), None,
        [Problem("outcomes.csv", 2, "sd2", "-11.0 must be > 0")],
    ),
    "events exceed total": (
        dict(outcomes_csv=[dict(OUTCOME, form="events", events1="3", events2="30"), CONTRAST]), None,
        [Problem("outcomes.csv", 2, "events2", "30 events exceed n2 = 25; need events <= n")],
    ),
    "CI not containing estimate": (
        dict(outcomes_csv=[OUTCOME, dict(CONTRAST, estimate="5")]), None,
        [Problem("outcomes.csv", 3, "estimate", "CI -9 to 3.6 does not contain the estimate 5; need ci_low <= estimate <= ci_high")],
    ),
    "unknown study id": (
        dict(outcomes_csv=[OUTCOME, dict(CONTRAST, study_id="Nobody1999")]), None,
        [Problem("outcomes.csv", 3, "study_id", "unknown study 'Nobody1999'; not in studies.csv")],
    ),
    "duplicate key": (
        dict(outcomes_csv=[OUTCOME, dict(CONTRAST, outcome_id=OUTCOME["outcome_id"])]), None,
        [Problem("outcomes.csv", 2, "outcome_id", "duplicate key 'Usichenko2005.opioid.h36'; each outcome_id must be unique"),
         Problem("outcomes.csv", 3, "outcome_id", "duplicate key 'Usichenko2005.opioid.h36'; each outcome_id must be unique")],
    ),
    "missing source URL": (
        dict(safety_csv=[dict(SAFETY, source_url="")]), None,
        [Problem("safety.csv", 2, "source_url", "a value is required")],
    ),
    "source that is not a URL": (
        dict(reviews_csv=[dict(REVIEW_RESULT, source_url="Cochrane library")]), None,
        [Problem("reviews.csv", 2, "source_url", "'Cochrane library' must be a URL starting with http:// or https://")],
    ),
    "unknown enum value": (
        dict(studies_csv=[dict(STUDY, design="RCT"), CONTRAST_STUDY, REVIEW, SAFETY_STUDY]), None,
        [Problem("studies.csv", 2, "design", "'RCT' is not allowed; allowed: rct, quasi_randomised, non_randomised, "
                                             "prospective_cohort, retrospective_cohort, observational, case_series, "
                                             "survey, systematic_review, mechanistic, protocol")],
    ),
    "empty file": (
        dict(), lambda p: (p / "claims.csv").write_text("", encoding="utf-8"),
        [Problem("claims.csv", None, None, f"file is empty; expected a header row with: {', '.join(COLUMNS['claims.csv'])}")],
    ),
    "non-UTF-8 bytes": (
        dict(), lambda p: (p / "claims.csv").write_bytes((p / "claims.csv").read_bytes().replace(b"help", b"h\xe9lp")),
        [Problem("claims.csv", 2, None, "is not UTF-8 (byte 0xe9 at offset {offset}); save the file as UTF-8")],
    ),
    "claim pointing at a missing analysis": (
        dict(claims_csv=[dict(CLAIM, analyses="sham_opioid;nowhere")]), None,
        [Problem("claims.csv", 2, "analyses", "unknown analysis 'nowhere'; not in analyses.toml")],
    ),
    "analysis naming a missing row": (
        dict(analyses_toml=ANALYSES.replace('rows = ["Usichenko2005.opioid.h36"]', 'rows = ["Usichenko2005.opioid.h99"]')), None,
        [Problem("analyses.toml", None, "sham_opioid.rows", "unknown row 'Usichenko2005.opioid.h99'; not in outcomes.csv")],
    ),
    "analysis with unknown measure": (
        dict(analyses_toml=ANALYSES.replace('measure = "SMD"', 'measure = "HR"')), None,
        [Problem("analyses.toml", None, "sham_opioid.measure", "'HR' is not allowed; allowed: SMD, MD, ROM, RR, OR, RD, PLO, IRLN")],
    ),
    "override without a reason": (
        dict(analyses_toml=ANALYSES + '[[analysis.override]]\ndomain = "imprecision"\nrating = -1\n'), None,
        [Problem("analyses.toml", None, "sham_opioid.override.reason", "an override needs a reason")],
    ),
    "MID without a source": (
        dict(analyses_toml="\n".join(x for x in ANALYSES.splitlines() if not x.startswith("mid_source"))), None,
        [Problem("analyses.toml", None, "sham_opioid.mid_source", "a minimal important difference needs its source")],
    ),
    "invalid TOML": (
        dict(analyses_toml="[[analysis]\nid = 1"), None,
        [Problem("analyses.toml", None, None, "is not valid TOML: {tomllib}")],
    ),
    "review result from a study that is not a review": (
        dict(reviews_csv=[dict(REVIEW_RESULT, study_id="Usichenko2005")]), None,
        [Problem("reviews.csv", 2, "study_id", "'Usichenko2005' has design 'rct' in studies.csv; review results need 'systematic_review'")],
    ),
    "bad boolean": (
        dict(outcomes_csv=[dict(OUTCOME, lower_is_better="yes"), CONTRAST]), None,
        [Problem("outcomes.csv", 2, "lower_is_better", "'yes' is not allowed; use true or false")],
    ),
    "arm row without means": (
        dict(outcomes_csv=[_drop(OUTCOME, "mean2"), CONTRAST]), None,
        [Problem("outcomes.csv", 2, "mean2", "a value is required for form 'arm'")],
    ),
}


@pytest.mark.parametrize("defect", list(BROKEN))
def test_broken_folder_yields_exactly_its_problem(tmp_path, defect):
    changes, mutate, expected = BROKEN[defect]
    folder = make_folder(tmp_path, **changes)
    if mutate:
        mutate(folder)
    ev, problems = validate(folder)
    assert ev is None
    # two messages carry details computed here: the byte offset, and Python's own TOML parser text
    if (folder / "claims.csv").exists():
        raw = (folder / "claims.csv").read_bytes()
        offset = raw.find(b"\xe9")
    try:
        tomllib.loads((folder / "analyses.toml").read_text(encoding="utf-8"))
        toml_error = ""
    except tomllib.TOMLDecodeError as exc:
        toml_error = str(exc)
    expected = [Problem(p.file, p.line, p.column, p.message.format(offset=offset, tomllib=toml_error)) for p in expected]
    assert problems == expected
    with pytest.raises(EvidenceError) as info:
        load_evidence(folder)
    assert info.value.problems == expected
    assert str(expected[0]) in str(info.value)


def test_every_problem_is_reported_at_once(tmp_path):
    problems = _problems(tmp_path, outcomes_csv=[dict(OUTCOME, sd1="-1", n2="x"), dict(CONTRAST, study_id="Nope")])
    assert {(p.line, p.column) for p in problems} == {(2, "sd1"), (2, "n2"), (3, "study_id")}


def test_validate_cli_lists_problems_and_exits_1(tmp_path):
    folder = make_folder(tmp_path, safety_csv=[dict(SAFETY, source_url="")])
    out = subprocess.run([sys.executable, "-m", "hipacu.cli", "validate", str(folder)], capture_output=True, text=True)
    assert out.returncode == 1
    assert "safety.csv line 2, column source_url: a value is required" in out.stderr
    assert "Traceback" not in out.stderr


def test_validate_cli_summarises_a_valid_folder_and_exits_0(tmp_path):
    out = subprocess.run([sys.executable, "-m", "hipacu.cli", "validate", str(make_folder(tmp_path))],
                         capture_output=True, text=True)
    assert out.returncode == 0
    assert "valid; 4 studies" in out.stdout


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(sorted(COLUMNS)), payload=st.binary(max_size=400))
def test_garbage_never_raises_anything_but_evidence_error(tmp_path_factory, name, payload):
    folder = make_folder(tmp_path_factory.mktemp("garbage"))
    (folder / name).write_bytes(payload)
    try:
        load_evidence(folder)
    except EvidenceError as exc:
        assert exc.problems
    # a payload that happens to be a valid table is fine too


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(column=st.sampled_from(list(COLUMNS["outcomes.csv"])), value=st.text(max_size=30))
def test_garbage_cells_never_raise_anything_but_evidence_error(tmp_path_factory, column, value):
    folder = make_folder(tmp_path_factory.mktemp("cells"), outcomes_csv=[dict(OUTCOME, **{column: value}), CONTRAST])
    try:
        load_evidence(folder)
    except EvidenceError as exc:
        assert all(isinstance(p, Problem) for p in exc.problems)


def test_load_evidence_is_exported_lazily():
    assert hipacu.load_evidence is load_evidence


def test_the_data_dictionary_documents_every_column_and_analysis_key():
    from pathlib import Path

    from hipacu.evidence import ANALYSIS_KEYS

    readme = (Path(__file__).parents[2] / "evidence" / "README.md").read_text(encoding="utf-8")
    documented = set()
    for line in readme.splitlines():
        if line.startswith("| "):
            documented.update(x.strip(" `").split(" ")[0] for x in line.split("|")[1].split(","))
    missing_keys = [k for k in ANALYSIS_KEYS if k not in documented]
    assert not missing_keys, f"analyses.toml keys without a row in evidence/README.md: {missing_keys}"
    missing_cols = [f"{f}:{c}" for f, cols in COLUMNS.items() for c in cols if c not in documented
                    and not c.startswith("rob_")]
    assert not missing_cols, f"columns without a row in evidence/README.md: {missing_cols}"


def test_quasi_randomised_allocation_must_be_judged_high_risk_in_the_randomisation_domain(tmp_path):
    folder = make_folder(tmp_path, studies_csv=[dict(STUDY, design="quasi_randomised", rob_randomisation="low"), CONTRAST_STUDY,
                                                REVIEW, SAFETY_STUDY])
    _, problems = validate(folder)
    assert [p.column for p in problems] == ["rob_randomisation"]
    assert "contradicts design 'quasi_randomised'" in problems[0].message
    ok = make_folder(tmp_path / "ok", studies_csv=[dict(STUDY, design="quasi_randomised", rob_randomisation="high"),
                                                    CONTRAST_STUDY, REVIEW, SAFETY_STUDY])
    assert validate(ok)[1] == []


def test_the_fixture_rows_are_the_bundled_sourced_rows():
    import evidence_fixture

    bundled = load_evidence()
    tables = {"studies.csv": bundled.studies, "outcomes.csv": bundled.outcomes, "safety.csv": bundled.safety,
              "reviews.csv": bundled.reviews, "claims.csv": bundled.claims}
    for table, key, names in COPIED_FROM:
        for name in names:
            row = getattr(evidence_fixture, name)
            src = tables[table].set_index(key).loc[row[key]]
            for col, value in row.items():
                if col in (key, "analysis_id", "analyses"):  # the fixture points them at its own analysis
                    continue
                got = src[col]
                want = type(got)(value) if isinstance(got, (int, float)) and not isinstance(got, bool) else value
                if isinstance(got, bool) or str(got) in ("True", "False"):
                    want, got = str(value).lower(), str(got).lower()
                assert got == want, f"{name}.{col}: fixture {value!r}, bundled {src[col]!r}"
