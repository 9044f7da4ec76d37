"""The append-only event chain: how an event is hashed, and how a reader checks the chain.

Every act on a plate is an :class:`~bgart.ledger.tables.Event` row. Events are numbered
``seq`` = 1, 2, 3… with no gaps and hash-chained::

    hash = sha256(prev_hash ‖ canonical_json(event) ‖ blob_1 ‖ … ‖ blob_n)

where ``canonical_json(event)`` covers seq, id, kind, shot, plate, actor, actor kind, time,
payload, idempotency key and the role → sha256 map of the blobs, and the blob hashes follow
in role order. ``chain_head`` holds the last seq and hash (writers lock it: see
:mod:`bgart.ledger.db`).

Readers get events as :class:`EventRow`; :class:`ChainChecker` checks rows one at a time in
seq order, and the chain head against the last of them (:class:`HeadSnapshot`).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any

from bgart.canonical import canonical_json
from bgart.errors import LedgerIntegrityError
from bgart.events import P, Payload, actor_kind_problem, parse
from bgart.ledger.tables import Event

LEGACY_GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of event #1 in a ledger made before users and roles were chained."""
GENESIS_HASH = hashlib.sha256(b"bgart ledger: users and roles on the chain").hexdigest()
"""The ``prev_hash`` of event #1 in a ledger made since: its users table is checked against
the chain from the start (see :mod:`bgart.ledger.users`). Which of the two starts a chain is
part of every hash after it, so a chain cannot be passed off as the older kind without
rewriting all of it (which an anchor or this machine's verified head catches)."""


# --- hashing -------------------------------------------------------------------------------


def event_body(
    *,
    seq: int,
    id: str,
    kind: str,
    shot: str | None,
    plate: str | None,
    actor: str,
    actor_kind: str,
    created_at: str,
    payload: Mapping[str, Any],
    blobs: Mapping[str, str],
    idem_key: str | None,
) -> dict[str, Any]:
    """The hashed content of an event (everything but ``prev_hash`` and ``hash``)."""
    return {
        "seq": seq,
        "id": id,
        "kind": kind,
        "shot": shot,
        "plate": plate,
        "actor": actor,
        "actor_kind": actor_kind,
        "created_at": created_at,
        "payload": dict(payload),
        "blobs": dict(blobs),
        "idem_key": idem_key,
    }


def event_hash(prev_hash: str, body: Mapping[str, Any]) -> str:
    """sha256(prev_hash ‖ canonical_json(body) ‖ blob hashes in role order)."""
    h = hashlib.sha256()
    h.update(prev_hash.encode("ascii"))
    h.update(canonical_json(body).encode("utf-8"))
    blobs: Mapping[str, str] = body["blobs"]
    for role in sorted(blobs):
        h.update(blobs[role].encode("ascii"))
    return h.hexdigest()


def event_hash_stored(
    prev_hash: str,
    *,
    seq: int,
    id: str,
    kind: str,
    shot: str | None,
    plate: str | None,
    actor: str,
    actor_kind: str,
    created_at: str,
    payload_text: str,
    blobs: Mapping[str, str],
    blobs_text: str,
    idem_key: str | None,
) -> str:
    """:func:`event_hash` computed from the stored canonical texts, without re-serialising.

    The body JSON is assembled in sorted-key order around the stored payload and blobs
    texts, so it equals ``canonical_json(body)`` exactly when those texts are canonical (as
    written by :meth:`WriteTx.append`); any other text, even an equivalent one, changes the
    hash and so reads as an edit.
    """
    d = _dumps
    text_ = (
        '{"actor":'
        + d(actor)
        + ',"actor_kind":'
        + d(actor_kind)
        + ',"blobs":'
        + blobs_text
        + ',"created_at":'
        + d(created_at)
        + ',"id":'
        + d(id)
        + ',"idem_key":'
        + d(idem_key)
        + ',"kind":'
        + d(kind)
        + ',"payload":'
        + payload_text
        + ',"plate":'
        + d(plate)
        + ',"seq":'
        + str(int(seq))
        + ',"shot":'
        + d(shot)
        + "}"
    )
    h = hashlib.sha256()
    h.update(prev_hash.encode("ascii"))
    h.update(text_.encode("utf-8"))
    for role in sorted(blobs):
        h.update(blobs[role].encode("ascii"))
    return h.hexdigest()


def _dumps(value: Any) -> str:
    """``json.dumps(value, ensure_ascii=False)``; strings and None without building an
    encoder each time (verify calls this eight times per event): ``encode_basestring`` is
    the very function json.dumps uses for a str, so the text is the same."""
    if type(value) is str:
        return encode_basestring(value)
    if value is None:
        return "null"
    return json.dumps(value, ensure_ascii=False)


# Event columns stored, hashed and read back as they are (seq, payload and blobs are not:
# an int, and two JSON texts).
PLAIN_COLUMNS = ("id", "kind", "shot", "plate", "actor", "actor_kind", "created_at", "idem_key")


@dataclass(frozen=True)
class EventRow:
    """A plain, detached copy of an event row (what readers get)."""

    seq: int
    id: str
    kind: str
    shot: str | None
    plate: str | None
    actor: str
    actor_kind: str
    created_at: str
    payload_text: str  # canonical JSON, parsed on first use (``payload``)
    blobs: dict[str, str]
    idem_key: str | None
    prev_hash: str
    hash: str

    @functools.cached_property
    def payload(self) -> dict[str, Any]:
        value = json.loads(self.payload_text)
        if not isinstance(value, dict):
            raise LedgerIntegrityError(f"{self.label}: payload is not a JSON object (edited)")
        return value

    @functools.cached_property
    def _typed(self) -> Payload:
        try:
            return parse(self.kind, self.payload)
        except ValueError as exc:
            raise LedgerIntegrityError(f"{self.label}: {exc}") from None

    def typed(self, as_type: type[P]) -> P:
        """The payload as the type :mod:`bgart.events` declares for this kind (``as_type``:
        the type the caller expects), parsed once. A payload that does not fit was edited
        after it was chained (the ledger checks each payload before it chains it): an
        integrity error."""
        value = self._typed
        if not isinstance(value, as_type):
            raise LedgerIntegrityError(
                f"{self.label}: a {self.kind} payload is no {as_type.__name__}"
            )
        return value

    @classmethod
    def from_orm(cls, ev: Event) -> EventRow:
        return cls(
            seq=ev.seq,
            payload_text=ev.payload,
            blobs=json.loads(ev.blobs),
            prev_hash=ev.prev_hash,
            hash=ev.hash,
            **{name: getattr(ev, name) for name in PLAIN_COLUMNS},
        )

    @property
    def label(self) -> str:
        """How verify and the CLI name this event."""
        return f"event #{self.seq} (id {self.id}, {self.kind})"


class ChainChecker:
    """Checks event rows one at a time, in seq order; raises on the first bad one."""

    def __init__(self) -> None:
        self.expected_seq = 1
        self.prev_hash = GENESIS_HASH
        self.first_hash: str | None = None  # event #1's hash: which ledger this is
        self.legacy = False  # the chain starts from LEGACY_GENESIS_HASH

    @property
    def users_chained(self) -> bool:
        """Whether every user of this ledger must be explained by the chain (see
        :mod:`bgart.ledger.users`): the chain was started since users were chained."""
        return not self.legacy

    def check(self, row: Mapping[str, Any]) -> EventRow:
        seq = row["seq"]
        label = f"event #{seq} (id {row['id']}, {row['kind']})"
        if seq != self.expected_seq:
            if seq > self.expected_seq:
                missing = (
                    f"#{self.expected_seq}"
                    if seq == self.expected_seq + 1
                    else f"#{self.expected_seq}–#{seq - 1}"
                )
                raise LedgerIntegrityError(
                    f"event {missing} missing: the chain jumps from "
                    f"#{self.expected_seq - 1} to {label} (rows deleted)"
                )
            raise LedgerIntegrityError(f"{label}: out of order (expected #{self.expected_seq})")
        if seq == 1 and row["prev_hash"] == LEGACY_GENESIS_HASH:
            self.prev_hash = LEGACY_GENESIS_HASH  # a ledger made before users were chained
            self.legacy = True
        if row["prev_hash"] != self.prev_hash:
            raise LedgerIntegrityError(
                f"{label}: prev_hash does not match event #{seq - 1} "
                "(rows deleted, swapped or edited)"
            )
        try:
            blobs = json.loads(row["blobs"])
            if not isinstance(blobs, dict) or not all(isinstance(v, str) for v in blobs.values()):
                raise ValueError("blobs is not a map of hashes")
            plain = {name: row[name] for name in PLAIN_COLUMNS}
            digest = event_hash_stored(
                self.prev_hash,
                seq=seq,
                payload_text=row["payload"],
                blobs=blobs,
                blobs_text=row["blobs"],
                **plain,
            )
        except (ValueError, TypeError, AttributeError, KeyError, UnicodeError) as exc:
            raise LedgerIntegrityError(f"{label}: unreadable row ({exc}); it was edited") from None
        stored = row["hash"]
        if (
            not isinstance(stored, str)
            or not stored.isascii()
            or not hmac.compare_digest(digest, stored)
        ):
            raise LedgerIntegrityError(
                f"{label}: content does not match its hash (the row was edited)"
            )
        if (problem := actor_kind_problem(row["kind"], row["actor_kind"])) is not None:
            # The hash matches: the chain was rebuilt after the edit, or written outside bgart.
            raise LedgerIntegrityError(f"{label}: {problem} (forged, or not written by bgart)")
        self.prev_hash = row["hash"]
        self.expected_seq = seq + 1
        if seq == 1:
            self.first_hash = row["hash"]
        return EventRow(
            seq=seq,
            payload_text=row["payload"],
            blobs=blobs,
            prev_hash=row["prev_hash"],
            hash=row["hash"],
            **plain,
        )

    def finish(
        self, head_seq: int | None, head_hash: str | None, stored_last: int | None = None
    ) -> None:
        """Check the chain head row against the last event seen; ``stored_last``: the highest
        seq in the events table, read no later than the head row (an append commits its row
        and the new head together, so an honest ledger has no row beyond its head)."""
        last = self.expected_seq - 1
        if head_seq is None:
            if last:
                raise LedgerIntegrityError("chain head row missing (the ledger was edited)")
            return
        if last == 0 and head_seq == 0 and head_hash == LEGACY_GENESIS_HASH:
            self.prev_hash = LEGACY_GENESIS_HASH  # an empty ledger made by an older bgart
            self.legacy = True
        if head_seq > last:
            raise LedgerIntegrityError(
                f"event #{last + 1} missing: the chain head records {head_seq} events but "
                f"the last row is #{last} (rows deleted at the end)"
            )
        if head_seq < last or head_hash != self.prev_hash:
            raise LedgerIntegrityError(
                f"chain head (#{head_seq}) does not match event #{last} (the ledger was edited)"
            )
        if stored_last is not None and stored_last > head_seq:
            raise LedgerIntegrityError(
                f"chain head (#{head_seq}) does not match event #{stored_last}, stored beyond it "
                "(the ledger was edited)"
            )


@dataclass(frozen=True)
class HeadSnapshot:
    """The chain head row as one verify run reads it at its start: the run checks exactly the
    events up to it, so events appended meanwhile by another process are left to the next
    run instead of reading as an edit."""

    seq: int | None  # None: the head row is missing
    hash: str | None
    stored_last: int | None  # the highest event seq, read just before the head row
