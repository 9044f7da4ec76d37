"""AI fix on a big plate: the model inpaints only a crop around the mask, pasted back.

A 3840×2160 plate is 16 times the pixels of the model's native 768×540: inpainting all of it
to redo a window costs 16 times the time and memory for pixels the edit must leave exactly
as they were (the engine composites the result inside the mask anyway). So the model gets
the mask's bounding box, padded by :data:`PAD` pixels of context on each side, grown to at
least the model's native size where the plate allows, rounded up to a multiple of 8 and
moved inside the plate; its result is pasted back at the same place.

What is recorded does not change in meaning: the result is the whole plate, equal to the
plate outside the mask (the engine's own composite, now inside the crop, and the plate
itself outside it), so ``ai.inpainted`` and its provenance are as before: only masked
pixels can change. The record is the model call's (the crop's size, the crop's init and
mask hashes); ``extra["crop"]`` = [x0, y0, x1, y1] says where in the plate it was pasted.
``bgart regenerate`` takes the same window of the version the fix edited (from the ledger),
runs the record again and pastes it back the same way (bgart.generation.replay).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from PIL import Image

if TYPE_CHECKING:
    from bgart.generation import Generated, InpaintRequest, Progress

PAD = 64  # pixels of context around the mask's bounding box
Box = tuple[int, int, int, int]  # x0, y0, x1, y1


def _up8(v: int) -> int:
    return -(-v // 8) * 8


def crop_box(mask: Image.Image, native: int, pad: int = PAD) -> Box | None:
    """The crop the model inpaints for ``mask`` (L, ≥ 50 % on), or None when that would
    be the whole plate (or the mask is empty: the engine refuses it by name)."""
    width, height = mask.size
    bbox = mask.convert("L").point([0] * 128 + [255] * 128).getbbox()
    if bbox is None:
        return None
    x0, y0, x1, y1 = bbox
    x0, y0, x1, y1 = max(0, x0 - pad), max(0, y0 - pad), min(width, x1 + pad), min(height, y1 + pad)
    w = min(width, _up8(max(x1 - x0, native)))
    h = min(height, _up8(max(y1 - y0, native)))
    if (w, h) == (width, height):
        return None
    left = min(max(0, (x0 + x1 - w) // 2), width - w)
    top = min(max(0, (y0 + y1 - h) // 2), height - h)
    return left, top, left + w, top + h


def native_side(engine: Any) -> int:
    """The model's native size (its settings' long side; 512 when it has no settings)."""
    settings = getattr(engine, "settings", None)
    if settings is None:
        return 512
    return max(int(settings.width), int(settings.height))


def inpaint_cropped(
    engine: Any, req: InpaintRequest, progress: Progress | None = None
) -> Generated:
    """``engine.inpaint`` of ``req`` run on the crop around its mask (:func:`crop_box`) and
    pasted back into the whole plate; the whole plate's call when the crop would be all."""
    box = crop_box(req.mask, native_side(engine))
    if box is None or req.mask.size != req.image.size:
        return engine.inpaint(req, progress)
    from bgart.generation import paste_crop

    part = engine.inpaint(
        dataclasses.replace(req, image=req.image.crop(box), mask=req.mask.crop(box)), progress
    )
    return paste_crop(req.image, part, box)  # as `bgart regenerate` pastes it again
