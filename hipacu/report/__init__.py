"""``hipacu report``: run every analysis, execute every notebook, write an HTML report, for any
evidence folder.

The report folder holds ``index.html`` (title, question and the article's citation from the
folder's ``topic.toml``; the claims and the evidence map when the folder has claims; the Summary of
Findings with its sourced footnotes and the evidence profile; per analysis the forest plot, the
pooled studies linked to their sources, the method-sensitivity figure (k >= 2), leave-one-out and
cumulative estimates (k >= 3), the funnel plot (k >= 10) and published reviews beside hipacu's;
risk of bias and treatment schedules where the folder has them; links to each notebook),
``gallery.html`` (one figure of each type), one HTML page per executed notebook, and every figure
as SVG and PNG under ``figures/``. Figures are byte-identical across runs (fixed SVG hash salt, no
dates).

Notebooks: those listed in ``topic.toml`` (``notebooks``, paths relative to the folder), or, when
it lists none, the packaged template (:func:`template_path`) once for the folder. Each receives
the evidence folder as the parameter ``EVIDENCE`` (papermill-style, see
:mod:`hipacu.report.execution`).
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from hipacu.report.execution import NotebookFailed, execute_notebook, inject_parameters

__all__ = ["NotebookFailed", "ReportResult", "build_report", "bundled_notebooks_path", "execute_notebook",
           "inject_parameters", "main", "notebooks", "report_notebooks", "template_path"]


def bundled_notebooks_path() -> Path:
    """The repository's ``notebooks/`` folder (the bundled topic's notebooks)."""
    return Path(__file__).resolve().parents[2] / "notebooks"


def template_path() -> Path:
    """The packaged analysis notebook run for folders whose ``topic.toml`` lists no notebooks."""
    return Path(__file__).resolve().parent / "templates" / "analysis.ipynb"


def notebooks(folder: Path | None = None) -> list[Path]:
    """The notebooks of ``folder`` (the bundled ``notebooks/`` by default), sorted by name."""
    folder = bundled_notebooks_path() if folder is None else Path(folder)
    return sorted(folder.glob("*.ipynb"))


def report_notebooks(ev) -> list[Path]:
    """The notebooks a report of ``ev`` runs: the topic's (``topic.toml`` ``notebooks``, relative to
    the folder), else the packaged template."""
    if ev.topic.notebooks:
        return [(ev.path / nb).resolve() for nb in ev.topic.notebooks]
    return [template_path()]


@dataclass(frozen=True)
class ReportResult:
    """What :func:`build_report` wrote."""

    out: Path
    index: Path
    notebooks: tuple[Path, ...]
    figures: tuple[Path, ...]
    seconds: float


def _figures(ev, results, claims, sof, out: Path, grades=None) -> list[Path]:
    """Every figure of the report, as SVG and PNG under ``out/figures`` (see the module docstring)."""
    import matplotlib

    matplotlib.use("Agg")  # the report writes files; it never opens windows
    import matplotlib.pyplot as plt

    import hipacu
    from hipacu import plots
    from hipacu.review.grading import method_sensitivity

    figdir = out / "figures"
    figdir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def keep(ax, name):
        written.extend(plots.save(ax.figure, figdir / name))
        plt.close(ax.figure)

    if claims is not None:
        keep(plots.evidence_map(claims, results, topic=ev.topic), "evidence_map")
    if len(sof):
        keep(plots.summary_of_findings(sof), "summary_of_findings")
    for aid, r in results.items():
        p = r.pooled
        if p is None:
            continue
        keep(plots.forest(r, topic=ev.topic, evidence=ev), f"forest_{aid}")
        graded = grades.get(aid) if grades else None
        panel = graded.method_panel if graded is not None and graded.method_panel is not None else method_sensitivity(r)
        if len(panel):
            keep(plots.method_sensitivity(r, panel), f"method_{aid}")
        if r.k >= 3:
            y, v = r.included["yi"].to_numpy(float), r.included["vi"].to_numpy(float)
            labels = list(r.included["label"])
            # leave-one-out and cumulative refits use the normal model: REML with the analysis's interval, or
            # Wald for a GLMM or Bayesian analysis (whose own refits are not batched)
            options = dict(method=p.method if r.model == "rma" else "REML", test=r.test if r.model == "rma" else "z",
                           labels=labels)
            rate = r.spec.question == "frequency"
            keep(plots.sensitivity(hipacu.leave_one_out(y, v, **options), hipacu.cumulative(y, v, **options), pooled=p,
                                   measure=None if rate else r.spec.measure, display=r.display if rate else None,
                                   xlabel=f"events per {r.spec.per:,.0f} (pooled, 95% CI)" if rate and r.spec.per else None),
                 f"sensitivity_{aid}")
        if r.small_study.run:  # the analysis ran its small-study tests (k >= 10)
            contours = hipacu.funnel_contours(p.estimate, 1.1 * float(r.included["vi"].max()) ** 0.5)
            keep(plots.funnel(p, contours, filled=r.small_study.trim_and_fill, measure=r.spec.measure),
                 f"funnel_{aid}")
    studies = ev.studies
    assessed = studies[(studies["design"] == "rct") & (studies["rob_overall"] != "not_assessed")]
    if len(assessed):
        keep(plots.risk_of_bias(assessed), "risk_of_bias")
        keep(plots.risk_of_bias_summary(assessed), "risk_of_bias_summary")
    trials = studies[studies["design"] == "rct"]
    has_schedules = bool(trials[["sessions", "weeks"]].notna().all(axis=1).any())
    if has_schedules:
        keep(plots.dose(trials, schedule=ev.topic.article.schedule), "dose")
    return written


def build_report(out: str | Path = "report", *, jobs: int = 2, evidence: str | Path | None = None,
                 notebook_dir: str | Path | None = None, log=print) -> ReportResult:
    """Run every analysis of ``evidence`` (the bundled folder by default), execute its notebooks (in
    parallel up to ``jobs``) with ``EVIDENCE`` set to the folder, and write the report to ``out``.

    The figures are drawn while the notebooks' kernels run (the kernels are separate processes, so
    the two overlap). ``notebook_dir`` replaces the folder's notebooks by every ``*.ipynb`` in that
    directory (an empty or absent directory: no notebooks).

    Raises
    ------
    EvidenceError
        The folder is not valid (every problem listed).
    NotebookFailed
        For the first notebook that fails (the others are still awaited).
    """
    from nbconvert import HTMLExporter

    from hipacu.evidence import load_evidence
    from hipacu.report.page import gallery_html, index_html
    from hipacu.review.analysis import run_all
    from hipacu.review.claims import grade_claims
    from hipacu.review.grading import grade
    from hipacu.review.sof import summary_of_findings

    t0 = time.perf_counter()
    out = Path(out)
    ev = load_evidence(evidence)
    out.mkdir(parents=True, exist_ok=True)
    nbs = notebooks(Path(notebook_dir)) if notebook_dir is not None else report_notebooks(ev)
    parameters = {"EVIDENCE": str(ev.path)}
    exporter = HTMLExporter()

    def run(path: Path) -> tuple[str, str]:
        t = time.perf_counter()
        nb = execute_notebook(path, parameters=parameters)
        body, _ = exporter.from_notebook_node(nb)
        page = out / (path.stem + ".html")
        page.write_text(body, encoding="utf-8")
        log(f"notebook {path.name}: ok ({time.perf_counter() - t:.1f} s)")
        if path == template_path():
            return f"Analyses: {ev.topic.title or ev.path.name}", page.name
        title = next((c.source.splitlines()[0].lstrip("# ") for c in nb.cells if c.cell_type == "markdown"), path.stem)
        return title, page.name

    pages: list[tuple[str, str]] = []
    failure = None
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(run, p) for p in nbs]  # the kernels start now; the figures are drawn meanwhile
        results = run_all(ev)
        log(f"analyses: {len(results)} run; {ev.summary()}")
        grades = {aid: grade(r) for aid, r in results.items()}  # graded once, used by every page and figure
        claims = grade_claims(ev, results, grades) if len(ev.claims) else None
        sof = summary_of_findings(ev, results=results, grades=grades)
        figures = _figures(ev, results, claims, sof, out, grades)
        log(f"figures: {len(figures)} files in {out / 'figures'}")
        for f in futures:
            try:
                pages.append(f.result())
            except NotebookFailed as exc:
                failure = failure or exc
                log(f"notebook {exc.notebook}: FAILED at cell {exc.cell}: {exc.error}")
    if failure is not None:
        raise failure
    index = out / "index.html"
    index.write_text(index_html(ev, results, claims, sof, pages, figures, grades), encoding="utf-8")
    (out / "gallery.html").write_text(gallery_html(ev, figures), encoding="utf-8")
    secs = time.perf_counter() - t0
    log(f"report: {index} ({secs:.1f} s)")
    return ReportResult(out, index, tuple(out / p for _, p in pages), tuple(figures), secs)


def main(out: str, jobs: int, evidence: str | None) -> int:
    """``hipacu report``: a bad evidence folder or a failing notebook prints what is wrong and
    returns 1 (no traceback)."""
    from hipacu.evidence import EvidenceError

    try:
        build_report(out, jobs=jobs, evidence=evidence)
    except EvidenceError as exc:
        print(f"hipacu report: {exc}", file=sys.stderr)
        return 1
    except NotebookFailed as exc:
        print(f"hipacu report: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # e.g. --out cannot be created or written
        print(f"hipacu report: cannot write the report: {exc}", file=sys.stderr)
        return 1
    return 0
