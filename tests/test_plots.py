"""The figures draw what the results say: rows, diamond, whiskers, markers (not only that they run)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import Polygon  # noqa: E402
from numpy.testing import assert_allclose  # noqa: E402

import hipacu  # noqa: E402
from hipacu import plots  # noqa: E402

TOL_DRAWN = 1e-12  # coordinates are copied from the results, not recomputed


@pytest.fixture(scope="module")
def bundled():
    ev = hipacu.load_evidence()
    results = hipacu.run_all(ev)
    return ev, results


def _diamond(ax) -> np.ndarray:
    return next(p for p in ax.patches if isinstance(p, Polygon)).get_xy()


@pytest.mark.parametrize("aid", ["tha_pain_adjunct", "safety_any_patients", "oa_sham_pain"])
def test_forest_diamond_spans_the_pooled_ci_and_centres_on_the_estimate(bundled, aid):
    _, results = bundled
    r = results[aid]
    ax = plots.forest(r)
    xy = _diamond(ax)
    p = r.pooled
    assert_allclose(sorted(xy[:4, 0])[0], r.display(p.ci_low), rtol=TOL_DRAWN)
    assert_allclose(sorted(xy[:4, 0])[-1], r.display(p.ci_high), rtol=TOL_DRAWN)
    assert_allclose(xy[1, 0], r.display(p.estimate), rtol=TOL_DRAWN)
    plt.close(ax.figure)


def test_forest_has_one_row_per_study_plus_the_pooled_row_and_whiskers_equal_study_cis(bundled):
    _, results = bundled
    r = results["safety_any_patients"]
    ax = plots.forest(r)
    table = r.study_table()
    assert len(ax.get_yticks()) == len(table) + 1
    whiskers = [l for l in ax.lines if len(l.get_xdata()) == 2 and l.get_ydata()[0] == l.get_ydata()[1]
                and l.get_color() == plots.PALETTE["black"]]
    got = sorted((float(l.get_xdata()[0]), float(l.get_xdata()[1])) for l in whiskers)
    want = sorted(zip(table["ci_low"], table["ci_high"]))
    assert_allclose(np.array(got), np.array(want), rtol=TOL_DRAWN)
    assert "favours" not in ax.get_xlabel() or "<-" in ax.get_xlabel()
    plt.close(ax.figure)


def test_forest_prediction_interval_bar_equals_the_result(bundled):
    _, results = bundled
    r = results["tha_pain_adjunct"]
    ax = plots.forest(r)
    bar = next(l for l in ax.lines if l.get_label() == "95% prediction interval")
    assert_allclose(bar.get_xdata(), [r.pooled.pi_low, r.pooled.pi_high], rtol=TOL_DRAWN)
    plt.close(ax.figure)


def test_forest_labels_which_side_favours_acupuncture(bundled):
    _, results = bundled
    ax = plots.forest(results["oa_sham_pain"])
    assert "<- favours real acupuncture" in ax.get_xlabel()
    plt.close(ax.figure)


def test_evidence_map_has_one_row_per_claim_and_marks_claims_without_data(bundled):
    ev, results = bundled
    claims = hipacu.grade_claims(ev, results)
    ax = plots.evidence_map(claims, results)
    assert len(ax.get_yticks()) == len(claims)
    texts = [t.get_text() for t in ax.texts]
    assert sum("no pooled data" in t for t in texts) == int(claims["analyses"].eq("").sum())
    assert set(claims["verdict"]) <= set(texts)
    plt.close(ax.figure)


def test_risk_of_bias_draws_one_dot_per_study_and_domain(bundled):
    ev, _ = bundled
    st = ev.studies[ev.studies["design"] == "rct"].head(5)
    ax = plots.risk_of_bias(st)
    dots = [l for l in ax.lines if l.get_marker() == "o"]
    assert len(dots) == len(st) * len(plots.ROB_DOMAINS)
    colours = {l.get_color() for l in dots}
    assert colours <= set(plots.ROB_COLOURS.values())
    plt.close(ax.figure)


def test_funnel_draws_every_study_and_the_contours(bundled):
    yi = np.array([0.1, 0.3, -0.2, 0.5, 0.2, 0.0, 0.4, 0.25, -0.1, 0.35, 0.15])
    vi = np.linspace(0.01, 0.2, len(yi))
    pooled = hipacu.pool(yi, vi, method="FE")
    contours = hipacu.funnel_contours(pooled.estimate, float(np.sqrt(vi.max())))
    tf = hipacu.trim_and_fill(yi, vi)
    ax = plots.funnel(yi, vi, contours, filled=tf)
    studies = next(l for l in ax.lines if l.get_label() == "studies")
    assert_allclose(studies.get_xdata(), yi)
    assert_allclose(studies.get_ydata(), np.sqrt(vi))
    assert len(ax.collections) == len(contours.levels)
    plt.close(ax.figure)


def test_dose_plots_sessions_per_week(bundled):
    ev, _ = bundled
    trials = ev.studies[(ev.studies["design"] == "rct")].dropna(subset=["sessions", "weeks"])
    ax = plots.dose(trials)
    pts = next(l for l in ax.lines if l.get_label() == "trials")
    assert_allclose(pts.get_ydata(), (trials["sessions"] / trials["weeks"]).to_numpy())
    plt.close(ax.figure)


def test_save_writes_identical_svg_and_png_twice(tmp_path, bundled):
    _, results = bundled
    ax = plots.forest(results["oa_sham_pain"])
    a = plots.save(ax.figure, tmp_path / "a")
    b = plots.save(ax.figure, tmp_path / "b")
    for x, y in zip(a, b):
        assert x.read_bytes() == y.read_bytes()
    assert a[0].read_text().count("<svg") == 1
    plt.close(ax.figure)


def test_import_hipacu_does_not_import_matplotlib():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", "import hipacu, sys; hipacu.pool([1, 2], [1, 1]); "
                          "print('matplotlib' in sys.modules)"], capture_output=True, text=True)
    assert out.stdout.strip() == "False"


def test_sensitivity_panels_draw_each_leave_one_out_estimate():
    yi = np.array([0.1, 0.3, -0.2, 0.5, 0.2])
    vi = np.array([0.04, 0.05, 0.03, 0.08, 0.02])
    loo = hipacu.leave_one_out(yi, vi, method="DL")
    cum = hipacu.cumulative(yi, vi, method="DL")
    ax = plots.sensitivity(loo, cum, pooled=hipacu.pool(yi, vi, method="DL"))
    pts = ax.containers[0].lines[0]
    assert_allclose(np.asarray(pts.get_xdata(), dtype=float), loo["estimate"].to_numpy())
    assert len(ax.figure.axes) == 2
    plt.close(ax.figure)


def test_forest_with_subgroups_draws_a_subtotal_diamond_per_group_and_the_difference_test(bundled):
    _, results = bundled
    r = results["safety_any_patients"]
    groups = np.array(["surveys", "surveys", "trials", "surveys"])  # Zhao 2011 pooled three RCTs
    sub = hipacu.subgroup_test(r.pooled.yi, r.pooled.vi, groups, method=r.spec.method)
    ax = plots.forest(r, subgroups=sub, groups=groups)
    diamonds = [p.get_xy() for p in ax.patches if isinstance(p, Polygon)]
    assert len(diamonds) == len(sub.subgroups) + 1
    for sp, xy in zip(sub.subgroups.values(), diamonds):
        assert_allclose(sorted(xy[:4, 0])[0], r.display(sp.ci_low), rtol=TOL_DRAWN)
        assert_allclose(xy[1, 0], r.display(sp.estimate), rtol=TOL_DRAWN)
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "Test for subgroup differences" in texts and "surveys" in texts
    plt.close(ax.figure)


def test_analysis_subgroups_rejects_an_unknown_column(bundled):
    _, results = bundled
    with pytest.raises(ValueError, match="column='nope' is not a column"):
        results["safety_any_patients"].subgroups("nope")
