"""A render's regional prompts for the engine: the shot's regions file (as the render
request carries it, :class:`bgart.inputs.RegionsInput`) made into the engine's
:class:`bgart.generation.RegionMap` at the plate's size, each region's words composed with
the shot's style preset as the plate's own prompt is (:func:`bgart.inputs.compose`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bgart.errors import InputError
from bgart.inputs import Preset, RegionsInput, RenderRequest, compose

if TYPE_CHECKING:
    from bgart.generation import GenerationRecord, RegionMap


def render_regions(render: RenderRequest, preset: Preset) -> RegionMap | None:
    """The engine's regions of ``render`` (None without regions), checked against the
    plate: every colour must occur in the map scaled to the plate."""
    if render.regions is None:
        return None
    from bgart.generation import build_regions

    given = render.regions
    prompts = [(colour, compose(preset, words)[0]) for colour, words in given.prompts]
    return build_regions(given.map.data, given.map.name, prompts, render.width, render.height)


def recorded_regions_map(record: GenerationRecord, project: Path | None) -> bytes | None:
    """The colour map a record's regional prompts were made with (None: it has none), from
    the project that keeps it (``bgart batch`` stores it there by its sha256)."""
    entry = record.extra.get("regions")
    sha = entry.get("map_sha256") if isinstance(entry, dict) else None
    if entry is None:
        return None
    if project is None or not isinstance(sha, str):
        raise InputError("made with regional prompts: pass --project, which keeps the map")
    from bgart.ledger import Project

    with Project.open(project) as opened:
        if not opened.blobs.has(sha):
            raise InputError(f"{project}: does not hold the regions map {sha[:12]}… it names")
        return opened.blobs.get(sha)


def keep_regions_map(project: Path, regions: RegionsInput | None) -> None:
    """Store a render's colour map in ``project`` by its sha256 (what the record names), so
    that regenerating the plate from the project finds it."""
    if regions is None:
        return
    from bgart.ledger import Project

    with Project.open(project) as opened:
        opened.blobs.put(regions.map.data, "png")
