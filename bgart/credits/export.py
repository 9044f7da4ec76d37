"""Accepted plates out of the ledger: a C2PA-signed PNG and a layered PSD per plate.

Files land in ``<project>/exports/<episode>/`` (episode: see
:func:`bgart.credits.model.episode_of`)
as ``<shot>.png`` and ``<shot>.psd`` (``<shot>__<plate>.*`` for a plate other than ``main``),
with a ``SHA256SUMS`` of what this run wrote. Earlier exports of plates that are no longer
accepted are moved into ``<episode>/withdrawn/`` (see :func:`export_plates`).

File names are the shot (and plate) ids as they are when those are safe on every file
system, else a cleaned form plus a short hash of the id (see :func:`safe_name`), so distinct
shots never share a file; an export that would still write two plates to one name (names
differing only in case, or a shot named like another shot's extra plate) is refused.

The PNG carries Content Credentials (:mod:`bgart.credits.c2pa.manifest`): the layout as an
``inputTo``
ingredient, the AI plate (``c2pa.created`` + ``trainedAlgorithmicMedia``) or, for a plate
that started without AI, its human base (``c2pa.created`` + ``digitalCreation``), ``c2pa.opened``,
each inpaint (``c2pa.edited`` + ``compositeWithTrainedAlgorithmicMedia``, mask box in
``changes``), each paint session (``c2pa.drawing`` + ``humanEdits``, with its share and the
rectangles where its paint remains, from the lineage's per-act split), and the measured figures
in ``org.bgart.contribution``, the provenance raster's sha256 among them. Each PNG is
validated right after signing. A layout file whose own Content Credentials do not validate
is embedded without them (with bgart's record of the layout) and the plate's notes say so.

The PSD holds the AI plate at the bottom and one layer per edit of the plate's lineage, named
after who made it (``AI – <model>``, ``AI inpaint – <model> (mask by <artist>)``,
``Retouch – <artist>``, ``Adjustment – Levels/colour – <artist>``), in the order the acts
happened. A brush session's layer is the artist's own paint layer (their colours at their
stroke alpha, so a semi-transparent stroke stays semi-transparent); any other edit's layer
holds exactly the pixels it changed, opaque. Everywhere else a layer is transparent (its own
transparency channel, no user mask, no plate pixels underneath). An edit that left no pixel
gets no layer. The document's stored composite is the signed PNG's pixels (the accepted
plate plus its invisible watermark, see :mod:`bgart.credits.c2pa.softbinding`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bgart import plates as workflow
from bgart.credits.c2pa import (
    CHAIN_FILE,
    KEY_FILE,
    NOT_TRUSTED_NOTE,
    ROOT_FILE,
    Adjustment,
    AiPlate,
    Credited,
    Edit,
    HumanBase,
    Inpaint,
    KeptFrom,
    LayoutIngredient,
    PaintSession,
    PlateManifest,
    StoreMatch,
    TimeStampError,
    can_watermark,
    check_time_stamp_authority,
    embed_png,
    find_in_store,
    init_signing,
    read_credentials,
    sign_png,
    verify_png,
    watermark_value,
)
from bgart.credits.grade import pct
from bgart.credits.lineage import ActShare, Replay, generated_event, replay_plate
from bgart.credits.lines import Headings, plate_credit_lines
from bgart.credits.model import NOT_RECORDED, CreditReport, ModelUse, PlateCredit
from bgart.credits.psd import (
    PsdLayer,
    adjustment_layer_name,
    ai_layer_name,
    export_psd,
    flatten,
    inpaint_layer_name,
    refine_layer_name,
    resampled,
    retouch_layer_name,
)
from bgart.errors import BgartError, InputError
from bgart.events import (
    AiGenerated,
    AiVariant,
    EditKind,
    Kind,
    LayoutImported,
    Payload,
    PlateImported,
    spec,
)
from bgart.events import PsdLayer as LayerKind
from bgart.fsutil import atomic_write_text, safe_name, sha256_file
from bgart.images import open_image
from bgart.ledger import Project

log = logging.getLogger(__name__)

SUMS_FILE = "SHA256SUMS"
#: Sub-folder of an episode folder that earlier exports of plates no longer accepted are
#: moved into (their signed PNGs state an approval that no longer holds).
WITHDRAWN_DIR = "withdrawn"


@dataclass
class ExportedPlate:
    """What one plate's export wrote (``png`` / ``psd`` is None when it was not asked for)."""

    episode: str
    shot: str
    plate: str
    png: Path | None
    psd: Path | None
    notes: list[str]


def file_stem(shot: str, plate: str) -> str:
    stem = safe_name(shot)
    return stem if plate == workflow.PLATE else f"{stem}__{safe_name(plate)}"


def export_paths(plates: Sequence[PlateCredit]) -> dict[str, str]:
    """``episode folder/file stem`` per plate key; refuses two plates that would share a file.

    Names are compared case-insensitively: on Windows and macOS ``EP01_C1.png`` and
    ``ep01_c1.png`` are one file, and the second export would silently replace the first.
    """
    paths: dict[str, str] = {}
    owner: dict[str, PlateCredit] = {}
    for p in plates:
        path = f"{safe_name(p.episode)}/{file_stem(p.shot, p.plate)}"
        other = owner.setdefault(path.casefold(), p)
        if other is not p:
            mine = paths[other.key]
            where = (
                f"{path}.png/.psd"
                if mine == path
                else f"{mine} and {path} (one file where letter case is ignored)"
            )
            raise InputError(
                f"shot {other.shot} (plate {other.plate}) and shot {p.shot} (plate {p.plate}) "
                f"would both be exported as {where}; rename one of the shots"
            )
        paths[p.key] = path
    return paths


# --- signing identity -----------------------------------------------------------------------


def signing_identity(
    project: Project, *, create: bool = False, say: Callable[[str], None] | None = None
) -> tuple[Path, Path]:
    """(certificate chain, key) from settings ``signing_cert``/``signing_key`` (relative
    paths are taken from the project folder), else ``<project>/signing/``.

    With ``create`` and no identity anywhere, a local test CA + leaf is made there (as
    ``bgart credits init-signing`` does) and ``say`` is told it is not publicly trusted.
    """
    s = project.settings
    if (s.signing_cert is None) != (s.signing_key is None):
        missing = "signing_key" if s.signing_key is None else "signing_cert"
        raise InputError(f"setting '{missing}': needed too when the other signing setting is set")
    if s.signing_cert is not None and s.signing_key is not None:
        return _under(project, s.signing_cert), _under(project, s.signing_key)
    folder = project.root / "signing"
    chain, key = folder / CHAIN_FILE, folder / KEY_FILE
    if chain.exists() and key.exists():
        return chain, key
    if not create:
        raise InputError(
            f"{folder}: no signing identity (set signing_cert and signing_key in "
            f"{project.root / 'bgart.toml'}, or run `bgart credits init-signing`)"
        )
    chain, key = init_signing(project.root, project.settings.production)
    if say is not None:
        say(f"made a local signing identity in {folder}: {NOT_TRUSTED_NOTE}")
    return chain, key


def _under(project: Project, path: Path) -> Path:
    path = Path(path).expanduser()
    return path if path.is_absolute() else project.root / path


def trust_anchor(project: Project) -> Path | None:
    """The project's own test root CA, when it has one (for validating its exports)."""
    root = project.root / "signing" / ROOT_FILE
    return root if root.is_file() else None


# --- layers ---------------------------------------------------------------------------------


def _image(project: Project, sha: str, what: str) -> np.ndarray:
    return np.asarray(open_image(project.blobs.get(sha), mode="RGB", name=what))


def plate_layers(project: Project, p: PlateCredit, rep: Replay) -> list[PsdLayer]:
    """The PSD layers of an exported plate, bottom first (see the module docstring)."""
    root = rep.root
    base = _image(project, root.blobs["image"], f"{p.key} base image")
    if root.kind == Kind.PLATE_IMPORTED:
        origin = root.typed(PlateImported).origin
        base_name = f"Base – {root.actor} ({origin})"
    else:
        gen = generated_event(rep.history.events, root)
        base_name = ai_layer_name(gen.actor if gen else "AI")
    layers = [PsdLayer(base_name, Image.fromarray(base, "RGB"))]
    seen: dict[str, int] = {}
    for step in rep.steps:
        before = rep.history.state(step.base_version).image
        after = rep.history.state(step.version).image
        if step.kind is EditKind.RESAMPLE:  # the layers so far at the refined size
            layers = resampled(layers, after.shape[1], after.shape[0])
            before = np.asarray(flatten(layers).convert("RGB"))
        changed = (before != after).any(axis=2)
        if step.kind is EditKind.PAINT and step.event.blobs.get("layer"):
            # The artist's own paint layer: their colour at their stroke alpha (what the
            # plate shows is that layer laid over the pixels below, as in the PSD).
            rgba = np.array(
                open_image(
                    project.blobs.get(step.event.blobs["layer"]),
                    mode="RGBA",
                    name=f"{step.event.label} layer",
                )
            )
        else:
            # Only the changed pixels, opaque.
            rgba = np.dstack([after, np.full(changed.shape, 255, np.uint8)])
            rgba[..., 3][~changed] = 0
        rgba[rgba[..., 3] == 0] = 0  # no copy of anything behind the transparency
        if not rgba[..., 3].any():
            continue  # an edit that left no pixel: no empty layer
        layer = spec(step.event.kind).psd
        if layer is LayerKind.INPAINT:
            name = inpaint_layer_name(step.model or "AI", step.person)
        elif layer is LayerKind.RETOUCH:
            name = retouch_layer_name(step.person)
        elif layer is LayerKind.ADJUST:
            name = adjustment_layer_name(step.person)
        elif layer is LayerKind.REFINE:
            name = refine_layer_name(step.model or "AI", step.person)
        else:  # a revert is no step (the lineage follows it), nor is anything else
            raise AssertionError(f"{step.event.label}: no PSD layer for {step.event.kind}")
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            name = f"{name} ({seen[name]})"
        layers.append(PsdLayer(name, Image.fromarray(np.ascontiguousarray(rgba), "RGBA")))
    return layers


# --- the C2PA manifest ------------------------------------------------------------------------

#: What the credentials say for a model's revision and licence when the weight hashes the
#: ledger recorded differ from those pinned in weights.lock: the pinned revision did not make
#: the plate, and nothing recorded says which one did.
WEIGHTS_DIFFER = "unknown (recorded weights differ from weights.lock)"


def stated_model(m: ModelUse | None) -> tuple[str, str]:
    """(revision, licence) the signed credentials may state for ``m``: what weights.lock pins
    only while the ledger's recorded weight hashes match it (see ``ModelUse.weights``)."""
    if m is None:
        return NOT_RECORDED, NOT_RECORDED
    if m.weights.startswith("differ"):
        return WEIGHTS_DIFFER, WEIGHTS_DIFFER
    return m.revision, m.licence


def _model_label(m: ModelUse) -> str:
    revision, licence = stated_model(m)
    label = f"{m.name} (revision {revision}, licence {licence}"
    if m.weights in ("match weights.lock", m.revision):
        return label + ")"
    return label + f"; weights {m.weights})"


def contribution_figures(p: PlateCredit, report: CreditReport) -> dict[str, Any]:
    """The ``org.bgart.contribution`` assertion: the report's figures for this plate."""
    en, ja, _ = plate_credit_lines(p, Headings.of_report(report.headings))
    d = report.definition
    return {
        "shot": p.shot,
        "plate": p.plate,
        "episode": p.episode,
        "version": p.version,
        "grade": p.grade,
        "grade_reason": p.grade_reason,
        "grade_thresholds": f"B ≥ {pct(d.grade_b, 0)}, C ≥ {pct(d.grade_c, 0)}, "
        f"D ≥ {pct(d.grade_d, 0)} human paint",
        "contribution_definition": d.version,
        "human_paint_share": p.human_paint_share,
        "ai_gen_share": p.ai_gen_share,
        "ai_inpaint_share": p.ai_inpaint_share,
        "human_base_share": p.human_base_share,
        "human_touched_share": p.human_touched_share,
        "adjust_share": p.adjust_share,
        "retouch": [
            {
                "artist": c.name,
                "human_paint_share": c.human_paint_share,
                "active_seconds": c.active_seconds,
            }
            for c in p.retouchers()
        ],
        "layout_artists": ", ".join(p.layout_artists) or NOT_RECORDED,
        "prompt_author": p.prompt_author or NOT_RECORDED,
        "chosen_by": p.chosen_by or NOT_RECORDED,
        "candidates_generated": p.candidates,
        "chosen_candidate": p.chosen_candidate if p.chosen_candidate is not None else "none",
        "inpaint_masks": len(p.masks),
        "mask_directors": ", ".join(sorted({m.directed_by for m in p.masks})) or "none",
        "approver": p.approver or NOT_RECORDED,
        "approved_at": p.approved_at or NOT_RECORDED,
        "active_seconds": p.active_seconds,
        "gpu_seconds": p.gpu_seconds,
        # each model once (the same model may have made, inpainted and refined the plate)
        "models": "; ".join(dict.fromkeys(_model_label(m) for m in p.models)) or "none",
        "credit_line": en,
        "credit_line_ja": ja,
        "image_sha256": p.image_sha256,
        "raster_sha256": p.raster_sha256,
        "ledger_event_hash": p.last_event_hash,
        "people": [c.name for c in p.contributors],
    }


def plate_manifest(
    project: Project, p: PlateCredit, rep: Replay, report: CreditReport
) -> PlateManifest:
    """The Content Credentials of an accepted plate.

    Every plate gets them: an AI plate names its model, a plate imported without AI states a
    human-made base (``digitalCreation``), and each AI inpaint on either names its model.
    """
    edits = _edits(p, rep)
    layout = None
    layouts = rep.history.layouts
    chosen = next(
        (
            ev
            for ev in reversed(layouts)
            if p.layout_sha256 and ev.blobs.get("layout") == p.layout_sha256
        ),
        None,
    )
    if chosen is not None:
        layout = LayoutIngredient(
            image=project.blobs.get(chosen.blobs["layout"]),
            title=chosen.typed(LayoutImported).filename or f"{p.shot} layout",
            author=chosen.actor,
            when=chosen.created_at,
        )
    root_image = project.blobs.get(rep.root.blobs["image"]) if edits else None
    gen = generated_event(rep.history.events, rep.root)
    ai_plate = base = None
    if gen is None:
        imported = rep.root.typed(PlateImported)
        origin = imported.origin or "imported"
        base = HumanBase(
            artist=rep.root.actor,
            origin=origin,
            image=root_image,
            title=imported.filename or f"{p.shot} imported plate ({origin})",
            when=rep.root.created_at,
            credited=_credited(rep.base_credited),
        )
    else:
        generated = gen.typed(AiGenerated)
        record = generated.record
        model = next((m for m in p.models if m.role == "generation"), None)
        seeds = record.get("seeds") or []
        index = int(record.get("batch_index") or 0)
        revision, licence = stated_model(model)
        ai_plate = AiPlate(
            model=gen.actor,
            revision=revision,
            licence=licence,
            weights=model.weights if model else None,
            image=root_image,
            title=f"{p.shot} AI plate (candidate {generated.candidate})",
            seed=int(seeds[index]) if len(seeds) > index else None,
            when=gen.created_at,
        )
    people = [n for n in (p.prompt_author, p.chosen_by) if n and n != NOT_RECORDED]
    return PlateManifest(
        title=f"{file_stem(p.shot, p.plate)}.png",
        production=report.production,
        ai_plate=ai_plate,
        base=base,
        layout=layout,
        edits=edits,
        contribution=contribution_figures(p, report),
        people=people,
        approver=p.approver or None,
        inherited=_inherited(rep),
    )


def _credited(act: ActShare | None) -> Credited | None:
    """An act's share and the rectangles covering where its paint remains."""
    return None if act is None else Credited.from_mask(act.mask, act.share)


def _inherited(rep: Replay) -> list[PaintSession]:
    """A variant's paint sessions of its parent plate, with what of each remains."""
    if not rep.inherited:
        return []
    variant = rep.root.typed(AiVariant)
    return [
        PaintSession(
            artist=act.person,
            seconds=act.event.typed(Payload).active_seconds,
            when=act.event.created_at,
            credited=_credited(act.credited),
            kept_from=KeptFrom(
                variant.parent_plate, variant.parent_version, act.plate, act.version
            ),
        )
        for act in rep.inherited
    ]


def _edits(p: PlateCredit, rep: Replay) -> list[Edit]:
    """The C2PA edits of the plate's lineage, in order."""
    edits: list[Edit] = []
    for step in rep.steps:
        ev = step.event
        if step.kind in (EditKind.INPAINT, EditKind.RESAMPLE):  # a refinement: the whole plate
            if step.bbox is None:
                continue  # an empty mask changed nothing
            role = "inpaint" if step.kind is EditKind.INPAINT else "refine"
            used = next((m for m in p.models if m.name == step.model and m.role == role), None)
            rev = stated_model(used)[0] if used is not None else None
            edits.append(
                Inpaint(
                    model=step.model or "AI",
                    mask_author=step.person,
                    bbox=step.bbox,
                    revision=rev,
                    when=ev.created_at,
                    refine=step.kind is EditKind.RESAMPLE,
                    credited=_credited(step.credited),
                )
            )
        elif step.kind in (EditKind.PAINT, EditKind.FINAL):
            edits.append(
                PaintSession(
                    artist=step.person,
                    bbox=step.bbox,
                    seconds=ev.typed(Payload).active_seconds,
                    when=ev.created_at,
                    credited=_credited(step.credited),
                )
            )
        else:
            edits.append(Adjustment(artist=step.person, when=ev.created_at))
    return edits


# --- the export -------------------------------------------------------------------------------


def export_plates(
    project: Project,
    report: CreditReport,
    *,
    png: bool = True,
    psd: bool = True,
    out_root: Path | None = None,
    signer: tuple[Path, Path] | None = None,
    say: Callable[[str], None] | None = None,
) -> list[ExportedPlate]:
    """Export the report's accepted plates (signed PNG and/or layered PSD).

    File names are checked first: two plates that would share a file stop the export before
    anything is written. Earlier exports of the report's plates that are no longer accepted
    (rejected, or reopened by a later edit) are moved into ``<episode>/withdrawn/`` and
    ``say`` is told. Each episode folder's ``SHA256SUMS`` is removed before anything is
    written there and rewritten at the end, so a run that stops part-way leaves none rather
    than one that disagrees with the files.

    With setting ``tsa_url`` every signature is time-stamped by that authority (so it stays
    valid after the signing certificate expires); it is tried once before anything is
    written, so an authority that cannot time-stamp stops the export with nothing changed.
    """
    out_root = Path(out_root) if out_root is not None else project.exports_dir
    accepted = [p for p in report.plates if p.accepted]
    paths = export_paths(accepted)
    stale = _stale_exports(report, paths, out_root)
    if png and signer is None:
        signer = signing_identity(project, create=True, say=say)
    tsa_url = project.settings.tsa_url if png else None
    if tsa_url is not None and signer is not None and accepted:
        try:
            check_time_stamp_authority(signer[0], signer[1], tsa_url)
        except TimeStampError as exc:
            raise TimeStampError(
                f"{exc}; nothing was exported (fix or remove tsa_url to sign without a time-stamp)"
            ) from None
    anchor = trust_anchor(project)
    folders = {(out_root / path).parent for path in paths.values()}
    folders |= {files[0].parent for _, files in stale}
    for folder in sorted(folders):
        _remove(folder / SUMS_FILE)
    for p, files in stale:
        _withdraw(p, files, say)
    done: list[ExportedPlate] = []
    for p in accepted:
        folder, stem = (out_root / paths[p.key]).parent, (out_root / paths[p.key]).name
        history = workflow.PlateHistory.load(project, *p.source)  # a 兼用 cut: the source's
        state = history.state(p.version)
        if state.image_sha != p.image_sha256:
            raise BgartError(f"{p.key}: the ledger changed since the report was built")
        rep = replay_plate(history, state)
        item = ExportedPlate(p.episode, p.shot, p.plate, None, None, [])
        pixels, watermark = project.blobs.get(p.image_sha256), None
        if png and signer is not None and can_watermark(p.width, p.height):
            # soft binding: the watermark goes in first, the PNG is signed over it
            value = watermark_value(report.production, p.key, p.image_sha256)
            marked = embed_png(pixels, value)
            if marked is None:
                item.notes.append(
                    f"{p.key}: no invisible watermark (soft binding): it would not survive "
                    "a re-save on this plate (too little texture); a copy that loses the "
                    "manifest cannot be traced back"
                )
            else:
                pixels, watermark = marked, value
        if psd:
            layers = plate_layers(project, p, rep)
            item.psd = export_psd(
                folder / f"{stem}.psd",
                layers,
                (p.width, p.height),
                composite=open_image(pixels, mode="RGB", name=f"{p.key} plate"),
            )
        if png and signer is not None:
            manifest = plate_manifest(project, p, rep, report)
            manifest.soft_binding = watermark
            dst = folder / f"{stem}.png"
            item.notes += sign_png(
                pixels,
                dst,
                manifest,
                signer[0],
                signer[1],
                tsa_url=tsa_url,
            )
            result = verify_png(dst, trust_anchors=anchor)
            if not result.ok:
                raise BgartError(
                    f"{dst}: signed but does not validate: " + "; ".join(result.problems)
                )
            item.png = dst
        done.append(item)
    _write_sums(done)
    return done


def find_export(project: Project, copy: bytes) -> StoreMatch | None:
    """The signed export in ``<project>/exports/`` whose watermark ``copy`` carries (a copy
    that lost its manifest: re-saved, converted to JPEG, resized), or None.

    Only exports whose own manifest reads and declares a watermark are candidates; withdrawn
    exports are candidates too (the caller says so).
    """
    candidates: list[tuple[Path, str, tuple[int, int]]] = []
    root = project.exports_dir
    for path in sorted(root.glob("*/*.png")) + sorted(root.glob("*/withdrawn/*.png")):
        try:
            creds = read_credentials(path)
            with Image.open(path) as im:
                size = im.size
        except (InputError, OSError):
            continue
        value = creds.get("soft_binding")
        if isinstance(value, str):
            candidates.append((path, value, size))
    return find_in_store(copy, candidates)


def _stale_exports(
    report: CreditReport, paths: dict[str, str], out_root: Path
) -> list[tuple[PlateCredit, list[Path]]]:
    """Export files of the report's plates that are not accepted (none that an accepted
    plate's export uses, e.g. a name differing only in case)."""
    taken = {path.casefold() for path in paths.values()}
    stale: list[tuple[PlateCredit, list[Path]]] = []
    for p in report.plates:
        if p.accepted:
            continue
        path = f"{safe_name(p.episode)}/{file_stem(p.shot, p.plate)}"
        if path.casefold() in taken:
            continue
        base = out_root / path
        files = [
            f
            for f in (base.with_name(base.name + ".png"), base.with_name(base.name + ".psd"))
            if f.is_file()
        ]
        if files:
            stale.append((p, files))
    return stale


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise InputError(f"{path}: cannot remove ({exc.strerror})") from None


def _withdraw(p: PlateCredit, files: Sequence[Path], say: Callable[[str], None] | None) -> None:
    """Move a no-longer-accepted plate's earlier export files into ``withdrawn/``."""
    folder = files[0].parent / WITHDRAWN_DIR
    try:
        folder.mkdir(exist_ok=True)
        for f in files:
            f.replace(folder / f.name)
    except OSError as exc:
        raise InputError(
            f"{folder}: cannot move withdrawn exports there ({exc.strerror})"
        ) from None
    message = (
        f"{p.key}: plate no longer accepted ({p.status}); moved its earlier export "
        f"{', '.join(f.name for f in files)} to {folder}"
    )
    if say is not None:
        say(message)
    else:
        log.warning("%s", message)


def _write_sums(items: Sequence[ExportedPlate]) -> None:
    by_folder: dict[Path, list[Path]] = {}
    for item in items:
        for path in (item.png, item.psd):
            if path is not None:
                by_folder.setdefault(path.parent, []).append(path)
    for folder, paths in by_folder.items():
        lines = [f"{sha256_file(p)}  {p.name}\n" for p in sorted(paths)]
        atomic_write_text(folder / SUMS_FILE, "".join(lines))
