"""``bgart refine``: a project's plate refined by the model to a delivery size, recorded.

The run reads the plate's latest version, the shot's layout and the recipe of the model act
that made the plate (prompt, negative, seed, steps, guidance), asks the engine for the
refinement (:func:`bgart.generation.refine`) and records it through the refine act
(:func:`bgart.plates.record_refine`: ``ai.refined``, provenance carried to the new size).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from bgart.errors import InputError
from bgart.inputs import parse_delivery, prepare_layout
from bgart.ledger import Project
from bgart.plates import PLATE, Recorded, plate_state, record_refine, shot_layout
from bgart.settings import load_settings

Say = Callable[[str], None]
MAX_REFINE_FACTOR = 16  # as the refine act's provenance allows (provenance.resample)


@dataclass(frozen=True)
class RefineJob:
    project: Path
    shot: str
    delivery: str  # "WxH", or the short side (the long one follows the plate's aspect)
    strength: float | None = None  # None: the delivery refinement's default
    keep_human_paint: bool = True
    requested_by: str | None = None
    plate: str = PLATE
    model: str | None = None


def delivery_size(text: str, plate_size: tuple[int, int]) -> tuple[int, int]:
    """The size ``--delivery`` names for a plate of ``plate_size``: a short side alone keeps
    the plate's aspect; sizes follow the delivery rules (multiples of 8, the plate's aspect
    within 1 %, the area bound) and each side changes at most 16x. Checked before the model
    runs."""
    from bgart.inputs.delivery import delivery_size as sized

    spec = parse_delivery(text, "--delivery")
    if spec is None:
        raise InputError(f"--delivery '{text}': a refinement needs a size (WxH or a short side)")
    w, h = plate_size
    size = sized(spec, w, h, field="--delivery", of="plate")
    assert size is not None
    if max(size[0] / w, size[1] / h) > MAX_REFINE_FACTOR:
        raise InputError(
            f"--delivery {size[0]}x{size[1]}: more than {MAX_REFINE_FACTOR}x the plate's "
            f"{w}x{h}; refine in steps, or render a larger base"
        )
    return size


def recipe(project: Project, shot: str, plate: str) -> dict[str, Any]:
    """The generation record of the latest model act on the plate (its prompt, seed…), or
    an empty recipe for a plate no model made."""
    for ev in reversed(project.ledger.events(shot=shot, plate=plate)):
        record = ev.payload.get("record")
        if isinstance(record, dict) and isinstance(record.get("prompt"), str):
            return record
    return {}


def run_refine(
    job: RefineJob,
    say: Say = print,
    progress: Callable[[int, int], None] | None = None,
    engine: Any = None,
) -> Recorded:
    """Refine the plate and record it. Everything is checked before the model loads; the
    act refuses the result (recording nothing) if the plate changed while it ran."""
    from bgart.generation import Engine, RefineRequest, refine
    from bgart.generation.delivery import REFINE_STRENGTH

    with Project.open(job.project) as project:
        state = plate_state(project, job.shot, plate=job.plate)
        h, w = state.image.shape[:2]
        width, height = delivery_size(job.delivery, (w, h))
        rec = recipe(project, job.shot, job.plate)
        layout_bytes = shot_layout(project, job.shot)
    layout = None
    if layout_bytes is not None:
        from bgart.images import open_image

        raw = open_image(layout_bytes, mode=None, name=f"layout of shot {job.shot}")
        layout = prepare_layout(raw, width, height)
    strength = REFINE_STRENGTH if job.strength is None else job.strength
    if not 0.0 < strength <= 1.0:
        raise InputError(f"--strength {strength}: must be in (0, 1]")
    seeds = rec.get("seeds") or [0]
    index = int(rec.get("batch_index") or 0)
    req = RefineRequest(
        image=Image.fromarray(state.image, "RGB"),
        layout=layout,
        prompt=str(rec.get("prompt") or ""),
        negative=str(rec.get("negative") or ""),
        width=width,
        height=height,
        seed=int(seeds[min(index, len(seeds) - 1)]),
        steps=int(rec.get("steps") or 20),
        guidance=float(rec.get("guidance") or 5.0),
        strength=strength,
    )
    if engine is None:
        engine = Engine.load(load_settings(job.project, model=job.model), say=say)
    say(f"refining shot {job.shot} version {state.number}: {w}x{h} -> {width}x{height}")
    made = refine(engine, req, progress)
    with Project.open(job.project) as project:
        return record_refine(
            project,
            job.shot,
            made.png(),
            made.record,
            job.requested_by,
            plate=job.plate,
            keep_human_paint=job.keep_human_paint,
            based_on=state.number,
        )
