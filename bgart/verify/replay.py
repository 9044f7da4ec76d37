"""Recomputing plate versions from their blobs, for ``bgart ledger verify`` (and hashing the
blobs no recomputation reads).

Each version is recomputed from the *stored* version it edits (decoded anyway, to be compared
with its own recomputation) and the event's input blobs, then compared with what is stored:
so versions can be checked in any order, many in one kernel pass
(:func:`bgart.provenance.edits.apply`), and together the checks still prove every version from
the first. :class:`Replayer` runs them (and the hashing) in forked child processes while
the ledger loop of :func:`bgart.verify.chain.verify_project` checks the chain, and shares out the
rest at the end.
"""

from __future__ import annotations

import gc
import multiprocessing
import traceback
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any, cast

import numpy as np

from bgart import provenance as contrib
from bgart.errors import LedgerIntegrityError
from bgart.events import spec
from bgart.ledger import BlobStore, EventRow, Project
from bgart.plates import decode_blob
from bgart.provenance import Applied, Raster

Size = tuple[int, int]  # width, height

Failure = tuple[int, str]  # (seq of the bad event, message)
PlateKey = tuple[str, str]  # shot, plate
Base = tuple[int, str, str] | None  # the stored version an edit starts from: number, blobs
# v2 finals: the earlier versions the event consulted (payload restore_from), number -> blobs
History = dict[int, tuple[str, str]] | None
PlateWork = tuple[PlateKey, list[tuple[EventRow, Base, History]]]  # versions to recompute


@dataclass
class HashWork:
    """Blobs no replay reads, only to be hashed: (seq, label of the first event naming the
    blob, its role there, sha)."""

    blobs: list[tuple[int, str, str, str]]


Task = list[PlateWork | HashWork]
PlateSizes = dict[PlateKey, dict[int, Size]]  # (shot, plate) -> version -> size
Result = tuple[int, Failure | None, PlateSizes]

_ROLE_EXT = {"raster": "raster", "layout": "bin", "original": "bin"}  # else png


def unseen_blobs(ev: EventRow, seen: set[str]) -> list[tuple[str, str]]:
    """(role, sha) of each blob of ``ev`` not in ``seen``, in role order."""
    return [(role, sha) for role, sha in sorted(ev.blobs.items()) if sha not in seen]


def check_blobs(project: Project, ev: EventRow, seen: set[str], *, keep: bool) -> dict[str, bytes]:
    """Read and hash each blob of ``ev`` not in ``seen`` (then added), raising for the first
    missing or altered one; with ``keep``, the bytes read, by sha, for the raster replay."""
    fresh: dict[str, bytes] = {}
    for role, sha in unseen_blobs(ev, seen):
        problem = blob_problem(project.blobs, sha, role, fresh if keep else None)
        if problem:
            raise LedgerIntegrityError(blob_failure(ev.label, role, sha, problem))
        seen.add(sha)  # only once intact: another plate may reach a bad blob at a lower seq
    return fresh


def blob_problem(
    store: BlobStore, sha: str, role: str, keep: dict[str, bytes] | None = None
) -> str | None:
    """What is wrong with blob ``sha`` (missing, unreadable, altered), or None."""
    data, problem = store.read_checked(sha, _ROLE_EXT.get(role, "png"))
    if problem or data is None:
        return problem or "missing"
    if keep is not None:
        keep[sha] = data
    return None


def blob_failure(label: str, role: str, sha: str, problem: str) -> str:
    return f"{label}: {role} blob {sha}: {problem}"


def child_init(project: Project) -> None:
    """In a forked child: no use of the parent's database connections, no kernel threads
    (the raster and deflate thread pools reset themselves at fork), and freed memory kept
    for reuse as in the parent's kernel (without it the children spent a tenth of their time
    page-faulting fresh copies of each kernel pass's arrays)."""
    project.ledger.engine.dispose(close=False)
    contrib.use_threads(False)  # one process per CPU already
    contrib.keep_freed_memory()


# Plate versions to recompute below which starting processes costs more than it saves.
_PARALLEL_REPLAY_MIN = 2000


# Versions a child process recomputes in the background while the loop goes on (one child at
# a time): about a second of work, so the last one ends soon after the loop, and few forks
# (each costs the parent copy-on-write faults for a while).
_BACKGROUND_BATCH = 5000

_LOOK_EVERY = 128  # queued versions between two looks at whether the child is done

_SHARED_CHUNK = 8  # plates a child takes at a time from a shared task

_HASH_CHUNK = 256  # blobs to hash only, per piece of work

# Blobs hashed (read and sha256 only) in the time one small plate version is recomputed:
# what a piece of hash-only work counts for when work is weighed out.
_HASHES_PER_VERSION = 16

_REPLAY_JOB: tuple[Project, Task, bool, Synchronized[int] | None] | None = None  # for a child


class Replayer:
    """Recomputes the plate versions the ledger loop queues, and hashes the blobs it queues
    that no replay reads, on forked child processes.

    Each version is recomputed from the stored version it edits (named by the loop), so any
    run of a plate's versions can be checked on its own. With several CPUs, batches of work
    go to one child in the background while the loop goes on (the loop keeps a CPU); what
    is left at the end is shared out between ``workers`` children. With one CPU, or little
    to do, everything is done in this process at the end.
    """

    def __init__(self, project: Project, workers: int, *, hash_blobs: bool) -> None:
        self.project = project
        self.workers = workers
        self.hash_blobs = hash_blobs
        self.pending: dict[PlateKey, list[tuple[EventRow, Base, History]]] = {}
        self.hashes: deque[HashWork] = deque()  # whole chunks of blobs to hash, oldest first
        self.blobs: list[tuple[int, str, str, str]] = []  # the chunk being filled
        self.queued = 0  # work queued, in plate versions (see _HASHES_PER_VERSION)
        self.unlooked = 0  # work queued since the last look at the background child
        self.children: list[tuple[BaseProcess, Connection]] = []
        self.results: list[Result] = []

    def add(self, key: PlateKey, ev: EventRow, base: Base, history: History = None) -> None:
        """Queue the version ``ev`` made for recomputation from the stored version ``base``
        (and, for a final that consulted earlier versions, those versions' blobs)."""
        self.pending.setdefault(key, []).append((ev, base, history))
        self._queued(1)

    def hash(self, ev: EventRow, seen: set[str]) -> None:
        """Queue the blobs of ``ev`` not in ``seen`` (then added) to be hashed: events come in
        seq order, so the first event to name a blob is the one a failure must name."""
        for role, sha in unseen_blobs(ev, seen):
            seen.add(sha)
            self.blobs.append((ev.seq, ev.label, role, sha))
        if len(self.blobs) >= _HASH_CHUNK:
            self.hashes.append(HashWork(self.blobs))
            self.blobs = []
            self._queued(_cost(self.hashes[-1]))

    def _queued(self, work: int) -> None:
        self.queued += work
        self.unlooked += work
        if self.workers > 1 and self.queued >= _BACKGROUND_BATCH and self.unlooked >= _LOOK_EVERY:
            self.unlooked = 0
            if not self._running():
                self._fork(self._take(_BACKGROUND_BATCH))

    def _take(self, work: int | None = None) -> Task:
        """The oldest queued blobs to hash and plates, about ``work`` in all (None: all)."""
        if work is None and self.blobs:  # the last chunk, whatever its size
            self.hashes.append(HashWork(self.blobs))
            self.blobs = []
            self.queued += _cost(self.hashes[-1])
        task: Task = []
        taken = 0
        while (self.hashes or self.pending) and (work is None or taken < work):
            item: PlateWork | HashWork
            if self.hashes:
                item = self.hashes.popleft()
            else:
                key = next(iter(self.pending))
                item = (key, self.pending.pop(key))
            task.append(item)
            taken += _cost(item)
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
        self.results.append(cast(Result, value))

    def start_rest(self) -> None:
        """Start on what is left, once the loop has queued everything: children share it
        out (the caller may do other work meanwhile), or with one CPU or little to do, this
        process does it now."""
        task = self._take()
        work = sum(_cost(item) for item in task)
        if self.workers == 1 or (work < _PARALLEL_REPLAY_MIN and not self.children):
            self.results.append(_replay_task(self.project, task, self.hash_blobs))
        elif task:
            # The children take a few pieces at a time, the largest first, from one counter:
            # they finish together, whatever each piece costs and whatever else runs.
            task.sort(key=lambda item: -_cost(item))
            counter = multiprocessing.get_context("fork").Value("q", 0)
            for _ in range(self.workers):
                self._fork(task, counter)

    def finish(self) -> Result:
        """Wait for every child (after :meth:`start_rest`). Returns (versions recomputed, the
        failure with the lowest seq or None, the sizes of the versions recomputed)."""
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
    child_init(project)
    try:
        plates = task if shared is None else _take_shared(task, shared)
        message: tuple[str, Any] = ("ok", _replay_task(project, plates, hash_blobs))
    except BaseException as exc:  # reported by the parent, which raises it
        where = traceback.extract_tb(exc.__traceback__)[-1]
        problem = "".join(traceback.format_exception_only(exc)).strip()
        message = ("error", f"{problem} (at {Path(where.filename).name}:{where.lineno})")
    send.send(message)
    send.close()


def _cost(item: PlateWork | HashWork) -> int:
    """A piece of work's weight, in plate versions."""
    if isinstance(item, HashWork):
        return max(1, len(item.blobs) // _HASHES_PER_VERSION)
    return len(item[1])


def _take_shared(task: Task, shared: Synchronized[int]) -> Iterator[PlateWork | HashWork]:
    """The pieces of ``task`` not yet taken by a sibling, a few at a time."""
    while True:
        with shared.get_lock():
            start = shared.value
            shared.value = start + _SHARED_CHUNK
        if start >= len(task):
            return
        yield from task[start : start + _SHARED_CHUNK]


def _replay_task(
    project: Project, task: Iterable[PlateWork | HashWork], hash_blobs: bool
) -> Result:
    """Hash the blobs and recompute the queued versions of each plate in ``task`` (hashing
    their blobs too when asked): (versions recomputed, the failure with the lowest seq or
    None, the sizes of those versions)."""
    access = _Blobs(project, checked=hash_blobs)
    checks = _Checks()
    seen: set[str] = set()
    sizes: PlateSizes = {}
    for work in task:
        if isinstance(work, HashWork):
            _hash_only(project.blobs, work, checks)
            continue
        key, items = work
        plate_sizes = sizes.setdefault(key, {})
        last: _Stored | None = None
        for ev, base, history in items:
            try:
                if hash_blobs:
                    access.fresh = check_blobs(project, ev, seen, keep=True)
                last = _queue_version(ev, base, last, access, checks, history)
                plate_sizes[last.number] = (int(last.image.shape[1]), int(last.image.shape[0]))
            except LedgerIntegrityError as exc:
                checks.fail(ev.seq, str(exc))
                break
    checks.flush()
    return checks.replayed, checks.failure, sizes


def _hash_only(store: BlobStore, work: HashWork, checks: _Checks) -> None:
    """Check each blob of ``work`` (in seq order) up to the first bad one."""
    for seq, label, role, sha in work.blobs:
        problem = blob_problem(store, sha, role)
        if problem:
            checks.fail(seq, blob_failure(label, role, sha, problem))
            return


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

    def array_once(self, sha: str, mode: str, what: str) -> np.ndarray:
        """Decoded but not kept: an earlier version a final consulted (a 4K plate's
        versions are not all held in memory)."""
        hit = self.decoded.get((sha, mode))
        return hit if hit is not None else decode_blob(self._bytes(sha), mode, what)

    def png(self, sha: str) -> bytes:
        """A PNG blob's bytes (an earlier version read from the one after it)."""
        return self._bytes(sha)

    def raster(self, sha: str, what: str) -> Raster:
        try:
            return Raster.from_bytes(self._bytes(sha))
        except ValueError as exc:
            raise LedgerIntegrityError(f"{what}: raster blob unreadable ({exc})") from None


@dataclass
class _Stored:
    """A stored plate version, decoded."""

    number: int
    image: np.ndarray
    raster: Raster


def _queue_version(
    ev: EventRow,
    base: Base,
    last: _Stored | None,
    blobs: _Blobs,
    checks: _Checks,
    history: History = None,
) -> _Stored:
    """Queue the version ``ev`` made for recomputation, from the event's inputs and the
    stored version ``base`` it started from (``last`` when that is the one decoded last;
    ``history``: the earlier versions a final consulted). Returns the stored version ``ev``
    made, decoded."""
    blobs.decoded.clear()
    expected = _recompute(ev, base, last, blobs)
    if history is not None and isinstance(expected, contrib.Edit) and expected.kind == "final":
        expected = _restored(ev, expected, history, blobs, None if base is None else base[1])
    # Each version is recomputed from the *stored* version it edits, which is decoded here
    # anyway to be compared with its own recomputation: so versions can be recomputed in any
    # order, many in one pass, and together they still prove the whole chain from the first.
    stored = _Stored(
        int(ev.payload["version"]),
        blobs.array(ev.blobs["image"], "RGB", f"{ev.label} image"),
        blobs.raster(ev.blobs["raster"], ev.label),
    )
    checks.add(_Pending(ev, stored, expected))
    return stored


# Pixels of queued plate versions recomputed in one kernel pass: enough for numpy's per-call
# cost to vanish on small plates, little enough to stay in the cache's neighbourhood.
_PASS_PIXELS = 1 << 20


@dataclass
class _Pending:
    """A plate version to compare with its recomputation."""

    ev: EventRow
    stored: _Stored
    # what it must equal, the edit that recomputes it, or why it cannot be recomputed
    expected: Applied | contrib.Edit | str


class _Checks:
    """Plate versions waiting to be recomputed: edits of one kind go through the kernel
    together (:func:`bgart.provenance.edits.apply`); the failure kept is the one with the
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
        self.pixels += item.stored.image.shape[0] * item.stored.image.shape[1]
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
    stored = item.stored
    if not contrib.same_pixels(stored.image, got.image):
        return "stored plate image differs from the recomputed one"
    if not stored.raster.equals(got.raster):
        diff = stored.raster.difference(got.raster)
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

    try:  # the edit comes from the table of event kinds (bgart.events)
        entry = contrib.EDITS.get(spec(ev.kind).edit(ev.payload))
    except ValueError:
        entry = None
    if entry is None:
        raise LedgerIntegrityError(f"{ev.label}: unknown plate event")
    if entry.starts_plate:
        try:
            return entry.first_version(blob, ev.payload)
        except ValueError as exc:
            raise LedgerIntegrityError(f"{ev.label}: cannot be replayed ({exc})") from None
    if base is None:
        raise LedgerIntegrityError(f"{ev.label}: edits a plate that has no version")
    number, img_sha, ras_sha = base
    if last is not None and last.number == number:
        before, raster = last.image, last.raster
    else:
        before = blobs.array(img_sha, "RGB", f"version {number} image")
        raster = blobs.raster(ras_sha, f"version {number}")
    return entry.edit(before, raster, blob, payload=ev.payload)  # under its own definition


def _restored(
    ev: EventRow,
    edit: contrib.Edit,
    history: dict[int, tuple[str, str]],
    blobs: _Blobs,
    base_sha: str | None,
) -> Applied | str:
    """A v2 final that consulted earlier versions (payload ``restore_from``): the edit
    applied, then the returns to those versions (:func:`bgart.provenance.restore_earlier`,
    the function the act called), or why it cannot be replayed."""
    consulted = ev.payload.get("restore_from")
    if not isinstance(consulted, list) or any(
        not isinstance(n, int) or isinstance(n, bool) or n not in history for n in consulted
    ):
        raise LedgerIntegrityError(f"{ev.label}: restore_from names a version the plate lacks")

    def earlier(number: int) -> contrib.Earlier:
        image_sha, raster_sha = history[number]
        return contrib.Earlier(
            number,
            lambda: blobs.array_once(image_sha, "RGB", f"version {number} image"),
            lambda: blobs.raster(raster_sha, f"version {number}"),
            lambda: blobs.png(image_sha),
        )

    rendered = None
    if "restore_ref" in ev.payload:  # a lossy file: an earlier version as its codec renders it
        if "ref_restore" not in ev.blobs:
            raise LedgerIntegrityError(f"{ev.label}: no ref_restore blob")
        number = ev.payload["restore_ref"]
        image = blobs.array(ev.blobs["ref_restore"], "RGB", f"{ev.label} ref_restore")
        rendered = (number if isinstance(number, int) else -1, image)
    try:
        applied = contrib.apply([edit])[0]
        noise = edit.noise
        return contrib.restore_earlier(
            applied,
            edit.before,
            edit.image,
            [earlier(n) for n in consulted],
            floor=None if noise is None else noise.floor,
            ref_before=None if noise is None else noise.ref,
            rendered=rendered,
            before_png=None if base_sha is None else lambda: blobs.png(base_sha),
        )
    except ValueError as exc:
        return str(exc)
