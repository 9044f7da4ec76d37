"""``bgart lora``: the production's own LoRA (bgart.runs.lora_train)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bgart.cli.common import ModelOpt, ProjectOpt, console, say, step_progress

lora_app = typer.Typer(no_args_is_help=True, help="Production LoRAs (trained on accepted plates).")


@lora_app.command("train")
def train_command(
    out: Annotated[
        str, typer.Option("--out", help="The LoRA's name in weights.lock (e.g. bg-style).")
    ],
    project: ProjectOpt = None,
    model: ModelOpt = None,
    steps: Annotated[int, typer.Option("--steps", help="Training steps.")] = 500,
    rank: Annotated[int, typer.Option("--rank", help="LoRA rank.")] = 8,
    lr: Annotated[float, typer.Option("--lr", help="Learning rate.")] = 1e-4,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Images per step.")] = 1,
    resolution: Annotated[
        int, typer.Option("--resolution", help="Training size in pixels (square crops).")
    ] = 512,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the whole run.")] = 0,
    checkpoint_every: Annotated[
        int, typer.Option("--checkpoint-every", help="Save a resumable checkpoint every N steps.")
    ] = 100,
    license: Annotated[
        str, typer.Option("--license", help="Licence written in weights.lock for the LoRA.")
    ] = "",
) -> None:
    """Train a UNet LoRA on the production's accepted plates and pin it in weights.lock.

    A killed run resumes from its last checkpoint when started again with the same options.
    """
    from bgart.generation import TrainConfig
    from bgart.ledger import Project
    from bgart.runs.lora_train import LoraJob, train_production_lora
    from bgart.settings import load_settings, project_here

    root = project_here(project) or load_settings().project_dir or Path.cwd()
    config = TrainConfig(
        steps=steps,
        rank=rank,
        lr=lr,
        batch_size=batch_size,
        resolution=resolution,
        seed=seed,
        checkpoint_every=checkpoint_every,
    )
    config.check()  # before the project and the model are opened
    with Project.open(root) as proj, step_progress(f"LoRA {out}") as bar:
        task = bar.add_task(f"LoRA {out}", total=steps)

        def on_step(done: int, total: int, loss: float) -> None:
            bar.update(task, completed=done, total=total, description=f"LoRA {out} loss {loss:.4f}")

        result = train_production_lora(
            proj,
            LoraJob(name=out, model=model, config=config, license=license),
            progress=on_step,
            say=say,
        )
    console.print(f"wrote {result.path} ({result.size} bytes)", markup=False)
    if result.resumed_from:
        say(f"resumed from step {result.resumed_from}")
    say(f'use it in a preset: loras = {{ {out} = 0.8 }}   or a shot list: lora = "{out}:0.8"')
