"""Rendering a plate, the same way for ``bgart generate``, ``bgart batch`` and the artists'
room: a :class:`~bgart.inputs.request.RenderRequest` made into the engine's request
(:func:`plate_request`, with the placing of layout and photo on the plate) and run with the
out-of-memory fallback (:func:`generate_with_fallback`, :func:`inpaint_with_fallback`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np
from PIL import Image

from bgart.errors import InputError
from bgart.generation import (
    Generated,
    GenerationRequest,
    InpaintRequest,
    LoraUse,
    OutOfMemory,
    Progress,
)
from bgart.images import cover_resize, open_image
from bgart.inputs import (
    Preset,
    RenderRequest,
    active_loras,
    compose,
    fit_box,
    join_prompt,
    merge_loras,
    prepare_layout,
)
from bgart.runs.artboard import render_references
from bgart.runs.delivery import delivery_plan
from bgart.runs.regions import render_regions

Say = Callable[[str], None]

# How a render that ran out of memory was retried (a batch's done.json says so).
LOW_MEMORY = "offload + VAE tiling"
ONE_AT_A_TIME = "offload + VAE tiling, one variation a call"


def plate_request(render: RenderRequest, preset: Preset) -> GenerationRequest:
    """The engine's request for ``render`` in ``preset``'s style (``render.preset``
    resolved): the layout and photo decoded and placed on the plate (:func:`plate_images`),
    the prompt composed with the style, the preset's numbers where the render sets none.

    The one place a plate's request is made, so that the same inputs give the same request,
    hence the same record and the same bytes, whichever command made them.
    """
    if render.preset is not None and render.preset != preset.name:
        raise InputError(
            f"render request: field 'preset': '{render.preset}', "
            f"but the preset given is '{preset.name}'"
        )
    layout = open_image(render.layout.data, mode=None, name=render.layout.name)
    photo = None
    if render.photo is not None:
        photo = open_image(render.photo.data, name=render.photo.name)
    control, photo = plate_images(layout, photo, render.width, render.height)
    positive, negative = compose(preset, render.prompt)
    if render.negative.strip():
        negative = join_prompt(negative, render.negative)
    extra: dict[str, Any] = {}
    if render.scheduler is not None:  # else the engine's default
        extra["scheduler"] = render.scheduler
    return GenerationRequest(
        prompt=positive,
        negative=negative,
        width=render.width,
        height=render.height,
        seeds=list(render.seeds),
        layout=control,
        photo=photo,
        steps=preset.steps if render.steps is None else render.steps,
        guidance=preset.guidance if render.guidance is None else render.guidance,
        controlnet_scale=(
            preset.controlnet_scale if render.controlnet_scale is None else render.controlnet_scale
        ),
        strength=preset.strength if render.strength is None else render.strength,
        preset=preset.name,
        layout_sha256=render.layout.sha256,
        photo_sha256=render.photo.sha256 if render.photo is not None else None,
        loras=tuple(
            LoraUse(s.name, s.scale) for s in active_loras(merge_loras(preset.loras, render.loras))
        ),
        references=render_references(render),  # art boards (bgart.runs.artboard)
        delivery=delivery_plan(render.delivery, layout),  # bgart.runs.delivery
        regions=render_regions(render, preset),  # regional prompts (bgart.runs.regions)
        **extra,
    )


# A layout box that leaves less than this between it and the plate's edge only absorbs the
# rounding of the plate's sides to multiples of 8 (plate_size_for): the photo then covers
# the plate, as it always did, and plates made that way keep regenerating byte for byte.
ROUNDING_GAP = 8


def plate_images(
    layout: Image.Image, photo: Image.Image | None, width: int, height: int
) -> tuple[Image.Image, Image.Image | None]:
    """The ControlNet image and the img2img init image of a ``width`` x ``height`` plate,
    placed alike: what is at one place in the layout and in the photo lands on the same
    plate pixel in both.

    Shared by :func:`plate_request` and ``bgart regenerate``. The layout is fitted and
    centred by :func:`bgart.inputs.layout.prepare_layout` (padded with black, never
    stretched); the photo fills the same box (:func:`bgart.inputs.layout.fit_box`), cropped to it
    like the plate's cover crop if its own aspect differs from the layout's. The padding
    around the box, where the layout has no lines, takes the photo's edge pixels repeated
    outwards: the scene's colours carried on, nothing new for img2img to keep. A box that
    fills the plate but for the rounding of its sides (under :data:`ROUNDING_GAP` px) is
    taken as the whole plate, the photo covering it.
    """
    return prepare_layout(layout, width, height), (
        None if photo is None else place_photo(photo, width, height, layout.size)
    )


def place_photo(
    photo: Image.Image, width: int, height: int, layout_size: tuple[int, int] | None = None
) -> Image.Image:
    """A reference photo as the init image of a ``width`` x ``height`` plate: covering it
    (scaled, centre-cropped), or, with the size of the layout it goes with, where that
    layout lands (see :func:`plate_images`)."""
    if layout_size is not None:
        left, top, fw, fh = fit_box(*layout_size, width, height)
        if width - fw >= ROUNDING_GAP or height - fh >= ROUNDING_GAP:
            inner = np.asarray(cover_resize(photo, fw, fh))
            pad = ((top, height - fh - top), (left, width - fw - left), (0, 0))
            return Image.fromarray(np.pad(inner, pad, mode="edge"), "RGB")
    return cover_resize(photo, width, height)


# ---- out of memory ---------------------------------------------------------------------------
class Renderer(Protocol):
    """What the fallback needs of an engine (:class:`bgart.generation.Engine`)."""

    def generate(
        self, req: GenerationRequest, progress: Progress | None = None
    ) -> list[Generated]: ...
    def inpaint(self, req: InpaintRequest, progress: Progress | None = None) -> Generated: ...
    def enable_low_memory(self) -> None: ...


@dataclass
class EngineState:
    """What the fallback has done to an engine. ``sticky`` (the artists' room): low-memory
    mode, once on, stays on for the process. Not sticky (``bgart batch``): it applies to the
    shot that needed it, and the next shot starts with the whole model on the GPU again (a
    1024x4096 pan should not slow down the 300 ordinary shots after it)."""

    low_memory: bool = False
    sticky: bool = True


def _enter_low_memory(engine: Renderer, state: EngineState) -> None:
    engine.enable_low_memory()
    state.low_memory = True


def _leave_low_memory(engine: Renderer, state: EngineState) -> None:
    """End of a shot that needed low-memory mode, unless the state is sticky."""
    if state.sticky or not state.low_memory:
        return
    leave = getattr(engine, "disable_low_memory", None)  # engines without it stay low
    if leave is not None:
        leave()
        state.low_memory = False


def generate_with_fallback(
    engine: Renderer,
    req: GenerationRequest,
    progress: Progress | None,
    say: Say,
    label: str,
    state: EngineState,
) -> tuple[list[Generated], str | None]:
    """One batched call for all variations; on out-of-memory, retry with model offload +
    VAE tiling (kept on: ``state``), then one variation at a time. Returns the plates and
    how they were retried (None: they were not). Raises OutOfMemory when nothing fits;
    ``say`` tells each retry, starting with ``label`` (the shot, the output). A state that
    is not sticky leaves low-memory mode when the call ends, however it ends."""
    try:
        return _generate_falling_back(engine, req, progress, say, label, state)
    finally:
        _leave_low_memory(engine, state)


def _generate_falling_back(
    engine: Renderer,
    req: GenerationRequest,
    progress: Progress | None,
    say: Say,
    label: str,
    state: EngineState,
) -> tuple[list[Generated], str | None]:
    retried = None
    if not state.low_memory:
        try:
            return engine.generate(req, progress=progress), None
        except OutOfMemory as exc:
            say(f"{label}: {exc}; retrying with model offload + VAE tiling")
        _enter_low_memory(engine, state)
        retried = LOW_MEMORY
    try:
        return engine.generate(req, progress=progress), retried
    except OutOfMemory:
        if len(req.seeds) == 1:
            raise
    say(f"{label}: still out of memory; retrying one variation at a time")
    results: list[Generated] = []
    for seed in req.seeds:
        results += engine.generate(replace(req, seeds=[seed]), progress=progress)
    return results, ONE_AT_A_TIME


def inpaint_with_fallback(
    engine: Renderer, req: InpaintRequest, progress: Progress | None, state: EngineState
) -> Generated:
    """An inpaint of the crop around the mask (bgart.runs.crop); on out-of-memory, tried
    once more with model offload + VAE tiling (kept on: ``state``, when sticky). Raises
    OutOfMemory when it does not fit even so."""
    from bgart.runs.crop import inpaint_cropped

    try:
        return inpaint_cropped(engine, req, progress)
    except OutOfMemory:
        pass  # the engine released the failed call's memory before raising
    _enter_low_memory(engine, state)
    try:
        return inpaint_cropped(engine, req, progress)
    finally:
        _leave_low_memory(engine, state)
