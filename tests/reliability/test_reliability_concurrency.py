"""Issue 8, concurrency: two artists saving the same shot at once keep both versions, in
order, on a valid chain (threads of one UI process, and two UI processes); a batch and the
UI writing one ledger at the same time leave it consistent. SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from helpers.reliability import clean_env, png_bytes_of
from PIL import Image

from bgart import plates as wf
from bgart.ledger import Project
from bgart.verify import verify_project

SHOT = "EP01_C001"
W, H = 64, 32
ARTISTS = {"Mika": (200, 30, 30), "Sato": (30, 30, 200)}
ROUNDS = 8


class Req:
    """What Gradio hands a handler: the logged-in user."""

    def __init__(self, username: str) -> None:
        self.username = username


def _project(root: Path, db: str | None) -> Project:
    project = Project.init(root, production="Busy Show", db_url=db)
    for name in ARTISTS:
        project.ledger.add_user(name, "artist")
    wf.record_layout(project, SHOT, png_bytes_of(W, H), "Sato", filename="l.png")
    wf.record_base(
        project, SHOT, Image.new("RGB", (W, H), (128, 128, 128)), "Sato", origin="layout"
    )
    return project


def _stroke(artist: str, i: int) -> Image.Image:
    """Artist Mika paints the left half, Sato the right; each save one new 4x4 square."""
    layer = np.zeros((H, W, 4), np.uint8)
    x0 = (0 if artist == "Mika" else W // 2) + 4 * (i % 8)
    y0 = 4 * (i // 8)
    layer[y0 : y0 + 4, x0 : x0 + 4] = (*ARTISTS[artist], 255)
    return Image.fromarray(layer, "RGBA")


def _check_both_kept(project: Project, saves: dict[str, list[int]], base_versions: int) -> None:
    verify_project(project)  # chain, blobs, every raster recomputed from the blobs
    versions = wf.plate_versions(project, SHOT)
    assert [v.number for v in versions] == list(range(1, len(versions) + 1))
    assert len(versions) == base_versions + sum(len(v) for v in saves.values())
    paints = project.ledger.events(shot=SHOT, kinds=("human.painted",))
    for artist, numbers in saves.items():
        mine = [ev for ev in paints if ev.actor == artist]
        assert [ev.payload["version"] for ev in mine] == numbers  # their order, all kept
        assert numbers == sorted(numbers)
    for ev in paints:  # each save built on the version right before it: nothing overwritten
        assert ev.payload["base_version"] == ev.payload["version"] - 1
    final = np.asarray(wf.plate_state(project, SHOT).image)
    for artist, colour in ARTISTS.items():  # every stroke of both artists is in the plate
        for i in range(len(saves[artist])):
            x0 = (0 if artist == "Mika" else W // 2) + 4 * (i % 8)
            y0 = 4 * (i // 8)
            assert tuple(final[y0 + 1, x0 + 1]) == colour


def test_two_artists_saving_one_shot_at_once_in_the_ui(
    backend: str, db_url: str | None, tmp_path: Path
) -> None:
    """Gradio runs each request's handler in its own thread: two saves land together."""
    from bgart.ui.handlers import Studio

    project = _project(tmp_path / "show", db_url)
    studio = Studio(project)
    barrier = threading.Barrier(2)
    saves: dict[str, list[int]] = {a: [] for a in ARTISTS}
    errors: list[BaseException] = []

    def artist(name: str) -> None:
        try:
            for i in range(ROUNDS):
                editor = {"background": None, "layers": [_stroke(name, i)], "composite": None}
                barrier.wait(timeout=60)  # both press Save at the same moment
                rec = studio.save_paint(Req(name), SHOT, editor, [time.time() - 5])
                saves[name].append(int(rec.version or 0))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=artist, args=(n,)) for n in ARTISTS]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    _check_both_kept(project, saves, base_versions=1)
    project.close()


SAVER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import numpy as np
    from PIL import Image
    from bgart.ledger.store import Project
    from bgart.ui.handlers import Studio

    root, who, rounds, go = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    colour = {"Mika": (200, 30, 30), "Sato": (30, 30, 200)}[who]

    class Req:
        username = who

    with Project.open(root) as project:
        studio = Studio(project)
        project.ledger.count()
        go.with_name(go.name + "." + who).touch()  # ready: imported and connected
        while not go.exists():
            time.sleep(0.002)
        for i in range(rounds):
            layer = np.zeros((32, 64, 4), np.uint8)
            x0 = (0 if who == "Mika" else 32) + 4 * (i % 8)
            y0 = 4 * (i // 8)
            layer[y0:y0 + 4, x0:x0 + 4] = (*colour, 255)
            editor = {"background": None, "layers": [Image.fromarray(layer, "RGBA")],
                      "composite": None}
            rec = studio.save_paint(Req(), "EP01_C001", editor, [])
            print(rec.version, flush=True)
    """
)


@pytest.mark.slow
def test_two_ui_processes_saving_one_shot_at_once(
    backend: str, db_url: str | None, tmp_path: Path
) -> None:
    """Two UI servers on one project (e.g. two machines on one PostgreSQL): the ledger's
    chain lock, not a process lock, keeps the versions in one line."""
    _project(tmp_path / "show", db_url).close()
    go = tmp_path / "go"
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-c", SAVER, str(tmp_path / "show"), name, str(ROUNDS * 2), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(),
        )
        for name in ARTISTS
    }
    # both started together only once both are ready (imports take seconds on a busy machine)
    ready = [go.with_name(go.name + "." + name) for name in ARTISTS]
    give_up = time.monotonic() + 300  # a hang fails the test instead of stalling the suite
    while not all(r.exists() for r in ready):
        for name, proc in procs.items():
            if proc.poll() is not None:
                raise AssertionError(
                    f"{name}'s process ended early: {proc.communicate()[1][-3000:]}"
                )
        assert time.monotonic() < give_up, "the saving processes never got ready"
        time.sleep(0.01)
    go.touch()
    saves = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        saves[name] = [int(v) for v in out.split()]
    with Project.open(tmp_path / "show") as project:
        _check_both_kept(project, saves, base_versions=1)
    interleaved = sorted((v, n) for n, vs in saves.items() for v in vs)
    switches = sum(1 for a, b in itertools.pairwise(interleaved) if a[1] != b[1])
    assert switches >= 2, "the two processes never interleaved: nothing was tested"


BATCH_SHOTS = 6


@pytest.mark.slow
def test_batch_and_ui_writing_one_ledger_at_once(
    backend: str, db_url: str | None, tiny_env: dict[str, str], tmp_path: Path
) -> None:
    from bgart.ui.handlers import Studio

    project = _project(tmp_path / "show", db_url)
    folder = tmp_path / "list"
    folder.mkdir()
    (folder / "l.png").write_bytes(png_bytes_of(96, 64, seed=9))
    rows = "".join(
        f"EP03_C{i:03d},l.png,river {i},Kobayashi,64,64,2,{i}\n" for i in range(BATCH_SHOTS)
    )
    (folder / "ep03.csv").write_text(
        "shot,layout,prompt,layout_artist,width,height,variations,seed\n" + rows, encoding="utf-8"
    )
    batch = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bgart.cli",
            "batch",
            str(folder / "ep03.csv"),
            "--project",
            str(tmp_path / "show"),
            "--steps",
            "2",
            "--cpu",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(tiny_env),
    )
    studio = Studio(project)
    saves: dict[str, list[int]] = {"Mika": [], "Sato": []}
    deadline = time.monotonic() + 120
    while (
        batch.poll() is None
        and time.monotonic() < deadline
        and not project.ledger.events(kinds=("layout.imported",), shot="EP03_C000")
    ):
        time.sleep(0.01)  # the batch has started recording
    i = 0
    while batch.poll() is None and i < 2 * 8 * 4:
        name = ("Mika", "Sato")[i % 2]
        editor = {
            "background": None,
            "layers": [_stroke(name, len(saves[name]))],
            "composite": None,
        }
        rec = studio.save_paint(Req(name), SHOT, editor, [])
        saves[name].append(int(rec.version or 0))
        i += 1
    _, err = batch.communicate(timeout=300)
    assert batch.returncode == 0, err[-3000:]
    _check_both_kept(project, saves, base_versions=1)
    events = project.ledger.events()
    batch_seqs = [e.seq for e in events if e.kind == "ai.generated"]
    ui_seqs = [e.seq for e in events if e.kind == "human.painted"]
    assert any(min(batch_seqs) < s < max(batch_seqs) for s in ui_seqs), (
        "the UI never saved while the batch was recording: nothing was tested"
    )
    assert len([e for e in events if e.kind == "ai.generated"]) == 2 * BATCH_SHOTS
    assert len([e for e in events if e.kind == "layout.imported"]) == 1 + BATCH_SHOTS
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    project.close()
