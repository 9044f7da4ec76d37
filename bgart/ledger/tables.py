"""The ledger's tables (SQLAlchemy ORM): users, shots, plates, plate versions, candidates,
the events and the chain head row, and the schema's constants.

Every act on a plate is an :class:`Event` row, hash-chained to the one before it (see
:mod:`bgart.ledger.chain`). Shots, plates, versions and candidates are derived tables, kept
for fast lookups; ``bgart ledger verify`` (:func:`bgart.verify.chain.verify_project`) checks
them against the events.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bgart.ledger.names import MAX_NAME

SCHEMA_VERSION = 1


def utc_now() -> str:
    """The time stamp every ``created_at`` column holds: ISO 8601 UTC, microseconds, ``Z``."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class Base(DeclarativeBase):
    pass


class User(Base):
    """A person who may act on plates; ``password_hash`` is set for UI logins."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(MAX_NAME), unique=True)
    role: Mapped[str] = mapped_column(String(20), default="artist")
    password_hash: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[str] = mapped_column(String(40))


class Shot(Base):
    __tablename__ = "shots"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(MAX_NAME), unique=True)
    created_at: Mapped[str] = mapped_column(String(40))


class Plate(Base):
    __tablename__ = "plates"
    __table_args__ = (UniqueConstraint("shot_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shot_id: Mapped[int] = mapped_column(ForeignKey("shots.id"))
    name: Mapped[str] = mapped_column(String(MAX_NAME))
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
    shot: Mapped[str | None] = mapped_column(String(MAX_NAME), nullable=True, index=True)
    plate: Mapped[str | None] = mapped_column(String(MAX_NAME), nullable=True)
    actor: Mapped[str] = mapped_column(String(MAX_NAME))
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
