"""Issue 19, item 8: `ledger verify --fresh` does not launder a rewritten history.

A consistently re-hashed rewrite fails every verify, `--fresh` included, and the message
names tampering as the likely cause; accepting it is an explicit act that names the old and
new heads and keeps both in this machine's record. A project re-created at a verified path is
recognised as a new ledger by its first event. `bgart ledger anchor` prints a head to keep
off the machine, which `verify --anchor` checks later.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import typer
from helpers.history import build_history, rehash_chain, row, sql
from typer.testing import CliRunner

from bgart.cli.project import init_command, ledger_app
from bgart.ledger import Project

app = typer.Typer()
app.command("init")(init_command)
app.add_typer(ledger_app, name="ledger")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BGART_CACHE_DIR", str(tmp_path / "machine-cache"))
    root = tmp_path / "show"
    with Project.init(root, production="Rewrite Show") as project:
        build_history(project)
    return root


def _rewrite(root: Path, seq: int, actor: str = "mallory") -> None:
    """A consistent rewrite: one event's actor changed, the chain re-hashed after it."""
    with Project.open(root) as project:
        sql(project, "UPDATE events SET actor = :a WHERE seq = :s", a=actor, s=seq)
        rehash_chain(project, seq)


def _head(root: Path) -> str:
    with Project.open(root) as project:
        return project.ledger.head()[1]


def test_a_consistent_rewrite_is_not_laundered_by_fresh(root: Path) -> None:
    code, out, err = run("ledger", "verify", "-p", str(root))
    assert code == 0, err
    old = _head(root)
    _rewrite(root, 4)  # the paint event: its painter renamed
    new = _head(root)
    assert new != old
    for extra in ([], ["--fresh"], []):
        code, out, err = run("ledger", "verify", "-p", str(root), *extra)
        assert code == 3, out + err
        (line,) = err.strip().splitlines()
        assert "history rewritten" in line and "Likely cause: tampering" in line
        assert f"--accept-rewrite {old} {new}" in line
        assert "--fresh" not in line
    # Accepting names both heads; a wrong old head accepts nothing.
    code, _, err = run("ledger", "verify", "-p", str(root), "--accept-rewrite", new, new)
    assert code == 2 and old in err
    code, _, err = run("ledger", "verify", "-p", str(root), "--accept-rewrite", old, old[:16])
    assert code == 2 and new in err
    code, out, err = run("ledger", "verify", "-p", str(root), "--accept-rewrite", old[:16], new)
    assert code == 0, err
    assert "rewritten history accepted" in out and old[:16] in out and new[:16] in out
    # Both heads stay on record: every later verify prints them.
    code, out, err = run("ledger", "verify", "-p", str(root))
    assert code == 0, err
    assert "rewritten history accepted" in out and old[:16] in out and new[:16] in out


def test_removed_events_name_tampering_and_both_heads(root: Path) -> None:
    assert run("ledger", "verify", "-p", str(root))[0] == 0
    with Project.open(root) as project:
        last, _ = project.ledger.head()
        sql(project, "DELETE FROM events WHERE seq = :s", s=last)
        prev = row(project, last - 1)["hash"]
        sql(project, "UPDATE chain_head SET seq = :s, hash = :h", s=last - 1, h=prev)
    code, _, err = run("ledger", "verify", "-p", str(root), "--fresh")
    assert code == 3
    assert "events were removed" in err and "Likely cause: tampering" in err
    assert "--accept-rewrite" in err and prev in err


def test_a_project_recreated_at_a_verified_path_is_a_new_ledger(root: Path) -> None:
    assert run("ledger", "verify", "-p", str(root))[0] == 0
    old = _head(root)
    shutil.rmtree(root)
    with Project.init(root, production="Rewrite Show") as project:
        build_history(project, variant=1)
        project.ledger.add_user("dora", "director", "director-pass")  # more events than before
    code, out, err = run("ledger", "verify", "-p", str(root))
    assert code == 0, err
    assert "removed" not in out + err and "new ledger at this path" in out
    assert old[:16] in out  # the old ledger's head is kept on record
    code, out, err = run("ledger", "verify", "-p", str(root))
    assert code == 0 and "recomputed for the 0 plate versions" in out, err


def test_a_whole_history_rewrite_dated_before_the_last_verify_is_refused(root: Path) -> None:
    assert run("ledger", "verify", "-p", str(root))[0] == 0
    _rewrite(root, 1)  # event #1 too: it looks like "another ledger", but it is older
    code, _, err = run("ledger", "verify", "-p", str(root))
    assert code == 3
    assert "rewritten from its first event" in err and "tampering" in err


def test_an_anchor_kept_off_the_machine_catches_a_rewrite(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run("ledger", "anchor", "-p", str(root), "--json")
    assert code == 0, err
    anchor = json.loads(out)
    assert anchor["head"] == _head(root) and anchor["production"] == "Rewrite Show"
    code, out, _ = run("ledger", "anchor", "-p", str(root))
    assert "Keep this line off this machine" in out and anchor["head"] in out
    assert run("ledger", "verify", "-p", str(root), "--anchor", anchor["head"])[0] == 0
    _rewrite(root, 2)
    # Another machine (no record here): only the anchor tells.
    monkeypatch.setenv("BGART_CACHE_DIR", str(tmp_path / "other-machine"))
    assert run("ledger", "verify", "-p", str(root))[0] == 0
    code, _, err = run("ledger", "verify", "-p", str(root), "--anchor", anchor["head"])
    assert code == 3 and "rewritten" in err
