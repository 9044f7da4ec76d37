"""Users' roles and passwords: the roles a user may have, salted scrypt password hashes, and
the users as the hash chain states them (:class:`UserBook`)."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bgart.events import Kind

ROLES = ("artist", "director", "admin")

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


# A well-formed hash (all zeros) that no real password matches: a login by an unknown name, or
# by a user without a password, is checked against it so names can't be probed by timing.
DUMMY_HASH = "scrypt$16384$8$1$" + "00" * 16 + "$" + "00" * 32


# --- users on the chain ------------------------------------------------------------------------
#
# Adding a user, changing a role and changing a password are events (``user.added``,
# ``user.role_changed``, ``user.password_changed``: bgart.events.USER_KINDS), and the users
# table is derived from them like the plate tables are: ``bgart ledger verify`` demands that
# every row matches the chain. A row no user event explains is accepted only as what an act
# makes when a new name first acts (``ensure_user``): role artist, no password, which can
# neither log in nor review. Ledgers made before users were chained (their chain starts from
# LEGACY_GENESIS_HASH) had roles and passwords the chain never saw: until a ``users.adopted``
# event puts them on the chain as they stand (``bgart users adopt``, or the first
# ``bgart users add`` on such a ledger), verify accepts them and names them in a note.


def password_digest(stored: str | None) -> str | None:
    """What the chain records of a password: the sha256 of its stored scrypt hash (None: no
    password). It binds the row without putting even the salted hash in event payloads."""
    if not stored:
        return None
    return hashlib.sha256(stored.encode("utf-8")).hexdigest()


IMPLICIT_ROLE = "artist"  # what a user made by an act (ensure_user) has, with no password


@dataclass
class UserState:
    role: str
    password: str | None  # password_digest of the stored hash
    seq: int  # the last event that set it


@dataclass
class UserBook:
    """The users as the chain states them, built by :meth:`apply` in seq order."""

    users: dict[str, UserState] = field(default_factory=dict)
    adopted: int | None = None  # the seq of the users.adopted event, if any

    def apply(self, kind: str, payload: Mapping[str, Any], seq: int) -> None:
        if kind == Kind.USERS_ADOPTED:
            self.adopted = seq
            for entry in payload.get("users") or []:
                name = str(entry.get("user"))
                self.users[name] = UserState(str(entry.get("role")), entry.get("password"), seq)
            return
        name = str(payload.get("user"))
        state = self.users.get(name) or UserState(IMPLICIT_ROLE, None, seq)
        if kind == Kind.USER_ADDED:
            state = UserState(str(payload.get("role")), payload.get("password"), seq)
        elif kind == Kind.USER_ROLE_CHANGED:
            state = UserState(str(payload.get("role")), state.password, seq)
        elif kind == Kind.USER_PASSWORD_CHANGED:
            state = UserState(state.role, payload.get("password"), seq)
        else:
            return
        self.users[name] = state

    def unexplained(self, rows: Iterable[tuple[str, str, str | None]]) -> list[str]:
        """Rows (name, role, password hash) the chain does not explain, each as ``name
        (role)``: the users a legacy ledger had before users were chained."""
        return [
            f"{name} ({role}{', can log in' if pw else ''})"
            for name, role, pw in rows
            if name not in self.users and not (role == IMPLICIT_ROLE and not pw)
        ]

    def problem(self, rows: Iterable[tuple[str, str, str | None]], *, strict: bool) -> str | None:
        """The first user row that differs from the chain (or a chained user with no row);
        ``strict``: rows no event explains are edits too (else they are left to
        :meth:`unexplained`)."""
        seen: set[str] = set()
        for name, role, pw in sorted(rows):
            seen.add(name)
            state = self.users.get(name)
            if state is None:
                if role == IMPLICIT_ROLE and not pw:
                    continue  # made by an act when the name first acted
                if strict:
                    what = f"role {role}" if role != IMPLICIT_ROLE else "a password"
                    return (
                        f"user '{name}': {what} in the users table, but no event on the chain "
                        "gave it to them (the users table was edited)"
                    )
                continue
            if role != state.role:
                return (
                    f"user '{name}': role {role} in the users table, but the chain gives them "
                    f"role {state.role} (event #{state.seq}; the users table was edited)"
                )
            if password_digest(pw) != state.password:
                return (
                    f"user '{name}': the password in the users table is not the one the chain "
                    f"records (event #{state.seq}; the users table was edited)"
                )
        for name in sorted(set(self.users) - seen):
            return (
                f"user '{name}': on the chain (event #{self.users[name].seq}) but missing from "
                "the users table (the table was edited)"
            )
        return None
