"""Reading plates and shots: versions, states, figures, heat maps, the UI's shot list.

For several reads of one plate, load a :class:`bgart.plates.history.PlateHistory` once.
"""

from __future__ import annotations

from typing import Any

from PIL import Image
from sqlalchemy import select

from bgart import provenance as contrib
from bgart.errors import InputError
from bgart.events import REVIEW_KINDS, VERSION_KINDS, Kind, Review, VersionFields
from bgart.ledger import Plate, PlateVersion, Project, Shot
from bgart.plates.history import PlateHistory, read_versions
from bgart.plates.pixels import PlateState, load_state
from bgart.plates.versions import PLATE


def plate_versions(project: Project, shot: str, *, plate: str = PLATE) -> list[PlateVersion]:
    return read_versions(project, shot, plate)


def plate_names(project: Project, shot: str) -> list[str]:
    with project.ledger.read() as s:
        return list(
            s.execute(
                select(Plate.name)
                .join(Shot, Shot.id == Plate.shot_id)
                .where(Shot.code == shot)
                .order_by(Plate.id)
            ).scalars()
        )


def plate_version(
    project: Project, shot: str, *, plate: str = PLATE, version: int | None = None
) -> PlateVersion:
    """A plate version's row (the latest unless ``version``); an InputError naming the shot,
    plate and version otherwise."""
    versions = read_versions(project, shot, plate)
    if not versions:
        raise InputError(f"shot {shot}: plate '{plate}' has no versions")
    if version is None:
        return versions[-1]
    for pv in versions:
        if pv.number == version:
            return pv
    raise InputError(f"shot {shot}: no version {version} (latest is {versions[-1].number})")


def plate_state(
    project: Project, shot: str, *, plate: str = PLATE, version: int | None = None
) -> PlateState:
    """The pixels and raster of a plate version (the latest unless ``version``)."""
    return load_state(project, plate_version(project, shot, plate=plate, version=version))


def plate_figures(
    project: Project, shot: str, *, plate: str = PLATE, version: int | None = None
) -> dict[str, Any]:
    """All contribution figures of a plate version (see :meth:`PlateHistory.figures`)."""
    return PlateHistory.load(project, shot, plate).figures(version)


def heatmap(
    project: Project,
    shot: str,
    *,
    plate: str = PLATE,
    version: int | None = None,
    legend: bool = True,
) -> Image.Image:
    """The provenance heat map of a plate version (see :func:`bgart.provenance.heatmap`)."""
    state = plate_state(project, shot, plate=plate, version=version)
    return contrib.heatmap(state.raster, state.image, legend=legend)


# --- shot overview (the UI's shot list) ---------------------------------------------------

SHOT_STATUSES = ("no plate", "generated", "in retouch", "submitted", "accepted", "rejected")
_REVIEW_STATUS = {
    Kind.PLATE_SUBMITTED: "submitted",
    Kind.PLATE_ACCEPTED: "accepted",
    Kind.PLATE_REJECTED: "rejected",
}
assert set(_REVIEW_STATUS) == REVIEW_KINDS  # a new review kind needs a status here


def shot_codes(project: Project) -> list[str]:
    """Every shot the ledger knows (shots with at least one event), in the order first seen."""
    with project.ledger.read() as s:
        return list(s.execute(select(Shot.code).order_by(Shot.id)).scalars())


def shot_status(project: Project, shot: str, *, plate: str = PLATE) -> str:
    """Where a shot's plate stands, one of :data:`SHOT_STATUSES`.

    ``no plate`` until a version exists; ``submitted`` / ``accepted`` / ``rejected`` while the
    latest review act concerns the latest version; otherwise ``generated`` when the latest
    version is untouched AI output (a generation or a pick) and ``in retouch`` after any edit.
    """
    events = project.ledger.events(shot=shot, plate=plate)
    versions = [ev for ev in events if ev.kind in VERSION_KINDS and ev.typed(VersionFields).version]
    if not versions:
        return "no plate"
    latest = versions[-1]
    reviews = [ev for ev in events if ev.kind in REVIEW_KINDS and ev.seq > latest.seq]
    if reviews and reviews[-1].typed(Review).version == latest.typed(VersionFields).version:
        return _REVIEW_STATUS[Kind(reviews[-1].kind)]
    untouched = (Kind.AI_GENERATED, Kind.VARIATION_SELECTED)
    return "generated" if latest.kind in untouched else "in retouch"


def shot_layout(project: Project, shot: str) -> bytes | None:
    """The bytes of the shot's latest imported layout, or None when it has none."""
    events = project.ledger.events(shot=shot, kinds=(Kind.LAYOUT_IMPORTED,))
    return project.blobs.get(events[-1].blobs["layout"]) if events else None
