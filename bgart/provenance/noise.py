"""Codec and pipeline noise (definition v2): what a file's own handling does to a plate.

A final handed in as a JPEG or a lossy WebP, or carrying a colour profile, differs from the
plate it was made from in nearly every pixel even where nobody painted. Those differences
are not authorship. What the file itself tells is used:

* **JPEG** carries its quantisation tables and chroma subsampling: the plate before (and
  its base values) re-encoded with exactly them is what an untouched re-save looks like, so
  the difference from it separates the re-encode error from edits.
* **Lossy WebP** does not carry its quality: the plate is re-encoded at the quality (75–100)
  whose result is closest to the file on a sample.
* **Colour-managed or palette files** (an embedded ICC profile, converted to sRGB on import;
  a palette, usually dithered): the plate as it is.

In each case a **noise floor** is then estimated from that file alone (:func:`noise_floor`):
a change is the artist's only where the final differs from the codec's rendering by more than
the floor (and visibly from the plate). Lossless 8- and 16-bit files need none: a 16-bit
round trip or a ±1-level dither moves a pixel by ΔE76 < 2 (checked over all colours), under
the visible-change threshold.

The renderings and the floor are stored with the event (blobs ``ref_before``, ``ref_base``,
payload ``noise_floor``), so ``ledger verify`` replays the edit without a codec.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, JpegImagePlugin

from bgart.provenance.colour import DELTA_E_THRESHOLD, _de2, _planar
from bgart.provenance.raster import U8

_WEBP_QUALITIES = (75, 80, 85, 90, 95, 100)
_SAMPLE_SIDE = 256  # the WebP quality is chosen on a centre crop this size
_FLOOR_MAX = 12.0  # ΔE76: a lossy file never hides a change larger than this
_FLOOR_SCALE = 1.25  # floor = scale × the residual's 99th percentile below the cap, ≥ 2.3


@dataclass(frozen=True)
class Codec:
    """How a handed-in file renders pixels: ``name`` for the record; :meth:`render` gives
    an array as that file's encoder would (the array itself for a colour-managed file)."""

    name: str
    qtables: dict[int, list[int]] | None = None
    subsampling: int = -1
    webp: bool = False

    def render(self, arr: U8, like: U8 | None = None) -> U8:
        """``arr`` as this codec renders it (``like``: the file's decoded pixels, which a
        WebP's quality is chosen to match)."""
        if self.qtables is not None:
            return _jpeg(arr, self.qtables, self.subsampling)
        if self.webp:
            quality = _webp_quality(arr, like) if like is not None else 90
            return _webp(arr, quality)
        return np.asarray(arr, np.uint8)


def codec_of(original: bytes | None) -> Codec | None:
    """The codec noise of a handed-in file, or None for a lossless file (PNG, TIFF, lossless
    WebP, BMP… without a colour profile): what its header and tables say."""
    if not original:
        return None
    try:
        with Image.open(io.BytesIO(original)) as img:
            fmt = img.format
            icc = bool(img.info.get("icc_profile"))
            if fmt == "JPEG" and isinstance(img, JpegImagePlugin.JpegImageFile):
                tables = {k: list(v) for k, v in (img.quantization or {}).items()}
                if img.mode in ("RGB", "L") and tables:
                    sampling = JpegImagePlugin.get_sampling(img)
                    return Codec("jpeg", qtables=tables, subsampling=sampling)
                return Codec("jpeg")
            if fmt == "WEBP" and original[12:16] == b"VP8 ":
                return Codec("webp", webp=True)
            if img.mode in ("P", "PA") or fmt == "GIF":
                return Codec("palette")
            if icc:
                return Codec("icc")
    except (OSError, SyntaxError, ValueError):
        return None
    return None


def noise_floor(final: U8, ref: U8) -> float:
    """The ΔE76 below which a difference between ``final`` and the codec's rendering
    ``ref`` is the codec's, estimated from this file: 1.25 × the 99th percentile of the
    residuals that are at most the cap (edits, large and coherent, mostly exceed it), at
    least the visible-change threshold 2.3, at most 12. Rounded to 1/1000 (it is recorded)."""
    n = final.shape[0] * final.shape[1]
    stride = max(1, n // 400_000)
    r = np.sqrt(_de2(_planar(final.reshape(n, 3)[::stride]), _planar(ref.reshape(n, 3)[::stride])))
    small = r[r <= _FLOOR_MAX]
    if small.size == 0:
        return DELTA_E_THRESHOLD
    estimate = _FLOOR_SCALE * float(np.percentile(small, 99))
    return round(min(_FLOOR_MAX, max(DELTA_E_THRESHOLD, estimate)), 3)


def _decoded(buf: io.BytesIO) -> U8:
    buf.seek(0)
    with Image.open(buf) as img:
        return np.asarray(img.convert("RGB"))


def _jpeg(arr: U8, qtables: dict[int, list[int]], subsampling: int) -> U8:
    buf = io.BytesIO()
    kwargs: dict[str, object] = {"qtables": qtables}
    if subsampling >= 0:
        kwargs["subsampling"] = subsampling
    Image.fromarray(np.ascontiguousarray(arr, np.uint8), "RGB").save(buf, "JPEG", **kwargs)
    return _decoded(buf)


def _webp(arr: U8, quality: int) -> U8:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr, np.uint8), "RGB").save(buf, "WEBP", quality=quality)
    return _decoded(buf)


def _webp_quality(arr: U8, like: U8) -> int:
    """The WebP quality whose rendering of ``arr`` is closest to ``like`` (a centre crop)."""
    h, w = arr.shape[:2]
    y0, x0 = max(0, (h - _SAMPLE_SIDE) // 2), max(0, (w - _SAMPLE_SIDE) // 2)
    crop = (slice(y0, y0 + _SAMPLE_SIDE), slice(x0, x0 + _SAMPLE_SIDE))
    a, target = arr[crop], like[crop].astype(np.int16)
    errors = [
        (float(np.abs(_webp(a, q).astype(np.int16) - target).mean()), q) for q in _WEBP_QUALITIES
    ]
    return min(errors)[1]
