"""The figures draw what the results say (rows, diamonds, whiskers, markers), and a reader can read
them: no artist leaves the canvas, no two texts overlap, tick labels are plain numbers."""

from __future__ import annotations

import dataclasses
import re

import matplotlib

matplotlib.use("Agg")

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from figure_checks import assert_clean, check_overlaps, drawn_texts, tick_labels
from matplotlib.patches import Polygon, Rectangle
from numpy.testing import assert_allclose
from scipy import stats

import hipacu
from hipacu import plots
from hipacu.review.grading import method_sensitivity

TOL_DRAWN = 1e-12  # coordinates are copied from the results, not recomputed
BCG = Path(__file__).parent / "data" / "bcg"


@pytest.fixture(scope="module")
def bundled():
    ev = hipacu.load_evidence()
    results = hipacu.run_all(ev)
    return ev, results


@pytest.fixture(scope="module")
def bcg():
    ev = hipacu.load_evidence(BCG)
    return ev, hipacu.run_all(ev)


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _diamonds(ax) -> list[np.ndarray]:
    return [p.get_xy() for p in ax.patches if isinstance(p, Polygon)]


def _texts(ax) -> list[str]:
    return [t.get_text() for t in drawn_texts(ax.figure)]


def _whiskers(ax) -> np.ndarray:
    lines = [l for l in ax.lines if len(l.get_xdata()) == 2 and l.get_ydata()[0] == l.get_ydata()[1]
             and l.get_color() == plots.PALETTE["black"] and l.get_clip_on()]  # not the head rule
    return np.array(sorted((float(l.get_xdata()[0]), float(l.get_xdata()[1])) for l in lines))


# --------------------------------------------------------------------------- forest of an analysis


@pytest.mark.parametrize("aid", ["tha_pain_adjunct", "safety_any_patients"])
def test_forest_diamond_spans_the_pooled_ci_and_centres_on_the_estimate(bundled, aid):
    ev, results = bundled
    r = results[aid]
    ax = plots.forest(r, evidence=ev, topic=ev.topic)
    (xy,) = _diamonds(ax)
    p = r.pooled
    assert_allclose(min(xy[:4, 0]), r.display(p.ci_low), rtol=TOL_DRAWN)
    assert_allclose(max(xy[:4, 0]), r.display(p.ci_high), rtol=TOL_DRAWN)
    assert_allclose(xy[1, 0], r.display(p.estimate), rtol=TOL_DRAWN)
    assert_clean(ax.figure)


def test_forest_of_a_single_study_analysis_shows_the_study_without_a_diamond(bundled):
    ev, results = bundled
    r = next(x for x in results.values() if x.k == 1 and x.spec.question == "effect")
    ax = plots.forest(r, evidence=ev)
    assert not _diamonds(ax)
    texts = _texts(ax)
    assert r.included["label"].iloc[0] in texts
    assert not any(t.startswith("Total (") for t in texts)
    assert any("A single study" in t for t in texts)
    assert_clean(ax.figure)


def test_forest_whiskers_equal_the_study_cis_and_rows_carry_effect_and_weight_text(bundled):
    ev, results = bundled
    r = results["safety_any_patients"]
    ax = plots.forest(r, evidence=ev)
    table = r.study_table()
    assert_allclose(_whiskers(ax), np.array(sorted(zip(table["ci_low"], table["ci_high"]))), rtol=TOL_DRAWN)
    texts = _texts(ax)
    for _, s in table.iterrows():
        effect = f"{s['estimate']:.2f} [{s['ci_low']:.2f}, {s['ci_high']:.2f}]".replace("-", "\N{MINUS SIGN}")
        assert effect in texts and f"{s['weight']:.1f}%" in texts
    assert "100.0%" in texts


def test_forest_prediction_interval_bar_equals_the_result_and_has_a_legend_entry(bundled):
    ev, results = bundled
    r = results["tha_pain_adjunct"]
    ax = plots.forest(r, evidence=ev)
    bar = next(p for p in ax.patches if isinstance(p, Rectangle) and p.get_label() == "95% prediction interval")
    assert_allclose([bar.get_x(), bar.get_x() + bar.get_width()], [r.pooled.pi_low, r.pooled.pi_high], rtol=1e-12)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("prediction interval" in t for t in legend)
    assert any(t.startswith("minimal important difference") and f"{r.spec.mid:g}" in t for t in legend)
    assert {"risk of bias: some concerns", "risk of bias: high"} <= set(legend)


def test_forest_heterogeneity_line_states_the_pooled_models_numbers(bundled):
    ev, results = bundled
    p = results["tha_pain_adjunct"].pooled
    texts = _texts(plots.forest(results["tha_pain_adjunct"], evidence=ev))
    het = next(t for t in texts if t.startswith("Heterogeneity:"))
    assert f"Tau² = {p.tau2:.2f}" in het and f"Chi² = {p.q:.2f}, df = {p.k - 1}" in het and f"I² = {p.i2:.0f}%" in het
    test = next(t for t in texts if t.startswith("Test for overall effect"))
    assert f"t({p.df:g}) = {p.statistic:.2f}".replace("-", "\N{MINUS SIGN}") in test


def test_forest_revman_columns_show_each_arm_as_printed(bcg):
    ev, results = bcg
    r = results["bcg_tb"]
    ax = plots.forest(r, evidence=ev, topic=ev.topic)
    texts = _texts(ax)
    rows = ev.outcomes.set_index("outcome_id").loc[list(r.included["row_id"])]
    column_texts = [t for t in texts]
    for col in ("events1", "n1", "events2", "n2"):
        for v in rows[col]:
            assert f"{v:.0f}" in column_texts
        assert f"{rows[col].sum():.0f}" in column_texts  # the total row
    assert {ev.topic.intervention_label, "No vaccine"} <= set(texts)
    assert "Study or Subgroup" in texts and "Weight" in texts and "Total (95% CI)" in texts
    assert_clean(ax.figure)


def test_forest_of_a_ratio_measure_has_plain_number_log_ticks_symmetric_about_one(bcg):
    ev, results = bcg
    ax = plots.forest(results["bcg_tb"], evidence=ev)
    assert ax.get_xscale() == "log"
    labels = [t.get_text() for t in tick_labels(ax.figure)]
    assert "1" in labels and {"0.5", "2"} <= set(labels) and not any("10^" in x or "$" in x for x in labels)
    lo, hi = ax.get_xlim()
    assert_allclose(lo * hi, 1.0, rtol=1e-9)


def test_forest_favours_labels_come_from_the_analysis_and_sit_under_the_axis(bundled):
    ev, results = bundled
    r = results["oa_sham_pain"]
    assert r.lower_is_better
    ax = plots.forest(r, evidence=ev, topic=ev.topic)
    left, right = plots.favours(r, ev.topic)
    texts = [t for t in drawn_texts(ax.figure) if t.get_text().replace("\n", " ").startswith("Favours")]
    got = {t.get_text().replace("\n", " ") for t in texts}
    assert got == {f"Favours {left}", f"Favours {right}"}
    axis_bottom = ax.get_window_extent().y0
    assert all(t.get_window_extent().y1 < axis_bottom for t in texts)


def test_favours_falls_back_to_the_topic_labels_when_the_analysis_names_none(bundled):
    ev, results = bundled
    r = results["oa_sham_pain"]
    blank = dataclasses.replace(r, spec=dataclasses.replace(r.spec, intervention="", comparator=""))
    assert plots.favours(blank, ev.topic) == (ev.topic.intervention_label, ev.topic.comparator_label)
    assert plots.favours(blank) == ("intervention", "comparator")


def test_forest_marks_studies_flagged_implausible_and_states_the_result_without_them(bundled):
    ev, results = bundled
    r = results["tha_pain_adjunct"]
    ax = plots.forest(r, evidence=ev)
    texts = _texts(ax)
    for label in r.implausible_labels:
        assert f"{label} {plots.IMPLAUSIBLE_MARK}" in texts
    note = next(t for t in texts if t.startswith(plots.IMPLAUSIBLE_MARK))
    q = r.without_implausible
    assert f"k = {q.k}" in note and f"{q.estimate:.2f}".replace("-", "\N{MINUS SIGN}") in note.replace("\n", " ")


def test_forest_study_labels_link_to_their_sources_in_the_svg(bundled, tmp_path):
    ev, results = bundled
    r = results["tha_pain_adjunct"]
    svg, _ = plots.save(plots.forest(r, evidence=ev).figure, tmp_path / "f")
    text = svg.read_text(encoding="utf-8")
    for url in r.included["source_url"]:
        assert f'xlink:href="{url.replace("&", "&amp;")}"' in text


def test_forest_with_subgroups_draws_a_subtotal_diamond_per_group_and_the_difference_test(bundled):
    ev, results = bundled
    r = results["safety_any_patients"]
    groups = np.array(["surveys", "surveys", "trials", "surveys"])  # Zhao 2011 pooled three RCTs
    sub = hipacu.subgroup_test(r.included["yi"], r.included["vi"], groups, method=r.spec.method)
    ax = plots.forest(r, subgroups=sub, groups=groups, evidence=ev)
    diamonds = _diamonds(ax)
    assert len(diamonds) == len(sub.subgroups) + 1
    for sp, xy in zip(sub.subgroups.values(), diamonds):
        assert_allclose(min(xy[:4, 0]), r.display(sp.ci_low), rtol=TOL_DRAWN)
        assert_allclose(xy[1, 0], r.display(sp.estimate), rtol=TOL_DRAWN)
    texts = _texts(ax)
    assert any(t.startswith("Test for subgroup differences") for t in texts) and "surveys" in texts
    assert texts.count("Subtotal (95% CI)") == len(sub.subgroups)
    assert_clean(ax.figure)


def test_analysis_subgroups_rejects_an_unknown_column(bundled):
    _, results = bundled
    with pytest.raises(ValueError, match="column='nope' is not a column"):
        results["safety_any_patients"].subgroups("nope")


# --------------------------------------------------------------------------- every figure type, as a reader sees it


def test_the_figure_checks_catch_overlapping_text_clipped_text_and_powers_of_ten():
    from figure_checks import check_inside, check_ticks

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.text(0.5, 0.5, "a label", transform=ax.transAxes)
    ax.text(0.52, 0.5, "another label", transform=ax.transAxes)
    ax.text(1.5, 0.5, "off the canvas", transform=ax.transAxes)
    ax.set_xscale("log")
    ax.set_xlim(0.01, 100)  # matplotlib's default labels: 10^-2 ... 10^2
    assert check_overlaps(fig) and check_inside(fig) and check_ticks(fig)


def _figure_types(ev, results, bev, bresults):
    claims = hipacu.grade_claims(ev, results)
    trials = ev.studies[(ev.studies["design"] == "rct") & (ev.studies["rob_overall"] != "not_assessed")]
    r = bresults["bcg_tb"]
    p = r.pooled
    loo = hipacu.leave_one_out(p.yi, p.vi, labels=list(r.included["label"]))
    cum = hipacu.cumulative(p.yi, p.vi, labels=list(r.included["label"]))
    return {
        "forest_rates": lambda: plots.forest(results["safety_serious_treatments"], evidence=ev),
        "forest_three_arms_rows": lambda: plots.forest(results["tha_pain_adjunct_72h"], evidence=ev, topic=ev.topic),
        "forest_ratio": lambda: plots.forest(r, evidence=bev, topic=bev.topic),
        "method_sensitivity": lambda: plots.method_sensitivity(results["tha_pain_adjunct"]),
        "evidence_map": lambda: plots.evidence_map(claims, results, topic=ev.topic),
        "summary_of_findings": lambda: plots.summary_of_findings(hipacu.summary_of_findings(bev, results=bresults)),
        "risk_of_bias_summary": lambda: plots.risk_of_bias_summary(trials),
        "dose": lambda: plots.dose(ev.studies[ev.studies["design"] == "rct"], schedule=ev.topic.article.schedule),
        "funnel": lambda: plots.funnel(p, hipacu.funnel_contours(p.estimate, 0.8), filled=r.small_study.trim_and_fill,
                                       measure="RR"),
        "sensitivity": lambda: plots.sensitivity(loo, cum, pooled=p, measure="RR"),
    }


FIGURE_TYPES = ["forest_rates", "forest_three_arms_rows", "forest_ratio", "method_sensitivity", "evidence_map",
                "summary_of_findings", "risk_of_bias_summary", "dose", "funnel", "sensitivity"]


@pytest.mark.parametrize("kind", FIGURE_TYPES)
def test_every_figure_type_keeps_its_text_inside_the_canvas_without_overlaps(bundled, bcg, kind):
    ax = _figure_types(*bundled, *bcg)[kind]()
    assert_clean(ax.figure, ticks="" if kind == "summary_of_findings" else "xy" if kind == "funnel" else "x")


def test_the_risk_of_bias_traffic_light_is_clean_and_draws_a_dot_and_symbol_per_judgement(bundled):
    ev, _ = bundled
    st = ev.studies[ev.studies["design"] == "rct"].head(6)
    ax = plots.risk_of_bias(st)
    dots = [l for l in ax.lines if l.get_marker() == "o"]
    assert len(dots) == len(st) * len(plots.ROB_DOMAINS)
    symbols = [l for l in ax.lines if str(l.get_marker()).startswith("$")]
    assert len(symbols) == len(dots)
    for (_, s), chunk in zip(st.iterrows(), np.array_split(np.arange(len(dots)), len(st))):
        for d, j in zip(plots.ROB_DOMAINS, chunk):
            jv = s[d] if s[d] in plots.ROB_COLOURS else "not_assessed"
            assert dots[j].get_color() == plots.ROB_COLOURS[jv]
            assert symbols[j].get_marker() == f"${plots.ROB_SYMBOLS[jv]}$"
    assert {"D1", "D5", "Overall"} <= {t.get_text() for t in ax.get_xticklabels()}
    assert any("Bias arising from the randomisation process" in t.get_text() for t in ax.texts)
    assert_clean(ax.figure, ticks="")


@pytest.mark.parametrize("weighted", [False, True])
def test_risk_of_bias_summary_bars_are_the_shares_of_each_judgement(bundled, weighted):
    ev, _ = bundled
    st = ev.studies[ev.studies["design"] == "rct"].head(8)
    w = np.arange(1, len(st) + 1, dtype=float) if weighted else None
    ax = plots.risk_of_bias_summary(st, weights=w)
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    share = np.ones(len(st)) if w is None else w
    share = share / share.sum()
    for i, d in enumerate(plots.ROB_DOMAINS):
        row = [b for b in bars if abs(b.get_y() + b.get_height() / 2 - i) < 1e-9]
        assert_allclose(sum(b.get_width() for b in row), 1.0, rtol=1e-12)
        high = float(share[(st[d] == "high").to_numpy()].sum())
        got = sum(b.get_width() for b in row if b.get_facecolor()[:3] == matplotlib.colors.to_rgb(plots.ROB_COLOURS["high"]))
        assert_allclose(got, high, atol=1e-12)


def test_method_sensitivity_figure_draws_each_panel_row_and_flags_the_ones_that_change(bundled):
    _, results = bundled
    r = results["tha_pain_adjunct"]
    panel = method_sensitivity(r)
    ax = plots.method_sensitivity(r, panel)
    cis = [l for l in ax.lines if len(l.get_xdata()) == 2 and l.get_ydata()[0] == l.get_ydata()[1]]
    assert_allclose(sorted(l.get_xdata()[0] for l in cis), sorted(panel["ci_low"]), rtol=TOL_DRAWN)
    flagged = [l for l in cis if l.get_color() == plots.PALETTE["vermillion"]]
    assert len(flagged) == int(panel["differs"].sum()) > 0
    texts = _texts(ax)
    assert sum(t in ("changes imprecision", "changes category", "changes imprecision and category")
               for t in texts) == int(panel["differs"].sum())


def test_evidence_map_has_one_row_per_claim_in_a_panel_per_scale_and_never_cuts_a_claim(bundled):
    ev, results = bundled
    claims = hipacu.grade_claims(ev, results)
    ax = plots.evidence_map(claims, results, topic=ev.topic)
    fig = ax.figure
    texts = [t.get_text() for t in drawn_texts(fig)]
    flat = " ".join(t.replace("\n", " ") for t in texts)
    for _, c in claims.iterrows():
        assert f"{c['claim_id']}  {c['claim']}" in flat  # wrapped at word boundaries, never truncated
        assert c["verdict"] in flat
    titles = {t for t in texts if t in ("Effects, in units of the MID", "Rates, in CIOMS frequency bands", "Not pooled")}
    kinds = {"effect" if results[a].spec.question == "effect" else "rate" for a in claims["primary_analysis"] if a}
    assert len(titles) == len(kinds) + int((claims["primary_analysis"] == "").any())
    for band in ("very rare", "rare", "uncommon", "common", "very common"):
        assert band in texts
    assert_clean(fig)


def test_evidence_map_writes_no_mid_instead_of_rescaling_an_effect(bundled):
    ev, results = bundled
    claims = hipacu.grade_claims(ev, results)
    aid = claims.loc[0, "primary_analysis"]
    no_mid = dataclasses.replace(results[aid], spec=dataclasses.replace(results[aid].spec, mid=None))
    ax = plots.evidence_map(claims.iloc[:1], {aid: no_mid}, topic=ev.topic)
    assert any(t.startswith("no MID: ") and no_mid.effect_text() in t for t in _texts(ax))
    assert not [l for l in ax.lines if l.get_marker() == "D"]  # no point on a made-up scale


def test_dose_labels_every_trial_without_collisions_and_keeps_the_legend_off_the_points(bundled):
    ev, _ = bundled
    trials = ev.studies[(ev.studies["design"] == "rct")].dropna(subset=["sessions", "weeks"])
    schedule = ev.topic.article.schedule
    ax = plots.dose(trials, schedule=schedule)
    pts = next(l for l in ax.lines if l.get_label() == "trials")
    assert_allclose(pts.get_ydata(), (trials["sessions"] / trials["weeks"]).to_numpy())
    (band,) = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert_allclose([band.get_x(), band.get_x() + band.get_width()], schedule.weeks)
    assert_allclose([band.get_y(), band.get_y() + band.get_height()], schedule.per_week)
    assert set(trials["label"]) <= set(_texts(ax))
    legend, frame = ax.get_legend().get_window_extent(), ax.get_window_extent()
    assert legend.y1 <= frame.y0  # under the axes
    assert not check_overlaps(ax.figure)


def test_dose_draws_no_band_when_the_topic_states_no_schedule(bundled):
    ev, _ = bundled
    ax = plots.dose(ev.studies[ev.studies["design"] == "rct"], schedule=None)
    assert not [p for p in ax.patches if isinstance(p, Rectangle)]


def test_funnel_draws_every_study_and_the_contours_with_the_legend_outside_the_axes():
    yi = np.array([0.1, 0.3, -0.2, 0.5, 0.2, 0.0, 0.4, 0.25, -0.1, 0.35, 0.15])
    vi = np.linspace(0.01, 0.2, len(yi))
    pooled = hipacu.pool(yi, vi, method="FE")
    contours = hipacu.funnel_contours(pooled.estimate, float(np.sqrt(vi.max())))
    ax = plots.funnel(pooled, contours, filled=hipacu.trim_and_fill(yi, vi))
    studies = next(l for l in ax.lines if l.get_label() == "studies")
    assert_allclose(studies.get_xdata(), yi)
    assert_allclose(studies.get_ydata(), np.sqrt(vi))
    assert len(ax.collections) == len(contours.levels)
    ref = next(l for l in ax.lines if l.get_label() == "pooled estimate")
    assert_allclose(ref.get_xdata(), [pooled.estimate] * 2, rtol=TOL_DRAWN)
    assert ax.get_legend().get_window_extent().x0 >= ax.get_window_extent().x1
    assert_clean(ax.figure, ticks="xy")


def test_sensitivity_panels_draw_each_estimate_with_an_x_label_and_no_colliding_labels():
    yi = np.array([0.1, 0.3, -0.2, 0.5, 0.2])
    vi = np.array([0.04, 0.05, 0.03, 0.08, 0.02])
    loo = hipacu.leave_one_out(yi, vi, method="DL", labels=[f"a long study name {i}" for i in range(5)])
    cum = hipacu.cumulative(yi, vi, method="DL", labels=[f"a long study name {i}" for i in range(5)])
    ax = plots.sensitivity(loo, cum, pooled=hipacu.pool(yi, vi, method="DL"), measure="MD")
    pts = ax.containers[0].lines[0]
    assert_allclose(np.asarray(pts.get_xdata(), dtype=float), loo["estimate"].to_numpy())
    assert len(ax.figure.axes) == 2 and all(a.get_xlabel() for a in ax.figure.axes)
    assert_clean(ax.figure)


def test_sensitivity_of_a_ratio_measure_draws_exponentiated_estimates_and_the_pooled_band():
    loo = hipacu.leave_one_out(YI, VI, method="DL")
    res = hipacu.pool(YI, VI, method="DL")
    ax = plots.sensitivity(loo, pooled=res, measure="RR")
    pts = ax.containers[0].lines[0]
    assert_allclose(np.asarray(pts.get_xdata(), dtype=float), np.exp(loo["estimate"].to_numpy()), rtol=TOL_DRAWN)
    band = next(p for p in ax.patches if isinstance(p, Rectangle))
    assert_allclose([band.get_x(), band.get_x() + band.get_width()], np.exp([res.ci_low, res.ci_high]), rtol=TOL_DRAWN)
    assert ax.get_xscale() == "log"


def test_summary_of_findings_figure_shows_every_cell_with_its_footnote_numbers(bcg):
    from hipacu.plots.tables import superscript

    ev, results = bcg
    sof = hipacu.summary_of_findings(ev, results=results)
    ax = plots.summary_of_findings(sof)
    flat = " ".join(t.replace("\n", " ") for t in _texts(ax))
    row = sof.iloc[0]
    for col in ("outcome", "risk_comparator", "risk_intervention", "risk_difference", "relative_effect",
                "participants_studies", "comments"):
        assert row[col] in flat, col
    for f in row["footnotes"]:
        assert superscript([f.number]) in flat and f"{f.number}. {f.text}" in flat
    # sized to its content: the canvas is the table and its notes, with only the fitting pad around them
    fig = ax.figure
    bb = fig.get_tightbbox(fig.canvas.get_renderer())
    assert_allclose(fig.get_size_inches(), [bb.width + 0.24, bb.height + 0.24], atol=0.02)


def test_ratio_ticks_are_one_two_five_steps_thinned_to_decades():
    assert plots.ratio_ticks(0.15, 6.5) == [0.2, 0.5, 1.0, 2.0, 5.0]
    assert plots.ratio_ticks(0.01, 100) == [0.01, 0.1, 1.0, 10.0, 100.0]
    with pytest.raises(ValueError, match="0 < lo < hi"):
        plots.ratio_ticks(0, 1)


def test_the_plotting_code_names_no_topic():
    source = " ".join(p.read_text(encoding="utf-8").lower() for p in Path(plots.__file__).parent.glob("*.py"))
    for word in ("acupuncture", "favours acupuncture", "1-2/week", "4-8 weeks"):
        assert word not in source, word


def test_save_writes_identical_svg_and_png_twice(tmp_path, bundled):
    ev, results = bundled
    ax = plots.forest(results["oa_sham_pain"], evidence=ev)
    a = plots.save(ax.figure, tmp_path / "a")
    b = plots.save(ax.figure, tmp_path / "b")
    for x, y in zip(a, b):
        assert x.read_bytes() == y.read_bytes()
    assert a[0].read_text().count("<svg") == 1


def test_import_hipacu_does_not_import_matplotlib():
    import subprocess
    import sys

    code = "import hipacu, sys; hipacu.pool([1, 2], [1, 1]); print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --------------------------------------------------------------------------- any SummaryEstimate

YI = np.array([-0.9, -1.6, -1.4, -0.2, -0.9, 0.0, 0.4])
VI = np.array([0.33, 0.20, 0.42, 0.05, 0.01, 0.06, 0.53])
LABELS = [f"trial {c}" for c in "ABCDEFG"]


@pytest.mark.parametrize("level", [0.95, 0.90])
def test_forest_of_a_pooled_result_draws_the_results_numbers(level):
    res = hipacu.pool(YI, VI, method="REML", level=level)
    ax = plots.forest(res, labels=LABELS)
    (xy,) = _diamonds(ax)
    assert_allclose(xy[:4, 0], [res.ci_low, res.estimate, res.ci_high, res.estimate], rtol=TOL_DRAWN)
    z = stats.norm.ppf(0.5 + level / 2)
    want = np.column_stack([YI - z * np.sqrt(VI), YI + z * np.sqrt(VI)])
    assert_allclose(_whiskers(ax), np.array(sorted(map(tuple, want))), rtol=1e-9)  # scipy's quantile against special.ndtri
    bar = next(p for p in ax.patches if isinstance(p, Rectangle) and "prediction" in p.get_label())
    assert_allclose([bar.get_x(), bar.get_x() + bar.get_width()], [res.pi_low, res.pi_high], rtol=1e-12)
    assert set(LABELS) <= set(_texts(ax)) and f"Total ({100 * level:g}% CI)" in _texts(ax)
    assert_clean(ax.figure)


def test_forest_of_a_ratio_measure_is_exponentiated_on_a_log_axis():
    res = hipacu.pool(YI, VI, method="DL")
    ax = plots.forest(res, labels=LABELS, measure="RR", favours=("vaccine", "no vaccine"))
    assert ax.get_xscale() == "log"
    assert_allclose(_diamonds(ax)[0][:4, 0], np.exp([res.ci_low, res.estimate, res.ci_high, res.estimate]), rtol=TOL_DRAWN)
    z = stats.norm.ppf(0.975)
    want = np.exp(np.column_stack([YI - z * np.sqrt(VI), YI + z * np.sqrt(VI)]))
    assert_allclose(_whiskers(ax), np.array(sorted(map(tuple, want))), rtol=1e-9)
    assert {"Favours vaccine", "Favours no vaccine"} <= set(_texts(ax))
    null = [l for l in ax.lines if l.get_linestyle() == "--"]
    assert [float(l.get_xdata()[0]) for l in null] == [1.0]
    assert any(re.fullmatch(r"Risk ratio", t) for t in _texts(ax))  # a name for readers, not the metafor code
    assert_clean(ax.figure)


def test_forest_of_a_single_study_result_has_no_diamond_and_no_prediction_bar():
    res = hipacu.pool(YI[:1], VI[:1], method="REML")
    ax = plots.forest(res, labels=LABELS[:1])
    assert not _diamonds(ax)
    assert not [p for p in ax.patches if "prediction" in str(p.get_label())]
    assert LABELS[0] in _texts(ax)


@dataclasses.dataclass(frozen=True)
class _ModelWithoutStudies:
    """A model result that keeps no yi/vi (as a Bayesian or Mantel-Haenszel fit may): the protocol only."""

    k: int
    method: str
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    pval: float
    level: float
    tau2: float
    i2: float
    pi_low: float
    pi_high: float
    converged: bool

    def summary(self, digits: int = 4) -> str:
        return "stub"

    def to_frame(self):
        return pd.DataFrame([dataclasses.asdict(self)])


def test_forest_of_a_result_without_study_data_draws_the_studies_table():
    from hipacu.models.protocol import SUMMARY_FIELDS, SummaryEstimate

    fit = hipacu.pool(YI[:3], VI[:3], method="DL")
    res = _ModelWithoutStudies(**{f: getattr(fit, f) for f in SUMMARY_FIELDS})
    assert isinstance(res, SummaryEstimate)
    with pytest.raises(ValueError, match="studies="):
        plots.forest(res, labels=["a", "b", "c"])
    studies = pd.DataFrame({"estimate": [0.4, 0.2, 0.25], "ci_low": [0.13, 0.08, 0.07], "ci_high": [1.2, 0.5, 0.9],
                            "weight": [20.0, 50.0, 30.0]})
    ax = plots.forest(res, labels=["a", "b", "c"], studies=studies, measure="RR")
    assert_allclose(_whiskers(ax), np.array(sorted(map(tuple, studies[["ci_low", "ci_high"]].to_numpy()))), rtol=TOL_DRAWN)
    assert_allclose(_diamonds(ax)[0][:4, 0], np.exp([res.ci_low, res.estimate, res.ci_high, res.estimate]), rtol=TOL_DRAWN)
    assert {"20.0%", "50.0%", "30.0%"} <= set(_texts(ax))
    assert_clean(ax.figure)


def test_forest_rejects_labels_of_the_wrong_length():
    with pytest.raises(ValueError, match="labels has 2 entries; the result has k = 7"):
        plots.forest(hipacu.pool(YI, VI), labels=["a", "b"])


def test_plots_leave_matplotlibs_global_rcparams_unchanged():
    import subprocess
    import sys

    code = ("import matplotlib; matplotlib.use('Agg'); before = dict(matplotlib.rcParams)\n"
            "import hipacu, tempfile, pathlib; from hipacu import plots\n"
            "after_import = dict(matplotlib.rcParams) == before\n"
            "ax = plots.forest(hipacu.pool([0.1, 0.3, -0.2], [0.04, 0.05, 0.03]), labels=['a', 'b', 'c'])\n"
            "plots.save(ax.figure, pathlib.Path(tempfile.mkdtemp()) / 'f')\n"
            "with plots.style():\n    inside = matplotlib.rcParams['svg.hashsalt']\n"
            "print(after_import, dict(matplotlib.rcParams) == before, inside)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True", plots.STYLE["svg.hashsalt"]]
