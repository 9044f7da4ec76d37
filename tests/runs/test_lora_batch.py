"""A shot list's `lora` column from the command line: `bgart batch` renders and records the
shot with its LoRA, `bgart regenerate --check` makes the same bytes, and a changed LoRA
scale renders that shot again (and only that one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers.cli import run_in_process
from PIL import Image, ImageDraw

from bgart.generation import read_record

HEADER = "shot,layout,prompt,preset,width,height,variations,seed,layout_artist,lora\n"


def _write(folder: Path, scale: str) -> Path:
    (folder / "layouts").mkdir(parents=True, exist_ok=True)
    img = Image.new("RGB", (96, 96), (205, 200, 190))
    ImageDraw.Draw(img).rectangle((20, 20, 70, 80), outline=(60, 60, 60), width=3)
    img.save(folder / "layouts" / "l0.png")
    path = folder / "ep01.csv"
    path.write_text(
        HEADER
        + f'C001,layouts/l0.png,street at dusk,street,64,64,1,5,Sato,"tiny-lora-sd15:{scale}"\n'
        + "C002,layouts/l0.png,street at dusk,street,64,64,1,5,Sato,\n",
        encoding="utf-8",
    )
    return path


def test_batch_renders_a_shot_with_its_lora_and_it_regenerates(
    tiny_loras: dict[str, Any], tiny_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**tiny_env, "BGART_WEIGHTS_LOCK": str(tiny_loras["lock"])}
    shot_list = _write(tmp_path / "list", "0.8")
    project = tmp_path / "show"
    args = ["batch", str(shot_list), "--project", str(project), "--steps", "2"]
    res = run_in_process(args, env=env)
    assert res.returncode == 0, res.show()
    styled, plain = project / "shots/C001/v1.png", project / "shots/C002/v1.png"
    loras = read_record(styled).extra["loras"]
    assert [(x["name"], x["scale"]) for x in loras] == [("tiny-lora-sd15", 0.8)]
    assert "loras" not in read_record(plain).extra
    assert styled.read_bytes() != plain.read_bytes()  # same seed and prompt: the LoRA shows

    layout = tmp_path / "list" / "layouts" / "l0.png"
    again = run_in_process(
        [
            "regenerate",
            str(styled),
            "--out",
            str(tmp_path / "again.png"),
            "--layout",
            str(layout),
            "--check",
        ],
        env=env,
    )
    assert again.returncode == 0, again.show()
    assert "identical to the original, byte for byte" in again.stderr

    before = {p: p.read_bytes() for p in (styled, plain)}
    _write(tmp_path / "list", "0.4")
    rerun = run_in_process(args, env=env)
    assert rerun.returncode == 0, rerun.show()
    assert styled.read_bytes() != before[styled]  # a new scale: the shot is rendered again
    assert read_record(styled).extra["loras"][0]["scale"] == 0.4
    assert plain.read_bytes() == before[plain]


def test_generate_takes_loras_from_the_command_line(
    tiny_loras: dict[str, Any], tiny_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**tiny_env, "BGART_WEIGHTS_LOCK": str(tiny_loras["lock"])}
    _write(tmp_path, "1")
    base = ["generate", "--layout", str(tmp_path / "layouts" / "l0.png"), "--prompt", "street"]
    base += ["--width", "64", "--height", "64", "--steps", "2", "--delivery", "none"]
    res = run_in_process(
        [*base, "--out", str(tmp_path / "a.png"), "--lora", "tiny-lora-sd15:0.7"], env=env
    )
    assert res.returncode == 0, res.show()
    assert read_record(tmp_path / "a.png").extra["loras"][0]["scale"] == 0.7
    bad = run_in_process(
        [*base, "--out", str(tmp_path / "b.png"), "--lora", "tiny-lora-sd15:x"], env=env
    )
    assert bad.returncode != 0
    assert "--lora 'tiny-lora-sd15:x': LoRA 'tiny-lora-sd15': scale 'x' is not a" in bad.stderr
    assert not (tmp_path / "b.png").exists()
