"""``bgart users``: who may log in to the UI, with which role.

Passwords are stored as salted scrypt hashes in the project database
(:meth:`bgart.ledger.db.Ledger.add_user`); they are read from a hidden prompt, or from the first
line of standard input with ``--password-stdin`` (for scripts), never from the command line.

Adding a user, changing a role and changing a password are events on the hash chain
(``user.added``, ``user.role_changed``, ``user.password_changed``), so a role raised by editing
the database fails ``bgart ledger verify``. ``bgart users adopt`` puts the users of a ledger
made before that on the chain as they stand (see :mod:`bgart.ledger.users`).
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated

import typer

from bgart.cli.common import ProjectOpt, say
from bgart.errors import InputError
from bgart.ledger import ROLES, Project
from bgart.settings import load_settings

users_app = typer.Typer(
    name="users",
    no_args_is_help=True,
    add_completion=False,
    help="UI users and their roles (artist, director, admin).",
)


ByOpt = Annotated[
    str | None,
    typer.Option(
        "--by", help="Who makes the change, as the ledger records it (default: your login)."
    ),
]


def _by(by: str | None) -> str:
    if by is not None:
        return by
    try:
        return getpass.getuser() or "unknown"
    except (OSError, KeyError, ImportError):  # no login name (a container without a passwd entry)
        return "unknown"


def _open(project: Path | None) -> Project:
    return Project.open(project or load_settings().project_dir or Path.cwd())


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise InputError("--password-stdin: nothing on standard input")
        return line.rstrip("\r\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@users_app.command("add")
def add_command(
    name: Annotated[str, typer.Argument(help="User name (what they log in with).")],
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)}.")] = "artist",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    project: ProjectOpt = None,
    by: ByOpt = None,
) -> None:
    """Add a user, or change an existing user's role and password (each change is an event
    on the ledger's hash chain)."""
    if role not in ROLES:
        raise InputError(f"--role {role}: must be one of {', '.join(ROLES)}")
    with _open(project) as proj:
        existed = proj.ledger.user(name.strip()) is not None
        events = proj.ledger.add_user(name, role, _read_password(password_stdin), by=_by(by))
    say(f"{'updated' if existed else 'added'} user {name.strip()} ({role})")
    for ev in events:
        say(f"  event #{ev.seq} {ev.kind}")


@users_app.command("adopt")
def adopt_command(project: ProjectOpt = None, by: ByOpt = None) -> None:
    """Put the users of a ledger made before users were chained on the chain, as they stand.

    Check ``bgart users list`` first: what is adopted is what the database says now.
    """
    with _open(project) as proj:
        adopted = proj.ledger.adopt_users(by=_by(by))
    if adopted:
        say(f"adopted {len(adopted)} user(s) onto the chain: {', '.join(adopted)}")
    else:
        say("nothing to adopt: every user of this ledger is on its chain")


@users_app.command("list")
def list_command(project: ProjectOpt = None) -> None:
    """The project's users, their roles and whether they can log in."""
    with _open(project) as proj:
        for user in proj.ledger.users():
            login = "can log in" if user.password_hash else "no password (credited only)"
            print(f"{user.name}\t{user.role}\t{login}")
