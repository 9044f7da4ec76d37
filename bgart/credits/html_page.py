"""The credit report as one self-contained HTML page, and that page as a PDF.

:func:`render_html`: styles inline, thumbnails as data URIs. Pages: the summary (one page per
summarised scope), the plate overview, one page per plate, the definition.
:func:`render_pdf`: the same HTML rendered by WeasyPrint, which may load nothing but the
page's own data URIs.
"""

from __future__ import annotations

import base64
import logging
from html import escape
from typing import Any

from bgart import provenance as contrib
from bgart.credits.fonts import FAMILY, font_face_css
from bgart.credits.grade import EXTERNAL_LABELS, external_labels, pct
from bgart.credits.lines import Headings, plate_credit_lines
from bgart.credits.model import (
    GRADES,
    NOT_RECORDED,
    ROLE_LABELS,
    CreditReport,
    PlateCredit,
    ScopeSummary,
)
from bgart.credits.tables import bbox_text, hms

_CSS = """
@page { size: A4; margin: 13mm 12mm 15mm 12mm;
  @bottom-left { content: "__FOOTER__"; font-size: 7.5pt; color: #777; }
  @bottom-right { content: counter(page) " / " counter(pages); font-size: 7.5pt; color: #777; } }
* { box-sizing: border-box; }
html { font-family: "__FAMILY__", "Noto Sans CJK JP", "Noto Sans JP", "Hiragino Sans",
  "Yu Gothic", "DejaVu Sans", sans-serif; font-size: 9.5pt; color: #1d1d1f; line-height: 1.3; }
body { margin: 0 auto; max-width: 1000px; padding: 0 8px; }
h1 { font-size: 20pt; margin: 0 0 2px; }
h2 { font-size: 14pt; margin: 0 0 6px; border-bottom: 2px solid #1d1d1f; padding-bottom: 2px; }
h3 { font-size: 10.5pt; margin: 12px 0 4px; }
.page { page-break-before: always; break-before: page; padding-top: 4px; }
.first { page-break-before: auto; }
.kicker { text-transform: uppercase; letter-spacing: .08em; color: #666; font-size: 8pt;
  margin: 0; }
.meta, .note { color: #555; font-size: 8pt; margin: 3px 0; }
code, .sha { font-family: "DejaVu Sans Mono", monospace; font-size: 7.5pt; word-break: break-all; }
.credit { border: 1.5px solid #1d1d1f; border-radius: 4px; padding: 6px 9px; margin: 8px 0;
  background: #fafaf7; }
.credit p { margin: 2px 0; }
.credit .line { font-weight: bold; font-size: 10.5pt; }
.plate .credit .line { font-size: 8.5pt; }
.plate h3 { margin: 8px 0 3px; }
.credit .label { color: #666; font-size: 7.5pt; text-transform: uppercase; }
.cards { display: flex; flex-wrap: wrap; gap: 6px; margin: 6px 0; }
.card { border: 1px solid #ccc; border-radius: 4px; padding: 4px 8px; min-width: 105px; }
.card b { display: block; font-size: 13pt; }
.card span { color: #555; font-size: 7.5pt; }
table { border-collapse: collapse; width: 100%; margin: 4px 0; }
th, td { border-bottom: 1px solid #ddd; padding: 2px 5px; text-align: left; vertical-align: top; }
th { background: #f0f0ee; font-size: 8pt; }
td.num, th.num { text-align: right; white-space: nowrap; }
tr { page-break-inside: avoid; break-inside: avoid; }
.nm { white-space: nowrap; }
section.plate { break-inside: avoid; page-break-inside: avoid; }
section.plate h3, section.plate table, section.plate .credit { break-inside: avoid; }
h2, h3 { break-after: avoid; page-break-after: avoid; }
.grade { display: inline-block; min-width: 1.6em; text-align: center; font-weight: bold;
  border-radius: 3px; padding: 0 4px; color: #fff; }
.grade-A { background: #1e7d3a; } .grade-B { background: #3a9d4f; }
.grade-C { background: #8aa52b; } .grade-D { background: #c58a12; }
.grade-E { background: #c0571c; } .grade-F { background: #555; }
.bar { display: flex; height: 10px; width: 100%; border: 1px solid #999; margin: 3px 0; }
.bar span { display: block; height: 100%; }
.dist td { width: 16.6%; border: none; }
.dist .fill { background: #888; height: 6px; margin-top: 2px; }
.top { display: flex; gap: 12px; margin: 6px 0; }
.thumbs { flex: 0 0 170px; }
.thumbs figure { margin: 0 0 4px; }
.thumbs figcaption { font-size: 7.5pt; color: #555; }
img.thumb { border: 1px solid #999; display: block; width: 170px; height: auto; }
img.mini { height: 34px; width: auto; border: 1px solid #999; display: block; }
.legend span { display: inline-block; margin-right: 10px; font-size: 7.5pt; }
.legend i { display: inline-block; width: 9px; height: 9px; margin-right: 3px;
  border: 1px solid #555; vertical-align: -1px; }
table.facts { flex: 1 1 auto; width: calc(100% - 182px); table-layout: fixed; margin: 0; }
table.facts td { overflow-wrap: anywhere; word-break: break-word; }
table.facts td .nm { overflow-wrap: normal; word-break: keep-all; }
table.facts th { background: none; color: #555; font-weight: normal; font-size: 9pt;
  width: 9.5em; }
.status-open, .status-rejected { color: #b3261e; font-weight: bold; }
ol.def li { margin-bottom: 4px; }
"""


def _css_string(text: str) -> str:
    """``text`` safe inside a double-quoted CSS string within a <style> element."""
    out = []
    for ch in text:
        if ch in '"\\<>&' or ord(ch) < 32:
            out.append(f"\\{ord(ch):x} ")
        else:
            out.append(ch)
    return "".join(out)


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _grade(letter: str) -> str:
    return f'<span class="grade grade-{_e(letter)}">{_e(letter)}</span>'


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _legend() -> str:
    items = "".join(
        f'<span><i style="background: rgb{rgb}"></i>{_e(name)}</span>'
        for name, rgb in contrib.HEAT_COLOURS.items()
    )
    return f'<div class="legend">{items}</div>'


def _share_bar(p: PlateCredit | ScopeSummary) -> str:
    parts = [
        (p.human_paint_share, contrib.HEAT_COLOURS["human paint"], "human paint"),
        (p.ai_gen_share, contrib.HEAT_COLOURS["AI generated"], "AI generated"),
        (p.ai_inpaint_share, contrib.HEAT_COLOURS["AI inpainted"], "AI inpainted"),
        (p.human_base_share, contrib.HEAT_COLOURS["human base"], "human base"),
    ]
    spans = "".join(
        f'<span style="width: {share * 100:.3f}%; background: rgb{rgb}" '
        f'title="{_e(name)} {pct(share)}"></span>'
        for share, rgb, name in parts
        if share > 0
    )
    return f'<div class="bar">{spans}</div>'


def _status(status: str) -> str:
    return f'<span class="status-{_e(status)}">{_e(status)}</span>'


def _n(name: str | None) -> str:
    """A person's name that a line or a table cell never breaks (a CJK name may otherwise
    wrap between any two characters: "山田 花 / 子")."""
    return f'<span class="nm">{_e(name)}</span>'


def _names(names: list[str] | tuple[str, ...], sep: str = ", ") -> str:
    return _e(sep).join(_n(n) for n in names)


def _roll(line: str, sep: str, lang: str) -> str:
    """An end-roll line, each ``heading：names`` block kept whole on one line if it fits."""
    blocks = [f'<span class="nm">{_e(b)}</span>' for b in line.split(sep)]
    return f'<p class="line" lang="{lang}">{_e(sep).join(blocks)}</p>'


def _creditbbox_text(en: str, ja: str, title: str = "End-credit lines") -> str:
    """The end roll, Japanese then English, each line once."""
    return (
        f'<div class="credit"><p class="label">{_e(title)}</p>'
        f"{_roll(ja, '／', 'ja')}{_roll(en, '; ', 'en')}</div>"
    )


def _summary_html(report: CreditReport, s: ScopeSummary, first: bool) -> str:
    title = f"Production: {s.name}" if s.scope == "production" else f"Episode {s.name}"
    cards = [
        (f"{s.accepted} / {s.plates}", "plates accepted"),
        (pct(s.human_paint_share), "human paint (accepted, by pixels)"),
        (pct(s.ai_gen_share), "AI generated"),
        (pct(s.ai_inpaint_share), "AI inpainted"),
        (f"{pct(s.unmodified_share, 0)} ({s.unmodified})", "accepted unmodified (grade F)"),
        (hms(s.active_seconds), "active editing time"),
        (hms(s.gpu_seconds), "GPU time"),
        (f"{s.candidates} / {s.masks}", "candidates / inpaint masks"),
    ]
    card_html = "".join(
        f'<div class="card"><b>{_e(v)}</b><span>{_e(k)}</span></div>' for v, k in cards
    )
    most = max(s.grade_distribution.values(), default=0) or 1
    dist = "".join(
        f"<td>{_grade(g)} <b>{s.grade_distribution.get(g, 0)}</b>"
        f'<div class="fill" style="width: {s.grade_distribution.get(g, 0) / most * 100:.1f}%">'
        "</div></td>"
        for g in GRADES
    )
    people = "".join(
        f'<tr><td class="num">{pc.rank}</td><td>{_n(pc.name)}</td>'
        f"<td>{_e(', '.join(ROLE_LABELS[r] for r in pc.roles))}</td>"
        f'<td class="num">{pc.plates}</td><td class="num">{pct(pc.human_paint_share)}</td>'
        f'<td class="num">{pc.painted_px:,.0f}</td><td class="num">{hms(pc.active_seconds)}</td>'
        f'<td class="num">{pc.rank_by_time}</td></tr>'
        for pc in s.people
    )
    others = ""
    if s.open or s.rejected:
        others = (
            f'<p class="note">{s.open} open and {s.rejected} rejected plate(s) are listed '
            "below but not counted in totals, rankings or credit lines.</p>"
        )
    models = ", ".join(s.models) or "none"
    return (
        f'<section class="page{" first" if first else ""}">'
        f"<h2>{_e(title)}</h2>"
        + _creditbbox_text(s.credit_en, s.credit_ja)
        + f'<div class="cards">{card_html}</div>{_share_bar(s)}{_legend()}{others}'
        f'<p class="note">AI models used: {_e(models)}</p>'
        "<h3>Grade distribution (accepted plates)</h3>"
        f'<table class="dist"><tbody><tr>{dist}</tr></tbody></table>'
        "<h3>People, ranked by painted pixels</h3>"
        "<table><thead><tr><th class=num>#</th><th>Name</th><th>Roles</th>"
        "<th class=num>Plates</th><th class=num>Share of pixels</th>"
        "<th class=num>Painted px</th><th class=num>Active time</th>"
        "<th class=num>Rank by time</th></tr></thead>"
        f"<tbody>{people}</tbody></table></section>"
    )


def _overview_html(report: CreditReport) -> str:
    rows = []
    for p in report.plates:
        thumb = report.thumbnails.get(p.key)
        img = (
            f'<img class="mini" alt="heat map" src="{_data_uri(thumb[0], "image/png")}">'
            if thumb
            else ""
        )
        retouch = ", ".join(
            f"{_n(c.name)} {_e(pct(c.human_paint_share, 0))}" for c in p.retouchers()
        )
        rows.append(
            f"<tr><td>{img}</td><td>{_e(p.shot)}"
            f"{'' if p.plate == 'main' else ' / ' + _e(p.plate)}</td>"
            f"<td>{_status(p.status)}</td><td>{_grade(p.grade)}</td>"
            f'<td class="num">{pct(p.human_paint_share)}</td>'
            f'<td class="num">{pct(p.ai_gen_share)}</td>'
            f'<td class="num">{pct(p.ai_inpaint_share)}</td>'
            f"<td>{_names(p.layout_artists) or NOT_RECORDED}</td>"
            f"<td>{retouch or '–'}</td><td>{_n(p.approver or '–')}</td></tr>"
        )
    return (
        '<section class="page"><h2>Plates</h2>'
        f"{_legend()}"
        "<table><thead><tr><th>Heat map</th><th>Shot</th><th>Status</th><th>Grade</th>"
        "<th class=num>Human paint</th><th class=num>AI gen.</th><th class=num>AI inpaint</th>"
        "<th>Layout</th><th>Retouch</th><th>Approved by</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )


def _plate_html(report: CreditReport, p: PlateCredit) -> str:
    thumb = report.thumbnails.get(p.key)
    thumbs = ""
    if thumb:
        thumbs = (
            '<div class="thumbs">'
            f'<figure><img class="thumb" alt="plate" src="{_data_uri(thumb[1], "image/jpeg")}">'
            "<figcaption>final plate</figcaption></figure>"
            f'<figure><img class="thumb" alt="provenance heat map" '
            f'src="{_data_uri(thumb[0], "image/png")}">'
            "<figcaption>provenance heat map (green human, blue AI, orange inpaint)"
            "</figcaption></figure></div>"
        )
    models = (
        "<br>".join(
            f"{_e(m.name)} ({_e(m.role)}): revision <code>{_e(m.revision)}</code>, "
            f"licence {_e(m.licence)}; weights {_e(m.weights)}"
            for m in p.models
        )
        or "none (no AI plate)"
    )
    cand = f"{p.candidates} generated"
    if p.chosen_candidate and p.chosen_by:
        cand += f"; candidate {p.chosen_candidate} chosen by {_n(p.chosen_by)}"
    elif p.chosen_candidate:
        cand += f"; candidate {p.chosen_candidate} used (no choice recorded)"
    approval = (
        f"{_n(p.approver)}, {_e(p.approved_at[:16].replace('T', ' '))} UTC"
        if p.approver and p.approved_at
        else "not accepted"
    )
    facts = [
        ("Episode / version", f"{_e(p.episode)} · v{p.version} · {p.width}×{p.height} px"),
        ("Status", _status(p.status)),
        ("Approved by", approval),
        ("Grade", f"{_grade(p.grade)} {_e(p.grade_reason)}" + _labels(p)),
        ("Layout", _names(p.layout_artists) or NOT_RECORDED),
        ("Prompt author", _n(p.prompt_author or NOT_RECORDED)),
        ("Prompt", _e(p.prompt or NOT_RECORDED)),
        ("Candidates", cand),
        ("AI models", models),
        ("Final image sha256", f'<span class="sha">{_e(p.image_sha256)}</span>'),
        ("Raster sha256", f'<span class="sha">{_e(p.raster_sha256)}</span>'),
        ("Active / GPU time", _e(f"{hms(p.active_seconds)} / {hms(p.gpu_seconds)}")),
    ]
    if p.review_comment:
        facts.append(("Review comment", _e(p.review_comment)))
    facts_html = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in facts)
    shares = (
        f"human paint {pct(p.human_paint_share)} · AI generated {pct(p.ai_gen_share)} · "
        f"AI inpainted {pct(p.ai_inpaint_share)} · human base {pct(p.human_base_share)} · "
        f"touched by hand {pct(p.human_touched_share)} · levels/colour {pct(p.adjust_share)}"
    )
    if p.unattributed_share > 0:
        shares += f" · human paint no replayed artist explains {pct(p.unattributed_share)}"
    retouch = "".join(
        f"<tr><td>{_n(c.name)}</td><td class=num>{pct(c.human_paint_share, 2)}</td>"
        f"<td class=num>{c.painted_px:,.0f}</td><td class=num>{hms(c.active_seconds)}</td>"
        f"<td class=num>{c.sessions}</td></tr>"
        for c in p.retouchers()
    )
    retouch_html = (
        "<h3>Retouch</h3><table><thead><tr><th>Artist</th><th class=num>Share of plate</th>"
        "<th class=num>Painted px</th><th class=num>Active time</th><th class=num>Sessions</th>"
        f"</tr></thead><tbody>{retouch}</tbody></table>"
        if retouch
        else '<h3>Retouch</h3><p class="note">No human paint on this plate.</p>'
    )
    masks = "".join(
        f"<tr><td>{_n(m.directed_by)}</td><td>{_n(m.model)}</td>"
        f"<td>{_e(bbox_text(m.bbox))}</td>"
        f"<td class=num>{m.mask_px:,}</td><td class=num>{m.changed_px:,}</td>"
        f"<td class=num>{pct(m.changed_px / p.pixels if p.pixels else 0)}</td></tr>"
        for m in p.masks
    )
    masks_html = (
        f"<h3>AI inpaints (share {pct(p.ai_inpaint_share)})</h3><table><thead><tr>"
        "<th>Mask drawn by</th><th>Model</th><th>Mask box</th><th class=num>Mask px</th>"
        "<th class=num>Changed px</th><th class=num>Of plate</th></tr></thead>"
        f"<tbody>{masks}</tbody></table>"
        if masks
        else ""
    )
    adjust = (
        f'<p class="note">Levels/colour (technical edit, not authorship): '
        f"{_names(p.adjusted_by)}</p>"
        if p.adjusted_by
        else ""
    )
    everyone = "".join(
        f"<tr><td>{_n(c.name)}</td><td>{_e(', '.join(ROLE_LABELS[r] for r in c.roles))}</td>"
        f"<td class=num>{hms(c.active_seconds)}</td></tr>"
        for c in p.contributors
    )
    en, ja, _ = plate_credit_lines(p, Headings.of_report(report.headings))
    label = p.shot if p.plate == "main" else f"{p.shot} / {p.plate}"
    return (
        f'<section class="page plate"><h2>{_e(label)} {_grade(p.grade)}</h2>'
        f'<div class="top">{thumbs}<table class="facts"><tbody>{facts_html}</tbody></table>'
        f"</div>{_share_bar(p)}{_legend()}<p>{_e(shares)}</p>"
        f"{retouch_html}{masks_html}{adjust}"
        "<h3>Everyone on this plate</h3><table><thead><tr><th>Name</th><th>Roles</th>"
        f"<th class=num>Active time</th></tr></thead><tbody>{everyone}</tbody></table>"
        + _review_history(p)
        + _creditbbox_text(en, ja, "Credit lines for this plate")
        + "</section>"
    )


def _labels(p: PlateCredit) -> str:
    iptc, declared = external_labels(
        p.grade, ai_used=bool(p.models), human_paint=p.human_paint_share
    )
    return (
        f'<br><span class="meta">IPTC digital source type: {_e(iptc)} · AI Content '
        f"Declaration: {_e(declared)}</span>"
    )


def _definition_html(report: CreditReport) -> str:
    d = report.definition
    items = "".join(f"<li>{_e(line)}</li>" for line in d.text)
    grades = "".join(
        f"<tr><td>{_grade(g)}</td><td>{_e(rule)}</td>"
        f"<td>{_e(EXTERNAL_LABELS.get(g, ('–', '–'))[0])}</td>"
        f"<td>{_e(EXTERNAL_LABELS.get(g, ('–', '–'))[1])}</td></tr>"
        for g, rule in d.grade_rules.items()
    )
    head = (
        "<thead><tr><th>Grade</th><th>Rule</th><th>IPTC digital source type</th>"
        "<th>AI Content Declaration level</th></tr></thead>"
    )
    return (
        '<section class="page"><h2>How contribution is measured</h2>'
        f'<ol class="def">{items}</ol>'
        f"<h3>Grades (thresholds: B ≥ {pct(d.grade_b, 0)}, C ≥ {pct(d.grade_c, 0)}, "
        f"D ≥ {pct(d.grade_d, 0)} human paint)</h3>"
        "<p class=note>The first rule that holds gives the grade, from A down to F.</p>"
        f"<table>{head}<tbody>{grades}</tbody></table>"
        "<p class=note>IPTC: the NewsCodes Digital Source Type vocabulary (2024), the term a "
        "C2PA <code>digitalSourceType</code> carries. AI Content Declaration: declare-ai.org "
        "1.0.0 (None, Non-Creative, Creative, Total).</p>"
        f'<p class="meta">Definition version {d.version}; ΔE76 threshold {d.delta_e}. '
        f"Ledger: {report.ledger_events} events, head <code>{_e(report.ledger_head)}</code>. "
        f"Check with <code>bgart ledger verify --anchor {_e(report.ledger_head[:16])}</code>. "
        "Exported PNGs carry the same figures in signed C2PA Content Credentials: "
        "<code>bgart credits verify PLATE.png</code>.</p></section>"
    )


def render_html(report: CreditReport) -> str:
    """The report as one self-contained HTML page (also the PDF's source)."""
    scope = (
        f"Episode {report.episode_filter}"
        if report.episode_filter
        else "All episodes (" + ", ".join(s.name for s in report.episodes) + ")"
    )
    d = report.definition
    accepted = sum(1 for p in report.plates if p.accepted)
    footer = f"{report.production} · {scope} · background credits · {report.generated_at}"
    css = _CSS.replace("__FOOTER__", _css_string(footer)).replace("__FAMILY__", FAMILY)
    head = (
        '<header><p class="kicker">Background art credits · 背景美術クレジット</p>'
        f"<h1>{_e(report.production)}</h1>"
        f"<p><b>{_e(scope)}</b> · {len(report.plates)} plates, {accepted} accepted</p>"
        f'<p class="meta">Generated {_e(report.generated_at)} from the bgart ledger '
        f"({report.ledger_events} events, head <code>{_e(report.ledger_head[:16])}…</code>). "
        "Every figure is measured from the plates' pixels by bgart, not self-reported.</p>"
        f'<p class="meta">Grades: A no AI pixels · B human paint ≥ {pct(d.grade_b, 0)} · '
        f"C ≥ {pct(d.grade_c, 0)} · D ≥ {pct(d.grade_d, 0)} · E &gt; 0% or human direction "
        "only · F unmodified AI output. Definition on the last page.</p></header>"
    )
    summaries = report.summaries()
    body = "".join(_summary_html(report, s, i == 0) for i, s in enumerate(summaries))
    body += _overview_html(report)
    body += "".join(_plate_html(report, p) for p in report.plates)
    body += _definition_html(report)
    title = f"{report.production} · {scope} · background credits"
    # The embedded CJK font, cut to the characters of this page (footer and title included).
    css = font_face_css(title + footer + head + body) + css
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title>"
        f"<style>{css}</style></head><body>{head}{body}</body></html>\n"
    )


# --- PDF ------------------------------------------------------------------------------------


def _data_only_fetcher() -> Any:
    """A WeasyPrint URL fetcher that loads data: URIs and refuses anything else."""
    import weasyprint

    default_fetcher = getattr(weasyprint, "default_url_fetcher", None)
    if default_fetcher is not None:  # WeasyPrint < 66: a plain function

        def fetch(url: str, *args: Any, **kwargs: Any) -> Any:
            if not url.startswith("data:"):
                raise ValueError(f"external resource refused: {url}")
            return default_fetcher(url, *args, **kwargs)

        return fetch
    from weasyprint.urls import URLFetcher

    return URLFetcher(allowed_protocols={"data"})


def render_pdf(html: str) -> bytes:
    """The HTML rendered to PDF by WeasyPrint (no network: the HTML is self-contained)."""
    from weasyprint import HTML

    for name in ("weasyprint", "fontTools"):
        logging.getLogger(name).setLevel(logging.ERROR)
    pdf = HTML(string=html, url_fetcher=_data_only_fetcher()).write_pdf()
    assert pdf is not None  # no target given: the PDF comes back as bytes
    return pdf


def _review_history(p: PlateCredit) -> str:
    """The plate's review acts (submissions, retake marks with each region, decisions): a
    record of direction, with no credit role."""
    if not p.review_history:
        return ""
    rows = "".join(
        f"<tr><td>{_e(r.at[:16].replace('T', ' '))}</td><td>{_e(r.act)}</td><td>{_n(r.by)}</td>"
        f"<td>{'v' + str(r.version) if r.version is not None else '–'}</td>"
        f"<td>{_e(r.comment)}"
        + "".join(f"<br>{i}. {_e(text)}" for i, text in enumerate(r.regions, 1))
        + "</td></tr>"
        for r in p.review_history
    )
    return (
        '<h3>Review history</h3><p class="note">Direction on record; no credit role.</p>'
        "<table><thead><tr><th>When (UTC)</th><th>Act</th><th>By</th><th>Version</th>"
        f"<th>Comment / marked regions</th></tr></thead><tbody>{rows}</tbody></table>"
    )
