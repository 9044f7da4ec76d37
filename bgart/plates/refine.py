"""The refine act: a plate refined (upscaled) by the model to a delivery size.

``ai.refined`` makes a new plate version at the refined image's size from the latest
version. Its raster is carried to the new size and the model's visible changes beyond a
plain resample are AI (:mod:`bgart.provenance.resample`); with ``keep_human_paint`` (the
default) the human-credited pixels are first put back from the plain resample, so the
refinement leaves the artists' strokes as they were and their share of the plate stays.

Blobs: ``refined`` the model's image as it came out (its PNG, with the generation record
``bgart regenerate`` checks), ``result`` the image recorded as the version (the refined one
with the human pixels kept; the same blob when nothing was kept).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from bgart import provenance as contrib
from bgart.errors import InputError
from bgart.events import Kind
from bgart.images import encode_png
from bgart.ledger import Project
from bgart.plates.pixels import decode_user, load_state
from bgart.plates.versions import (
    PLATE,
    Recorded,
    check_based_on,
    check_names,
    check_seconds,
    new_version,
    recorded,
    require_version,
)

if TYPE_CHECKING:  # the record is data here: the plates never run a model
    from bgart.generation import GenerationRecord


def record_refine(
    project: Project,
    shot: str,
    refined_png: bytes,
    record: GenerationRecord,
    requested_by: str | None,
    *,
    plate: str = PLATE,
    keep_human_paint: bool = True,
    based_on: int | None = None,
    active_seconds: float = 0.0,
) -> Recorded:
    """``ai.refined``: the model's refinement of the plate (``refined_png``, made from
    version ``based_on``, the latest when None) recorded as a new version at its size,
    requested by ``requested_by``. Refused, with nothing recorded, when another version was
    saved meanwhile or the image's size is not the record's."""
    shot, plate = check_names(shot, plate)
    what = f"refined image for shot {shot}"
    refined = decode_user(refined_png, "RGB", what)
    if (refined.shape[1], refined.shape[0]) != (record.width, record.height):
        raise InputError(
            f"{what}: is {refined.shape[1]}x{refined.shape[0]} but its record says "
            f"{record.width}x{record.height}"
        )
    refined_sha = project.blobs.put(refined_png, "png")
    with project.ledger.write() as tx:
        plate_row = tx.plate(shot, plate, create=False)
        if plate_row is None:
            raise InputError(f"shot {shot}: no plate '{plate}' to refine")
        cur = require_version(tx, plate_row, shot, plate)
        check_based_on(cur, based_on, what, "refine the current plate again")
        state = load_state(project, cur)
        image = refined
        if keep_human_paint:
            image = contrib.keep_human(refined, state.image, state.raster)
        try:
            applied = contrib.resample(state.image, state.raster, image)
        except ValueError as exc:
            raise InputError(f"{what}: {exc}") from None
        same = image is refined or bool(np.array_equal(image, refined))
        result_sha = refined_sha if same else project.blobs.put(encode_png(image), "png")
        if requested_by:
            tx.ensure_user(requested_by)
        ev = new_version(
            project,
            tx,
            plate_row,
            shot=shot,
            plate_name=plate,
            kind=Kind.AI_REFINED,
            actor=record.model,
            base=cur,
            image=applied.image,
            raster=applied.raster,
            payload={
                "record": record.to_dict(),
                "requested_by": requested_by,
                "keep_human_paint": keep_human_paint,
                "active_seconds": check_seconds(active_seconds),
            },
            blobs={"refined": refined_sha, "result": result_sha},
            image_sha=result_sha,  # an inpaint over every pixel: the version is the result
            stats=applied.stats,
            source_candidate=cur.source_candidate,
        )
        return recorded(ev)
