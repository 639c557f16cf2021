"""`hipacu report --evidence DIR` on a second topic (the BCG trials, tests/data/bcg): the report speaks
about that topic only, its forest plot states hipacu's and metafor's pooled numbers, and the
notebooks receive the folder."""

from __future__ import annotations

import csv
import html
import re
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose

import hipacu
from hipacu import cli, effects

BCG = Path(__file__).parents[1] / "data" / "bcg"
#: metafor's printed output has 4 decimals: agreement within half a unit of the last digit.
TOL_PRINTED_4DP = 0.5e-4
#: the figure and hipacu.pool come from the same fit; only the decimal text of data-* attributes differs.
TOL_SAME_FIT = 1e-12
TOPIC_WORDS = re.compile(r"acupunct|\bhips?\b", re.IGNORECASE)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bcg_report")
    assert cli.main(["report", "--evidence", str(BCG), "--out", str(out), "--jobs", "1"]) == 0
    return out


@pytest.fixture(scope="module")
def index(report) -> str:
    return (report / "index.html").read_text(encoding="utf-8")


def _counts() -> tuple[np.ndarray, ...]:
    """events and totals per arm, read from outcomes.csv with the csv module (not hipacu's loader)."""
    with open(BCG / "outcomes.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return tuple(np.array([float(r[c]) for r in rows]) for c in ("events1", "n1", "events2", "n2"))


def _figure(index: str, kind: str, analysis: str) -> dict[str, str]:
    m = re.search(rf"<figure class='{kind}' data-analysis='{analysis}'([^>]*)>(.*?)</figure>", index, flags=re.DOTALL)
    assert m, f"no {kind} for {analysis} in index.html"
    attrs = dict(re.findall(r"data-([\w-]+)='([^']*)'", m.group(1)))
    attrs["img"] = re.search(r"src='([^']+)'", m.group(2)).group(1)
    return attrs


def test_the_bcg_folder_is_valid_and_its_totals_are_the_printed_counts_summed():
    ev, problems = hipacu.evidence.validate(BCG)
    assert problems == []
    assert len(ev.studies) == 13 and len(ev.claims) == 0 and ev.topic.notebooks == ()
    for _, r in ev.outcomes.iterrows():
        tpos, tneg, cpos, cneg = (int(x) for x in r["as_printed"].split("=")[1].split(","))
        assert (r["events1"], r["n1"], r["events2"], r["n2"]) == (tpos, tpos + tneg, cpos, cpos + cneg)
    alloc = dict(zip(ev.studies["allocation_as_printed"], ev.studies["design"]))
    assert alloc == {"random": "rct", "alternate": "quasi_randomised", "systematic": "quasi_randomised"}


def test_index_names_the_bcg_topic_and_nothing_of_the_bundled_one(index):
    topic = hipacu.load_evidence(BCG).topic
    text = html.unescape(re.sub(r"<[^>]+>", " ", index))
    assert f"<h1>{html.escape(topic.title)}</h1>" in index
    assert topic.question in text and topic.article.title in text and topic.article.url in index
    assert not TOPIC_WORDS.search(index), TOPIC_WORDS.search(index)
    bundled = hipacu.load_evidence().topic
    assert bundled.title not in text and bundled.question not in text
    assert "<h2>Claims</h2>" not in index and "evidence_map" not in index  # the folder has no claims


def test_forest_plot_states_hipacus_pooled_estimate_and_metafors_printed_one(report, index):
    fig = _figure(index, "forest-plot", "bcg_tb")
    assert (report / fig["img"]).stat().st_size > 10_000 and (report / fig["img"]).with_suffix(".svg").exists()
    es = effects.log_risk_ratio(*_counts())
    pooled = hipacu.pool(es.yi, es.vi, method="REML", knha=False)
    drawn = {k: float(fig[k]) for k in ("estimate", "ci-low", "ci-high", "tau2")}
    assert int(fig["k"]) == pooled.k == 13 and fig["measure"] == "RR" and fig["method"] == "REML"
    assert_allclose([drawn["estimate"], drawn["ci-low"], drawn["ci-high"], drawn["tau2"]],
                    [pooled.estimate, pooled.ci_low, pooled.ci_high, pooled.tau2], rtol=TOL_SAME_FIT)
    # metafor rma(measure = "RR", ...) on dat.bcg, REML, as printed at
    # https://cttir.github.io/courses/course3_design_causal/labs/lab_week4_session2_slides.html
    # ("Random-Effects Model (k = 13; tau^2 estimator: REML)"): estimate -0.7145, ci.lb -1.0669,
    # ci.ub -0.3622, tau^2 0.3132 (see tests/data/bcg/README.md)
    assert_allclose(drawn["estimate"], -0.7145, atol=TOL_PRINTED_4DP)
    assert_allclose([drawn["ci-low"], drawn["ci-high"]], [-1.0669, -0.3622], atol=TOL_PRINTED_4DP)
    assert_allclose(drawn["tau2"], 0.3132, atol=TOL_PRINTED_4DP)


def test_an_analysis_of_at_least_10_studies_gets_a_funnel_plot(report, index):
    fig = _figure(index, "funnel-plot", "bcg_tb")
    assert (report / fig["img"]).exists()


def test_the_packaged_template_ran_on_the_bcg_folder(report, index):
    page = (report / "analysis.html").read_text(encoding="utf-8")
    assert "href='analysis.html'" in index
    topic = hipacu.load_evidence(BCG).topic
    assert html.escape(topic.title) in page  # printed by the notebook from the injected EVIDENCE
    assert hipacu.load_evidence().topic.title not in page
    assert page.count("data:image/png;base64") >= 3  # forest, funnel (k = 13), leave-one-out
    assert "inconsistency" in page and "Summary of findings" in page  # GRADE profile and SoF
    assert not re.search(r"<h2[^>]*>Claims", page)


def test_report_on_a_folder_that_is_not_there_prints_the_problem_and_exits_1(tmp_path, capsys):
    missing = tmp_path / "no_such_folder"
    assert cli.main(["report", "--evidence", str(missing), "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert str(missing) in err and "is not a folder" in err
    assert not (tmp_path / "r").exists()


def test_index_cites_the_article_with_publisher_date_and_a_link(index):
    art = hipacu.load_evidence(BCG).topic.article
    cite = re.search(r"<p class='citation'>(.*?)</p>", index, flags=re.DOTALL).group(1)
    assert f"<cite>{html.escape(art.title)}</cite>" in cite and html.escape(art.publisher) in cite and art.date in cite
    assert f"<a href='{art.url}'>" in cite and "not recorded" not in cite


def test_the_summary_of_findings_gives_the_absolute_effect_per_1000_and_its_assumed_risk(index):
    ev = hipacu.load_evidence(BCG)
    sof = hipacu.summary_of_findings(ev)
    row = sof.iloc[0]
    tr = re.search(r"<tr id='sof-bcg_tb'[^>]*>(.*?)</tr>", index, flags=re.DOTALL).group(1)
    for col in ("risk_comparator", "risk_intervention", "risk_difference", "relative_effect"):
        assert html.escape(row[col]) in tr and "per 1,000" in row["risk_difference"] + row["risk_comparator"]
    note = next(f for f in row["footnotes"] if f.column == "risk_comparator")
    assert html.escape(note.text) in index
