"""``bgart credits``: the credit report, signed/layered exports, signing identity, verify.

Mounted by bgart/cli.py. Usage::

    bgart credits [--project DIR] [--episode EP01] [--format csv|json|html|pdf|png|psd|all]
                  [--out DIR]
    bgart credits init-signing [--project DIR] [--organisation NAME] [--force]
    bgart credits verify FILE.png [--trust ROOT.pem]

``--format`` may be repeated or comma-separated; ``all`` (the default) writes every report
format and exports the accepted plates as signed PNGs and layered PSDs into
``<project>/exports/<episode>/``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bgart.cli.common import ProjectOpt, say
from bgart.errors import InputError

if TYPE_CHECKING:
    from bgart.credits import ModelCatalog

REPORT_FORMATS = ("csv", "json", "html", "pdf")
EXPORT_FORMATS = ("png", "psd")
ALL_FORMATS = (*REPORT_FORMATS, *EXPORT_FORMATS)

credits_app = typer.Typer(
    name="credits",
    help="Credit report (CSV/JSON/HTML/PDF), C2PA-signed PNG and layered PSD exports.",
    invoke_without_command=True,
    no_args_is_help=False,
    add_completion=False,
)

EpisodeOpt = Annotated[
    str | None,
    typer.Option("--episode", "-e", help="Only this episode (shot code prefix before '_')."),
]
FormatOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--format",
        "-f",
        help="csv, json, html, pdf, png (signed), psd, or all (default); repeat or use commas.",
    ),
]
OutOpt = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="Folder for the reports (default <project>/exports/credits)."),
]


def model_catalog(weights_lock: Path | None) -> ModelCatalog:
    """What ``weights_lock`` pins for each model, as the credit report takes it: revision,
    licence and the file hashes pinned. A lock that is not there or cannot be read gives an
    empty catalog (the report then says each model is not in weights.lock)."""
    from bgart.credits import ModelCatalog, PinnedModel
    from bgart.errors import WeightsError
    from bgart.generation import WeightsLock

    if weights_lock is None or not Path(weights_lock).is_file():
        return ModelCatalog()
    try:
        lock = WeightsLock.load(Path(weights_lock))
    except WeightsError:
        return ModelCatalog()
    return ModelCatalog(
        {
            name: PinnedModel(
                revision=entry.revision or None,
                licence=entry.license or None,
                files={f.path: f.sha256 for f in entry.files if f.sha256},
            )
            for name, entry in lock.models.items()
        }
    )


def _open(project: Path | None) -> Any:
    from bgart.ledger import Project
    from bgart.settings import load_settings

    if project is None:
        project = load_settings().project_dir or Path.cwd()
    return Project.open(project)


def parse_formats(values: list[str] | None) -> list[str]:
    """The formats asked for, in a fixed order; ``all`` means every one."""
    asked: set[str] = set()
    for value in values or ["all"]:
        for part in value.split(","):
            name = part.strip().lower()
            if not name:
                continue
            if name == "all":
                asked.update(ALL_FORMATS)
            elif name in ALL_FORMATS:
                asked.add(name)
            else:
                choices = ", ".join(ALL_FORMATS)
                raise InputError(f"--format '{part.strip()}': unknown (choose from {choices}, all)")
    if not asked:
        raise InputError("--format: give at least one format")
    return [f for f in ALL_FORMATS if f in asked]


@contextmanager
def _quiet(logger: str) -> Iterator[None]:
    """Silence a library logger whose message the CLI prints itself."""
    log = logging.getLogger(logger)
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


@credits_app.callback(invoke_without_command=True)
def credits_command(
    ctx: typer.Context,
    project: ProjectOpt = None,
    episode: EpisodeOpt = None,
    format: FormatOpt = None,
    out: OutOpt = None,
) -> None:
    """Write the credit report and export accepted plates (signed PNG + layered PSD)."""
    if ctx.invoked_subcommand is not None:
        return
    run_credits(project=project, episode=episode, formats=parse_formats(format), out=out)


@credits_app.command("export")
def export_command(
    project: ProjectOpt = None,
    episode: EpisodeOpt = None,
    format: FormatOpt = None,
    out: OutOpt = None,
) -> None:
    """The same as `bgart credits` (for scripts that prefer a sub-command)."""
    run_credits(project=project, episode=episode, formats=parse_formats(format), out=out)


def run_credits(
    *, project: Path | None, episode: str | None, formats: list[str], out: Path | None
) -> list[Path]:
    from bgart.credits import build_report, export_plates, signing_identity, write_reports

    with _open(project) as proj:
        wants_png = "png" in formats
        signer = None
        if wants_png:  # before any work: a missing identity is made (and said) up front
            with _quiet("bgart.credits.c2pa.signing"):
                signer = signing_identity(proj, create=True, say=say)
        report = build_report(
            proj,
            catalog=model_catalog(proj.settings.weights_lock),
            episode=episode,
            thumbnails=bool({"html", "pdf"} & set(formats)),
        )
        out_dir = out if out is not None else proj.exports_dir / "credits"
        written = write_reports(report, out_dir, [f for f in formats if f in REPORT_FORMATS])
        for path in written:
            print(path)
        if wants_png or "psd" in formats:
            items = export_plates(
                proj, report, png=wants_png, psd="psd" in formats, signer=signer, say=say
            )
            for item in items:
                for path in (item.png, item.psd):
                    if path is not None:
                        print(path)
                        written.append(path)
                for note in item.notes:
                    say(f"{item.shot}/{item.plate}: {note}")
            if not items:
                say("no accepted plates to export")
        summary = report.summaries()[0]
        grades = " ".join(f"{g}{n}" for g, n in summary.grade_distribution.items() if n)
        say(
            f"{len(report.plates)} plates, {summary.accepted} accepted"
            + (f" (grades {grades})" if grades else "")
            + f"; ledger head {report.ledger_head[:16]}"
        )
        for s in report.summaries():
            say(f"{s.name}: {s.credit_line}")
    return written


@credits_app.command("init-signing")
def init_signing_command(
    project: ProjectOpt = None,
    organisation: Annotated[
        str | None,
        typer.Option("--organisation", "--org", help="Signer organisation (default: production)."),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Replace an existing identity (old exports then no longer chain to the new root).",
        ),
    ] = False,
) -> None:
    """Make a local test CA + signing certificate in <project>/signing (NOT publicly trusted)."""
    from bgart.credits import NOT_TRUSTED_NOTE, ROOT_FILE, init_signing

    with _open(project) as proj, _quiet("bgart.credits.c2pa.signing"):
        chain, key = init_signing(
            proj.root, organisation or proj.settings.production, overwrite=force
        )
        print(chain)
        print(key)
        print(chain.parent / ROOT_FILE)
        say(
            f"note: {NOT_TRUSTED_NOTE}. For publicly trusted credentials, set signing_cert and "
            "signing_key in bgart.toml to a certificate from a CA on the C2PA trust list."
        )


@credits_app.command("verify")
def verify_command(
    file: Annotated[Path, typer.Argument(help="An exported PNG.")],
    trust: Annotated[
        Path | None,
        typer.Option(
            "--trust", help="Extra trust anchor(s), PEM (e.g. <project>/signing/root_ca.pem)."
        ),
    ] = None,
    project: ProjectOpt = None,
) -> None:
    """Validate a PNG's C2PA manifest and print the credits it states (from the file alone).

    A copy without a manifest (re-saved, converted to JPEG, resized) is looked up by its
    invisible watermark among the project's exports (``--project``, else the configured or
    current project); when found, the export's manifest is verified and printed, said as
    such, and the exit status is still 1 (the copy itself carries no signature).

    Exit 0 when the signature and content hashes are intact (and, with ``--trust``, the signer
    chains to that root), 1 otherwise: also when only the signing certificate has expired
    (no trusted time-stamp), which is said as such, not as damage, and when an ingredient's
    own credentials failed validation (named by its title).
    """
    from bgart.credits import format_credits, format_retouch_shares, verify_png

    result = verify_png(file, trust_anchors=trust)
    if not result.credentials:  # no manifest (or none readable): try the soft binding
        print(f"{file}: NOT VALID: " + "; ".join(result.problems))
        _recover(file, project, trust)
        raise typer.Exit(1)
    creds = result.credentials
    # With --trust the question is "did the holder of this root sign it?": an intact
    # signature by anybody else is a failure, not the usual note about bgart's test CA.
    foreign = trust is not None and result.ok and not result.trusted
    notes = result.notes
    if foreign:
        print(
            f"{file}: NOT TRUSTED: the signature and content hashes are intact, but the "
            f"signer does not chain to {trust}"
        )
        notes = []
    elif result.ok:
        print(
            f"{file}: valid C2PA manifest (signature and content hashes intact)"
            + (f"; signer chains to {trust}" if trust is not None else "")
        )
    else:
        print(f"{file}: NOT VALID: " + "; ".join(result.problems))
    # A manifest that does not validate states nothing worth printing: its figures may be
    # forged. Only an intact one whose certificate has since expired is shown, as such.
    if not (result.ok or result.expired):
        notes = []
    if creds and (result.ok or result.expired):
        if result.expired:
            print(
                "What the manifest states (intact, but signed with a certificate that has "
                "since expired):"
            )
        elif foreign:
            print(
                f"What the manifest states (signed by someone outside {trust}; not to be trusted):"
            )
        print(format_credits(creds))
        shares = format_retouch_shares(creds.get("contribution"))
        if shares:
            print(f"  {shares}")
    for note in notes:
        print(f"  note: {note}")
    if not result.ok or foreign:
        raise typer.Exit(1)


def _recover(file: Path, project: Path | None, trust: Path | None) -> None:
    """Say which export of the project a manifest-less copy was made from, by its watermark."""
    from bgart.credits import find_export, format_credits, verify_png
    from bgart.errors import BgartError
    from bgart.fsutil import read_bounded
    from bgart.images import MAX_FILE_BYTES

    try:
        data = read_bounded(file, str(file), MAX_FILE_BYTES, kind="image file")
        with _open(project) as proj:
            match = find_export(proj, data)
    except (BgartError, OSError) as exc:  # also Pillow's "cannot identify image file"
        print(f"  not looked up by watermark: {exc}")
        return
    if match is None:
        print(
            "  no export of this project carries its watermark (it was not exported by this "
            "project, or the copy was changed too much, or the plate was under 256x256 pixels)"
        )
        return
    withdrawn = match.export.parent.name == "withdrawn"
    print(
        f"{file}: FOUND BY WATERMARK: this file has no Content Credentials of its own, but its "
        f"invisible watermark ({48 - match.bit_errors} of 48 bits agree) is the one declared "
        f"by the export {match.export}"
        + (" (withdrawn: that plate is no longer accepted)" if withdrawn else "")
        + ". The credentials below are that export's; they do not vouch for this copy's pixels."
    )
    found = verify_png(match.export, trust_anchors=trust)
    if not (found.ok or found.expired):
        print(f"{match.export}: NOT VALID: " + "; ".join(found.problems))
        return
    print(f"{match.export}: valid C2PA manifest (signature and content hashes intact)")
    print(format_credits(found.credentials))
