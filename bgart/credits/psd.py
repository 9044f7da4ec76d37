"""Layered PSD export: the AI plate, each AI inpaint and each human retouch on its own layer.

Background departments finish plates in Photoshop/Clip Studio; a layered file lets them see
(and keep) who made which pixels. Layers are listed bottom first, as they stack.

:func:`flatten` composes layers with the same straight-alpha "normal" blend that psd-tools
uses, in float64 rounded to the nearest level, so the PSD's stored composite (what
``PSDImage.open(p).composite()`` returns) equals ``flatten(layers)`` exactly and a forced
re-render from the layers is within one level (psd-tools truncates there instead of rounding).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bgart.errors import InputError
from bgart.fsutil import atomic_write_bytes

MAX_NAME = 255  # Photoshop's limit for a layer name


@dataclass
class PsdLayer:
    """One layer: ``image`` is converted to RGBA and must match the document size."""

    name: str
    image: Image.Image
    visible: bool = True


def ai_layer_name(model: str) -> str:
    return f"AI – {model}"


def inpaint_layer_name(model: str, mask_author: str) -> str:
    return f"AI inpaint – {model} (mask by {mask_author})"


def retouch_layer_name(artist: str) -> str:
    return f"Retouch – {artist}"


def refine_layer_name(model: str, requested_by: str) -> str:
    return f"AI refine – {model} (requested by {requested_by})"


def resampled(layers: Sequence[PsdLayer], width: int, height: int) -> list[PsdLayer]:
    """``layers`` at ``width`` x ``height`` (a refined plate's size), each pixel its nearest
    source pixel's: the layers below a refinement, carried as the provenance raster is
    (:func:`bgart.provenance.carry`), so each artist's layer still covers their pixels."""
    from bgart.provenance import source_index

    out = []
    for layer in layers:
        arr = np.asarray(layer.image)
        ys = source_index(arr.shape[0], height)
        xs = source_index(arr.shape[1], width)
        big = np.ascontiguousarray(arr[ys[:, None], xs[None, :]])
        out.append(PsdLayer(layer.name, Image.fromarray(big, layer.image.mode), layer.visible))
    return out


def adjustment_layer_name(artist: str) -> str:
    """A levels/colour pass, labelled as an adjustment. psd-tools cannot write a live
    adjustment layer, so the layer holds the adjusted pixels (baked), named as such."""
    return f"Adjustment – Levels/colour – {artist}"


def _layer_name(name: str) -> str:
    name = " ".join(name.split()) or "Layer"
    return name if len(name) <= MAX_NAME else name[: MAX_NAME - 1] + "…"


def _rgba(layer: PsdLayer, size: tuple[int, int]) -> Image.Image:
    if layer.image.size != tuple(size):
        raise InputError(
            f"layer '{layer.name}': size {layer.image.size[0]}x{layer.image.size[1]} "
            f"does not match the document ({size[0]}x{size[1]})"
        )
    return layer.image if layer.image.mode == "RGBA" else layer.image.convert("RGBA")


def flatten(layers: Sequence[PsdLayer], size: tuple[int, int] | None = None) -> Image.Image:
    """Compose visible layers bottom-up ("normal" blend, straight alpha).

    Returns RGB when the result is fully opaque (the usual case: the AI plate is the opaque
    bottom layer), else RGBA.
    """
    if not layers:
        raise InputError("flatten: no layers")
    w, h = size = size or layers[0].image.size
    color = np.zeros((h, w, 3), dtype=np.float64)
    alpha = np.zeros((h, w, 1), dtype=np.float64)
    for layer in layers:
        img = _rgba(layer, size)
        if not layer.visible:
            continue
        px = np.asarray(img, dtype=np.float64) / 255.0
        src, src_a = px[..., :3], px[..., 3:]
        out_a = src_a + alpha * (1.0 - src_a)
        with np.errstate(invalid="ignore", divide="ignore"):
            blended = (src * src_a + color * alpha * (1.0 - src_a)) / out_a
        color = np.where(out_a > 0, blended, 0.0)
        alpha = out_a
    rgb = np.clip(np.round(color * 255.0), 0, 255).astype(np.uint8)
    a8 = np.clip(np.round(alpha * 255.0), 0, 255).astype(np.uint8)
    if (a8 == 255).all():
        return Image.fromarray(rgb, "RGB")
    return Image.fromarray(np.concatenate([rgb, a8], axis=2), "RGBA")


def export_psd(
    dst: Path,
    layers: Sequence[PsdLayer],
    size: tuple[int, int],
    *,
    composite: Image.Image | None = None,
) -> Path:
    """Write a layered 8-bit RGB PSD to ``dst`` atomically (temp file, then rename).

    The stored composite (what a reader shows without re-rendering the layers, and
    ``PSDImage.composite()`` returns) is ``composite`` when given (the exported PNG's
    pixels, so the two files agree exactly), else :func:`flatten` of the layers as
    psd-tools renders it.

    ``layers`` go bottom first. Each layer's alpha is stored as the layer's own transparency
    (channel -1), so a layer holds only its visible pixels: no user mask over an opaque
    image that an editor could turn off. (psd-tools stores alpha as transparency only in a
    document made with an alpha band; in an "RGB" one it becomes a user mask, and Pillow
    then skips every layer.) Names with characters outside Mac Roman (Japanese names)
    are kept in Photoshop's Unicode layer-name block, which psd-tools and Photoshop read.
    """
    from psd_tools import PSDImage  # import here: psd-tools is slow to import
    from psd_tools.api.layers import PixelLayer

    if not layers:
        raise InputError(f"{dst}: no layers to export")
    size = (int(size[0]), int(size[1]))
    psd = PSDImage.new("RGBA", size)
    for layer in layers:
        pixel_layer = PixelLayer.frompil(_rgba(layer, size), psd, "layer")
        # The setter (not frompil's argument) falls back to a Unicode-only name when the
        # name cannot be written in Mac Roman; frompil would fail at save time instead.
        pixel_layer.name = _layer_name(layer.name)
        pixel_layer.visible = layer.visible
        psd.append(pixel_layer)

    if composite is not None:
        _store_composite(psd, composite, size)
    buf = io.BytesIO()
    psd.save(buf)
    dst = Path(dst)
    try:
        atomic_write_bytes(dst, buf.getvalue())
    except OSError as exc:
        raise InputError(f"{dst}: cannot write ({exc.strerror})") from None
    return dst


def _store_composite(psd: Any, image: Image.Image, size: tuple[int, int]) -> None:
    """Make ``psd.save`` store ``image`` as the merged image instead of its own render."""
    from psd_tools.api import numpy_io

    if image.size != size:
        raise InputError(f"composite: size {image.size} does not match the document {size}")
    px = np.asarray(image.convert("RGBA"), dtype=np.float64) / 255.0
    color, alpha = px[..., :3], px[..., 3:]

    def store() -> None:
        psd._record.image_data.set_data(
            numpy_io.encode_image_data(psd, color, alpha), psd._record.header
        )

    # psd-tools renders the layers into the merged image section on save
    # (``_update_preview``); the document states the exported pixels instead.
    psd._update_preview = store
