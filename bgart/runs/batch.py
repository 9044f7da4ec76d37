"""Render a whole shot list into a project: resumable, crash-safe, multi-process.

On disk, inside the project folder::

    shots/EP01_C012/v1.png … vN.png   the variations, each with its embedded record
    shots/EP01_C012/done.json         written last: the shot's input key + sha256 of each PNG
    shots/EP01_C012/failed.json       instead of done.json when the shot could not render
    contact/<list>.html, <list>.png   the contact sheet of the whole list (bgart.runs.contact_sheet)

plus, through :mod:`bgart.plates.acts`, the blobs and the ledger events (``layout.imported``
credited to the shot's layout artist, one ``ai.generated`` per variation).

Resume: a shot is *done* when ``done.json`` exists, names the same inputs (prompt, preset
values, size, seeds, layout and photo hashes, model, steps) and every PNG it lists still has
its hash. Anything else is rendered again from scratch: its marker goes first, then its old
files. On the CPU (and on CUDA in deterministic mode) the rewritten PNGs are the same bytes.
Elsewhere a re-render may differ by kernel choice alone (autotuned kernels, atomics): a
variation whose recipe the ledger already holds for the shot is written as the recorded
bytes, never as a second ``ai.generated`` event (:func:`settled_pngs`). Every file is
written atomically (temp + fsync + rename) and the ledger recording is idempotent, so a run
killed at any moment and run again ends with the same files and the same events as an
uninterrupted run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bgart.canonical import canonical_json
from bgart.errors import BgartError, InputError, OutputError
from bgart.events import Kind
from bgart.fsutil import atomic_write_bytes, file_lock, read_bounded_text, sha256_file
from bgart.generation import Engine, Generated, OutOfMemory
from bgart.images import read_user_file
from bgart.inputs import ImageInput, RenderRequest, Shot, ShotList, compose, load_shot_list
from bgart.runs import artboard, distributed, reuse
from bgart.runs.contact_sheet import SheetShot, write_contact_sheet
from bgart.runs.render import EngineState, generate_with_fallback, plate_request
from bgart.runs.write_behind import WriteBehind
from bgart.settings import PROJECT_FILE, Settings, load_settings

SHOTS_DIR = "shots"
CONTACT_DIR = "contact"
DONE = "done.json"
FAILED = "failed.json"
DEFAULT_PROJECT = "bgart-project"
EXIT_FAILED_SHOTS = 4  # the batch ran, but some shots failed (see the summary)
_OWN_FILE = re.compile(r"^(v\d+\.png|done\.json|failed\.json|\..*\.tmp)$")


# ---- options, reporting, results -----------------------------------------------------------
@dataclass
class BatchOptions:
    shot_list: Path
    project: Path | None = None
    model: str | None = None
    only: Sequence[str] = ()
    force: bool = False
    cpu: bool = False
    steps: int | None = None  # override every preset's steps (drafts)
    contact_sheet: bool = True
    reuse: bool = False  # a 兼用 cut takes the accepted plate of its layout (bgart.runs.reuse)


class Reporter(Protocol):
    """What the batch tells its user; the CLI draws it as a progress bar."""

    def say(self, message: str) -> None: ...
    def start(self, dist: distributed.Dist, shots: int, steps: int) -> None: ...
    def shot_started(self, shot: Shot, steps: int) -> None: ...
    def step(self, done: int, total: int) -> None: ...
    def shot_finished(self, outcome: ShotOutcome) -> None: ...
    def finish(self) -> None: ...


class QuietReporter:
    """A reporter that only passes messages on (to ``say``, default: nowhere)."""

    def __init__(self, say: Callable[[str], None] | None = None) -> None:
        self._say = say

    def say(self, message: str) -> None:
        if self._say is not None:
            self._say(message)

    def start(self, dist: distributed.Dist, shots: int, steps: int) -> None:
        pass

    def shot_started(self, shot: Shot, steps: int) -> None:
        pass

    def step(self, done: int, total: int) -> None:
        pass

    def shot_finished(self, outcome: ShotOutcome) -> None:
        pass

    def finish(self) -> None:
        pass


@dataclass
class ShotOutcome:
    shot: str
    status: str  # "done" | "failed"
    seconds: float = 0.0
    files: list[Path] = field(default_factory=list)
    reason: str | None = None
    retried: str | None = None  # how an out-of-memory shot was retried


@dataclass
class BatchSummary:
    """What the run did; complete (all ranks) on the main process only."""

    project: Path
    shot_list: str
    selected: list[str]
    already_done: list[str]
    rendered: list[str]
    failed: dict[str, str]
    seconds: float  # the whole run, from validation to the contact sheet
    model_loads: int  # on this process: 1, or 0 when it had nothing to render
    render_seconds: float = 0.0  # the render phase: models loaded → every rank finished
    contact_html: Path | None = None
    contact_pngs: list[Path] = field(default_factory=list)  # one, or the pages of a long list
    rank: int = 0
    world: int = 1
    artboard: dict[str, Any] = field(default_factory=dict)  # 兼用 offers, drift outliers

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else EXIT_FAILED_SHOTS


# ---- planning -------------------------------------------------------------------------------
@dataclass
class ShotPlan:
    """One shot with everything resolved: its inputs' key decides whether it is done."""

    shot: Shot
    folder: Path
    seeds: list[int]
    layout_sha256: str
    photo_sha256: str | None
    key: str

    @property
    def files(self) -> list[Path]:
        return [self.folder / f"v{i + 1}.png" for i in range(len(self.seeds))]


def shot_folder(project_root: Path, shot_id: str) -> Path:
    return project_root / SHOTS_DIR / shot_id


def plan_shot(
    shot: Shot,
    shot_list: ShotList,
    project_root: Path,
    settings: Settings,
    model: str,
    steps: int | None,
) -> ShotPlan:
    preset = shot_list.presets[shot.preset]
    positive, negative = compose(preset, shot.prompt)
    seeds = shot.seeds(settings.production)
    layout_sha = sha256_file(shot.layout)
    photo_sha = sha256_file(shot.photo) if shot.photo else None
    inputs = {
        "shot": shot.id,
        "prompt": positive,
        "negative": negative,
        "preset": preset.name,
        "steps": steps or preset.steps,
        "guidance": preset.guidance,
        "controlnet_scale": preset.controlnet_scale,
        "strength": preset.strength,
        "width": shot.width,
        "height": shot.height,
        "seeds": seeds,
        "model": model,
        "layout_sha256": layout_sha,
        "photo_sha256": photo_sha,
    }  # not the device or thread count: a done shot stays done on other hardware
    if loras := shot.lora_text(preset):  # only when used: other shots' keys stay as they were
        inputs["loras"] = loras
    inputs |= artboard.plan_inputs(project_root, shot)  # {} without an art board
    if shot.regions is not None and shot.regions.references:  # only then: keys kept
        inputs["region_references"] = [[c, i.sha256] for c, i in shot.regions.references]
    if shot.delivery is not None:  # only when set: keys of shots without one stay as they were
        inputs["delivery"] = list(shot.delivery)
    key = hashlib.sha256(canonical_json(inputs).encode()).hexdigest()
    return ShotPlan(shot, shot_folder(project_root, shot.id), seeds, layout_sha, photo_sha, key)


#: The largest done.json/failed.json read: a key and a few file hashes (a few hundred bytes).
MAX_MARKER_BYTES = 1024 * 1024


def read_marker(path: Path) -> dict[str, Any] | None:
    """A shot folder's done/failed marker, or None when it is missing or unusable. Read
    bounded, regular files only: a marker that is a FIFO, a device or over 1 MiB is not a
    marker (the shot is rendered again and the marker rewritten), never a hang."""
    if not path.is_file():  # missing, a folder, or not a regular file: checked again on read
        return None
    try:
        data = json.loads(read_bounded_text(path, str(path), MAX_MARKER_BYTES))
    except (InputError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_done(plan: ShotPlan) -> bool:
    """True when the shot's done marker matches its inputs and every file is intact."""
    marker = read_marker(plan.folder / DONE)
    if marker is None or marker.get("key") != plan.key:
        return False
    files = marker.get("files")
    expected = [p.name for p in plan.files]
    if not isinstance(files, dict) or sorted(files) != sorted(expected):
        return False
    for name, sha in files.items():
        path = plan.folder / name
        if not path.is_file() or sha256_file(path) != sha:
            return False
    return True


def _steps_estimate(plan: ShotPlan, shot_list: ShotList, steps: int | None) -> int:
    """Denoising steps a shot will run, for the ETA (img2img runs steps × strength)."""
    preset = shot_list.presets[plan.shot.preset]
    n = steps or preset.steps
    if plan.shot.photo is not None:
        return max(1, min(n, int(n * preset.strength)))
    return n


# ---- rendering one shot ---------------------------------------------------------------------
def clear_shot(folder: Path) -> None:
    """Remove the shot's own files: the marker FIRST (a crash halfway must never leave a
    marker beside missing files), then plates and stray temp files from a killed run."""
    for name in (DONE, FAILED):
        with contextlib.suppress(FileNotFoundError):
            (folder / name).unlink()
    if folder.is_dir():
        for item in folder.iterdir():
            if _OWN_FILE.match(item.name) and item.is_file():
                with contextlib.suppress(FileNotFoundError):
                    item.unlink()


def shot_request(plan: ShotPlan, shot_list: ShotList, steps: int | None) -> RenderRequest:
    """The shot's render request, its layout read again (and refused if it changed since
    the shot was planned: the done key names the layout's hash)."""
    shot = plan.shot
    layout = ImageInput(read_user_file(shot.layout, str(shot.layout)), str(shot.layout))
    if layout.sha256 != plan.layout_sha256:
        raise InputError(
            f"{shot_list.label}:{shot.line}: field 'layout': {shot.layout} "
            "changed while the batch was running"
        )
    photo = None
    if shot.photo is not None:
        photo = ImageInput(read_user_file(shot.photo, str(shot.photo)), str(shot.photo))
    return RenderRequest(
        prompt=shot.prompt,
        layout=layout,
        width=shot.width,
        height=shot.height,
        seeds=tuple(plan.seeds),
        preset=shot.preset,
        photo=photo,
        steps=steps,
        loras=shot.loras,
        regions=shot.regions,  # regional prompts (bgart.inputs.regions)
        delivery=shot.delivery,  # the delivery size (bgart.inputs.delivery)
        **artboard.request_fields(plan.folder.parents[1], shot),
    )


@dataclass
class RenderedShot:
    """A shot's variations, rendered and not yet written."""

    plan: ShotPlan
    results: list[Generated]
    layout_bytes: bytes
    retried: str | None
    started: float  # perf_counter at the start of its render


def render_shot(
    engine: Any,
    plan: ShotPlan,
    shot_list: ShotList,
    steps: int | None,
    progress: Any,
    say: Callable[[str], None],
    state: EngineState | None = None,
) -> RenderedShot | ShotOutcome:
    """Render one shot's variations (clearing its folder first). A failure is written as
    ``failed.json`` and returned as its outcome, not raised."""
    start = time.perf_counter()
    shot = plan.shot
    clear_shot(plan.folder)
    plan.folder.mkdir(parents=True, exist_ok=True)
    try:
        render = shot_request(plan, shot_list, steps)
        req = plate_request(render, shot_list.presets[shot.preset])
        results, retried = generate_with_fallback(
            engine, req, progress, say, shot.id, state if state is not None else EngineState()
        )
    except (OutOfMemory, BgartError) as exc:
        reason = (
            f"out of memory even with offload + tiling: {exc}"
            if isinstance(exc, OutOfMemory)
            else str(exc)
        )
        atomic_write_bytes(
            plan.folder / FAILED, _json_bytes({"shot": shot.id, "key": plan.key, "reason": reason})
        )
        return ShotOutcome(shot.id, "failed", time.perf_counter() - start, reason=reason)
    return RenderedShot(plan, results, render.layout.data, retried, start)


def write_shot(project: Any, rendered: RenderedShot, shot_list: ShotList) -> ShotOutcome:
    """Write a rendered shot's PNGs, record them in the ledger, then ``done.json`` (last:
    only now is the shot done)."""
    plan, results = rendered.plan, rendered.results
    hashes: dict[str, str] = {}
    writing: Path | None = None  # named in the error: a full disk's OSError names no file
    pngs = settled_pngs(project, plan.shot.id, results)
    try:
        for path, data in zip(plan.files, pngs, strict=True):
            writing = path
            atomic_write_bytes(path, data)
            hashes[path.name] = hashlib.sha256(data).hexdigest()
        writing = None
        record_shot(project, plan.shot, shot_list, rendered.layout_bytes, results, pngs)
        writing = plan.folder / DONE
        marker = {
            "shot": plan.shot.id,
            "key": plan.key,
            "files": hashes,
            "seeds": plan.seeds,
            "model": results[0].record.model,
            "preset": plan.shot.preset,
            "width": plan.shot.width,
            "height": plan.shot.height,
            "retried": rendered.retried,
        }
        atomic_write_bytes(plan.folder / DONE, _json_bytes(marker))
    except OSError as exc:  # the disk, not the shot: every shot after it would fail alike
        where = writing or exc.filename2 or exc.filename or "into the project"
        raise OutputError(
            f"{plan.shot.id}: cannot write {where} ({exc.strerror or exc}); the batch stopped. "
            "Shots done so far are kept: run the same command again to go on"
        ) from None
    return ShotOutcome(
        plan.shot.id,
        "done",
        time.perf_counter() - rendered.started,
        files=plan.files,
        retried=rendered.retried,
    )


def render_shots(
    engine: Any,
    project: Any,
    plans: Sequence[ShotPlan],
    estimates: Sequence[int],
    shot_list: ShotList,
    steps: int | None,
    reporter: Reporter,
    say: Callable[[str], None],
    overlap: bool = True,
) -> None:
    """Render the plans in order. With ``overlap``, shot k is written and recorded on a
    thread while shot k+1 renders (:mod:`bgart.runs.write_behind`): same files, same events."""
    state = EngineState(sticky=False)  # low-memory mode for the shot that needs it only
    lock = threading.Lock()  # the reporter is told things from both threads, one at a time

    def report(fn: Callable[..., None], *args: Any) -> None:
        with lock:
            fn(*args)

    with WriteBehind(overlap) as writer:

        def step(done: int, total: int) -> None:
            writer.check()  # the previous shot's write failed: stop rendering this one
            report(reporter.step, done, total)

        for plan, est in zip(plans, estimates, strict=True):
            report(reporter.shot_started, plan.shot, est)
            outcome = render_shot(
                engine, plan, shot_list, steps, step, lambda m: report(say, m), state
            )

            def finish(outcome: RenderedShot | ShotOutcome = outcome) -> None:
                if isinstance(outcome, RenderedShot):
                    outcome = write_shot(project, outcome, shot_list)
                report(reporter.shot_finished, outcome)

            writer.submit(finish)


def _json_bytes(data: dict[str, Any]) -> bytes:
    """Deterministic JSON (no timestamps): a re-render writes the same marker bytes."""
    return (json.dumps(data, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode()


# ---- the ledger ---------------------------------------------------------------------------
def _recipe_key(record: dict[str, Any]) -> str:
    """A record's recipe as text: everything but the run's measurements (seconds, and the
    machine, which the PNG leaves out too)."""
    recipe = {k: v for k, v in record.items() if k not in ("seconds", "environment")}
    return canonical_json(recipe)


def settled_pngs(project: Any, shot_id: str, results: Sequence[Generated]) -> list[bytes]:
    """The PNG bytes to write for each result: the bytes the ledger already recorded for
    this shot under the same recipe, else the new render's.

    A re-render on CUDA outside deterministic mode can differ from the first render by
    kernel choice alone (autotuning, atomics) while its recipe (prompt, seeds, batch index,
    model files, levers…) is the same. Recording it would add a second ``ai.generated``
    event, a second candidate, for what is one plate; writing the recorded bytes instead
    keeps the files and the ledger as an uninterrupted run left them. A recorded blob that
    is missing or altered is not reused (the new render is recorded then)."""
    recorded: dict[str, str] = {}
    for ev in project.ledger.events(shot=shot_id, kinds=(Kind.AI_GENERATED,)):
        record, sha = ev.payload.get("record"), ev.blobs.get("image")
        if isinstance(record, dict) and sha:
            recorded.setdefault(_recipe_key(record), sha)
    out = []
    for result in results:
        data = result.png()
        sha = recorded.get(_recipe_key(json.loads(result.record.to_json())))
        if sha is not None and sha != hashlib.sha256(data).hexdigest():
            kept, _problem = project.blobs.read_checked(sha, "png")
            data = kept if kept is not None else data
        out.append(data)
    return out


def record_shot(
    project: Any,
    shot: Shot,
    shot_list: ShotList,
    layout_bytes: bytes,
    results: Sequence[Generated],
    pngs: Sequence[bytes] | None = None,
) -> None:
    """Record the shot's layout (``layout.imported``, credited to its layout artist) and each
    variation (``ai.generated``, the first one becoming the plate), with their blobs.

    Idempotent: workflow keys each event on the shot and the blob's sha256, so a resumed
    batch that writes the same bytes again (:func:`settled_pngs`) adds no event.
    """
    from bgart.plates import acts as workflow

    _record_layout(project, shot, shot_list, layout_bytes)
    if shot.regions is not None:  # kept by sha256: regenerating the plates needs them
        from bgart.runs.regions import keep_region_files

        keep_region_files(project.blobs, shot.regions)  # the map, each region reference
    datas = list(pngs) if pngs is not None else [r.png() for r in results]
    for result, data in zip(results, datas, strict=True):
        workflow.record_generated(project, shot.id, data, result.record)


def _record_layout(project: Any, shot: Shot, shot_list: ShotList, layout_bytes: bytes) -> None:
    from bgart import plates as workflow

    rel = shot.layout.relative_to(shot_list.folder).as_posix()
    workflow.record_layout(project, shot.id, layout_bytes, shot.layout_artist, filename=rel)


def record_corrected_artists(
    project: Any, plans: Sequence[ShotPlan], shot_list: ShotList
) -> list[str]:
    """Shots already done keep their renders (the artist is not part of the done key), but
    a layout artist corrected in the list since is recorded all the same: a new
    ``layout.imported`` of the same layout under the corrected name, so the credits follow
    the list. Only where the ledger's current layout of the shot is this very layout (one
    imported later, e.g. in the UI, is left alone). Returns the shots changed."""
    current = {
        ev.shot: (ev.blobs.get("layout"), ev.actor)
        for ev in project.ledger.events(kinds=(Kind.LAYOUT_IMPORTED,))
    }
    changed = []
    for plan in plans:
        sha, artist = current.get(plan.shot.id, (None, None))
        if sha == plan.layout_sha256 and artist != plan.shot.layout_artist.strip():
            layout = read_user_file(plan.shot.layout, str(plan.shot.layout))
            _record_layout(project, plan.shot, shot_list, layout)
            changed.append(plan.shot.id)
    return changed


# ---- project --------------------------------------------------------------------------------
def resolve_project_dir(project: Path | None, settings: Settings) -> tuple[Path, bool]:
    """(folder, is_default): --project, else BGART_PROJECT_DIR, else the current folder when
    it is a project, else ./bgart-project (created on first use)."""
    if project is not None:
        return Path(project).expanduser().resolve(), False
    if settings.project_dir is not None:
        return Path(settings.project_dir).resolve(), False
    cwd = Path.cwd()
    if (cwd / PROJECT_FILE).is_file():
        return cwd, False
    return (cwd / DEFAULT_PROJECT).resolve(), True


def open_project(root: Path, dist: distributed.Dist, say: Callable[[str], None]) -> Any:
    """Open the project, creating it first (on the main process only) when missing."""
    from bgart.ledger import Project

    if dist.is_main and not (root / PROJECT_FILE).is_file():
        Project.init(root, exist_ok=True)
        say(f"created project {root}")
    dist.wait()
    return Project.open(root)


# ---- the batch ------------------------------------------------------------------------------
EngineFactory = Callable[[Settings, Callable[[str], None]], Any]


def _load_engine(settings: Settings, say: Callable[[str], None]) -> Engine:
    """The model, pulled first if this machine never had it. Under a launcher every rank
    asks: they take turns on the model store's lock, so one downloads and the rest find it
    (once per store: per machine, or once for a store shared by several)."""
    from bgart.generation import WeightsLock, pull_if_missing

    pull_if_missing(
        WeightsLock.load(settings.weights_lock), settings.model_store, settings.model, say
    )
    return Engine.load(settings, say=say)


def run_batch(
    opts: BatchOptions,
    reporter: Reporter | None = None,
    engine_factory: EngineFactory | None = None,
) -> BatchSummary:
    """Validate the list, then render this process's share of the pending shots.

    Under a launcher every process runs this; each loads the model once, renders its
    contiguous share of the shots that were not done when the run began, and the main
    process, after all have finished, writes the contact sheet and returns the summary.
    """
    reporter = reporter or QuietReporter()
    started = time.perf_counter()
    dist = distributed.setup(cpu=opts.cpu)
    try:
        return _run(opts, reporter, engine_factory or _load_engine, dist, started)
    finally:
        dist.close()


def _run(
    opts: BatchOptions,
    reporter: Reporter,
    engine_factory: EngineFactory,
    dist: distributed.Dist,
    started: float,
) -> BatchSummary:
    tag = dist.tag()

    def say(message: str) -> None:
        reporter.say(tag + message)

    overrides: dict[str, Any] = {"model": opts.model, "cpu_threads": distributed.worker_threads()}
    if opts.cpu:
        overrides["device"] = "cpu"
    if opts.steps is not None and not 1 <= opts.steps <= 150:
        raise InputError(f"--steps {opts.steps}: must be 1..150")
    pre = load_settings(None, **overrides)
    root, is_default = resolve_project_dir(opts.project, pre)
    if (root / PROJECT_FILE).is_file():
        pre = load_settings(root, **overrides)
    shot_list = load_shot_list(opts.shot_list, pre)  # every problem at once, before any work
    selected = shot_list.select(opts.only)
    if is_default and dist.is_main and not (root / PROJECT_FILE).is_file():
        say(f"no --project given: using {root}")
    project = open_project(root, dist, say)
    guard = contextlib.ExitStack()
    try:
        guard.enter_context(_one_batch(root, dist))
        settings = load_settings(root, **overrides)
        guard.enter_context(artboard.using(root, project, settings))
        plans = [
            plan_shot(s, shot_list, root, settings, settings.model, opts.steps) for s in selected
        ]
        pending = [p for p in plans if opts.force or not is_done(p)]
        pending, notes = reuse.settle(project, pending, opts, settings, say, dist.is_main)
        pending_ids = {p.shot.id for p in pending}
        already = [p.shot.id for p in plans if p.shot.id not in pending_ids]
        if dist.is_main:
            corrected = record_corrected_artists(
                project, [p for p in plans if p.shot.id not in pending_ids], shot_list
            )
            if corrected:
                say(
                    f"layout artist corrected in the ledger for {len(corrected)} shot(s) "
                    f"already done: {', '.join(corrected)}"
                )
        # Every rank has decided what is pending before any rank writes a marker.
        dist.wait()
        mine = dist.split(pending)
        if dist.is_main:
            say(
                f"{len(selected)} shot(s) in {shot_list.label}: {len(already)} already done, "
                f"{len(pending)} to render"
                + (f" on {dist.world} processes" if dist.distributed else "")
            )
        loads, engine = 0, None
        if mine:
            engine = engine_factory(settings, say)
            loads = 1
        dist.wait()  # every model loaded: the render phase starts together (for its timing)
        render_start = time.perf_counter()
        if mine:
            estimates = [_steps_estimate(p, shot_list, opts.steps) for p in mine]
            reporter.start(dist, len(mine), sum(estimates))
            try:
                render_shots(
                    engine,
                    project,
                    mine,
                    estimates,
                    shot_list,
                    opts.steps,
                    reporter,
                    say,
                    overlap=settings.overlap_writes,
                )
            finally:
                reporter.finish()
        dist.wait()  # all shots of all ranks are written and recorded
        render_seconds = time.perf_counter() - render_start
        rendered, failed = [], {}
        for plan in pending:
            if (plan.folder / DONE).is_file():
                rendered.append(plan.shot.id)
            else:
                marker = read_marker(plan.folder / FAILED) or {}
                failed[plan.shot.id] = str(marker.get("reason") or "did not finish")
        summary = BatchSummary(
            project=root,
            shot_list=shot_list.label,
            selected=[p.shot.id for p in plans],
            already_done=already,
            rendered=rendered,
            failed=failed,
            seconds=time.perf_counter() - started,
            render_seconds=render_seconds,
            model_loads=loads,
            rank=dist.rank,
            world=dist.world,
            artboard=artboard.summary(notes, root, shot_list, settings, opts.steps, dist),
        )
        if dist.is_main and opts.contact_sheet:
            summary.contact_html, summary.contact_pngs = write_sheet(
                root, shot_list, settings, opts.steps
            )
        dist.wait()  # nobody leaves (and tears the group down) before the sheet is written
        return summary
    finally:
        guard.close()
        close = getattr(project, "close", None)
        if close is not None:
            close()


BATCH_LOCK = ".bgart-batch.lock"


@contextlib.contextmanager
def _one_batch(root: Path, dist: distributed.Dist) -> Iterator[None]:
    """Refuse a second ``bgart batch`` on a project while one runs: both would render the
    same pending shots, each clearing the other's half-written folders.

    A lock file in the project, held for the whole run by a single process, or by the main
    process of a launched run on behalf of all its processes: it tells the others whether it
    got the lock, and they all stop together if not. So a second run is refused whether
    either of them is launched or not (a cron job started again while last night's launched
    batch still renders).
    """

    def busy() -> None:
        raise BgartError(
            f"{root}: another bgart batch is rendering into this project; "
            "wait for it to finish (several GPUs: one run under accelerate "
            "launch)"
        )

    with contextlib.ExitStack() as held:
        got = True
        if dist.is_main:
            try:
                held.enter_context(file_lock(root / BATCH_LOCK, busy=busy))
            except BgartError:
                if not dist.distributed:
                    raise
                got = False
        if not dist.from_main(got):
            busy()
        yield


# ---- contact sheet --------------------------------------------------------------------------
def sheet_entries(
    root: Path, shot_list: ShotList, settings: Settings, steps: int | None
) -> list[SheetShot]:
    """Every shot of the list as it stands on disk (not only this run's selection)."""
    entries: list[SheetShot] = []
    for shot in shot_list.shots:
        plan = plan_shot(shot, shot_list, root, settings, settings.model, steps)
        status, reason, files = "not rendered", None, []
        if is_done(plan):
            status, files = "done", plan.files
        elif (failed := read_marker(plan.folder / FAILED)) is not None:
            if failed.get("key") == plan.key:
                status, reason = "failed", str(failed.get("reason") or "failed")
            else:  # a failure of other inputs says nothing about these
                reason = "inputs changed since it failed"
        elif (plan.folder / DONE).is_file():
            reason = "inputs changed since it was rendered"
        entries.append(
            SheetShot(
                id=shot.id,
                prompt=shot.prompt,
                preset=shot.preset,
                width=shot.width,
                height=shot.height,
                layout=shot.layout,
                layout_artist=shot.layout_artist,
                notes=shot.notes,
                status=status,
                reason=reason,
                variations=list(zip(files, plan.seeds, strict=False)),
                line=shot.line,
            )
        )
    return entries


def write_sheet(
    root: Path, shot_list: ShotList, settings: Settings, steps: int | None
) -> tuple[Path, list[Path]]:
    """contact/<list stem>.html and .png in the project, for the whole list; returns the
    HTML and the PNG(s) written: ``<stem>.png``, or ``<stem>-p01.png``… on a long list."""
    folder = root / CONTACT_DIR
    stem = shot_list.source.stem
    # Temp files left by a killed run (atomic_write_bytes: .<name>.<random>.tmp), this
    # list's only: ".ep02.*" would also match those of a list named "ep02.v2".
    temp = re.compile(rf"\.{re.escape(stem)}(\.html|\.png|-p[0-9]{{2,}}\.png)\.[^.]+\.tmp")
    for stale in folder.glob(".*.tmp"):
        if temp.fullmatch(stale.name):
            stale.unlink(missing_ok=True)
    entries = sheet_entries(root, shot_list, settings, steps)
    entries = artboard.with_drift(root, shot_list, settings, entries)  # locations, drift
    title = f"{settings.production} — {shot_list.source.name}"
    subtitle = f"model {settings.model}" + (f", {steps} steps (draft)" if steps else "")
    html_path, png_path = folder / f"{stem}.html", folder / f"{stem}.png"
    written = write_contact_sheet(
        entries,
        title=title,
        subtitle=subtitle,
        html_path=html_path,
        png_path=png_path,
        project_root=root,
    )
    return html_path, [p for p in written if p != html_path]
