"""BGART_TEST_MODEL=1, the README's one switch: commands that run a model use the tiny test
model offline and say plainly that its images are noise; others are left alone."""

from __future__ import annotations

import io
from pathlib import Path

from helpers.cli import run_in_process
from helpers.ui import layout_png
from PIL import Image


def test_the_switch_runs_generate_offline_on_the_tiny_model(tmp_path: Path) -> None:
    layout = tmp_path / "layout.png"
    layout.write_bytes(layout_png(128, 96))
    out = tmp_path / "plate.png"
    env = {"BGART_MODEL_STORE": str(tmp_path / "store"), "BGART_CPU_THREADS": "1"}
    args = ["generate", "--layout", str(layout), "--prompt", "quiet street", "--out", str(out)]
    args += ["--width", "64", "--height", "64", "--steps", "2"]

    without = run_in_process(args, env)  # offline, no weights: refused, as before
    assert without.returncode != 0 and not out.exists(), without.show()
    assert "anime-sd15: not pulled" in without.stdout + without.stderr

    done = run_in_process(args, {**env, "BGART_TEST_MODEL": "1"})
    assert done.returncode == 0, done.show()
    said = done.stdout + done.stderr
    assert "BGART_TEST_MODEL=1" in said and "noise, not art" in said
    img = Image.open(io.BytesIO(out.read_bytes()))
    assert img.size == (64, 64) and "tiny-sd15" in img.info["bgart"]

    other = run_in_process(["weights", "list"], {**env, "BGART_TEST_MODEL": "1"})
    assert "BGART_TEST_MODEL" not in other.stdout + other.stderr  # no model run: no note
