"""``bgart ledger verify``: recompute a production's history from its ledger and blobs.

The chain of event hashes, every blob's sha256, the numbering of plate versions and
candidates, the derived tables and (the expensive part) every plate version's pixels and
contribution raster, recomputed from the blobs of the events that made it. The first bad
event (lowest seq) or table row is named.

A run checks the ledger as it was when the run started: the events up to the chain head read
then, and the table rows of those events. Other processes may go on appending meanwhile;
what they add is left to the next run.

Plates are independent, so with several CPUs their blobs are hashed and their versions
recomputed side by side in forked worker processes while the parent checks the chain
(see docs/contribution.md for what each check catches).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Callable, Collection
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bgart import contribution as contrib
from bgart.contribution import Applied, Raster
from bgart.errors import InputError, LedgerIntegrityError
from bgart.ledger import Candidate, ChainChecker, ChainHead, EventRow, Plate, PlateVersion, Shot
from bgart.store import BlobStore, Project
from bgart.workflow import VERSION_KINDS, decode_blob


@dataclass
class VerifyReport:
    events: int = 0
    blobs: int = 0
    versions: int = 0
    head_hash: str = ""
    replayed: int = 0  # plate events whose raster was recomputed in this run


# Kinds whose events always record the figures of their edit (bgart.workflow._edit).
_STATS_KINDS = ("human.painted", "ai.inpainted", "human.adjusted")

Size = tuple[int, int]  # width, height


@dataclass
class _PlateReplay:
    versions: dict[int, tuple[str, str]] = field(default_factory=dict)  # n -> image, raster
    candidates: list[tuple[str, int]] = field(default_factory=list)  # image, event seq
    source: dict[int, int | None] = field(default_factory=dict)  # n -> source candidate
    made: dict[int, tuple[int, str]] = field(default_factory=dict)  # n -> event seq, time
    sizes: dict[int, Size] = field(default_factory=dict)  # n -> size, where recomputed
    last: tuple[int, np.ndarray, Raster] | None = None  # the newest stored version, decoded


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
    # recomputed afterwards, plate by plate (on worker processes when there are several
    # CPUs), and so are the blobs those replays read. The other blobs are hashed in the loop,
    # or with several CPUs by a pool while the loop goes on.
    deferred: dict[tuple[str, str], list[tuple[EventRow, bool]]] = {}
    report = VerifyReport()
    hasher = _BlobHasher(project, n_workers) if n_workers > 1 and blobs else None
    only = set(shots) if shots is not None else None
    checked_blobs: set[str] = set()
    plates: dict[tuple[str, str], _PlateReplay] = {}
    anchored = anchor is None
    if anchor is not None and len(anchor) < 12:
        raise InputError("anchor: give at least 12 hex digits of a head hash")
    stop: LedgerIntegrityError | None = None  # the loop's failure, reported after the replays
    try:
        try:
            for raw in project.ledger.iter_rows(upto=head.seq):
                ev = checker.check(raw)
                anchored = anchored or ev.hash.startswith(anchor or "")
                done_before = since is not None and ev.seq <= since[0]
                if since is not None and ev.seq == since[0] and ev.hash != since[1]:
                    raise LedgerIntegrityError(
                        f"{ev.label}: its hash is {ev.hash[:16]}…, but this machine verified "
                        f"{since[1][:16]}… for it earlier: the history was rewritten since (or "
                        "this is another copy of the ledger; --fresh replays it all)"
                    )
                on_plate = ev.plate is not None and ev.shot is not None
                wanted = (
                    on_plate and rasters and (only is None or ev.shot in only) and not done_before
                )
                if wanted and blobs:  # hashed by the replay, which reads them anyway
                    checked_blobs.update(ev.blobs.values())
                elif hasher is not None:
                    hasher.add(ev, checked_blobs)
                elif blobs:
                    _check_blobs(project, ev, checked_blobs, keep=False)
                if on_plate:
                    assert ev.shot is not None and ev.plate is not None
                    replay = plates.setdefault((ev.shot, ev.plate), _PlateReplay())
                    deferred.setdefault((ev.shot, ev.plate), []).append((ev, wanted))
                    _replay_event(ev, replay, None)  # numbering now, rasters later
                report.events += 1
                if progress is not None and report.events % 1000 == 0:
                    progress(report.events)
                if report.events % 10_000 == 0:
                    # The deferred events live until the replay: keep the cyclic GC from
                    # re-scanning them all on every full collection (quadratic on 100k).
                    gc.freeze()
        except LedgerIntegrityError as exc:
            stop = exc
        # Every deferred check is of an event before the loop's failure, so a failure there
        # comes first; a bad blob before a bad raster of the same event.
        failures = [hasher.finish()] if hasher is not None else []
        replayed, failure, sizes = _replay_in_processes(
            project, deferred, hash_blobs=blobs, workers=n_workers
        )
        for key, plate_sizes in sizes.items():
            plates[key].sizes.update(plate_sizes)
        failures.append(failure)
        found = [f for f in failures if f is not None]
        if found:
            raise LedgerIntegrityError(min(found, key=lambda f: f[0])[1])
        if stop is not None:
            raise stop
        report.replayed = replayed
    finally:
        if hasher is not None:
            hasher.close()
        deferred.clear()  # dropped by refcount before the frozen objects are scanned again
        gc.unfreeze()
    project.ledger.check_head(checker, head)
    if since is not None and report.events < since[0]:
        raise LedgerIntegrityError(
            f"the ledger ends at event #{report.events}, but this machine verified it up to "
            f"#{since[0]} earlier: events were removed (--fresh replays what is left)"
        )
    if not anchored:
        raise LedgerIntegrityError(f"no event has hash {anchor}… (the chain was rewritten)")
    _check_tables(project, plates, upto=checker.expected_seq - 1)
    report.blobs = len(checked_blobs)
    report.versions = sum(len(p.versions) for p in plates.values())
    report.head_hash = checker.prev_hash
    return report


# Work units below which starting processes costs more than it saves: about 2000 plate
# versions to recompute (a version weighs _REPLAY_WEIGHT, each of its blobs one unit).
_PARALLEL_REPLAY_MIN = 12_000
_REPLAY_WEIGHT = 6
_HASH_BATCH = 4000  # blobs per job of the background hasher (the first one starts its pool)
_ROLE_EXT = {"raster": "raster", "layout": "bin", "original": "bin"}  # else png

Failure = tuple[int, str]  # (seq of the bad event, message)


def _unseen(ev: EventRow, seen: set[str]) -> list[tuple[str, str]]:
    """(role, sha) of each blob of ``ev`` not in ``seen``, in role order."""
    return [(role, sha) for role, sha in sorted(ev.blobs.items()) if sha not in seen]


def _check_blobs(project: Project, ev: EventRow, seen: set[str], *, keep: bool) -> dict[str, bytes]:
    """Read and hash each blob of ``ev`` not in ``seen`` (then added), raising for the first
    missing or altered one; with ``keep``, the bytes read, by sha, for the raster replay."""
    fresh: dict[str, bytes] = {}
    for role, sha in _unseen(ev, seen):
        problem = _blob_problem(project.blobs, sha, role, fresh if keep else None)
        if problem:
            raise LedgerIntegrityError(_blob_failure(ev.label, role, sha, problem))
        seen.add(sha)  # only once intact: another plate may reach a bad blob at a lower seq
    return fresh


def _blob_problem(
    store: BlobStore, sha: str, role: str, keep: dict[str, bytes] | None = None
) -> str | None:
    """What is wrong with blob ``sha`` (missing, unreadable, altered), or None."""
    data, problem = store.read_checked(sha, _ROLE_EXT.get(role, "png"))
    if problem or data is None:
        return problem or "missing"
    if keep is not None:
        keep[sha] = data
    return None


def _blob_failure(label: str, role: str, sha: str, problem: str) -> str:
    return f"{label}: {role} blob {sha}: {problem}"


def _hash_job(root: str, batch: list[tuple[int, str, str, str]]) -> Failure | None:
    """Check a batch of (seq, event label, role, sha): the first bad blob, or None."""
    store = BlobStore(Path(root))
    for seq, label, role, sha in batch:
        problem = _blob_problem(store, sha, role)
        if problem:
            return seq, _blob_failure(label, role, sha, problem)
    return None


class _BlobHasher:
    """Hashes blobs on worker processes while the ledger loop goes on.

    Batches are checked in seq order within each job; the pool is forked only once a full
    batch is waiting, so a small ledger never starts a process."""

    def __init__(self, project: Project, workers: int) -> None:
        self.project = project
        self.root = str(project.blobs.root)
        self.workers = workers
        self.pending: list[tuple[int, str, str, str]] = []
        self.pool: ProcessPoolExecutor | None = None
        self.futures: list[Future[Failure | None]] = []

    def add(self, ev: EventRow, seen: set[str]) -> None:
        """Queue the blobs of ``ev`` not in ``seen`` (then added: events come in seq order,
        so the first event to name a blob is the one a failure must name)."""
        for role, sha in _unseen(ev, seen):
            seen.add(sha)
            self.pending.append((ev.seq, ev.label, role, sha))
        if len(self.pending) >= _HASH_BATCH:
            if self.pool is None:
                self.pool = _fork_pool(self.project, self.workers)
            self.futures.append(self.pool.submit(_hash_job, self.root, self.pending))
            self.pending = []

    def finish(self) -> Failure | None:
        """Wait for every batch; the failure with the lowest seq, or None."""
        found = [f.result() for f in self.futures]
        if self.pending:
            found.append(_hash_job(self.root, self.pending))
            self.pending = []
        failures = [f for f in found if f is not None]
        return min(failures, key=lambda f: f[0]) if failures else None

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None


def _replay_workers(requested: int | None) -> int:
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1  # the workers inherit the replay plan by fork; elsewhere replay in-process
    if requested is not None:
        return max(1, requested)
    return max(1, min(8, os.cpu_count() or 1))


def _child_init(project: Project) -> None:
    """In a forked worker: no use of the parent's database connections, no kernel threads
    (the raster and deflate thread pools reset themselves at fork)."""
    project.ledger.engine.dispose(close=False)
    contrib.use_threads(False)  # one process per CPU already


def _fork_pool(project: Project, workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_child_init,
        initargs=(project,),
    )


_REPLAY_JOB: tuple[Project, dict[tuple[str, str], list[tuple[EventRow, bool]]], bool] | None = None


PlateSizes = dict[tuple[str, str], dict[int, Size]]  # (shot, plate) -> version -> size


def _replay_plates(keys: list[tuple[str, str]]) -> tuple[int, Failure | None, PlateSizes]:
    """Recompute the wanted versions of whole plates (hashing their blobs when asked).
    Returns (versions recomputed, first failure or None, the sizes of the versions
    recomputed, for the parent's check of the versions table)."""
    assert _REPLAY_JOB is not None
    project, deferred, hash_blobs = _REPLAY_JOB
    access = _Blobs(project, checked=hash_blobs)
    checks = _Checks()
    seen: set[str] = set()
    sizes: PlateSizes = {}
    for key in keys:
        replay = _PlateReplay()
        sizes[key] = replay.sizes
        for ev, wanted in deferred[key]:
            try:
                if hash_blobs and wanted:
                    access.fresh = _check_blobs(project, ev, seen, keep=True)
                _replay_event(ev, replay, access if wanted else None, checks)
            except LedgerIntegrityError as exc:
                checks.fail(ev.seq, str(exc))
                break
    checks.flush()
    return checks.replayed, checks.failure, sizes


def _replay_in_processes(
    project: Project,
    deferred: dict[tuple[str, str], list[tuple[EventRow, bool]]],
    *,
    hash_blobs: bool,
    workers: int,
) -> tuple[int, Failure | None, PlateSizes]:
    """Recompute the deferred plates with versions to recompute on ``workers`` forked
    processes (in-process when there is little to do). Returns (versions recomputed, the
    failure with the lowest seq or None, the sizes of the versions recomputed)."""
    global _REPLAY_JOB
    sizes = {
        k: sum((_REPLAY_WEIGHT + hash_blobs * len(ev.blobs)) * wanted for ev, wanted in evs)
        for k, evs in deferred.items()
    }
    # A plate with nothing to recompute had its numbering checked (and blobs hashed) already.
    deferred = {k: evs for k, evs in deferred.items() if sizes[k]}
    total = sum(sizes[k] for k in deferred)
    _REPLAY_JOB = (project, deferred, hash_blobs)
    try:
        if workers == 1 or total < _PARALLEL_REPLAY_MIN:
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
            with _fork_pool(project, workers) as pool:
                results = list(pool.map(_replay_plates, [g for g in groups if g]))
    finally:
        _REPLAY_JOB = None
    failures = [f for _n, f, _s in results if f is not None]
    sizes: PlateSizes = {}
    for _n, _f, plate_sizes in results:
        sizes.update(plate_sizes)
    first = min(failures, key=lambda f: f[0]) if failures else None
    return sum(n for n, _f, _s in results), first, sizes


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
            self.decoded[key] = decode_blob(self._bytes(sha), mode, what)
        return self.decoded[key]

    def raster(self, sha: str, what: str) -> Raster:
        try:
            return Raster.from_bytes(self._bytes(sha))
        except ValueError as exc:
            raise LedgerIntegrityError(f"{what}: raster blob unreadable ({exc})") from None


def _replay_event(
    ev: EventRow, replay: _PlateReplay, blobs: _Blobs | None = None, checks: _Checks | None = None
) -> None:
    """Check one plate event against the replayed history of its plate. With ``blobs`` and
    ``checks``, the version it makes is also queued for recomputation (from the inputs of
    the event and the stored version it edits); without, numbering and references only."""
    p = ev.payload
    if ev.kind == "ai.generated":
        if p.get("candidate") != len(replay.candidates) + 1:
            raise LedgerIntegrityError(f"{ev.label}: candidate number does not follow the history")
        replay.candidates.append((ev.blobs.get("image", ""), ev.seq))
    if ev.kind in ("plate.submitted", "plate.accepted", "plate.rejected"):
        if p.get("version") != max(replay.versions, default=None):
            raise LedgerIntegrityError(f"{ev.label}: reviews a version that was not the latest")
        return
    if ev.kind not in VERSION_KINDS or p.get("version") is None:
        return
    latest = max(replay.versions, default=None)
    if p.get("base_version") != latest or p.get("version") != (latest or 0) + 1:
        raise LedgerIntegrityError(f"{ev.label}: version numbers do not follow the history")
    number = int(p["version"])
    image_sha, raster_sha = ev.blobs.get("image"), ev.blobs.get("raster")
    if not image_sha or not raster_sha:
        raise LedgerIntegrityError(f"{ev.label}: image or raster blob missing from the event")
    if ev.kind in _STATS_KINDS and not isinstance(p.get("stats"), dict):
        raise LedgerIntegrityError(f"{ev.label}: recorded figures missing (the payload was edited)")
    source = replay.source.get(latest) if latest else None
    if ev.kind == "ai.generated":
        source = p["candidate"]
    elif ev.kind == "variation.selected":
        n = p.get("candidate")
        if (
            not isinstance(n, int)
            or not 1 <= n <= len(replay.candidates)
            or replay.candidates[n - 1][0] != ev.blobs.get("candidate")
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
        if p["to_version"] in replay.sizes:
            replay.sizes[number] = replay.sizes[p["to_version"]]
    replay.source[number] = source
    replay.versions[number] = (image_sha, raster_sha)
    replay.made[number] = (ev.seq, ev.created_at)
    if blobs is None or checks is None:
        replay.last = None
        return
    blobs.decoded.clear()
    expected = _recompute(ev, replay, latest, blobs)
    if expected is None:  # reverted: equality of blob hashes checked above
        replay.last = None
        return
    # Each version is recomputed from the *stored* version it edits, which is decoded here
    # anyway to be compared with its own recomputation: so versions can be recomputed in any
    # order, many in one pass, and together they still prove the whole chain from the first.
    stored_image = blobs.array(image_sha, "RGB", f"{ev.label} image")
    stored_raster = blobs.raster(raster_sha, ev.label)
    replay.sizes[number] = (int(stored_image.shape[1]), int(stored_image.shape[0]))
    replay.last = (number, stored_image, stored_raster)
    checks.add(_Pending(ev, stored_image, stored_raster, expected))


# Pixels of queued plate versions recomputed in one kernel pass: enough for numpy's per-call
# cost to vanish on small plates, little enough to stay in the cache's neighbourhood.
_PASS_PIXELS = 1 << 20


@dataclass
class _Pending:
    """A plate version to compare with its recomputation."""

    ev: EventRow
    image: np.ndarray  # the stored plate image
    raster: Raster  # the stored raster
    expected: Applied | contrib.Edit  # what they must equal, or the edit that recomputes it


class _Checks:
    """Plate versions waiting to be recomputed: edits of one kind go through the kernel
    together (:func:`bgart.contribution.apply`); the failure kept is the one with the
    lowest seq."""

    def __init__(self) -> None:
        self.pending: list[_Pending] = []
        self.pixels = 0
        self.replayed = 0
        self.failure: Failure | None = None

    def fail(self, seq: int, message: str) -> None:
        if self.failure is None or seq < self.failure[0]:
            self.failure = (seq, message)

    def add(self, item: _Pending) -> None:
        self.pending.append(item)
        self.pixels += item.image.shape[0] * item.image.shape[1]
        if self.pixels >= _PASS_PIXELS:
            self.flush()

    def flush(self) -> None:
        pending, self.pending, self.pixels = self.pending, [], 0
        edits = [p.expected for p in pending if isinstance(p.expected, contrib.Edit)]
        recomputed = iter(_apply_each(edits))
        for item in pending:
            got = next(recomputed) if isinstance(item.expected, contrib.Edit) else item.expected
            problem = _mismatch(item, got)
            if problem:
                self.fail(item.ev.seq, f"{item.ev.label}: {problem}")
            else:
                self.replayed += 1


def _apply_each(edits: list[contrib.Edit]) -> list[Applied | str]:
    """Each edit applied (together), or for one that cannot be, why."""
    try:
        return list(contrib.apply(edits))
    except ValueError:  # an edit that does not fit its plate: find which, apply the rest
        out: list[Applied | str] = []
        for edit in edits:
            try:
                out.append(contrib.apply([edit])[0])
            except ValueError as exc:
                out.append(str(exc))
        return out


def _mismatch(item: _Pending, got: Applied | str) -> str | None:
    """How the stored version differs from its recomputation ``got``, or None."""
    if isinstance(got, str):
        return f"cannot be replayed ({got})"
    if not np.array_equal(item.image, got.image):
        return "stored plate image differs from the recomputed one"
    diff = item.raster.difference(got.raster)
    if diff:
        return f"stored raster differs from the recomputed one ({diff})"
    p = item.ev.payload
    if "stats" in p and p["stats"] != got.stats:
        return "recorded figures differ from the recomputed ones"
    return None


def _recompute(
    ev: EventRow, replay: _PlateReplay, base: int | None, blobs: _Blobs
) -> Applied | contrib.Edit | None:
    """What version ``ev`` must be: the version itself for a new image, else the edit that
    makes it from the stored version ``base`` (None for a revert)."""

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
    if kind == "human.painted":
        if p.get("source") == "final":
            return contrib.Edit("final", before, raster, blob("final"))
        return contrib.Edit("paint", before, raster, blob("layer", "RGBA"))
    if kind == "ai.inpainted":
        mask = contrib.mask_from_image(blob("mask", "L"))
        return contrib.Edit("inpaint", before, raster, blob("result"), mask)
    if kind == "human.adjusted":
        return contrib.Edit("adjust", before, raster, blob("adjusted"))
    raise LedgerIntegrityError(f"{ev.label}: unknown plate event")


def _check_tables(
    project: Project, plates: dict[tuple[str, str], _PlateReplay], *, upto: int
) -> None:
    """The derived tables (versions, candidates) must match the replayed events: the rows of
    events up to ``upto`` (the head this run checked; later rows are the next run's)."""
    from sqlalchemy import func, select

    # Plain column rows, not ORM objects: this reads every version of a production.
    pv, cd = PlateVersion, Candidate
    with project.ledger.read() as s:
        rows = s.execute(
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
        # The head is read after the newest rows: an append commits its rows together with
        # the new head, so no honest row names an event beyond it.
        newest = max(
            s.execute(select(func.max(pv.event_seq))).scalar_one() or 0,
            s.execute(select(func.max(cd.event_seq))).scalar_one() or 0,
        )
        head = s.get(ChainHead, 1)
    seen: set[tuple[str, str, int]] = set()
    for shot, plate, number, image_sha, raster_sha, source, event_seq, made_at, w, h in rows:
        problem = _version_problem(
            plates.get((shot, plate)), number, (image_sha, raster_sha), source, event_seq,
            made_at, (w, h),
        )
        if problem:
            raise LedgerIntegrityError(
                f"plate version {shot}/{plate} v{number} (table row for event #{event_seq}): "
                f"does not match the events ({problem}; the table was edited)"
            )
        seen.add((shot, plate, number))
    for (shot, plate), replay in plates.items():
        for number in replay.versions:
            if (shot, plate, number) not in seen:
                raise LedgerIntegrityError(
                    f"plate version {shot}/{plate} v{number}: row missing from the versions table"
                )
    cand_seen = 0
    for shot, plate, cand_number, cand_sha, event_seq in cand_rows:
        replay = plates.get((shot, plate))
        if (
            replay is None
            or not 1 <= cand_number <= len(replay.candidates)
            or replay.candidates[cand_number - 1] != (cand_sha, event_seq)
        ):
            raise LedgerIntegrityError(
                f"candidate {shot}/{plate} #{cand_number} (table row for event #{event_seq}): "
                "does not match the events (the table was edited)"
            )
        cand_seen += 1
    if cand_seen != sum(len(p.candidates) for p in plates.values()):
        raise LedgerIntegrityError("candidates table is missing rows (the table was edited)")
    if newest > upto and (head is None or newest > head.seq):
        raise LedgerIntegrityError(
            f"table row for event #{newest}: no such event (the chain ends at "
            f"#{head.seq if head else 0}; the table was edited)"
        )


def _version_problem(
    replay: _PlateReplay | None,
    number: int,
    blobs: tuple[str, str],
    source: int | None,
    event_seq: int,
    made_at: str,
    size: Size,
) -> str | None:
    """What in a versions table row differs from the replayed events, or None."""
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
    known = replay.sizes.get(number)
    if known is not None and tuple(size) != known:
        return f"size {size[0]}x{size[1]}, the image is {known[0]}x{known[1]}"
    return None
