"""Issue 8, crash safety: a real SIGKILL of a real process at seeded random moments — during
ledger appends, during UI saves, during batch writes — then restart: nothing saved is lost,
nothing partial is visible, and `bgart ledger verify` passes."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from helpers.cli import run_in_process
from helpers.reliability import clean_env, png_bytes_of
from PIL import Image

from bgart import plates as wf
from bgart.ledger import Project
from bgart.verify import verify_project

pytestmark = pytest.mark.slow

SHOT = "EP01_C001"
W, H = 48, 32

# Appends acts in a loop; prints one line per act AFTER it returned (i.e. was committed).
WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from bgart import plates as wf
    from bgart.ledger.store import Project

    root, mode = sys.argv[1], sys.argv[2]
    rng = np.random.default_rng(int(sys.argv[3]))
    with Project.open(root) as project:
        studio = None
        if mode == "ui":
            from PIL import Image
            from bgart.ui.handlers import Studio

            class Req:
                def __init__(self, name):
                    self.username = name

            studio = Studio(project)
        print("ready", flush=True)
        for i in range(100000):
            who = ("Mika", "Sato")[i % 2]
            layer = np.zeros((32, 48, 4), np.uint8)
            y, x = rng.integers(0, 28), rng.integers(0, 40)
            layer[y:y + 4, x:x + 8] = (*rng.integers(0, 256, 3), 255)
            if mode == "ui":
                editor = {"background": None, "layers": [Image.fromarray(layer, "RGBA")],
                          "composite": None}
                rec = studio.save_paint(Req(who), "EP01_C001", editor, [0.0])
            elif i % 3 == 2:
                rec = wf.submit(project, "EP01_C001", who, f"round {i}")
            else:
                rec = wf.record_paint(project, "EP01_C001", layer, who, 1.5,
                                      idem_key=f"act-{sys.argv[3]}-{i}")
            print(f"saved {rec.seq} {rec.kind} {who}", flush=True)
    """
)


def _start_project(root: Path, db: str | None) -> None:
    with Project.init(root, production="Crash Show", db_url=db) as project:
        for name in ("Mika", "Sato"):
            project.ledger.add_user(name, "artist")
        wf.record_layout(project, SHOT, png_bytes_of(W, H), "Sato", filename="l.png")
        wf.record_base(
            project, SHOT, Image.new("RGB", (W, H), (120, 130, 140)), "Sato", origin="layout"
        )


def _kill_at_random(root: Path, mode: str, seed: int) -> list[tuple[int, str, str]]:
    """Run the writer, SIGKILL it a seeded random time after its first commit; returns the
    acts it reported as saved."""
    delay = random.Random(seed).uniform(0.05, 0.8)
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(root), mode, str(seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
        bufsize=1,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("saved"):
            break
    assert lines and lines[-1].startswith("saved"), (
        lines,
        proc.stderr.read() if proc.poll() is not None else "",
    )
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    rest, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, err
    saved = []
    for line in [*lines, *rest.splitlines(keepends=True)]:
        if line.startswith("saved") and line.endswith("\n"):  # a cut line was not reported
            _, seq, kind, who = line.split()
            saved.append((int(seq), kind, who))
    assert len(saved) >= 1
    return saved


def _check_nothing_lost(project: Project, reported: list[tuple[int, str, str]]) -> None:
    report = verify_project(project)  # chain, blobs, every raster recomputed
    events = {ev.seq: ev for ev in project.ledger.events()}
    assert report.events == len(events)
    for seq, kind, who in reported:  # every act the writer was told was saved is there
        assert seq in events, f"saved event #{seq} lost"
        assert (events[seq].kind, events[seq].actor) == (kind, who)
    # At most one act committed after the last line the writer printed.
    assert max(events) <= max(s for s, _k, _w in reported) + 1
    for sha in project.blobs:  # every visible blob is whole
        assert project.blobs.check(sha) is None


def _kill_rounds(root: Path, mode: str, seeds: list[int]) -> None:
    reported: list[tuple[int, str, str]] = []
    for seed in seeds:
        reported += _kill_at_random(root, mode, seed)
        with Project.open(root) as project:  # restart: everything saved so far is there
            _check_nothing_lost(project, reported)
            versions = wf.plate_versions(project, SHOT)
            assert [v.number for v in versions] == list(range(1, len(versions) + 1))
    res = run_in_process(["ledger", "verify", "--project", str(root)])
    assert res.returncode == 0 and res.stdout.startswith("ledger ok"), res.show()


def test_sigkill_during_ledger_appends_loses_nothing_saved(
    backend: str, db_url: str | None, tmp_path: Path
) -> None:
    root = tmp_path / "show"
    _start_project(root, db_url)
    _kill_rounds(root, "ledger", [7 + (backend == "postgresql"), 24, 41])


def test_sigkill_during_ui_saves_loses_nothing_saved(tmp_path: Path) -> None:
    """The UI's save handler (the code a Gradio request runs), killed mid-save."""
    root = tmp_path / "show"
    _start_project(root, None)
    _kill_rounds(root, "ui", [1001, 1018])


# --- the batch ------------------------------------------------------------------------------

N_SHOTS = 10
HEADER = "shot,layout,prompt,layout_artist,width,height,variations,seed\n"


def _shot_list(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "l.png").write_bytes(png_bytes_of(96, 64, seed=5))
    rows = [f"EP02_C{i:03d},l.png,street {i},Sato,64,64,2,{i}\n" for i in range(N_SHOTS)]
    path = folder / "ep02.csv"
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    return path


def _batch_args(shot_list: Path, root: Path) -> list[str]:
    return [
        "-m",
        "bgart.cli",
        "batch",
        str(shot_list),
        "--project",
        str(root),
        "--steps",
        "2",
        "--cpu",
    ]


def _check_batch_folder(root: Path) -> int:
    """Every done shot is whole; no partial file under a real name; returns shots done."""
    done = 0
    for folder in sorted((root / "shots").glob("*")):
        for png in folder.glob("v*.png"):
            with Image.open(png) as img:
                img.load()
        marker = folder / "done.json"
        if marker.exists():
            data = json.loads(marker.read_text())
            for name, sha in data["files"].items():
                assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == sha
            done += 1
    return done


def test_sigkill_during_batch_writes_then_resume(tiny_env: dict[str, str], tmp_path: Path) -> None:
    shot_list = _shot_list(tmp_path / "list")
    root = tmp_path / "proj"
    env = clean_env(tiny_env)
    killed_mid = 0
    for seed in (3, 11):
        proc = subprocess.Popen(
            [sys.executable, *_batch_args(shot_list, root)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 120
        started = root / "shots"
        while not started.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(random.Random(seed).uniform(0.0, 0.6))
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)
        done = _check_batch_folder(root)
        killed_mid += done < N_SHOTS
        with Project.open(root) as project:
            verify_project(project)  # the ledger is consistent after every kill
    assert killed_mid, "every batch finished before its kill: nothing was tested"
    # the resume (through the same entry point, in this process: the kills are the point)
    res = run_in_process(_batch_args(shot_list, root)[2:], tiny_env)
    assert res.returncode == 0, res.show()
    assert _check_batch_folder(root) == N_SHOTS
    assert not [p for p in (root / "shots").rglob("*") if p.name.endswith(".tmp")]
    with Project.open(root) as project:
        verify_project(project)
        events = project.ledger.events()
    gens = [ev for ev in events if ev.kind == "ai.generated"]
    layouts = [ev for ev in events if ev.kind == "layout.imported"]
    assert len(gens) == 2 * N_SHOTS, "a resumed shot was recorded twice (or lost)"
    assert len({ev.shot for ev in layouts}) == N_SHOTS == len(layouts)
    cli = run_in_process(["ledger", "verify", "--project", str(root)])
    assert cli.returncode == 0, cli.show()
