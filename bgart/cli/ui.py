"""``bgart ui``: the artists' room in the browser (see :mod:`bgart.ui.server`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bgart.cli.common import ProjectOpt, say
from bgart.settings import load_settings
from bgart.ui.server import DEFAULT_HOST, DEFAULT_PORT  # pyright: ignore[reportMissingImports]


def ui_command(
    project: ProjectOpt = None,
    host: Annotated[
        str, typer.Option(help="Address to listen on (loopback by default).")
    ] = DEFAULT_HOST,
    port: Annotated[int, typer.Option(help="Port to listen on.")] = DEFAULT_PORT,
    shots: Annotated[
        Path | None,
        typer.Option(help="Shot list (CSV/YAML) to bring in: its layouts and defaults."),
    ] = None,
) -> None:
    """Open the browser UI: shots, generate, retouch, AI fix, review. Users log in with the
    accounts made by `bgart users add`."""
    from bgart.ui.server import serve  # pyright: ignore[reportMissingImports]

    folder = project or load_settings().project_dir or Path.cwd()
    serve(folder, host, port, shots, say=say)
