"""A variant plate's provenance: what a time-of-day (or colour) variant keeps of its parent.

A variant is a new plate made by the model from another plate of the shot (img2img from the
parent's pixels, the layout's ControlNet holding the structure). Its raster starts from the
parent's raster, and the variant image is laid over the parent as an inpaint over the whole
plate would be (:func:`bgart.provenance.edits.inpaint` with every pixel masked):

* a pixel whose colour the model visibly changed (ΔE76 > 2.3 from the parent's) becomes AI
  (class ``AI_INPAINT``, h = 0; under v2 its base value becomes the model's);
* a pixel the model left within the threshold keeps the parent's class, human weight h and
  flags: the parent's painter stays credited for it, by the contribution rules in force.

Because the edit *is* the inpaint edit, ``bgart ledger verify`` recomputes a variant with the
inpaint edit from the parent's stored version (``EditKind.INPAINT``; the event carries the
variant as its ``result`` blob and an all-on ``mask``) and needs nothing of its own.
"""

from __future__ import annotations

import numpy as np

from bgart.provenance.edits import Applied, inpaint
from bgart.provenance.raster import U8, BoolArr, Raster


def whole_mask(height: int, width: int) -> BoolArr:
    """The mask a variant is recorded with: every pixel."""
    return np.ones((height, width), bool)


def variant(parent: U8, raster: Raster, image: U8) -> Applied:
    """The variant plate made from ``parent`` (its pixels) and ``raster`` (its provenance):
    ``image`` exactly, with the parent's authorship kept where ``image`` is not visibly
    different from ``parent`` and AI where it is. Figures: ``mask_px`` (every pixel),
    ``changed_px``, ``visible_px`` (the pixels the model repainted)."""
    if parent.shape[:2] != image.shape[:2]:
        raise ValueError(
            f"variant image is {image.shape[1]}x{image.shape[0]} but its parent plate is "
            f"{parent.shape[1]}x{parent.shape[0]}"
        )
    return inpaint(parent, raster, image, whole_mask(*parent.shape[:2]))
