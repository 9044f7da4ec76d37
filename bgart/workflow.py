"""The one place that turns a user's act into blobs, ledger events and plate versions.

The engine, the UI, the batch runner and the CLI call these functions; none of them writes
events itself. Each act runs in one ledger write transaction (holding the chain lock), so the
plate version it builds on is the plate's latest, even with several processes at work.

Acts and the events they record (payload fields in docs/contribution.md):

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
submit                      plate.submitted         no (the artist hands the plate in for review)
accept / reject             plate.accepted/rejected no
==========================  ======================  ==========================================

A shot holds one or more plates (``plate="main"`` unless given).
"""

from __future__ import annotations

import gc
import io
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bgart import contribution as contrib
from bgart.contribution import Applied, Raster
from bgart.errors import InputError, LedgerIntegrityError
from bgart.images import open_image, to_mode
from bgart.ledger import (
    Candidate,
    ChainChecker,
    Event,
    EventRow,
    Plate,
    PlateVersion,
    Shot,
    WriteTx,
    check_name,
)
from bgart.record import GenerationRecord
from bgart.store import Project

PLATE = "main"
REVIEWER_ROLES = ("director", "admin")
"""Roles whose accept/reject counts: the approval credited in the report."""
VERSION_KINDS = (
    "ai.generated",
    "variation.selected",
    "plate.imported",
    "human.painted",
    "ai.inpainted",
    "human.adjusted",
    "plate.reverted",
)
HUMAN_KINDS = (
    "layout.imported",
    "variation.selected",
    "plate.imported",
    "human.painted",
    "human.adjusted",
    "plate.reverted",
    "plate.submitted",
    "plate.accepted",
    "plate.rejected",
)
_CACHE_SIZE = 4

ImageLike = Image.Image | np.ndarray


@dataclass(frozen=True)
class Recorded:
    """What an act recorded."""

    kind: str
    seq: int
    event_id: str
    hash: str
    version: int | None = None
    image_sha: str | None = None
    raster_sha: str | None = None
    candidate: int | None = None
    stats: dict[str, int] = field(default_factory=dict)
    duplicate: bool = False  # the act was already recorded (idempotency key matched)


@dataclass(frozen=True)
class PlateState:
    """A plate version's pixels and raster (arrays are read-only)."""

    number: int
    image: np.ndarray
    raster: Raster
    image_sha: str
    raster_sha: str


# --- encoding helpers ----------------------------------------------------------------------


def encode_png(arr: np.ndarray) -> bytes:
    """PNG bytes of an (h, w, 3|4) uint8 array or (h, w) mask; deterministic."""
    mode = {2: "L", 3: "RGB", 4: "RGBA"}[arr.ndim if arr.ndim == 2 else arr.shape[2]]
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr, np.uint8), mode).save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def _decode(data: bytes, mode: str, name: str) -> np.ndarray:
    return np.asarray(open_image(data, mode=mode, name=name))


def _decode_blob(data: bytes, mode: str, what: str) -> np.ndarray:
    """Decode a blob bgart wrote itself (hash already checked): no user-file niceties."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            return np.asarray(img if img.mode == mode else to_mode(img, mode))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise LedgerIntegrityError(f"{what}: cannot be decoded ({exc})") from None


def _as_array(img: ImageLike | bytes, mode: str, name: str) -> np.ndarray:
    if isinstance(img, bytes):
        return _decode(img, mode, name)
    if isinstance(img, Image.Image):
        return np.asarray(to_mode(img, mode))
    arr = np.asarray(img)
    channels = {"RGB": 3, "RGBA": 4, "L": None}[mode]
    if arr.dtype != np.uint8:
        raise InputError(f"{name}: expected 8-bit pixels, got {arr.dtype}")
    if (channels is None and arr.ndim != 2) or (
        channels is not None and (arr.ndim != 3 or arr.shape[2] != channels)
    ):
        raise InputError(f"{name}: expected {mode} pixels, got an array of shape {arr.shape}")
    return arr


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.setflags(write=False)
    return arr


def _load_state(project: Project, pv: PlateVersion) -> PlateState:
    key = ("plate-state", pv.image_sha, pv.raster_sha)
    hit = project.cache.get(key)
    if isinstance(hit, tuple):
        image, raster = hit
    else:
        image = _decode_blob(
            project.blobs.get(pv.image_sha), "RGB", f"plate image {pv.image_sha[:12]}"
        )
        try:
            raster = Raster.from_bytes(project.blobs.get(pv.raster_sha))
        except ValueError as exc:
            raise LedgerIntegrityError(f"raster blob {pv.raster_sha}: {exc}") from None
        _remember(project, key, (image, raster))
    return PlateState(pv.number, image, raster, pv.image_sha, pv.raster_sha)


def _remember(
    project: Project, key: tuple[str, str, str], value: tuple[np.ndarray, Raster]
) -> None:
    image, raster = value
    _readonly(image)
    for arr in (raster.cls, raster.human, raster.flags):
        _readonly(arr)
    states = [k for k in project.cache if isinstance(k, tuple) and k[:1] == ("plate-state",)]
    for old in states[: max(0, len(states) - _CACHE_SIZE + 1)]:
        del project.cache[old]
    project.cache[key] = value


def _recorded(
    ev: Event | EventRow,
    *,
    duplicate: bool = False,
    pv: PlateVersion | None = None,
    candidate: int | None = None,
) -> Recorded:
    payload = ev.payload_dict if isinstance(ev, Event) else ev.payload
    blobs = ev.blob_map if isinstance(ev, Event) else ev.blobs
    return Recorded(
        kind=ev.kind,
        seq=ev.seq,
        event_id=ev.id,
        hash=ev.hash,
        version=payload.get("version"),
        image_sha=blobs.get("image"),
        raster_sha=blobs.get("raster"),
        candidate=candidate if candidate is not None else payload.get("candidate"),
        stats=dict(payload.get("stats", {})),
        duplicate=duplicate,
    )


def _require_version(tx: WriteTx, plate: Plate, shot: str, plate_name: str) -> PlateVersion:
    cur = tx.current_version(plate)
    if cur is None:
        raise InputError(
            f"shot {shot}: plate '{plate_name}' has no image yet (generate or import one first)"
        )
    return cur


def _check_size(state: PlateState, arr: np.ndarray, what: str) -> None:
    h, w = state.image.shape[:2]
    if arr.shape[:2] != (h, w):
        raise InputError(f"{what}: is {arr.shape[1]}x{arr.shape[0]} but the plate is {w}x{h}")


def _new_version(
    project: Project,
    tx: WriteTx,
    plate: Plate,
    *,
    shot: str,
    plate_name: str,
    kind: str,
    actor: str,
    actor_kind: str,
    base: PlateVersion | None,
    image: np.ndarray,
    raster: Raster,
    payload: Mapping[str, Any],
    blobs: Mapping[str, str],
    image_sha: str | None = None,
    raster_sha: str | None = None,
    stats: Mapping[str, int] | None = None,
    source_candidate: int | None = None,
    idem_key: str | None = None,
) -> Event:
    """Store the new pixels and raster, append the event and the version row."""
    if image_sha is None:
        image_sha = project.blobs.put(encode_png(image), "png")
    if raster_sha is None:
        raster_sha = project.blobs.put(raster.to_bytes(), "raster")
    number = base.number + 1 if base else 1
    full_payload = {
        **payload,
        "base_version": base.number if base else None,
        "version": number,
        "contribution": contrib.DEFINITION_VERSION,
    }
    if stats is not None:
        full_payload["stats"] = dict(stats)
    ev = tx.append(
        kind,
        actor=actor,
        actor_kind=actor_kind,
        shot=shot,
        plate=plate_name,
        payload=full_payload,
        blobs={**blobs, "image": image_sha, "raster": raster_sha},
        idem_key=idem_key,
    )
    tx.add_version(
        plate,
        ev,
        image_sha=image_sha,
        raster_sha=raster_sha,
        width=int(image.shape[1]),
        height=int(image.shape[0]),
        source_candidate=source_candidate,
    )
    _remember(project, ("plate-state", image_sha, raster_sha), (image, raster))
    return ev


def _names(shot: str, plate: str) -> tuple[str, str]:
    return check_name(shot, "shot"), check_name(plate, "plate")


# --- acts ----------------------------------------------------------------------------------


def record_layout(
    project: Project, shot: str, layout_bytes: bytes, artist: str, *, filename: str | None = None
) -> Recorded:
    """``layout.imported``: keep the layout sketch for the shot, credited to ``artist``."""
    shot = check_name(shot, "shot")
    img = open_image(layout_bytes, mode=None, name=filename or f"layout for shot {shot}")
    sha = project.blobs.put(layout_bytes, "png" if img.format == "PNG" else "bin")
    key = f"layout.imported/{shot}/{sha}"
    with project.ledger.write() as tx:
        if (ev := tx.find_event(key)) is not None:
            return _recorded(ev, duplicate=True)
        tx.shot(shot)
        tx.ensure_user(artist)
        ev = tx.append(
            "layout.imported",
            actor=artist,
            actor_kind="human",
            shot=shot,
            payload={"filename": filename, "width": img.width, "height": img.height},
            blobs={"layout": sha},
            idem_key=key,
        )
        return _recorded(ev)


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
    shot, plate = _names(shot, plate)
    if record.mode == "inpaint":
        raise InputError(f"shot {shot}: an inpainting record goes through record_inpaint")
    arr = _decode(image_png_bytes, "RGB", f"generated image for shot {shot}")
    if (arr.shape[1], arr.shape[0]) != (record.width, record.height):
        raise InputError(
            f"generated image for shot {shot}: is {arr.shape[1]}x{arr.shape[0]} but its record "
            f"says {record.width}x{record.height}"
        )
    sha = project.blobs.put(image_png_bytes, "png")
    key = f"ai.generated/{shot}/{plate}/{sha}"
    with project.ledger.write() as tx:
        if (ev := tx.find_event(key)) is not None:
            return _recorded(ev, duplicate=True)
        plate_row = tx.plate(shot, plate)
        assert plate_row is not None
        if requested_by:
            tx.ensure_user(requested_by)
        cur = tx.current_version(plate_row)
        number = len(tx.candidates(plate_row)) + 1
        payload = {"record": record.to_dict(), "requested_by": requested_by, "candidate": number}
        if cur is None:
            ev = _new_version(
                project,
                tx,
                plate_row,
                shot=shot,
                plate_name=plate,
                kind="ai.generated",
                actor=record.model,
                actor_kind="ai",
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
                "ai.generated",
                actor=record.model,
                actor_kind="ai",
                shot=shot,
                plate=plate,
                payload={**payload, "version": None},
                blobs={"image": sha},
                idem_key=key,
            )
        tx.add_candidate(plate_row, sha, ev)
        return _recorded(ev, candidate=number)


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
    shot, plate = _names(shot, plate)
    with project.ledger.write() as tx:
        plate_row = tx.plate(shot, plate, create=False)
        cands = tx.candidates(plate_row) if plate_row else []
        if not cands or plate_row is None:
            raise InputError(f"shot {shot}: no generated candidates to choose from")
        chosen = _find_candidate(cands, candidate, shot)
        tx.ensure_user(artist)
        cur = tx.current_version(plate_row)
        base_state = _load_state(project, cur) if cur else None
        arr = (
            base_state.image
            if base_state is not None and base_state.image_sha == chosen.image_sha
            else _decode_blob(
                project.blobs.get(chosen.image_sha), "RGB", f"candidate {chosen.number}"
            )
        )
        ev = _new_version(
            project,
            tx,
            plate_row,
            shot=shot,
            plate_name=plate,
            kind="variation.selected",
            actor=artist,
            actor_kind="human",
            base=cur,
            image=arr,
            raster=contrib.generated(arr.shape[1], arr.shape[0]),
            payload={"candidate": chosen.number, "candidates": len(cands)},
            blobs={"candidate": chosen.image_sha},
            image_sha=chosen.image_sha,
            source_candidate=chosen.number,
        )
        return _recorded(ev)


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
) -> Recorded:
    """``plate.imported``: start a plate without AI, from a hand-painted plate (every pixel
    credited to ``artist``), a layout or a blank canvas (a HUMAN_BASE nobody is credited for
    painting). Only for a plate with no versions: over an existing plate, use
    :func:`record_final`, whose visible-change test attributes only what changed."""
    shot, plate = _names(shot, plate)
    if origin not in ("hand-painted", "layout", "blank"):
        raise InputError(f"origin '{origin}': must be hand-painted, layout or blank")
    arr = _as_array(image, "RGB", filename or f"plate for shot {shot}")
    with project.ledger.write() as tx:
        plate_row = tx.plate(shot, plate)
        assert plate_row is not None
        if tx.current_version(plate_row) is not None:
            raise InputError(
                f"shot {shot}: plate '{plate}' already has versions; import the repainted plate "
                "with import-final instead"
            )
        tx.ensure_user(artist)
        ev = _new_version(
            project,
            tx,
            plate_row,
            shot=shot,
            plate_name=plate,
            kind="plate.imported",
            actor=artist,
            actor_kind="human",
            base=None,
            image=arr,
            raster=contrib.imported(arr.shape[1], arr.shape[0], origin),
            payload={"origin": origin, "filename": filename},
            blobs={},
        )
        return _recorded(ev)


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
    :func:`bgart.contribution.paint`. ``active_seconds`` is the editing time measured by the
    UI (0 when unknown)."""
    shot, plate = _names(shot, plate)
    name = filename or f"paint layer for shot {shot}"
    layer = _as_array(layer_rgba, "RGBA", name)
    layer_sha = project.blobs.put(encode_png(layer), "png")
    blobs = {"layer": layer_sha}
    if original is not None:
        blobs["original"] = project.blobs.put(original, "bin")
    return _edit(
        project,
        shot,
        plate,
        kind="human.painted",
        actor=artist,
        what=name,
        arr=layer,
        apply=contrib.paint,
        blobs=blobs,
        payload={
            "source": source,
            "filename": filename,
            "active_seconds": _seconds(active_seconds),
        },
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
    credited to ``artist``. A shot with no plate yet gets ``plate.imported`` (hand-painted).
    """
    shot, plate = _names(shot, plate)
    name = filename or f"final image for shot {shot}"
    arr = _as_array(final_image, "RGB", name)
    with project.ledger.write() as tx:
        plate_row = tx.plate(shot, plate)
        has_version = plate_row is not None and tx.current_version(plate_row) is not None
    if not has_version:
        return record_base(
            project, shot, arr, artist, origin="hand-painted", plate=plate, filename=filename
        )
    final_sha = project.blobs.put(encode_png(arr), "png")
    blobs = {"final": final_sha}
    if original is not None:
        blobs["original"] = project.blobs.put(original, "bin")
    return _edit(
        project,
        shot,
        plate,
        kind="human.painted",
        actor=artist,
        what=name,
        arr=arr,
        apply=contrib.final,
        blobs=blobs,
        payload={
            "source": "final",
            "filename": filename,
            "active_seconds": _seconds(active_seconds),
        },
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
    shot, plate = _names(shot, plate)
    name = f"adjusted image for shot {shot}"
    arr = _as_array(adjusted, "RGB", name)
    sha = project.blobs.put(encode_png(arr), "png")
    return _edit(
        project,
        shot,
        plate,
        kind="human.adjusted",
        actor=artist,
        what=name,
        arr=arr,
        apply=contrib.adjust,
        blobs={"adjusted": sha},
        payload={"operation": dict(operation or {}), "active_seconds": _seconds(active_seconds)},
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
    changed become AI_INPAINT (see :func:`bgart.contribution.inpaint`). ``based_on``: the
    plate version the engine was given; if another version was saved while it worked, the
    result is refused (it would paint over that work inside the mask) and nothing is recorded.
    """
    shot, plate = _names(shot, plate)
    result = _decode(result_png, "RGB", f"inpaint result for shot {shot}")
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
    return _edit(
        project,
        shot,
        plate,
        kind="ai.inpainted",
        actor=record.model,
        actor_kind="ai",
        what=f"inpaint result for shot {shot}",
        arr=result,
        apply=apply,
        blobs={"result": result_sha, "mask": mask_sha},
        payload={
            "record": record.to_dict(),
            "directed_by": mask_author,
            "mask_bbox": bbox,
            "active_seconds": _seconds(active_seconds),
        },
        human=mask_author,
        based_on=based_on,
    )


def _edit(
    project: Project,
    shot: str,
    plate: str,
    *,
    kind: str,
    actor: str,
    what: str,
    arr: np.ndarray,
    apply: Callable[[np.ndarray, Raster, np.ndarray], Applied],
    blobs: Mapping[str, str],
    payload: Mapping[str, Any],
    actor_kind: str = "human",
    human: str | None = None,
    idem_key: str | None = None,
    based_on: int | None = None,
) -> Recorded:
    """Apply an edit to the plate's latest version inside one locked transaction
    (``based_on``: refuse unless that is still the latest version)."""
    with project.ledger.write() as tx:
        if idem_key is not None and (ev := tx.find_event(idem_key)) is not None:
            return _recorded(ev, duplicate=True)
        plate_row = tx.plate(shot, plate)
        assert plate_row is not None
        cur = _require_version(tx, plate_row, shot, plate)
        if based_on is not None and cur.number != based_on:
            raise InputError(
                f"{what}: made from version {based_on}, but version {cur.number} was saved "
                "meanwhile; nothing recorded: run it again on the current plate"
            )
        state = _load_state(project, cur)
        _check_size(state, arr, what)
        if actor_kind == "human":
            tx.ensure_user(actor)
        if human:
            tx.ensure_user(human)
        applied = apply(state.image, state.raster, arr)
        ev = _new_version(
            project,
            tx,
            plate_row,
            shot=shot,
            plate_name=plate,
            kind=kind,
            actor=actor,
            actor_kind=actor_kind,
            base=cur,
            image=applied.image,
            raster=applied.raster,
            payload=payload,
            blobs=blobs,
            stats=applied.stats,
            source_candidate=cur.source_candidate,
            idem_key=idem_key,
        )
        return _recorded(ev)


def undo(
    project: Project, shot: str, to_version: int, artist: str, *, plate: str = PLATE
) -> Recorded:
    """``plate.reverted``: a new version equal to version ``to_version`` (history is kept)."""
    shot, plate = _names(shot, plate)
    with project.ledger.write() as tx:
        plate_row = tx.plate(shot, plate, create=False)
        if plate_row is None:
            raise InputError(f"shot {shot}: no plate '{plate}'")
        cur = _require_version(tx, plate_row, shot, plate)
        target = tx.version(plate_row, to_version)
        if target is None:
            raise InputError(f"shot {shot}: no version {to_version} (latest is {cur.number})")
        if target.number == cur.number:
            raise InputError(f"shot {shot}: version {to_version} is already the latest")
        tx.ensure_user(artist)
        state = _load_state(project, target)
        ev = _new_version(
            project,
            tx,
            plate_row,
            shot=shot,
            plate_name=plate,
            kind="plate.reverted",
            actor=artist,
            actor_kind="human",
            base=cur,
            image=state.image,
            raster=state.raster,
            payload={"to_version": target.number},
            blobs={},
            image_sha=target.image_sha,
            raster_sha=target.raster_sha,
            source_candidate=target.source_candidate,
        )
        return _recorded(ev)


def accept(
    project: Project, shot: str, approver: str, comment: str = "", *, plate: str = PLATE
) -> Recorded:
    """``plate.accepted``: ``approver`` accepts the plate's latest version."""
    return _decide(project, shot, plate, "plate.accepted", approver, comment)


def reject(
    project: Project, shot: str, approver: str, comment: str = "", *, plate: str = PLATE
) -> Recorded:
    """``plate.rejected``: ``approver`` rejects the plate's latest version."""
    return _decide(project, shot, plate, "plate.rejected", approver, comment)


def review(
    project: Project,
    shot: str,
    decision: str,
    approver: str,
    comment: str = "",
    *,
    plate: str = PLATE,
) -> Recorded:
    """Accept or reject the plate's latest version, as a director or admin of the project.

    The rules every front end shares (UI and CLI): the approver must be a project user with a
    reviewer role, and a rejection must say what to change.
    """
    act = {"accept": accept, "reject": reject}.get(decision)
    if act is None:
        raise InputError(f"decision '{decision}': accept or reject")
    name = (approver or "").strip()
    user = project.ledger.user(name)
    if user is None:
        raise InputError(
            f"approver '{name}': not a user of this project "
            "(add one with: bgart users add NAME --role director)"
        )
    if user.role not in REVIEWER_ROLES:
        raise InputError(
            f"approver '{name}' ({user.role}): only directors and admins accept or reject plates"
        )
    comment = (comment or "").strip()
    if decision == "reject" and not comment:
        raise InputError("reject: say what to change in the comment")
    return act(project, shot, user.name, comment, plate=plate)


def submit(
    project: Project, shot: str, artist: str, comment: str = "", *, plate: str = PLATE
) -> Recorded:
    """``plate.submitted``: ``artist`` hands the plate's latest version in for review."""
    return _decide(project, shot, plate, "plate.submitted", artist, comment)


def _decide(
    project: Project, shot: str, plate: str, kind: str, approver: str, comment: str
) -> Recorded:
    shot, plate = _names(shot, plate)
    with project.ledger.write() as tx:
        plate_row = tx.plate(shot, plate, create=False)
        if plate_row is None:
            raise InputError(f"shot {shot}: no plate '{plate}' to review")
        cur = _require_version(tx, plate_row, shot, plate)
        tx.ensure_user(approver)
        ev = tx.append(
            kind,
            actor=approver,
            actor_kind="human",
            shot=shot,
            plate=plate,
            payload={"version": cur.number, "comment": comment},
        )
        return _recorded(ev)


def _seconds(value: float) -> float:
    value = float(value)
    if not value >= 0 or value == float("inf"):
        raise InputError(f"active seconds: must be a non-negative number, got {value}")
    return round(value, 3)


# --- reading -------------------------------------------------------------------------------


def plate_versions(project: Project, shot: str, *, plate: str = PLATE) -> list[PlateVersion]:
    from sqlalchemy import select

    with project.ledger.read() as s:
        return list(
            s.execute(
                select(PlateVersion)
                .join(Plate, Plate.id == PlateVersion.plate_id)
                .join(Shot, Shot.id == Plate.shot_id)
                .where(Shot.code == shot, Plate.name == plate)
                .order_by(PlateVersion.number)
            ).scalars()
        )


def plate_names(project: Project, shot: str) -> list[str]:
    from sqlalchemy import select

    with project.ledger.read() as s:
        return list(
            s.execute(
                select(Plate.name)
                .join(Shot, Shot.id == Plate.shot_id)
                .where(Shot.code == shot)
                .order_by(Plate.id)
            ).scalars()
        )


def plate_state(
    project: Project, shot: str, *, plate: str = PLATE, version: int | None = None
) -> PlateState:
    """The pixels and raster of a plate version (the latest unless ``version``)."""
    versions = plate_versions(project, shot, plate=plate)
    if not versions:
        raise InputError(f"shot {shot}: plate '{plate}' has no versions")
    if version is None:
        return _load_state(project, versions[-1])
    for pv in versions:
        if pv.number == version:
            return _load_state(project, pv)
    raise InputError(f"shot {shot}: no version {version} (latest is {versions[-1].number})")


def plate_figures(
    project: Project, shot: str, *, plate: str = PLATE, version: int | None = None
) -> dict[str, Any]:
    """All contribution figures of a plate version (the latest unless ``version``).

    Raster shares come from the version's raster; effort figures (candidates, masks, seconds)
    sum every event of the plate up to that version.
    """
    state = plate_state(project, shot, plate=plate, version=version)
    events = project.ledger.events(shot=shot, plate=plate)
    upto = next(
        (
            ev.seq
            for ev in events
            if ev.payload.get("version") == state.number and ev.kind in VERSION_KINDS
        ),
        None,
    )
    if version is None or upto is None:
        relevant = events
    else:
        relevant = [ev for ev in events if ev.seq <= upto]
    figs: dict[str, Any] = {"shot": shot, "plate": plate, "version": state.number}
    figs.update(contrib.figures(state.raster))
    candidates = [ev for ev in relevant if ev.kind == "ai.generated"]
    inpaints = [ev for ev in relevant if ev.kind == "ai.inpainted"]
    gpu_calls: dict[tuple[Any, ...], float] = {}
    for ev in candidates + inpaints:
        rec = ev.payload.get("record", {})
        # One batched call yields several images sharing seeds and seconds: count it once.
        call = (
            ev.kind,
            tuple(rec.get("seeds", ())),
            rec.get("prompt"),
            rec.get("seconds"),
            rec.get("init_sha256"),
            ev.seq if not rec.get("seeds") else 0,
        )
        gpu_calls[call] = float(rec.get("seconds") or 0.0)
    versions = plate_versions(project, shot, plate=plate)
    current = next(pv for pv in versions if pv.number == state.number)
    decisions = [ev for ev in relevant if ev.kind in ("plate.accepted", "plate.rejected")]
    last = decisions[-1] if decisions else None
    if last is None or last.payload.get("version") != state.number:
        status, approver, comment = "open", None, None
    else:
        status = "accepted" if last.kind == "plate.accepted" else "rejected"
        approver, comment = last.actor, last.payload.get("comment")
    painters = sorted(
        {
            ev.actor
            for ev in relevant
            if ev.kind == "human.painted"
            or (ev.kind == "plate.imported" and ev.payload.get("origin") == "hand-painted")
        }
    )
    figs.update(
        {
            "candidates": len(candidates),
            "selections": sum(1 for ev in relevant if ev.kind == "variation.selected"),
            "chosen_candidate": current.source_candidate,
            "masks": len(inpaints),
            "mask_area_px": sum(
                int(ev.payload.get("stats", {}).get("mask_px", 0)) for ev in inpaints
            ),
            "active_seconds": round(
                sum(
                    float(ev.payload.get("active_seconds") or 0.0)
                    for ev in relevant
                    if ev.actor_kind == "human" or ev.kind == "ai.inpainted"
                ),
                3,
            ),
            "gpu_seconds": round(sum(gpu_calls.values()), 3),
            "status": status,
            "approver": approver,
            "review_comment": comment,
            "painters": painters,
            "mask_authors": sorted({ev.payload.get("directed_by") for ev in inpaints} - {None}),
            "layout_artists": sorted(
                {ev.actor for ev in project.ledger.events(shot=shot, kinds=("layout.imported",))}
            ),
            "models": sorted({ev.actor for ev in candidates + inpaints}),
            "events": len(relevant),
            "contribution_definition": contrib.DEFINITION_VERSION,
        }
    )
    figs["mask_area_share"] = figs["mask_area_px"] / figs["pixels"] if figs["pixels"] else 0.0
    return figs


def heatmap(
    project: Project,
    shot: str,
    *,
    plate: str = PLATE,
    version: int | None = None,
    legend: bool = True,
) -> Image.Image:
    """The provenance heat map of a plate version (see :func:`bgart.contribution.heatmap`)."""
    state = plate_state(project, shot, plate=plate, version=version)
    return contrib.heatmap(state.raster, state.image, legend=legend)


# --- shot overview (the UI's shot list) ---------------------------------------------------

SHOT_STATUSES = ("no plate", "generated", "in retouch", "submitted", "accepted", "rejected")
_REVIEW_STATUS = {
    "plate.submitted": "submitted",
    "plate.accepted": "accepted",
    "plate.rejected": "rejected",
}


def shot_codes(project: Project) -> list[str]:
    """Every shot the ledger knows (shots with at least one event), in the order first seen."""
    from sqlalchemy import select

    with project.ledger.read() as s:
        return list(s.execute(select(Shot.code).order_by(Shot.id)).scalars())


def shot_status(project: Project, shot: str, *, plate: str = PLATE) -> str:
    """Where a shot's plate stands, one of :data:`SHOT_STATUSES`.

    ``no plate`` until a version exists; ``submitted`` / ``accepted`` / ``rejected`` while the
    latest review act concerns the latest version; otherwise ``generated`` when the latest
    version is untouched AI output (a generation or a pick) and ``in retouch`` after any edit.
    """
    events = project.ledger.events(shot=shot, plate=plate)
    versions = [ev for ev in events if ev.kind in VERSION_KINDS and ev.payload.get("version")]
    if not versions:
        return "no plate"
    latest = versions[-1]
    reviews = [ev for ev in events if ev.kind in _REVIEW_STATUS and ev.seq > latest.seq]
    if reviews and reviews[-1].payload.get("version") == latest.payload["version"]:
        return _REVIEW_STATUS[reviews[-1].kind]
    return "generated" if latest.kind in ("ai.generated", "variation.selected") else "in retouch"


def shot_layout(project: Project, shot: str) -> bytes | None:
    """The bytes of the shot's latest imported layout, or None when it has none."""
    events = project.ledger.events(shot=shot, kinds=("layout.imported",))
    return project.blobs.get(events[-1].blobs["layout"]) if events else None


# --- verification --------------------------------------------------------------------------


@dataclass
class VerifyReport:
    events: int = 0
    blobs: int = 0
    versions: int = 0
    head_hash: str = ""
    replayed: int = 0  # plate events whose raster was recomputed in this run


@dataclass
class _PlateReplay:
    versions: dict[int, tuple[str, str]] = field(default_factory=dict)  # n -> image, raster
    candidates: list[str] = field(default_factory=list)
    source: dict[int, int | None] = field(default_factory=dict)  # n -> source candidate
    last: tuple[int, np.ndarray, Raster] | None = None


def verify_project(
    project: Project,
    *,
    blobs: bool = True,
    rasters: bool = True,
    anchor: str | None = None,
    shots: Collection[str] | None = None,
    progress: Callable[[int], None] | None = None,
    since: tuple[int, str] | None = None,
    workers: int | None = None,
) -> VerifyReport:
    """Recompute the chain, every blob hash and every plate version from the blobs.

    Raises :class:`LedgerIntegrityError` naming the first bad event (by seq, id and kind) or
    table row. ``anchor``: a head hash recorded earlier (e.g. printed in a credit report);
    the chain must still contain it. ``shots``: recompute rasters of these shots only (the
    chain, the blobs and the version numbering are still checked everywhere). ``since``:
    (seq, hash) of a head an earlier full run verified (bgart.verified): the event at that seq
    must still have that hash, and rasters are recomputed only after it. ``workers``:
    processes for the raster replay (default: one per CPU, up to 8, when there is enough to
    replay); plates are independent, so they are replayed side by side and the failure with
    the lowest seq is reported.
    """
    checker = ChainChecker()
    n_workers = _replay_workers(workers)
    parallel = n_workers > 1 and rasters
    deferred: dict[tuple[str, str], list[tuple[EventRow, bool]]] = {}
    report = VerifyReport()
    blob_access = _Blobs(project, checked=blobs) if rasters and not parallel else None
    only = set(shots) if shots is not None else None
    checked_blobs: set[str] = set()
    plates: dict[tuple[str, str], _PlateReplay] = {}
    anchored = anchor is None
    if anchor is not None and len(anchor) < 12:
        raise InputError("anchor: give at least 12 hex digits of a head hash")
    stop: LedgerIntegrityError | None = None  # with deferred rasters: the loop's failure
    try:
        for raw in project.ledger.iter_rows():
            ev = checker.check(raw)
            anchored = anchored or ev.hash.startswith(anchor or "")
            done_before = since is not None and ev.seq <= since[0]
            if since is not None and ev.seq == since[0] and ev.hash != since[1]:
                raise LedgerIntegrityError(
                    f"{ev.label}: its hash is {ev.hash[:16]}…, but this machine verified "
                    f"{since[1][:16]}… for it earlier: the history was rewritten since (or this "
                    "is another copy of the ledger; --fresh replays it all)"
                )
            fresh: dict[str, bytes] = {}  # blobs read (and hashed) for this event
            if blobs:
                for role, sha in sorted(ev.blobs.items()):
                    if sha in checked_blobs:
                        continue
                    data, problem = project.blobs.read_checked(sha)
                    if problem or data is None:
                        raise LedgerIntegrityError(f"{ev.label}: {role} blob {sha}: {problem}")
                    checked_blobs.add(sha)
                    if blob_access is not None:
                        fresh[sha] = data
            if ev.plate is not None and ev.shot is not None:
                replay = plates.setdefault((ev.shot, ev.plate), _PlateReplay())
                wanted = (only is None or ev.shot in only) and not done_before
                if parallel:  # numbering now, rasters later in worker processes
                    deferred.setdefault((ev.shot, ev.plate), []).append((ev, wanted))
                    _replay_event(ev, replay, None)
                else:
                    access = blob_access if wanted else None
                    if access is not None:
                        access.fresh = fresh
                    report.replayed += _replay_event(ev, replay, access)
            report.events += 1
            if progress is not None and report.events % 1000 == 0:
                progress(report.events)
            if parallel and report.events % 10_000 == 0:
                # The deferred events live until the replay: keep the cyclic GC from
                # re-scanning them all on every full collection (quadratic on 100k events).
                gc.freeze()
    except LedgerIntegrityError as exc:
        if not parallel:
            raise
        stop = exc
    try:
        if parallel:  # a raster failure before the loop's failure is the first bad event
            report.replayed = _replay_in_processes(
                project, deferred, checked=blobs, workers=n_workers
            )
            if stop is not None:
                raise stop
    finally:
        deferred.clear()  # dropped by refcount before the frozen objects are scanned again
        gc.unfreeze()
    project.ledger.check_head(checker)
    if since is not None and report.events < since[0]:
        raise LedgerIntegrityError(
            f"the ledger ends at event #{report.events}, but this machine verified it up to "
            f"#{since[0]} earlier: events were removed (--fresh replays what is left)"
        )
    if not anchored:
        raise LedgerIntegrityError(f"no event has hash {anchor}… (the chain was rewritten)")
    _check_tables(project, plates)
    report.blobs = len(checked_blobs)
    report.versions = sum(len(p.versions) for p in plates.values())
    report.head_hash = checker.prev_hash
    return report


_PARALLEL_REPLAY_MIN = 2000  # plate events: below this, starting processes costs more


def _replay_workers(requested: int | None) -> int:
    import multiprocessing
    import os

    if "fork" not in multiprocessing.get_all_start_methods():
        return 1  # the workers inherit the replay plan by fork; elsewhere replay in-process
    if requested is not None:
        return max(1, requested)
    return max(1, min(8, os.cpu_count() or 1))


_REPLAY_JOB: tuple[Project, dict[tuple[str, str], list[tuple[EventRow, bool]]], bool] | None = None


def _replay_child_init() -> None:
    """In a forked worker: no inherited thread pool (its threads did not survive the fork)
    and no use of the parent's database connections."""
    assert _REPLAY_JOB is not None
    contrib.reset_after_fork()
    _REPLAY_JOB[0].ledger.engine.dispose(close=False)


def _replay_plates(keys: list[tuple[str, str]]) -> tuple[int, tuple[int, str] | None]:
    """Replay whole plates; (versions recomputed, first failure as (seq, message) or None)."""
    assert _REPLAY_JOB is not None
    project, deferred, checked = _REPLAY_JOB
    access = _Blobs(project, checked=checked)
    replayed, failure = 0, None
    for key in keys:
        replay = _PlateReplay()
        for ev, wanted in deferred[key]:
            try:
                replayed += _replay_event(ev, replay, access if wanted else None)
            except LedgerIntegrityError as exc:
                if failure is None or ev.seq < failure[0]:
                    failure = (ev.seq, str(exc))
                break
    return replayed, failure


def _replay_in_processes(
    project: Project,
    deferred: dict[tuple[str, str], list[tuple[EventRow, bool]]],
    *,
    checked: bool,
    workers: int,
) -> int:
    """Recompute the deferred plate events on ``workers`` forked processes (in-process when
    there is little to do); raise the failure with the lowest seq."""
    global _REPLAY_JOB
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    sizes = {k: sum(1 for _ev, wanted in evs if wanted) for k, evs in deferred.items()}
    # A plate with nothing to recompute had its numbering checked already: leave it out.
    deferred = {k: evs for k, evs in deferred.items() if sizes[k]}
    total = sum(sizes.values())
    _REPLAY_JOB = (project, deferred, checked)
    try:
        if total < _PARALLEL_REPLAY_MIN:
            results = [_replay_plates(list(deferred))]
        else:
            # Balanced groups, several per worker so a slow group does not hold the rest.
            n_groups = workers * 4
            groups: list[list[tuple[str, str]]] = [[] for _ in range(n_groups)]
            loads = [0] * n_groups
            for key in sorted(deferred, key=lambda k: -sizes[k]):
                i = loads.index(min(loads))
                groups[i].append(key)
                loads[i] += sizes[key] + 1
            with ProcessPoolExecutor(
                max_workers=workers,
                mp_context=multiprocessing.get_context("fork"),
                initializer=_replay_child_init,
            ) as pool:
                results = list(pool.map(_replay_plates, [g for g in groups if g]))
    finally:
        _REPLAY_JOB = None
    failures = [f for _n, f in results if f is not None]
    if failures:
        raise LedgerIntegrityError(min(failures)[1])
    return sum(n for n, _f in results)


class _Blobs:
    """Blob access for one verify run: hash each blob once, decode each once per event."""

    def __init__(self, project: Project, checked: bool) -> None:
        self.project = project
        self.checked = checked  # hashes already verified by verify_project
        self.decoded: dict[tuple[str, str], np.ndarray] = {}
        self.fresh: dict[str, bytes] = {}  # bytes verify_project just read and hashed

    def _bytes(self, sha: str) -> bytes:
        data = self.fresh.get(sha)
        return data if data is not None else self.project.blobs.get(sha, verify=not self.checked)

    def array(self, sha: str, mode: str, what: str) -> np.ndarray:
        key = (sha, mode)
        if key not in self.decoded:
            self.decoded[key] = _decode_blob(self._bytes(sha), mode, what)
        return self.decoded[key]

    def raster(self, sha: str, what: str) -> Raster:
        try:
            return Raster.from_bytes(self._bytes(sha))
        except ValueError as exc:
            raise LedgerIntegrityError(f"{what}: raster blob unreadable ({exc})") from None


def _replay_event(ev: EventRow, replay: _PlateReplay, blobs: _Blobs | None) -> int:
    """Check one plate event against the replayed history of its plate (``blobs`` None:
    numbering and references only, no raster recomputation). Returns 1 when a plate version
    was recomputed, else 0."""
    p = ev.payload
    if ev.kind == "ai.generated":
        if p.get("candidate") != len(replay.candidates) + 1:
            raise LedgerIntegrityError(f"{ev.label}: candidate number does not follow the history")
        replay.candidates.append(ev.blobs.get("image", ""))
    if ev.kind in ("plate.submitted", "plate.accepted", "plate.rejected"):
        if p.get("version") != max(replay.versions, default=None):
            raise LedgerIntegrityError(f"{ev.label}: reviews a version that was not the latest")
        return 0
    if ev.kind not in VERSION_KINDS or p.get("version") is None:
        return 0
    latest = max(replay.versions, default=None)
    if p.get("base_version") != latest or p.get("version") != (latest or 0) + 1:
        raise LedgerIntegrityError(f"{ev.label}: version numbers do not follow the history")
    number = int(p["version"])
    image_sha, raster_sha = ev.blobs.get("image"), ev.blobs.get("raster")
    if not image_sha or not raster_sha:
        raise LedgerIntegrityError(f"{ev.label}: image or raster blob missing from the event")
    source = replay.source.get(latest) if latest else None
    if ev.kind == "ai.generated":
        source = p["candidate"]
    elif ev.kind == "variation.selected":
        n = p.get("candidate")
        if (
            not isinstance(n, int)
            or not 1 <= n <= len(replay.candidates)
            or replay.candidates[n - 1] != ev.blobs.get("candidate")
            or image_sha != ev.blobs.get("candidate")
        ):
            raise LedgerIntegrityError(f"{ev.label}: selected image is not candidate {n}")
        source = n
    elif ev.kind == "plate.imported":
        source = None
    elif ev.kind == "plate.reverted":
        target = replay.versions.get(p.get("to_version", -1))
        if target != (image_sha, raster_sha):
            raise LedgerIntegrityError(
                f"{ev.label}: is not a copy of version {p.get('to_version')}"
            )
        source = replay.source.get(p["to_version"])
    replay.source[number] = source
    replay.versions[number] = (image_sha, raster_sha)
    if blobs is None:
        replay.last = None
        return 0
    blobs.decoded.clear()
    expected = _recompute(ev, replay, latest, blobs)
    if expected is None:  # reverted: equality of blob hashes checked above
        replay.last = None
        return 0
    stored_image = blobs.array(image_sha, "RGB", f"{ev.label} image")
    if not np.array_equal(stored_image, expected.image):
        raise LedgerIntegrityError(
            f"{ev.label}: stored plate image differs from the recomputed one"
        )
    diff = blobs.raster(raster_sha, ev.label).difference(expected.raster)
    if diff:
        raise LedgerIntegrityError(
            f"{ev.label}: stored raster differs from the recomputed one ({diff})"
        )
    if "stats" in p and p["stats"] != expected.stats:
        raise LedgerIntegrityError(f"{ev.label}: recorded figures differ from the recomputed ones")
    replay.last = (number, expected.image, expected.raster)
    return 1


def _recompute(
    ev: EventRow, replay: _PlateReplay, base: int | None, blobs: _Blobs
) -> Applied | None:
    def blob(role: str, mode: str = "RGB") -> np.ndarray:
        if role not in ev.blobs:
            raise LedgerIntegrityError(f"{ev.label}: no {role} blob")
        return blobs.array(ev.blobs[role], mode, f"{ev.label} {role}")

    kind, p = ev.kind, ev.payload
    if kind in ("ai.generated", "variation.selected"):
        img = blob("image")
        return Applied(img, contrib.generated(img.shape[1], img.shape[0]), {})
    if kind == "plate.imported":
        img = blob("image")
        try:
            raster = contrib.imported(img.shape[1], img.shape[0], p.get("origin", ""))
        except ValueError as exc:
            raise LedgerIntegrityError(f"{ev.label}: cannot be replayed ({exc})") from None
        return Applied(img, raster, {})
    if kind == "plate.reverted":
        return None
    if base is None:
        raise LedgerIntegrityError(f"{ev.label}: edits a plate that has no version")
    if replay.last is not None and replay.last[0] == base:
        before, raster = replay.last[1], replay.last[2]
    else:
        img_sha, ras_sha = replay.versions[base]
        before = blobs.array(img_sha, "RGB", f"version {base} image")
        raster = blobs.raster(ras_sha, f"version {base}")
    try:
        if kind == "human.painted":
            if p.get("source") == "final":
                return contrib.final(before, raster, blob("final"))
            return contrib.paint(before, raster, blob("layer", "RGBA"))
        if kind == "ai.inpainted":
            mask = contrib.mask_from_image(blob("mask", "L"))
            return contrib.inpaint(before, raster, blob("result"), mask)
        if kind == "human.adjusted":
            return contrib.adjust(before, raster, blob("adjusted"))
    except ValueError as exc:
        raise LedgerIntegrityError(f"{ev.label}: cannot be replayed ({exc})") from None
    raise LedgerIntegrityError(f"{ev.label}: unknown plate event")


def _check_tables(project: Project, plates: dict[tuple[str, str], _PlateReplay]) -> None:
    """The derived tables (versions, candidates) must match the replayed events."""
    from sqlalchemy import select

    # Plain column rows, not ORM objects: this reads every version of a production.
    pv, cd = PlateVersion, Candidate
    with project.ledger.read() as s:
        rows = s.execute(
            select(Shot.code, Plate.name, pv.number, pv.image_sha, pv.raster_sha,
                   pv.source_candidate, pv.event_seq)
            .join(Plate, Plate.id == pv.plate_id)
            .join(Shot, Shot.id == Plate.shot_id)
            .order_by(pv.event_seq)
        ).all()
        cand_rows = s.execute(
            select(Shot.code, Plate.name, cd.number, cd.image_sha)
            .join(Plate, Plate.id == cd.plate_id)
            .join(Shot, Shot.id == Plate.shot_id)
            .order_by(cd.event_seq)
        ).all()
    seen: set[tuple[str, str, int]] = set()
    for shot, plate, number, image_sha, raster_sha, source, event_seq in rows:
        replay = plates.get((shot, plate))
        expected = replay.versions.get(number) if replay else None
        label = f"plate version {shot}/{plate} v{number} (table row for event #{event_seq})"
        if (
            expected != (image_sha, raster_sha)
            or replay is None
            or (replay.source.get(number) != source)
        ):
            raise LedgerIntegrityError(f"{label}: does not match the events (the table was edited)")
        seen.add((shot, plate, number))
    for (shot, plate), replay in plates.items():
        for number in replay.versions:
            if (shot, plate, number) not in seen:
                raise LedgerIntegrityError(
                    f"plate version {shot}/{plate} v{number}: row missing from the versions table"
                )
    cand_seen = 0
    for shot, plate, cand_number, cand_sha in cand_rows:
        replay = plates.get((shot, plate))
        if (
            replay is None
            or not 1 <= cand_number <= len(replay.candidates)
            or (replay.candidates[cand_number - 1] != cand_sha)
        ):
            raise LedgerIntegrityError(
                f"candidate {shot}/{plate} #{cand_number}: does not match the events "
                "(the table was edited)"
            )
        cand_seen += 1
    if cand_seen != sum(len(p.candidates) for p in plates.values()):
        raise LedgerIntegrityError("candidates table is missing rows (the table was edited)")
