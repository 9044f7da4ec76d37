"""The ledger: users, shots, plates, plate versions and the append-only event chain.

Every act on a plate is an :class:`Event` row. Events are numbered ``seq`` = 1, 2, 3… with
no gaps and hash-chained::

    hash = sha256(prev_hash ‖ canonical_json(event) ‖ blob_1 ‖ … ‖ blob_n)

where ``canonical_json(event)`` covers seq, id, kind, shot, plate, actor, actor kind, time,
payload, idempotency key and the role → sha256 map of the blobs, and the blob hashes follow
in role order. ``chain_head`` holds the last seq and hash; it is also the lock row that
serialises writers: SQLite takes the write lock up front (``BEGIN IMMEDIATE``), PostgreSQL
locks the head row (``SELECT … FOR UPDATE``), so two processes appending at once still make
one chain.

Shots, plates, versions and candidates are derived tables, kept for fast lookups; ``bgart
ledger verify`` (:func:`bgart.verify.chain.verify_project`) checks them against the events.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
import sqlite3
import uuid
from json.encoder import encode_basestring

try:
    import fcntl
except ImportError:  # Windows: SQLite's own locking only
    fcntl = None  # type: ignore[assignment]
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from bgart.canonical import canonical_json
from bgart.errors import BgartError, InputError, LedgerIntegrityError
from bgart.events import actor_kind_problem, parse

SCHEMA_VERSION = 1
GENESIS_HASH = "0" * 64
ROLES = ("artist", "director", "admin")
_PG_SCHEMA_LOCK = 0x62676172  # "bgar": advisory lock id for schema creation
_MAX_NAME = 200


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class Base(DeclarativeBase):
    pass


class User(Base):
    """A person who may act on plates; ``password_hash`` is set for UI logins."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(_MAX_NAME), unique=True)
    role: Mapped[str] = mapped_column(String(20), default="artist")
    password_hash: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[str] = mapped_column(String(40))


class Shot(Base):
    __tablename__ = "shots"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(_MAX_NAME), unique=True)
    created_at: Mapped[str] = mapped_column(String(40))


class Plate(Base):
    __tablename__ = "plates"
    __table_args__ = (UniqueConstraint("shot_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shot_id: Mapped[int] = mapped_column(ForeignKey("shots.id"))
    name: Mapped[str] = mapped_column(String(_MAX_NAME))
    created_at: Mapped[str] = mapped_column(String(40))


_MAX_KEY = 400  # the idem_key column


def fit_key(key: str) -> str:
    """An idempotency key as stored: as it is, or, when longer than the column (a 200-
    character shot *and* plate name), its kind and the sha256 of the whole (PostgreSQL
    refuses an over-long value; SQLite would keep it)."""
    if len(key) <= _MAX_KEY:
        return key
    kind = key.split("/", 1)[0][:40]
    return f"{kind}/#{hashlib.sha256(key.encode('utf-8', 'surrogateescape')).hexdigest()}"


class Event(Base):
    """One row of the hash chain. Never updated or deleted by bgart."""

    __tablename__ = "events"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    id: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    shot: Mapped[str | None] = mapped_column(String(_MAX_NAME), nullable=True, index=True)
    plate: Mapped[str | None] = mapped_column(String(_MAX_NAME), nullable=True)
    actor: Mapped[str] = mapped_column(String(_MAX_NAME))
    actor_kind: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[str] = mapped_column(String(40))
    payload: Mapped[str] = mapped_column(Text)  # canonical JSON
    blobs: Mapped[str] = mapped_column(Text)  # canonical JSON: role -> sha256
    idem_key: Mapped[str | None] = mapped_column(String(_MAX_KEY), nullable=True, unique=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    @property
    def payload_dict(self) -> dict[str, Any]:
        return json.loads(self.payload)

    @property
    def blob_map(self) -> dict[str, str]:
        return json.loads(self.blobs)


class PlateVersion(Base):
    """A plate's pixels and provenance raster after one event."""

    __tablename__ = "plate_versions"
    __table_args__ = (UniqueConstraint("plate_id", "number"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plate_id: Mapped[int] = mapped_column(ForeignKey("plates.id"))
    number: Mapped[int] = mapped_column(Integer)
    image_sha: Mapped[str] = mapped_column(String(64))
    raster_sha: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    event_seq: Mapped[int] = mapped_column(Integer)
    source_candidate: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[str] = mapped_column(String(40))


class Candidate(Base):
    """An AI-generated variation offered for a plate (chosen or not)."""

    __tablename__ = "candidates"
    __table_args__ = (
        UniqueConstraint("plate_id", "image_sha"),
        UniqueConstraint("plate_id", "number"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plate_id: Mapped[int] = mapped_column(ForeignKey("plates.id"))
    number: Mapped[int] = mapped_column(Integer)
    image_sha: Mapped[str] = mapped_column(String(64))
    event_seq: Mapped[int] = mapped_column(Integer)


class ChainHead(Base):
    """The single row (id 1) holding the last event's seq and hash; writers lock it."""

    __tablename__ = "chain_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class Meta(Base):
    __tablename__ = "bgart_meta"
    key: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


Index("ix_events_shot_plate", Event.shot, Event.plate, Event.seq)


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
_PLAIN_COLUMNS = ("id", "kind", "shot", "plate", "actor", "actor_kind", "created_at", "idem_key")


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

    @classmethod
    def from_orm(cls, ev: Event) -> EventRow:
        return cls(
            seq=ev.seq,
            payload_text=ev.payload,
            blobs=json.loads(ev.blobs),
            prev_hash=ev.prev_hash,
            hash=ev.hash,
            **{name: getattr(ev, name) for name in _PLAIN_COLUMNS},
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
        if row["prev_hash"] != self.prev_hash:
            raise LedgerIntegrityError(
                f"{label}: prev_hash does not match event #{seq - 1} "
                "(rows deleted, swapped or edited)"
            )
        try:
            blobs = json.loads(row["blobs"])
            if not isinstance(blobs, dict) or not all(isinstance(v, str) for v in blobs.values()):
                raise ValueError("blobs is not a map of hashes")
            plain = {name: row[name] for name in _PLAIN_COLUMNS}
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


# --- passwords -----------------------------------------------------------------------------

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


def hash_password(password: str) -> str:
    """A salted scrypt hash: ``scrypt$n$r$p$salt$hash`` (hex)."""
    salt = os.urandom(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def password_matches(stored: str, password: str) -> bool:
    try:
        algo, n, r, p, salt, digest = stored.split("$")
        if algo != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode("utf-8"),
            salt=bytes.fromhex(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(digest) // 2,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


# --- the ledger ----------------------------------------------------------------------------


def check_sqlite_file(db: Path) -> None:
    """An existing project's SQLite ledger must be there: a missing or emptied file would
    otherwise be recreated empty, and the production's history would vanish silently."""
    wal = db.with_name(db.name + "-wal")
    has_wal = wal.is_file() and wal.stat().st_size > 0
    if not db.exists():
        raise LedgerIntegrityError(
            f"{db}: the ledger database is missing; restore it from a backup "
            "(bgart does not start a new ledger for an existing project)"
        )
    if db.is_file() and db.stat().st_size == 0 and not has_wal:
        raise LedgerIntegrityError(
            f"{db}: the ledger database is empty (0 bytes); restore it from a backup"
        )


def shown_text(value: str) -> str:
    """``value`` safe to print and store: bytes that are not UTF-8 (a name from a file system
    or terminal in another encoding reaches Python as surrogate escapes) shown as U+FFFD."""
    try:
        return os.fsencode(value).decode("utf-8", "replace")
    except UnicodeEncodeError:  # a lone surrogate that no byte maps to
        return value.encode("utf-8", "replace").decode("utf-8")


def check_utf8(value: str, what: str) -> str:
    """``value`` when it is valid UTF-8 text, else an InputError naming ``what`` and showing
    the text (a name typed or listed in another encoding reaches Python as surrogate escapes,
    which can be neither hashed nor stored)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(
            f"{what} '{shown_text(value)[:60]}': not valid UTF-8 (bytes of another encoding, "
            "shown as \ufffd); give it in UTF-8"
        ) from None
    return value


def check_name(value: str, what: str) -> str:
    """A shot code, plate or person name: 1–200 printable characters of valid UTF-8."""
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{what}: must not be empty")
    value = check_utf8(value.strip(), what)
    if len(value) > _MAX_NAME:
        raise InputError(f"{what} '{value[:40]}…': longer than {_MAX_NAME} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InputError(f"{what} {value!r}: contains control characters")
    return value


class WriteTx:
    """One write transaction holding the chain lock. Get it from :meth:`Ledger.write`."""

    def __init__(self, session: Session) -> None:
        self.session = session
        head = session.execute(
            select(ChainHead).where(ChainHead.id == 1).with_for_update()
        ).scalar_one_or_none()
        if head is None:  # schema made by an older bgart, or head row lost
            raise LedgerIntegrityError("chain head row missing (the ledger was edited)")
        self._head = head
        self.appended: list[Event] = []

    @property
    def head_seq(self) -> int:
        return self._head.seq

    # events ---------------------------------------------------------------------------
    def find_event(self, idem_key: str) -> Event | None:
        return self.session.execute(
            select(Event).where(Event.idem_key == fit_key(idem_key))
        ).scalar_one_or_none()

    def latest_event(self, shot: str, kind: str) -> Event | None:
        """The shot's most recent event of ``kind``, or None."""
        return self.session.execute(
            select(Event)
            .where(Event.shot == shot, Event.kind == kind)
            .order_by(Event.seq.desc())
            .limit(1)
        ).scalar_one_or_none()

    def append(
        self,
        kind: str,
        *,
        actor: str,
        actor_kind: str,
        shot: str | None = None,
        plate: str | None = None,
        payload: Mapping[str, Any] | None = None,
        blobs: Mapping[str, str] | None = None,
        idem_key: str | None = None,
        created_at: str | None = None,
    ) -> Event:
        """Append one event to the chain (inside this transaction) and return its row."""
        if (problem := actor_kind_problem(kind, actor_kind)) is not None:
            raise ValueError(problem)
        kind = str(kind)  # a Kind member is stored as its value
        actor = check_name(actor, "actor")
        idem_key = None if idem_key is None else fit_key(idem_key)
        payload = dict(payload or {})
        parse(kind, payload)  # the table's payload type: a malformed payload is never chained
        blobs = dict(blobs or {})
        seq = self._head.seq + 1
        body = event_body(
            seq=seq,
            id=uuid.uuid4().hex,
            kind=kind,
            shot=shot,
            plate=plate,
            actor=actor,
            actor_kind=actor_kind,
            created_at=created_at or utc_now(),
            payload=payload,
            blobs=blobs,
            idem_key=idem_key,
        )
        # What is hashed is exactly the stored text (the same as event_hash(body)).
        payload_text = canonical_json(payload)
        blobs_text = canonical_json(blobs)
        plain = {name: body[name] for name in _PLAIN_COLUMNS}
        digest = event_hash_stored(
            self._head.hash,
            seq=seq,
            payload_text=payload_text,
            blobs=blobs,
            blobs_text=blobs_text,
            **plain,
        )
        row = Event(
            seq=seq,
            payload=payload_text,
            blobs=blobs_text,
            prev_hash=self._head.hash,
            hash=digest,
            **plain,
        )
        self.session.add(row)
        self._head.seq = seq
        self._head.hash = digest
        self.appended.append(row)
        return row

    # shots and plates -----------------------------------------------------------------
    def shot(self, code: str, *, create: bool = True) -> Shot | None:
        code = check_name(code, "shot")
        row = self.session.execute(select(Shot).where(Shot.code == code)).scalar_one_or_none()
        if row is None and create:
            row = Shot(code=code, created_at=utc_now())
            self.session.add(row)
            self.session.flush()
        return row

    def plate(self, shot: str, name: str = "main", *, create: bool = True) -> Plate | None:
        shot_row = self.shot(shot, create=create)
        if shot_row is None:
            return None
        name = check_name(name, "plate")
        row = self.session.execute(
            select(Plate).where(Plate.shot_id == shot_row.id, Plate.name == name)
        ).scalar_one_or_none()
        if row is None and create:
            row = Plate(shot_id=shot_row.id, name=name, created_at=utc_now())
            self.session.add(row)
            self.session.flush()
        return row

    def current_version(self, plate: Plate) -> PlateVersion | None:
        return _current_version(self.session, plate.id)

    def version(self, plate: Plate, number: int) -> PlateVersion | None:
        return self.session.execute(
            select(PlateVersion).where(
                PlateVersion.plate_id == plate.id, PlateVersion.number == number
            )
        ).scalar_one_or_none()

    def add_version(
        self,
        plate: Plate,
        event_row: Event,
        *,
        image_sha: str,
        raster_sha: str,
        width: int,
        height: int,
        source_candidate: int | None,
    ) -> PlateVersion:
        current = self.current_version(plate)
        row = PlateVersion(
            plate_id=plate.id,
            number=(current.number + 1) if current else 1,
            image_sha=image_sha,
            raster_sha=raster_sha,
            width=width,
            height=height,
            event_seq=event_row.seq,
            source_candidate=source_candidate,
            created_at=event_row.created_at,
        )
        self.session.add(row)
        self.session.flush()
        return row

    def candidates(self, plate: Plate) -> list[Candidate]:
        return list(
            self.session.execute(
                select(Candidate).where(Candidate.plate_id == plate.id).order_by(Candidate.number)
            ).scalars()
        )

    def add_candidate(self, plate: Plate, image_sha: str, event_row: Event) -> Candidate:
        count = self.session.execute(
            select(func.count()).select_from(Candidate).where(Candidate.plate_id == plate.id)
        ).scalar_one()
        row = Candidate(
            plate_id=plate.id, number=count + 1, image_sha=image_sha, event_seq=event_row.seq
        )
        self.session.add(row)
        self.session.flush()
        return row

    # users --------------------------------------------------------------------------------
    def ensure_user(self, name: str, role: str = "artist") -> User:
        name = check_name(name, "user")
        row = self.session.execute(select(User).where(User.name == name)).scalar_one_or_none()
        if row is None:
            row = User(name=name, role=role, password_hash=None, created_at=utc_now())
            self.session.add(row)
            self.session.flush()
        return row


def _current_version(session: Session, plate_id: int) -> PlateVersion | None:
    return session.execute(
        select(PlateVersion)
        .where(PlateVersion.plate_id == plate_id)
        .order_by(PlateVersion.number.desc())
        .limit(1)
    ).scalar_one_or_none()


def _sqlite_connect_setup(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" hook below emit BEGIN itself (pysqlite's own is deferred).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get("bgart_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Ledger:
    """The event store behind one project (SQLite file or any SQLAlchemy URL)."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        try:
            if url.startswith("sqlite"):
                self.engine: Engine = create_engine(
                    url, connect_args={"timeout": 120.0, "check_same_thread": False}
                )
                event.listen(self.engine, "connect", _sqlite_connect_setup)
                event.listen(self.engine, "begin", _sqlite_begin)
            else:
                self.engine = create_engine(url, pool_pre_ping=True)
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise InputError(f"db_url '{_redact(url)}': cannot use it ({exc})") from None
        self._writer = self.engine.execution_options(bgart_write=True)
        self._lock_path: str | None = None
        database = self.engine.url.database if self.dialect == "sqlite" else None
        if database and database != ":memory:" and not database.startswith("file:"):
            self._lock_path = database + ".lock"
        if create:
            self.create_schema()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def dispose(self) -> None:
        self.engine.dispose()

    def create_schema(self) -> None:
        """Create the tables and the chain head row if missing (safe to race)."""
        try:
            # The common case, an existing ledger, needs no write lock.
            with self.engine.connect() as conn:
                present = set(inspect(conn).get_table_names())
            if "chain_head" in present and not set(Base.metadata.tables) - present:
                return
            with self._writer.begin() as conn:
                if self.dialect == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_SCHEMA_LOCK})
                present = set(inspect(conn).get_table_names())
                if "chain_head" in present:
                    missing = sorted(set(Base.metadata.tables) - present)
                    if missing:
                        raise LedgerIntegrityError(
                            f"ledger '{_redact(self.url)}': table(s) {', '.join(missing)} "
                            "missing (the ledger was edited)"
                        )
                else:
                    Base.metadata.create_all(conn)
                    conn.execute(
                        ChainHead.__table__.insert().values(id=1, seq=0, hash=GENESIS_HASH)
                    )
                    conn.execute(
                        Meta.__table__.insert().values(
                            key="schema_version", value=str(SCHEMA_VERSION)
                        )
                    )
        except SQLAlchemyError as exc:
            raise BgartError(f"ledger '{_redact(self.url)}': cannot open ({_short(exc)})") from None

    @property
    def location(self) -> str:
        """How errors name this ledger: its SQLite file, else its URL without the password."""
        database = self.engine.url.database if self.dialect == "sqlite" else None
        if database and database != ":memory:" and not database.startswith("file:"):
            return database
        return _redact(self.url)

    def check_schema(self) -> None:
        """Refuse a database without bgart's tables, writing nothing to it.

        For an existing project's ledger (replaced by an empty database, or its tables
        dropped): making the tables would start a new, empty history that verifies.
        """
        present = self._sqlite_tables() if self._lock_path is not None else None
        if present is None:
            try:
                with self.engine.connect() as conn:
                    present = set(inspect(conn).get_table_names())
            except SQLAlchemyError as exc:
                raise BgartError(
                    f"ledger '{_redact(self.url)}': cannot open ({_short(exc)})"
                ) from None
        missing = sorted(set(Base.metadata.tables) - present)
        if not missing:
            return
        what = (
            "has no bgart tables"
            if len(missing) == len(Base.metadata.tables)
            else f"lacks the table(s) {', '.join(missing)}"
        )
        raise LedgerIntegrityError(
            f"{self.location}: the ledger database {what}; restore it from a backup (bgart "
            "does not start a new ledger for an existing project)"
        )

    def _sqlite_tables(self) -> set[str] | None:
        """The tables of this SQLite ledger file, read by sqlite3 without the engine (whose
        connections switch the file to WAL mode, a write), or None when it cannot tell (the
        engine then reports the problem)."""
        database = self.engine.url.database
        assert database is not None
        check_sqlite_file(Path(database))
        # A non-empty WAL may hold what the main file lacks yet: read through it (read-only,
        # may create the -shm file); else the main file as it is, creating nothing.
        wal = database + "-wal"
        live = os.path.exists(wal) and os.path.getsize(wal) > 0
        uri = Path(database).resolve().as_uri() + ("?mode=ro" if live else "?immutable=1")
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=120.0)
            try:
                rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                return {str(name) for (name,) in rows}
            finally:
                conn.close()
        except (sqlite3.Error, OSError, ValueError):
            return None

    # transactions -----------------------------------------------------------------------
    @contextmanager
    def _fair_lock(self) -> Iterator[None]:
        """SQLite only: queue writers on a blocking file lock before ``BEGIN IMMEDIATE``.

        SQLite's busy handler makes a waiting writer sleep and retry, so a process appending
        in a loop can starve the others (a batch run locking out the UI); a blocked
        ``flock`` is woken as soon as the lock is released.
        """
        if self._lock_path is None or fcntl is None:
            yield
            return
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    @contextmanager
    def write(self) -> Iterator[WriteTx]:
        """A write transaction holding the chain lock; commits on success."""
        with self._fair_lock(), Session(self._writer, expire_on_commit=False) as session:
            try:
                with session.begin():
                    yield WriteTx(session)
            except SQLAlchemyError as exc:
                raise BgartError(f"ledger write failed: {_short(exc)}") from exc

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    def append(self, kind: str, **fields: Any) -> EventRow:
        """Append a single event in its own transaction (see :meth:`WriteTx.append`)."""
        with self.write() as tx:
            idem = fields.get("idem_key")
            if idem is not None and (existing := tx.find_event(idem)) is not None:
                return EventRow.from_orm(existing)
            row = tx.append(kind, **fields)
        return EventRow.from_orm(row)

    # reading ------------------------------------------------------------------------------
    def head_snapshot(self) -> HeadSnapshot:
        """The chain head row, and the highest stored seq read just before it (see
        :meth:`ChainChecker.finish`); both in one read transaction."""
        with self.read() as s:
            last = s.execute(select(func.max(Event.seq))).scalar_one()
            head = s.get(ChainHead, 1)
            if head is None:
                return HeadSnapshot(None, None, last)
            return HeadSnapshot(head.seq, head.hash, last)

    def head(self) -> tuple[int, str]:
        with self.read() as s:
            row = s.get(ChainHead, 1)
            return (row.seq, row.hash) if row else (0, GENESIS_HASH)

    def count(self) -> int:
        with self.read() as s:
            return s.execute(select(func.count()).select_from(Event)).scalar_one()

    def iter_rows(self, batch: int = 5000, *, upto: int | None = None) -> Iterator[dict[str, Any]]:
        """Every event row in seq order (``upto``: those with seq ≤ it), as raw column dicts
        (streamed)."""
        table = Event.__table__
        last = None
        while True:
            stmt = select(table).order_by(table.c.seq).limit(batch)
            if last is not None:
                stmt = stmt.where(table.c.seq > last)
            if upto is not None:
                stmt = stmt.where(table.c.seq <= upto)
            with self.engine.connect() as conn:
                result = conn.execute(stmt)
                keys = list(result.keys())
                rows = [dict(zip(keys, r, strict=True)) for r in result]  # 2x dict(r._mapping)
            if not rows:
                return
            yield from rows
            last = rows[-1]["seq"]

    def events(
        self, *, shot: str | None = None, plate: str | None = None, kinds: tuple[str, ...] = ()
    ) -> list[EventRow]:
        with self.read() as s:
            stmt = select(Event).order_by(Event.seq)
            if shot is not None:
                stmt = stmt.where(Event.shot == shot)
            if plate is not None:
                stmt = stmt.where(Event.plate == plate)
            if kinds:
                stmt = stmt.where(Event.kind.in_(kinds))
            return [EventRow.from_orm(e) for e in s.execute(stmt).scalars()]

    def event(self, seq: int) -> EventRow | None:
        with self.read() as s:
            row = s.get(Event, seq)
            return EventRow.from_orm(row) if row else None

    def verify_chain(self, *, anchor: str | None = None) -> tuple[int, str]:
        """Recompute the chain up to the head it starts from (events appended meanwhile are
        not read); returns (events, head hash) or raises on the first bad."""
        checker = ChainChecker()
        anchored = anchor is None
        head = self.head_snapshot()
        for row in self.iter_rows(upto=head.seq):
            checked = checker.check(row)
            anchored = anchored or checked.hash.startswith(anchor or "")
        self.check_head(checker, head)
        if not anchored:
            raise LedgerIntegrityError(f"no event has hash {anchor} (the chain was rewritten)")
        return checker.expected_seq - 1, checker.prev_hash

    def check_head(self, checker: ChainChecker, head: HeadSnapshot | None = None) -> None:
        """Check ``checker``'s last event against ``head`` (the snapshot its events were read
        up to; read now when None)."""
        head = head or self.head_snapshot()
        checker.finish(head.seq, head.hash, head.stored_last)

    # users ----------------------------------------------------------------------------------
    def add_user(self, name: str, role: str = "artist", password: str | None = None) -> None:
        """Add a user, or update the role/password of an existing one."""
        if role not in ROLES:
            raise InputError(f"role '{role}': must be one of {', '.join(ROLES)}")
        with self.write() as tx:
            user = tx.ensure_user(name, role)
            user.role = role
            if password is not None:
                if len(password) < 8:
                    raise InputError(f"user '{user.name}': password shorter than 8 characters")
                user.password_hash = hash_password(password)

    def user(self, name: str) -> User | None:
        if isinstance(name, str):
            check_utf8(name, "user")  # refused by name, not an encoding error from the driver
        with self.read() as s:
            return s.execute(select(User).where(User.name == name)).scalar_one_or_none()

    def users(self) -> list[User]:
        with self.read() as s:
            return list(s.execute(select(User).order_by(User.name)).scalars())

    def check_password(self, name: str, password: str) -> bool:
        user = self.user(name)
        if user is None or not user.password_hash:
            # Spend the same time as a real check so names can't be probed by timing.
            password_matches(_DUMMY_HASH, password)
            return False
        return password_matches(user.password_hash, password)


_DUMMY_HASH = "scrypt$16384$8$1$" + "00" * 16 + "$" + "00" * 32


def add_user(ledger: Ledger, name: str, role: str = "artist", password: str | None = None) -> None:
    """Module-level form of :meth:`Ledger.add_user` (for ``bgart users add``)."""
    ledger.add_user(name, role, password)


def check_password(ledger: Ledger, name: str, password: str) -> bool:
    return ledger.check_password(name, password)


def _redact(url: str) -> str:
    """A db URL with its password hidden."""
    if "://" in url and "@" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:300]
