"""Reviews of a plate version: the artist submits it, a director accepts or rejects it
(the approval named in the credits)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from bgart.errors import InputError, StaleVersionError
from bgart.events import (
    REVIEW_KINDS,
    Actor,
    Kind,
    PayloadError,
    RetakeMarked,
    RetakeRegion,
    Review,
    parse,
)
from bgart.ledger import Event, PlateVersion, Project, WriteTx
from bgart.plates.queries import shot_status
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
        cur = _looked_at(tx, require_version(tx, plate_row, shot, plate), shot, seen)
        return _record_decision(tx, shot, plate, kind, cur, approver, comment)


def _record_decision(
    tx: WriteTx, shot: str, plate: str, kind: str, cur: PlateVersion, who: str, comment: str
) -> Recorded:
    """Append ``who``'s decision (submit, accept, reject) on ``cur``, unless it repeats
    their last one on it: a second click on the same decision records nothing new."""
    again = _same_review(tx, shot, plate, kind, cur, who)
    if again is not None:
        return recorded(again, duplicate=True)
    tx.ensure_user(who)
    ev = tx.append(
        kind,
        actor=who,
        actor_kind=Actor.HUMAN,
        shot=shot,
        plate=plate,
        payload={"version": cur.number, "comment": comment},
    )
    return recorded(ev)


def _same_review(
    tx: WriteTx, shot: str, plate: str, kind: str, cur: PlateVersion, actor: str
) -> Event | None:
    """The plate's latest review act, when it already is ``actor``'s ``kind`` of version
    ``cur``: the same person accepting, rejecting or submitting the same version twice in a
    row is recorded once (a second director's decision is recorded)."""
    last = tx.session.execute(
        select(Event)
        .where(
            Event.shot == shot,
            Event.plate == plate,
            Event.kind.in_([str(k) for k in REVIEW_KINDS]),
            Event.seq > cur.event_seq,
        )
        .order_by(Event.seq.desc())
        .limit(1)
    ).scalar_one_or_none()
    if last is None or last.kind != str(kind) or last.actor != actor:
        return None
    return last if last.payload_dict.get("version") == cur.number else None


# --- retake marks ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RetakeMark:
    """A retake mark as the artist sees it: the regions of one ``plate.retake_marked``."""

    seq: int
    director: str
    at: str
    version: int | None
    comment: str
    regions: list[RetakeRegion]


def mark_retake(
    project: Project,
    shot: str,
    director: str,
    regions: Sequence[Mapping[str, Any] | RetakeRegion],
    comment: str = "",
    *,
    plate: str = PLATE,
    version: int | None = None,
) -> Recorded:
    """A retake: ``director`` marks regions of the plate's latest version, a comment each
    (``plate.retake_marked``: no pixel changes), and rejects it (``plate.rejected``, whose
    comment names the regions), in one write transaction. Returns the rejection; a second
    retake of a rejected version records its marks only."""
    name = _reviewer(project, director)
    shot, plate = check_names(shot, plate)
    if not regions:
        raise InputError("retake: mark at least one region on the plate")
    try:
        marks = parse(
            Kind.RETAKE_MARKED,
            {"regions": [_region_dict(r) for r in regions], "comment": (comment or "").strip()},
            RetakeMarked,
        )
    except PayloadError as exc:
        raise InputError(f"retake: {exc}") from None
    with project.ledger.write() as tx:
        plate_row = tx.plate(shot, plate, create=False)
        if plate_row is None:
            raise InputError(f"shot {shot}: no plate '{plate}' to mark")
        cur = _looked_at(tx, require_version(tx, plate_row, shot, plate), shot, version)
        for i, region in enumerate(marks.regions, 1):
            outside = [
                (x, y)
                for x, y in region.points
                if not (0 <= x <= cur.width and 0 <= y <= cur.height)
            ]
            if outside:
                raise InputError(
                    f"retake region {i}: point {outside[0]} is outside the "
                    f"{cur.width}x{cur.height} plate"
                )
        tx.ensure_user(name)
        payload = {**marks.to_dict(), "version": cur.number}
        tx.append(
            Kind.RETAKE_MARKED,
            actor=name,
            actor_kind=Actor.HUMAN,
            shot=shot,
            plate=plate,
            payload=payload,
        )
        summary = "; ".join(f"{i}: {r.comment.strip()}" for i, r in enumerate(marks.regions, 1))
        text = f"{marks.comment} (retake: {summary})" if marks.comment else f"retake: {summary}"
        return _record_decision(tx, shot, plate, Kind.PLATE_REJECTED, cur, name, text)


def retake_marks(
    project: Project, shot: str, *, plate: str = PLATE, version: int | None = None
) -> list[RetakeMark]:
    """The retake marks of a plate, oldest first (``version``: only those on that version)."""
    out = []
    for ev in project.ledger.events(shot=shot, plate=plate, kinds=(Kind.RETAKE_MARKED,)):
        marks = ev.typed(RetakeMarked)
        if version is not None and marks.version != version:
            continue
        out.append(
            RetakeMark(ev.seq, ev.actor, ev.created_at, marks.version, marks.comment, marks.regions)
        )
    return out


def open_retakes(project: Project, shot: str, *, plate: str = PLATE) -> list[RetakeMark]:
    """The marks the artist still has to answer: those of the latest rejected version, while
    no newer version has been submitted since (empty once it is accepted or resubmitted)."""
    events = project.ledger.events(shot=shot, plate=plate)
    reviews = [ev for ev in events if ev.kind in REVIEW_KINDS]
    if not reviews or reviews[-1].kind != Kind.PLATE_REJECTED:
        return []
    rejected = reviews[-1].typed(Review).version
    return retake_marks(project, shot, plate=plate, version=rejected)


def review_queue(project: Project, *, plate: str = PLATE) -> list[str]:
    """Shots waiting for a director: their latest version submitted and not yet decided,
    the longest-waiting first."""
    waiting: list[tuple[int, str]] = []
    for ev in project.ledger.events(kinds=(Kind.PLATE_SUBMITTED,)):
        if ev.plate != plate or ev.shot is None:
            continue
        waiting = [w for w in waiting if w[1] != ev.shot]
        waiting.append((ev.seq, ev.shot))
    return [
        code
        for _seq, code in sorted(waiting)
        if shot_status(project, code, plate=plate) == "submitted"
    ]


def _reviewer(project: Project, name: str) -> str:
    name = (name or "").strip()
    user = project.ledger.user(name)
    if user is None:
        raise InputError(
            f"director '{name}': not a user of this project "
            "(add one with: bgart users add NAME --role director)"
        )
    if user.role not in REVIEWER_ROLES:
        raise InputError(f"'{name}' ({user.role}): only directors and admins mark retakes")
    return user.name


def _looked_at(tx: WriteTx, cur: PlateVersion, shot: str, seen: int | None) -> PlateVersion:
    if seen is not None and seen > cur.number:
        raise InputError(f"shot {shot}: there is no v{seen}; the latest is v{cur.number}")
    if seen is not None and seen != cur.number:
        made_by = tx.session.get(Event, cur.event_seq)
        who = f" by {made_by.actor}" if made_by is not None else ""
        raise StaleVersionError(
            f"shot {shot}: you are looking at v{seen}, but v{cur.number} was saved{who} "
            f"since; look at v{cur.number} first (nothing was recorded)"
        )
    return cur


def _region_dict(region: Mapping[str, Any] | RetakeRegion) -> dict[str, Any]:
    if isinstance(region, RetakeRegion):
        return region.model_dump(mode="json")
    return {
        "shape": region.get("shape"),
        "points": [[float(x), float(y)] for x, y in region.get("points") or []],
        "comment": str(region.get("comment") or "").strip(),
    }
