"""The ledger database: :class:`Ledger` (engine and connection setup, schema creation,
reads, users) and :class:`WriteTx` (one write transaction: appends and derived rows).

A ledger is a SQLite file or any SQLAlchemy URL (PostgreSQL). The ``chain_head`` row (the
last seq and hash) is also the lock row that serialises writers: SQLite takes the write
lock up front (``BEGIN IMMEDIATE``), PostgreSQL locks the head row (``SELECT … FOR
UPDATE``), so two processes appending at once still make one chain.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid

try:
    import fcntl
except ImportError:  # Windows: SQLite's own locking only
    fcntl = None  # type: ignore[assignment]
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, func, insert, inspect, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bgart.canonical import canonical_json
from bgart.errors import BgartError, InputError, LedgerIntegrityError
from bgart.events import USER_KINDS, Actor, Kind, actor_kind_problem, parse
from bgart.ledger.chain import (
    GENESIS_HASH,
    LEGACY_GENESIS_HASH,
    PLAIN_COLUMNS,
    ChainChecker,
    EventRow,
    HeadSnapshot,
    event_body,
    event_hash_stored,
)
from bgart.ledger.names import check_name, check_utf8
from bgart.ledger.tables import (
    SCHEMA_VERSION,
    Base,
    Candidate,
    ChainHead,
    Event,
    Meta,
    Plate,
    PlateVersion,
    Shot,
    User,
    fit_key,
    utc_now,
)
from bgart.ledger.users import (
    DUMMY_HASH,
    IMPLICIT_ROLE,
    ROLES,
    UserBook,
    hash_password,
    password_digest,
    password_matches,
)

_PG_SCHEMA_LOCK = 0x62676172  # "bgar": advisory lock id for schema creation


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
        plain = {name: body[name] for name in PLAIN_COLUMNS}
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

    def user_book(self) -> tuple[UserBook, bool]:
        """The users as the chain states them, and whether the chain holds every user (a
        ledger started since users were chained, or whose users were adopted)."""
        book = UserBook()
        for kind, payload, seq in self.session.execute(
            select(Event.kind, Event.payload, Event.seq)
            .where(Event.kind.in_([str(k) for k in USER_KINDS]))
            .order_by(Event.seq)
        ):
            book.apply(kind, json.loads(payload), seq)
        first = self.session.execute(
            select(Event.prev_hash).where(Event.seq == 1)
        ).scalar_one_or_none()
        legacy = (first if first is not None else self._head.hash) == LEGACY_GENESIS_HASH
        return book, not legacy or book.adopted is not None

    def adopt_users(self, by: str) -> list[str]:
        """On a ledger made before users were chained: one ``users.adopted`` event with every
        user the chain does not explain yet (see :meth:`Ledger.adopt_users`)."""
        book, chained = self.user_book()
        if chained:
            return []
        rows = self.session.execute(
            select(User.name, User.role, User.password_hash).order_by(User.name)
        ).all()
        entries = [
            {"user": name, "role": role, "password": password_digest(pw)}
            for name, role, pw in rows
            if name not in book.users and (role != IMPLICIT_ROLE or pw)  # see UserBook
        ]
        self.append(
            Kind.USERS_ADOPTED, actor=by, actor_kind=Actor.HUMAN, payload={"users": entries}
        )
        return [e["user"] for e in entries]


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
                    conn.execute(insert(ChainHead).values(id=1, seq=0, hash=GENESIS_HASH))
                    conn.execute(
                        insert(Meta).values(key="schema_version", value=str(SCHEMA_VERSION))
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
    def add_user(
        self,
        name: str,
        role: str = "artist",
        password: str | None = None,
        *,
        by: str = "bgart",
    ) -> list[EventRow]:
        """Add a user, or update the role/password of an existing one; each change is an
        event on the chain (``by``: who made it), in the same transaction as the row.
        Returns the events appended."""
        if role not in ROLES:
            raise InputError(f"role '{role}': must be one of {', '.join(ROLES)}")
        if password is not None and len(password) < 8:
            raise InputError(f"user '{name.strip()}': password shorter than 8 characters")
        with self.write() as tx:
            tx.adopt_users(by)
            name = check_name(name, "user")
            row = tx.session.execute(select(User).where(User.name == name)).scalar_one_or_none()
            stored = None if password is None else hash_password(password)
            if row is None:
                row = User(name=name, role=role, password_hash=stored, created_at=utc_now())
                tx.session.add(row)
                payload: dict[str, Any] = {"user": name, "role": role}
                payload["password"] = password_digest(stored)
                tx.append(Kind.USER_ADDED, actor=by, actor_kind=Actor.HUMAN, payload=payload)
            else:
                if row.role != role:
                    tx.append(
                        Kind.USER_ROLE_CHANGED,
                        actor=by,
                        actor_kind=Actor.HUMAN,
                        payload={"user": name, "role": role, "previous": row.role},
                    )
                    row.role = role
                if stored is not None:
                    tx.append(
                        Kind.USER_PASSWORD_CHANGED,
                        actor=by,
                        actor_kind=Actor.HUMAN,
                        payload={"user": name, "password": password_digest(stored)},
                    )
                    row.password_hash = stored
            tx.session.flush()
            appended = list(tx.appended)
        return [EventRow.from_orm(ev) for ev in appended]

    def adopt_users(self, *, by: str = "bgart") -> list[str]:
        """Put the users a ledger made before users were chained has, as they stand now, on
        the chain (one ``users.adopted`` event); the users adopted (none: nothing to do)."""
        with self.write() as tx:
            return tx.adopt_users(by)

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
            password_matches(DUMMY_HASH, password)
            return False
        return password_matches(user.password_hash, password)


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
