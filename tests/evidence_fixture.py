"""A minimal, valid evidence folder written by the tests (synthetic values, never shipped).

Each broken-folder test starts from this and changes one thing, so the expected problem list is
exactly one item.
"""

from __future__ import annotations

import csv
from pathlib import Path

from hipacu.evidence import COLUMNS

URL = "https://example.org/trial"

STUDY = dict(study_id="Trial2020", label="Trial 2020", citation="Author A. A trial. J Test 2020;1:1-2.", year="2020",
             design="rct", condition="hip_oa", comparison="sham", intervention="manual", data_status="usable",
             rob_randomisation="low", rob_deviations="low", rob_missing="low", rob_measurement="low",
             rob_reporting="low", rob_overall="low", rob_source="own_judgement", source_url=URL, locator="abstract")
REVIEW = dict(STUDY, study_id="Review2021", label="Review 2021", design="systematic_review", comparison="multiple",
              rob_source="not_applicable", rob_randomisation="not_assessed", rob_deviations="not_assessed",
              rob_missing="not_assessed", rob_measurement="not_assessed", rob_reporting="not_assessed",
              rob_overall="not_assessed")
OUTCOME = dict(outcome_id="Trial2020.pain.w8", study_id="Trial2020", outcome="pain", measure="VAS (mm)",
               lower_is_better="true", timepoint_label="8 weeks", timepoint_weeks="8", comparison="sham",
               arm1="acupuncture", arm2="sham", form="arm", value_type="final", population="itt",
               n1="20", mean1="30", sd1="10", n2="20", mean2="35", sd2="11", as_printed="30 (10) vs 35 (11)",
               source_url=URL, locator="table 2")
CONTRAST = dict(OUTCOME, outcome_id="Trial2020.pain.w8.md", form="contrast", n1="", mean1="", sd1="", n2="",
                mean2="", sd2="", estimate="-5", ci_low="-11", ci_high="1", contrast_measure="MD")
SAFETY = dict(safety_id="Trial2020.serious", study_id="Trial2020", category="serious", event="serious adverse event",
              events="0", denominator="20", denominator_unit="patients", as_printed="no serious adverse events",
              source_url=URL, locator="results")
REVIEW_RESULT = dict(review_result_id="Review2021.pain", study_id="Review2021", analysis_id="sham_pain",
                     outcome="pain", comparison="sham", condition="hip_oa", k="3", participants="200", measure="MD",
                     estimate="-3", ci_low="-8", ci_high="2", certainty="low", as_printed="-3 (-8 to 2)",
                     source_url=URL, locator="summary of findings")
CLAIM = dict(claim_id="C1", claim="Real acupuncture adds little over sham", wording="may offer little",
             implied_certainty="low", kind="no_difference", analyses="sham_pain", article_locator="paragraph 2")
ANALYSES = '''
[[analysis]]
id = "sham_pain"
title = "Real vs sham, pain"
claims = ["C1"]
table = "outcomes"
rows = ["Trial2020.pain.w8"]
measure = "MD"
outcome_label = "Pain"
population = "hip OA"
intervention = "acupuncture"
comparator = "sham"
mid = 15.0
mid_source = "a source"
'''

TABLES = {
    "studies.csv": [STUDY, REVIEW],
    "outcomes.csv": [OUTCOME, CONTRAST],
    "safety.csv": [SAFETY],
    "reviews.csv": [REVIEW_RESULT],
    "claims.csv": [CLAIM],
}


def write_table(path: Path, name: str, rows: list[dict], columns: list[str] | None = None) -> None:
    cols = columns if columns is not None else list(COLUMNS[name])
    with open(path / name, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({c: r.get(c, "") for c in cols})


def make_folder(path: Path, **changes) -> Path:
    """Write the valid folder, with ``changes`` = {file name with '.' -> '_': list of row dicts}."""
    path.mkdir(parents=True, exist_ok=True)
    for name, rows in TABLES.items():
        rows = changes.get(name.replace(".", "_"), rows)
        write_table(path, name, rows)
    (path / "analyses.toml").write_text(changes.get("analyses_toml", ANALYSES), encoding="utf-8")
    return path
