"""`bgart batch` as real processes: SIGKILL mid-batch then resume, and a 2-process CPU run
through `accelerate launch --multi_gpu` that must match a 1-process run byte for byte (the
reference run and the resume go through the same entry point in the test process)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from helpers.cli import run_in_process
from PIL import Image, ImageDraw

pytestmark = pytest.mark.slow

SHOTS = ["EP01_C001", "EP01_C002", "EP01_C003", "EP01_C004"]
HEADER = "shot,layout,prompt,preset,width,height,variations,seed,photo,layout_artist,notes\n"
ROWS = [
    "EP01_C001,layouts/l0.png,street at dusk,street,64,64,2,,,Sato Yuki,",
    "EP01_C002,layouts/l1.png,small bedroom,interior,64,64,2,,,Tanaka Haruto,",
    "EP01_C003,layouts/l2.png,rice fields,countryside,96,64,2,,,Sato Yuki,",
    "EP01_C004,layouts/l3.png,river at night,night,64,64,2,77,,Kobayashi Mei,",
]


def write_list(folder: Path) -> Path:
    (folder / "layouts").mkdir(parents=True)
    for k in range(4):
        img = Image.new("RGB", (150, 100), (205, 200, 190))
        d = ImageDraw.Draw(img)
        d.line((0, 100, 75, 30 + 5 * k), fill=(80, 80, 80), width=2)
        d.rectangle((10 + 10 * k, 20, 50 + 10 * k, 80), outline=(70, 70, 70), width=2)
        img.save(folder / "layouts" / f"l{k}.png")
    path = folder / "ep01.csv"
    path.write_text(HEADER + "".join(r + "\n" for r in ROWS), encoding="utf-8")
    return path


def batch_args(shot_list: Path, project: Path) -> list[str]:
    return ["batch", str(shot_list), "--project", str(project), "--steps", "2"]


def files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith("bgart.db")
    }


def events(root: Path) -> list[tuple[Any, ...]]:
    """Events without ids, times, hashes and measured seconds; the chain must verify."""
    from bgart.ledger import Project

    with Project.open(root) as project:
        project.ledger.verify_chain()
        rows = project.ledger.events()
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
                e.actor,
                tuple(sorted(e.blobs.items())),
                e.idem_key,
                json.dumps(payload, sort_keys=True),
            )
        )
    return out


@pytest.fixture(scope="module")
def clean_run(
    tiny_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """One uninterrupted 1-process run (1 torch thread): the reference. It runs in this
    process: the runs compared with it are separate processes, so both ways agree."""
    folder = tmp_path_factory.mktemp("batch-clean")
    shot_list = write_list(folder / "list")
    root = folder / "a" / "proj"
    res = run_in_process(batch_args(shot_list, root), tiny_env)
    assert res.returncode == 0, res.show()
    assert "4 shot(s): 4 rendered, 0 already done, 0 failed" in res.stderr
    assert "model loaded once" in res.stderr
    return shot_list, root


def test_sigkill_mid_batch_then_resume_equals_a_clean_run(
    clean_run: tuple[Path, Path], tiny_env: dict[str, str], tmp_path: Path
) -> None:
    shot_list, clean_root = clean_run
    root = tmp_path / "b" / "proj"  # same folder name: same production, same seeds
    proc = subprocess.Popen(
        [sys.executable, "-m", "bgart.cli", *batch_args(shot_list, root)],
        env={**os.environ, **tiny_env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    first = root / "shots" / SHOTS[0] / "done.json"
    deadline = time.monotonic() + 120
    while not first.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    assert first.exists(), "the first shot was never written"
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    done = [s for s in SHOTS if (root / "shots" / s / "done.json").exists()]
    assert len(done) < len(SHOTS), "the batch finished before the kill: nothing was tested"
    for png in (root / "shots").rglob("v*.png"):  # never a partial PNG under its real name
        with Image.open(png) as img:
            img.load()
    res = run_in_process(batch_args(shot_list, root), tiny_env)  # the resume: no new process
    assert res.returncode == 0, res.show()
    assert f"{len(done)} already done" in res.stderr
    assert files(root) == files(clean_root)
    assert events(root) == events(clean_root)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch(shot_list: Path, root: Path) -> list[str]:
    """`bgart batch` under `accelerate launch`, two CPU processes."""
    accelerate = Path(sys.executable).parent / "accelerate"
    return [
        str(accelerate),
        "launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(free_port()),
        "-m",
        "bgart.cli",
        *batch_args(shot_list, root),
    ]


def test_two_processes_render_each_shot_once_and_match_one_process(
    clean_run: tuple[Path, Path], tiny_env: dict[str, str], tmp_path: Path
) -> None:
    """On a machine that never had the model: the two ranks pull it once between them."""
    from bgart.generation import WeightsLock, verify

    shot_list, clean_root = clean_run
    root = tmp_path / "c" / "proj"
    store = tmp_path / "fresh-store"
    cmd = launch(shot_list, root)
    env = {**os.environ, **tiny_env, "BGART_MODEL_STORE": str(store)}
    env.pop("CUDA_VISIBLE_DEVICES", None)
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout + res.stderr
    assert out.count("not pulled on this machine yet; pulling it now") == 2, out  # +ControlNet
    lock = WeightsLock.load(Path(tiny_env["BGART_WEIGHTS_LOCK"]))
    assert verify(lock, store) == []
    rendered = re.findall(r"\[rank (\d)/2\] (EP01_C\d+): 2 variation", out)
    assert sorted(s for _r, s in rendered) == SHOTS, out  # every shot, exactly once
    assert {r for r, _s in rendered} == {"0", "1"}, out  # on both processes
    assert "on 2 processes" in out and "model loaded once per process" in out
    assert out.count("contact sheet:") == 1  # the main process writes it, once
    assert files(root) == files(clean_root)  # byte-identical to the 1-process run
    a, b = events(root), events(clean_root)
    assert Counter(e[1:] for e in a) == Counter(e[1:] for e in b)  # same events, any order


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, from /proc (children, their children, ...)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def test_a_second_launched_batch_on_a_project_a_launched_batch_renders_is_refused(
    clean_run: tuple[Path, Path], tiny_env: dict[str, str], tmp_path: Path
) -> None:
    """Last night's launched batch still renders (here: stopped mid-run, lock held) when
    the same launched command starts again: every process of the second run stops with
    one line, nothing is rendered twice, and the first ends as if alone."""
    import fcntl

    shot_list, clean_root = clean_run
    root = tmp_path / "d" / "proj"
    env = {**os.environ, **tiny_env}
    env.pop("CUDA_VISIBLE_DEVICES", None)
    first = subprocess.Popen(
        launch(shot_list, root),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lock = root / ".bgart-batch.lock"
    deadline = time.monotonic() + 120
    held = False
    while not held and first.poll() is None and time.monotonic() < deadline:
        if lock.exists():
            fd = os.open(lock, os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(fd, fcntl.LOCK_UN)
            except BlockingIOError:
                held = True
            finally:
                os.close(fd)
        time.sleep(0.01)
    assert held, "the first run never held the project's batch lock"
    tree = [first.pid, *descendants(first.pid)]  # the launcher starts its workers apart
    for pid in tree:  # every process of the first run stops, lock and all
        os.kill(pid, signal.SIGSTOP)
    try:
        second = subprocess.run(
            launch(shot_list, root), capture_output=True, text=True, env=env, timeout=300
        )
    finally:
        for pid in tree:
            os.kill(pid, signal.SIGCONT)
    out = second.stdout + second.stderr
    assert second.returncode != 0, out  # the launcher's own code for a failed worker
    assert out.count("another bgart batch is rendering into this project") == 2, out  # both
    assert "variation(s) in" not in out, out  # the second run rendered nothing
    rest, _ = first.communicate(timeout=300)
    assert first.returncode == 0, rest
    assert files(root) == files(clean_root)
    assert Counter(e[1:] for e in events(root)) == Counter(e[1:] for e in events(clean_root))
