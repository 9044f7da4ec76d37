"""``bgart variant``: a time-of-day variant of a shot's accepted plate (see
:mod:`bgart.runs.variant`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bgart.cli.common import ModelOpt, ProjectOpt, say, step_progress


def variant_command(
    shot: Annotated[str, typer.Option("--shot", help="The shot whose accepted plate to vary.")],
    time: Annotated[
        str, typer.Option("--time", help="morning, day, evening or night (prompts/time/*.toml).")
    ],
    by: Annotated[
        str | None, typer.Option("--by", help="Who asks for the variant (credited as prompt).")
    ] = None,
    plate: Annotated[
        str | None, typer.Option("--plate", help="Name of the new plate (default: the time).")
    ] = None,
    parent: Annotated[
        str, typer.Option("--from-plate", help="The plate to vary (default: main).")
    ] = "main",
    version: Annotated[
        int | None, typer.Option("--version", help="Its version (default: the accepted one).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed (default: from shot and plate).")] = None,
    strength: Annotated[
        float | None, typer.Option(help="How far from the plate, 0 < s <= 1 (preset's).")
    ] = None,
    prompt: Annotated[
        str | None, typer.Option(help="The shot's words (default: the plate's record's).")
    ] = None,
    model: ModelOpt = None,
    project: ProjectOpt = None,
) -> None:
    """Repaint the shot's accepted plate at another time of day, as a new linked plate.

    The layout keeps the structure (ControlNet), the plate is the img2img start; human
    paint the model leaves visibly unchanged stays credited to its painter.
    """
    from bgart.generation import Engine
    from bgart.inputs import check_shot_id
    from bgart.ledger import Project, check_name
    from bgart.runs.variant import VariantJob, run_variant, time_preset, variant_render
    from bgart.settings import load_settings

    shot = check_shot_id(shot, "--shot")
    job = VariantJob(
        shot=shot,
        time=time.strip().lower(),
        requested_by=check_name(by, "user") if by else None,
        plate=check_name(plate, "plate") if plate else None,
        parent=check_name(parent, "plate"),
        version=version,
        seed=seed,
        strength=strength,
        prompt=prompt,
    )
    folder = project or load_settings().project_dir or Path.cwd()
    settings = load_settings(folder, model=model)
    time_preset(settings, job.time)  # a bad --time costs no project or model load
    with Project.open(folder) as proj:
        variant_render(proj, job, settings)  # every input checked before the model loads
        engine = Engine.load(settings, say=say)
        with step_progress("steps") as bar:
            task = bar.add_task(f"{shot} {job.plate_name}", total=None)
            made = run_variant(
                proj,
                job,
                engine,
                say=say,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    again = " (already recorded)" if made.duplicate else ""
    typer.echo(
        f"event #{made.seq} {made.kind}: {shot} plate '{job.plate_name}' v{made.version} "
        f"from '{job.parent}'{again}"
    )
