"""``bgart artboard``: the art boards (美術ボード) of a production, per location and preset."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated

import typer

from bgart.cli.common import ProjectOpt, say

artboard_app = typer.Typer(
    no_args_is_help=True,
    help="Art boards: reference images per location and per preset, credited to their artist.",
)


def _root(project: Path | None) -> Path:
    from bgart.settings import load_settings, project_here

    return project_here(project) or load_settings().project_dir or Path.cwd()


@artboard_app.command("add")
def add_command(
    images: Annotated[list[Path], typer.Argument(help="Reference image(s) (PNG, JPEG, WebP).")],
    artist: Annotated[
        str, typer.Option("--artist", "-a", help="Who made the board (the art director).")
    ],
    location: Annotated[
        str | None, typer.Option("--location", help="The location's board (shot list column).")
    ] = None,
    preset: Annotated[str | None, typer.Option("--preset", help="The preset's board.")] = None,
    project: ProjectOpt = None,
) -> None:
    """Put images on a location's or a preset's art board (recorded in the ledger, credited
    to --artist on every plate rendered with them)."""
    from bgart import plates
    from bgart.errors import InputError
    from bgart.images import open_image, read_user_file
    from bgart.ledger import Project

    if (location is None) == (preset is None):
        raise InputError("artboard add: give one of --location NAME or --preset NAME")
    board, name = ("location", location) if location is not None else ("preset", preset)
    assert name is not None
    datas = []
    for path in images:  # every file read and checked before anything is recorded
        data = read_user_file(path, str(path))
        open_image(data, mode=None, name=str(path))
        datas.append((path, data))
    with Project.open(_root(project)) as proj:
        for path, data in datas:
            rec = plates.record_artboard(proj, board, name, data, artist, filename=path.name)
            sha = hashlib.sha256(data).hexdigest()[:12]
            what = "already on" if rec.duplicate else "added to"
            say(f"{path.name} ({sha}): {what} the {board} board '{name}', by {artist}")


@artboard_app.command("list")
def list_command(
    project: ProjectOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """List the art boards and their images (sha256, artist, file name)."""
    from bgart import plates
    from bgart.ledger import Project

    with Project.open(_root(project)) as proj:
        boards = plates.boards(proj)
    if as_json:
        data = {
            key: [{"sha256": i.sha256, "artist": i.artist, "filename": i.filename} for i in images]
            for key, images in boards.items()
        }
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    if not boards:
        say("no art boards yet (bgart artboard add --location NAME IMAGE --artist NAME)")
    for key, board_images in boards.items():
        say(key)
        for i in board_images:
            say(f"  {i.sha256[:12]}  {i.artist}  {i.filename or ''}")
