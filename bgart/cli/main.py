"""The ``bgart`` command line. Thin wiring: every command calls library code."""

from __future__ import annotations

import errno
import os
import sys
import traceback
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.progress import TaskID

from bgart.cli.common import ModelOpt, ProjectOpt, console, say, step_progress
from bgart.errors import BgartError, OutputError

app = typer.Typer(
    name="bgart",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Generative background art with measured, credited human contribution.",
)
weights_app = typer.Typer(no_args_is_help=True, help="Pinned model weights (weights.lock).")
app.add_typer(weights_app, name="weights")


@app.command()
def generate(
    layout: Annotated[Path, typer.Option(help="The pencil layout (PNG/JPEG scan).")],
    prompt: Annotated[str, typer.Option(help="What this cut's background shows.")],
    out: Annotated[Path, typer.Option(help="Output PNG (with variations: name_v1.png, …).")],
    preset: Annotated[str | None, typer.Option(help="Style preset in prompts/.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the first variation.")] = 0,
    variations: Annotated[int, typer.Option(min=1, max=16)] = 1,
    width: Annotated[int | None, typer.Option(help="Plate width (multiple of 8).")] = None,
    height: Annotated[int | None, typer.Option(help="Plate height (multiple of 8).")] = None,
    steps: Annotated[int | None, typer.Option(help="Override the preset's steps.")] = None,
    photo: Annotated[Path | None, typer.Option(help="Reference photo (img2img).")] = None,
    model: ModelOpt = None,
    project: ProjectOpt = None,
    shot: Annotated[str | None, typer.Option(help="Record in the project under this shot.")] = None,
    delivery: Annotated[
        str | None,
        typer.Option(help="Delivery size: WxH (1920x1080), the short side (1080) or none."),
    ] = None,
    lora: Annotated[
        str | None,
        typer.Option(help="Production LoRAs, 'name:0.8;other:0.5' (changes the preset's)."),
    ] = None,
    regions: Annotated[
        Path | None,
        typer.Option(help="Regional prompts: a regions file (colour map + prompt per colour)."),
    ] = None,
) -> None:
    """Layout sketch + prompt → background plate(s), with the recipe embedded in each PNG."""
    from bgart.errors import InputError
    from bgart.generation import SEED_MAX, SEED_MIN
    from bgart.inputs import check_shot_id
    from bgart.runs import GenerateJob, output_paths, run_generate

    if shot is not None:  # a folder name on every render node: checked as batch and the UI do
        shot = check_shot_id(shot, "--shot")
    # Refused here, before the model loads, like `bgart batch` does (0 would otherwise
    # silently mean "the preset's steps").
    if steps is not None and not 1 <= steps <= 150:
        raise InputError(f"--steps {steps}: must be 1..150")
    out = out.expanduser()  # "--out=~/plates/c.png": no shell expands a ~ after "="
    last = seed + variations - 1  # the variations take seed, seed + 1, …
    if seed < SEED_MIN or last > SEED_MAX:
        why = f"seeds are {SEED_MIN}..{SEED_MAX}"
        if seed <= SEED_MAX < last:
            why += f"; with {variations} variations the last would be {last}"
        raise InputError(f"--seed {seed}: out of range ({why})")
    _check_out(output_paths(out, variations))
    job = GenerateJob(
        layout=layout,
        prompt=prompt,
        out=out,
        preset=preset,
        seed=seed,
        variations=variations,
        width=width,
        height=height,
        steps=steps,
        photo=photo,
        model=model,
        project=project,
        shot=shot,
        delivery=delivery,
        lora=lora,
        regions=regions,
    )
    with step_progress("steps") as progress:
        tasks: list[TaskID] = []

        def on_step(done: int, total: int) -> None:
            if not tasks:  # the bar appears once generation starts, not before checks
                tasks.append(progress.add_task("generating", total=total))
            progress.update(tasks[0], completed=done, total=total)

        written = run_generate(job, say=say, progress=on_step)
    for path in written:
        print(path)


@app.command()
def regenerate(
    plate: Annotated[Path, typer.Argument(help="A PNG written by bgart.")],
    out: Annotated[Path, typer.Option(help="Where to write the regenerated PNG.")],
    layout: Annotated[Path | None, typer.Option(help="The layout the record names.")] = None,
    photo: Annotated[Path | None, typer.Option(help="The photo the record names.")] = None,
    check: Annotated[bool, typer.Option(help="Exit 1 unless the bytes are identical.")] = False,
    project: ProjectOpt = None,
) -> None:
    """Regenerate a plate from the record embedded in it."""
    from bgart.generation import check_record, read_record
    from bgart.runs import run_regenerate

    check_record(read_record(plate))  # before the model loads
    out = out.expanduser()
    _check_out([out])
    same = run_regenerate(plate, out, layout=layout, photo=photo, project=project, say=say)
    say("identical to the original, byte for byte" if same else "differs from the original")
    if check and not same:
        raise typer.Exit(1)


def _check_out(targets: list[Path]) -> None:
    """Refuse output paths that can't be written before the model loads and renders: a
    folder in the way, a file where a folder should be, a folder we may not write in."""
    from bgart.errors import InputError

    for target in targets:
        if target.is_dir():
            raise InputError(f"--out {target}: is a folder; name the .png file to write")
        folder = target.parent
        while not folder.exists() and folder != folder.parent:  # created on write
            folder = folder.parent
        if not folder.is_dir():
            raise InputError(f"--out {target}: {folder} is a file, not a folder")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise InputError(f"--out {target}: cannot write in {folder} (permission denied)")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Demo project folder.")] = Path("bgart-demo"),
    model: ModelOpt = None,
) -> None:
    """Render the example shots end to end (tiny test model if no real weights)."""
    from bgart.cli.demo import run_demo

    code = run_demo(out, model=model, say=say)
    if code:
        raise typer.Exit(code)


@weights_app.command("pull")
def weights_pull(
    name: Annotated[str, typer.Argument(help="Model name in weights.lock.")],
    project: ProjectOpt = None,
) -> None:
    """Download a model at its pinned revision and verify every sha256."""
    from bgart.generation import WeightsLock, pull
    from bgart.settings import load_settings, project_here

    s = load_settings(project_here(project))
    pull(WeightsLock.load(s.weights_lock), s.model_store, name, say=say)


@weights_app.command("verify")
def weights_verify(
    names: Annotated[list[str] | None, typer.Argument(help="Models (default: all pulled).")] = None,
    project: ProjectOpt = None,
) -> None:
    """Re-hash local model files; name each bad one."""
    from bgart.generation import WeightsLock, model_dir, verify
    from bgart.settings import load_settings, project_here

    s = load_settings(project_here(project))
    lock = WeightsLock.load(s.weights_lock)
    problems = verify(lock, s.model_store, names or None)
    for p in problems:
        console.print(f"BAD {p}", markup=False)
    if problems:
        raise typer.Exit(3)
    if not names and not any(model_dir(s.model_store, n).exists() for n in lock.models):
        say(f"no model of {lock.path} is pulled in {s.model_store}: nothing to verify")
        return
    say("all model files verified")


@weights_app.command("lock")
def weights_lock(project: ProjectOpt = None) -> None:
    """Write revisions/hashes trusted on first use back into weights.lock."""
    from bgart.generation import lock_back
    from bgart.settings import load_settings, project_here

    s = load_settings(project_here(project))
    changes = lock_back(s.weights_lock, s.model_store)
    for c in changes:
        say(f"pinned {c}")
    if not changes:
        say("nothing to pin: weights.lock already holds every pulled hash")


@weights_app.command("list")
def weights_list(project: ProjectOpt = None) -> None:
    """Models in weights.lock and whether they are pulled."""
    from bgart.generation import WeightsLock, model_dir
    from bgart.settings import load_settings, project_here

    s = load_settings(project_here(project))
    lock = WeightsLock.load(s.weights_lock)
    for name, e in lock.models.items():
        state = "pulled" if model_dir(s.model_store, name).exists() else "not pulled"
        pin = e.revision[:12] if e.revision else "UNPINNED"
        print(f"{name:28} {e.kind:10} {e.architecture:5} {pin:12} {state:10} {e.license}")


_mounted: list[bool] = []


def _mount_optional() -> None:
    """Sub-command groups that live in their own modules (once: main() may run again)."""
    if _mounted:
        return
    _mounted.append(True)

    from bgart.cli.batch import batch_command

    app.command("batch")(batch_command)
    from bgart.cli.variant import variant_command

    app.command("variant")(variant_command)
    from bgart.cli.refine import refine_command

    app.command("refine")(refine_command)
    from bgart.cli.credits import credits_app

    app.add_typer(credits_app, name="credits")
    from bgart.cli import ui as cli_ui
    from bgart.cli import users as cli_users

    app.command("ui")(cli_ui.ui_command)
    app.add_typer(cli_users.users_app, name="users")
    from bgart.cli import project as cli_project

    app.command("init")(cli_project.init_command)
    app.command("review")(cli_project.review_command)
    app.add_typer(cli_project.ledger_app, name="ledger")
    from bgart.cli.lora import lora_app

    app.add_typer(lora_app, name="lora")
    from bgart.cli.artboard import artboard_app

    app.add_typer(artboard_app, name="artboard")


# Newer typer raises its own copy of click's exceptions (typer._click), which click's classes
# do not catch: a mistyped command was an "internal error". Both kinds, whichever typer is.
_TYPER_CLICK = sys.modules[typer.BadParameter.__module__]
_USAGE_ERRORS = (click.ClickException, _TYPER_CLICK.ClickException)
_EXITS = (click.exceptions.Exit, typer.Exit)
_ABORTS = (click.exceptions.Abort, typer.Abort)


_OS_WHY = {
    errno.ENOTDIR: "a file is where a folder should be",
    errno.EISDIR: "is a folder, not a file",
    errno.ENOSPC: "no space left on the disk",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.ENOENT: "no such file or folder",
    errno.EEXIST: "already exists",
    errno.ENAMETOOLONG: "name too long",
    errno.ELOOP: "too many symbolic links",
}


def os_error_line(exc: OSError) -> str:
    """One line for an OSError that reached the top: the path first, then what is wrong.

    Paths a user names are checked where they are read (``fsutil.read_bounded``); what
    remains are the files bgart writes into a project or an output folder, where a file in
    place of a shot folder, a full disk or a missing permission is the user's setup to fix.
    """
    why = _OS_WHY.get(exc.errno or 0) or exc.strerror or type(exc).__name__
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    where = " -> ".join(paths) if paths else "file system"
    return f"{where}: cannot use ({why})"


def main(argv: list[str] | None = None) -> int:
    """Entry point: user errors print one line; only bugs print a traceback (BGART_DEBUG=1)."""
    _mount_optional()
    try:
        from bgart.cli.demo import apply_test_model_switch  # BGART_TEST_MODEL=1: offline

        args = list(sys.argv[1:] if argv is None else argv)
        apply_test_model_switch(next((a for a in args if not a.startswith("-")), None), say)
        rc = app(args=argv, standalone_mode=False)
    except BgartError as exc:
        console.print(f"error: {exc}", markup=False)
        return exc.exit_code
    except _EXITS as exc:
        return int(exc.exit_code)
    except _ABORTS:
        console.print("aborted", markup=False)
        return 130
    except _USAGE_ERRORS as exc:
        exc.show()
        return int(exc.exit_code)
    except KeyboardInterrupt:
        console.print("interrupted", markup=False)
        return 130
    except OSError as exc:  # the file system refused: a user's setup, not a bug (exit 5)
        console.print(f"error: {os_error_line(exc)}", markup=False)
        return OutputError.exit_code
    except Exception as exc:  # a bug: say so in one line, traceback only on request
        if os.environ.get("BGART_DEBUG"):
            traceback.print_exc()
        console.print(
            f"internal error: {type(exc).__name__}: {exc} (BGART_DEBUG=1 shows the traceback)",
            markup=False,
        )
        return 70
    return rc if isinstance(rc, int) else 0
