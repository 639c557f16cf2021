"""``hipacu report``: run every analysis, execute every notebook, write an HTML report.

The report folder holds ``index.html`` (evidence map, claims table, Summary of Findings table,
links to each notebook), one HTML page per executed notebook, and every figure as SVG and PNG
under ``figures/``. Figures are byte-identical across runs (fixed SVG hash salt, no dates).
"""

from __future__ import annotations

import html
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from hipacu.report.execution import NotebookFailed, execute_notebook, inject_parameters

__all__ = ["NotebookFailed", "build_report", "execute_notebook", "inject_parameters", "bundled_notebooks_path",
           "notebooks"]


def bundled_notebooks_path() -> Path:
    return Path(__file__).resolve().parents[2] / "notebooks"


def notebooks(folder: Path | None = None) -> list[Path]:
    """The notebooks of ``folder`` (the bundled ``notebooks/`` by default), sorted by name."""
    folder = bundled_notebooks_path() if folder is None else Path(folder)
    return sorted(folder.glob("*.ipynb"))


@dataclass(frozen=True)
class ReportResult:
    out: Path
    index: Path
    notebooks: tuple[Path, ...]
    figures: tuple[Path, ...]
    seconds: float


def _figures(ev, results, grades, claims, sof, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")  # the report writes files; it never opens windows
    import matplotlib.pyplot as plt

    from hipacu import plots

    figdir = out / "figures"
    figdir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    ax = plots.evidence_map(claims, results)
    written += plots.save(ax.figure, figdir / "evidence_map")
    plt.close(ax.figure)
    ax = plots.summary_of_findings(sof)
    written += plots.save(ax.figure, figdir / "summary_of_findings")
    plt.close(ax.figure)
    for aid, r in results.items():
        if r.pooled is None:
            continue
        ax = plots.forest(r)
        written += plots.save(ax.figure, figdir / f"forest_{aid}")
        plt.close(ax.figure)
    trials = ev.studies[ev.studies["design"] == "rct"]
    ax = plots.risk_of_bias(trials[trials["rob_overall"] != "not_assessed"])
    written += plots.save(ax.figure, figdir / "risk_of_bias")
    plt.close(ax.figure)
    ax = plots.dose(trials)
    written += plots.save(ax.figure, figdir / "dose")
    plt.close(ax.figure)
    return written


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:13px;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 6px;vertical-align:top;text-align:left}
th{background:#f3f3f3}img{max-width:100%;border:1px solid #eee}.verdict{font-weight:600}"""


def _index_html(ev, results, claims, sof, notebook_pages: list[tuple[str, str]], figures: list[Path]) -> str:
    from hipacu.review.claims import sof_html

    rows = "".join(
        f"<tr><td>{html.escape(c['claim_id'])}</td><td>{html.escape(c['claim'])}</td><td>{html.escape(c['wording'])}</td>"
        f"<td class='verdict'>{html.escape(c['verdict'])}</td><td>{html.escape(c['symbols'])} "
        f"{html.escape(c['certainty'].replace('_', ' '))}</td><td>{html.escape(c['reason'])}</td>"
        f"<td>{html.escape(c['reviews'])}</td></tr>" for _, c in claims.iterrows())
    claims_table = ("<table><thead><tr><th>Claim</th><th>The article says (paraphrased)</th><th>Wording</th><th>Verdict</th>"
                    f"<th>Certainty</th><th>Reason</th><th>Published reviews</th></tr></thead><tbody>{rows}</tbody></table>")
    nb_links = "".join(f"<li><a href='{html.escape(href)}'>{html.escape(title)}</a></li>" for title, href in notebook_pages)
    pngs = [f for f in figures if f.suffix == ".png"]
    fig_links = "".join(f"<li><a href='figures/{f.name}'>{f.stem}</a> (<a href='figures/{f.with_suffix('.svg').name}'>SVG</a>)</li>"
                        for f in pngs)
    forests = "".join(f"<h3>{html.escape(results[f.stem[7:]].spec.title)}</h3><img src='figures/{f.name}' alt='forest plot {f.stem}'>"
                      for f in pngs if f.stem.startswith("forest_"))
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>hipacu report: acupuncture for hip pain</title>
<style>{_CSS}</style></head><body>
<h1>Can acupuncture help with hip pain? The article's claims, graded</h1>
<p>{html.escape(ev.summary())}. Every number traces to a source in <code>evidence/</code>; certainty is graded with GRADE from the data.</p>
<h2>Evidence map</h2><img src="figures/evidence_map.png" alt="evidence map">
<h2>Claims</h2>{claims_table}
<h2>Summary of findings</h2>{sof_html(sof)}
<h2>Notebooks</h2><ul>{nb_links}</ul>
<h2>Forest plots</h2>{forests}
<h2>Risk of bias and dose</h2><img src="figures/risk_of_bias.png" alt="risk of bias"><img src="figures/dose.png" alt="dose">
<h2>All figures</h2><ul>{fig_links}</ul>
</body></html>"""


def build_report(out: str | Path = "report", *, jobs: int = 2, evidence: str | Path | None = None,
                 notebook_dir: str | Path | None = None, log=print) -> ReportResult:
    """Run every analysis, execute every notebook (in parallel up to ``jobs``) and write the report.

    Raises :class:`NotebookFailed` for the first notebook that fails (the others are still awaited).
    """
    from nbconvert import HTMLExporter

    from hipacu.review.analysis import run_all
    from hipacu.review.claims import grade_claims, summary_of_findings
    from hipacu.evidence import load_evidence
    from hipacu.review.grading import grade

    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ev = load_evidence(evidence)
    results = run_all(ev)
    log(f"analyses: {len(results)} run; {ev.summary()}")
    grades = {aid: grade(r) for aid, r in results.items()}  # graded once, used by every page and figure
    claims = grade_claims(ev, results, grades)
    sof = summary_of_findings(ev, results=results, grades=grades)
    figures = _figures(ev, results, grades, claims, sof, out)
    log(f"figures: {len(figures)} files in {out / 'figures'}")
    nbs = notebooks(Path(notebook_dir) if notebook_dir else None)
    pages: list[tuple[str, str]] = []
    exporter = HTMLExporter()

    def run(path: Path):
        t = time.perf_counter()
        nb = execute_notebook(path, parameters={"EVIDENCE": str(ev.path)})
        body, _ = exporter.from_notebook_node(nb)
        page = out / (path.stem + ".html")
        page.write_text(body, encoding="utf-8")
        log(f"notebook {path.name}: ok ({time.perf_counter() - t:.1f} s)")
        title = next((c.source.splitlines()[0].lstrip("# ") for c in nb.cells if c.cell_type == "markdown"), path.stem)
        return title, page.name

    failure = None
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(run, p) for p in nbs]
        for f in futures:
            try:
                pages.append(f.result())
            except NotebookFailed as exc:
                failure = failure or exc
                log(f"notebook {exc.notebook}: FAILED at cell {exc.cell}: {exc.error}")
    if failure is not None:
        raise failure
    index = out / "index.html"
    index.write_text(_index_html(ev, results, claims, sof, pages, figures), encoding="utf-8")
    secs = time.perf_counter() - t0
    log(f"report: {index} ({secs:.1f} s)")
    return ReportResult(out, index, tuple(out / p for _, p in pages), tuple(figures), secs)


def main(out: str, jobs: int, evidence: str | None) -> int:
    from hipacu.evidence import EvidenceError

    try:
        build_report(out, jobs=jobs, evidence=evidence)
    except EvidenceError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except NotebookFailed as exc:
        print(f"hipacu report: {exc}", file=sys.stderr)
        return 1
    return 0
