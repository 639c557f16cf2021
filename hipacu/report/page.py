"""The report's pages, written from the evidence folder's own words (``topic.toml``) and sourced.

Nothing here names a topic: the title, the question, the citation and the notebook titles come
from the folder; sections whose evidence the folder does not have (claims, risk of bias,
schedules, funnel plots) are left out rather than shown empty.

**Sourced.** Every study label on the index page links to the study's ``source_url``
(``studies.csv``), wherever it appears (tables, reasons, footnotes); the article under review is
cited from ``topic.toml`` with whatever parts are recorded (a missing publisher, date or URL is
said to be missing, never filled in); every Summary of Findings footnote shows its source;
published reviews are compared with hipacu under a stated rule, with the reasons they differ.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np

__all__ = ["index_html", "gallery_html", "study_links", "link_studies", "REVIEW_RULE", "GALLERY"]

_CSS = """body{font-family:system-ui,sans-serif;max-width:1400px;margin:2em auto;padding:0 1em;color:#222;line-height:1.4}
table{border-collapse:collapse;font-size:13px;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 6px;vertical-align:top;text-align:left;overflow-wrap:break-word}
th{background:#f3f3f3}img{max-width:100%;height:auto;border:1px solid #eee}.verdict{font-weight:600}figure{margin:1em 0}
figcaption{font-size:13px;color:#444}.scroll{overflow-x:auto}.rationale,.source,.note{font-size:12px;color:#555}
sup a.fn{text-decoration:none;padding:0 1px}.sof-group th{background:#eaeaea}.flag{color:#b34700;font-weight:600}
.sof-footnotes li,.grade-legend li{font-size:12px;margin:2px 0}nav a{margin-right:.8em}section{margin:2em 0}
.missing{color:#777;font-style:italic}
table.claims td:nth-child(2){min-width:16em}table.claims td:nth-child(3){min-width:9em}
table.claims td:nth-child(6){min-width:11em}table.claims td:nth-child(7){min-width:10em}
table.claims td:nth-child(8){min-width:18em}table.claims td:nth-child(9){min-width:16em}
table.sof td{min-width:7em}table.sof td.sof-comments{min-width:14em}table.evidence-profile td{min-width:8em}"""

#: How a published pooled result is compared with hipacu's (:func:`hipacu.review.claims.compare_with_reviews`).
REVIEW_RULE = ("A published pooled result is compared with hipacu's only on the same measure. It differs from hipacu "
               "when its estimate lies outside hipacu's 95% CI by more than the rounding of its printed digits, or on "
               "the other side of no effect. The reasons list what differs between the two: the studies pooled, the "
               "participants, the certainty.")

#: Figure types of the gallery page: (file-name prefix, title, what it shows).
GALLERY = (
    ("forest_", "Forest plot (RevMan 5 layout)", "Study rows with arm data, weight, effect and CI as text and "
     "risk-of-bias dots; the total row with its diamond, the prediction interval, heterogeneity and the test for the "
     "overall effect; favours labels from the analysis; a legend for every mark."),
    ("method_", "Method sensitivity", "The estimate and CI under each model and interval of the method-sensitivity "
     "panel, with the imprecision rating and effect category each gives; rows that change either are flagged."),
    ("sensitivity_", "Leave one out and cumulative", "The pooled estimate without each study, and as each study is "
     "added, against the estimate and CI of all studies."),
    ("funnel_", "Funnel plot", "Effect against standard error with contour regions and trim-and-fill studies "
     "(analyses of at least 10 studies)."),
    ("evidence_map", "Evidence map", "Each claim of the article against its primary analysis: effects in units of "
     "the MID, rates in CIOMS frequency bands, one panel per scale, coloured by GRADE certainty."),
    ("summary_of_findings", "Summary of Findings", "GRADEpro's layout, with numbered footnotes in the cells they "
     "explain."),
    ("risk_of_bias", "Risk of bias: traffic light", "robvis's traffic-light plot: one row per trial, one dot per "
     "RoB 2 domain with its symbol."),
    ("risk_of_bias_summary", "Risk of bias: summary", "robvis's summary plot: the share of trials at each judgement "
     "per domain."),
    ("dose", "Treatment schedules", "Sessions per week against course length, labelled without collisions, with the "
     "schedule the article states."),
)


def _e(text) -> str:
    return html.escape(str(text))


# --------------------------------------------------------------------------- links to sources


def study_links(ev) -> dict[str, tuple[str, str]]:
    """Study label -> ``(study_id, source_url)`` for every study of ``ev`` with an http(s) source."""
    out = {}
    for _, s in ev.studies.iterrows():
        url = s.get("source_url")
        if isinstance(url, str) and url.startswith(("http://", "https://")) and isinstance(s["label"], str):
            out[s["label"]] = (s["study_id"], url)
    return out


def link_studies(escaped: str, links: dict[str, tuple[str, str]]) -> str:
    """Wrap every study label in already-escaped HTML (outside tags and existing links) in a link to
    its source; the longest label wins where labels overlap ("Witt 2006 (ARC)" before "Witt 2006")."""
    if not links or not escaped:
        return escaped
    by_escaped = {html.escape(lab): url for lab, (_, url) in links.items()}
    pattern = re.compile("|".join(re.escape(x) for x in sorted(by_escaped, key=len, reverse=True)))
    parts = re.split(r"(<[^>]+>)", escaped)
    depth = 0
    for i, part in enumerate(parts):
        if part.startswith("<"):
            if re.match(r"<a[\s>]", part):
                depth += 1
            elif part.startswith("</a"):
                depth = max(0, depth - 1)
            continue
        if depth == 0:
            parts[i] = pattern.sub(lambda m: f"<a class='study' href='{_e(by_escaped[m.group(0)])}'>{m.group(0)}</a>", part)
    return "".join(parts)


def _study(ev, study_id: str, links) -> str:
    """A study id as its linked label."""
    st = ev.studies.set_index("study_id")
    if study_id not in st.index:
        return _e(study_id)
    return link_studies(_e(st.loc[study_id, "label"]), links)


# --------------------------------------------------------------------------- sections


def _citation(topic) -> str:
    art = topic.article
    if not art.title:
        return "<p class='citation'><b>Article under review.</b> <span class='missing'>not recorded in topic.toml</span></p>"
    parts = [f"<cite>{_e(art.title)}</cite>"]
    where = ", ".join(_e(x) for x in (art.publisher, art.date) if x)
    if where:
        parts.append(where)
    if art.url:
        parts.append(f"<a href='{_e(art.url)}'>{_e(art.url)}</a>")
    missing = [name for name, v in (("publisher", art.publisher), ("date", art.date), ("URL", art.url)) if not v]
    note = (f" <span class='missing'>({', '.join(missing)} not recorded in topic.toml)</span>" if missing else "")
    return f"<p class='citation'><b>Article under review.</b> {'. '.join(parts)}.{note}</p>"


def _reviews_cell(ev, r, g, links) -> str:
    from hipacu.review.claims import compare_with_reviews

    cmp = compare_with_reviews(r, g)
    items = []
    for _, x in cmp.iterrows():
        cert = "" if x["review_certainty"] == "not_reported" else f", {_e(x['review_certainty'].replace('_', ' '))} certainty"
        head = (f"{_study(ev, x['review'], links)}: {_e(x['measure'])} {_e(format(x['review_estimate'], 'g'))} "
                f"({_e(x['review_ci'])}), " + ("k not reported" if np.isnan(x["review_k"]) else f"k = {int(x['review_k'])}")
                + cert)
        if not x["comparable"]:
            verdict = " <span class='note'>(another measure: not compared)</span>"
        elif x["disagreement"]:
            why = _e(x["why_they_differ"]) or "none recorded in studies, participants or certainty"
            verdict = (f" <span class='flag'>differs from hipacu</span> (hipacu CI {_e(x['hipacu_ci'])}) "
                       f"<span class='note'>rule: <a href='#review-rule'>outside hipacu's CI beyond the printed rounding "
                       f"or on the other side</a>; reason: {link_studies(why, links)}</span>")
        else:
            verdict = f" <span class='note'>agrees with hipacu ({_e(x['hipacu_ci'])}) under the <a href='#review-rule'>rule</a></span>"
        items.append(f"<li>{head}{verdict}</li>")
    return f"<ul>{''.join(items)}</ul>" if items else ""


def _claims_table(ev, claims, results, grades, links) -> str:
    from hipacu.review.claims import primary

    rows = []
    for _, c in claims.iterrows():
        crit = [a for a in c["critical_analyses"].split(";") if a]
        crit_html = ", ".join(f"<a href='#analysis-{_e(a)}'>{_e(a).replace('_', '_<wbr>')}</a>" for a in crit) or "—"
        tested = [(results[a], grades[a]) for a in crit]
        main = primary(tested)
        reviews = _reviews_cell(ev, *main, links) if main is not None else ""
        sens = (f"<span class='flag'>yes</span><div class='note'>{link_studies(_e(c['method_note']), links)}</div>"
                if c["method_sensitive"]
                else "no")
        cert = f"{_e(c['symbols'])} {_e(c['certainty'].replace('_', ' '))}" if c["certainty"] else "not graded"
        rows.append(
            f"<tr id='claim-{_e(c['claim_id'])}'><td>{_e(c['claim_id'])}</td><td>{link_studies(_e(c['claim']), links)}"
            f"<div class='note'>wording: \N{LEFT DOUBLE QUOTATION MARK}{link_studies(_e(c['wording']), links)}"
            f"\N{RIGHT DOUBLE QUOTATION MARK}</div></td>"
            f"<td><span class='verdict'>{_e(c['verdict'])}</span><div>{cert}</div></td><td>{int(c['k'])}</td>"
            f"<td>{int(c['participants']):,}</td><td>{crit_html}</td><td>{sens}</td>"
            f"<td>{link_studies(_e(c['reason']), links)}</td><td>{reviews}</td></tr>")
    head = ("<tr><th>Claim</th><th>The article says (paraphrased)</th><th>Verdict and certainty</th>"
            "<th>k</th><th>Participants</th><th>Critical analyses</th><th>Method-sensitive</th><th>Reason</th>"
            "<th>Published reviews</th></tr>")
    return (f"<div class='scroll'><table class='claims'><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table></div>"
            "<p class='note'>k and participants are summed over the claim's critical analyses that have data; the "
            "certainty is the lowest among them (GRADE 11). Method-sensitive: the verdict changes when a critical "
            "analysis is re-run under another model or interval of the method-sensitivity panel.</p>"
            f"<p class='note' id='review-rule'><b>Rule for published reviews.</b> {_e(REVIEW_RULE)}</p>")


def _png_width(png: Path) -> int | None:
    """The width in pixels of a PNG file (its IHDR chunk), or None if it is not one."""
    try:
        with open(png, "rb") as fh:
            head = fh.read(24)
    except OSError:
        return None
    return int.from_bytes(head[16:20], "big") if head[:8] == b"\x89PNG\r\n\x1a\n" else None


def _img(png: Path, alt: str) -> str:
    """An image at its physical size (PNG pixels at the figures' resolution -> CSS pixels at 96 per
    inch), so every figure's text reads at the same size; ``max-width: 100%`` narrows wide ones."""
    from hipacu.plots._style import PNG_DPI

    w = _png_width(png)
    width = f" width='{round(w * 96 / PNG_DPI)}'" if w else ""
    return f"<img src='figures/{_e(png.name)}'{width} alt='{_e(alt)}'>"


def _figure(result, png: Path, kind: str, caption: str | None = None) -> str:
    """A figure with a caption stating the pooled numbers it draws (full precision in ``data-*``)."""
    p = result.pooled
    data = ""
    if p is not None:
        data = "".join(f" data-{name.replace('_', '-')}='{float(getattr(p, name))!r}'"
                       for name in ("estimate", "ci_low", "ci_high", "tau2", "i2"))
        data += f" data-k='{p.k}' data-method='{_e(p.method)}' data-measure='{_e(result.spec.measure)}'"
    caption = caption or f"{_e(result.spec.title)}: {_e(result.effect_text())}, k = {result.k}"
    svg = png.with_suffix(".svg").name
    return (f"<figure class='{kind}' data-analysis='{_e(result.spec.id)}'{data}>"
            f"{_img(png, kind.replace('-', ' ') + ': ' + result.spec.title)}<figcaption>{caption} "
            f"(<a href='figures/{_e(svg)}'>SVG</a>)</figcaption></figure>")


def _studies_table(ev, r, links) -> str:
    inc = r.included
    if not len(inc):
        return ""
    rows = []
    for _, s in inc.iterrows():
        flag = (f" <span class='flag' title='{_e(s['implausible_reason'])}'>\N{DAGGER}</span>" if s["implausible"] else "")
        rows.append(f"<tr><td>{link_studies(_e(s['label']), links)}{flag}</td><td>{_e(s['design'].replace('_', ' '))}</td>"
                    f"<td>{'' if np.isnan(s['n']) else int(s['n'])}</td><td>{s['weight']:.1f}%</td>"
                    f"<td>{_e(str(s['rob_overall']).replace('_', ' '))}</td><td>{_e(s['how'])}</td></tr>")
    out = ("<table class='studies'><thead><tr><th>Study (links to its source)</th><th>Design</th><th>n</th><th>Weight</th>"
           f"<th>Risk of bias</th><th>Effect size from</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")
    if r.implausible_labels:
        why = "; ".join(f"{link_studies(_e(lab), links)}: {_e(reason)}"
                        for lab, reason in zip(inc.loc[inc["implausible"], "label"], inc.loc[inc["implausible"], "implausible_reason"]))
        q = r.without_implausible
        alt = (f"Without them: {_e(_effect(r, q))}, k = {q.k}." if q is not None else
               "No unflagged study remains, so there is no result without them.")
        w = float(inc.loc[inc["implausible"], "weight"].sum())
        out += (f"<p class='note implausible'><span class='flag'>\N{DAGGER} Numbers flagged implausible</span> by the "
                f"curators (studies.csv <code>implausible_reason</code>), {w:.0f}% of the weight: {why}. "
                f"<b>{alt}</b></p>")
    if len(r.excluded):
        st = ev.studies.set_index("study_id")
        items = "".join(f"<li><code>{_e(x['row_id'])}</code> ({link_studies(_e(st.loc[x['study_id'], 'label']), links)}"
                        f"): {_e(x['reason'])}</li>" for _, x in r.excluded.iterrows())
        out += f"<details><summary>Rows listed but not pooled ({len(r.excluded)})</summary><ul>{items}</ul></details>"
    return out


def _effect(r, q) -> str:
    e, lo, hi = (r.display(x) for x in (q.estimate, q.ci_low, q.ci_high))
    name = r.spec.measure if r.spec.question != "frequency" else f"per {r.spec.per:g}"
    return f"{name} {e:.2f} ({lo:.2f} to {hi:.2f})"


def _review_table(ev, r, g, links) -> str:
    from hipacu.review.claims import compare_with_reviews

    cmp = compare_with_reviews(r, g)
    if not len(cmp):
        return ""
    rows = []
    for _, x in cmp.iterrows():
        status = ("another measure: not compared" if not x["comparable"] else
                  "<span class='flag'>differs</span>" if x["disagreement"] else "agrees")
        k = "" if np.isnan(x["review_k"]) else int(x["review_k"])
        rows.append(f"<tr><td>{_study(ev, x['review'], links)}</td><td>{_e(x['measure'])}</td>"
                    f"<td>{_e(format(x['review_estimate'], 'g'))} ({_e(x['review_ci'])})</td><td>{k}</td>"
                    f"<td>{_e(str(x['review_certainty']).replace('_', ' '))}</td><td>{_e(x['hipacu_ci'])}</td>"
                    f"<td>{int(x['hipacu_k'])}</td><td>{status}</td><td>{link_studies(_e(x['why_they_differ']), links)}</td></tr>")
    return ("<h4>Published pooled results beside hipacu's</h4><table class='reviews'><thead><tr><th>Review</th><th>Measure</th>"
            "<th>Estimate (CI)</th><th>k</th><th>Certainty</th><th>hipacu CI</th><th>hipacu k</th><th>Comparison "
            "(<a href='#review-rule'>rule</a>)</th><th>Why they differ</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def _analysis_section(ev, aid, r, g, pngs, links) -> str:
    parts = [f"<section id='analysis-{_e(aid)}'><h3>{_e(r.spec.title)}</h3>"]
    parts.append(f"<p>{_e(r.effect_text())}, k = {r.k}, {r.participants:,} in the pooled rows; "
                 f"{_e(g.symbols)} {_e(g.certainty.replace('_', ' '))} certainty. <span class='note'>Interval: "
                 f"{_e(r.test_reason)}. Small-study tests: {_e(r.small_study.reason)}.</span></p>")
    if f"forest_{aid}" in pngs:
        parts.append(_figure(r, pngs[f"forest_{aid}"], "forest-plot"))
    parts.append(_studies_table(ev, r, links))
    if f"method_{aid}" in pngs:
        note = ("<span class='flag'>The conclusion depends on the method.</span> " if g.method_sensitive else "")
        parts.append(_figure(r, pngs[f"method_{aid}"], "method-sensitivity",
                             caption=f"Method sensitivity. {note}{_e(g.method_note)}"))
    if f"funnel_{aid}" in pngs:
        parts.append(_figure(r, pngs[f"funnel_{aid}"], "funnel-plot"))
    if f"sensitivity_{aid}" in pngs:
        parts.append(_figure(r, pngs[f"sensitivity_{aid}"], "sensitivity-plot",
                             caption=f"Leave one out and cumulative: {_e(r.spec.title)}"))
    parts.append(_review_table(ev, r, g, links))
    parts.append("</section>")
    return "".join(p for p in parts if p)


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>\n'
            f"<style>{_CSS}</style></head><body>\n{body}\n</body></html>")


def index_html(ev, results, claims, sof, notebook_pages: list[tuple[str, str]], figures: list[Path],
               grades: dict | None = None) -> str:
    """The ``index.html`` of a report (see :func:`hipacu.report.build_report`)."""
    from hipacu.review.grading import grade
    from hipacu.review.sof import evidence_profile, evidence_profile_html, sof_html

    grades = {aid: grade(r) for aid, r in results.items()} if grades is None else grades
    topic = ev.topic
    title = topic.title or ev.path.name
    links = study_links(ev)
    pngs = {f.stem: f for f in figures if f.suffix == ".png"}

    def linked(s: str) -> str:
        return link_studies(s, links)

    nav = [("evidence-map", "Evidence map", claims is not None and "evidence_map" in pngs),
           ("claims", "Claims", claims is not None), ("sof", "Summary of findings", True),
           ("evidence-profile", "Evidence profile", True), ("analyses", "Analyses", True),
           ("risk-of-bias", "Risk of bias", "risk_of_bias" in pngs), ("schedules", "Schedules", "dose" in pngs),
           ("notebooks", "Notebooks", bool(notebook_pages))]
    parts = [f"<h1>{_e(title)}</h1>"]
    if topic.question:
        parts.append(f"<p class='question'><b>Question.</b> {_e(topic.question)}</p>")
    parts.append(_citation(topic))
    parts.append(f"<p>{_e(ev.summary())}. Every number traces to a source in the evidence folder "
                 f"<code>{_e(ev.path.name)}</code>; each study's name links to its source; certainty is graded with "
                 "GRADE from the data.</p>")
    parts.append("<nav>" + "".join(f"<a href='#{a}'>{t}</a>" for a, t, on in nav if on)
                 + "<a href='gallery.html'>Figure gallery</a></nav>")
    if claims is not None and "evidence_map" in pngs:
        parts.append("<h2 id='evidence-map'>Evidence map</h2><figure class='evidence-map'>"
                     + _img(pngs["evidence_map"], "evidence map: each claim against its primary analysis")
                     + "<figcaption>Each claim against its "
                     "primary analysis: effects in units of the MID (no MID: written out, not rescaled), rates in CIOMS "
                     "frequency bands (<a href='figures/evidence_map.svg'>SVG</a>).</figcaption></figure>")
    if claims is not None:
        parts.append(f"<h2 id='claims'>Claims</h2>{_claims_table(ev, claims, results, grades, links)}")
    parts.append("<h2 id='sof'>Summary of findings</h2><div class='scroll'>" + sof_html(sof, link=linked) + "</div>")
    if "summary_of_findings" in pngs:
        parts.append("<p class='note'>As a figure: <a href='figures/summary_of_findings.png'>PNG</a>, "
                     "<a href='figures/summary_of_findings.svg'>SVG</a>.</p>")
    profile = evidence_profile(ev, list(results), results, grades)
    parts.append("<h2 id='evidence-profile'>Evidence profile</h2><p class='note'>Every GRADE domain's rating and its "
                 "rationale, per outcome (GRADEpro's evidence profile).</p><div class='scroll'>"
                 + evidence_profile_html(profile, link=linked) + "</div>")
    parts.append("<h2 id='analyses'>Analyses</h2>" + "".join(_analysis_section(ev, aid, r, grades[aid], pngs, links)
                                                          for aid, r in results.items()))
    if "risk_of_bias" in pngs:
        parts.append("<h2 id='risk-of-bias'>Risk of bias</h2>" + "".join(
            f"<figure class='{stem.replace('_', '-')}'>{_img(pngs[stem], text)}<figcaption>{_e(text)} "
            f"(<a href='figures/{stem}.svg'>SVG</a>)</figcaption></figure>"
            for stem, text in (("risk_of_bias", "risk of bias of the appraised trials, per RoB 2 domain"),
                               ("risk_of_bias_summary", "share of the appraised trials at each judgement")) if stem in pngs))
    if "dose" in pngs:
        parts.append("<h2 id='schedules'>Treatment schedules</h2><figure class='dose'>" + _img(pngs["dose"], "treatment schedules")
                     + "<figcaption>Sessions per week against course length, with the schedule "
                     "the article states (<a href='figures/dose.svg'>SVG</a>).</figcaption></figure>")
    if notebook_pages:
        items = "".join(f"<li><a href='{_e(href)}'>{_e(name)}</a></li>" for name, href in notebook_pages)
        parts.append(f"<h2 id='notebooks'>Notebooks</h2><ul>{items}</ul>")
    items = "".join(f"<li><a href='figures/{_e(f.name)}'>{_e(f.stem)}</a> (<a href='figures/{_e(f.stem)}.svg'>SVG</a>)</li>"
                    for f in pngs.values())
    parts.append(f"<h2>All figures</h2><p><a href='gallery.html'>Gallery: one of each figure type</a></p><ul>{items}</ul>")
    return _page(f"hipacu report: {title}", "\n".join(p for p in parts if p))


def gallery_html(ev, figures: list[Path]) -> str:
    """``gallery.html``: one figure of each type the report drew (:data:`GALLERY`), with what it shows."""
    pngs = sorted((f for f in figures if f.suffix == ".png"), key=lambda f: f.name)
    title = ev.topic.title or ev.path.name
    parts = [f"<h1>Figure gallery</h1><p>{_e(title)}: one figure of each type in this report "
             "(<a href='index.html'>back to the report</a>).</p>"]
    for prefix, name, what in GALLERY:
        exact = [f for f in pngs if f.stem == prefix]
        pick = exact or [f for f in pngs if prefix.endswith("_") and f.stem.startswith(prefix)]
        if not pick:
            continue
        f = pick[0]
        parts.append(f"<figure class='gallery' data-type='{_e(prefix.rstrip('_'))}'><h2>{_e(name)}</h2>"
                     f"{_img(f, name)}<figcaption>{_e(what)} "
                     f"<code>{_e(f.stem)}</code> (<a href='figures/{_e(f.stem)}.svg'>SVG</a>)</figcaption></figure>")
    return _page(f"hipacu figure gallery: {title}", "\n".join(parts))
