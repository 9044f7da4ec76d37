"""The acts that change a plate: the one place that turns a user's act into blobs, ledger
events and plate versions.

The engine, the UI, the batch runner and the CLI call these functions; none of them writes
events itself. Which event each act records, and what it does to the provenance raster, is
declared in :mod:`bgart.events`:

==========================  ======================  ==========================================
function                    event                   new plate version?
==========================  ======================  ==========================================
record_layout               layout.imported         no (the layout blob is kept for the shot)
record_generated            ai.generated            only for a plate that has none yet
select_variation            variation.selected      yes: the chosen candidate, all AI_GEN
record_base                 plate.imported          yes (first version only): no AI involved
record_paint                human.painted           yes
record_final                human.painted (final)   yes (plate.imported when no plate yet)
record_inpaint              ai.inpainted            yes
record_adjust               human.adjusted          yes
undo                        plate.reverted          yes: a copy of an older version
==========================  ======================  ==========================================

Reviews (submit, accept, reject) are in :mod:`bgart.plates.review`. A shot holds one or more
plates (``plate="main"`` unless given).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from bgart import provenance as contrib
from bgart.errors import InputError
from bgart.events import Actor, Kind
from bgart.images import encode_png, open_image
from bgart.ledger import Candidate, Event, Plate, Project, WriteTx, check_name
from bgart.plates.pixels import ImageLike, as_array, decode_blob, decode_user, load_state
from bgart.plates.versions import (
    PLATE,
    FirstVersion,
    Recorded,
    Returns,
    apply_edit,
    check_names,
    check_seconds,
    new_version,
    recorded,
    require_version,
    store_pixels,
)
from bgart.provenance import Applied, Raster

# --- acts ----------------------------------------------------------------------------------

if TYPE_CHECKING:  # the record is data here: the plates never run a model
    from bgart.generation import GenerationRecord


def record_layout(
    project: Project, shot: str, layout_bytes: bytes, artist: str, *, filename: str | None = None
) -> Recorded:
    """``layout.imported``: keep the layout sketch for the shot, credited to ``artist``.

    The same layout by the same artist as the shot's current one records nothing new (a
    resumed batch asks again); any other (a changed layout, a layout changed back, a
    corrected artist name) is recorded, so the shot's current layout and its artist are
    always the ones its latest renders used.
    """
    shot = check_name(shot, "shot")
    artist = check_name(artist, "user")
    img = open_image(layout_bytes, mode=None, name=filename or f"layout for shot {shot}")
    sha = project.blobs.put(layout_bytes, "png" if img.format == "PNG" else "bin")
    with project.ledger.write() as tx:
        latest = tx.latest_event(shot, Kind.LAYOUT_IMPORTED)
        if latest is not None and latest.blob_map.get("layout") == sha and latest.actor == artist:
            return recorded(latest, duplicate=True)
        # unique per history: the same layout may come back after another one
        key = f"layout.imported/{shot}/{sha}/after-{latest.seq if latest else 0}"
        tx.shot(shot)
        tx.ensure_user(artist)
        ev = tx.append(
            Kind.LAYOUT_IMPORTED,
            actor=artist,
            actor_kind=Actor.HUMAN,
            shot=shot,
            payload={"filename": filename, "width": img.width, "height": img.height},
            blobs={"layout": sha},
            idem_key=key,
        )
        return recorded(ev)


def record_generated(
    project: Project,
    shot: str,
    image_png_bytes: bytes,
    record: GenerationRecord,
    requested_by: str | None = None,
    *,
    plate: str = PLATE,
) -> Recorded:
    """``ai.generated``: one candidate from the engine (its PNG and GenerationRecord).

    The candidate becomes the plate's first version when the plate has none yet (a batch
    run's output is a plate at once); otherwise it waits for :func:`select_variation`.
    Recording the same PNG for the same shot and plate twice records nothing new
    (``Recorded.duplicate`` is True), so the batch runner can resume safely.
    """
    shot, plate = check_names(shot, plate)
    if record.mode == "inpaint":
        raise InputError(f"shot {shot}: an inpainting record goes through record_inpaint")
    arr = decode_user(image_png_bytes, "RGB", f"generated image for shot {shot}")
    if (arr.shape[1], arr.shape[0]) != (record.width, record.height):
        raise InputError(
            f"generated image for shot {shot}: is {arr.shape[1]}x{arr.shape[0]} but its record "
            f"says {record.width}x{record.height}"
        )
    sha = project.blobs.put(image_png_bytes, "png")
    key = f"ai.generated/{shot}/{plate}/{sha}"
    with project.ledger.write() as tx:
        if (ev := tx.find_event(key)) is not None:
            return recorded(ev, duplicate=True)
        plate_row = tx.plate(shot, plate)
        assert plate_row is not None
        if requested_by:
            tx.ensure_user(requested_by)
        cur = tx.current_version(plate_row)
        number = len(tx.candidates(plate_row)) + 1
        payload = {"record": record.to_dict(), "requested_by": requested_by, "candidate": number}
        if cur is None:
            ev = new_version(
                project,
                tx,
                plate_row,
                shot=shot,
                plate_name=plate,
                kind=Kind.AI_GENERATED,
                actor=record.model,
                base=None,
                image=arr,
                raster=contrib.generated(arr.shape[1], arr.shape[0]),
                payload=payload,
                blobs={},
                image_sha=sha,
                source_candidate=number,
                idem_key=key,
            )
        else:
            ev = tx.append(
                Kind.AI_GENERATED,
                actor=record.model,
                actor_kind=Actor.AI,
                shot=shot,
                plate=plate,
                payload={**payload, "version": None},
                blobs={"image": sha},
                idem_key=key,
            )
        tx.add_candidate(plate_row, sha, ev)
        return recorded(ev, candidate=number)


def record_generated_cli(
    project_dir: Path,
    shot: str,
    layout_bytes: bytes,
    results: Sequence[Any],
    requested_by: str | None = None,
) -> list[Recorded]:
    """``bgart generate --project DIR --shot ID``: record each engine result (objects with
    ``png()`` and ``record``) as ``ai.generated``.

    The layout is stored as a blob so the records' ``layout_sha256`` resolves, but no
    ``layout.imported`` event is made: the command does not know who drew the layout (the
    batch runner and the UI record it with its artist via :func:`record_layout`).
    """
    with Project.open(project_dir) as project:
        project.blobs.put(layout_bytes, "png" if layout_bytes.startswith(_PNG_MAGIC) else "bin")
        return [record_generated(project, shot, r.png(), r.record, requested_by) for r in results]


_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def select_variation(
    project: Project, shot: str, candidate: int | str, artist: str, *, plate: str = PLATE
) -> Recorded:
    """``variation.selected``: ``artist`` picks a candidate (its number, or sha256 prefix);
    it becomes a new plate version, every pixel AI_GEN."""
    shot, plate = check_names(shot, plate)
    with project.ledger.write() as tx:
        plate_row = tx.plate(shot, plate, create=False)
        cands = tx.candidates(plate_row) if plate_row else []
        if not cands or plate_row is None:
            raise InputError(f"shot {shot}: no generated candidates to choose from")
        chosen = _find_candidate(cands, candidate, shot)
        tx.ensure_user(artist)
        cur = tx.current_version(plate_row)
        base_state = load_state(project, cur) if cur else None
        arr = (
            base_state.image
            if base_state is not None and base_state.image_sha == chosen.image_sha
            else decode_blob(
                project.blobs.get(chosen.image_sha), "RGB", f"candidate {chosen.number}"
            )
        )
        ev = new_version(
            project,
            tx,
            plate_row,
            shot=shot,
            plate_name=plate,
            kind=Kind.VARIATION_SELECTED,
            actor=artist,
            base=cur,
            image=arr,
            raster=contrib.generated(arr.shape[1], arr.shape[0]),
            payload={"candidate": chosen.number, "candidates": len(cands)},
            blobs={"candidate": chosen.image_sha},
            image_sha=chosen.image_sha,
            source_candidate=chosen.number,
        )
        return recorded(ev)


def _find_candidate(cands: list[Candidate], candidate: int | str, shot: str) -> Candidate:
    if isinstance(candidate, int) or (
        isinstance(candidate, str) and candidate.isdigit() and len(candidate) < 6
    ):
        number = int(candidate)
        for c in cands:
            if c.number == number:
                return c
        raise InputError(f"shot {shot}: no candidate {number} (there are {len(cands)})")
    prefix = str(candidate).lower()
    matches = [c for c in cands if c.image_sha.startswith(prefix)] if len(prefix) >= 6 else []
    if len(matches) != 1:
        raise InputError(f"shot {shot}: candidate '{candidate}' matches {len(matches)} candidates")
    return matches[0]


def record_base(
    project: Project,
    shot: str,
    image: ImageLike | bytes,
    artist: str,
    *,
    origin: str = "hand-painted",
    plate: str = PLATE,
    filename: str | None = None,
    active_seconds: float = 0.0,
    original: bytes | None = None,
) -> Recorded:
    """``plate.imported``: start a plate without AI, from a hand-painted plate (every pixel
    credited to ``artist``), a layout or a blank canvas (a HUMAN_BASE nobody is credited for
    painting). Only for a plate with no versions: over an existing plate, use
    :func:`record_final`, whose visible-change test attributes only what changed.
    ``active_seconds`` and ``original`` (the file as handed in) as for :func:`record_paint`."""
    shot, plate = check_names(shot, plate)
    arr = as_array(image, "RGB", filename or f"plate for shot {shot}")
    stored = store_pixels(project, "image", arr, original)
    first = _first_import(
        project,
        shot,
        plate,
        artist,
        arr,
        stored["image"],
        stored.get("original"),
        origin=origin,
        filename=filename,
        active_seconds=active_seconds,
    )
    with project.ledger.write() as tx:
        plate_row = tx.plate(shot, plate)
        assert plate_row is not None
        if tx.current_version(plate_row) is not None:
            raise InputError(
                f"shot {shot}: plate '{plate}' already has versions; import the repainted plate "
                "with import-final instead"
            )
        return recorded(first(tx, plate_row))


def _first_import(
    project: Project,
    shot: str,
    plate: str,
    artist: str,
    arr: np.ndarray,
    image_sha: str,
    original_sha: str | None,
    *,
    origin: str,
    filename: str | None,
    active_seconds: float,
) -> FirstVersion:
    """A ``plate.imported`` act of ``arr``, checked now; its blobs are stored already (see
    :func:`store_pixels`): the PNG of ``arr`` and perhaps the original. The function returned
    appends it to a plate with no version yet, in the caller's transaction, so that the
    caller decides "is the plate empty?" and writes in one go."""
    if origin not in ("hand-painted", "layout", "blank"):
        raise InputError(f"origin '{origin}': must be hand-painted, layout or blank")
    payload = {
        "origin": origin,
        "filename": filename,
        "active_seconds": check_seconds(active_seconds),
    }
    blobs = {} if original_sha is None else {"original": original_sha}
    raster = contrib.imported(arr.shape[1], arr.shape[0], origin)

    def write(tx: WriteTx, plate_row: Plate) -> Event:
        tx.ensure_user(artist)
        return new_version(
            project,
            tx,
            plate_row,
            shot=shot,
            plate_name=plate,
            kind=Kind.PLATE_IMPORTED,
            actor=artist,
            base=None,
            image=arr,
            raster=raster,
            payload=payload,
            blobs=blobs,
            image_sha=image_sha,
        )

    return write


def record_paint(
    project: Project,
    shot: str,
    layer_rgba: ImageLike | bytes,
    artist: str,
    active_seconds: float = 0.0,
    *,
    plate: str = PLATE,
    source: str = "brush",
    filename: str | None = None,
    original: bytes | None = None,
    idem_key: str | None = None,
) -> Recorded:
    """``human.painted``: an RGBA paint layer (the UI brush layer, or one painted in an
    external app: ``source="layer"``) laid over the current plate. Credit follows
    :func:`bgart.provenance.edits.paint`. ``active_seconds`` is the editing time measured by the
    UI (0 when unknown). An external layer without a transparent pixel (a JPEG, an RGB
    PNG, a layer saved flattened) is refused: it is a whole plate, for :func:`record_final`."""
    shot, plate = check_names(shot, plate)
    name = filename or f"paint layer for shot {shot}"
    layer = as_array(layer_rgba, "RGBA", name)
    if source == "layer" and layer.size and int(layer[..., 3].min()) == 255:
        # A file with no alpha (a JPEG, an RGB PNG) reads as opaque everywhere: laid over
        # the plate it would replace it and credit every pixel to the artist.
        raise InputError(
            f"{name}: no transparent pixel (no alpha channel, or one opaque everywhere): as a "
            "paint layer it would cover the whole plate; a paint layer's alpha is its "
            "strokes, a finished plate goes in with `bgart ledger import-final`"
        )
    return _painted(
        project,
        shot,
        plate,
        artist,
        name,
        layer,
        store_pixels(project, "layer", layer, original),
        apply=contrib.paint,
        source=source,
        filename=filename,
        active_seconds=active_seconds,
        idem_key=idem_key,
    )


def record_final(
    project: Project,
    shot: str,
    final_image: ImageLike | bytes,
    artist: str,
    active_seconds: float = 0.0,
    *,
    plate: str = PLATE,
    filename: str | None = None,
    original: bytes | None = None,
) -> Recorded:
    """A whole repainted plate (``bgart ledger import-final``).

    Over an existing plate it is a ``human.painted`` event with ``source="final"``: an opaque
    layer whose visibly changed pixels (not explained by a global tone adjustment) are
    credited to ``artist``. A plate with no version yet gets ``plate.imported``
    (hand-painted), with the same seconds and original. Which of the two is decided in the
    transaction that writes it: of two artists importing onto a new plate at once, the
    second one's final lands as a repaint of the first one's.
    """
    shot, plate = check_names(shot, plate)
    name = filename or f"final image for shot {shot}"
    arr = as_array(final_image, "RGB", name)
    stored = store_pixels(project, "final", arr, original)  # one PNG, whichever act it becomes
    # a layered PSD's pixels are composed by bgart from its layers: no codec noise
    codec = None if original is not None and original[:4] == b"8BPS" else contrib.codec_of(original)

    def apply(before: np.ndarray, raster: Raster, final_rgb: np.ndarray) -> Applied:
        return contrib.lossy_final(before, raster, final_rgb, codec)

    def returns(
        applied: Applied,
        before: np.ndarray,
        final_rgb: np.ndarray,
        history: list[contrib.Earlier],
        before_png: Callable[[], bytes],
    ) -> Applied:
        return contrib.restore_earlier(
            applied, before, final_rgb, history, codec=codec, before_png=before_png
        )

    first = _first_import(
        project,
        shot,
        plate,
        artist,
        arr,
        stored["final"],
        stored.get("original"),
        origin="hand-painted",
        filename=filename,
        active_seconds=active_seconds,
    )
    return _painted(
        project,
        shot,
        plate,
        artist,
        name,
        arr,
        stored,
        apply=apply,
        source="final",
        filename=filename,
        active_seconds=active_seconds,
        first=first,
        earlier=returns,
    )


def _painted(
    project: Project,
    shot: str,
    plate: str,
    artist: str,
    name: str,
    arr: np.ndarray,
    blobs: Mapping[str, str],
    *,
    apply: Callable[[np.ndarray, Raster, np.ndarray], Applied],
    source: str,
    filename: str | None,
    active_seconds: float,
    idem_key: str | None = None,
    first: FirstVersion | None = None,
    earlier: Returns | None = None,
) -> Recorded:
    """One ``human.painted`` event (a layer or a whole final) with its ``blobs`` (see
    :func:`store_pixels`). ``first``: what to record instead on a plate with no version;
    ``earlier``: a whole final's returns to earlier versions (see :func:`apply_edit`)."""
    return apply_edit(
        project,
        shot,
        plate,
        kind=Kind.HUMAN_PAINTED,
        actor=artist,
        what=name,
        arr=arr,
        apply=apply,
        blobs=blobs,
        payload={
            "source": source,
            "filename": filename,
            "active_seconds": check_seconds(active_seconds),
        },
        idem_key=idem_key,
        first=first,
        earlier=earlier,
    )


def record_adjust(
    project: Project,
    shot: str,
    adjusted: ImageLike | bytes,
    artist: str,
    operation: Mapping[str, Any] | None = None,
    active_seconds: float = 0.0,
    *,
    plate: str = PLATE,
) -> Recorded:
    """``human.adjusted``: the whole plate after a technical edit (levels, colour balance…);
    ``operation`` describes it (e.g. ``{"op": "levels", "black": 10}``). No authorship
    changes; visibly changed pixels count towards ``adjust_share``."""
    shot, plate = check_names(shot, plate)
    name = f"adjusted image for shot {shot}"
    arr = as_array(adjusted, "RGB", name)
    blobs = store_pixels(project, "adjusted", arr, None)
    return apply_edit(
        project,
        shot,
        plate,
        kind=Kind.HUMAN_ADJUSTED,
        actor=artist,
        what=name,
        arr=arr,
        apply=contrib.adjust,
        blobs=blobs,
        payload={
            "operation": dict(operation or {}),
            "active_seconds": check_seconds(active_seconds),
        },
    )


def record_inpaint(
    project: Project,
    shot: str,
    result_png: bytes,
    mask: ImageLike | bytes,
    record: GenerationRecord,
    mask_author: str,
    *,
    plate: str = PLATE,
    active_seconds: float = 0.0,
    based_on: int | None = None,
) -> Recorded:
    """``ai.inpainted``: the engine's inpainting result for a mask drawn by ``mask_author``.

    Only the masked pixels (mask ≥ 50 %) are taken from the result; pixels there that visibly
    changed become AI_INPAINT (see :func:`bgart.provenance.edits.inpaint`). ``based_on``: the
    plate version the engine was given; if another version was saved while it worked, the
    result is refused (it would paint over that work inside the mask) and nothing is recorded.
    """
    shot, plate = check_names(shot, plate)
    result = decode_user(result_png, "RGB", f"inpaint result for shot {shot}")
    if isinstance(mask, bytes):
        mask_arr = np.asarray(open_image(mask, mode=None, name=f"inpaint mask for shot {shot}"))
    elif isinstance(mask, Image.Image):
        mask_arr = np.asarray(mask if mask.mode in ("L", "RGBA", "LA") else mask.convert("L"))
    else:
        mask_arr = np.asarray(mask)
    if mask_arr.dtype == bool:
        mask_bool = mask_arr
    else:
        if mask_arr.ndim == 3 and mask_arr.shape[2] == 2:  # LA
            mask_arr = mask_arr[..., 1]
        mask_bool = contrib.mask_from_image(mask_arr.astype(np.uint8))
    mask_png = encode_png(mask_bool.astype(np.uint8) * np.uint8(255))
    result_sha = project.blobs.put(result_png, "png")
    mask_sha = project.blobs.put(mask_png, "png")
    ys, xs = np.nonzero(mask_bool)
    bbox = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1] if xs.size else None

    def apply(before: np.ndarray, raster: Raster, res: np.ndarray) -> Applied:
        return contrib.inpaint(before, raster, res, mask_bool)

    if mask_bool.shape != result.shape[:2]:
        raise InputError(
            f"inpaint mask for shot {shot}: is {mask_bool.shape[1]}x{mask_bool.shape[0]} but the "
            f"result is {result.shape[1]}x{result.shape[0]}"
        )
    return apply_edit(
        project,
        shot,
        plate,
        kind=Kind.AI_INPAINTED,
        actor=record.model,
        what=f"inpaint result for shot {shot}",
        arr=result,
        apply=apply,
        blobs={"result": result_sha, "mask": mask_sha},
        payload={
            "record": record.to_dict(),
            "directed_by": mask_author,
            "mask_bbox": bbox,
            "active_seconds": check_seconds(active_seconds),
        },
        human=mask_author,
        based_on=based_on,
    )


def undo(
    project: Project, shot: str, to_version: int, artist: str, *, plate: str = PLATE
) -> Recorded:
    """``plate.reverted``: a new version equal to version ``to_version`` (history is kept)."""
    shot, plate = check_names(shot, plate)
    with project.ledger.write() as tx:
        plate_row = tx.plate(shot, plate, create=False)
        if plate_row is None:
            raise InputError(f"shot {shot}: no plate '{plate}'")
        cur = require_version(tx, plate_row, shot, plate)
        target = tx.version(plate_row, to_version)
        if target is None:
            raise InputError(f"shot {shot}: no version {to_version} (latest is {cur.number})")
        if target.number == cur.number:
            raise InputError(f"shot {shot}: version {to_version} is already the latest")
        tx.ensure_user(artist)
        state = load_state(project, target)
        ev = new_version(
            project,
            tx,
            plate_row,
            shot=shot,
            plate_name=plate,
            kind=Kind.PLATE_REVERTED,
            actor=artist,
            base=cur,
            image=state.image,
            raster=state.raster,
            payload={"to_version": target.number},
            blobs={},
            image_sha=target.image_sha,
            raster_sha=target.raster_sha,
            source_candidate=target.source_candidate,
        )
        return recorded(ev)
