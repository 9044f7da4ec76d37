"""``bgart users``: who may log in to the UI, with which role.

Passwords are stored as salted scrypt hashes in the project database
(:meth:`bgart.ledger.db.Ledger.add_user`); they are read from a hidden prompt, or from the first
line of standard input with ``--password-stdin`` (for scripts), never from the command line.
"""

from __future__ import annotations

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
) -> None:
    """Add a user, or change an existing user's role and password."""
    if role not in ROLES:
        raise InputError(f"--role {role}: must be one of {', '.join(ROLES)}")
    with _open(project) as proj:
        existed = proj.ledger.user(name.strip()) is not None
        proj.ledger.add_user(name, role, _read_password(password_stdin))
    say(f"{'updated' if existed else 'added'} user {name.strip()} ({role})")


@users_app.command("list")
def list_command(project: ProjectOpt = None) -> None:
    """The project's users, their roles and whether they can log in."""
    with _open(project) as proj:
        for user in proj.ledger.users():
            login = "can log in" if user.password_hash else "no password (credited only)"
            print(f"{user.name}\t{user.role}\t{login}")
