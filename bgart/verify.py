"""``bgart ledger verify``: recompute a production's history from its ledger and blobs.

The chain of event hashes, every blob's sha256, the numbering of plate versions and
candidates, the derived tables and (the expensive part) every plate version's pixels and
contribution raster, recomputed from the blobs of the events that made it. The first bad
event (lowest seq) or table row is named.

A run checks the ledger as it was when the run started: the events up to the chain head read
then, and the table rows of those events. Other processes may go on appending meanwhile;
what they add is left to the next run.

Each plate version is recomputed from the *stored* version it edits and the event's input
blobs, then compared with the stored version: so versions can be checked in any order, many
of them in one pass of the kernel (:func:`bgart.contribution.apply`), and together the checks
still prove every version from the first. With several CPUs, forked child processes
recompute them (and hash their blobs) while the parent checks the chain, and share out what
is left at the end (see docs/contribution.md for what each check catches).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import traceback
from collections.abc import Callable, Collection, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

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
    report = VerifyReport()
    replayer = _Replayer(project, n_workers, hash_blobs=blobs)
    hasher = _BlobHasher(project, n_workers) if n_workers > 1 and blobs else None
    only = set(shots) if shots is not None else None
    checked_blobs: set[str] = set()
    plates: dict[tuple[str, str], _PlateReplay] = {}
    reverts: list[tuple[PlateKey, int, int]] = []  # plate, version, the version it copies
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
                recompute = (
                    on_plate
                    and rasters
                    and (only is None or ev.shot in only)
                    and not done_before
                    and _makes_new_version(ev)
                )
                if recompute and blobs:  # hashed by the replay, which reads them anyway
                    checked_blobs.update(ev.blobs.values())
                elif hasher is not None:
                    hasher.add(ev, checked_blobs)
                elif blobs:
                    _check_blobs(project, ev, checked_blobs, keep=False)
                if on_plate:
                    assert ev.shot is not None and ev.plate is not None
                    key = (ev.shot, ev.plate)
                    replay = plates.setdefault(key, _PlateReplay())
                    made = _check_numbering(ev, replay)
                    if made is not None and ev.kind == "plate.reverted":
                        reverts.append((key, made[0], int(ev.payload["to_version"])))
                    elif made is not None and recompute:
                        base = made[1]
                        stored = None if base is None else (base, *replay.versions[base])
                        replayer.add(key, ev, stored)
                report.events += 1
                if progress is not None and report.events % 1000 == 0:
                    progress(report.events)
                if report.events % 10_000 == 0:
                    # The queued events live until they are replayed: keep the cyclic GC from
                    # re-scanning them all on every full collection (quadratic on 100k).
                    gc.freeze()
        except LedgerIntegrityError as exc:
            stop = exc
        # Every queued check is of an event before the loop's failure, so a failure there
        # comes first; a bad blob before a bad raster of the same event.
        failures = [hasher.finish()] if hasher is not None else []
        replayed, failure, sizes = replayer.finish()
        for key, plate_sizes in sizes.items():
            plates[key].sizes.update(plate_sizes)
        for key, number, to_version in reverts:  # a copy has the size of what it copies
            known = plates[key].sizes
            if to_version in known:
                known[number] = known[to_version]
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
        replayer.close()
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


# Plate versions to recompute below which starting processes costs more than it saves.
_PARALLEL_REPLAY_MIN = 2000
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


PlateKey = tuple[str, str]  # shot, plate
Base = tuple[int, str, str] | None  # the stored version an edit starts from: number, blobs
PlateWork = tuple[PlateKey, list[tuple[EventRow, Base]]]  # a plate's versions to recompute
Task = list[PlateWork]
PlateSizes = dict[PlateKey, dict[int, Size]]  # (shot, plate) -> version -> size
Result = tuple[int, Failure | None, PlateSizes]

# Versions a child process recomputes in the background while the loop goes on (one child at
# a time): about a second of work, so the last one ends soon after the loop, and few forks
# (each costs the parent copy-on-write faults for a while).
_BACKGROUND_BATCH = 5000
_LOOK_EVERY = 128  # queued versions between two looks at whether the child is done
_SHARED_CHUNK = 8  # plates a child takes at a time from a shared task
_REPLAY_JOB: tuple[Project, Task, bool, Synchronized[int] | None] | None = None  # for a child


class _Replayer:
    """Recomputes the plate versions the ledger loop queues, on forked child processes.

    Each version is recomputed from the stored version it edits (named by the loop), so any
    run of a plate's versions can be checked on its own. With several CPUs, batches are
    replayed by one child in the background while the loop goes on (the loop keeps a CPU);
    what is left at the end is split between ``workers`` children. With one CPU, or little
    to do, everything is replayed in this process at the end.
    """

    def __init__(self, project: Project, workers: int, *, hash_blobs: bool) -> None:
        self.project = project
        self.workers = workers
        self.hash_blobs = hash_blobs
        self.pending: dict[PlateKey, list[tuple[EventRow, Base]]] = {}
        self.queued = 0
        self.children: list[tuple[BaseProcess, Connection]] = []
        self.results: list[Result] = []

    def add(self, key: PlateKey, ev: EventRow, base: Base) -> None:
        self.pending.setdefault(key, []).append((ev, base))
        self.queued += 1
        if (
            self.workers > 1
            and self.queued >= _BACKGROUND_BATCH
            and self.queued % _LOOK_EVERY == 0
            and not self._running()
        ):
            self._fork(self._take(_BACKGROUND_BATCH))

    def _take(self, versions: int | None = None) -> Task:
        """The oldest queued plates, about ``versions`` versions in all (None: all)."""
        task: Task = []
        taken = 0
        while self.pending and (versions is None or taken < versions):
            key = next(iter(self.pending))
            items = self.pending.pop(key)
            task.append((key, items))
            taken += len(items)
        self.queued -= taken
        return task

    def _running(self) -> bool:
        """Collect the children that are done; True while one still runs."""
        for child in list(self.children):
            if child[1].poll():
                self._collect(child)
        return bool(self.children)

    def _fork(self, task: Task, shared: Synchronized[int] | None = None) -> None:
        """Start a child replaying ``task`` (with ``shared``: the plates it takes from
        that counter, shared with its siblings)."""
        global _REPLAY_JOB
        gc.freeze()  # the GC must not touch (and so copy) the pages parent and child share
        ctx = multiprocessing.get_context("fork")
        receive, send = ctx.Pipe(duplex=False)
        _REPLAY_JOB = (self.project, task, self.hash_blobs, shared)  # inherited, not pickled
        try:
            child = ctx.Process(target=_replay_child, args=(send,), daemon=True)
            child.start()
        finally:
            _REPLAY_JOB = None
            send.close()
        self.children.append((child, receive))

    def _collect(self, child: tuple[BaseProcess, Connection]) -> None:
        process, receive = child
        wait([receive, process.sentinel])
        try:
            status, value = receive.recv()
        except EOFError:
            status, value = "error", f"it ended with exit code {process.exitcode}"
        receive.close()
        process.join()
        self.children.remove(child)
        if status != "ok":
            raise RuntimeError(f"ledger verify: a replay process failed: {value}")
        self.results.append(value)

    def finish(self) -> Result:
        """Replay what is left and wait for every child. Returns (versions recomputed, the
        failure with the lowest seq or None, the sizes of the versions recomputed)."""
        task = self._take()
        work = sum(len(items) for _key, items in task)
        if self.workers == 1 or (work < _PARALLEL_REPLAY_MIN and not self.children):
            self.results.append(_replay_task(self.project, task, self.hash_blobs))
        elif task:
            # The children take a few plates at a time, the largest first, from one counter:
            # they finish together, whatever each plate costs and whatever else runs.
            task.sort(key=lambda kv: -len(kv[1]))
            counter = multiprocessing.get_context("fork").Value("q", 0)
            for _ in range(self.workers):
                self._fork(task, counter)
        while self.children:
            self._collect(self.children[0])
        replayed, failures, sizes = 0, [], {}
        for n, failure, plate_sizes in self.results:
            replayed += n
            if failure is not None:
                failures.append(failure)
            for key, versions in plate_sizes.items():
                sizes.setdefault(key, {}).update(versions)
        return replayed, min(failures, default=None, key=lambda f: f[0]), sizes

    def close(self) -> None:
        """Stop any child still running (after an error in this process)."""
        for process, receive in self.children:
            process.terminate()
            process.join()
            receive.close()
        self.children = []


def _replay_child(send: Connection) -> None:
    """A forked child: replay the task it inherited and send back the result."""
    assert _REPLAY_JOB is not None
    project, task, hash_blobs, shared = _REPLAY_JOB
    _child_init(project)
    try:
        plates = task if shared is None else _take_shared(task, shared)
        message: tuple[str, Any] = ("ok", _replay_task(project, plates, hash_blobs))
    except BaseException as exc:  # reported by the parent, which raises it
        where = traceback.extract_tb(exc.__traceback__)[-1]
        problem = "".join(traceback.format_exception_only(exc)).strip()
        message = ("error", f"{problem} (at {Path(where.filename).name}:{where.lineno})")
    send.send(message)
    send.close()


def _take_shared(task: Task, shared: Synchronized[int]) -> Iterator[PlateWork]:
    """The plates of ``task`` not yet taken by a sibling, a few at a time."""
    while True:
        with shared.get_lock():
            start = shared.value
            shared.value = start + _SHARED_CHUNK
        if start >= len(task):
            return
        yield from task[start : start + _SHARED_CHUNK]


def _replay_task(project: Project, task: Iterable[PlateWork], hash_blobs: bool) -> Result:
    """Recompute the queued versions of each plate in ``task`` (hashing their blobs when
    asked): (versions recomputed, first failure or None, the sizes of those versions)."""
    access = _Blobs(project, checked=hash_blobs)
    checks = _Checks()
    seen: set[str] = set()
    sizes: PlateSizes = {}
    for key, items in task:
        plate_sizes = sizes.setdefault(key, {})
        last: _Stored | None = None
        for ev, base in items:
            try:
                if hash_blobs:
                    access.fresh = _check_blobs(project, ev, seen, keep=True)
                last = _queue_version(ev, base, last, access, checks)
                plate_sizes[last.number] = (int(last.image.shape[1]), int(last.image.shape[0]))
            except LedgerIntegrityError as exc:
                checks.fail(ev.seq, str(exc))
                break
    checks.flush()
    return checks.replayed, checks.failure, sizes


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


def _makes_new_version(ev: EventRow) -> bool:
    """Whether ``ev`` claims to make a plate version that has to be recomputed (a revert
    makes a copy: the loop compares its blob hashes)."""
    return (
        ev.kind in VERSION_KINDS
        and ev.kind != "plate.reverted"
        and ev.payload.get("version") is not None
    )


def _check_numbering(ev: EventRow, replay: _PlateReplay) -> tuple[int, int | None] | None:
    """Check one plate event against the history of its plate so far (numbers, references,
    a revert's copy); for an event that makes a version, (its number, the number of the
    version it starts from), else None."""
    p = ev.payload
    if ev.kind == "ai.generated":
        if p.get("candidate") != len(replay.candidates) + 1:
            raise LedgerIntegrityError(f"{ev.label}: candidate number does not follow the history")
        replay.candidates.append((ev.blobs.get("image", ""), ev.seq))
    if ev.kind in ("plate.submitted", "plate.accepted", "plate.rejected"):
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
    replay.source[number] = source
    replay.versions[number] = (image_sha, raster_sha)
    replay.made[number] = (ev.seq, ev.created_at)
    return number, latest


@dataclass
class _Stored:
    """A stored plate version, decoded."""

    number: int
    image: np.ndarray
    raster: Raster


def _queue_version(
    ev: EventRow, base: Base, last: _Stored | None, blobs: _Blobs, checks: _Checks
) -> _Stored:
    """Queue the version ``ev`` made for recomputation, from the event's inputs and the
    stored version ``base`` it started from (``last`` when that is the one decoded last).
    Returns the stored version ``ev`` made, decoded."""
    blobs.decoded.clear()
    expected = _recompute(ev, base, last, blobs)
    # Each version is recomputed from the *stored* version it edits, which is decoded here
    # anyway to be compared with its own recomputation: so versions can be recomputed in any
    # order, many in one pass, and together they still prove the whole chain from the first.
    stored = _Stored(
        int(ev.payload["version"]),
        blobs.array(ev.blobs["image"], "RGB", f"{ev.label} image"),
        blobs.raster(ev.blobs["raster"], ev.label),
    )
    checks.add(_Pending(ev, stored.image, stored.raster, expected))
    return stored


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
    if not contrib.same_pixels(item.image, got.image):
        return "stored plate image differs from the recomputed one"
    if not item.raster.equals(got.raster):
        diff = item.raster.difference(got.raster)
        return f"stored raster differs from the recomputed one ({diff})"
    p = item.ev.payload
    if "stats" in p and p["stats"] != got.stats:
        return "recorded figures differ from the recomputed ones"
    return None


def _recompute(
    ev: EventRow, base: Base, last: _Stored | None, blobs: _Blobs
) -> Applied | contrib.Edit:
    """What version ``ev`` must be: the version itself for a new image, else the edit that
    makes it from the stored version ``base`` (``last`` when that is the one decoded last)."""

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
    if base is None:
        raise LedgerIntegrityError(f"{ev.label}: edits a plate that has no version")
    number, img_sha, ras_sha = base
    if last is not None and last.number == number:
        before, raster = last.image, last.raster
    else:
        before = blobs.array(img_sha, "RGB", f"version {number} image")
        raster = blobs.raster(ras_sha, f"version {number}")
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
