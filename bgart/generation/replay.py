"""Running a record again: a plate's :class:`~bgart.generation.record.GenerationRecord`
back into the engine request that made it.

The seam: :mod:`bgart.generation.engine` turns requests into images and records; this module
goes the other way, from a record (read from a PNG or the ledger: input like any other) to a
checked request, with the machine set as the record says (CPU thread count, VAE tiling).
``bgart regenerate`` and the golden test go through :func:`regenerate`; the CLI calls
:func:`check_record` before a model loads, so a bad record costs nothing.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch
from PIL import Image

from bgart.errors import InputError, WeightsError
from bgart.generation.adapters import References, from_record, recorded_images
from bgart.generation.engine import (
    _HALF,
    SCHEDULERS,
    Engine,
    Generated,
    GenerationRequest,
    InpaintRequest,
    check_seeds,
    image_sha256,
)
from bgart.generation.levers import SpeedLevers
from bgart.generation.lora import uses_from_record
from bgart.generation.record import GenerationRecord
from bgart.generation.regions import RegionMap
from bgart.generation.regions import from_record as regions_from_record

if TYPE_CHECKING:
    from bgart.generation.delivery import Delivery

MAX_CPU_THREADS = 1024
"""The largest ``cpu_threads`` a record may ask for (a record is input)."""


def check_record(record: GenerationRecord) -> None:
    """The parts of a record (read from a PNG: input like any other) that only matter when
    it is run again: seeds, scheduler, finite numbers, the CPU thread count it was made
    with. Checked before a model loads, so a bad record costs nothing."""
    check_seeds(record.seeds, "generation record: seed")
    if record.scheduler not in SCHEDULERS:
        raise InputError(
            f"generation record: scheduler '{record.scheduler}': not one of {', '.join(SCHEDULERS)}"
        )
    for name in ("guidance", "controlnet_scale", "strength"):
        value = getattr(record, name)
        if value is not None and not (isinstance(value, int | float) and math.isfinite(value)):
            raise InputError(
                f"generation record: field '{name}' is {value!r}, expected a finite number"
            )
    if not isinstance(record.extra, dict):
        raise InputError(
            f"generation record: field 'extra' is {record.extra!r}, expected a mapping"
        )
    threads = record.extra.get("cpu_threads")
    if threads is not None and (
        isinstance(threads, bool)
        or not isinstance(threads, int)
        or not 1 <= threads <= MAX_CPU_THREADS
    ):
        raise InputError(
            f"generation record: extra 'cpu_threads' is {threads!r}, expected a "
            f"whole number 1..{MAX_CPU_THREADS}"
        )
    uses_from_record(record.extra)  # the LoRAs it names, checked before a model loads
    recorded_images(record.extra)  # and its art-board references
    if "crop" in record.extra:  # an AI fix made from a crop of its plate (bgart.runs.crop)
        _crop_box(record)


def regenerate(
    engine: Engine,
    record: GenerationRecord,
    *,
    layout: Image.Image | None = None,
    photo: Image.Image | None = None,
    init: Image.Image | None = None,
    mask: Image.Image | None = None,
    references: Mapping[str, Image.Image] | None = None,
    delivery: Delivery | None = None,
    regions_map: bytes | None = None,
) -> Generated:
    """Run ``record`` again (``regions_map``: the file of its regional prompts' colour map).
    Inputs must be the ones it names (checked by hash);
    ``references``: its art-board images and region references by the sha256 the record
    names them by;
    ``delivery``: a delivery plate's second pass (``Delivery.from_record``, its layout at
    the delivery size); a ``refine`` record takes its input image as ``init``."""
    if record.model != engine.model:
        raise InputError(
            f"record was made with model '{record.model}', engine has '{engine.model}'"
        )
    files = engine.model_files
    changed = [k for k, v in record.model_files.items() if files.get(k) != v]
    if changed:
        raise WeightsError(f"record was made with other weights: {', '.join(changed)} differ")
    check_record(record)
    levers = record.extra.get("levers")
    levers = levers if isinstance(levers, dict) else {}
    _same_speed_levers(engine, levers)  # before anything about the engine is changed
    threads = record.extra.get("cpu_threads")
    if threads and engine.choice.device == "cpu":
        torch.set_num_threads(threads)
    tiling = bool(levers.get("vae_tiling"))
    with engine.vae_tiling_as(tiling):  # VAE tiling changes pixels: as the record says
        refs = from_record(record.extra, references)
        if record.mode == "refine":
            from bgart.generation.delivery import regenerate_refine

            if init is None:
                raise InputError("regenerating a refine needs the image it refined")
            return regenerate_refine(engine, record, init, layout)
        if "delivery" in record.extra and delivery is None:
            raise InputError("regenerating a delivery plate needs its delivery pass")
        if delivery is not None:  # the base pass at its size; the delivery pass records its own
            record = dataclasses.replace(record, width=delivery.base[0], height=delivery.base[1])
        regions = regions_from_record(
            record.extra, regions_map, record.width, record.height, references
        )  # its region references are among ``references`` (by sha256) too
        return _regenerate(engine, record, layout, photo, init, mask, refs, delivery, regions)


def _same_speed_levers(engine: Engine, levers: dict[str, object]) -> None:
    """The speed levers (SDPA kernel, fp8, DeepCache, CUDA graphs) come from the engine's
    settings, not the record: refuse a replay whose levers differ from the record's, which
    would make other pixels and call them the record's."""
    wanted = {k: levers[k] for k in SpeedLevers().record_keys() if k in levers}
    have = engine.speed_levers.record()
    if wanted != have:

        def show(d: dict[str, object]) -> str:
            return ", ".join(f"{k}={v!r}" for k, v in sorted(d.items())) or "none"

        raise InputError(
            f"record was made with speed levers {show(wanted)}; this engine runs with "
            f"{show(have)}: set the same settings to regenerate it"
        )


def _regenerate(
    engine: Engine,
    record: GenerationRecord,
    layout: Image.Image | None,
    photo: Image.Image | None,
    init: Image.Image | None,
    mask: Image.Image | None,
    refs: References | None = None,
    delivery: Delivery | None = None,
    regions: RegionMap | None = None,
) -> Generated:
    if record.mode == "inpaint":
        if init is None or mask is None:
            raise InputError("regenerating an inpaint needs the original image and mask")
        return _regenerate_inpaint(engine, record, init, mask)
    req = GenerationRequest(
        prompt=record.prompt,
        negative=record.negative,
        width=record.width,
        height=record.height,
        seeds=record.seeds,
        layout=layout if record.controlnet else None,
        photo=photo,
        steps=record.steps,
        guidance=record.guidance,
        controlnet_scale=record.controlnet_scale,
        strength=record.strength or 0.6,
        scheduler=record.scheduler,
        preset=record.preset,
        layout_sha256=record.layout_sha256,
        photo_sha256=record.photo_sha256,
        loras=uses_from_record(record.extra),
        references=refs,
        delivery=delivery,
        regions=regions,
    )
    if record.controlnet and layout is None:
        raise InputError("regenerating this record needs its layout image")
    return engine.generate(req)[record.batch_index]


Box = tuple[int, int, int, int]  # x0, y0, x1, y1


def _crop_box(record: GenerationRecord, size: tuple[int, int] | None = None) -> Box:
    """``extra["crop"]`` of an inpaint record: where in the plate (``size``, when known) the
    model's ``record.width`` x ``record.height`` window was taken and pasted back."""
    box = record.extra.get("crop")
    if not (
        isinstance(box, list)
        and len(box) == 4
        and all(isinstance(v, int) and not isinstance(v, bool) for v in box)
    ):
        raise InputError(
            f"generation record: extra 'crop' is {box!r}, expected [x0, y0, x1, y1] in pixels"
        )
    x0, y0, x1, y1 = box
    width, height = size or (x1, y1)
    if not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height) or (x1 - x0, y1 - y0) != (
        record.width,
        record.height,
    ):
        raise InputError(
            f"generation record: extra 'crop' {box} is not a {record.width}x{record.height} "
            f"window of the {width}x{height} plate"
        )
    return x0, y0, x1, y1


def paste_crop(plate: Image.Image, part: Generated, box: Box) -> Generated:
    """The inpaint ``part`` of the window ``box`` of ``plate`` pasted back into the whole
    plate, its record saying where (``extra["crop"]``): how an AI fix made from a crop
    (bgart.runs.crop) is finished, and how its regeneration is (:func:`regenerate`)."""
    whole = plate.convert("RGB")  # a copy: the caller's plate is left as it is
    whole.paste(part.image.convert("RGB"), box[:2])
    record = dataclasses.replace(part.record, extra={**part.record.extra, "crop": list(box)})
    return Generated(whole, record)


def _regenerate_inpaint(
    engine: Engine, record: GenerationRecord, init: Image.Image, mask: Image.Image
) -> Generated:
    """An inpaint run again on ``init`` (the whole plate it edited) and ``mask`` (its whole
    mask). A record with ``extra["crop"]`` was made from a window of the plate: the same
    window is taken, inpainted and pasted back. The window's image and mask must be the ones
    the record names (by hash), so a wrong source version is refused, not silently run."""
    if mask.size != init.size:
        (mw, mh), (w, h) = mask.size, init.size
        raise InputError(f"inpaint mask is {mw}x{mh}, the plate it edited {w}x{h}")
    box = _crop_box(record, init.size) if "crop" in record.extra else None
    image, part_mask = (init, mask) if box is None else (init.crop(box), mask.crop(box))
    image = image.convert("RGB")
    where = "" if box is None else f" (the window {list(box)})"
    if record.init_sha256 and image_sha256(image) != record.init_sha256:
        raise InputError(f"not the image this inpaint was made from{where}: sha256 differs")
    if record.mask_sha256 and image_sha256(part_mask.convert("L").point(_HALF)) != (
        record.mask_sha256
    ):
        raise InputError(f"not the mask this inpaint was made with{where}: sha256 differs")
    made = engine.inpaint(
        InpaintRequest(
            image=image,
            mask=part_mask,
            prompt=record.prompt,
            negative=record.negative,
            seed=record.seed,
            steps=record.steps,
            guidance=record.guidance,
            strength=record.strength or 1.0,
            scheduler=record.scheduler,
            preset=record.preset,
            loras=uses_from_record(record.extra),
        )
    )
    return made if box is None else paste_crop(init, made, box)
