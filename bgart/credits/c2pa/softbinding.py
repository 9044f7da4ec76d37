"""Soft binding: an invisible watermark in each exported plate, and finding its manifest again.

A C2PA manifest lives in the PNG's metadata (the ``caBX`` chunk): anything that re-encodes
the pixels (Pillow's ``save``, a JPEG export, a resize, a screenshot) writes a new file
without it. The hard binding (``c2pa.hash.data``) then has nothing to bind to. A *soft
binding* is a second link that lives in the pixels themselves: bgart embeds a 48-bit
identifier with invisible-watermark's DWT-DCT (a Haar wavelet, then the DCT of 4×4 blocks of
its approximation band, luma channel only so that JPEG's chroma subsampling does not erase
it) and declares it in the manifest as a ``c2pa.soft-binding`` assertion (C2PA 2.1 §9.3,
``alg`` + ``blocks[].value``). The exported PNG is signed *after* the watermark is in, so
its hard binding covers the watermarked pixels.

Recovery (:func:`find_in_store`) reads the watermark of a copy and looks it up among the
project's own exports (``<project>/exports/<episode>/*.png``), whose manifests name their
watermark. A copy that was scaled is resampled to each exported size before decoding (the
watermark sits on a fixed block grid). DWT-DCT is not error-free even on an untouched copy
(8-bit rounding), so a copy matches an export when at most :data:`MAX_BIT_ERRORS` of the 48
bits differ; an unrelated image differs in about 24, and a chance match of ≤ 8 is about
1 in 600 000 per export compared.

invisible-watermark's DWT-DCT needs no model (TrustMark, the C2PA-listed watermark, downloads
its weights from Adobe at first use and ships only an sdist; bgart runs offline). It needs
images of at least 256×256 pixels; smaller plates are exported without a watermark and
without the assertion. ``org.bgart.dwtdct`` is bgart's own algorithm name: it is not on the
C2PA soft-binding algorithm list, so other C2PA tools do not decode it.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SOFT_BINDING_LABEL = "c2pa.soft-binding"
ALG = "org.bgart.dwtdct"
#: Payload bits (6 bytes): the first bytes of sha256 over the project, plate and image.
PAYLOAD_BYTES = 6
MAX_BIT_ERRORS = 8
#: invisible-watermark's own lower limit (``image too small, should be larger than 256x256``).
MIN_PIXELS = 256 * 256
_SCALE = 24
_BLOCK = 4
#: ITU-R BT.601 luma weights (as OpenCV's YUV), summing to 1.
_LUMA = np.array([0.299, 0.587, 0.114])


def watermark_value(production: str, key: str, image_sha256: str) -> str:
    """The identifier embedded in one plate export (hex): stable, so re-exports agree."""
    digest = hashlib.sha256(f"{production}\0{key}\0{image_sha256}".encode()).digest()
    return digest[:PAYLOAD_BYTES].hex()


def can_watermark(width: int, height: int) -> bool:
    return width * height >= MIN_PIXELS and min(width, height) >= 8


def _bits(value: str) -> list[int]:
    return [int(b) for b in np.unpackbits(np.frombuffer(bytes.fromhex(value), np.uint8))]


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float64) @ _LUMA


def _embedder(bits: list[int]) -> Any:
    from imwatermark.maxDct import EmbedMaxDct

    return EmbedMaxDct(bits, wmLen=PAYLOAD_BYTES * 8, scales=[_SCALE, 0, 0], block=_BLOCK)


def embed(rgb: np.ndarray, value: str) -> np.ndarray:
    """``rgb`` (H, W, 3 uint8) with ``value`` (hex) embedded; the input is left unchanged.

    The frame coding is invisible-watermark's (``EmbedMaxDct.encode_frame``), applied to the
    luma's Haar approximation band. Its ``WatermarkEncoder`` is not used: it rebuilds the
    image with the horizontal and vertical detail bands swapped (visible on every edge) and
    wraps 8-bit values that overflow (a near-white pixel can come back black). Here the band
    is rebuilt as it was taken apart and the luma change is added to R, G and B alike (the
    luma weights sum to 1, so the colour differences are untouched), clipped once.
    """
    import pywt

    h, w = (rgb.shape[0] // 2) * 2, (rgb.shape[1] // 2) * 2
    luma = _luma(rgb[:h, :w])
    ca, details = pywt.dwt2(luma, "haar")
    _embedder(_bits(value)).encode_frame(ca, _SCALE)
    delta = pywt.idwt2((ca, details), "haar") - luma
    out = rgb.astype(np.float64)
    out[:h, :w] += delta[..., None]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def survives(marked: np.ndarray, value: str) -> bool:
    """Whether ``value`` reads back from ``marked`` as is, as JPEG q90 and at half size.

    DWT-DCT hides its bits in texture: on a plate that is mostly flat or saturated colour
    they do not read back reliably, and declaring such a watermark would promise a recovery
    that cannot happen.
    """
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(marked).save(buf, "JPEG", quality=90)
    size = (marked.shape[1], marked.shape[0])
    half = Image.fromarray(marked).resize(
        (max(1, size[0] // 2), max(1, size[1] // 2)), Image.Resampling.LANCZOS
    )
    copies = [marked, _load_rgb(buf.getvalue()), _resampled(np.asarray(half), size)]
    return all(bit_errors(decode(c), value) <= MAX_BIT_ERRORS for c in copies)


def embed_png(png: bytes, value: str) -> bytes | None:
    """A PNG of ``png``'s pixels with the watermark (an alpha channel kept as it was), or None
    when the watermark would not survive a re-save on this image (:func:`survives`)."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        im.load()
        alpha = im.getchannel("A") if im.mode in ("RGBA", "LA") else None
        rgb = np.asarray(im.convert("RGB"))
    marked = embed(rgb, value)
    if not survives(marked, value):
        return None
    out = Image.fromarray(marked)
    if alpha is not None:
        out.putalpha(alpha)
    buf = io.BytesIO()
    out.save(buf, "PNG")
    return buf.getvalue()


def decode(rgb: np.ndarray) -> str:
    """The 48 watermark bits read from ``rgb`` (hex), whatever they are."""
    import pywt

    h, w = (rgb.shape[0] // 2) * 2, (rgb.shape[1] // 2) * 2
    ca, _ = pywt.dwt2(_luma(rgb[:h, :w]), "haar")
    n = PAYLOAD_BYTES * 8
    scores: list[list[int]] = [[] for _ in range(n)]
    scores = _embedder([0] * n).decode_frame(ca, _SCALE, scores)
    bits = np.array([np.mean(s) if s else 0.0 for s in scores]) * 255 > 127
    return np.packbits(bits.astype(np.uint8)).tobytes().hex()


def bit_errors(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def assertion(value: str) -> dict[str, Any]:
    """The ``c2pa.soft-binding`` assertion declaring ``value`` over the whole image."""
    return {
        "label": SOFT_BINDING_LABEL,
        # made by the claim generator itself: a created assertion (C2PA 2.1 §10.3.2)
        "created": True,
        "data": {
            "alg": ALG,
            "blocks": [{"scope": {}, "value": value}],
            "pad": [],
            "name": "invisible-watermark DWT-DCT, 48 bits, luma",
        },
    }


def stated_value(manifest_assertion: Any) -> str | None:
    """The watermark a manifest's soft-binding assertion declares (bgart's algorithm only)."""
    if not isinstance(manifest_assertion, dict) or manifest_assertion.get("alg") != ALG:
        return None
    blocks = manifest_assertion.get("blocks")
    if not isinstance(blocks, list) or not blocks or not isinstance(blocks[0], dict):
        return None
    value = blocks[0].get("value")
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class StoreMatch:
    """An export whose manifest declares the watermark read from a copy."""

    export: Path
    value: str
    bit_errors: int


def _load_rgb(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def _resampled(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    if (rgb.shape[1], rgb.shape[0]) == size:
        return rgb
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BICUBIC))


def find_in_store(
    copy: bytes, exports: list[tuple[Path, str, tuple[int, int]]]
) -> StoreMatch | None:
    """The export (path, declared watermark, (width, height)) whose watermark ``copy``
    carries, or None. ``copy`` is any image file Pillow reads (PNG, JPEG...)."""
    rgb = _load_rgb(copy)
    read: dict[tuple[int, int], str] = {}
    best: StoreMatch | None = None
    for path, value, size in exports:
        if size not in read:
            if rgb.shape[0] * rgb.shape[1] < 64 or not can_watermark(*size):
                continue
            read[size] = decode(_resampled(rgb, size))
        errors = bit_errors(read[size], value)
        if errors <= MAX_BIT_ERRORS and (best is None or errors < best.bit_errors):
            best = StoreMatch(path, value, errors)
    return best
