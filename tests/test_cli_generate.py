"""`bgart generate` / `regenerate` as a user runs them: real subprocesses, tiny model."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from bgart.record import read_record

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_cli(args: list[str], env: dict[str, str], cwd: Path | None = None
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bgart.cli", *args], capture_output=True, text=True,
        env={**os.environ, **env}, cwd=cwd, timeout=300,
    )


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """A grey-paper pencil scan, 3:2."""
    img = Image.new("RGB", (300, 200), (200, 198, 190))
    d = ImageDraw.Draw(img)
    d.line((0, 200, 150, 80), fill=(90, 90, 90), width=3)
    d.line((300, 200, 150, 80), fill=(90, 90, 90), width=3)
    d.rectangle((30, 40, 100, 150), outline=(80, 80, 80), width=2)
    path = tmp_path / "layout.jpg"
    img.save(path, quality=90)
    return path


def test_generate_writes_a_plate_that_regenerates_byte_for_byte(
        tiny_env: dict[str, str], layout: Path, tmp_path: Path) -> None:
    out = tmp_path / "plate.png"
    res = run_cli(["generate", "--layout", str(layout), "--prompt", "a shopping street",
                   "--preset", "street", "--seed", "5", "--steps", "3", "--width", "96",
                   "--height", "64", "--out", str(out)], tiny_env)
    assert res.returncode == 0, res.stderr
    assert "on cpu" in res.stderr  # the device used is named
    assert "3/3" in res.stderr  # progress over steps
    rec = read_record(out)
    assert rec.seed == 5 and rec.preset == "street" and "shopping street" in rec.prompt
    again = tmp_path / "again.png"
    res = run_cli(["regenerate", str(out), "--layout", str(layout), "--out", str(again),
                   "--check"], tiny_env)
    assert res.returncode == 0, res.stderr
    assert again.read_bytes() == out.read_bytes()


def test_variations_and_default_size_keep_the_layout_aspect(
        tiny_env: dict[str, str], tmp_path: Path) -> None:
    pan = tmp_path / "pan.png"
    Image.new("L", (600, 200), 210).save(pan)  # a 3:1 pan layout
    env = {**tiny_env, "BGART_WIDTH": "192", "BGART_HEIGHT": "64"}
    res = run_cli(["generate", "--layout", str(pan), "--prompt", "river", "--steps", "2",
                   "--variations", "2", "--out", str(tmp_path / "pan_plate.png")], env)
    assert res.returncode == 0, res.stderr
    v1, v2 = tmp_path / "pan_plate_v1.png", tmp_path / "pan_plate_v2.png"
    with Image.open(v1) as a, Image.open(v2) as b:
        assert a.size == b.size == (192, 64)
    assert v1.read_bytes() != v2.read_bytes()


def test_regenerate_refuses_the_wrong_layout(tiny_env: dict[str, str], layout: Path,
                                             tmp_path: Path) -> None:
    out = tmp_path / "p.png"
    assert run_cli(["generate", "--layout", str(layout), "--prompt", "x", "--steps", "2",
                    "--width", "64", "--height", "64", "--out", str(out)],
                   tiny_env).returncode == 0
    other = tmp_path / "other.png"
    Image.new("RGB", (64, 64), "white").save(other)
    res = run_cli(["regenerate", str(out), "--layout", str(other), "--out",
                   str(tmp_path / "r.png")], tiny_env)
    assert res.returncode != 0
    assert "not the layout" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--layout", "{missing}"], "no such file"),
        (["--layout", "{notimage}"], "not an image file"),
        (["--preset", "nosuchpreset"], "nosuchpreset"),
        (["--model", "nosuchmodel"], "unknown model 'nosuchmodel'"),
        (["--width", "100", "--height", "64"], "100"),
        (["--prompt", " "], "empty prompt"),
    ],
)
def test_bad_input_gives_one_clear_line(tiny_env: dict[str, str], layout: Path,
                                        tmp_path: Path, args: list[str], expected: str) -> None:
    notimage = tmp_path / "notes.png"
    notimage.write_text("this is not a PNG", encoding="utf-8")
    subs = {"{missing}": str(tmp_path / "missing.png"), "{notimage}": str(notimage)}
    args = [subs.get(a, a) for a in args]
    base = {"--layout": str(layout), "--prompt": "a street", "--out": str(tmp_path / "o.png"),
            "--steps": "2"}
    for i in range(0, len(args), 2):
        base[args[i]] = args[i + 1]
    argv = ["generate"] + [x for kv in base.items() for x in kv]
    res = run_cli(argv, tiny_env)
    assert res.returncode != 0
    assert "Traceback" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: ")
    assert expected in lines[0]
    assert not (tmp_path / "o.png").exists()
