"""The batch runner in-process with the tiny model: outputs, ledger, resume, --only, crash
safety at every write, out-of-memory handling, the contact sheet."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

import bgart.plates.acts as workflow_mod
import bgart.runs.batch as batch_mod
import bgart.runs.contact_sheet as sheet_mod
from bgart.errors import BgartError
from bgart.generation import OutOfMemory, read_record
from bgart.inputs import derive_seed
from bgart.runs.batch import BatchOptions, BatchSummary, QuietReporter, run_batch

HEADER = "shot,layout,prompt,preset,width,height,variations,seed,photo,layout_artist,notes\n"


def make_layout(path: Path, k: int) -> None:
    img = Image.new("RGB", (150, 100), (205, 200, 190))
    d = ImageDraw.Draw(img)
    d.line((0, 100, 75, 30 + 5 * k), fill=(80, 80, 80), width=2)
    d.line((150, 100, 75, 30 + 5 * k), fill=(80, 80, 80), width=2)
    d.rectangle((10 + 10 * k, 20, 50 + 10 * k, 80), outline=(70, 70, 70), width=2)
    img.save(path)


def write_list(folder: Path, rows: list[str], name: str = "ep01.csv") -> Path:
    (folder / "layouts").mkdir(parents=True, exist_ok=True)
    for k in range(4):
        make_layout(folder / "layouts" / f"l{k}.png", k)
    path = folder / name
    path.write_text(HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


ROWS = [
    "EP01_C001,layouts/l0.png,street at dusk,street,64,64,2,,,Sato Yuki,",
    "EP01_C002,layouts/l1.png,small bedroom,interior,64,64,1,500,,Tanaka Haruto,",
    "EP01_C003,layouts/l2.png,rice fields,countryside,96,64,2,,,Sato Yuki,pan",
]


@pytest.fixture
def factory(tiny_engine: Any) -> Iterator[Callable[..., Any]]:
    """An engine factory that hands out the session's tiny engine and counts loads."""
    calls: list[str] = []

    def make(settings: Any, say: Callable[[str], None]) -> Any:
        calls.append(settings.model)
        return tiny_engine

    make.calls = calls  # type: ignore[attr-defined]
    yield make


def run(shot_list: Path, project: Path, factory: Callable[..., Any], **kw: Any) -> BatchSummary:
    return run_batch(
        BatchOptions(shot_list=shot_list, project=project, steps=2, **kw), engine_factory=factory
    )


def files(root: Path) -> dict[str, bytes]:
    """Every file of a project but the database (its bytes hold timestamps)."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith("bgart.db")
    }


def events(root: Path) -> list[tuple[Any, ...]]:
    """The ledger's events without what differs between identical runs (ids, times,
    hashes, measured seconds)."""
    from bgart.ledger import Project

    with Project.open(root) as project:
        rows = project.ledger.events()
        project.ledger.verify_chain()
    out = []
    for e in rows:
        payload = json.loads(json.dumps(e.payload))
        if isinstance(payload.get("record"), dict):
            payload["record"].pop("seconds", None)
        out.append(
            (
                e.seq,
                e.kind,
                e.shot,
                e.plate,
                e.actor,
                e.actor_kind,
                tuple(sorted(e.blobs.items())),
                e.idem_key,
                json.dumps(payload, sort_keys=True),
            )
        )
    return out


@pytest.fixture
def clean(
    tmp_path_factory: pytest.TempPathFactory, tiny_settings: Any, factory: Callable[..., Any]
) -> tuple[Path, dict[str, bytes], list[tuple[Any, ...]]]:
    folder = tmp_path_factory.mktemp("clean")
    shot_list = write_list(folder / "list", ROWS[:2])
    root = folder / "proj"
    summary = run(shot_list, root, factory)
    assert summary.ok and summary.rendered == ["EP01_C001", "EP01_C002"]
    return shot_list, files(root), events(root)


def test_batch_writes_plates_records_and_events(
    tmp_path: Path, tiny_settings: Any, factory: Callable[..., Any]
) -> None:
    shot_list = write_list(tmp_path / "list", ROWS)
    root = tmp_path / "proj"
    summary = run(shot_list, root, factory)
    assert summary.ok and summary.exit_code == 0
    assert summary.rendered == ["EP01_C001", "EP01_C002", "EP01_C003"]
    assert factory.calls == ["tiny-sd15"]  # type: ignore[attr-defined]  # one model load
    production = (root / "bgart.toml").read_text().split('"')[1]
    # plates: v1..vN, each carrying its record; seeds derived or as listed
    for shot, n, first in (
        ("EP01_C001", 2, derive_seed(production, "EP01_C001")),
        ("EP01_C002", 1, 500),
        ("EP01_C003", 2, derive_seed(production, "EP01_C003")),
    ):
        folder = root / "shots" / shot
        pngs = sorted(p.name for p in folder.glob("v*.png"))
        assert pngs == [f"v{i + 1}.png" for i in range(n)]
        for i in range(n):
            rec = read_record(folder / f"v{i + 1}.png")
            assert rec.seed == first + i and rec.seeds == tuple(first + j for j in range(n))
            assert rec.steps == 2 and rec.model == "tiny-sd15"
        done = json.loads((folder / "done.json").read_text())
        assert sorted(done["files"]) == pngs and done["seeds"][0] == first
    with Image.open(root / "shots" / "EP01_C003" / "v1.png") as img:
        assert img.size == (96, 64)
    # ledger: the layout credited to its artist, then one ai.generated per variation
    evs = events(root)
    kinds = [(e[1], e[2], e[4]) for e in evs]
    assert kinds[:3] == [
        ("layout.imported", "EP01_C001", "Sato Yuki"),
        ("ai.generated", "EP01_C001", "tiny-sd15"),
        ("ai.generated", "EP01_C001", "tiny-sd15"),
    ]
    assert len(evs) == 3 + 2 + 3
    gen_blobs = {dict(e[6])["image"] for e in evs if e[1] == "ai.generated"}
    import hashlib

    on_disk = {hashlib.sha256(p.read_bytes()).hexdigest() for p in (root / "shots").rglob("v*.png")}
    assert gen_blobs == on_disk
    # contact sheet: every shot, self-contained
    page = (root / "contact" / "ep01.html").read_text(encoding="utf-8")
    for shot in ("EP01_C001", "EP01_C002", "EP01_C003"):
        assert f'id="{shot}"' in page
    assert page.count("data:image/jpeg;base64,") == 3 + 5  # layouts + variations
    assert 'src="http' not in page and 'src="../' not in page
    assert "Tanaka Haruto" in page and f"seed {500}" in page
    with Image.open(root / "contact" / "ep01.png") as sheet:
        assert sheet.width > 400 and sheet.height > 3 * 160


def test_rerun_skips_done_shots_and_force_rewrites_the_same_bytes(
    clean: tuple[Path, dict[str, bytes], list[tuple[Any, ...]]],
    tmp_path: Path,
    factory: Callable[..., Any],
) -> None:
    shot_list, _files, _events = clean
    root = tmp_path / "proj"
    run(shot_list, root, factory)
    before_files, before_events = files(root), events(root)
    factory.calls.clear()  # type: ignore[attr-defined]
    again = run(shot_list, root, factory)
    assert again.rendered == [] and again.already_done == ["EP01_C001", "EP01_C002"]
    assert again.model_loads == 0 and factory.calls == []  # type: ignore[attr-defined]
    forced = run(shot_list, root, factory, force=True)
    assert forced.rendered == ["EP01_C001", "EP01_C002"]
    assert files(root) == before_files  # deterministic: identical bytes
    assert events(root) == before_events  # idempotent: no new event


def test_only_filters_and_changed_inputs_rerender(
    tmp_path: Path, tiny_settings: Any, factory: Callable[..., Any]
) -> None:
    shot_list = write_list(tmp_path / "list", ROWS)
    root = tmp_path / "proj"
    summary = run(shot_list, root, factory, only=["EP01_C00[23]"])
    assert summary.selected == ["EP01_C002", "EP01_C003"]
    assert summary.rendered == ["EP01_C002", "EP01_C003"]
    assert not (root / "shots" / "EP01_C001").exists()
    page = (root / "contact" / "ep01.html").read_text(encoding="utf-8")
    assert "1 not rendered" in page  # the sheet covers the whole list
    summary = run(shot_list, root, factory)
    assert summary.rendered == ["EP01_C001"]
    assert summary.already_done == ["EP01_C002", "EP01_C003"]
    # an edited prompt makes that shot's plates outdated: it is rendered again, alone
    text = shot_list.read_text().replace("small bedroom", "small bedroom at night")
    shot_list.write_text(text)
    summary = run(shot_list, root, factory)
    assert summary.rendered == ["EP01_C002"]
    assert "at night" in read_record(root / "shots" / "EP01_C002" / "v1.png").prompt
    with pytest.raises(Exception, match="matches no shot"):
        run(shot_list, root, factory, only=["EP09*"])


class Crash(BaseException):
    """Stands in for SIGKILL: nothing after it runs, no handler catches it."""


def test_a_crash_at_any_write_then_resume_gives_the_clean_result(
    clean: tuple[Path, dict[str, bytes], list[tuple[Any, ...]]],
    tmp_path: Path,
    factory: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Kill points: inside every atomic write (temp file written, not renamed) and right
    after every ledger commit. After each, a re-run must end exactly like a clean run."""
    shot_list, clean_files, clean_events = clean
    state = {"n": 0, "crash_at": -1}
    real_write = batch_mod.atomic_write_bytes

    def tick() -> bool:
        state["n"] += 1
        return state["n"] == state["crash_at"]

    def write(path: Path, data: bytes) -> None:
        if tick():  # die mid-write: half a temp file beside the target, no rename
            path.parent.mkdir(parents=True, exist_ok=True)
            (path.parent / f".{path.name}.dead.tmp").write_bytes(data[: len(data) // 2])
            raise Crash
        real_write(path, data)

    def after(fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*a: Any, **kw: Any) -> Any:
            out = fn(*a, **kw)
            if tick():
                raise Crash
            return out

        return wrapped

    monkeypatch.setattr(batch_mod, "atomic_write_bytes", write)
    monkeypatch.setattr(sheet_mod, "atomic_write_bytes", write)
    monkeypatch.setattr(workflow_mod, "record_layout", after(workflow_mod.record_layout))
    monkeypatch.setattr(workflow_mod, "record_generated", after(workflow_mod.record_generated))
    run(shot_list, tmp_path / "count" / "proj", factory)
    points = state["n"]
    assert points >= 10  # 3 PNGs + 2 markers + 2 layouts + 3 candidates + sheet (2)
    for k in range(1, points + 1):
        root = tmp_path / f"k{k}" / "proj"  # same folder name: same production, same seeds
        state.update(n=0, crash_at=k)
        with pytest.raises(Crash):
            run(shot_list, root, factory)
        state.update(n=0, crash_at=-1)
        run(shot_list, root, factory)
        assert files(root) == clean_files, f"crash at write {k}"
        assert events(root) == clean_events, f"crash at write {k}"


class FlakyEngine:
    """Out of GPU memory: shots whose prompt says 'huge' never fit; others fit only once
    low-memory mode is on."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.low = False
        self.calls: list[tuple[str, int, bool]] = []

    def enable_low_memory(self) -> None:
        self.low = True

    def generate(self, req: Any, progress: Any = None) -> Any:
        self.calls.append((req.prompt.split(",")[0], len(req.seeds), self.low))
        if "huge" in req.prompt or not self.low:
            raise OutOfMemory("out of GPU memory on cuda (simulated)")
        return self.real.generate(req, progress)


def test_out_of_memory_retries_then_fails_the_shot_and_goes_on(
    tmp_path: Path, tiny_settings: Any, tiny_engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [
        "EP01_C001,layouts/l0.png,street,street,64,64,2,,,Sato,",
        "EP01_C002,layouts/l1.png,huge room,interior,64,64,2,,,Sato,",
        "EP01_C003,layouts/l2.png,fields,countryside,64,64,1,,,Sato,",
    ]
    shot_list = write_list(tmp_path / "list", rows)
    engine = FlakyEngine(tiny_engine)
    summary = run(shot_list, tmp_path / "proj", lambda s, say: engine)
    assert summary.rendered == ["EP01_C001", "EP01_C003"]
    assert list(summary.failed) == ["EP01_C002"] and summary.exit_code == 4
    assert "out of memory" in summary.failed["EP01_C002"]
    assert engine.calls == [
        ("street", 2, False),
        ("street", 2, True),  # batched, then batched in low memory
        ("huge room", 2, True),
        ("huge room", 1, True),  # low memory stays on; then one
        # variation at a time; the first one fails: the shot fails, the batch goes on
        ("fields", 1, True),
    ]
    root = tmp_path / "proj"
    done = json.loads((root / "shots" / "EP01_C001" / "done.json").read_text())
    assert done["retried"] == "offload + VAE tiling"
    failed = json.loads((root / "shots" / "EP01_C002" / "failed.json").read_text())
    assert "out of memory" in failed["reason"]
    assert not list((root / "shots" / "EP01_C002").glob("v*.png"))
    page = (root / "contact" / "ep01.html").read_text(encoding="utf-8")
    assert "Failed shots" in page and "simulated" in page
    # once the shot is edited in the list, its old failure is not shown as its state
    from bgart.inputs import load_shot_list
    from bgart.settings import load_settings

    edited = write_list(tmp_path / "edited", [rows[0], rows[1].replace("huge", "tiny"), rows[2]])
    settings = load_settings(root)
    entries = batch_mod.sheet_entries(root, load_shot_list(edited, settings), settings, 2)
    entry = next(e for e in entries if e.id == "EP01_C002")
    assert (entry.status, entry.reason) == ("not rendered", "inputs changed since it failed")
    # the CLI says so in its exit code; a later run retries the failed shot
    from bgart.cli import main

    monkeypatch.setattr(batch_mod, "_load_engine", lambda s, say: engine)
    assert main(["batch", str(shot_list), "--project", str(root), "--steps", "2"]) == 4
    assert engine.calls[-1] == ("huge room", 1, True)
    monkeypatch.setattr(batch_mod, "_load_engine", lambda s, say: tiny_engine)
    assert main(["batch", str(shot_list), "--project", str(root), "--steps", "2"]) == 0
    assert (root / "shots" / "EP01_C002" / "done.json").is_file()
    assert not (root / "shots" / "EP01_C002" / "failed.json").exists()


def test_a_corrected_layout_artist_reaches_the_ledger_without_a_rerender(
    tmp_path: Path, tiny_settings: Any, factory: Callable[..., Any]
) -> None:
    from bgart.ledger import Project
    from bgart.verify import verify_project

    shot_list = write_list(tmp_path / "list", ROWS[1:2])
    root = tmp_path / "proj"
    run(shot_list, root, factory)
    shot_list.write_text(
        HEADER + ROWS[1].replace("Tanaka Haruto", "Tanaka Haruko") + "\n", encoding="utf-8"
    )
    for _again in range(2):
        said: list[str] = []
        summary = run_batch(
            BatchOptions(shot_list=shot_list, project=root, steps=2),
            QuietReporter(said.append),
            engine_factory=factory,
        )
        assert summary.already_done == ["EP01_C002"] and summary.rendered == []
        corrected = [m for m in said if "layout artist corrected" in m]
        assert len(corrected) == (1 - _again) and (not corrected or "EP01_C002" in corrected[0])
    assert len(factory.calls) == 1  # type: ignore[attr-defined]  # rendered once only
    with Project.open(root) as project:
        layouts = project.ledger.events(shot="EP01_C002", kinds=("layout.imported",))
        assert [e.actor for e in layouts] == ["Tanaka Haruto", "Tanaka Haruko"]
        verify_project(project)


class Watcher(QuietReporter):
    """A reporter that lets a test act at a shot's render steps."""

    def __init__(self, on_step: Callable[[str, int], None]) -> None:
        super().__init__()
        self.on_step = on_step
        self.shot = ""
        self.started: list[str] = []
        self.steps: dict[str, int] = {}
        self.finished: list[tuple[str, str]] = []

    def shot_started(self, shot: Any, steps: int) -> None:
        self.shot = shot.id
        self.started.append(shot.id)

    def step(self, done: int, total: int) -> None:
        self.steps[self.shot] = self.steps.get(self.shot, 0) + 1
        self.on_step(self.shot, self.steps[self.shot])

    def shot_finished(self, outcome: Any) -> None:
        self.finished.append((outcome.shot, outcome.status))


def test_the_next_shot_renders_while_the_last_one_is_written(
    clean: tuple[Path, dict[str, bytes], list[tuple[Any, ...]]],
    tmp_path: Path,
    factory: Callable[..., Any],
) -> None:
    """The GPU does not idle while a shot's PNGs are written and recorded: here another
    program holds the ledger while shot 1 is being recorded, and shot 2 renders from its
    first step to its last meanwhile. The files and events are those of a plain run."""
    import sqlite3
    import threading

    shot_list, clean_files, clean_events = clean
    root = tmp_path / "proj"
    holder: dict[str, Any] = {}
    seen: list[bool] = []  # at each of shot 2's steps: was shot 1 done?

    def release() -> None:
        conn = holder.pop("conn", None)
        if conn is not None:
            conn.rollback()
            conn.close()

    def on_step(shot: str, n: int) -> None:
        if shot == "EP01_C001" and n == 1:  # before shot 1 is written: take the ledger
            conn = sqlite3.connect(root / "bgart.db", timeout=30, check_same_thread=False)
            conn.execute("BEGIN EXCLUSIVE")
            holder["conn"] = conn
            holder["timer"] = threading.Timer(20, release)  # a regression fails, not hangs
            holder["timer"].start()
        elif shot == "EP01_C002":
            seen.append((root / "shots" / "EP01_C001" / "done.json").exists())
            if n == 2:  # its last step
                release()

    watcher = Watcher(on_step)
    summary = run_batch(
        BatchOptions(shot_list=shot_list, project=root, steps=2), watcher, engine_factory=factory
    )
    holder["timer"].cancel()
    assert summary.rendered == ["EP01_C001", "EP01_C002"]
    assert seen == [False, False]  # shot 2 rendered whole while shot 1 waited to be recorded
    assert watcher.finished == [("EP01_C001", "done"), ("EP01_C002", "done")]
    assert files(root) == clean_files
    assert events(root) == clean_events


def test_writing_one_after_the_other_gives_the_same_result(
    clean: tuple[Path, dict[str, bytes], list[tuple[Any, ...]]],
    tmp_path: Path,
    factory: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shot_list, clean_files, clean_events = clean
    monkeypatch.setenv("BGART_OVERLAP_WRITES", "0")
    root = tmp_path / "proj"
    seen: list[bool] = []

    def on_step(shot: str, n: int) -> None:
        if shot == "EP01_C002":
            seen.append((root / "shots" / "EP01_C001" / "done.json").exists())

    assert run_batch(
        BatchOptions(shot_list=shot_list, project=root, steps=2),
        Watcher(on_step),
        engine_factory=factory,
    ).ok
    assert seen == [True, True]  # the setting is honoured: shot 1 was written first
    assert files(root) == clean_files
    assert events(root) == clean_events


def test_a_shot_that_cannot_be_written_stops_the_batch_with_one_clear_line(
    clean: tuple[Path, dict[str, bytes], list[tuple[Any, ...]]],
    tmp_path: Path,
    factory: Callable[..., Any],
) -> None:
    """A file that cannot be written (a full disk; here a folder made where shot 1's first
    PNG goes) stops the batch within a step of the next shot's render, names the file, and
    marks nothing done; once the way is clear the same command ends like a plain run."""
    import time

    from bgart.errors import OutputError

    shot_list, clean_files, clean_events = clean
    root = tmp_path / "proj"
    in_the_way = root / "shots" / "EP01_C001" / "v1.png"

    def on_step(shot: str, n: int) -> None:
        if shot == "EP01_C001" and n == 1:
            in_the_way.mkdir()
        elif shot == "EP01_C002" and n == 1:
            time.sleep(0.5)  # ample time for shot 1's write to fail meanwhile

    watcher = Watcher(on_step)
    with pytest.raises(
        OutputError,
        match=rf"^EP01_C001: cannot write {in_the_way} \(Is a "
        r"directory\); the batch stopped. Shots done so far are kept",
    ) as err:
        run_batch(
            BatchOptions(shot_list=shot_list, project=root, steps=2),
            watcher,
            engine_factory=factory,
        )
    assert err.value.exit_code == 5
    assert watcher.steps["EP01_C001"] == 2
    assert watcher.steps.get("EP01_C002", 0) <= 1  # shot 2 stopped at its next step
    assert watcher.started == ["EP01_C001", "EP01_C002"] and watcher.finished == []
    assert not list((root / "shots").rglob("done.json"))
    assert not list((root / "shots").rglob("*.tmp"))
    in_the_way.rmdir()
    assert run(shot_list, root, factory).rendered == ["EP01_C001", "EP01_C002"]
    assert files(root) == clean_files
    assert events(root) == clean_events


def test_a_second_batch_on_a_running_project_is_refused(
    tmp_path: Path, tiny_settings: Any, factory: Callable[..., Any]
) -> None:
    """Two batches on one project would render the same shots and clear each other's
    folders: while one runs (here: holds the project's batch lock), another is refused."""
    import fcntl
    import subprocess
    import sys

    shot_list = write_list(tmp_path / "list", ROWS[1:2])
    root = tmp_path / "proj"
    run(shot_list, root, factory, contact_sheet=False)
    holder = subprocess.Popen(  # a process that has the lock, as a running batch does
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time; "
            "fd = os.open(sys.argv[1], os.O_RDWR); fcntl.flock(fd, fcntl.LOCK_EX); "
            "print('held', flush=True); time.sleep(60)",
            str(root / batch_mod.BATCH_LOCK),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(BgartError, match="another bgart batch is rendering into"):
            run(shot_list, root, factory, force=True)
    finally:
        holder.kill()
        holder.wait()
    assert len(factory.calls) == 1  # type: ignore[attr-defined]  # nothing rendered twice
    fd = os.open(root / batch_mod.BATCH_LOCK, os.O_RDWR)
    try:  # and the refused run did not leave the lock taken
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)
    assert run(shot_list, root, factory, force=True).rendered == ["EP01_C002"]


def test_invalid_list_renders_nothing(
    tmp_path: Path, tiny_settings: Any, factory: Callable[..., Any]
) -> None:
    from bgart.inputs import ShotListError

    shot_list = write_list(tmp_path / "list", [ROWS[0], ROWS[0].replace("l0.png", "zz.png")])
    with pytest.raises(ShotListError) as info:
        run(shot_list, tmp_path / "proj", factory)
    assert f"{shot_list}:3: field 'shot': duplicate" in str(info.value)
    assert f"{shot_list}:3: field 'layout'" in str(info.value)
    assert factory.calls == []  # type: ignore[attr-defined]
    assert not (tmp_path / "proj").exists()


def test_default_project_is_created_in_the_current_folder(
    tmp_path: Path, tiny_settings: Any, factory: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    shot_list = write_list(tmp_path / "list", ROWS[1:2])
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("BGART_PROJECT_DIR", raising=False)
    summary = run_batch(BatchOptions(shot_list=shot_list, steps=1), engine_factory=factory)
    assert summary.project == work / "bgart-project"
    assert (work / "bgart-project" / "shots" / "EP01_C002" / "done.json").is_file()
    assert os.path.exists(work / "bgart-project" / "bgart.toml")


def test_a_fresh_machine_pulls_the_pinned_model_before_the_first_shot(
    tiny_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No model in the store yet: the batch pulls it (sha256-verified) and renders; a model
    that is present but altered is refused by name, not silently downloaded again."""
    store = tmp_path / "empty-store"
    monkeypatch.setenv("BGART_WEIGHTS_LOCK", str(tiny_root / "weights.lock"))
    monkeypatch.setenv("BGART_MODEL_STORE", str(store))
    monkeypatch.setenv("BGART_MODEL", "tiny-sd15")
    monkeypatch.setenv("BGART_CPU_THREADS", "1")
    shot_list = write_list(tmp_path / "list", ROWS[:1])
    said: list[str] = []

    class Say(QuietReporter):
        def say(self, message: str) -> None:
            said.append(message)

    summary = run_batch(
        BatchOptions(shot_list=shot_list, project=tmp_path / "p1", steps=2), reporter=Say()
    )
    assert summary.rendered == ["EP01_C001"] and summary.model_loads == 1
    assert any("tiny-sd15: not pulled on this machine yet" in m for m in said)
    assert any("tiny-controlnet-sd15: not pulled" in m for m in said)

    weights = next((store / "tiny-sd15").rglob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-1] + b"\0")
    with pytest.raises(BgartError, match=r"tiny-sd15.*" + weights.name):
        run_batch(BatchOptions(shot_list=shot_list, project=tmp_path / "p2", steps=2))


def test_the_sheet_png_prints_japanese_text_as_letters() -> None:
    """A Japanese prompt, note or artist name on the sheet's PNG: letters, not empty boxes
    (Pillow's own font has no Japanese glyphs; every one of them drew the same box)."""
    from bgart.runs.contact_sheet import _font

    font = _font(20)  # the font bgart ships: no system font needed
    drawn = {bytes(font.getmask(ch)) for ch in "背景佐藤"}
    assert len(drawn) == 4


def test_the_sheet_pages_are_printed_and_other_lists_sheets_are_left_alone(
    tmp_path: Path,
    tiny_settings: Any,
    tiny_engine: Any,
    factory: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A long list's PNG sheet is split into pages: the summary prints those files (not a
    ``<list>.png`` that does not exist), and the clean-up of old pages removes only this
    list's own ``<stem>-pNN.png``, never the sheet of a list whose name starts the same."""
    from bgart.cli import main

    folder, root = tmp_path / "list", tmp_path / "proj"
    for name in ("ep01-pickups.csv", "ep01-p07.csv"):  # other lists, rendered first
        run(write_list(folder, ROWS[1:2], name=name), root, factory)
    contact = root / "contact"
    others = {p.name: p.read_bytes() for p in contact.iterdir()}
    assert {"ep01-pickups.png", "ep01-p07.png"} <= set(others)
    (contact / ".ep01.v2.png.abc123.tmp").write_bytes(b"another list, mid-write")
    (contact / ".ep01.png.dead.tmp").write_bytes(b"this list, killed mid-write")
    shot_list = write_list(folder, ROWS)
    monkeypatch.setattr(batch_mod, "_load_engine", lambda s, say: tiny_engine)

    def batch() -> list[Path]:
        capsys.readouterr()
        assert main(["batch", str(shot_list), "--project", str(root), "--steps", "2"]) == 0
        lines = capsys.readouterr().err.splitlines()
        start = next(i for i, line in enumerate(lines) if line.startswith("contact sheet: "))
        return [Path(line.split(": ", 1)[-1].strip()) for line in lines[start:]]

    monkeypatch.setattr(sheet_mod, "PNG_ROWS_PER_PAGE", 2)  # 3 shots: 2 pages
    printed = batch()
    assert printed == [contact / "ep01.html", contact / "ep01-p01.png", contact / "ep01-p02.png"]
    assert all(p.is_file() for p in printed) and not (contact / "ep01.png").exists()
    assert {p.name: p.read_bytes() for p in contact.iterdir() if p.name in others} == others
    assert (contact / ".ep01.v2.png.abc123.tmp").exists()
    assert not (contact / ".ep01.png.dead.tmp").exists()
    monkeypatch.setattr(sheet_mod, "PNG_ROWS_PER_PAGE", 40)  # one page again
    assert batch() == [contact / "ep01.html", contact / "ep01.png"]
    assert not list(contact.glob("ep01-p0[12].png"))
    assert {p.name: p.read_bytes() for p in contact.iterdir() if p.name in others} == others


class OtherKernels:
    """The same engine on a GPU that picked other kernels this time: every image differs in
    one pixel's last bit, every record (the recipe) is the same."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.pngs: list[bytes] = []

    def generate(self, req: Any, progress: Any = None) -> Any:
        from bgart.generation import Generated

        out = []
        for g in self.real.generate(req, progress):
            img = g.image.copy()
            r, gr, b = img.getpixel((0, 0))
            img.putpixel((0, 0), (r ^ 1, gr, b))
            out.append(Generated(img, g.record))
            self.pngs.append(out[-1].png())
        return out


def test_a_resumed_shot_that_differs_only_by_kernel_choice_records_no_second_event(
    tmp_path: Path, tiny_settings: Any, tiny_engine: Any, factory: Callable[..., Any]
) -> None:
    shot_list = write_list(tmp_path / "list", ROWS[:2])
    root = tmp_path / "proj"
    run(shot_list, root, factory)
    before_files, before_events = files(root), events(root)
    # killed after the ledger commit, before done.json: the shot is rendered again
    (root / "shots" / "EP01_C001" / "done.json").unlink()
    other = OtherKernels(tiny_engine)
    summary = run(shot_list, root, lambda s, say: other)
    assert summary.rendered == ["EP01_C001"]
    assert len(other.pngs) == 2  # both variations rendered again, each with other bytes
    assert not {p for p in other.pngs} & {before_files["shots/EP01_C001/v1.png"]}
    assert events(root) == before_events  # no second ai.generated, no second candidate
    assert files(root) == before_files  # the recorded bytes, as an uninterrupted run left
    # forced, the same: one plate per recipe, whatever kernels ran
    forced = run(shot_list, root, lambda s, say: other, force=True)
    assert forced.rendered == ["EP01_C001", "EP01_C002"]
    assert events(root) == before_events and files(root) == before_files
