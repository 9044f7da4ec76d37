"""Two processes appending at once must still make one valid chain (SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from helpers.images import generated_png, noise_plate

from bgart import plates as wf
from bgart.ledger import Project
from bgart.verify import verify_project

PER_PROCESS = 500

WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from bgart import plates as wf
    from bgart.ledger.store import Project

    root, who, count, go = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    with Project.open(root) as project:
        project.ledger.count()  # connect before the start line
        while not go.exists():
            time.sleep(0.005)
        for i in range(count):
            act = wf.accept if i % 2 else wf.reject
            act(project, "ep01_c001", who, f"{who} {i}")
    """
)


@pytest.mark.slow
def test_two_processes_appending_keep_one_chain(project: Project, tmp_path: Path) -> None:
    png, rec = generated_png(noise_plate(16, 16))
    wf.record_generated(project, "ep01_c001", png, rec)
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(project.root), who, str(PER_PROCESS), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for who in ("writer-a", "writer-b")
    ]
    time.sleep(0.5)
    start = time.monotonic()
    go.touch()
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
    elapsed = time.monotonic() - start
    assert project.ledger.count() == 1 + 2 * PER_PROCESS
    report = verify_project(project)
    assert report.events == 1 + 2 * PER_PROCESS
    events = project.ledger.events(kinds=("plate.accepted", "plate.rejected"))
    for who in ("writer-a", "writer-b"):
        mine = [ev.payload["comment"] for ev in events if ev.actor == who]
        assert mine == [f"{who} {i}" for i in range(PER_PROCESS)]  # each in its own order
    actors = [ev.actor for ev in events]
    switches = sum(1 for a, b in itertools.pairwise(actors) if a != b)
    assert switches > 10, "the writers never interleaved: the test did not test concurrency"
    print(
        f"{project.ledger.dialect}: {2 * PER_PROCESS} appends from 2 processes in {elapsed:.1f} s "
        f"({switches} interleavings)"
    )


PAINTER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import numpy as np
    from bgart import plates as wf
    from bgart.ledger.store import Project

    root, count, go = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    with Project.open(root) as project:
        go.touch()
        for i in range(count):
            layer = np.zeros((16, 16, 4), np.uint8)
            layer[i % 16, :] = (i % 256, 0, 255, 255)
            wf.record_paint(project, "ep01_c001", layer, "painter")  # a new version row
            wf.accept(project, "ep01_c001", "director", f"take {i}")
    """
)


@pytest.mark.slow
def test_verify_while_another_process_paints_never_raises_a_false_alarm(
    project: Project, tmp_path: Path
) -> None:
    """verify runs again and again while another process records paint (events and version
    rows): every run passes, checking the ledger as it was when that run started."""
    png, rec = generated_png(noise_plate(16, 16))
    wf.record_generated(project, "ep01_c001", png, rec)
    go = tmp_path / "go"
    painter = subprocess.Popen(
        [sys.executable, "-c", PAINTER, str(project.root), "150", str(go)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    while not go.exists() and painter.poll() is None:
        time.sleep(0.01)
    runs = []
    while painter.poll() is None:
        runs.append(verify_project(project, workers=1).events)
    _, err = painter.communicate(timeout=300)
    assert painter.returncode == 0, err[-3000:]
    assert len(set(runs)) > 2, "verify never ran while the painter wrote: nothing was tested"
    assert verify_project(project).events == 1 + 2 * 150
