"""`bgart refine` on the tiny models (issue 21 item 4): a 64 px plate, a quarter painted by
hand, refined to 256 px by the model; the painter's quarter stays a quarter (the paint is
kept: the tiny random model repaints every other pixel), and `ledger verify` replays it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers.cli import run_in_process
from helpers.reliability import CliResult
from PIL import Image, ImageDraw

from bgart import plates as wf
from bgart.events import Kind
from bgart.ledger import Project

SHOT = "EP06_C001"


def ok(result: CliResult) -> str:
    assert result.returncode == 0, result.show()
    return result.stdout + result.stderr


@pytest.fixture
def painted(tiny_env: dict[str, str], tmp_path: Path) -> Path:
    """A project whose shot's plate (64x64, tiny model) has its left quarter painted."""
    env = tiny_env
    root = tmp_path / "show"
    ok(run_in_process(["init", str(root), "--production", "Refine Show"], env))
    layout = Image.new("RGB", (64, 64), (205, 200, 190))
    ImageDraw.Draw(layout).line((0, 60, 60, 10), fill=(60, 60, 60), width=2)
    layout.save(tmp_path / "l.png")
    generate = ["generate", "--layout", str(tmp_path / "l.png"), "--prompt", "harbour"]
    generate += ["--width", "64", "--height", "64", "--steps", "2"]
    generate += ["--out", str(tmp_path / "c001.png"), "--project", str(root), "--shot", SHOT]
    ok(run_in_process(generate, env))
    layer = np.zeros((64, 64, 4), np.uint8)
    layer[:, :16] = (250, 120, 30, 255)
    Image.fromarray(layer, "RGBA").save(tmp_path / "paint.png")
    paint = ["ledger", "import-paint", SHOT, "--layer", str(tmp_path / "paint.png")]
    ok(run_in_process([*paint, "--artist", "Mei", "-p", str(root)], env))
    return root


def test_refine_keeps_the_painted_quarter_at_four_times_the_size(
    painted: Path, tiny_env: dict[str, str]
) -> None:
    args = ["refine", "--shot", SHOT, "--delivery", "256x256", "--by", "Ren", "-p", str(painted)]
    args += ["--strength", "0.5"]
    out = ok(run_in_process(args, tiny_env))
    assert "ai.refined" in out
    with Project.open(painted) as project:
        figs = wf.plate_figures(project, SHOT)
        ev = project.ledger.events(shot=SHOT)[-1]
    assert ev.kind == Kind.AI_REFINED and ev.payload["record"]["mode"] == "refine"
    assert (figs["width"], figs["height"]) == (256, 256)
    assert figs["human_paint_share"] == pytest.approx(0.25, abs=0.005)
    ok(run_in_process(["ledger", "verify", "-p", str(painted)], tiny_env))


def test_refine_without_keeping_the_paint_and_a_bad_size(
    painted: Path, tiny_env: dict[str, str]
) -> None:
    bad = run_in_process(
        ["refine", "--shot", SHOT, "--delivery", "250x250", "-p", str(painted)], tiny_env
    )
    assert bad.returncode != 0 and "--delivery" in bad.stdout + bad.stderr
    with Project.open(painted) as project:
        before = len(project.ledger.events(shot=SHOT))
        w, h = wf.plate_figures(project, SHOT)["width"], wf.plate_figures(project, SHOT)["height"]
    wide = f"{w * 2}x{h}"  # the plate's aspect is not kept: refused before the model runs
    odd = run_in_process(
        ["refine", "--shot", SHOT, "--delivery", wide, "-p", str(painted)], tiny_env
    )
    said = odd.stdout + odd.stderr
    assert odd.returncode != 0 and f"--delivery {wide}: aspect" in said and "the plate's is" in said
    assert "refining shot" not in said
    huge = f"{w * 20}x{h * 20}"
    far = run_in_process(
        ["refine", "--shot", SHOT, "--delivery", huge, "-p", str(painted)], tiny_env
    )
    assert far.returncode != 0 and "more than 16x the plate's" in far.stdout + far.stderr
    with Project.open(painted) as project:
        assert len(project.ledger.events(shot=SHOT)) == before  # nothing recorded
    args = [
        "refine",
        "--shot",
        SHOT,
        "--delivery",
        "128",
        "--no-keep-human-paint",
        "--strength",
        "0.5",
    ]
    ok(run_in_process([*args, "-p", str(painted)], tiny_env))
    with Project.open(painted) as project:
        figs = wf.plate_figures(project, SHOT)
    assert (figs["width"], figs["height"]) == (128, 128)
    assert figs["human_paint_share"] < 0.25  # the random model repainted the stroke
    ok(run_in_process(["ledger", "verify", "-p", str(painted)], tiny_env))
