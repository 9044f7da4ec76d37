"""The CJK font that ships with bgart, so Japanese renders the same on every machine.

Noto Sans CJK JP Regular (SIL Open Font License 1.1), from the ``noto-cjk-sans-jp-regular``
wheel, a dependency of bgart: the credit reports embed it (:mod:`bgart.credits.fonts`) and
the contact sheet draws with it (:mod:`bgart.runs.contact_sheet`). Nothing depends on a
system font being installed.
"""

from __future__ import annotations

from pathlib import Path

from bgart.errors import BgartError


def cjk_font_path() -> Path:
    """The shipped Noto Sans CJK JP Regular font file."""
    try:
        import noto_cjk_sans_jp_regular as noto
    except ImportError:
        raise BgartError(
            "the package noto-cjk-sans-jp-regular is not installed (a bgart dependency: "
            "reports and contact sheets draw Japanese with its font); reinstall bgart"
        ) from None
    return Path(str(noto.FONT_PATH))
