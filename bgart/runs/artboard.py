"""Art boards in a run: a shot's references, and the drift score of its plates.

A shot takes the images of its location's board, then of its preset's board
(:func:`bgart.plates.boards`), as IP-Adapter references at the production's scale
(bgart.toml ``[artboard] scale``). They are part of the shot's done key, so a board changed
since the shot rendered renders it again.

The drift score of a plate is the cosine distance, in the adapter's CLIP image-embedding
space, between the plate and its board (the mean of the board's unit embeddings): its
location's board, else its preset's. 0 is on the board; the production sets the distance
over which a batch flags a plate (``[artboard] drift_threshold``). :func:`plate_drift` is
what the review screen and ``bgart ledger show`` call.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from PIL import Image

from bgart.errors import BgartError, InputError
from bgart.fsutil import sha256_file
from bgart.images import open_image
from bgart.inputs import ImageInput, RenderRequest, Shot, ShotList
from bgart.settings import PROJECT_FILE, Settings

_OPEN: dict[Path, tuple[Any, Settings]] = {}
"""Projects a run has open (root → project, settings): plans read their boards there."""
_EMBEDDERS: dict[tuple[str, str], Any] = {}
T = TypeVar("T")


@contextlib.contextmanager
def using(root: Path, project: Any, settings: Settings) -> Iterator[None]:
    """While inside, plans of shots in ``root`` read the boards of this open project (the
    batch's own) instead of opening it for each shot."""
    key = Path(root).resolve()
    _OPEN[key] = (project, settings)
    try:
        yield
    finally:
        _OPEN.pop(key, None)


def _with_project(root: Path, fn: Callable[[Any, Settings], T]) -> T | None:
    """``fn(project, settings)`` on the project at ``root`` (None: no project there)."""
    key = Path(root).resolve()
    if key in _OPEN:
        return fn(*_OPEN[key])
    if not (key / PROJECT_FILE).is_file():
        return None
    from bgart.ledger import Project
    from bgart.settings import load_settings

    with Project.open(key) as project:
        return fn(project, load_settings(key))


def render_references(render: RenderRequest) -> Any:
    """The engine's references (:class:`bgart.generation.References`) of a render request;
    None without any."""
    if not render.references:
        return None
    from bgart.generation import Reference, References

    images = tuple(
        Reference(open_image(image.data, mode="RGB", name=image.name), image.sha256, board)
        for board, image in render.references
    )
    scale = render.reference_scale if render.reference_scale is not None else "style"
    return References(images, scale)


def shot_boards(shot: Shot) -> list[str]:
    """The boards a shot takes, in order: its location's, then its preset's."""
    from bgart import plates

    keys = [plates.board_key("location", shot.location)] if shot.location else []
    return [*keys, plates.board_key("preset", shot.preset)]


def _pairs(project: Any, shot: Shot) -> list[tuple[str, str]]:
    from bgart import plates

    boards = plates.boards(project)
    return [(key, image.sha256) for key in shot_boards(shot) for image in boards.get(key, [])]


def plan_inputs(root: Path, shot: Shot) -> dict[str, Any]:
    """What a shot's done key adds for its boards (nothing without any: keys stay as
    they were): each image's board and sha256, and the scale they steer with."""

    def inputs(project: Any, settings: Settings) -> dict[str, Any]:
        pairs = _pairs(project, shot)
        if not pairs:
            return {}
        return {"references": [list(p) for p in pairs], "reference_scale": settings.artboard_scale}

    return _with_project(root, inputs) or {}


def request_fields(root: Path, shot: Shot) -> dict[str, Any]:
    """The ``references`` and ``reference_scale`` of a shot's render request."""
    from bgart import plates

    def fields(project: Any, settings: Settings) -> dict[str, Any]:
        from bgart.generation.adapters import check_scale

        refs = tuple(
            (key, ImageInput(plates.read_reference(project, sha), f"art board {key} ({sha[:12]})"))
            for key, sha in _pairs(project, shot)
        )
        if not refs:
            return {}
        check_scale(settings.artboard_scale, f"{root}/{PROJECT_FILE}: [artboard] scale")
        return {"references": refs, "reference_scale": settings.artboard_scale}

    return _with_project(root, fields) or {}


# ---- drift ------------------------------------------------------------------------------------
def embedder(settings: Settings, model: str | None = None) -> Any:
    """The adapter's image encoder for ``model`` (default: the production's; loaded once per
    process), or None when it pins no IP-Adapter (then there is no drift score)."""
    from bgart.generation import ImageEmbedder, WeightsLock

    model = model or settings.model
    key = (f"{settings.weights_lock}|{settings.model_store}", model)
    if key not in _EMBEDDERS:
        try:
            entry = WeightsLock.load(settings.weights_lock).get(model)
        except BgartError:
            return None
        if not entry.ip_adapter:
            return None
        _EMBEDDERS[key] = ImageEmbedder(settings, model)
    return _EMBEDDERS[key]


def drift(embed: Any, board: Mapping[str, bytes], plate_png: bytes, plate_sha: str) -> float:
    """The plate's cosine distance to ``board`` (image bytes by sha256)."""
    from bgart.generation import cosine_distance

    images = {sha: _decode(data, sha) for sha, data in board.items()}
    return cosine_distance(
        embed.embed(plate_sha, _decode(plate_png, plate_sha)), embed.board(images)
    )


def _decode(data: bytes, name: str) -> Image.Image:
    return open_image(data, mode="RGB", name=name)


def plate_drift(project: Any, settings: Settings, shot: str, plate: str = "main") -> dict[str, Any]:
    """A plate's drift score for review and ``bgart ledger show``: ``{"board", "drift",
    "over"}`` for its latest version against the board its generation record names (its
    location's, else its preset's); ``{}`` when it was made without a board or the model
    pins no IP-Adapter."""
    from bgart import plates
    from bgart.events import AiGenerated, Kind
    from bgart.generation import recorded_images

    events = project.ledger.events(shot=shot, plate=plate, kinds=(Kind.AI_GENERATED,))
    record = events[-1].typed(AiGenerated).record if events else {}
    named = recorded_images(record.get("extra") or {})
    keys = list(dict.fromkeys(n["board"] for n in named))
    key = next((k for k in keys if k.startswith("location:")), keys[0] if keys else None)
    versions = plates.plate_versions(project, shot, plate=plate)
    embed = embedder(settings, record.get("model")) if key and versions else None
    if embed is None or key is None:
        return {}
    board = {
        n["sha256"]: plates.read_reference(project, n["sha256"]) for n in named if n["board"] == key
    }
    latest = versions[-1]
    png = project.blobs.get(latest.image_sha)
    if png is None:
        raise InputError(f"shot {shot}: plate image {latest.image_sha} missing from the blobs")
    score = drift(embed, board, png, latest.image_sha)
    return {"board": key, "drift": score, "over": score > settings.artboard_drift_threshold}


def with_drift(
    root: Path, shot_list: ShotList, settings: Settings, entries: Sequence[Any]
) -> list[Any]:
    """Contact-sheet entries with each shot's location and, for a done shot with a board,
    its variations' drift scores (and the production's threshold, over which the sheet
    marks them)."""
    by_id = {s.id: s for s in shot_list.shots}
    for entry in entries:
        shot = by_id.get(entry.id)
        entry.location = shot.location if shot is not None else ""

    def score(project: Any, _settings: Settings) -> None:
        from bgart import plates

        reused = plates.reused_shots(project)
        for entry in entries:  # 兼用: a cut that took another cut's accepted plate
            source = reused.get(entry.id)
            plate = Path(root) / "shots" / entry.id / "v1.png"
            if source is not None and entry.status != "done" and plate.is_file():
                entry.status, entry.variations = "done", [(plate, 0)]
                entry.reason = f"reuses {source.source_shot}'s accepted plate (兼用)"
        boards = plates.boards(project)
        embed = embedder(settings) if boards else None
        for entry in entries:
            shot = by_id.get(entry.id)
            if embed is None or shot is None or entry.status != "done":
                continue
            key = next((k for k in shot_boards(shot) if boards.get(k)), None)
            if key is None:
                continue
            board = {i.sha256: plates.read_reference(project, i.sha256) for i in boards[key]}
            entry.drift = [
                drift(embed, board, png.read_bytes(), sha256_file(png))
                for png, _seed in entry.variations
            ]
            entry.drift_threshold = settings.artboard_drift_threshold
            entry.board = key

    _with_project(root, score)
    return list(entries)


def drift_outliers(
    root: Path, shot_list: ShotList, settings: Settings, steps: int | None
) -> dict[str, Any]:
    """``{"drift_outliers": {shot: ["v2 0.412", …]}}`` for a batch's summary: the plates of
    the list over the production's drift threshold (``{}`` when none is, or no board)."""
    from bgart import plates
    from bgart.runs.batch import sheet_entries

    if not _with_project(root, lambda project, _s: bool(plates.boards(project))):
        return {}
    entries = with_drift(root, shot_list, settings, sheet_entries(root, shot_list, settings, steps))
    found = outliers(entries)
    return {"drift_outliers": found} if found else {}


def summary(
    notes: dict[str, Any],
    root: Path,
    shot_list: ShotList,
    settings: Settings,
    steps: int | None,
    dist: Any,
) -> dict[str, Any]:
    """What a batch's summary says about art direction: its 兼用 ``notes`` and, on the main
    process, the plates over the drift threshold (:func:`drift_outliers`)."""
    return notes | (drift_outliers(root, shot_list, settings, steps) if dist.is_main else {})


def outliers(entries: Sequence[Any]) -> dict[str, list[str]]:
    """``{shot: ["v2 0.41", …]}``: the variations whose drift is over the threshold."""
    out: dict[str, list[str]] = {}
    for e in entries:
        for i, score in enumerate(getattr(e, "drift", []) or [], start=1):
            if score is not None and e.drift_threshold is not None and score > e.drift_threshold:
                out.setdefault(e.id, []).append(f"v{i} {score:.3f}")
    return out


def recorded_references(record: Any, project: Path | None) -> dict[str, Image.Image] | None:
    """The art-board images a generation record names, read from ``project``'s blobs by
    sha256 (None when it names none): what ``bgart regenerate`` gives the engine back."""
    from bgart.generation import recorded_images

    named = recorded_images(record.extra)
    if not named:
        return None
    if project is None or not (Path(project) / PROJECT_FILE).is_file():
        raise InputError(
            "this plate was rendered with art-board references: pass --project, the project "
            "whose art boards hold them"
        )

    def read(proj: Any, _settings: Settings) -> dict[str, Image.Image]:
        from bgart import plates

        return {
            n["sha256"]: _decode(plates.read_reference(proj, n["sha256"]), n["sha256"])
            for n in named
        }

    return _with_project(Path(project), read)
