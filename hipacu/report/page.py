"""The report's index page, written from the evidence folder's own words (``topic.toml``).

Nothing here names a topic: the title, the question, the citation and the notebook titles come
from the folder; sections whose evidence the folder does not have (claims, risk of bias,
schedules, funnel plots) are left out rather than shown empty.
"""

from __future__ import annotations

import html
from pathlib import Path

__all__ = ["index_html"]

_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:13px;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 6px;vertical-align:top;text-align:left}
th{background:#f3f3f3}img{max-width:100%;border:1px solid #eee}.verdict{font-weight:600}figure{margin:1em 0}
figcaption{font-size:13px;color:#444}"""


def _e(text) -> str:
    return html.escape(str(text))


def _citation(topic) -> str:
    art = topic.article
    if not art.title:
        return ""
    text = _e(art.citation())
    if art.url:
        text = text.replace(_e(art.url), f"<a href='{_e(art.url)}'>{_e(art.url)}</a>")
    return f"<p class='citation'><b>Source.</b> {text}</p>"


def _claims_table(claims) -> str:
    rows = "".join(
        f"<tr><td>{_e(c['claim_id'])}</td><td>{_e(c['claim'])}</td><td>{_e(c['wording'])}</td>"
        f"<td class='verdict'>{_e(c['verdict'])}</td><td>{_e(c['symbols'])} "
        f"{_e(c['certainty'].replace('_', ' '))}</td><td>{_e(c['reason'])}</td>"
        f"<td>{_e(c['reviews'])}</td></tr>" for _, c in claims.iterrows())
    return ("<table><thead><tr><th>Claim</th><th>The article says (paraphrased)</th><th>Wording</th><th>Verdict</th>"
            f"<th>Certainty</th><th>Reason</th><th>Published reviews</th></tr></thead><tbody>{rows}</tbody></table>")


def _figure(result, png: Path, kind: str) -> str:
    """A figure with a caption stating the pooled numbers it draws (full precision in ``data-*``)."""
    p = result.pooled
    data = ""
    if p is not None:
        data = "".join(f" data-{name.replace('_', '-')}='{float(getattr(p, name))!r}'"
                       for name in ("estimate", "ci_low", "ci_high", "tau2", "i2"))
        data += f" data-k='{p.k}' data-method='{_e(p.method)}' data-measure='{_e(result.spec.measure)}'"
    caption = f"{_e(result.spec.title)}: {_e(result.effect_text())}, k = {result.k}"
    return (f"<figure class='{kind}' data-analysis='{_e(result.spec.id)}'{data}><img src='figures/{_e(png.name)}' "
            f"alt='{kind.replace('-', ' ')}: {_e(result.spec.title)}'><figcaption>{caption}</figcaption></figure>")


def index_html(ev, results, claims, sof, notebook_pages: list[tuple[str, str]], figures: list[Path]) -> str:
    """The ``index.html`` of a report (see :func:`hipacu.report.build_report`)."""
    from hipacu.review.claims import sof_html

    topic = ev.topic
    title = topic.title or ev.path.name
    pngs = {f.stem: f for f in figures if f.suffix == ".png"}
    parts = [f"<h1>{_e(title)}</h1>"]
    if topic.question:
        parts.append(f"<p class='question'><b>Question.</b> {_e(topic.question)}</p>")
    parts.append(_citation(topic))
    parts.append(f"<p>{_e(ev.summary())}. Every number traces to a source in the evidence folder "
                 f"<code>{_e(ev.path.name)}</code>; certainty is graded with GRADE from the data.</p>")
    if claims is not None and "evidence_map" in pngs:
        parts.append("<h2>Evidence map</h2><img src='figures/evidence_map.png' alt='evidence map'>")
    if claims is not None:
        parts.append(f"<h2>Claims</h2>{_claims_table(claims)}")
    parts.append(f"<h2>Summary of findings</h2>{sof_html(sof)}")
    if notebook_pages:
        links = "".join(f"<li><a href='{_e(href)}'>{_e(name)}</a></li>" for name, href in notebook_pages)
        parts.append(f"<h2>Notebooks</h2><ul>{links}</ul>")
    forests = [_figure(results[aid], pngs[f"forest_{aid}"], "forest-plot") for aid in results if f"forest_{aid}" in pngs]
    if forests:
        parts.append("<h2>Forest plots</h2>" + "".join(forests))
    funnels = [_figure(results[aid], pngs[f"funnel_{aid}"], "funnel-plot") for aid in results if f"funnel_{aid}" in pngs]
    if funnels:
        parts.append("<h2>Funnel plots</h2><p>Analyses with at least 10 studies.</p>" + "".join(funnels))
    extra = [(stem, text) for stem, text in (("risk_of_bias", "risk of bias"), ("dose", "treatment schedules"))
             if stem in pngs]
    if extra:
        parts.append("<h2>" + _e(" and ".join(t for _, t in extra)).capitalize() + "</h2>"
                     + "".join(f"<img src='figures/{stem}.png' alt='{_e(text)}'>" for stem, text in extra))
    links = "".join(f"<li><a href='figures/{_e(f.name)}'>{_e(f.stem)}</a> (<a href='figures/{_e(f.stem)}.svg'>SVG</a>)</li>"
                    for f in pngs.values())
    parts.append(f"<h2>All figures</h2><ul>{links}</ul>")
    body = "\n".join(p for p in parts if p)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>hipacu report: {_e(title)}</title>\n'
            f"<style>{_CSS}</style></head><body>\n{body}\n</body></html>")
