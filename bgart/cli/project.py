"""CLI commands for project folders and the ledger.

Mounted by bgart/cli.py as ``bgart init`` (:func:`init_command`) and ``bgart ledger …``
(:data:`ledger_app`). Every command takes ``--project DIR`` (default: ``BGART_PROJECT_DIR``,
else the current folder).
"""

from __future__ import annotations

import functools
import io
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from bgart import plates as workflow
from bgart import provenance as contrib
from bgart.errors import BgartError, InputError
from bgart.events import DECISION_KINDS
from bgart.fsutil import atomic_write_bytes
from bgart.images import open_image, read_user_file
from bgart.ledger import Project, check_name, check_utf8, utc_now
from bgart.runs.artboard import plate_drift
from bgart.settings import load_settings

F = TypeVar("F", bound=Callable[..., Any])

ledger_app = typer.Typer(
    name="ledger",
    help="The contribution ledger: verify it, show a shot's history, import outside work.",
    no_args_is_help=True,
    add_completion=False,
)

ProjectOpt = Annotated[
    Path | None,
    typer.Option("--project", "-p", help="Project folder (default: BGART_PROJECT_DIR or .)"),
]
PlateOpt = Annotated[str, typer.Option("--plate", help="Plate of the shot")]
VersionOpt = Annotated[int | None, typer.Option("--version", help="Plate version")]
OutPngOpt = Annotated[Path, typer.Option("--out", "-o", help="Where to write the PNG")]
ArtistOpt = Annotated[str, typer.Option("--artist", "-a", help="Who did the work")]


def _user_errors(func: F) -> F:
    """Print a BgartError as one ``error:`` line and exit with its code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except BgartError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def _open(project: Path | None) -> Project:
    if project is None:
        project = load_settings().project_dir or Path.cwd()
    return Project.open(project)


@_user_errors
def init_command(
    directory: Annotated[Path, typer.Argument(help="Folder for the new project")],
    production: Annotated[
        str | None, typer.Option("--production", help="Production name (default: folder name)")
    ] = None,
    db_url: Annotated[
        str | None,
        typer.Option(
            "--db-url", help="SQLAlchemy URL of the ledger (default: SQLite in the folder)"
        ),
    ] = None,
) -> None:
    """Create a bgart project folder: bgart.toml, blobs/, exports/ and the ledger."""
    with Project.init(directory, production=production, db_url=db_url) as project:
        typer.echo(f"created project '{project.settings.production}' in {project.root}")


@ledger_app.command("verify")
@_user_errors
def verify_command(
    project: ProjectOpt = None,
    no_rasters: Annotated[
        bool, typer.Option("--no-rasters", help="Skip recomputing plate versions (faster)")
    ] = False,
    anchor: Annotated[
        str | None,
        typer.Option("--anchor", help="A head hash recorded earlier that the chain must contain"),
    ] = None,
    shot: Annotated[
        list[str] | None,
        typer.Option("--shot", help="Recompute rasters of this shot only (repeatable)"),
    ] = None,
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh", help="Recompute every raster, even those this machine verified before"
        ),
    ] = False,
    accept_rewrite: Annotated[
        tuple[str, str] | None,
        typer.Option(
            "--accept-rewrite",
            metavar="OLD NEW",
            help="Accept a rewritten history: the head this machine verified, and the new one "
            "(both kept on record)",
        ),
    ] = None,
) -> None:
    """Recompute the hash chain, every blob hash and every raster; name the first bad event.

    Rasters this machine already recomputed in an earlier clean run are not recomputed again
    (``--fresh`` recomputes them all); either way the chain must still hold the head this
    machine verified then. A rewritten history is accepted only with ``--accept-rewrite OLD
    NEW``, which keeps both heads in this machine's record.
    """
    from bgart.verify import verified, verify_project

    with _open(project) as proj:
        full = not no_rasters and not shot
        record = verified.load(proj)
        note: dict[str, Any] | None = None
        if accept_rewrite is not None:
            verified.check_acceptance(record, *accept_rewrite)
            assert record is not None
            since = None
            note = {"event": "rewritten history accepted", "old": record.head()}
        elif record is not None and verified.is_new_ledger(proj, record):
            since = None
            note = {"event": "new ledger at this path", "old": record.head()}
        elif record is not None:
            verified.check_unchanged(proj, record)
            since = (record.seq, record.hash)
        else:
            since = None
        report = verify_project(
            proj,
            rasters=not no_rasters,
            anchor=anchor,
            shots=shot or None,
            since=since,
            skip_verified=full and not fresh and record is not None and bool(record.replay_since),
        )
        if accept_rewrite is not None and not report.head_hash.startswith(
            accept_rewrite[1].lower()
        ):
            raise InputError(
                f"--accept-rewrite NEW '{accept_rewrite[1]}': the ledger's head is "
                f"#{report.events} {report.head_hash}; nothing accepted"
            )
        if note is not None:
            note["new"] = {
                "seq": report.events,
                "hash": report.head_hash,
                "first": report.first_hash,
            }
            note["at"] = utc_now()
        if full or note is not None:
            verified.save(proj, report.events, report.head_hash, report.first_hash, event=note)
        typer.echo(
            f"ledger ok: {report.events} events, {report.blobs} blobs, "
            f"{report.versions} plate versions; head {report.head_hash}"
        )
        if since is not None and full and not fresh and record is not None:
            typer.echo(
                f"rasters recomputed for the {report.replayed} plate versions after event "
                f"#{record.seq}; those up to it were recomputed on this machine at "
                f"{record.verified_at} (--fresh recomputes them all)"
            )
        for line in verified.history_lines(verified.load(proj) if note else record):
            typer.echo(line)
        if report.unchained_users:
            typer.echo(
                "note: users from before users were chained, not on the chain yet: "
                f"{', '.join(report.unchained_users)} (check them with `bgart users list`, "
                "then put them on the chain with `bgart users adopt`)"
            )


@ledger_app.command("anchor")
@_user_errors
def anchor_command(
    project: ProjectOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Print the ledger's head, to keep off this machine (mail, ticket, print).

    The hash chain is checked first (and must still hold the head this machine verified).
    Later, ``bgart ledger verify --anchor HASH`` fails unless the chain still contains it:
    a history rewritten since, even consistently re-hashed, no longer does.
    """
    from bgart.verify import verified

    with _open(project) as proj:
        record = verified.load(proj)
        if record is not None and not verified.is_new_ledger(proj, record):
            verified.check_unchanged(proj, record)
        seq, head_hash = proj.ledger.verify_chain()
        first = proj.ledger.event(1)
        data = {
            "production": proj.settings.production,
            "seq": seq,
            "head": head_hash,
            "first": first.hash if first else None,
            "at": utc_now(),
        }
        if as_json:
            typer.echo(json.dumps(data, ensure_ascii=False))
            return
        typer.echo(
            f"bgart anchor: {data['production']}, event #{seq}, head {head_hash}, "
            f"first event {data['first']}, {data['at']}"
        )
        typer.echo(
            "Keep this line off this machine (mail, ticket, print); check it later with "
            f"`bgart ledger verify --anchor {head_hash}`"
        )


@ledger_app.command("show")
@_user_errors
def show_command(
    shot: Annotated[str, typer.Argument(help="Shot code")],
    project: ProjectOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Show a shot's plates, contribution figures and event history."""
    shot = check_name(shot, "shot")
    with _open(project) as proj:
        events = proj.ledger.events(shot=shot)
        if not events:
            raise InputError(f"shot {shot}: no events in this project")
        plates = workflow.plate_names(proj, shot)
        figures = {
            name: workflow.plate_figures(proj, shot, plate=name)
            for name in plates
            if workflow.plate_versions(proj, shot, plate=name)
        }
        drift = {name: plate_drift(proj, proj.settings, shot, name) for name in figures}
        if as_json:
            data = {
                "shot": shot,
                "plates": figures,
                "drift": {name: d for name, d in drift.items() if d},  # to its art board
                "events": [
                    {
                        "seq": ev.seq,
                        "id": ev.id,
                        "kind": ev.kind,
                        "plate": ev.plate,
                        "actor": ev.actor,
                        "actor_kind": ev.actor_kind,
                        "created_at": ev.created_at,
                        "payload": ev.payload,
                        "blobs": ev.blobs,
                        "hash": ev.hash,
                    }
                    for ev in events
                ],
            }
            typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
            return
        typer.echo(f"shot {shot}")
        for name, figs in figures.items():
            typer.echo(
                f"  plate {name} v{figs['version']} ({figs['width']}x{figs['height']}, "
                f"{figs['status']}{' by ' + figs['approver'] if figs['approver'] else ''})"
            )
            for key in (
                "human_paint_share",
                "ai_gen_share",
                "ai_inpaint_share",
                "human_base_share",
                "human_touched_share",
                "adjust_share",
            ):
                typer.echo(f"    {key:<20} {contrib.pct(figs[key], 2):>8}")
            typer.echo(
                f"    candidates {figs['candidates']}, chosen {figs['chosen_candidate']}, "
                f"masks {figs['masks']} ({contrib.pct(figs['mask_area_share'])} area), "
                f"active {figs['active_seconds']:.0f} s, GPU {figs['gpu_seconds']:.1f} s"
            )
            if figs["painters"]:
                typer.echo(f"    painted by {', '.join(figs['painters'])}")
            if d := drift.get(name):
                over = " (over the production's threshold)" if d["over"] else ""
                typer.echo(f"    drift {d['drift']:.3f} from art board {d['board']}{over}")
        typer.echo("  events")
        for ev in events:
            version = ev.payload.get("version")
            extra = (
                f" -> v{version}" if version is not None and ev.kind not in DECISION_KINDS else ""
            )
            typer.echo(
                f"    #{ev.seq:<6} {ev.created_at[:19]} {ev.kind:<19} {ev.actor}"
                f"{' [' + ev.plate + ']' if ev.plate and ev.plate != workflow.PLATE else ''}{extra}"
            )


@ledger_app.command("import-paint")
@_user_errors
def import_paint_command(
    shot: Annotated[str, typer.Argument(help="Shot code")],
    layer: Annotated[Path, typer.Option("--layer", help="RGBA paint layer (PNG), plate-sized")],
    artist: ArtistOpt,
    project: ProjectOpt = None,
    plate: PlateOpt = workflow.PLATE,
    seconds: Annotated[float, typer.Option("--seconds", help="Active painting time")] = 0.0,
) -> None:
    """Record a human paint layer painted in an external app (its alpha = the strokes)."""
    _import(
        project, shot, plate, artist, seconds, layer, "RGBA", workflow.record_paint, source="layer"
    )


@ledger_app.command("import-final")
@_user_errors
def import_final_command(
    shot: Annotated[str, typer.Argument(help="Shot code")],
    final: Annotated[Path, typer.Argument(help="The whole repainted plate, or a layered PSD")],
    artist: ArtistOpt,
    project: ProjectOpt = None,
    plate: PlateOpt = workflow.PLATE,
    seconds: Annotated[float, typer.Option("--seconds", help="Active painting time")] = 0.0,
) -> None:
    """Record a whole repainted plate: visibly changed pixels are credited to the artist.

    A layered PSD: its bottom layer is the plate, and each visible layer above it is
    recorded as its artist's paint layer (a layer named "@name ..." is that person's, else
    its group's "@name", else --artist's). Blend modes normal, multiply, screen, overlay."""
    data = read_user_file(final)
    if workflow.is_psd(data):
        shot, plate = check_name(shot, "shot"), check_name(plate, "plate")
        with _open(project) as proj:
            recs = workflow.record_layered_final(
                proj, shot, data, artist, seconds, plate=plate, filename=_file_name(final)
            )
            if not recs:
                typer.echo(f"{final}: the same as plate '{plate}' of shot {shot}; nothing recorded")
            for rec in recs:
                _print_recorded(proj, shot, plate, rec)
        return
    _import(project, shot, plate, artist, seconds, final, "RGB", workflow.record_final, data=data)


def _import(
    project: Path | None,
    shot: str,
    plate: str,
    artist: str,
    seconds: float,
    path: Path,
    mode: str,
    record: Callable[..., workflow.Recorded],
    data: bytes | None = None,
    **extra: Any,
) -> None:
    """Record an artist's file with ``record`` (record_paint or record_final), keeping the
    file as handed in beside the decoded pixels."""
    shot, plate = check_name(shot, "shot"), check_name(plate, "plate")
    artist = check_name(artist, "artist")
    with _open(project) as proj:
        if data is None:  # read once: the original kept is what was decoded
            data = read_user_file(path)
        img = open_image(data, mode=mode, name=str(path))
        rec = record(
            proj,
            shot,
            img,
            artist,
            seconds,
            plate=plate,
            filename=_file_name(path),
            original=data,
            **extra,
        )
        _print_recorded(proj, shot, plate, rec)


def _file_name(path: Path) -> str:
    """``path``'s name as the ledger records it: bytes that are not UTF-8 (a name from a
    file system in another encoding, e.g. Shift-JIS) kept as ``\\xNN`` escapes, since a
    surrogate escape can be neither hashed nor stored."""
    try:
        return os.fsencode(path.name).decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # not from a POSIX file system: a lone surrogate
        return path.name.encode("utf-8", "backslashreplace").decode("utf-8")


@_user_errors
def review_command(
    shot: Annotated[str, typer.Argument(help="Shot code")],
    by: Annotated[str, typer.Option("--by", help="Director or admin who decides")],
    accept: Annotated[
        bool, typer.Option("--accept/--reject", help="Accept, or reject with a comment")
    ] = True,
    comment: Annotated[str, typer.Option("--comment", "-m", help="What to change")] = "",
    project: ProjectOpt = None,
    plate: PlateOpt = workflow.PLATE,
    version: Annotated[
        int | None,
        typer.Option("--version", help="The version you looked at: refused if a newer one exists"),
    ] = None,
) -> None:
    """Accept or reject a plate's latest version (the approval named in the credits).

    The UI asks reviewers to log in; on the command line the approver is whoever has write
    access to the project folder, as for every other ledger command.
    """
    decision = "accept" if accept else "reject"
    shot, plate = check_name(shot, "shot"), check_name(plate, "plate")
    by, comment = check_name(by, "approver"), check_utf8(comment, "comment")
    with _open(project) as proj:
        rec = workflow.review(proj, shot, decision, by, comment, plate=plate, version=version)
        typer.echo(f"event #{rec.seq} {rec.kind}: {shot} v{rec.version} by {by.strip()}")


@ledger_app.command("heatmap")
@_user_errors
def heatmap_command(
    shot: Annotated[str, typer.Argument(help="Shot code")],
    out: OutPngOpt,
    project: ProjectOpt = None,
    plate: PlateOpt = workflow.PLATE,
    version: VersionOpt = None,
) -> None:
    """Write the provenance heat map (AI blue, inpaint orange, human green) of a plate."""
    shot, plate = check_name(shot, "shot"), check_name(plate, "plate")
    with _open(project) as proj:
        img = workflow.heatmap(proj, shot, plate=plate, version=version)
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        _write_out(out, buf.getvalue())
        typer.echo(f"wrote {out}")


@ledger_app.command("export")
@_user_errors
def export_command(
    shot: Annotated[str, typer.Argument(help="Shot code")],
    out: OutPngOpt,
    project: ProjectOpt = None,
    plate: PlateOpt = workflow.PLATE,
    version: VersionOpt = None,
) -> None:
    """Write a plate version's pixels as the ledger stores them (PNG), e.g. to hand an
    earlier version back with import-final."""
    shot, plate = check_name(shot, "shot"), check_name(plate, "plate")
    with _open(project) as proj:
        pv = workflow.plate_version(proj, shot, plate=plate, version=version)
        _write_out(out, proj.blobs.get(pv.image_sha))
        typer.echo(f"wrote {out}: shot {shot} plate {plate} v{pv.number}")


def _write_out(out: Path, data: bytes) -> None:
    """Write a file the user asked for, whole or not at all (an existing one stays as it was
    if the write fails); an InputError naming it when it cannot be written."""
    try:
        atomic_write_bytes(out, data)
    except OSError as exc:
        raise InputError(f"{out}: cannot write ({exc})") from None


def _print_recorded(proj: Project, shot: str, plate: str, rec: workflow.Recorded) -> None:
    figs = workflow.plate_figures(proj, shot, plate=plate)
    typer.echo(
        f"event #{rec.seq} {rec.kind} -> {shot} v{rec.version}: "
        + workflow.credit_summary(rec.stats)
    )
    typer.echo(
        f"plate now: human paint {contrib.pct(figs['human_paint_share'], 2)}, "
        f"AI generated {contrib.pct(figs['ai_gen_share'], 2)}, "
        f"AI inpainted {contrib.pct(figs['ai_inpaint_share'], 2)}"
    )


def main() -> None:  # pragma: no cover - for `python -m bgart.cli.project`
    app = typer.Typer(add_completion=False)
    app.command("init")(init_command)
    app.add_typer(ledger_app, name="ledger")
    app(sys.argv[1:])


if __name__ == "__main__":  # pragma: no cover
    main()
