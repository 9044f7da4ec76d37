"""What every CLI command shares: the console, settings options, progress bars."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

console = Console(stderr=True, highlight=False, soft_wrap=True)

ProjectOpt = Annotated[
    Path | None, typer.Option("--project", "-p", help="Project folder (has bgart.toml).")
]
ModelOpt = Annotated[str | None, typer.Option("--model", help="Model name in weights.lock.")]


def say(message: str) -> None:
    console.print(message, markup=False)


@contextmanager
def step_progress(label: str) -> Iterator[Progress]:
    """A progress bar over diffusion steps (and anything else counted), with ETA."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as progress:
        yield progress
