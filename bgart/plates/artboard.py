"""Art boards and 兼用 (reused layouts): the acts and the reads.

An art board is a set of reference images per location or per preset, put in by a person
(the art director) as ``artboard.imported`` events on no shot: the image is a blob, the event
names the board. Rendering takes a board's images as IP-Adapter references
(:mod:`bgart.generation.adapters`); the plate's generation record names them by sha256, and
the credits name the person who put each in (:func:`board_artists`).

A cut whose layout is another cut's (兼用, found by perceptual hash: :mod:`bgart.runs.reuse`)
may take that cut's accepted plate as it is: ``plate.reused`` on the cut, no pixels of its
own, its credits the source plate's (:func:`reuse_of`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bgart.errors import InputError
from bgart.events import Actor, ArtboardImported, Kind, PlateReused
from bgart.images import open_image
from bgart.ledger import Project, check_name
from bgart.plates.versions import Recorded, recorded

BOARDS = ("location", "preset")
MAX_BOARD_NAME = 64


@dataclass(frozen=True)
class BoardImage:
    """One image of a board, as the ledger holds it."""

    board: str  # "location:<name>" | "preset:<name>"
    sha256: str
    artist: str
    filename: str | None
    seq: int


def board_key(board: str, name: str) -> str:
    """``location:<name>`` / ``preset:<name>``: how records and messages name a board."""
    return f"{board}:{name}"


def check_board_name(board: str, name: str) -> str:
    if board not in BOARDS:
        raise InputError(f"art board '{board}': not one of {', '.join(BOARDS)}")
    text = name.strip() if isinstance(name, str) else ""
    if (
        not text
        or len(text) > MAX_BOARD_NAME
        or any(ord(c) < 32 or ord(c) == 127 or c in "/\\" for c in text)
    ):
        raise InputError(
            f"--{board} '{name}': a {board} name is one line of 1..{MAX_BOARD_NAME} "
            "characters, no '/'"
        )
    return text


def record_artboard(
    project: Project,
    board: str,
    name: str,
    image_bytes: bytes,
    artist: str,
    *,
    filename: str | None = None,
) -> Recorded:
    """``artboard.imported``: put an image on the board of a location or a preset, by
    ``artist``. The same image on the same board by the same person records nothing new."""
    name = check_board_name(board, name)
    artist = check_name(artist, "user")
    img = open_image(image_bytes, mode=None, name=filename or f"art-board image for {name}")
    sha = project.blobs.put(image_bytes, "png" if img.format == "PNG" else "bin")
    key = f"artboard.imported/{board}/{name}/{sha}/{artist}"
    with project.ledger.write() as tx:
        existing = tx.find_event(key)
        if existing is not None:
            return recorded(existing, duplicate=True)
        tx.ensure_user(artist)
        ev = tx.append(
            Kind.ARTBOARD_IMPORTED,
            actor=artist,
            actor_kind=Actor.HUMAN,
            payload=ArtboardImported(
                board=board, name=name, filename=filename, width=img.width, height=img.height
            ).to_dict(),
            blobs={"reference": sha},
            idem_key=key,
        )
        return recorded(ev)


def boards(project: Project) -> dict[str, list[BoardImage]]:
    """Every board's images, in the order they were put in (an image once per board)."""
    out: dict[str, list[BoardImage]] = {}
    for ev in project.ledger.events(kinds=(Kind.ARTBOARD_IMPORTED,)):
        payload = ev.typed(ArtboardImported)
        key = board_key(payload.board, payload.name)
        sha = ev.blobs.get("reference", "")
        images = out.setdefault(key, [])
        if sha and all(i.sha256 != sha for i in images):
            images.append(BoardImage(key, sha, ev.actor, payload.filename, ev.seq))
    return out


def board_images(project: Project, key: str) -> dict[str, bytes]:
    """A board's image bytes by sha256 (each read back and checked against its hash)."""
    out: dict[str, bytes] = {}
    for image in boards(project).get(key, []):
        out[image.sha256] = read_reference(project, image.sha256)
    return out


def read_reference(project: Project, sha: str) -> bytes:
    """The bytes of a reference image, checked against its sha256."""
    data, _problem = project.blobs.read_checked(sha, "png")
    if data is not None:
        return data
    raise InputError(f"art-board image {sha}: missing or damaged in {project.root}/blobs")


def board_artists(project: Project, shas: Iterable[str]) -> list[str]:
    """Who put the images ``shas`` on a board (the art director, credited for them)."""
    wanted = set(shas)
    if not wanted:
        return []
    names: list[str] = []
    for ev in project.ledger.events(kinds=(Kind.ARTBOARD_IMPORTED,)):
        if ev.blobs.get("reference") in wanted and ev.actor not in names:
            names.append(ev.actor)
    return names


def record_reuse(
    project: Project,
    shot: str,
    source_shot: str,
    source_plate: str,
    source_version: int,
    distance: int,
    actor: str,
) -> Recorded:
    """``plate.reused``: ``shot`` takes ``source_shot``'s accepted plate (兼用)."""
    shot, source_shot = check_name(shot, "shot"), check_name(source_shot, "shot")
    actor = check_name(actor, "user")
    key = f"plate.reused/{shot}/{source_shot}/{source_plate}/{source_version}"
    with project.ledger.write() as tx:
        existing = tx.find_event(key)
        if existing is not None:
            return recorded(existing, duplicate=True)
        tx.shot(shot)
        tx.ensure_user(actor)
        ev = tx.append(
            Kind.PLATE_REUSED,
            actor=actor,
            actor_kind=Actor.HUMAN,
            shot=shot,
            payload=PlateReused(
                source_shot=source_shot,
                source_plate=source_plate,
                source_version=source_version,
                distance=distance,
            ).to_dict(),
            idem_key=key,
        )
        return recorded(ev)


def reuse_of(project: Project, shot: str) -> PlateReused | None:
    """The plate ``shot`` reuses (its latest ``plate.reused``), or None."""
    events = project.ledger.events(shot=shot, kinds=(Kind.PLATE_REUSED,))
    return events[-1].typed(PlateReused) if events else None


def reused_shots(project: Project) -> dict[str, PlateReused]:
    """Every shot that reuses another cut's plate, with what it reuses."""
    out: dict[str, PlateReused] = {}
    for ev in project.ledger.events(kinds=(Kind.PLATE_REUSED,)):
        if ev.shot:
            out[ev.shot] = ev.typed(PlateReused)
    return out
