"""Issue 19, item 7: users and roles belong to the hash chain. Adding a user, changing a role
and changing a password are events; a role raised (or a password swapped, a user inserted or
deleted) by editing the database fails `bgart ledger verify`, naming the user. Ledgers made
before users were chained (tests/golden/project) keep verifying; their users are named until
they are adopted onto the chain.

Runs against SQLite and, when PostgreSQL is available, a real PostgreSQL server.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from helpers.cli import run_in_process
from helpers.history import build_history, expect_failure, rehash_chain, row, sql
from helpers.reliability import ROOT, assert_clean_error

from bgart.errors import LedgerIntegrityError
from bgart.events import Kind
from bgart.ledger import (
    GENESIS_HASH,
    LEGACY_GENESIS_HASH,
    Project,
    hash_password,
)
from bgart.verify import verify_project

GOLDEN = ROOT / "tests" / "golden" / "project"


def _user_events(project: Project) -> list[tuple[str, dict[str, object]]]:
    return [
        (ev.kind, ev.payload)
        for ev in project.ledger.events()
        if ev.kind.startswith("user") and ev.shot is None
    ]


def test_adding_a_user_changing_a_role_and_a_password_are_events(project: Project) -> None:
    ledger = project.ledger
    added = ledger.add_user("kaori", "artist", "first-password", by="admin")
    assert [ev.kind for ev in added] == [Kind.USER_ADDED] and added[0].actor == "admin"
    assert ledger.add_user("kaori", "director", by="admin")[0].kind == Kind.USER_ROLE_CHANGED
    assert ledger.add_user("kaori", "director", "second-password", by="admin")[0].kind == (
        Kind.USER_PASSWORD_CHANGED
    )
    assert ledger.add_user("kaori", "director") == []  # nothing changed: no event
    kinds = _user_events(project)
    assert [k for k, _ in kinds] == ["user.added", "user.role_changed", "user.password_changed"]
    assert kinds[1][1] == {"user": "kaori", "role": "director", "previous": "artist"}
    stored = ledger.user("kaori").password_hash  # type: ignore[union-attr]
    # The chain binds the password without holding even its salted hash.
    assert stored and all(stored not in json.dumps(p) for _, p in kinds)
    assert ledger.check_password("kaori", "second-password")
    build_history(project)  # acts by alice and dir add them as plain artists, no event
    report = verify_project(project)
    assert report.unchained_users == []


def test_a_role_raised_in_the_database_fails_verify_naming_the_user(project: Project) -> None:
    build_history(project)  # "alice" acted: a plain artist, made by her first act
    project.ledger.add_user("dora", "director", "director-pass")
    verify_project(project)
    sql(project, "UPDATE users SET role = 'admin' WHERE name = 'alice'")
    expect_failure(project, r"user 'alice': role admin in the users table, but no event")
    sql(project, "UPDATE users SET role = 'artist' WHERE name = 'alice'")
    verify_project(project)
    sql(project, "UPDATE users SET role = 'admin' WHERE name = 'dora'")
    expect_failure(project, r"user 'dora': role admin .* chain gives them role director")


@pytest.mark.parametrize(
    "edit,message",
    [
        ("UPDATE users SET password_hash = :pw WHERE name = 'dora'", "user 'dora': the password"),
        ("UPDATE users SET password_hash = :pw WHERE name = 'alice'", "user 'alice': a password"),
        ("DELETE FROM users WHERE name = 'dora'", "user 'dora': on the chain .* missing"),
        (
            "INSERT INTO users (name, role, password_hash, created_at) "
            "VALUES ('mallory', 'admin', :pw, '2020-01-01T00:00:00.000000Z')",
            "user 'mallory': role admin",
        ),
    ],
)
def test_other_edits_of_the_users_table_fail_verify(
    project: Project, edit: str, message: str
) -> None:
    build_history(project)
    project.ledger.add_user("dora", "director", "director-pass")
    sql(project, edit, pw=hash_password("attacker-knows-it"))
    expect_failure(project, message)


def test_a_user_event_edited_on_the_chain_is_named(project: Project) -> None:
    (ev,) = project.ledger.add_user("dora", "director", "director-pass")
    payload = dict(ev.payload, role="admin")
    sql(project, "UPDATE events SET payload = :p WHERE seq = :s", p=json.dumps(payload), s=ev.seq)
    sql(project, "UPDATE users SET role = 'admin' WHERE name = 'dora'")
    expect_failure(project, rf"event #{ev.seq} \(id \w+, user.added\)")


def test_a_role_edit_fails_the_cli_verify_with_one_line(tmp_path: Path) -> None:
    root = tmp_path / "show"
    with Project.init(root) as project:
        build_history(project)
    assert run_in_process(["ledger", "verify", "-p", str(root)]).returncode == 0
    with sqlite3.connect(root / "bgart.db") as con:
        con.execute("UPDATE users SET role = 'admin' WHERE name = 'alice'")
    res = run_in_process(["ledger", "verify", "-p", str(root)])
    assert res.returncode == 3
    assert_clean_error(res, "user 'alice'", "role admin")


# --- ledgers made before users were chained ----------------------------------------------------


def _make_legacy(project: Project) -> None:
    """Turn a ledger into one made before users were chained: its chain starts from the old
    genesis and its users table holds a director with a password and no user event."""
    rehash_chain(project, 1, LEGACY_GENESIS_HASH)
    sql(
        project,
        "INSERT INTO users (name, role, password_hash, created_at) "
        "VALUES ('kei', 'director', :pw, '2020-01-01T00:00:00.000000Z')",
        pw=hash_password("director-pass"),
    )


def test_a_legacy_ledger_verifies_and_names_its_users_until_adopted(project: Project) -> None:
    build_history(project)
    assert row(project, 1)["prev_hash"] == GENESIS_HASH  # a new ledger: users chained
    _make_legacy(project)
    report = verify_project(project)
    assert report.unchained_users == ["kei (director, can log in)"]
    sql(project, "UPDATE users SET role = 'admin' WHERE name = 'alice'")
    # Not on the chain yet: named, not refused (the ledger never recorded it).
    assert "alice (admin)" in verify_project(project).unchained_users
    sql(project, "UPDATE users SET role = 'artist' WHERE name = 'alice'")
    assert project.ledger.adopt_users(by="admin") == ["kei"]
    assert project.ledger.adopt_users(by="admin") == []  # once
    assert verify_project(project).unchained_users == []
    sql(project, "UPDATE users SET role = 'admin' WHERE name = 'alice'")
    expect_failure(project, r"user 'alice': role admin in the users table, but no event")
    sql(project, "UPDATE users SET role = 'artist' WHERE name = 'alice'")
    sql(project, "UPDATE users SET role = 'admin' WHERE name = 'kei'")
    expect_failure(project, r"user 'kei': role admin .* role director \(event #\d+")


def test_the_first_users_add_on_a_legacy_ledger_adopts_its_users(project: Project) -> None:
    build_history(project)
    _make_legacy(project)
    events = project.ledger.add_user("mika", "artist", "artist-pass")
    assert [ev.kind for ev in events] == [Kind.USERS_ADOPTED, Kind.USER_ADDED]
    assert events[0].payload["users"][0]["user"] == "kei"
    assert verify_project(project).unchained_users == []
    sql(project, "UPDATE users SET role = 'admin' WHERE name = 'kei'")
    with pytest.raises(LedgerIntegrityError, match="user 'kei'"):
        verify_project(project)


def test_the_golden_project_verifies_and_adopts_its_users(tmp_path: Path) -> None:
    """tests/golden/project was made before users were chained: it verifies as it is; once
    adopted (`bgart users adopt`), a role raised by a database edit fails."""
    root = tmp_path / "golden"
    shutil.copytree(GOLDEN, root)
    res = run_in_process(["ledger", "verify", "--no-rasters", "-p", str(root)])
    assert res.returncode == 0 and "ledger ok: 25 events" in res.stdout, res.show()
    with sqlite3.connect(root / "bgart.db") as con:
        con.execute("UPDATE users SET role = 'admin' WHERE name = 'Kei Director'")
    res = run_in_process(["ledger", "verify", "--no-rasters", "-p", str(root)])
    assert res.returncode == 0 and "Kei Director (admin)" in res.stdout, res.show()
    with sqlite3.connect(root / "bgart.db") as con:
        con.execute("UPDATE users SET role = 'artist' WHERE name = 'Kei Director'")
    res = run_in_process(["users", "adopt", "--by", "lead", "-p", str(root)])
    assert res.returncode == 0, res.show()
    with sqlite3.connect(root / "bgart.db") as con:
        con.execute("UPDATE users SET role = 'admin' WHERE name = 'Kei Director'")
    res = run_in_process(["ledger", "verify", "--no-rasters", "-p", str(root)])
    assert res.returncode == 3
    assert_clean_error(res, "user 'Kei Director'", "role admin")
