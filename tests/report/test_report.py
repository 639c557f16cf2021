"""`hipacu report` end to end, read as a person would: files written, byte-identical figures, sourced
pages (every study label linked, the article cited as recorded, footnotes with their sources, the
claims table complete, flagged studies marked), the gallery, and -- where Chromium is installed,
as .ci/run does -- every page rendered with no console errors and every image loaded."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import hipacu
from hipacu.report import NotebookFailed, build_report
from hipacu.report.page import GALLERY, study_links


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> Path:
    """The bundled report, built once for every test here (it executes all eight notebooks)."""
    out = tmp_path_factory.mktemp("report")
    build_report(out, jobs=2, log=lambda *_: None)
    return out


@pytest.fixture(scope="module")
def index(report_dir) -> str:
    return (report_dir / "index.html").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def bundled():
    ev = hipacu.load_evidence()
    results = hipacu.run_all(ev)
    grades = {aid: hipacu.grade(r) for aid, r in results.items()}
    return ev, results, grades


def _visible_text(page: str) -> str:
    """The page's text outside links and tags (attributes, scripts and styles dropped)."""
    page = re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", page, flags=re.DOTALL)
    page = re.sub(r"<a\b[^>]*>.*?</a>", " ", page, flags=re.DOTALL)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def _section(index: str, aid: str) -> str:
    m = re.search(rf"<section id='analysis-{re.escape(aid)}'>(.*?)</section>", index, flags=re.DOTALL)
    assert m, f"no section for {aid}"
    return m.group(1)


def test_report_writes_index_gallery_notebooks_and_figures(report_dir, index):
    for name in ("evidence_map.png", "summary_of_findings", "risk_of_bias.png", "risk_of_bias_summary.png",
                 "forest_tha_pain_adjunct.png", "method_tha_pain_adjunct.png", "sensitivity_tha_pain_adjunct.png"):
        assert name in index
    assert len(list(report_dir.glob("0*.html"))) == 8 and (report_dir / "gallery.html").exists()
    for img in re.findall(r"src='(figures/[^']+)'", index):
        assert (report_dir / img).exists() and (report_dir / img).with_suffix(".svg").exists()


def test_every_study_label_on_the_index_links_to_its_source(index, bundled):
    ev, _, _ = bundled
    links = study_links(ev)
    text = _visible_text(index)
    unlinked = [label for label in links if label in text]
    assert not unlinked, unlinked[:10]
    hrefs = set(re.findall(r"<a class='study' href='([^']+)'>", index))
    assert hrefs and hrefs <= {html.escape(url) for _, url in links.values()}
    # and the pooled studies of each analysis, by name, link to their own source
    for label, (_, url) in list(links.items())[:30]:
        for m in re.finditer(rf"<a class='study' href='([^']+)'>{re.escape(html.escape(label))}</a>", index):
            assert html.unescape(m.group(1)) == url


def test_the_article_is_cited_with_what_topic_toml_records_and_nothing_else(index, bundled):
    ev, _, _ = bundled
    art = ev.topic.article
    cite = re.search(r"<p class='citation'>(.*?)</p>", index, flags=re.DOTALL).group(1)
    assert f"<cite>{html.escape(art.title)}</cite>" in cite
    missing = [n for n, v in (("publisher", art.publisher), ("date", art.date), ("URL", art.url)) if not v]
    assert f"({', '.join(missing)} not recorded in topic.toml)" in cite
    assert "<a " not in cite  # no URL is recorded, so none is invented


def test_the_claims_table_shows_k_participants_critical_analyses_and_method_sensitivity(index, bundled):
    ev, results, grades = bundled
    claims = hipacu.grade_claims(ev, results, grades)
    for _, c in claims.iterrows():
        row = re.search(rf"<tr id='claim-{c['claim_id']}'>(.*?)</tr>", index, flags=re.DOTALL).group(1)
        cells = re.findall(r"<td>(.*?)</td>", row, flags=re.DOTALL)
        assert cells[3] == str(c["k"]) and cells[4] == f"{c['participants']:,}"
        for aid in filter(None, c["critical_analyses"].split(";")):
            assert f"href='#analysis-{aid}'" in cells[5]
        assert cells[6].startswith("<span class='flag'>yes</span>" if c["method_sensitive"] else "no")
        if c["method_sensitive"]:
            assert c["method_note"] == html.unescape(re.sub(r"<[^>]+>", "", cells[6]))[len("yes"):]


def test_differences_from_published_reviews_show_their_rule_and_reason(index, bundled):
    ev, results, grades = bundled
    from hipacu.review.claims import compare_with_reviews

    assert "id='review-rule'" in index
    differing = 0
    for aid, r in results.items():
        cmp = compare_with_reviews(r, grades[aid])
        section = _section(index, aid)
        for _, x in cmp[cmp["disagreement"].fillna(False).astype(bool)].iterrows():
            differing += 1
            assert "<span class='flag'>differs</span>" in section
            assert x["why_they_differ"] in html.unescape(re.sub(r"<[^>]+>", "", section))
    assert differing, "the bundled evidence has at least one published result that differs from hipacu"
    claims_part = index[index.index("<h2 id='claims'>"):index.index("<h2 id='sof'>")]
    for m in re.finditer(r"differs from hipacu</span>(.*?)</li>", claims_part, flags=re.DOTALL):
        assert "href='#review-rule'" in m.group(1) and "reason:" in m.group(1)


def test_studies_flagged_implausible_are_marked_wherever_they_are_pooled(index, bundled):
    ev, results, _ = bundled
    sof_part = index[index.index("<h2 id='sof'>"):index.index("<h2 id='evidence-profile'>")]
    for aid, r in results.items():
        if not r.implausible_labels:
            continue
        section = _section(index, aid)
        for label in r.implausible_labels:
            assert re.search(re.escape(html.escape(label)) + r"</a> <span class='flag'[^>]*>\N{DAGGER}</span>", section), label
        q = r.without_implausible
        if q is not None:
            e, lo, hi = (r.display(x) for x in (q.estimate, q.ci_low, q.ci_high))
            assert f"Without them: {r.spec.measure} {e:.2f} ({lo:.2f} to {hi:.2f}), k = {q.k}." in section
        else:
            assert "No unflagged study remains" in section
        row = re.search(rf"<tr id='sof-{aid}'[^>]*>(.*?)</tr>", sof_part, flags=re.DOTALL).group(1)
        numbers = re.findall(r"href='#sof-fn-(\d+)'", row)
        notes = [re.search(rf"<li id='sof-fn-{n}'[^>]*>(.*?)</li>", sof_part, flags=re.DOTALL).group(1) for n in numbers]
        assert any("flagged implausible" in n for n in notes)


def test_every_sof_footnote_on_the_page_cites_its_source(index):
    items = re.findall(r"<li id='sof-fn-(\d+)' value='\1'>(.*?)</li>", index, flags=re.DOTALL)
    assert items
    for n, body in items:
        assert "<span class='source'>Source: " in body, n
    sups = set(re.findall(r"href='#sof-fn-(\d+)'", index))
    assert sups == {n for n, _ in items}  # every number in a cell has its footnote, and back


def test_the_gallery_shows_one_figure_of_each_type_the_report_drew(report_dir):
    page = (report_dir / "gallery.html").read_text(encoding="utf-8")
    stems = {p.stem for p in (report_dir / "figures").glob("*.png")}
    for prefix, _, _ in GALLERY:
        drawn = any(s == prefix or (prefix.endswith("_") and s.startswith(prefix)) for s in stems)
        assert (f"data-type='{prefix.rstrip('_')}'" in page) == drawn, prefix
    for src in re.findall(r"src='(figures/[^']+)'", page):
        assert (report_dir / src).stat().st_size > 5_000


def test_report_figures_are_byte_identical_across_runs(report_dir, bundled, tmp_path):
    """One figure of each type drawn again from the same evidence gives the same bytes."""
    from hipacu.report import _figures

    ev, results, grades = bundled
    subset = {aid: results[aid] for aid in ("tha_pain_adjunct", "oa_sham_pain")}
    _figures(ev, subset, None, hipacu.summary_of_findings(ev, results=results, grades=grades).iloc[:0], tmp_path)
    again = sorted((tmp_path / "figures").iterdir())
    assert {p.stem for p in again} >= {"forest_tha_pain_adjunct", "method_tha_pain_adjunct", "sensitivity_tha_pain_adjunct",
                                        "forest_oa_sham_pain", "risk_of_bias", "risk_of_bias_summary", "dose"}
    for p in again:
        assert p.read_bytes() == (report_dir / "figures" / p.name).read_bytes(), p.name


def test_a_failing_notebook_stops_the_report_with_its_name_and_cell(tmp_path):
    nbdir = tmp_path / "nbs"
    nbdir.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# broken"), nbformat.v4.new_code_cell("x = 1"),
                nbformat.v4.new_code_cell("raise ValueError('deliberate')")]
    nbformat.write(nb, nbdir / "99_broken.ipynb")
    bcg = Path(__file__).parents[1] / "data" / "bcg"
    with pytest.raises(NotebookFailed) as info:
        build_report(tmp_path / "out", notebook_dir=nbdir, evidence=bcg, log=lambda *_: None)
    assert info.value.notebook == "99_broken.ipynb" and info.value.cell == 2 and "deliberate" in info.value.error


def test_cli_report_failure_exits_1_without_traceback(tmp_path):
    bad = tmp_path / "evidence"
    bad.mkdir()
    out = subprocess.run([sys.executable, "-m", "hipacu.cli", "report", "--out", str(tmp_path / "r"), "--evidence", str(bad)],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 1 and "studies.csv" in out.stderr and "Traceback" not in out.stderr


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: The page Chromium opens: every report page in an iframe; after they have loaded, a script lists
#: each page's images that did not load (file:// pages of one folder may read each other with
#: --allow-file-access-from-files).
_HARNESS = """<!DOCTYPE html><html><body>{frames}<pre id='result'>pending</pre><script>
window.addEventListener('load', () => {{
  const out = [];
  for (const f of document.querySelectorAll('iframe')) {{
    const d = f.contentDocument;
    if (!d) {{ out.push(f.getAttribute('src') + ': not readable'); continue; }}
    const imgs = [...d.images];
    const broken = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => (i.getAttribute('src') || '').slice(0, 60));
    out.push(f.getAttribute('src') + ' images=' + imgs.length + ' broken=' + JSON.stringify(broken));
  }}
  document.getElementById('result').textContent = out.join('\\n');
}});
</script></body></html>"""


def _chromium(*args, profile: Path) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--allow-file-access-from-files"]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=180, check=False)


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed here; .ci/run installs Debian's chromium so CI runs this")
def test_every_page_renders_in_headless_chromium_with_images_loaded_and_no_console_errors(report_dir, tmp_path):
    pages = ["index.html", "gallery.html", *sorted(p.name for p in report_dir.glob("*.html")
                                                    if p.name not in ("index.html", "gallery.html") and not p.name.startswith("_"))]
    assert len(pages) == 10
    harness = report_dir / "_render_check.html"
    harness.write_text(_HARNESS.format(frames="".join(f"<iframe src='{p}'></iframe>" for p in pages)), encoding="utf-8")
    run = _chromium("--virtual-time-budget=20000", "--dump-dom", harness.as_uri(), profile=tmp_path / "profile")
    result = re.search(r"<pre id=\"result\">(.*?)</pre>", run.stdout, flags=re.DOTALL)
    assert result and "pending" not in result.group(1), run.stderr[-2000:]
    lines = html.unescape(result.group(1)).splitlines()
    assert len(lines) == len(pages)
    for line in lines:
        page, images, broken = re.match(r"(\S+) images=(\d+) broken=(.*)", line).groups()
        assert broken == "[]", line
        assert int(images) > 0, f"{page} shows no image"
    console = [l for l in run.stderr.splitlines() if "CONSOLE" in l]
    assert not console, console
    shot = tmp_path / "index.png"
    _chromium(f"--screenshot={shot}", "--window-size=1400,3000", (report_dir / "index.html").as_uri(),
              profile=tmp_path / "profile2")
    assert shot.exists() and shot.stat().st_size > 50_000
