"""`bgart demo` on a machine with no weights and no hub: the README's first command."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.cli import run_in_process


def test_demo_falls_back_to_the_tiny_model_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "BGART_MODEL_STORE": str(tmp_path / "store"),
        "BGART_CPU_THREADS": "1",
    }
    for key in ("BGART_WEIGHTS_LOCK", "BGART_MODEL"):
        env.pop(key, None)
    res = subprocess.run(
        [sys.executable, "-m", "bgart.cli", "demo", "--out", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr
    assert "real weights for 'anime-sd15' are not available" in res.stderr
    assert "noise, not art" in res.stderr
    project = tmp_path / "demo"
    shots = sorted(p.name for p in (project / "shots").iterdir())
    assert shots == ["EP01_C001", "EP01_C002", "EP01_C003", "EP01_C004"]
    for shot in shots:
        assert (project / "shots" / shot / "done.json").is_file()
        assert sorted(p.name for p in (project / "shots" / shot).glob("v*.png")) == [
            "v1.png",
            "v2.png",
        ]
    assert (project / "contact" / "shots.html").is_file()
    # ready for `bgart ui --project demo`: two logins whose passwords were printed once,
    # and the project's own settings name the tiny model (the UI runs offline without
    # the switch)
    passwords = dict(re.findall(r"(demo-\w+)\s+\(\w+\s*\) password: (\S+)", res.stderr))
    assert sorted(passwords) == ["demo-artist", "demo-director"], res.stderr
    assert f"bgart ui --project {project}" in res.stderr
    from bgart.ui.server import plan

    from bgart.ledger import Project
    from bgart.settings import load_settings

    with Project.open(project) as proj:
        for name, role in (("demo-director", "director"), ("demo-artist", "artist")):
            user = proj.ledger.user(name)
            assert user is not None and user.role == role
            assert proj.ledger.check_password(name, passwords[name])
    for key in ("BGART_MODEL", "BGART_MODEL_STORE", "BGART_WEIGHTS_LOCK"):
        monkeypatch.delenv(key, raising=False)
    assert load_settings(project).model == "tiny-sd15"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    plan(project, port=port).project.close()  # `bgart ui` would start: users can log in
    # run again (in this process: the separate process above is the README's command)
    again = run_in_process(
        ["demo", "--out", str(project)],
        {key: env[key] for key in ("BGART_MODEL_STORE", "BGART_CPU_THREADS")},
        cwd=tmp_path,
    )
    assert again.returncode == 0, again.show()
    assert "4 already done, 0 to render" in again.stderr
    assert "password:" not in again.stderr  # printed once only
    assert "demo-director and demo-artist already exist" in again.stderr
