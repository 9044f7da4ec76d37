"""What every act shares: the Recorded result, name checks, and appending a new version.

An act runs in one ledger write transaction (holding the chain lock), so the version it
builds on is the plate's latest even with several processes at work.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bgart import provenance as contrib
from bgart.errors import InputError, LedgerIntegrityError
from bgart.events import EVENTS, Actor, Kind
from bgart.images import encode_png
from bgart.ledger import Event, EventRow, Plate, PlateVersion, Project, WriteTx, check_name
from bgart.plates.pixels import PlateState, decode_blob, load_state, remember
from bgart.provenance import Applied, Raster

PLATE = "main"
REVIEWER_ROLES = ("director", "admin")
"""Roles whose accept/reject counts: the approval credited in the report."""

FirstVersion = Callable[[WriteTx, Plate], Event]
"""Records a plate's first version inside a write transaction (see
:func:`bgart.plates.acts.record_base`)."""

Returns = Callable[
    [Applied, np.ndarray, np.ndarray, list[contrib.Earlier], Callable[[], bytes]], Applied
]
"""A whole final's returns to earlier versions: (the final edit applied, the version it
edits, the final, the earlier versions, a reader of the edited version's PNG) -> the edit
with the returns (see :func:`bgart.provenance.restore_earlier`)."""


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


def credit_summary(stats: Mapping[str, int]) -> str:
    """What an act's figures (``stats``, or several acts' summed) say to the person who
    recorded it: the pixels credited, those read as a tone adjustment, and those a final
    handed back to an earlier version (its own count is then of visible changes, some of
    which were handed back)."""
    returned = stats.get("returned_px", 0)
    what = "pixels changed visibly" if returned else "pixels credited"
    text = f"{stats.get('credited_px', 0)} {what}"
    if stats.get("explained_px"):
        text += f", {stats['explained_px']} read as tone adjustment"
    if returned:
        text += (
            f"; {returned} of the plate's pixels show an earlier version's value again and "
            "are credited as they were there"
        )
    return text


def recorded(
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


def require_version(tx: WriteTx, plate: Plate, shot: str, plate_name: str) -> PlateVersion:
    cur = tx.current_version(plate)
    if cur is None:
        raise InputError(
            f"shot {shot}: plate '{plate_name}' has no image yet (generate or import one first)"
        )
    return cur


def check_based_on(cur: PlateVersion, based_on: int | None, what: str, again: str) -> None:
    """Refuse an act made from version ``based_on`` when ``cur`` is newer (another was saved
    while it was made); ``again``: what the user does then."""
    if based_on is not None and cur.number != based_on:
        raise InputError(
            f"{what}: made from version {based_on}, but version {cur.number} was saved "
            f"meanwhile; nothing recorded: {again}"
        )


def check_size(state: PlateState, arr: np.ndarray, what: str) -> None:
    h, w = state.image.shape[:2]
    if arr.shape[:2] != (h, w):
        raise InputError(f"{what}: is {arr.shape[1]}x{arr.shape[0]} but the plate is {w}x{h}")


def new_version(
    project: Project,
    tx: WriteTx,
    plate: Plate,
    *,
    shot: str,
    plate_name: str,
    kind: str,
    actor: str,
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
    if raster_sha is None and raster.base is None and contrib.DEFINITION_VERSION >= 2:
        # a first version (or a chosen candidate): its pixels are its base values
        raster = raster.with_base(image)
    image_sha, raster_sha = _store_version(project, image, raster, image_sha, raster_sha)
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
        actor_kind=EVENTS[Kind(kind)].actor,
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
    remember(project, ("plate-state", image_sha, raster_sha), (image, raster))
    return ev


def _store_version(
    project: Project,
    image: np.ndarray,
    raster: Raster,
    image_sha: str | None,
    raster_sha: str | None,
) -> tuple[str, str]:
    """The version's PNG and raster blobs, stored (those not stored yet). Both at once: the
    PNG is encoded and written on a second thread while the raster is, so one blob's fsync
    waits while the other is deflated (on a 4K plate each fsync is about 0.1 s)."""
    if image_sha is not None and raster_sha is not None:
        return image_sha, raster_sha
    if image_sha is not None:
        return image_sha, project.blobs.put(raster.to_bytes(), "raster")
    if raster_sha is not None:
        return project.blobs.put(encode_png(image), "png"), raster_sha
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="bgart-version-png") as pool:
        png = pool.submit(lambda: project.blobs.put(encode_png(image), "png"))
        raster_sha = project.blobs.put(raster.to_bytes(), "raster")
        return png.result(), raster_sha


def check_names(shot: str, plate: str) -> tuple[str, str]:
    return check_name(shot, "shot"), check_name(plate, "plate")


def store_pixels(
    project: Project, role: str, arr: np.ndarray, original: bytes | None
) -> dict[str, str]:
    """An act's pixels stored as PNG blob ``role``, and the file as the artist handed it in
    as blob ``original``. Before the act's transaction: they do not depend on the plate
    version, and the transaction holds the ledger's lock."""
    blobs = {role: project.blobs.put(encode_png(arr), "png")}
    if original is not None:
        blobs["original"] = project.blobs.put(original, "bin")
    return blobs


def apply_edit(
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
    human: str | None = None,
    idem_key: str | None = None,
    based_on: int | None = None,
    first: FirstVersion | None = None,
    earlier: Returns | None = None,
) -> Recorded:
    """Apply an edit to the plate's latest version inside one locked transaction
    (``based_on``: refuse unless that is still the latest version; ``first``: record that
    instead when the plate has no version yet, rather than refusing; ``earlier``: for a whole
    final, the returns to earlier versions, given the plate's earlier versions)."""
    with project.ledger.write() as tx:
        if idem_key is not None and (ev := tx.find_event(idem_key)) is not None:
            return recorded(ev, duplicate=True)
        plate_row = tx.plate(shot, plate)
        assert plate_row is not None
        if first is not None and tx.current_version(plate_row) is None:
            return recorded(first(tx, plate_row))
        cur = require_version(tx, plate_row, shot, plate)
        check_based_on(cur, based_on, what, "run it again on the current plate")
        state = load_state(project, cur)
        check_size(state, arr, what)
        if EVENTS[Kind(kind)].actor is Actor.HUMAN:
            tx.ensure_user(actor)
        if human:
            tx.ensure_user(human)
        applied = apply(state.image, state.raster, arr)
        if earlier is not None and applied.raster.base is not None:  # definition v2
            history = earlier_versions(project, tx, plate_row, cur.number)
            applied = earlier(
                applied, state.image, arr, history, lambda: project.blobs.get(cur.image_sha)
            )
        inputs = {
            role: project.blobs.put(encode_png(np.ascontiguousarray(img)), "png")
            for role, img in applied.inputs.items()
        }
        ev = new_version(
            project,
            tx,
            plate_row,
            shot=shot,
            plate_name=plate,
            kind=kind,
            actor=actor,
            base=cur,
            image=applied.image,
            raster=applied.raster,
            payload={**payload, **applied.params},
            blobs={**blobs, **inputs},
            stats=applied.stats,
            source_candidate=cur.source_candidate,
            idem_key=idem_key,
        )
        return recorded(ev)


def earlier_versions(
    project: Project, tx: WriteTx, plate: Plate, current: int
) -> list[contrib.Earlier]:
    """The versions before ``current`` a final consults (:func:`bgart.provenance.restore_window`),
    each read from its blobs only when asked (one at a time: a 4K plate's versions are not
    all held in memory)."""
    out: list[contrib.Earlier] = []
    for number in contrib.restore_window(current):
        pv = tx.version(plate, number)
        if pv is not None:
            out.append(_earlier(project, pv))
    return out


def _earlier(project: Project, pv: PlateVersion) -> contrib.Earlier:
    cached = project.cache.get(("plate-state", pv.image_sha, pv.raster_sha))
    image_sha, raster_sha = pv.image_sha, pv.raster_sha

    def image() -> np.ndarray:
        if isinstance(cached, tuple):
            return cached[0]
        return decode_blob(project.blobs.get(image_sha), "RGB", f"plate image {image_sha[:12]}")

    def raster() -> Raster:
        if isinstance(cached, tuple):
            return cached[1]
        try:
            return Raster.from_bytes(project.blobs.get(raster_sha))
        except ValueError as exc:
            raise LedgerIntegrityError(f"raster blob {raster_sha}: {exc}") from None

    def png() -> bytes:
        return project.blobs.get(image_sha)

    return contrib.Earlier(pv.number, image, raster, png, decoded=isinstance(cached, tuple))


def check_seconds(value: float) -> float:
    value = float(value)
    if not value >= 0 or value == float("inf"):
        raise InputError(f"active seconds: must be a non-negative number, got {value}")
    return round(value, 3)
