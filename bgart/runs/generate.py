"""One-off generation from the CLI: inputs checked, plate(s) written, recipe embedded."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bgart.errors import InputError, LedgerIntegrityError
from bgart.fsutil import atomic_write_bytes
from bgart.generation import Engine, GenerationRecord, Progress, read_record, regenerate
from bgart.images import open_image, read_user_file
from bgart.inputs import (
    ImageInput,
    RenderRequest,
    base_size_for,
    check_base_within,
    check_plate_size,
    consecutive_seeds,
    get_preset,
    load_regions,
    parse_loras,
    plate_size_for,
    prepare_layout,
)
from bgart.runs.artboard import recorded_references
from bgart.runs.delivery import base_of, job_delivery, replay_plan
from bgart.runs.regions import (
    keep_regions_map,
    recorded_region_references,
    recorded_regions_map,
)
from bgart.runs.render import EngineState, generate_with_fallback, place_photo, plate_request
from bgart.settings import load_settings

Say = Callable[[str], None]


@dataclass
class GenerateJob:
    layout: Path
    prompt: str
    out: Path
    preset: str | None = None
    seed: int = 0
    variations: int = 1
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    photo: Path | None = None
    model: str | None = None
    project: Path | None = None
    shot: str | None = None
    delivery: str | None = None  # "WxH" / short side / "none"; None: the settings' default
    lora: str | None = None  # "name:0.8;other:0.5": changes the preset's LoRAs by name
    regions: Path | None = None  # a regions file: regional prompts (bgart.inputs.regions)


def output_paths(out: Path, n: int) -> list[Path]:
    if out.suffix.lower() != ".png":
        raise InputError(f"--out {out}: plates are written as .png")
    if n == 1:
        return [out]
    return [out.with_name(f"{out.stem}_v{i + 1}{out.suffix}") for i in range(n)]


def run_generate(
    job: GenerateJob, say: Say = print, progress: Progress | None = None
) -> list[Path]:
    """Check every input before loading a model, then generate and write atomically."""
    _check_not_inputs(
        output_paths(job.out, job.variations),
        {"--layout file": job.layout, "--photo file": job.photo},
    )
    ledger_target = _project_target(job)  # the project's settings are the ones rendered with
    settings = load_settings(job.project, model=job.model)
    if not job.prompt.strip():
        raise InputError("--prompt: empty prompt")
    preset = get_preset(settings.prompts_dir, job.preset or settings.default_preset)
    layout = ImageInput(_read(job.layout, "--layout"), str(job.layout))
    layout_img = open_image(layout.data, mode=None, name=layout.name)
    if (job.width is None) != (job.height is None):
        raise InputError("--width and --height go together (or leave both out)")
    default = preset.delivery or settings.delivery  # the preset's, else bgart.toml's
    delivery = job_delivery(job.delivery, default, layout_img.size)
    if job.width is None or job.height is None:
        width, height = plate_size_for(
            *layout_img.size, long_side=max(settings.width, settings.height)
        )
        if delivery is not None:  # the model's size at the delivery's aspect (a pan: wider)
            width, height = base_size_for(
                delivery, max(settings.width, settings.height), min(settings.width, settings.height)
            )
    else:
        width, height = job.width, job.height
    check_plate_size(width, height)
    if delivery is not None:
        check_base_within(delivery, (width, height), "--delivery")
    photo = None
    if job.photo is not None:
        photo = ImageInput(_read(job.photo, "--photo"), str(job.photo))
    try:
        loras = parse_loras(job.lora or "")
    except InputError as exc:
        raise InputError(f"--lora '{job.lora}': {exc}") from None
    render = RenderRequest(
        prompt=job.prompt,
        layout=layout,
        width=width,
        height=height,
        seeds=consecutive_seeds(job.seed, job.variations),
        preset=preset.name,
        photo=photo,
        steps=job.steps or None,  # 0: the preset's, as before
        delivery=delivery,
        loras=loras,
        regions=load_regions(job.regions, f"--regions {job.regions}") if job.regions else None,
    )
    req = plate_request(render, preset)  # decodes the photo: refused before the model loads
    paths = output_paths(job.out, job.variations)
    engine = Engine.load(settings, say=say)
    results, _ = generate_with_fallback(engine, req, progress, say, str(job.out), EngineState())
    _write_outputs(paths, [r.png() for r in results])
    if ledger_target is not None:
        from bgart.plates import record_generated_cli

        record_generated_cli(ledger_target[0], ledger_target[1], layout.data, results)
        keep_regions_map(ledger_target[0], render.regions)  # regenerate finds it there
    return paths


def _project_target(job: GenerateJob) -> tuple[Path, str] | None:
    """Where the plates will be recorded, checked before anything renders: the folder is a
    bgart project whose ledger opens, and the shot is a name the ledger takes."""
    if job.shot and job.project is None:
        raise InputError("--shot needs --project")
    if job.project is None:
        return None
    if not job.shot:
        raise InputError("--project needs --shot (the shot id to record under)")
    from bgart.ledger import Project, check_name

    shot = check_name(job.shot, "shot")
    with Project.open(job.project) as project:
        project.ledger  # noqa: B018 - opening it refuses a missing or emptied database
    return job.project, shot


def _read(path: Path, option: str) -> bytes:
    """A user's file, bounded: no folders, devices, pipes or files over the image limit."""
    return read_user_file(path, f"{option} {path}")


def run_regenerate(
    plate: Path,
    out: Path,
    *,
    layout: Path | None,
    photo: Path | None,
    project: Path | None,
    say: Say = print,
) -> bool:
    """Regenerate ``plate`` from its embedded record; True when the PNG bytes are identical."""
    _check_not_inputs(
        [out], {"plate being regenerated": plate, "--layout file": layout, "--photo file": photo}
    )
    original = read_user_file(plate, str(plate))  # before anything is written
    record = read_record(plate)
    settings = load_settings(project, model=record.model)
    layout_img = control = None
    if record.controlnet:
        if layout is None:
            raise InputError(f"{plate}: made from a layout; pass it with --layout")
        data = _read(layout, "--layout")
        if record.layout_sha256 and hashlib.sha256(data).hexdigest() != record.layout_sha256:
            raise InputError(
                f"--layout {layout}: not the layout {plate} was made from (sha256 differs)"
            )
        layout_img = open_image(data, mode=None, name=str(layout))
        control = prepare_layout(layout_img, *base_of(record))  # the base pass's size
    photo_img = None
    if record.photo_sha256:
        if photo is None:
            raise InputError(f"{plate}: made from a photo; pass it with --photo")
        data = _read(photo, "--photo")
        if hashlib.sha256(data).hexdigest() != record.photo_sha256:
            raise InputError(f"--photo {photo}: not the photo {plate} was made from")
        photo_img = place_photo(
            open_image(data, name=str(photo)),
            *base_of(record),
            layout_img.size if layout_img is not None else None,
        )
    init = mask = None
    if record.mode == "inpaint":  # the version it edited and its mask, from the ledger
        init, mask = recorded_fix(plate, original, record, project)
    refs = recorded_references(record, project)  # art-board images, from the project
    regions = recorded_regions_map(record, project)  # a regional prompts' colour map, too
    refs = {**(refs or {}), **recorded_region_references(record, project)} or None
    delivery = replay_plan(record, layout_img)  # its second pass, checked before the load
    engine = Engine.load(settings, say=say)
    result = regenerate(
        engine,
        record,
        layout=control,
        photo=photo_img,
        init=init,
        mask=mask,
        references=refs,
        delivery=delivery,
        regions_map=regions,
    )
    data = result.png()
    _write_outputs([out], [data])
    return data == original


def recorded_fix(
    plate: Path, data: bytes, record: GenerationRecord, project: Path | None
) -> tuple[Image.Image, Image.Image]:
    """The whole plate an AI fix (``ai.inpainted``) edited and the mask it was made with,
    from ``project``'s ledger: the event that recorded ``data`` (the PNG ``plate``, by its
    sha256, else by the record it embeds), the version it was based on and its mask blob.
    The crop it was made from, if any, is taken again by the replay (``extra["crop"]``)."""
    if project is None:
        raise InputError(
            f"{plate}: an AI fix (inpaint); pass --project, the project whose ledger holds "
            "the version it edited"
        )
    from bgart.events import AiInpainted, Kind
    from bgart.ledger import Project
    from bgart.plates import decode_blob, plate_state

    sha = hashlib.sha256(data).hexdigest()
    with Project.open(project) as opened:
        fixes = opened.ledger.events(kinds=(Kind.AI_INPAINTED,))
        event = next((e for e in fixes if e.blobs.get("result") == sha), None)
        event = event or next((e for e in fixes if _same_recipe(e.payload, record)), None)
        if event is None or event.shot is None or event.plate is None:
            raise InputError(
                f"{plate}: not in the ledger of {project} (no ai.inpainted event there "
                "recorded this AI fix); pass the project it was made in"
            )
        base = event.typed(AiInpainted).base_version
        where = f"shot {event.shot} plate '{event.plate}'"
        if base is None:
            raise InputError(f"{plate}: its ai.inpainted event ({where}) names no source version")
        try:
            image = plate_state(opened, event.shot, plate=event.plate, version=base).image
            mask_sha = event.blobs.get("mask")
            if not mask_sha:
                raise LedgerIntegrityError(f"{event.label}: no mask blob")
            mask = decode_blob(opened.blobs.get(mask_sha), "L", "inpaint mask")
        except InputError as exc:
            raise InputError(f"{plate}: made from {where} version {base}: {exc}") from None
        except LedgerIntegrityError as exc:
            raise LedgerIntegrityError(
                f"{plate}: made from {where} version {base}; it or its mask cannot be read: {exc}"
            ) from None
        return Image.fromarray(np.array(image), "RGB"), Image.fromarray(np.array(mask), "L")


def _same_recipe(payload: dict[str, Any], record: GenerationRecord) -> bool:
    """Whether an event's recorded generation is ``record``'s recipe (timings aside)."""
    try:
        return GenerationRecord.from_dict(payload["record"]).recipe() == record.recipe()
    except (KeyError, InputError):
        return False


def _check_not_inputs(outputs: Sequence[Path], inputs: dict[str, Path | None]) -> None:
    """Refuse an output that is one of the command's own input files (the same path
    spelled another way, a hard link or a symlink to it): writing the plate there would
    destroy the artist's layout scan, the photo, or the plate being checked."""
    for out in outputs:
        for what, path in inputs.items():
            if path is not None and _same_file(out, path):
                raise InputError(f"--out {out}: is the {what}; the plate would replace it")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): compare where they would be
        try:
            return Path(a).resolve() == Path(b).resolve()
        except (OSError, RuntimeError):  # a symlink loop: refused when read or written
            return False


def _write_outputs(paths: Sequence[Path], images: Sequence[bytes]) -> None:
    """Write the rendered PNGs; when one cannot be written (a full disk, a folder made in
    the way meanwhile), the render is not lost: it and those after it are kept in the
    temporary folder, and the error says where."""
    for i, (path, data) in enumerate(zip(paths, images, strict=True)):
        try:
            atomic_write_bytes(path, data)
        except OSError as exc:
            kept = [
                k
                for k in (_keep(p, d) for p, d in zip(paths[i:], images[i:], strict=True))
                if k is not None
            ]
            where = f"; the render is kept as {', '.join(map(str, kept))}" if kept else ""
            raise InputError(f"--out {path}: cannot write ({exc.strerror or exc}){where}") from None


def _keep(path: Path, data: bytes) -> Path | None:
    try:
        fd, name = tempfile.mkstemp(prefix=f"bgart-unsaved-{path.stem}-", suffix=path.suffix)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return Path(name)
    except OSError:
        return None
