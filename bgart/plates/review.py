"""Reviews of a plate version: the artist submits it, a director accepts or rejects it
(the approval named in the credits)."""

from __future__ import annotations

from bgart.errors import InputError, StaleVersionError
from bgart.events import Actor, Kind
from bgart.ledger import Event, Project
from bgart.plates.versions import (
    PLATE,
    REVIEWER_ROLES,
    Recorded,
    check_names,
    recorded,
    require_version,
)


def accept(
    project: Project,
    shot: str,
    approver: str,
    comment: str = "",
    *,
    plate: str = PLATE,
    version: int | None = None,
) -> Recorded:
    """``plate.accepted``: ``approver`` accepts the plate's latest version (``version``: the
    one they looked at; refused when it is no longer the latest)."""
    return _decide(project, shot, plate, Kind.PLATE_ACCEPTED, approver, comment, version)


def reject(
    project: Project,
    shot: str,
    approver: str,
    comment: str = "",
    *,
    plate: str = PLATE,
    version: int | None = None,
) -> Recorded:
    """``plate.rejected``: ``approver`` rejects the plate's latest version (``version``: as
    for :func:`accept`)."""
    return _decide(project, shot, plate, Kind.PLATE_REJECTED, approver, comment, version)


def review(
    project: Project,
    shot: str,
    decision: str,
    approver: str,
    comment: str = "",
    *,
    plate: str = PLATE,
    version: int | None = None,
) -> Recorded:
    """Accept or reject the plate's latest version, as a director or admin of the project.

    The rules every front end shares (UI and CLI): the approver must be a project user with a
    reviewer role, and a rejection must say what to change. ``version``: the version the
    approver looked at; if someone saved a newer one since, the decision is refused rather
    than recorded against a version nobody reviewed.
    """
    act = {"accept": accept, "reject": reject}.get(decision)
    if act is None:
        raise InputError(f"decision '{decision}': accept or reject")
    name = (approver or "").strip()
    user = project.ledger.user(name)
    if user is None:
        raise InputError(
            f"approver '{name}': not a user of this project "
            "(add one with: bgart users add NAME --role director)"
        )
    if user.role not in REVIEWER_ROLES:
        raise InputError(
            f"approver '{name}' ({user.role}): only directors and admins accept or reject plates"
        )
    comment = (comment or "").strip()
    if decision == "reject" and not comment:
        raise InputError("reject: say what to change in the comment")
    return act(project, shot, user.name, comment, plate=plate, version=version)


def submit(
    project: Project,
    shot: str,
    artist: str,
    comment: str = "",
    *,
    plate: str = PLATE,
    version: int | None = None,
) -> Recorded:
    """``plate.submitted``: ``artist`` hands the plate's latest version in for review
    (``version``: the one they looked at, as for :func:`accept`)."""
    return _decide(project, shot, plate, Kind.PLATE_SUBMITTED, artist, comment, version)


def _decide(
    project: Project,
    shot: str,
    plate: str,
    kind: str,
    approver: str,
    comment: str,
    seen: int | None = None,
) -> Recorded:
    shot, plate = check_names(shot, plate)
    with project.ledger.write() as tx:
        plate_row = tx.plate(shot, plate, create=False)
        if plate_row is None:
            raise InputError(f"shot {shot}: no plate '{plate}' to review")
        cur = require_version(tx, plate_row, shot, plate)
        if seen is not None and seen > cur.number:
            raise InputError(f"shot {shot}: there is no v{seen}; the latest is v{cur.number}")
        if seen is not None and seen != cur.number:
            made_by = tx.session.get(Event, cur.event_seq)
            who = f" by {made_by.actor}" if made_by is not None else ""
            raise StaleVersionError(
                f"shot {shot}: you are looking at v{seen}, but v{cur.number} was saved{who} "
                f"since; look at v{cur.number} first (nothing was recorded)"
            )
        tx.ensure_user(approver)
        ev = tx.append(
            kind,
            actor=approver,
            actor_kind=Actor.HUMAN,
            shot=shot,
            plate=plate,
            payload={"version": cur.number, "comment": comment},
        )
        return recorded(ev)
