"""Recording a layered PSD final: the bottom layer as the plate, each layer above it as its
artist's paint layer (:mod:`bgart.plates.psd` reads the file)."""

from __future__ import annotations

import numpy as np

from bgart.errors import InputError
from bgart.ledger import Project, check_name
from bgart.plates.acts import record_final, record_paint
from bgart.plates.history import read_versions
from bgart.plates.psd import read_layered
from bgart.plates.queries import plate_state
from bgart.plates.versions import PLATE, Recorded, check_names


def record_layered_final(
    project: Project,
    shot: str,
    data: bytes,
    artist: str,
    active_seconds: float = 0.0,
    *,
    plate: str = PLATE,
    filename: str | None = None,
) -> list[Recorded]:
    """Record the layered PSD ``data`` painted over the plate: one event per layer.

    1. The bottom layer, when it is not the plate's latest version pixel for pixel (or the
       plate has none), is recorded as a whole final (``record_final``: a repaint's visible
       changes are credited to its artist; on a new plate, a hand-painted import).
    2. Each visible layer above, bottom to top, is a ``human.painted`` event (source
       ``psd``) by its artist (``@name`` prefix, else ``artist``), its blend mode already
       computed into a normal layer, so each is measured as that artist's layer.

    The file is read and every layer checked (mode, size, names) before anything is written.
    ``active_seconds`` goes with the first event; the file is kept as each event's
    ``original``. Returns the events recorded, in order (none if nothing differs).
    """
    shot, plate = check_names(shot, plate)
    artist = check_name(artist, "artist")
    name = filename or f"layered final for shot {shot}"
    psd = read_layered(data, name)
    size = (psd.base.shape[1], psd.base.shape[0])
    latest = _latest_image(project, shot, plate)
    if latest is not None and (latest.shape[1], latest.shape[0]) != size:
        raise InputError(
            f"{name}: the PSD is {size[0]}x{size[1]} but plate '{plate}' of shot {shot} is "
            f"{latest.shape[1]}x{latest.shape[0]}"
        )
    people = [check_name(layer.artist or artist, "artist") for layer in psd.layers]
    recorded: list[Recorded] = []
    seconds = active_seconds
    if latest is None or not np.array_equal(latest, psd.base):
        base_artist = check_name(psd.base_artist or artist, "artist")
        rec = record_final(
            project,
            shot,
            psd.base,
            base_artist,
            seconds,
            plate=plate,
            filename=_label(filename, psd.base_name),
            original=data,
        )
        recorded.append(rec)
        seconds = 0.0
    for layer, person in zip(psd.layers, people, strict=True):
        rec = record_paint(
            project,
            shot,
            layer.rgba,
            person,
            seconds,
            plate=plate,
            source="psd",
            filename=_label(filename, layer.name),
            original=data,
        )
        recorded.append(rec)
        seconds = 0.0
    return recorded


def _latest_image(project: Project, shot: str, plate: str) -> np.ndarray | None:
    if not read_versions(project, shot, plate):
        return None
    return plate_state(project, shot, plate=plate).image


def _label(filename: str | None, layer: str) -> str:
    """How an event names the layer it came from: ``file.psd › layer``."""
    return f"{filename or 'PSD'} › {layer}"
