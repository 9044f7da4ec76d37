"""`bgart ARGS` run in the test process, through the real entry point (``bgart.cli.main``).

A fresh Python that imports torch costs ~5 s on a small machine: tests where the separate
process is not the point (a bad input, a reference run to compare with) run the command
here instead. Each command keeps at least one test that runs it as a real process."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from helpers.reliability import CliResult

# the session's throwaway cache (tests/conftest.py) and the PostgreSQL server stay
_KEPT = ("BGART_CACHE_DIR", "BGART_TEST_PG_URL")


def run_in_process(
    args: Sequence[str],
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    stdin: str = "",
) -> CliResult:
    """Run ``bgart ARGS`` here with ``env`` added to an environment without the caller's
    ``BGART_*`` settings (as a fresh process gets from ``clean_env``), in ``cwd``, reading
    ``stdin``; stdout and stderr are captured. The environment and folder are restored
    afterwards."""
    from bgart.cli import main

    out, err = io.StringIO(), io.StringIO()
    saved = dict(os.environ)  # a command may set variables itself (BGART_TEST_MODEL does)
    with pytest.MonkeyPatch.context() as patch:
        for key in list(os.environ):
            if key.startswith("BGART_") and key not in _KEPT:
                patch.delenv(key)
        for key, value in {"HF_HUB_OFFLINE": "1", "COLUMNS": "400", **(env or {})}.items():
            patch.setenv(key, value)
        if cwd is not None:
            patch.chdir(cwd)
        patch.setattr(sys, "stdin", io.StringIO(stdin))
        start = time.perf_counter()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main(list(args))
            except SystemExit as exc:
                rc = exc.code if isinstance(exc.code, int) else 1
        seconds = time.perf_counter() - start
    os.environ.clear()
    os.environ.update(saved)
    return CliResult(list(args), rc, out.getvalue(), err.getvalue(), seconds)


def ledger_cli(*args: str, ok: bool = True) -> Any:
    """``bgart init`` / ``bgart ledger …`` through typer's test runner (the commands' own
    functions, no entry-point wrapper), asserting success (``ok``) or failure; the result."""
    import typer
    from typer.testing import CliRunner

    from bgart.cli.project import init_command, ledger_app

    app = typer.Typer()
    app.command("init")(init_command)
    app.add_typer(ledger_app, name="ledger")
    result = CliRunner().invoke(app, list(args))
    if ok:
        assert result.exit_code == 0, result.stdout + result.stderr
    else:
        assert result.exit_code != 0, result.stdout
    return result


def ai_plate_project(root: Path, shot: str, plate: Any) -> Path:
    """A new project at ``root`` whose shot holds one AI plate with the pixels ``plate``."""
    from bgart import plates
    from bgart.ledger import Project
    from helpers.images import generated_png

    ledger_cli("init", str(root), "--production", "Issue 18")
    with Project.open(root) as project:
        png, rec = generated_png(plate)
        plates.record_generated(project, shot, png, rec, "aki")
    return root
