"""The c2pa native library and what it is fed: the library (imported on first use), its
Context settings, and the bytes of the images and PEM files handed to it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bgart.credits.c2pa.manifest import ImageSource
from bgart.errors import InputError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"


def _c2pa() -> Any:
    import c2pa  # native library: import only when used

    return c2pa


def _read_source(src: ImageSource, what: str) -> bytes:
    if isinstance(src, bytes | bytearray):
        data = bytes(src)
    else:
        try:
            data = Path(src).read_bytes()
        except FileNotFoundError:
            raise InputError(f"{src}: no such {what} file") from None
        except OSError as exc:
            raise InputError(f"{src}: cannot read {what} ({exc.strerror})") from None
    if not data:
        raise InputError(f"{_label(src, what)}: empty file")
    return data


def _label(src: ImageSource, what: str) -> str:
    return str(src) if not isinstance(src, bytes | bytearray) else what


def _require_png(data: bytes, src: ImageSource, what: str) -> bytes:
    if not data.startswith(PNG_MAGIC):
        raise InputError(f"{_label(src, what)}: not a PNG file")
    return data


#: Base labels (no version, no instance) of the assertions a bgart manifest holds that are
#: *created* assertions: made by bgart as the claim generator, C2PA 2.x claim field
#: ``created_assertions``. c2pa-rs 0.91 (c2pa-python 0.38.1) makes an assertion created when
#: the manifest definition marks it ``created`` or its base label is in the Context setting
#: ``builder.created_assertion_labels``; every other one it files as gathered, among them the
#: ingredient and thumbnail assertions it adds itself (the definition cannot mark those), so
#: they are listed here. The hard binding (``c2pa.hash.data``) is always created.
CREATED_LABELS = (
    "c2pa.actions",
    "c2pa.ingredient",
    "c2pa.thumbnail.claim",
    "c2pa.thumbnail.ingredient",
    "c2pa.soft-binding",
    "org.bgart.contribution",
    "org.bgart.people",
    "cawg.metadata",
)


def _context(trust_anchors: bytes | None = None, thumbnail_edge: int | None = None) -> Any:
    """A c2pa Context: no remote manifest fetch, ``trust_anchors`` trusted; with
    ``thumbnail_edge`` (a Context for signing) thumbnails of that long edge and the created
    assertions of :data:`CREATED_LABELS`."""
    settings: dict[str, Any] = {"verify": {"remote_manifest_fetch": False}}
    if thumbnail_edge:
        # c2pa-rs scales every thumbnail to ``long_edge`` (1024 by default), even up: a 64 px
        # test image got a 200 kB thumbnail, five times over along the ingredient chain.
        settings["builder"] = {
            "thumbnail": {"long_edge": thumbnail_edge},
            "created_assertion_labels": list(CREATED_LABELS),
        }
    if trust_anchors:
        settings["trust"] = {"user_anchors": trust_anchors.decode("ascii")}
    return _c2pa().Context.from_dict(settings)
