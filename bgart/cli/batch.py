"""``bgart batch``: the command line face of :mod:`bgart.runs.batch` (progress bar, summary)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from bgart.cli.common import ModelOpt, ProjectOpt, console, say
from bgart.runs import Dist, launched_world_size

if TYPE_CHECKING:
    from bgart.inputs import Shot
    from bgart.runs import ShotOutcome


class RichReporter:
    """Two bars on the main process (shots; steps with ETA); a line per shot everywhere,
    so a render node's log (no terminal: no bar) still says what happened when."""

    def __init__(self) -> None:
        self.progress: Progress | None = None
        self.shots_task: TaskID | None = None
        self.steps_task: TaskID | None = None
        self.tag = ""
        self.base = 0
        self.current = 0

    def say(self, message: str) -> None:
        say(message)

    def start(self, dist: Dist, shots: int, steps: int) -> None:
        self.tag = dist.tag()
        if not dist.is_main:
            return
        self.progress = Progress(
            TextColumn("{task.description:<22}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        label = "shots" + (f" (rank 0 of {dist.world})" if dist.distributed else "")
        self.shots_task = self.progress.add_task(label, total=shots)
        self.steps_task = self.progress.add_task("steps", total=steps)
        self.progress.start()

    def shot_started(self, shot: Shot, steps: int) -> None:
        # The previous shot's render is over (its write may still run: shot_finished can
        # come after this), so its steps count as done.
        self.base += self.current
        self.current = steps
        if self.progress is not None and self.steps_task is not None:
            self.progress.update(
                self.steps_task, description=f"steps {shot.id}", completed=self.base
            )

    def step(self, done: int, total: int) -> None:
        if self.progress is not None and self.steps_task is not None:
            self.progress.update(self.steps_task, completed=self.base + min(done, self.current))

    def shot_finished(self, outcome: ShotOutcome) -> None:
        if self.progress is not None and self.shots_task is not None:
            self.progress.advance(self.shots_task)
        if outcome.status == "done":
            extra = f" (retried: {outcome.retried})" if outcome.retried else ""
            say(
                f"{self.tag}{outcome.shot}: {len(outcome.files)} variation(s) in "
                f"{outcome.seconds:.1f} s{extra}"
            )
        else:
            say(f"{self.tag}{outcome.shot}: FAILED: {outcome.reason}")

    def finish(self) -> None:
        if self.progress is not None:
            if self.steps_task is not None:
                self.progress.update(self.steps_task, completed=self.base + self.current)
            self.progress.stop()
            self.progress = None


def batch_command(
    shot_list: Annotated[Path, typer.Argument(help="Shot list: .csv, .yaml or .yml.")],
    project: ProjectOpt = None,
    model: ModelOpt = None,
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only",
            help="Only shots whose id matches this glob, e.g. 'EP01_C0*' (repeatable, "
            "or comma-separated).",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Render the selected shots again even if done.")
    ] = False,
    cpu: Annotated[
        bool,
        typer.Option(
            "--cpu",
            help="Run on the CPU even where a GPU exists (one process unless launched "
            "by accelerate/torchrun).",
        ),
    ] = False,
    steps: Annotated[
        int | None, typer.Option(help="Override every preset's steps (quick drafts).")
    ] = None,
    reuse: Annotated[
        bool,
        typer.Option(
            "--reuse",
            help="A cut whose layout is an accepted cut's (兼用) takes that accepted plate, "
            "credits and all, instead of rendering.",
        ),
    ] = False,
) -> None:
    """Render every shot of a list into the project: resumable, one model load, multi-GPU.

    Re-running skips shots already done. Under `accelerate launch --multi_gpu
    --num_processes N -m bgart.cli batch …` (or torchrun) the shots are split across the
    processes. Exit code 4: the batch finished but some shots failed (listed).
    """
    from bgart.errors import BgartError
    from bgart.inputs import ShotListError
    from bgart.runs import BatchOptions, run_batch

    patterns = [p.strip() for item in (only or []) for p in item.split(",") if p.strip()]
    opts = BatchOptions(
        shot_list=shot_list,
        project=project,
        model=model,
        only=patterns,
        force=force,
        cpu=cpu,
        steps=steps,
        reuse=reuse,
    )
    secondary = launched_world_size() > 1 and os.environ.get("RANK", "0") != "0"
    try:
        summary = run_batch(opts, RichReporter())
    except ShotListError as exc:
        if secondary:  # the main process prints the list's problems once
            raise typer.Exit(exc.exit_code) from None
        raise
    except BgartError as exc:
        if secondary:
            console.print(f"[rank {os.environ.get('RANK')}] error: {exc}", markup=False)
            raise typer.Exit(exc.exit_code) from None
        raise
    if secondary:
        raise typer.Exit(summary.exit_code)
    n = len(summary.selected)
    loads = "model loaded once" + (" per process" if summary.world > 1 else "")
    say(
        f"{n} shot(s): {len(summary.rendered)} rendered, {len(summary.already_done)} already "
        f"done, {len(summary.failed)} failed, in {summary.seconds:.1f} s"
        + (f" ({loads})" if summary.rendered or summary.failed else "")
    )
    done_now = len(summary.rendered) + len(summary.failed)
    if done_now and summary.render_seconds > 0:
        say(
            f"render phase: {done_now} shot(s) in {summary.render_seconds:.2f} s "
            f"({done_now / summary.render_seconds:.3f} shots/s"
            + (f" on {summary.world} processes)" if summary.world > 1 else ")")
        )
    for shot_id, reason in summary.failed.items():
        say(f"  FAILED {shot_id}: {reason}")
    for shot_id, source in summary.artboard.get("reused", {}).items():
        say(f"  {shot_id}: reuses {source}'s accepted plate (兼用)")
    for shot_id, flagged in summary.artboard.get("drift_outliers", {}).items():
        say(f"  DRIFT {shot_id}: {', '.join(flagged)} off its art board (over the threshold)")
    if summary.contact_html is not None:
        say(f"contact sheet: {summary.contact_html}")
        for png in summary.contact_pngs:  # a long list: one line per page, each clickable
            say(f"               {png}")
    if not summary.ok:
        raise typer.Exit(summary.exit_code)
