"""Time-of-day variants (時間変え): ``bgart variant`` and the room's *Variant* button.

A variant is made from a shot's accepted plate: img2img from the plate's own pixels (so
the painting, and whatever human paint it holds, is the starting point) with the shot's
layout through the ControlNet (so the structure holds), in the style of the time of day's
preset (``prompts/time/<time>.toml``: what the art director's board says a night, an
evening… of this production looks like, and how far from the plate the model may go:
``strength``). The result is recorded as a new plate of the shot (named for the time,
``night``), linked to the parent version (:func:`bgart.plates.record_variant`), so its
credits follow the parent's paint where it survives.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from bgart.errors import InputError
from bgart.events import AiGenerated, Kind
from bgart.generation import Engine, Progress
from bgart.inputs import ImageInput, Preset, RenderRequest, derive_seed, get_preset, join_prompt
from bgart.ledger import Project
from bgart.plates import (
    PLATE,
    TIMES,
    PlateHistory,
    Recorded,
    accepted_version,
    record_variant,
    shot_layout,
)
from bgart.runs.render import EngineState, generate_with_fallback, plate_request
from bgart.settings import PACKAGE_ROOT, Settings

Say = Callable[[str], None]

TIME_FOLDER = "time"
"""The time-of-day presets' folder, inside the presets folder (prompts/time/night.toml)."""


@dataclass
class VariantJob:
    """One variant: ``time`` of the shot's plate ``parent`` (its accepted version unless
    ``version``), recorded as plate ``plate`` (default: the time's name)."""

    shot: str
    time: str
    requested_by: str | None = None
    plate: str | None = None
    parent: str = PLATE
    version: int | None = None
    seed: int | None = None
    strength: float | None = None
    prompt: str | None = None

    @property
    def plate_name(self) -> str:
        return self.plate or self.time


def time_preset(settings: Settings, time: str) -> Preset:
    """The preset of ``time`` (prompts/time/<time>.toml, in the production's presets folder
    or, when that has no ``time`` folder, bgart's own), named ``time/<time>`` so that a
    record never confuses it with a location preset of the same name."""
    if time not in TIMES:
        raise InputError(f"time of day '{time}': not one of {', '.join(TIMES)}")
    folder = Path(settings.prompts_dir) / TIME_FOLDER
    if not folder.is_dir():  # a production's own presets without time ones: bgart's
        folder = PACKAGE_ROOT / "prompts" / TIME_FOLDER
    preset = get_preset(folder, time)
    return dataclasses.replace(preset, name=f"{TIME_FOLDER}/{time}")


def _parent_record(history: PlateHistory, number: int) -> dict[str, object]:
    """The generation record that made the parent version's pixels ({} for none: a
    hand-painted plate)."""
    candidate = history.version(number).source_candidate
    record: dict[str, object] = {}
    for ev in history.events:
        if ev.kind == Kind.AI_VARIANT or (
            ev.kind == Kind.AI_GENERATED and ev.typed(AiGenerated).candidate == candidate
        ):
            record = ev.typed(AiGenerated).record
    return record


def _shot_words(record: dict[str, object], settings: Settings) -> str | None:
    """The shot's own words from the record that made the parent plate (its preset's style
    taken off again), or None when no record names them (a hand-painted plate)."""
    prompt, preset = record.get("prompt"), record.get("preset")
    if not isinstance(prompt, str) or not prompt.strip():
        return None
    if isinstance(preset, str) and preset.startswith(f"{TIME_FOLDER}/"):
        style = time_preset(settings, preset.split("/", 1)[1]).positive
    elif isinstance(preset, str):
        try:
            style = get_preset(settings.prompts_dir, preset).positive
        except InputError:
            return prompt
    else:
        return prompt
    style = join_prompt(style)
    if style and prompt.endswith(", " + style):
        return prompt[: -len(style) - 2]
    return prompt


def _layout(project: Project, shot: str, record: dict[str, object]) -> bytes:
    """The layout the parent plate was made from (its record names it), else the shot's
    latest imported layout."""
    sha = record.get("layout_sha256")
    if isinstance(sha, str) and project.blobs.has(sha):
        return project.blobs.get(sha)
    layout = shot_layout(project, shot)
    if layout is None:
        raise InputError(
            f"shot {shot}: no layout recorded; a variant keeps the structure through the "
            "layout (import it first, e.g. with `bgart batch`)"
        )
    return layout


def variant_render(
    project: Project, job: VariantJob, settings: Settings
) -> tuple[RenderRequest, Preset, Image.Image, int]:
    """What the variant of ``job`` renders, checked before a model loads: the request, the
    time's preset, the parent plate's image (the img2img start, as it is) and the parent
    version."""
    preset = time_preset(settings, job.time)
    number = job.version or accepted_version(project, job.shot, job.parent)
    history = PlateHistory.load(project, job.shot, job.parent)
    pv = history.version(number)
    state = history.state(number)
    record = _parent_record(history, number)
    words = job.prompt if job.prompt is not None else _shot_words(record, settings)
    if not words or not words.strip():
        raise InputError(
            f"shot {job.shot}: plate '{job.parent}' v{number} has no recorded prompt; "
            "give the shot's words with --prompt"
        )
    layout = _layout(project, job.shot, record)
    h, w = state.image.shape[:2]
    seed = (
        job.seed
        if job.seed is not None
        else derive_seed(project.settings.production, f"{job.shot}/{job.plate_name}")
    )
    render = RenderRequest(
        prompt=words,
        layout=ImageInput(layout, f"layout of shot {job.shot}"),
        width=w,
        height=h,
        seeds=(seed,),
        preset=preset.name,
        photo=ImageInput(project.blobs.get(pv.image_sha), f"plate '{job.parent}' v{number}"),
        strength=job.strength,
    )
    return render, preset, Image.fromarray(state.image, "RGB"), number


def run_variant(
    project: Project,
    job: VariantJob,
    engine: Engine,
    *,
    say: Say = print,
    progress: Progress | None = None,
    state: EngineState | None = None,
) -> Recorded:
    """Render the variant of ``job`` with ``engine`` and record it in ``project``."""
    render, preset, parent, number = variant_render(project, job, engine.settings)
    # The plate itself is the img2img start, pixel for pixel (never re-fitted to the
    # layout's box as a reference photo is): its sha256 is the parent version's image blob.
    req = dataclasses.replace(plate_request(render, preset), photo=parent)
    label = f"{job.shot} {job.plate_name}"
    results, _ = generate_with_fallback(engine, req, progress, say, label, state or EngineState())
    made = results[0]
    return record_variant(
        project,
        job.shot,
        made.png(),
        made.record,
        plate=job.plate_name,
        parent_plate=job.parent,
        parent_version=number,
        time=job.time,
        requested_by=job.requested_by,
    )
