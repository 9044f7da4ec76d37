"""Signing: Content Credentials embedded into an exported plate PNG, and time-stamp checks.

:func:`sign_png` signs the chain :mod:`bgart.credits.c2pa.manifest` defines (layout, origin,
retouched plate), each manifest an ingredient of the next. A layout file whose own Content
Credentials do not validate (or cannot be read) is embedded without them, under bgart's own
layout manifest saying so, and :func:`sign_png` returns a note about it.

Signing is offline (no time-stamp authority unless ``tsa_url`` is given). Without a
time-stamp, validators check the signer certificate against the current time, so signatures
stop validating once the leaf certificate expires (:func:`bgart.credits.c2pa.read.verify_png`
reports that apart from damage: ``VerifyResult.expired``); a signature time-stamped while the
certificate was valid stays valid after it expires. Re-saving a PNG with Pillow drops the
manifest: sign last.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bgart.credits.c2pa.manifest import (
    AiPlate,
    LayoutIngredient,
    PlateManifest,
    _action,
    _definition,
    layout_definition,
    origin_definition,
    plate_definition,
)
from bgart.credits.c2pa.native import (
    JPEG_MAGIC,
    PNG_MAGIC,
    _c2pa,
    _context,
    _label,
    _read_source,
    _require_png,
)
from bgart.credits.c2pa.read import _manifest_failures
from bgart.credits.c2pa.signing import LoadedSigner, load_signer
from bgart.errors import BgartError, InputError
from bgart.events import DIGITAL_CREATION
from bgart.fsutil import atomic_write_bytes


class TimeStampError(BgartError):
    """The time-stamp authority (setting ``tsa_url``) gave no time-stamp; nothing was signed."""


THUMBNAIL_EDGE = 512


def _thumb_edge(data: bytes) -> int:
    """Thumbnail long edge: at most :data:`THUMBNAIL_EDGE`, never larger than the image."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            return max(16, min(THUMBNAIL_EDGE, max(img.size)))
    except OSError:
        return THUMBNAIL_EDGE


def _sign_to(
    definition: dict[str, Any],
    source: bytes,
    fmt: str,
    dest: Any,
    material: LoadedSigner,
    ingredients: Sequence[tuple[dict[str, Any], bytes, str]] = (),
    tsa_url: str | None = None,
) -> None:
    c2pa = _c2pa()
    info = c2pa.C2paSignerInfo(
        alg="es256", sign_cert=material.cert_chain_pem, private_key=material.key_pem, ta_url=tsa_url
    )
    with (
        c2pa.Signer.from_info(info) as signer,
        c2pa.Builder(definition, context=_context(thumbnail_edge=_thumb_edge(source))) as builder,
    ):
        for ingredient, data, ing_fmt in ingredients:
            builder.add_ingredient(ingredient, ing_fmt, io.BytesIO(data))
        builder.sign(signer, fmt, io.BytesIO(source), dest)


def check_tsa_url(tsa_url: str | None) -> str | None:
    """``tsa_url`` when it is an http(s) URL with a host (None stays None), else InputError."""
    from bgart.settings import tsa_url_problem

    if tsa_url is None:
        return None
    if problem := tsa_url_problem(tsa_url):
        raise InputError(f"tsa_url {tsa_url!r}: {problem}")
    return str(tsa_url).strip()


def _tsa_problem(exc: Exception, tsa_url: str) -> str:
    """One line saying what went wrong with the time-stamp authority (c2pa calls it a
    ``Signature: internal error``)."""
    text = str(exc)
    status = re.search(r"status = (\d+)", text)
    if status:
        why = f"answered HTTP {status.group(1)}"
    elif "error sending request" in text or "dns error" in text or "connect" in text:
        why = "could not be reached"
    elif "decode error" in text:
        why = "answered with something that is not an RFC 3161 time-stamp"
    else:
        detail = re.sub(r"^.*?internal error\s*", "", text).strip(" ()") or text
        why = f"gave no time-stamp ({detail})"
    return f"time-stamp authority {tsa_url} (setting tsa_url) {why}"


def _sign_bytes(
    definition: dict[str, Any],
    source: bytes,
    fmt: str,
    material: LoadedSigner,
    ingredients: Sequence[tuple[dict[str, Any], bytes, str]] = (),
    tsa_url: str | None = None,
) -> bytes:
    out = io.BytesIO()
    _sign_to(definition, source, fmt, out, material, ingredients, tsa_url)
    return out.getvalue()


def _png_without_c2pa(data: bytes) -> bytes:
    """The PNG without its ``caBX`` (C2PA) chunks; every other byte as it was."""
    out, pos = bytearray(data[:8]), 8
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        end = pos + 12 + length
        if data[pos + 4 : pos + 8] != b"caBX":
            out += data[pos:end]
        pos = end
    return bytes(out)


def _jpeg_without_c2pa(data: bytes) -> bytes:
    """The JPEG without its APP11 JUMBF (C2PA) segments; the image data as it was."""
    out, pos = bytearray(data[:2]), 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xDA:  # start of scan: the rest is image data
            break
        end = pos + 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        if not (marker == 0xEB and data[pos + 4 : pos + 6] == b"JP"):
            out += data[pos:end]
        pos = end
    return bytes(out + data[pos:])


def _without_manifest(data: bytes, fmt: str, name: str) -> tuple[bytes, str]:
    """``data`` with its C2PA manifest removed (pixels untouched); when some remains
    readable, a PNG rendering of the pixels instead."""
    stripped = _png_without_c2pa(data) if fmt == "image/png" else _jpeg_without_c2pa(data)
    if _manifest_failures(stripped, fmt) is None:
        return stripped, fmt
    from bgart.images import open_image

    buf = io.BytesIO()
    open_image(data, mode="RGB", name=name).save(buf, "PNG")
    return buf.getvalue(), "image/png"


def _layout_asset(
    layout: LayoutIngredient, material: LoadedSigner, tsa_url: str | None
) -> tuple[bytes, str, str | None]:
    """The layout as a signed asset and a note: its own credentials if they validate, else
    ours (the note then says the file's own were dropped, and why)."""
    data = _read_source(layout.image, "layout")
    if data.startswith(PNG_MAGIC):
        fmt = "image/png"
    elif data.startswith(JPEG_MAGIC):
        fmt = "image/jpeg"
    else:  # TIFF, WebP, ... : embed a PNG rendering (C2PA signing covers PNG and JPEG here)
        from bgart.images import open_image

        buf = io.BytesIO()
        open_image(data, mode="RGB", name=_label(layout.image, "layout")).save(buf, "PNG")
        data, fmt = buf.getvalue(), "image/png"
    failures = _manifest_failures(data, fmt)
    if failures == []:
        return data, fmt, None
    note = dropped = None
    if failures is not None:  # signed, but it does not validate: not passed off as valid
        data, fmt = _without_manifest(data, fmt, _label(layout.image, "layout"))
        dropped = "did not validate: " + ", ".join(failures)
        note = (
            f"layout {layout.title}: its own Content Credentials do not validate "
            f"({', '.join(failures)}); they were dropped and the layout is embedded with "
            f"bgart's record of it (layout by {layout.author})"
        )
    definition = layout_definition(layout, dropped=dropped)
    return _sign_bytes(definition, data, fmt, material, tsa_url=tsa_url), fmt, note


def sign_png(
    src_png: Path | bytes,
    dst: Path,
    manifest: PlateManifest,
    cert_chain: Path,
    key: Path,
    *,
    tsa_url: str | None = None,
) -> list[str]:
    """Embed signed Content Credentials for ``manifest`` into a copy of ``src_png`` at ``dst``;
    return notes for the user (a layout whose own credentials did not validate and were
    dropped).

    ``dst`` is written through a temporary file in its folder and renamed into place, so a
    reader never sees half a file. Errors name the file or field at fault. With ``tsa_url``
    (an RFC 3161 time-stamp authority) every signature is time-stamped, so it stays valid
    after the certificate expires; a TSA that fails is named and nothing is written.
    """
    tsa_url = check_tsa_url(tsa_url)
    material = load_signer(cert_chain, key)
    src = _require_png(_read_source(src_png, "plate PNG"), src_png, "plate PNG")
    origin, label = manifest.origin, manifest.origin_label
    fields = (
        (
            ("ai_plate.model", origin.model),
            ("ai_plate.revision", origin.revision),
            ("ai_plate.licence", origin.licence),
        )
        if isinstance(origin, AiPlate)
        else (("base.artist", origin.artist), ("base.origin", origin.origin))
    )
    for name, value in (("title", manifest.title), *fields):
        if not str(value).strip():
            raise InputError(f"manifest {name}: must not be empty")
    definition = plate_definition(manifest)  # validates figures and bboxes before any signing
    origin_png = None
    if manifest.retouched:
        what = "AI plate" if isinstance(origin, AiPlate) else "imported plate"
        if origin.image is None:
            raise InputError(
                f"manifest {label}.image: needed for a retouched plate (it becomes the "
                "parentOf ingredient)"
            )
        origin_png = _require_png(_read_source(origin.image, what), origin.image, what)
    c2pa = _c2pa()
    dst = Path(dst)
    notes: list[str] = []
    try:
        ingredients: list[tuple[dict[str, Any], bytes, str]] = []
        if manifest.layout is not None:
            data, fmt, note = _layout_asset(manifest.layout, material, tsa_url)
            notes += [note] if note else []
            ref = {"title": manifest.layout.title, "relationship": "inputTo", "label": "layout"}
            ingredients.append((ref, data, fmt))
        if origin_png is not None:  # retouched: the signed origin becomes the parent
            origin_def = origin_definition(manifest, final=False)
            origin_signed = _sign_bytes(
                origin_def, origin_png, "image/png", material, ingredients, tsa_url
            )
            ref = {"title": origin.title, "relationship": "parentOf", "label": label}
            ingredients = [(ref, origin_signed, "image/png")]
        signed = _sign_bytes(definition, src, "image/png", material, ingredients, tsa_url)
    except c2pa.C2paError as exc:
        if tsa_url is not None and isinstance(exc, c2pa.C2paError.Signature):
            raise TimeStampError(
                f"{dst}: not signed: {_tsa_problem(exc, tsa_url)}; nothing was written"
            ) from None
        raise BgartError(f"{dst}: C2PA signing failed: {exc}") from None
    try:
        atomic_write_bytes(dst, signed)
    except OSError as exc:
        raise InputError(f"{dst}: cannot write ({exc.strerror})") from None
    return notes


def check_time_stamp_authority(cert_chain: Path, key: Path, tsa_url: str) -> None:
    """Time-stamp one tiny signature with ``tsa_url`` (nothing is written), so an export
    can stop before it writes anything when the authority cannot time-stamp."""
    tsa_url = check_tsa_url(tsa_url) or ""
    material = load_signer(cert_chain, key)
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buf, "PNG")
    definition = _definition(
        "time-stamp check", [_action("c2pa.created", source_type=DIGITAL_CREATION)], []
    )
    c2pa = _c2pa()
    try:
        _sign_bytes(definition, buf.getvalue(), "image/png", material, tsa_url=tsa_url)
    except c2pa.C2paError as exc:
        if isinstance(exc, c2pa.C2paError.Signature):
            raise TimeStampError(_tsa_problem(exc, tsa_url)) from None
        raise BgartError(f"time-stamp check with {tsa_url}: C2PA signing failed: {exc}") from None
