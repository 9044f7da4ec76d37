"""What this machine has already verified of a project's ledger, so a re-verify replays only
what is new.

``bgart ledger verify`` recomputes every plate raster from the blobs; on a long production
that is most of its time. After a clean full run it records the head it reached (seq and
hash) **outside the project**, in the per-machine cache folder. The next run still checks
the whole hash chain and re-hashes every blob, and it demands that the event at the recorded
seq still has the recorded hash, so any edit of an earlier event (even a consistently
re-hashed chain) is caught; only the raster recomputation of events up to that seq is
skipped. ``--fresh`` ignores the record. The record vouches only for a ledger this machine
verified itself: someone who can write the cache folder can forge it, like an anchor kept
in the same place (docs/security.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from bgart.fsutil import atomic_write_text
from bgart.ledger import Project, utc_now
from bgart.provenance import DEFINITION_VERSION


@dataclass(frozen=True)
class VerifiedPrefix:
    """Events 1..seq were fully replayed here; event ``seq`` had hash ``hash``."""

    seq: int
    hash: str
    definition: int
    verified_at: str


def record_path(project: Project) -> Path:
    """One record per (project folder, ledger database) on this machine."""
    key = f"{project.root.resolve()}|{project.db_url}"
    # surrogateescape: a folder name in another encoding (Shift-JIS on a UTF-8 system) is
    # hashed by its bytes rather than crashing
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return project.settings.cache_dir / "ledger-verified" / f"{digest}.json"


def load(project: Project) -> VerifiedPrefix | None:
    """The record, or None when there is none, it is unreadable, or the contribution
    definition changed since (then every raster is recomputed again)."""
    try:
        data = json.loads(record_path(project).read_text(encoding="utf-8"))
        prefix = VerifiedPrefix(
            seq=int(data["seq"]),
            hash=str(data["hash"]),
            definition=int(data["definition"]),
            verified_at=str(data["verified_at"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if prefix.definition != DEFINITION_VERSION or prefix.seq < 1 or len(prefix.hash) != 64:
        return None
    return prefix


def save(project: Project, seq: int, head_hash: str) -> None:
    """Record a clean full replay up to ``seq`` (atomically; a failed write only costs time)."""
    if seq < 1:
        return
    path = record_path(project)
    prefix = VerifiedPrefix(seq, head_hash, DEFINITION_VERSION, utc_now())
    with contextlib.suppress(OSError):
        atomic_write_text(path, json.dumps(asdict(prefix)))
