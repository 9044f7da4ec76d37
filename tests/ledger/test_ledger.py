"""The hash-chained ledger: appending, and refusing a ledger that lost its tables.

Runs against SQLite and, when BGART_TEST_PG_URL is set, a real PostgreSQL server.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from helpers.history import H, W, build_history
from helpers.images import generated_png, noise_plate
from sqlalchemy import text

from bgart import plates as wf
from bgart.canonical import canonical_json
from bgart.errors import InputError, LedgerIntegrityError
from bgart.ledger import GENESIS_HASH, Ledger, Project, event_body, event_hash, event_hash_stored
from bgart.verify import verify_project

# --- appending -----------------------------------------------------------------------------


def test_chain_links_and_verifies(project: Project) -> None:
    seqs = build_history(project)
    report = verify_project(project)
    assert report.events == len(seqs) == project.ledger.count()
    assert report.versions == 4
    events = project.ledger.events()
    assert [e.seq for e in events] == list(range(1, len(seqs) + 1))
    assert events[0].prev_hash == GENESIS_HASH
    for prev, ev in itertools.pairwise(events):
        assert ev.prev_hash == prev.hash
    assert project.ledger.head() == (events[-1].seq, events[-1].hash)
    assert report.head_hash == events[-1].hash
    assert project.ledger.verify_chain() == (len(seqs), events[-1].hash)


def test_hash_covers_content_and_blobs() -> None:
    body = event_body(
        seq=1,
        id="x",
        kind="plate.accepted",
        shot="s",
        plate="main",
        actor="a",
        actor_kind="human",
        created_at="t",
        payload={"v": 1},
        blobs={"image": "ab" * 32},
        idem_key=None,
    )
    base = event_hash(GENESIS_HASH, body)
    assert base != event_hash("1" * 64, body)
    assert base != event_hash(GENESIS_HASH, {**body, "payload": {"v": 2}})
    assert base != event_hash(GENESIS_HASH, {**body, "blobs": {"image": "cd" * 32}})
    assert base != event_hash(GENESIS_HASH, {**body, "blobs": {"mask": "ab" * 32}})


def test_stored_text_hash_equals_the_reference_definition(project: Project) -> None:
    build_history(project)
    for ev in project.ledger.events():
        body = event_body(
            seq=ev.seq,
            id=ev.id,
            kind=ev.kind,
            shot=ev.shot,
            plate=ev.plate,
            actor=ev.actor,
            actor_kind=ev.actor_kind,
            created_at=ev.created_at,
            payload=ev.payload,
            blobs=ev.blobs,
            idem_key=ev.idem_key,
        )
        assert event_hash(ev.prev_hash, body) == ev.hash


@pytest.mark.parametrize(
    "name", ["山田 太郎", 'say "hi" \\ back', "tab\tnew\nline", "\x00\x1f\x7f", "\u2028\u2029é"]
)
def test_stored_text_hash_matches_for_awkward_text(name: str) -> None:
    """The fast path of the stored-text hash (strings escaped without json.dumps) gives the
    reference hash for names with quotes, control characters and non-ASCII text."""
    fields: dict[str, Any] = dict(
        seq=7,
        id=name,
        kind="human.painted",
        shot=name,
        plate=None,
        actor=name,
        actor_kind="human",
        created_at=name,
        idem_key=name,
    )
    payload, blobs = {"note": name, "n": 1}, {"layer": "ab" * 32}
    body = event_body(**fields, payload=payload, blobs=blobs)
    stored = event_hash_stored(
        GENESIS_HASH,
        **fields,
        payload_text=canonical_json(payload),
        blobs=blobs,
        blobs_text=canonical_json(blobs),
    )
    assert stored == event_hash(GENESIS_HASH, body)


def test_idempotent_generated_candidate(project: Project) -> None:
    png, rec = generated_png(noise_plate(W, H))
    first = wf.record_generated(project, "s1", png, rec)
    again = wf.record_generated(project, "s1", png, rec)
    assert again.duplicate and again.seq == first.seq and not first.duplicate
    assert project.ledger.count() == 1
    other_shot = wf.record_generated(project, "s2", png, rec)
    assert not other_shot.duplicate and project.ledger.count() == 2


def test_idempotent_with_the_longest_shot_and_plate_names(project: Project) -> None:
    """Its key would be longer than the column (PostgreSQL refused the write): stored by
    hash, and a second identical record is still recognised."""
    shot, plate = "s" * 200, "p" * 200
    png, rec = generated_png(noise_plate(W, H))
    first = wf.record_generated(project, shot, png, rec, plate=plate)
    again = wf.record_generated(project, shot, png, rec, plate=plate)
    assert again.duplicate and again.seq == first.seq and project.ledger.count() == 1
    (event,) = project.ledger.events()
    assert event.idem_key is not None and len(event.idem_key) <= 400
    verify_project(project)


def test_users_roles_and_passwords(project: Project) -> None:
    ledger = project.ledger
    ledger.add_user("kaori", "director", "s3cret-pass")
    assert ledger.check_password("kaori", "s3cret-pass")
    assert not ledger.check_password("kaori", "wrong-pass")
    assert not ledger.check_password("nobody", "s3cret-pass")
    user = ledger.user("kaori")
    assert user is not None and user.role == "director"
    assert user.password_hash and "s3cret" not in user.password_hash
    ledger.add_user("kaori", "admin")  # role change keeps the password
    assert ledger.check_password("kaori", "s3cret-pass")
    with pytest.raises(InputError, match="role"):
        ledger.add_user("x", "producer")
    with pytest.raises(InputError, match="shorter than 8"):
        ledger.add_user("y", "artist", "short")
    build_history(project)
    assert {u.name for u in ledger.users()} >= {"alice", "dir", "kaori"}


def test_unknown_kind_is_refused(project: Project) -> None:
    with pytest.raises(ValueError, match="unknown event kind"):
        project.ledger.append("ai.imagined", actor="x", actor_kind="ai")


@pytest.mark.parametrize(
    ("kind", "actor_kind"),
    [
        ("ai.generated", "human"),
        ("human.painted", "ai"),
        ("plate.accepted", "ai"),
        ("human.painted", "system"),
    ],
)
def test_an_actor_kind_that_does_not_fit_the_event_is_refused(
    project: Project, kind: str, actor_kind: str
) -> None:
    """A model recorded as a person would be named and timed in the credits as one."""
    with pytest.raises(
        ValueError,
        match=rf"^{kind} is an act of a (model|person) \(actor "
        rf"kind '(ai|human)'\), not '{actor_kind}'$",
    ):
        project.ledger.append(kind, actor="x", actor_kind=actor_kind)
    assert project.ledger.events() == []


def test_reopen_keeps_the_chain(project: Project) -> None:
    build_history(project)
    root = project.root
    project.close()
    with Project.open(root) as again:
        verify_project(again)
        rec = wf.reject(again, "ep01_c001", "dir", "more contrast")
        assert rec.seq == 7


def test_ledger_on_a_url_without_schema_creates_it(tmp_path: Any) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'x.db'}")
    assert ledger.count() == 0 and ledger.head() == (0, GENESIS_HASH)
    ledger.append("plate.accepted", actor="a", actor_kind="human", payload={"version": 1})
    assert ledger.verify_chain()[0] == 1
    ledger.dispose()


# --- a ledger without its tables -------------------------------------------------------------


def _drop_tables(project: Project) -> None:
    from bgart.ledger import Base

    with project.ledger.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(text(f"DROP TABLE {table.name}"))
    project.close()


def _tables(project_root: Any, db: str | None) -> set[str]:
    from sqlalchemy import create_engine, inspect

    engine = create_engine(db or f"sqlite:///{project_root / 'bgart.db'}")
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def test_an_existing_project_whose_tables_were_dropped_is_refused(
    project: Project, db_url: str | None
) -> None:
    """Not given a fresh, empty schema that would verify with 0 events: refused by name,
    and nothing is created."""
    build_history(project)
    root = project.root
    _drop_tables(project)
    with pytest.raises(
        LedgerIntegrityError, match="has no bgart tables; restore it from a backup"
    ) as info:
        Project.open(root).ledger  # noqa: B018
    assert (str(root / "bgart.db") if db_url is None else "postgresql") in str(info.value)
    assert _tables(root, db_url) == set()


def test_a_ledger_file_replaced_by_an_empty_database_is_refused(tmp_path: Any) -> None:
    import sqlite3

    with Project.init(tmp_path / "show") as project:
        build_history(project)
    db = tmp_path / "show" / "bgart.db"
    db.unlink()
    con = sqlite3.connect(db)
    con.execute("PRAGMA user_version = 1")  # a valid SQLite file, not 0 bytes
    con.commit()
    con.close()
    before = db.read_bytes()
    with pytest.raises(LedgerIntegrityError, match=rf"{db}: the ledger database has no bgart"):
        Project.open(tmp_path / "show").ledger  # noqa: B018
    assert db.read_bytes() == before
    assert sorted(p.name for p in db.parent.glob("bgart.db*")) == ["bgart.db", "bgart.db.lock"]
