"""What this machine has already verified of a project's ledger: the head a full run proved,
which ledger that was, and every rewrite of its history that someone accepted here.

``bgart ledger verify`` recomputes every plate raster from the blobs; on a long production
that is most of its time. After a clean full run it records the head it reached (seq and
hash) and the hash of event #1 (which ledger this is) **outside the project**, in the
per-machine cache folder. Every later run (``--fresh`` too: it only recomputes every raster
again) demands that the event at the recorded seq still has the recorded hash, so any edit
of an earlier event, even a consistently re-hashed chain, is refused as a rewrite.

A rewritten history is accepted only by naming both heads
(``bgart ledger verify --accept-rewrite OLD NEW``); the record then keeps both, with the
time, in its ``history``, and every later verify prints them. A project re-created at a
verified path has another event #1: it is recognised as a new ledger (and the old one kept
in the history) when its first event is dated after the last verification here; a "new"
ledger whose events are dated before that is a rewrite of the whole history, refused like
any other. The record vouches only for a ledger this machine verified itself: someone who
can write the cache folder can forge it; an anchor kept off the machine
(``bgart ledger anchor``) cannot be (docs/security.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bgart.errors import InputError, LedgerIntegrityError
from bgart.fsutil import MIB, atomic_write_text, read_bounded_text
from bgart.ledger import Project, utc_now
from bgart.provenance import DEFINITION_VERSION

MAX_RECORD_BYTES = 4 * MIB  # a few hundred bytes, plus one entry per accepted rewrite


@dataclass(frozen=True)
class VerifiedPrefix:
    """Events 1..seq were fully replayed here; event ``seq`` had hash ``hash``; event #1 had
    hash ``first`` (None: recorded by an older bgart)."""

    seq: int
    hash: str
    definition: int
    verified_at: str
    first: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def replay_since(self) -> tuple[int, str] | None:
        """(seq, hash) whose rasters need no recomputing (None: the contribution definition
        changed since, so every raster is recomputed again)."""
        return (self.seq, self.hash) if self.definition == DEFINITION_VERSION else None

    def head(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash, "first": self.first}


def record_path(project: Project) -> Path:
    """One record per (project folder, ledger database) on this machine."""
    key = f"{project.root.resolve()}|{project.db_url}"
    # surrogateescape: a folder name in another encoding (Shift-JIS on a UTF-8 system) is
    # hashed by its bytes rather than crashing
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return project.settings.cache_dir / "ledger-verified" / f"{digest}.json"


def load(project: Project) -> VerifiedPrefix | None:
    """The record, or None when there is none or it is unreadable.

    Read bounded: a record swapped for ``/dev/zero``, a FIFO or a huge file is unreadable
    (as a deleted one is), never a hang or a MemoryError."""
    try:
        data = json.loads(read_bounded_text(record_path(project), max_bytes=MAX_RECORD_BYTES))
        history = data.get("history") or []
        prefix = VerifiedPrefix(
            seq=int(data["seq"]),
            hash=str(data["hash"]),
            definition=int(data["definition"]),
            verified_at=str(data["verified_at"]),
            first=None if data.get("first") is None else str(data["first"]),
            history=[h for h in history if isinstance(h, dict)],
        )
    except (InputError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None
    if prefix.seq < 1 or len(prefix.hash) != 64:
        return None
    return prefix


def save(
    project: Project,
    seq: int,
    head_hash: str,
    first: str | None,
    *,
    event: dict[str, Any] | None = None,
) -> None:
    """Record a clean full replay up to ``seq`` (atomically; a failed write only costs
    time), keeping the history of the record it replaces (``event``: an entry to add)."""
    if seq < 1:
        return
    old = load(project)
    history = list(old.history) if old else []
    if event is not None:
        history.append(event)
    prefix = VerifiedPrefix(seq, head_hash, DEFINITION_VERSION, utc_now(), first, history)
    with contextlib.suppress(OSError):
        atomic_write_text(record_path(project), json.dumps(asdict(prefix)))


def current(project: Project) -> dict[str, Any]:
    """The ledger's head and first event now, as read (not verified)."""
    seq, head_hash = project.ledger.head()
    ev = project.ledger.event(1)
    return {"seq": seq, "hash": head_hash, "first": ev.hash if ev else None}


def is_new_ledger(project: Project, record: VerifiedPrefix) -> bool:
    """Whether the ledger here is another one than the record's (its event #1 differs) made
    after the record: a project re-created at this path. Raises when event #1 differs but is
    dated before the record (a rewrite of the whole history)."""
    ev = project.ledger.event(1)
    if record.first is None or ev is None or ev.hash == record.first:
        return False
    if ev.created_at > record.verified_at:
        return True
    now = current(project)
    raise LedgerIntegrityError(
        f"ledger history rewritten from its first event: event #1 has hash {ev.hash[:16]}…, "
        f"but the ledger this machine verified at {record.verified_at} began with "
        f"{record.first[:16]}…, and this one is dated before that ({ev.created_at}), so it "
        "is no new project. Likely cause: tampering (events edited and the chain re-hashed); "
        "compare with an anchor kept off this machine. If the rewrite was intended, accept "
        f"it by naming both heads: bgart ledger verify --accept-rewrite {record.hash} "
        f"{now['hash']}"
    )


def check_unchanged(project: Project, record: VerifiedPrefix) -> None:
    """The event at the recorded seq must still have the recorded hash; else one line
    naming the likely cause (tampering), both heads and how to accept a wanted rewrite."""
    ev = project.ledger.event(record.seq)
    if ev is not None and ev.hash == record.hash:
        return
    now = current(project)
    accept = (
        "compare with an anchor kept off this machine. If the rewrite was intended (a restore "
        "from backup), accept it by naming both heads: bgart ledger verify --accept-rewrite "
        f"{record.hash} {now['hash']}"
    )
    if ev is None:
        raise LedgerIntegrityError(
            f"ledger history rewritten: it ends at event #{now['seq']}, but this machine "
            f"verified it up to #{record.seq} (head {record.hash[:16]}…) at "
            f"{record.verified_at}: events were removed. Likely cause: tampering; {accept}"
        )
    raise LedgerIntegrityError(
        f"ledger history rewritten: {ev.label} has hash {ev.hash[:16]}…, but this machine "
        f"verified {record.hash[:16]}… for it at {record.verified_at}. Likely cause: "
        f"tampering (an event edited and the chain re-hashed after it); {accept}"
    )


def check_acceptance(record: VerifiedPrefix | None, old: str, new: str) -> None:
    """``--accept-rewrite OLD NEW``: OLD must be the head this machine verified."""
    for name, value in (("OLD", old), ("NEW", new)):
        if len(value) < 12 or any(c not in "0123456789abcdef" for c in value.lower()):
            raise InputError(f"--accept-rewrite {name} '{value}': give at least 12 hex digits")
    if record is None:
        raise InputError(
            "--accept-rewrite: this machine has no verified head of this ledger (plain "
            "`bgart ledger verify` checks it in full)"
        )
    if not record.hash.startswith(old.lower()):
        raise InputError(
            f"--accept-rewrite OLD '{old}': the head this machine verified is #{record.seq} "
            f"{record.hash}"
        )


def history_lines(record: VerifiedPrefix | None) -> list[str]:
    """One note per rewrite accepted, or new ledger found, at this path on this machine."""
    lines = []
    for h in record.history if record else []:
        old, new = h.get("old") or {}, h.get("new") or {}
        lines.append(
            f"note: {h.get('event', 'change')} at {h.get('at', '?')}: old head "
            f"#{old.get('seq')} {str(old.get('hash'))[:16]}… -> new head #{new.get('seq')} "
            f"{str(new.get('hash'))[:16]}… (both kept in this machine's record)"
        )
    return lines
