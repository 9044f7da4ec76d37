"""``bgart refine``: refine a shot's plate to a delivery size (see :mod:`bgart.runs.refine`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bgart.cli.common import ModelOpt, ProjectOpt, say, step_progress


def refine_command(
    shot: Annotated[str, typer.Option("--shot", help="The shot whose plate to refine.")],
    delivery: Annotated[
        str, typer.Option("--delivery", help="Size to refine to: WxH (3840x2160) or short side.")
    ],
    strength: Annotated[
        float | None, typer.Option(help="How much the model redoes, 0 < s <= 1 (default 0.35).")
    ] = None,
    keep_human_paint: Annotated[
        bool,
        typer.Option(
            "--keep-human-paint/--no-keep-human-paint",
            help="Put human-credited pixels back from the plain resample (their credit stays).",
        ),
    ] = True,
    by: Annotated[str | None, typer.Option("--by", help="Who asks for the refinement.")] = None,
    plate: Annotated[str, typer.Option("--plate", help="The plate (default: main).")] = "main",
    model: ModelOpt = None,
    project: ProjectOpt = None,
) -> None:
    """Refine the plate's latest version to the delivery size with the model, recorded as
    ``ai.refined``: human paint made at the base size stays credited at the new size."""
    from bgart.inputs import check_shot_id
    from bgart.ledger import check_name
    from bgart.runs.refine import RefineJob, run_refine
    from bgart.settings import load_settings

    folder = project or load_settings().project_dir or Path.cwd()
    job = RefineJob(
        project=folder,
        shot=check_shot_id(shot, "--shot"),
        delivery=delivery,
        strength=strength,
        keep_human_paint=keep_human_paint,
        requested_by=check_name(by, "user") if by else None,
        plate=check_name(plate, "plate"),
        model=model,
    )
    with step_progress("steps") as bar:
        task = bar.add_task(f"refine {job.shot}", total=None)
        made = run_refine(
            job, say=say, progress=lambda done, total: bar.update(task, completed=done, total=total)
        )
    typer.echo(f"{job.shot}: version {made.version} ({made.kind}), {made.image_sha}")
