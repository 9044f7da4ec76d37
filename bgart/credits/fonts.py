"""The report's own CJK font, so Japanese renders the same on every machine.

The credit reports name Japanese titles and people. A machine without a CJK system font
would draw them as boxes (tofu) in the PDF and let a browser pick any fallback for the HTML.
So the font travels with bgart: Noto Sans CJK JP Regular (SIL Open Font License 1.1), shipped
by the ``noto-cjk-sans-jp-regular`` wheel, a dependency of bgart. :func:`font_face_css` cuts
it down (fontTools subsetting) to the characters the page uses and returns an ``@font-face``
rule with the subset as a WOFF2 data URI, which both the HTML and WeasyPrint's PDF load;
WeasyPrint embeds it in the PDF. Nothing depends on fontconfig finding a system font.
"""

from __future__ import annotations

import base64
import io
import logging
from functools import lru_cache
from pathlib import Path

from bgart.fonts import cjk_font_path

#: The CSS family name of the embedded font (first in the report's font-family list).
FAMILY = "bgart Noto Sans CJK JP"
#: The font's PostScript name, as a PDF that embeds it names it (after a subset prefix).
POSTSCRIPT_NAME = "NotoSansCJKjp-Regular"


def font_path() -> Path:
    """The shipped Noto Sans CJK JP Regular font file (see :mod:`bgart.fonts`)."""
    return cjk_font_path()


@lru_cache(maxsize=8)
def _subset(chars: str) -> bytes:
    from fontTools import subset
    from fontTools.ttLib import TTFont

    logging.getLogger("fontTools").setLevel(logging.ERROR)
    # keep every layout feature (vertical forms, kerning, proportional kana) and name
    options = subset.Options(
        flavor="woff2", layout_features=["*"], name_IDs=["*"], notdef_outline=True
    )
    font = TTFont(str(font_path()), lazy=True)
    sub = subset.Subsetter(options)
    sub.populate(text=chars)
    sub.subset(font)
    buf = io.BytesIO()
    font.flavor = "woff2"
    font.save(buf)
    return buf.getvalue()


def font_face_css(text: str) -> str:
    """An ``@font-face`` rule for :data:`FAMILY` holding every glyph ``text`` needs."""
    chars = "".join(sorted({ch for ch in text if ch.isprintable()} | set(" 0123456789")))
    data = base64.b64encode(_subset(chars)).decode("ascii")
    return (
        f'@font-face {{ font-family: "{FAMILY}"; font-style: normal; font-weight: 100 900; '
        f'src: url("data:font/woff2;base64,{data}") format("woff2"); }}\n'
    )
