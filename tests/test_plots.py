"""The figures draw what the results say: rows, diamond, whiskers, markers (not only that they run)."""

from __future__ import annotations

import dataclasses

import matplotlib

matplotlib.use("Agg")

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.patches import Polygon, Rectangle
from numpy.testing import assert_allclose
from scipy import stats

import hipacu
from hipacu import plots

TOL_DRAWN = 1e-12  # coordinates are copied from the results, not recomputed


@pytest.fixture(scope="module")
def bundled():
    ev = hipacu.load_evidence()
    results = hipacu.run_all(ev)
    return ev, results


def _diamond(ax) -> np.ndarray:
    return next(p for p in ax.patches if isinstance(p, Polygon)).get_xy()


@pytest.mark.parametrize("aid", ["tha_pain_adjunct", "safety_any_patients"])
def test_forest_diamond_spans_the_pooled_ci_and_centres_on_the_estimate(bundled, aid):
    _, results = bundled
    r = results[aid]
    ax = plots.forest(r)
    xy = _diamond(ax)
    p = r.pooled
    assert_allclose(min(xy[:4, 0]), r.display(p.ci_low), rtol=TOL_DRAWN)
    assert_allclose(max(xy[:4, 0]), r.display(p.ci_high), rtol=TOL_DRAWN)
    assert_allclose(xy[1, 0], r.display(p.estimate), rtol=TOL_DRAWN)
    plt.close(ax.figure)


def test_forest_of_a_single_study_analysis_shows_the_study_without_a_diamond(bundled):
    _, results = bundled
    r = next(x for x in results.values() if x.k == 1)
    ax = plots.forest(r)
    assert not [p for p in ax.patches if isinstance(p, Polygon)]
    assert [t.get_text() for t in ax.get_yticklabels()] == list(r.study_table()["label"])
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


def test_forest_of_an_analysis_takes_the_favours_labels_from_the_analysis_not_from_the_code(bundled):
    _, results = bundled
    r = results["oa_sham_pain"]
    assert r.lower_is_better
    ax = plots.forest(r)
    left = r.spec.intervention.split(" plus ")[0]
    assert f"<- favours {left[0].lower() + left[1:]}" in ax.get_xlabel()
    assert f"favours {r.spec.comparator[0].lower() + r.spec.comparator[1:]} ->" in ax.get_xlabel()
    plt.close(ax.figure)


def test_favours_falls_back_to_the_topic_labels_when_the_analysis_names_none(bundled):
    import dataclasses

    ev, results = bundled
    r = results["oa_sham_pain"]
    blank = dataclasses.replace(r, spec=dataclasses.replace(r.spec, intervention="", comparator=""))
    assert plots.favours(blank, ev.topic) == (ev.topic.intervention_label, ev.topic.comparator_label)
    assert plots.favours(blank) == ("intervention", "comparator")


def test_the_plotting_code_names_no_topic():
    source = " ".join(p.read_text(encoding="utf-8").lower() for p in Path(plots.__file__).parent.glob("*.py"))
    for word in ("acupuncture", "favours acupuncture", "1-2/week", "4-8 weeks"):
        assert word not in source, word


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
    ax = plots.funnel(pooled, contours, filled=tf)
    studies = next(l for l in ax.lines if l.get_label() == "studies")
    assert_allclose(studies.get_xdata(), yi)
    assert_allclose(studies.get_ydata(), np.sqrt(vi))
    assert len(ax.collections) == len(contours.levels)
    ref = next(l for l in ax.lines if l.get_label() == "pooled estimate")
    assert_allclose(ref.get_xdata(), [pooled.estimate] * 2, rtol=TOL_DRAWN)
    plt.close(ax.figure)


def test_dose_plots_sessions_per_week_and_the_schedule_the_topic_states(bundled):
    ev, _ = bundled
    trials = ev.studies[(ev.studies["design"] == "rct")].dropna(subset=["sessions", "weeks"])
    schedule = ev.topic.article.schedule
    ax = plots.dose(trials, schedule=schedule)
    pts = next(l for l in ax.lines if l.get_label() == "trials")
    assert_allclose(pts.get_ydata(), (trials["sessions"] / trials["weeks"]).to_numpy())
    (band,) = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert_allclose([band.get_x(), band.get_x() + band.get_width()], schedule.weeks)
    assert_allclose([band.get_y(), band.get_y() + band.get_height()], schedule.per_week)
    plt.close(ax.figure)


def test_dose_draws_no_band_when_the_topic_states_no_schedule(bundled):
    ev, _ = bundled
    ax = plots.dose(ev.studies[ev.studies["design"] == "rct"], schedule=None)
    assert not [p for p in ax.patches if isinstance(p, Rectangle)]
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

    code = "import hipacu, sys; hipacu.pool([1, 2], [1, 1]); print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
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
    sub = hipacu.subgroup_test(r.included["yi"], r.included["vi"], groups, method=r.spec.method)
    ax = plots.forest(r, subgroups=sub, groups=groups)
    diamonds = [p.get_xy() for p in ax.patches if isinstance(p, Polygon)]
    assert len(diamonds) == len(sub.subgroups) + 1
    for sp, xy in zip(sub.subgroups.values(), diamonds):
        assert_allclose(min(xy[:4, 0]), r.display(sp.ci_low), rtol=TOL_DRAWN)
        assert_allclose(xy[1, 0], r.display(sp.estimate), rtol=TOL_DRAWN)
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "Test for subgroup differences" in texts and "surveys" in texts
    plt.close(ax.figure)


def test_analysis_subgroups_rejects_an_unknown_column(bundled):
    _, results = bundled
    with pytest.raises(ValueError, match="column='nope' is not a column"):
        results["safety_any_patients"].subgroups("nope")


# --------------------------------------------------------------------------- any SummaryEstimate

YI = np.array([-0.9, -1.6, -1.4, -0.2, -0.9, 0.0, 0.4])
VI = np.array([0.33, 0.20, 0.42, 0.05, 0.01, 0.06, 0.53])
LABELS = [f"trial {c}" for c in "ABCDEFG"]


def _whiskers(ax) -> np.ndarray:
    lines = [l for l in ax.lines if len(l.get_xdata()) == 2 and l.get_ydata()[0] == l.get_ydata()[1]
             and l.get_color() == plots.PALETTE["black"]]
    return np.array([(float(l.get_xdata()[0]), float(l.get_xdata()[1])) for l in lines])


@pytest.mark.parametrize("level", [0.95, 0.90])
def test_forest_of_a_pooled_result_draws_the_results_numbers(level):
    res = hipacu.pool(YI, VI, method="REML", level=level)
    ax = plots.forest(res, labels=LABELS)
    xy = _diamond(ax)
    assert_allclose(xy[:4, 0], [res.ci_low, res.estimate, res.ci_high, res.estimate], rtol=TOL_DRAWN)
    z = stats.norm.ppf(0.5 + level / 2)
    want = np.column_stack([YI - z * np.sqrt(VI), YI + z * np.sqrt(VI)])
    assert_allclose(_whiskers(ax), want, rtol=1e-9)  # scipy's quantile against special.ndtri
    bar = next(l for l in ax.lines if l.get_label() == f"{100 * level:g}% prediction interval")
    assert_allclose(bar.get_xdata(), [res.pi_low, res.pi_high], rtol=TOL_DRAWN)
    assert [t.get_text() for t in ax.get_yticklabels()][:-1] == LABELS
    plt.close(ax.figure)


def test_forest_of_a_ratio_measure_is_exponentiated_on_a_log_axis():
    res = hipacu.pool(YI, VI, method="DL")
    ax = plots.forest(res, labels=LABELS, measure="RR", favours=("vaccine", "no vaccine"))
    assert ax.get_xscale() == "log"
    assert_allclose(_diamond(ax)[:4, 0], np.exp([res.ci_low, res.estimate, res.ci_high, res.estimate]), rtol=TOL_DRAWN)
    z = stats.norm.ppf(0.975)
    assert_allclose(_whiskers(ax), np.exp(np.column_stack([YI - z * np.sqrt(VI), YI + z * np.sqrt(VI)])), rtol=1e-9)
    assert "<- favours vaccine" in ax.get_xlabel() and "favours no vaccine ->" in ax.get_xlabel()
    null = [l for l in ax.lines if l.get_linestyle() == "--"]
    assert [float(l.get_xdata()[0]) for l in null] == [1.0]
    plt.close(ax.figure)


def test_forest_of_a_single_study_result_has_no_diamond_and_no_prediction_bar():
    res = hipacu.pool(YI[:1], VI[:1], method="REML")
    ax = plots.forest(res, labels=LABELS[:1])
    assert not [p for p in ax.patches if isinstance(p, Polygon)]
    assert not [l for l in ax.lines if "prediction" in str(l.get_label())]
    assert [t.get_text() for t in ax.get_yticklabels()] == LABELS[:1]
    plt.close(ax.figure)


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
    assert_allclose(_whiskers(ax), studies[["ci_low", "ci_high"]].to_numpy(), rtol=TOL_DRAWN)
    assert_allclose(_diamond(ax)[:4, 0], np.exp([res.ci_low, res.estimate, res.ci_high, res.estimate]), rtol=TOL_DRAWN)
    assert {"20.0%", "50.0%", "30.0%"} <= {t.get_text() for t in ax.texts}
    plt.close(ax.figure)


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


def test_sensitivity_of_a_ratio_measure_draws_exponentiated_estimates_and_the_pooled_band():
    loo = hipacu.leave_one_out(YI, VI, method="DL")
    res = hipacu.pool(YI, VI, method="DL")
    ax = plots.sensitivity(loo, pooled=res, measure="RR")
    pts = ax.containers[0].lines[0]
    assert_allclose(np.asarray(pts.get_xdata(), dtype=float), np.exp(loo["estimate"].to_numpy()), rtol=TOL_DRAWN)
    band = next(p for p in ax.patches if isinstance(p, Rectangle))
    assert_allclose([band.get_x(), band.get_x() + band.get_width()], np.exp([res.ci_low, res.ci_high]), rtol=TOL_DRAWN)
    assert ax.get_xscale() == "log"
    plt.close(ax.figure)
