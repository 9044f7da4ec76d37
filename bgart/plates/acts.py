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

import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bgart import provenance as contrib
from bgart.errors import InputError, LedgerIntegrityError, StaleVersionError
from bgart.generation import GenerationRecord
from bgart.images import decode_plain_png, encode_png, open_image, to_mode
from bgart.ledger import (
    Candidate,
    Event,
    EventRow,
    Plate,
    PlateVersion,
    Project,
    Shot,
    WriteTx,
    check_name,
)
from bgart.provenance import Applied, Raster

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


def _decode(data: bytes, mode: str, name: str) -> np.ndarray:
    return np.asarray(open_image(data, mode=mode, name=name))


def decode_blob(data: bytes, mode: str, what: str) -> np.ndarray:
    """Decode a blob bgart wrote itself (hash already checked): no user-file niceties."""
    plain = decode_plain_png(data, mode)
    if plain is not None:
        return plain
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
        image = decode_blob(
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
    # A snapshot of the keys and a tolerant pop: library callers may record from several
    # threads at once (iterating the dict while another thread adds to it raised).
    states = [k for k in list(project.cache) if isinstance(k, tuple) and k[:1] == ("plate-state",)]
    for old in states[: max(0, len(states) - _CACHE_SIZE + 1)]:
        project.cache.pop(old, None)
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
        latest = tx.latest_event(shot, "layout.imported")
        if latest is not None and latest.blob_map.get("layout") == sha and latest.actor == artist:
            return _recorded(latest, duplicate=True)
        # unique per history: the same layout may come back after another one
        key = f"layout.imported/{shot}/{sha}/after-{latest.seq if latest else 0}"
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
            else decode_blob(
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
    active_seconds: float = 0.0,
    original: bytes | None = None,
) -> Recorded:
    """``plate.imported``: start a plate without AI, from a hand-painted plate (every pixel
    credited to ``artist``), a layout or a blank canvas (a HUMAN_BASE nobody is credited for
    painting). Only for a plate with no versions: over an existing plate, use
    :func:`record_final`, whose visible-change test attributes only what changed.
    ``active_seconds`` and ``original`` (the file as handed in) as for :func:`record_paint`."""
    shot, plate = _names(shot, plate)
    arr = _as_array(image, "RGB", filename or f"plate for shot {shot}")
    stored = _stored(project, "image", arr, original)
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
        return _recorded(first(tx, plate_row))


_FirstVersion = Callable[[WriteTx, Plate], Event]
"""Records a plate's first version inside a write transaction (see :func:`_first_import`)."""


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
) -> _FirstVersion:
    """A ``plate.imported`` act of ``arr``, checked now; its blobs are stored already (see
    :func:`_stored`): the PNG of ``arr`` and perhaps the original. The function returned
    appends it to a plate with no version yet, in the caller's transaction, so that the
    caller decides "is the plate empty?" and writes in one go."""
    if origin not in ("hand-painted", "layout", "blank"):
        raise InputError(f"origin '{origin}': must be hand-painted, layout or blank")
    payload = {"origin": origin, "filename": filename, "active_seconds": _seconds(active_seconds)}
    blobs = {} if original_sha is None else {"original": original_sha}
    raster = contrib.imported(arr.shape[1], arr.shape[0], origin)

    def write(tx: WriteTx, plate_row: Plate) -> Event:
        tx.ensure_user(artist)
        return _new_version(
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
    :func:`bgart.provenance.raster.paint`. ``active_seconds`` is the editing time measured by the
    UI (0 when unknown). An external layer without a transparent pixel (a JPEG, an RGB
    PNG, a layer saved flattened) is refused: it is a whole plate, for :func:`record_final`."""
    shot, plate = _names(shot, plate)
    name = filename or f"paint layer for shot {shot}"
    layer = _as_array(layer_rgba, "RGBA", name)
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
        _stored(project, "layer", layer, original),
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
    shot, plate = _names(shot, plate)
    name = filename or f"final image for shot {shot}"
    arr = _as_array(final_image, "RGB", name)
    stored = _stored(project, "final", arr, original)  # one PNG, whichever act it becomes
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
        apply=contrib.final,
        source="final",
        filename=filename,
        active_seconds=active_seconds,
        first=first,
    )


def _stored(project: Project, role: str, arr: np.ndarray, original: bytes | None) -> dict[str, str]:
    """An act's pixels stored as PNG blob ``role``, and the file as the artist handed it in
    as blob ``original``. Before the act's transaction: they do not depend on the plate
    version, and the transaction holds the ledger's lock."""
    blobs = {role: project.blobs.put(encode_png(arr), "png")}
    if original is not None:
        blobs["original"] = project.blobs.put(original, "bin")
    return blobs


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
    first: _FirstVersion | None = None,
) -> Recorded:
    """One ``human.painted`` event (a layer or a whole final) with its ``blobs`` (see
    :func:`_stored`). ``first``: what to record instead on a plate with no version (see
    :func:`_edit`)."""
    return _edit(
        project,
        shot,
        plate,
        kind="human.painted",
        actor=artist,
        what=name,
        arr=arr,
        apply=apply,
        blobs=blobs,
        payload={
            "source": source,
            "filename": filename,
            "active_seconds": _seconds(active_seconds),
        },
        idem_key=idem_key,
        first=first,
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
    blobs = _stored(project, "adjusted", arr, None)
    return _edit(
        project,
        shot,
        plate,
        kind="human.adjusted",
        actor=artist,
        what=name,
        arr=arr,
        apply=contrib.adjust,
        blobs=blobs,
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
    changed become AI_INPAINT (see :func:`bgart.provenance.raster.inpaint`). ``based_on``: the
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
    first: _FirstVersion | None = None,
) -> Recorded:
    """Apply an edit to the plate's latest version inside one locked transaction
    (``based_on``: refuse unless that is still the latest version; ``first``: record that
    instead when the plate has no version yet, rather than refusing)."""
    with project.ledger.write() as tx:
        if idem_key is not None and (ev := tx.find_event(idem_key)) is not None:
            return _recorded(ev, duplicate=True)
        plate_row = tx.plate(shot, plate)
        assert plate_row is not None
        if first is not None and tx.current_version(plate_row) is None:
            return _recorded(first(tx, plate_row))
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
    project: Project,
    shot: str,
    approver: str,
    comment: str = "",
    *,
    plate: str = PLATE,
    version: int | None = None,
) -> Recorded:
    """``plate.accepted``: ``approver`` accepts the plate's latest version (``version``: the
    one they looked at; refused when it is no longer the latest)."""
    return _decide(project, shot, plate, "plate.accepted", approver, comment, version)


def reject(
    project: Project,
    shot: str,
    approver: str,
    comment: str = "",
    *,
    plate: str = PLATE,
    version: int | None = None,
) -> Recorded:
    """``plate.rejected``: ``approver`` rejects the plate's latest version (``version``: as
    for :func:`accept`)."""
    return _decide(project, shot, plate, "plate.rejected", approver, comment, version)


def review(
    project: Project,
    shot: str,
    decision: str,
    approver: str,
    comment: str = "",
    *,
    plate: str = PLATE,
    version: int | None = None,
) -> Recorded:
    """Accept or reject the plate's latest version, as a director or admin of the project.

    The rules every front end shares (UI and CLI): the approver must be a project user with a
    reviewer role, and a rejection must say what to change. ``version``: the version the
    approver looked at; if someone saved a newer one since, the decision is refused rather
    than recorded against a version nobody reviewed.
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
    return act(project, shot, user.name, comment, plate=plate, version=version)


def submit(
    project: Project,
    shot: str,
    artist: str,
    comment: str = "",
    *,
    plate: str = PLATE,
    version: int | None = None,
) -> Recorded:
    """``plate.submitted``: ``artist`` hands the plate's latest version in for review
    (``version``: the one they looked at, as for :func:`accept`)."""
    return _decide(project, shot, plate, "plate.submitted", artist, comment, version)


def _decide(
    project: Project,
    shot: str,
    plate: str,
    kind: str,
    approver: str,
    comment: str,
    seen: int | None = None,
) -> Recorded:
    shot, plate = _names(shot, plate)
    with project.ledger.write() as tx:
        plate_row = tx.plate(shot, plate, create=False)
        if plate_row is None:
            raise InputError(f"shot {shot}: no plate '{plate}' to review")
        cur = _require_version(tx, plate_row, shot, plate)
        if seen is not None and seen > cur.number:
            raise InputError(f"shot {shot}: there is no v{seen}; the latest is v{cur.number}")
        if seen is not None and seen != cur.number:
            made_by = tx.session.get(Event, cur.event_seq)
            who = f" by {made_by.actor}" if made_by is not None else ""
            raise StaleVersionError(
                f"shot {shot}: you are looking at v{seen}, but v{cur.number} was saved{who} "
                f"since; look at v{cur.number} first (nothing was recorded)"
            )
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
    # A record's seconds are per image (the engine splits a batched call's time over its
    # images), so the plate's GPU time is their sum over every candidate and inpaint.
    gpu_seconds = sum(
        float(ev.payload.get("record", {}).get("seconds") or 0.0) for ev in candidates + inpaints
    )
    versions = plate_versions(project, shot, plate=plate)
    current = next(pv for pv in versions if pv.number == state.number)
    layout_artists, layout_sha = used_layout(project, shot, events, current.source_candidate)
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
            "gpu_seconds": round(gpu_seconds, 3),
            "status": status,
            "approver": approver,
            "review_comment": comment,
            "painters": painters,
            "mask_authors": sorted({ev.payload.get("directed_by") for ev in inpaints} - {None}),
            "layout_artists": layout_artists,
            "layout_sha256": layout_sha,
            "models": sorted({ev.actor for ev in candidates + inpaints}),
            "events": len(relevant),
            "contribution_definition": contrib.DEFINITION_VERSION,
        }
    )
    figs["mask_area_share"] = figs["mask_area_px"] / figs["pixels"] if figs["pixels"] else 0.0
    return figs


def used_layout(
    project: Project, shot: str, events: Sequence[EventRow], source_candidate: int | None
) -> tuple[list[str], str | None]:
    """(artists, sha256) of the layout a plate version was made from; ([], None) when none.

    ``events``: the plate's events; ``source_candidate``: the version's candidate (None for a
    plate started by ``plate.imported``). Only ``layout.imported`` events of that very layout
    are credited, never another layout of the shot imported before or after.

    * An AI plate used the layout its generation record names (``layout_sha256``). A record
      that names none (written before records kept it) but was made from a layout used the
      shot's latest layout imported before it; a text or photo generation used no layout.
    * A plate imported with origin ``layout`` *is* a layout: credited to the artist(s) of a
      recorded layout with the same pixels, else to the person who imported it as the plate.
      Hand-painted and blank imports name no layout (nothing links them to one).
    """
    layouts = project.ledger.events(shot=shot, kinds=("layout.imported",))
    if source_candidate is None:
        return _imported_layout(project, events, layouts)
    gen = next(
        (
            ev
            for ev in events
            if ev.kind == "ai.generated" and ev.payload.get("candidate") == source_candidate
        ),
        None,
    )
    record = (gen.payload.get("record") or {}) if gen is not None else {}
    sha = record.get("layout_sha256")
    if gen is not None and not sha and "layout" in str(record.get("mode", "")).split("+"):
        earlier = [ev for ev in layouts if ev.seq < gen.seq]
        sha = earlier[-1].blobs.get("layout") if earlier else None
    if not sha:
        return [], None
    return _layout_artist(layouts, sha), sha


def _layout_artist(layouts: Sequence[EventRow], sha: str) -> list[str]:
    """The artist of layout ``sha``: who imported it last (a corrected name replaces the
    one recorded before, see :func:`record_layout`)."""
    return [ev.actor for ev in layouts if ev.blobs.get("layout") == sha][-1:]


def _imported_layout(
    project: Project, events: Sequence[EventRow], layouts: Sequence[EventRow]
) -> tuple[list[str], str | None]:
    root = next((ev for ev in events if ev.kind == "plate.imported"), None)
    if root is None or root.payload.get("origin") != "layout":
        return [], None
    image = decode_blob(project.blobs.get(root.blobs["image"]), "RGB", f"{root.label} image")
    h, w = image.shape[:2]
    for ev in reversed(layouts):
        if (ev.payload.get("width"), ev.payload.get("height")) != (w, h):
            continue
        sha = ev.blobs["layout"]
        if np.array_equal(_decode(project.blobs.get(sha), "RGB", f"{ev.label} layout"), image):
            return _layout_artist(layouts, sha), sha
    return [root.actor], None


def heatmap(
    project: Project,
    shot: str,
    *,
    plate: str = PLATE,
    version: int | None = None,
    legend: bool = True,
) -> Image.Image:
    """The provenance heat map of a plate version (see :func:`bgart.provenance.raster.heatmap`)."""
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
