"""The variant act: a new plate of a shot made by the model from another of its plates
(a time-of-day variant, 時間変え: the accepted ``main`` plate at night), linked to it.

``ai.variant`` is the variant plate's first version. Its payload names the parent
(``parent_plate``, ``parent_version``) and the time of day; its blobs are the variant image
(``result``, also its ``image``) and an all-on ``mask``. Its raster is the parent's with the
pixels the model visibly changed made AI (:func:`bgart.provenance.variant`), so the
parent's human paint that survives in the variant stays credited to its painter (the
credits follow the parent's lineage, :mod:`bgart.credits.lineage`) and repainted pixels are
not. ``ledger verify`` recomputes it from the parent's stored version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from bgart import provenance as contrib
from bgart.errors import InputError
from bgart.events import DECISION_KINDS, Kind, Review
from bgart.images import encode_png
from bgart.ledger import Project
from bgart.plates.pixels import decode_user, load_state
from bgart.plates.versions import PLATE, Recorded, check_names, check_seconds, new_version, recorded

if TYPE_CHECKING:  # the record is data here: the plates never run a model
    from bgart.generation import GenerationRecord

TIMES = ("morning", "day", "evening", "night")
"""The times of day a variant can be made for (one preset each: prompts/time/<time>.toml)."""


def accepted_version(project: Project, shot: str, plate: str = PLATE) -> int:
    """The version of ``plate`` its last review decision accepted; an InputError naming the
    shot and plate when the last decision is not an acceptance (or there is none)."""
    shot, plate = check_names(shot, plate)
    decisions = project.ledger.events(shot=shot, plate=plate, kinds=tuple(DECISION_KINDS))
    last = decisions[-1] if decisions else None
    version = last.typed(Review).version if last is not None else None
    if last is None or last.kind != Kind.PLATE_ACCEPTED or version is None:
        why = "was rejected" if last is not None else "has not been accepted"
        raise InputError(
            f"shot {shot}: plate '{plate}' {why}; a variant is made from the accepted plate "
            "(accept it first, or name a version with --version)"
        )
    return int(version)


def record_variant(
    project: Project,
    shot: str,
    image_png_bytes: bytes,
    record: GenerationRecord,
    *,
    plate: str,
    parent_plate: str = PLATE,
    parent_version: int,
    time: str | None = None,
    requested_by: str | None = None,
    active_seconds: float = 0.0,
) -> Recorded:
    """``ai.variant``: the engine's variant image (its PNG with the record embedded) as the
    first version of the new plate ``plate``, made from version ``parent_version`` of
    ``parent_plate``. A plate that already has versions is refused (name another); the same
    PNG recorded again for the same plate records nothing new (``duplicate``)."""
    shot, plate = check_names(shot, plate)
    parent_plate = check_names(shot, parent_plate)[1]
    if plate == parent_plate:
        raise InputError(f"shot {shot}: a variant of plate '{plate}' needs a plate name of its own")
    if time is not None and time not in TIMES:
        raise InputError(f"time '{time}': not one of {', '.join(TIMES)}")
    arr = decode_user(image_png_bytes, "RGB", f"variant image for shot {shot}")
    sha = project.blobs.put(image_png_bytes, "png")
    mask_sha = project.blobs.put(
        encode_png(np.full(arr.shape[:2], 255, np.uint8)), "png"
    )  # all on: the model worked on the whole plate
    key = f"ai.variant/{shot}/{plate}/{sha}"
    with project.ledger.write() as tx:
        if (ev := tx.find_event(key)) is not None:
            return recorded(ev, duplicate=True)
        parent_row = tx.plate(shot, parent_plate, create=False)
        parent = tx.version(parent_row, parent_version) if parent_row is not None else None
        if parent is None:
            raise InputError(
                f"shot {shot}: plate '{parent_plate}' has no version {parent_version} to make a "
                "variant from"
            )
        plate_row = tx.plate(shot, plate)
        assert plate_row is not None
        if tx.current_version(plate_row) is not None:
            raise InputError(
                f"shot {shot}: plate '{plate}' exists already; name the variant another plate "
                "(--plate)"
            )
        state = load_state(project, parent)
        if state.image.shape != arr.shape:
            raise InputError(
                f"variant image for shot {shot}: is {arr.shape[1]}x{arr.shape[0]} but plate "
                f"'{parent_plate}' is {state.image.shape[1]}x{state.image.shape[0]}"
            )
        if requested_by:
            tx.ensure_user(requested_by)
        applied = contrib.variant(state.image, state.raster, arr)
        payload = {
            "record": record.to_dict(),
            "requested_by": requested_by,
            "candidate": 1,
            "parent_plate": parent_plate,
            "parent_version": parent.number,
            "time": time,
            "active_seconds": check_seconds(active_seconds),
        }
        ev = new_version(
            project,
            tx,
            plate_row,
            shot=shot,
            plate_name=plate,
            kind=Kind.AI_VARIANT,
            actor=record.model,
            base=None,
            image=applied.image,
            raster=applied.raster,
            payload=payload,
            blobs={"result": sha, "mask": mask_sha},
            image_sha=sha,
            stats=applied.stats,
            idem_key=key,
        )
        return recorded(ev)
