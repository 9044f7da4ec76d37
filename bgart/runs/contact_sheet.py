"""The contact sheet: what the director looks at in the morning.

One row per shot: its id, preset, size, layout artist, prompt and notes, the pencil layout,
then every variation with its seed; failed shots say why in red, shots not rendered yet say
so. Two forms of the same content:

* HTML, self-contained: every image is a JPEG thumbnail embedded as a ``data:`` URI, so the
  one file can be mailed or copied anywhere. Inside the project each thumbnail also links to
  its full-size PNG (a relative path that simply does not resolve elsewhere).
* PNG, for chat and for tools that show images only (split into pages of
  :data:`PNG_ROWS_PER_PAGE` rows on long lists: ``name-p01.png``, ``name-p02.png``…).

Both are deterministic (no timestamps): the same shots on disk give the same bytes.
"""

from __future__ import annotations

import base64
import functools
import html
import io
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from bgart.errors import BgartError, InputError
from bgart.fonts import cjk_font_path
from bgart.fsutil import atomic_write_bytes
from bgart.images import open_image

HTML_THUMB_H = 240  # px stored; shown at 160 CSS px, so sharp on high-density screens
PNG_THUMB_H = 160
PNG_ROWS_PER_PAGE = 40
MAX_ASPECT = 4.0  # a very wide pan is shown at most this wide (as a fraction of the height)
JPEG_QUALITY = 82
BG = (24, 24, 27)
FG = (228, 228, 231)
MUTED = (150, 150, 160)
RED = (239, 68, 68)
GREEN = (74, 222, 128)
AMBER = (251, 191, 36)


@dataclass
class SheetShot:
    """One shot as the sheet shows it."""

    id: str
    prompt: str
    preset: str
    width: int
    height: int
    layout: Path
    status: str  # "done" | "failed" | "not rendered"
    variations: list[tuple[Path, int]] = field(default_factory=list)  # (png, seed)
    reason: str | None = None
    layout_artist: str = ""
    notes: str = ""
    line: int = 0
    location: str = ""  # the shot list's location: the sheet groups shots by it
    board: str | None = None  # the art board its drift is measured to (bgart.runs.artboard)
    drift: list[float | None] = field(default_factory=list)  # per variation
    drift_threshold: float | None = None  # the production's: a drift over it is flagged

    def drift_caption(self, index: int) -> tuple[str, bool]:
        """`` · drift 0.123`` for variation ``index`` (0-based), and whether it is over
        the threshold; ``("", False)`` without a score."""
        score = self.drift[index] if index < len(self.drift) else None
        if score is None:
            return "", False
        over = self.drift_threshold is not None and score > self.drift_threshold
        return f" · drift {score:.3f}" + (" ⚠" if over else ""), over


def by_location(shots: Sequence[SheetShot]) -> list[SheetShot]:
    """The shots grouped by location (a group where its location first appears in the
    list, the list's order within it); unchanged when no shot names a location."""
    first: dict[str, int] = {}
    for i, s in enumerate(shots):
        first.setdefault(s.location, i)
    return sorted(shots, key=lambda s: first[s.location])


def _thumb(source: Path | Image.Image, height: int) -> Image.Image | None:
    """An RGB thumbnail ``height`` px high (None when the file can't be read)."""
    try:
        img = source if isinstance(source, Image.Image) else open_image(source, mode="RGB")
    except InputError:
        return None
    w, h = img.size
    width = max(1, min(round(w * height / h), round(height * MAX_ASPECT)))
    return img.convert("RGB").resize((width, height), Image.Resampling.LANCZOS)


def _jpeg_uri(img: Image.Image) -> str:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


# ---- HTML -----------------------------------------------------------------------------------
CSS = """
body{background:#18181b;color:#e4e4e7;font:14px/1.4 system-ui,sans-serif;margin:24px}
h1{font-size:20px;margin:0 0 4px}.sub{color:#a1a1aa;margin:0 0 16px}
.fails{border:1px solid #ef4444;padding:8px 12px;margin:0 0 16px}
.fails b,.failed .status{color:#ef4444}.done .status{color:#4ade80}
.pending .status{color:#fbbf24}
.shot{display:flex;gap:12px;align-items:flex-start;border-top:1px solid #3f3f46;padding:12px 0}
.meta{width:260px;flex:none}.meta h2{font-size:16px;margin:0;font-family:monospace}
.meta p{margin:2px 0}.prompt{color:#d4d4d8}.notes,.small{color:#a1a1aa;font-size:12px}
.row{display:flex;gap:8px;flex-wrap:wrap}figure{margin:0}
figure img{height:160px;display:block;border:1px solid #3f3f46}
figcaption{font-size:12px;color:#a1a1aa;font-family:monospace}
.layout img{background:#fff}.reason{color:#ef4444;max-width:480px;white-space:pre-wrap}
h2.location{font-size:18px;margin:20px 0 0;color:#fbbf24}.over{color:#ef4444}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def render_html(
    shots: Sequence[SheetShot], *, title: str, subtitle: str, link_base: str | None = None
) -> str:
    """The sheet as one self-contained HTML page. ``link_base``: relative path from the
    page to the project folder, for links to the full-size PNGs."""
    counts = {s: sum(1 for x in shots if x.status == s) for s in ("done", "failed", "not rendered")}
    out = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="sub">{_e(subtitle)} · {len(shots)} shots · {counts["done"]} done · '
        f"{counts['failed']} failed · {counts['not rendered']} not rendered</p>",
    ]
    failed = [s for s in shots if s.status == "failed"]
    if failed:
        out.append('<div class="fails"><b>Failed shots</b><ul>')
        out += [
            f'<li><a href="#{_e(s.id)}">{_e(s.id)}</a>: {_e(s.reason or "")}</li>' for s in failed
        ]
        out.append("</ul></div>")
    located, ordered = any(s.location for s in shots), by_location(shots)
    for k, s in enumerate(ordered):
        if located and (k == 0 or s.location != ordered[k - 1].location):
            out.append(f'<h2 class="location">{_e(s.location or "(no location)")}</h2>')
        cls = {"done": "done", "failed": "failed"}.get(s.status, "pending")
        out.append(f'<section class="shot {cls}" id="{_e(s.id)}"><div class="meta">')
        out.append(f"<h2>{_e(s.id)}</h2>")
        status = s.status + (f" — {s.reason}" if s.reason and s.status != "failed" else "")
        out.append(f'<p class="status">{_e(status)}</p>')
        out.append(
            f'<p class="small">{_e(s.preset)} · {s.width}×{s.height}'
            + (f" · layout: {_e(s.layout_artist)}" if s.layout_artist else "")
            + "</p>"
        )
        out.append(f'<p class="prompt">{_e(s.prompt)}</p>')
        if s.notes:
            out.append(f'<p class="notes">{_e(s.notes)}</p>')
        out.append('</div><div class="row">')
        lay = _thumb(s.layout, HTML_THUMB_H)
        if lay is not None:
            out.append(
                f'<figure class="layout"><img src="{_jpeg_uri(lay)}" '
                f'alt="layout of {_e(s.id)}"><figcaption>layout</figcaption></figure>'
            )
        if s.status == "failed":
            out.append(f'<p class="reason">{_e(s.reason or "failed")}</p>')
        for i, (png, seed) in enumerate(s.variations, start=1):
            th = _thumb(png, HTML_THUMB_H)
            if th is None:
                continue
            img = f'<img src="{_jpeg_uri(th)}" alt="{_e(s.id)} v{i}">'
            if link_base is not None:
                href = f"{link_base}/shots/{s.id}/{png.name}"
                img = f'<a href="{_e(href)}">{img}</a>'
            drift, over = s.drift_caption(i - 1)
            flag = ' class="over"' if over else ""
            cap = f"<figcaption{flag}>v{i} · seed {seed}{_e(drift)}"
            out.append(f"<figure>{img}{cap}</figcaption></figure>")
        out.append("</div></section>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


# ---- PNG ------------------------------------------------------------------------------------
# Fonts with Japanese glyphs, after the one bgart ships (bgart.fonts), the first one found is
# used: Pillow's own font has none, so a Japanese prompt, note or artist name would print as
# empty boxes (the HTML sheet is fine).
CJK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",  # Debian/Ubuntu fonts-noto-cjk
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",  # Arch
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",  # Fedora
    "/System/Library/Fonts/ヒラギノ角ゴシック W3.ttc",  # macOS
    "C:/Windows/Fonts/meiryo.ttc",
    "C:/Windows/Fonts/msgothic.ttc",
)


@functools.lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:  # the font bgart ships first: the same letters on every machine
        return ImageFont.truetype(str(cjk_font_path()), size=size)
    except (BgartError, OSError):
        pass
    for path in CJK_FONTS:
        try:
            return ImageFont.truetype(path, size=size)  # a .ttc: its first face (JP for Noto)
        except OSError:  # not installed here
            continue
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType
        return ImageFont.load_default()


def _clip(draw: ImageDraw.ImageDraw, text: str, font: object, width: int) -> str:
    if draw.textlength(text, font=font) <= width:  # type: ignore[arg-type]
        return text
    while text and draw.textlength(text + "…", font=font) > width:  # type: ignore[arg-type]
        text = text[:-1]
    return text + "…"


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: object, width: int, lines: int) -> list[str]:
    words, out, cur = text.split(), [], ""
    for word in words:
        trial = f"{cur} {word}".strip()
        if draw.textlength(trial, font=font) <= width or not cur:  # type: ignore[arg-type]
            cur = trial
        else:
            out.append(cur)
            cur = word
    if cur:
        out.append(cur)
    if len(out) > lines:
        out = [*out[: lines - 1], _clip(draw, " ".join(out[lines - 1 :]), font, width)]
    return [_clip(draw, line, font, width) for line in out]


def _png_drift(s: SheetShot, index: int) -> str:
    return s.drift_caption(index)[0].replace(" · ", "  ").replace(" ⚠", " (!)")


def render_png_pages(shots: Sequence[SheetShot], *, title: str, subtitle: str) -> list[bytes]:
    """The sheet as PNG pages of at most :data:`PNG_ROWS_PER_PAGE` shots (grouped by
    location, as the HTML page)."""
    shots = by_location(shots)
    pages = [shots[i : i + PNG_ROWS_PER_PAGE] for i in range(0, len(shots), PNG_ROWS_PER_PAGE)]
    pages = pages or [[]]
    return [
        _png_page(page, title=title, subtitle=subtitle, page=n + 1, pages=len(pages))
        for n, page in enumerate(pages)
    ]


def _png_page(
    shots: Sequence[SheetShot], *, title: str, subtitle: str, page: int, pages: int
) -> bytes:
    pad, meta_w, cap_h, head_h = 12, 240, 18, 56
    row_h = PNG_THUMB_H + cap_h + pad
    big, mid, small = _font(20), _font(15), _font(12)
    rows: list[tuple[SheetShot, list[tuple[Image.Image, str]]]] = []
    width = 900
    for s in shots:
        items: list[tuple[Image.Image, str]] = []
        lay = _thumb(s.layout, PNG_THUMB_H)
        if lay is not None:
            items.append((lay, "layout"))
        for i, (png, seed) in enumerate(s.variations, start=1):
            th = _thumb(png, PNG_THUMB_H)
            if th is not None:
                items.append((th, f"v{i}  seed {seed}" + _png_drift(s, i - 1)))
        rows.append((s, items))
        row_w = pad + meta_w + sum(im.width + pad for im, _ in items) + pad
        width = max(width, row_w + (320 if s.status == "failed" else 0))
    height = head_h + len(rows) * row_h + pad
    sheet = Image.new("RGB", (width, height), BG)
    draw = ImageDraw.Draw(sheet)
    title, subtitle = title.replace("—", "-"), subtitle.replace("—", "-")  # font lacks it
    head = title + (f"  (page {page}/{pages})" if pages > 1 else "")
    draw.text((pad, 10), _clip(draw, head, big, width - 2 * pad), fill=FG, font=big)
    draw.text((pad, 36), _clip(draw, subtitle, small, width - 2 * pad), fill=MUTED, font=small)
    y = head_h
    for s, items in rows:
        draw.line([(0, y - pad // 2), (width, y - pad // 2)], fill=(63, 63, 70))
        colour = {"done": GREEN, "failed": RED}.get(s.status, AMBER)
        draw.text((pad, y), s.id, fill=FG, font=mid)
        draw.text((pad, y + 22), s.status, fill=colour, font=small)
        where = f"  @ {s.location}" if s.location else ""
        draw.text((pad, y + 40), f"{s.preset}  {s.width}x{s.height}{where}", fill=MUTED, font=small)
        for k, line in enumerate(_wrap(draw, s.prompt, small, meta_w - pad, 5)):
            draw.text((pad, y + 60 + 16 * k), line, fill=FG, font=small)
        x = pad + meta_w
        for im, caption in items:
            sheet.paste(im, (x, y))
            draw.text(
                (x, y + PNG_THUMB_H + 2),
                _clip(draw, caption, small, im.width),
                fill=MUTED,
                font=small,
            )
            x += im.width + pad
        if s.status == "failed":
            for k, line in enumerate(_wrap(draw, s.reason or "failed", small, 300, 8)):
                draw.text((x, y + 16 * k), line, fill=RED, font=small)
        y += row_h
    buf = io.BytesIO()
    sheet.save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def old_pages(png_path: Path) -> list[Path]:
    """This sheet's page files on disk (``<stem>-p01.png``…), and nothing else: not the
    sheet of another list whose name merely starts the same (``ep02-pickups.png`` beside
    ``ep02``), nor the one-page sheet of a list named like a page (``ep02-p01.csv`` has an
    ``ep02-p01.html`` beside its PNG; a page never does)."""
    page = re.compile(re.escape(png_path.stem) + r"-p[0-9]{2,}\.png")
    if not png_path.parent.is_dir():
        return []
    return sorted(
        p
        for p in png_path.parent.iterdir()
        if page.fullmatch(p.name) and not p.with_suffix(".html").exists()
    )


def write_contact_sheet(
    shots: Sequence[SheetShot],
    *,
    title: str,
    subtitle: str,
    html_path: Path,
    png_path: Path,
    project_root: Path | None = None,
) -> list[Path]:
    """Write the HTML page and the PNG page(s) atomically; returns every path written."""
    link_base = None
    if project_root is not None:
        link_base = Path(os.path.relpath(project_root, html_path.parent)).as_posix()
    page = render_html(shots, title=title, subtitle=subtitle, link_base=link_base)
    atomic_write_bytes(html_path, page.encode("utf-8"))
    pngs = render_png_pages(shots, title=title, subtitle=subtitle)
    written = [html_path]
    if len(pngs) == 1:
        targets = [png_path]
    else:
        targets = [
            png_path.with_name(f"{png_path.stem}-p{i + 1:02d}.png") for i in range(len(pngs))
        ]
    stale = set(old_pages(png_path)) - set(targets)
    if len(pngs) > 1:
        stale.add(png_path)
    for path in stale:
        path.unlink(missing_ok=True)
    for path, data in zip(targets, pngs, strict=True):
        atomic_write_bytes(path, data)
        written.append(path)
    return written
