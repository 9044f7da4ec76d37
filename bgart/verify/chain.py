"""``bgart ledger verify``: recompute a production's history from its ledger and blobs.

The chain of event hashes, every blob's sha256, the numbering of plate versions and
candidates, the derived tables and (the expensive part) every plate version's pixels and
contribution raster, recomputed from the blobs of the events that made it. The first bad
event (lowest seq) or table row is named.

A run checks the ledger as it was when the run started: the events up to the chain head read
then, and the table rows of those events. Other processes may go on appending meanwhile;
what they add is left to the next run.

This module walks the chain and checks numbering, blobs and tables; the plate versions are
recomputed by :mod:`bgart.verify.replay`, with several CPUs in forked child processes while the
chain is checked (see docs/contribution.md for what each check catches).
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from bgart.errors import InputError, LedgerIntegrityError
from bgart.events import FIGURE_KINDS, REVIEW_KINDS, USER_KINDS, VERSION_KINDS, Kind
from bgart.ledger import (
    Candidate,
    ChainChecker,
    ChainHead,
    Event,
    EventRow,
    Plate,
    PlateVersion,
    Project,
    Shot,
    User,
    UserBook,
)
from bgart.verify.replay import PlateKey, Replayer, Size, check_blobs


@dataclass
class VerifyReport:
    events: int = 0
    blobs: int = 0
    versions: int = 0
    head_hash: str = ""
    replayed: int = 0  # plate events whose raster was recomputed in this run
    first_hash: str | None = None  # event #1's hash: which ledger this is
    unchained_users: list[str] = field(default_factory=list)  # legacy users not on the chain


@dataclass
class _PlateReplay:
    versions: dict[int, tuple[str, str]] = field(default_factory=dict)  # n -> image, raster
    candidates: list[tuple[str, int]] = field(default_factory=list)  # image, event seq
    source: dict[int, int | None] = field(default_factory=dict)  # n -> source candidate
    made: dict[int, tuple[int, str]] = field(default_factory=dict)  # n -> event seq, time
    sizes: dict[int, Size] = field(default_factory=dict)  # n -> size, where recomputed


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
    skip_verified: bool = True,
) -> VerifyReport:
    """Recompute the chain, every blob hash and every plate version from the blobs.

    Raises :class:`LedgerIntegrityError` naming the first bad event (by seq, id and kind) or
    table row. ``anchor``: a head hash recorded earlier (e.g. printed in a credit report);
    the chain must still contain it. ``shots``: recompute rasters of these shots only (the
    chain, the blobs and the version numbering are still checked everywhere). ``since``:
    (seq, hash) of a head an earlier full run verified (bgart.verify.verified): the event at
    that seq must still have that hash, and (unless ``skip_verified`` is False) rasters are
    recomputed only after it. ``workers``:
    processes for hashing blobs and replaying plates (default: one per CPU, up to 8, once
    there is enough to do; 1: everything in this process). Blobs no replay needs are hashed
    while the chain is checked; plates are independent, so they are replayed side by side.
    Whatever the split, the failure reported is the one with the lowest seq. Events appended
    while it runs are not checked (the head is read once, at the start).
    """
    head = project.ledger.head_snapshot()
    checker = ChainChecker()
    n_workers = _replay_workers(workers)
    # The loop checks the chain and the numbering of every plate's versions; the rasters are
    # recomputed by the replayer, plate by plate (with several CPUs on child processes, in
    # part while the loop goes on), and the blobs those replays read are hashed with them.
    # The other blobs are hashed in the loop, or with several CPUs by the replayer's children.
    report = VerifyReport()
    replayer = Replayer(project, n_workers, hash_blobs=blobs)
    only = set(shots) if shots is not None else None
    checked_blobs: set[str] = set()
    plates: dict[tuple[str, str], _PlateReplay] = {}
    reverts: list[tuple[PlateKey, int, int]] = []  # plate, version, the version it copies
    anchored = anchor is None
    if anchor is not None and len(anchor) < 12:
        raise InputError("anchor: give at least 12 hex digits of a head hash")
    stop: LedgerIntegrityError | None = None  # the loop's failure, reported after the replays
    users = UserBook()
    try:
        try:
            for raw in project.ledger.iter_rows(upto=head.seq):
                ev = checker.check(raw)
                anchored = anchored or ev.hash.startswith(anchor or "")
                done_before = skip_verified and since is not None and ev.seq <= since[0]
                if since is not None and ev.seq == since[0] and ev.hash != since[1]:
                    raise LedgerIntegrityError(
                        f"{ev.label}: its hash is {ev.hash[:16]}…, but this machine verified "
                        f"{since[1][:16]}… for it earlier: the history was rewritten since "
                        "(likely cause: tampering, an event edited and the chain re-hashed)"
                    )
                if ev.kind in USER_KINDS:
                    users.apply(ev.kind, ev.payload, ev.seq)
                on_plate = ev.plate is not None and ev.shot is not None
                recompute = (
                    on_plate
                    and rasters
                    and (only is None or ev.shot in only)
                    and not done_before
                    and _makes_new_version(ev)
                )
                if recompute and blobs:  # hashed by the replay, which reads them anyway
                    checked_blobs.update(ev.blobs.values())
                elif blobs and n_workers > 1:
                    replayer.hash(ev, checked_blobs)
                elif blobs:
                    check_blobs(project, ev, checked_blobs, keep=False)
                if on_plate:
                    assert ev.shot is not None and ev.plate is not None
                    key = (ev.shot, ev.plate)
                    replay = plates.setdefault(key, _PlateReplay())
                    made = _check_numbering(ev, replay)
                    if made is not None and ev.kind == Kind.PLATE_REVERTED:
                        reverts.append((key, made[0], int(ev.payload["to_version"])))
                    elif made is not None and ev.kind == Kind.AI_VARIANT:
                        parent = _variant_parent(ev, plates)  # checked even when not replayed
                        if recompute:  # its edit starts from the parent plate's version
                            replayer.add(key, ev, parent)
                    elif made is not None and recompute:
                        base = made[1]
                        stored = None if base is None else (base, *replay.versions[base])
                        replayer.add(key, ev, stored, _consulted(ev, replay))
                report.events += 1
                if progress is not None and report.events % 1000 == 0:
                    progress(report.events)
                if report.events % 10_000 == 0:
                    # The queued events live until they are replayed: keep the cyclic GC from
                    # re-scanning them all on every full collection (quadratic on 100k).
                    gc.freeze()
        except LedgerIntegrityError as exc:
            stop = exc
        replayer.start_rest()
        # The derived tables are read and compared while the children work; the sizes the
        # replay measures are compared, and any problem raised, after every other check.
        tables = None if stop else _TableCheck(project, plates, upto=checker.expected_seq - 1)
        # Every queued check is of an event before the loop's failure, so a failure there
        # comes first; a bad blob before a bad raster of the same event.
        replayed, failure, sizes = replayer.finish()
        for key, plate_sizes in sizes.items():
            plates[key].sizes.update(plate_sizes)
        for key, number, to_version in reverts:  # a copy has the size of what it copies
            known = plates[key].sizes
            if to_version in known:
                known[number] = known[to_version]
        if failure is not None:
            raise LedgerIntegrityError(failure[1])
        if stop is not None:
            raise stop
        report.replayed = replayed
    finally:
        replayer.close()
        gc.unfreeze()
    project.ledger.check_head(checker, head)
    if since is not None and report.events < since[0]:
        raise LedgerIntegrityError(
            f"the ledger ends at event #{report.events}, but this machine verified it up to "
            f"#{since[0]} earlier: events were removed (likely cause: tampering)"
        )
    if not anchored:
        raise LedgerIntegrityError(f"no event has hash {anchor}… (the chain was rewritten)")
    assert tables is not None  # the loop went through
    tables.finish()
    report.unchained_users = _check_users(
        project, users, upto=checker.expected_seq - 1, strict=checker.users_chained
    )
    report.first_hash = checker.first_hash
    report.blobs = len(checked_blobs)
    report.versions = sum(len(p.versions) for p in plates.values())
    report.head_hash = checker.prev_hash
    return report


def _check_users(project: Project, book: UserBook, *, upto: int, strict: bool) -> list[str]:
    """The users table must match the user events (see bgart.ledger.users); returns the
    users of a legacy ledger that the chain does not hold yet (before ``users.adopted``)."""
    from sqlalchemy import select

    with project.ledger.read() as s:
        rows: list[tuple[str, str, str | None]] = [
            (name, role, pw)
            for name, role, pw in s.execute(select(User.name, User.role, User.password_hash))
        ]
        # A user added since this run's head: its row is here, its event beyond the head.
        for kind, payload, seq in s.execute(
            select(Event.kind, Event.payload, Event.seq)
            .where(Event.seq > upto, Event.kind.in_([str(k) for k in USER_KINDS]))
            .order_by(Event.seq)
        ):
            book.apply(kind, json.loads(payload), seq)
    strict = strict or book.adopted is not None
    problem = book.problem(rows, strict=strict)
    if problem is not None:
        raise LedgerIntegrityError(problem)
    return [] if strict else book.unexplained(rows)


def _replay_workers(requested: int | None) -> int:
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1  # the workers inherit the replay plan by fork; elsewhere replay in-process
    if requested is not None:
        return max(1, requested)
    return max(1, min(8, os.cpu_count() or 1))


def _makes_new_version(ev: EventRow) -> bool:
    """Whether ``ev`` claims to make a plate version that has to be recomputed (a revert
    makes a copy: the loop compares its blob hashes)."""
    return (
        ev.kind in VERSION_KINDS
        and ev.kind != Kind.PLATE_REVERTED
        and ev.payload.get("version") is not None
    )


def _variant_parent(
    ev: EventRow, plates: dict[tuple[str, str], _PlateReplay]
) -> tuple[int, str, str]:
    """The stored version a variant plate starts from: ``parent_version`` of the shot's plate
    ``parent_plate``, which must exist before the variant (a variant is its plate's first
    version, its raster the parent's where the model left the parent's pixels)."""
    p = ev.payload
    name, number = p.get("parent_plate"), p.get("parent_version")
    parent = plates.get((str(ev.shot), str(name)))
    if (
        not isinstance(number, int)
        or p.get("base_version") is not None
        or parent is None
        or number not in parent.versions
        or name == ev.plate
    ):
        raise LedgerIntegrityError(
            f"{ev.label}: its parent, version {number!r} of plate {name!r}, is not in the history"
        )
    return (number, *parent.versions[number])


def _consulted(ev: EventRow, replay: _PlateReplay) -> dict[int, tuple[str, str]] | None:
    """The blobs of the earlier versions a v2 final consulted (payload ``restore_from``),
    as this plate's events made them; None for an event that consulted none."""
    numbers = ev.payload.get("restore_from")
    if numbers is None:
        return None
    if not isinstance(numbers, list):
        raise LedgerIntegrityError(f"{ev.label}: restore_from is not a list of versions")
    made = ev.payload.get("version")
    return {
        n: replay.versions[n]
        for n in numbers
        if isinstance(n, int) and isinstance(made, int) and n < made and n in replay.versions
    }


def _check_numbering(ev: EventRow, replay: _PlateReplay) -> tuple[int, int | None] | None:
    """Check one plate event against the history of its plate so far (numbers, references,
    a revert's copy); for an event that makes a version, (its number, the number of the
    version it starts from), else None."""
    p = ev.payload
    if ev.kind == Kind.AI_GENERATED:
        if p.get("candidate") != len(replay.candidates) + 1:
            raise LedgerIntegrityError(f"{ev.label}: candidate number does not follow the history")
        replay.candidates.append((ev.blobs.get("image", ""), ev.seq))
    if ev.kind in REVIEW_KINDS or ev.kind == Kind.RETAKE_MARKED:  # retake marks: a review's
        if p.get("version") != max(replay.versions, default=None):
            raise LedgerIntegrityError(f"{ev.label}: reviews a version that was not the latest")
        return None
    if ev.kind not in VERSION_KINDS or p.get("version") is None:
        return None
    latest = max(replay.versions, default=None)
    if p.get("base_version") != latest or p.get("version") != (latest or 0) + 1:
        raise LedgerIntegrityError(f"{ev.label}: version numbers do not follow the history")
    number = int(p["version"])
    image_sha, raster_sha = ev.blobs.get("image"), ev.blobs.get("raster")
    if not image_sha or not raster_sha:
        raise LedgerIntegrityError(f"{ev.label}: image or raster blob missing from the event")
    if ev.kind in FIGURE_KINDS and not isinstance(p.get("stats"), dict):
        raise LedgerIntegrityError(f"{ev.label}: recorded figures missing (the payload was edited)")
    source = replay.source.get(latest) if latest else None
    if ev.kind == Kind.AI_GENERATED:
        source = p["candidate"]
    elif ev.kind == Kind.VARIATION_SELECTED:
        n = p.get("candidate")
        if (
            not isinstance(n, int)
            or not 1 <= n <= len(replay.candidates)
            or replay.candidates[n - 1][0] != ev.blobs.get("candidate")
            or image_sha != ev.blobs.get("candidate")
        ):
            raise LedgerIntegrityError(f"{ev.label}: selected image is not candidate {n}")
        source = n
    elif ev.kind == Kind.PLATE_IMPORTED:
        source = None
    elif ev.kind == Kind.PLATE_REVERTED:
        target = replay.versions.get(p.get("to_version", -1))
        if target != (image_sha, raster_sha):
            raise LedgerIntegrityError(
                f"{ev.label}: is not a copy of version {p.get('to_version')}"
            )
        source = replay.source.get(p["to_version"])
    replay.source[number] = source
    replay.versions[number] = (image_sha, raster_sha)
    replay.made[number] = (ev.seq, ev.created_at)
    return number, latest


class _TableCheck:
    """The derived tables (versions, candidates) must match the replayed events: the rows of
    events up to ``upto`` (the head this run checked; later rows are the next run's).

    Read and compared on creation, while the replay goes on; the sizes the replay measures
    are compared by :meth:`finish`, which raises the first problem (in row order, as if
    every row were checked at once)."""

    def __init__(
        self, project: Project, plates: dict[tuple[str, str], _PlateReplay], *, upto: int
    ) -> None:
        from sqlalchemy import func, select

        self.plates = plates
        # Plain column rows, not ORM objects: this reads every version of a production.
        pv, cd = PlateVersion, Candidate
        with project.ledger.read() as s:
            self.rows = s.execute(
                select(
                    Shot.code,
                    Plate.name,
                    pv.number,
                    pv.image_sha,
                    pv.raster_sha,
                    pv.source_candidate,
                    pv.event_seq,
                    pv.created_at,
                    pv.width,
                    pv.height,
                )
                .join(Plate, Plate.id == pv.plate_id)
                .join(Shot, Shot.id == Plate.shot_id)
                .where(pv.event_seq <= upto)
                .order_by(pv.event_seq)
            ).all()
            cand_rows = s.execute(
                select(Shot.code, Plate.name, cd.number, cd.image_sha, cd.event_seq)
                .join(Plate, Plate.id == cd.plate_id)
                .join(Shot, Shot.id == Plate.shot_id)
                .where(cd.event_seq <= upto)
                .order_by(cd.event_seq)
            ).all()
            # The head is read after the newest rows: an append commits its rows together
            # with the new head, so no honest row names an event beyond it.
            newest = max(
                s.execute(select(func.max(pv.event_seq))).scalar_one() or 0,
                s.execute(select(func.max(cd.event_seq))).scalar_one() or 0,
            )
            head = s.get(ChainHead, 1)
            head_seq = head.seq if head is not None else None
        # finish() compares the sizes of the rows before the first other problem
        self.sized, self.problem = self._first_problem(cand_rows, newest, upto, head_seq)

    def _first_problem(
        self, cand_rows: Sequence[Any], newest: int, upto: int, head_seq: int | None
    ) -> tuple[int, str | None]:
        """The first problem but for sizes, and how many version rows come before it."""
        plates = self.plates
        seen: set[tuple[str, str, int]] = set()
        for i, (
            shot,
            plate,
            number,
            image_sha,
            raster_sha,
            source,
            event_seq,
            made_at,
            *_,
        ) in enumerate(self.rows):
            problem = _version_problem(
                plates.get((shot, plate)),
                number,
                (image_sha, raster_sha),
                source,
                event_seq,
                made_at,
            )
            if problem:
                return i, _row_problem(shot, plate, number, event_seq, problem)
            seen.add((shot, plate, number))
        for (shot, plate), replay in plates.items():
            for number in replay.versions:
                if (shot, plate, number) not in seen:
                    return len(self.rows), (
                        f"plate version {shot}/{plate} v{number}: row missing from the "
                        "versions table"
                    )
        cand_seen = 0
        for shot, plate, cand_number, cand_sha, event_seq in cand_rows:
            replay = plates.get((shot, plate))
            if (
                replay is None
                or not 1 <= cand_number <= len(replay.candidates)
                or replay.candidates[cand_number - 1] != (cand_sha, event_seq)
            ):
                return len(self.rows), (
                    f"candidate {shot}/{plate} #{cand_number} (table row for event "
                    f"#{event_seq}): does not match the events (the table was edited)"
                )
            cand_seen += 1
        if cand_seen != sum(len(p.candidates) for p in plates.values()):
            return len(self.rows), "candidates table is missing rows (the table was edited)"
        if newest > upto and (head_seq is None or newest > head_seq):
            return len(self.rows), (
                f"table row for event #{newest}: no such event (the chain ends at "
                f"#{head_seq or 0}; the table was edited)"
            )
        return len(self.rows), None

    def finish(self) -> None:
        """Raise the first problem, the sizes measured by the replay now compared too."""
        for shot, plate, number, *_, event_seq, _made_at, w, h in self.rows[: self.sized]:
            known = self.plates[(shot, plate)].sizes.get(number)
            if known is not None and (w, h) != known:
                problem = f"size {w}x{h}, the image is {known[0]}x{known[1]}"
                raise LedgerIntegrityError(_row_problem(shot, plate, number, event_seq, problem))
        if self.problem:
            raise LedgerIntegrityError(self.problem)


def _row_problem(shot: str, plate: str, number: int, event_seq: int, problem: str) -> str:
    return (
        f"plate version {shot}/{plate} v{number} (table row for event #{event_seq}): "
        f"does not match the events ({problem}; the table was edited)"
    )


def _version_problem(
    replay: _PlateReplay | None,
    number: int,
    blobs: tuple[str, str],
    source: int | None,
    event_seq: int,
    made_at: str,
) -> str | None:
    """What in a versions table row differs from the replayed events (but for its size,
    which the replay measures), or None."""
    if replay is None or number not in replay.versions:
        return "no event made this version"
    if replay.versions[number] != blobs:
        return "image or raster"
    if replay.source.get(number) != source:
        return "source candidate"
    seq, created_at = replay.made[number]
    if event_seq != seq:
        return f"made by event #{seq}"
    if made_at != created_at:
        return f"created_at is not the time of event #{seq}"
    return None
