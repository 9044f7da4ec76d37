"""A render's regional prompts for the engine: the shot's regions file (as the render
request carries it, :class:`bgart.inputs.RegionsInput`) made into the engine's
:class:`bgart.generation.RegionMap` at the plate's size, each region's words composed with
the shot's style preset as the plate's own prompt is (:func:`bgart.inputs.compose`).

A region's own reference image (the regions file's ``[references]``) goes with it, decoded;
it steers at the scale of the shot's art board (the production's ``[artboard] scale``) when
the shot has one, else at ``"style"``. The project keeps the map and each reference by
sha256 (:func:`keep_regions_map`), so ``bgart regenerate --project`` finds them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from bgart.errors import InputError
from bgart.images import open_image
from bgart.inputs import Preset, RegionsInput, RenderRequest, compose

if TYPE_CHECKING:
    from bgart.generation import GenerationRecord, RegionMap


def render_regions(render: RenderRequest, preset: Preset) -> RegionMap | None:
    """The engine's regions of ``render`` (None without regions), checked against the
    plate: every colour must occur in the map scaled to the plate."""
    if render.regions is None:
        return None
    from bgart.generation import Reference, build_regions

    given = render.regions
    prompts = [(colour, compose(preset, words)[0]) for colour, words in given.prompts]
    refs = {
        colour: Reference(open_image(image.data, name=image.name), image.sha256, f"region:{colour}")
        for colour, image in given.references
    }
    scale = render.reference_scale if render.reference_scale is not None else "style"
    return build_regions(
        given.map.data, given.map.name, prompts, render.width, render.height, refs, scale
    )


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


def recorded_region_references(
    record: GenerationRecord, project: Path | None
) -> dict[str, Image.Image]:
    """The region references a record names, by sha256 ({} for none), read from the
    project that keeps them (``bgart batch`` / ``generate --project`` store them there)."""
    from bgart.generation import region_reference_shas

    named = region_reference_shas(record.extra)
    if not named:
        return {}
    if project is None:
        raise InputError("made with region references: pass --project, which keeps them")
    from bgart.ledger import Project

    out: dict[str, Image.Image] = {}
    with Project.open(project) as opened:
        for colour, sha in named:
            data, _problem = opened.blobs.read_checked(sha, "png")
            if data is None:
                raise InputError(
                    f"{project}: does not hold the reference {sha[:12]}… of region {colour}"
                )
            out[sha] = open_image(data, name=f"region {colour} reference {sha[:12]}")
    return out


def keep_regions_map(project: Path, regions: RegionsInput | None) -> None:
    """Store a render's colour map and region references in ``project`` by sha256 (what the
    record names), so that regenerating the plate from the project finds them."""
    if regions is None:
        return
    from bgart.ledger import Project

    with Project.open(project) as opened:
        keep_region_files(opened.blobs, regions)


def keep_region_files(blobs: Any, regions: RegionsInput) -> None:
    """Put the map and each region reference in a project's ``blobs``."""
    blobs.put(regions.map.data, "png")
    for _colour, image in regions.references:
        blobs.put(image.data, "png" if image.data.startswith(b"\x89PNG") else "bin")
