"""`bgart variant` on the tiny models: a shot's accepted, partly hand-painted plate becomes a
linked night plate; `ledger verify` passes and the credits follow the contribution rules
(the painter keeps exactly the stroke pixels the model left visibly unchanged: on the
random-weight tiny model, which repaints every pixel, none; the known answer with surviving
paint is tests/provenance/test_variant.py and tests/credits/test_variant_credits.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers.cli import run_in_process
from helpers.reliability import CliResult, assert_clean_error, run_cli
from PIL import Image, ImageDraw

from bgart import plates as wf
from bgart import provenance as c
from bgart.ledger import Project

SHOT = "EP05_C001"


def ok(result: CliResult) -> str:
    assert result.returncode == 0, result.show()
    return result.stdout + result.stderr


@pytest.fixture
def accepted(tiny_env: dict[str, str], tmp_path: Path) -> Path:
    """A project whose shot has an accepted plate, its left quarter painted by Mei."""
    env = tiny_env
    root = tmp_path / "show"
    ok(run_in_process(["init", str(root), "--production", "Night Show"], env))
    (tmp_path / "list").mkdir()
    layout = Image.new("RGB", (64, 64), (205, 200, 190))
    ImageDraw.Draw(layout).line((0, 60, 60, 10), fill=(60, 60, 60), width=2)
    layout.save(tmp_path / "list" / "l.png")
    generate = ["generate", "--layout", str(tmp_path / "list" / "l.png"), "--prompt"]
    generate += ["station square", "--preset", "street", "--width", "64", "--height", "64"]
    generate += ["--steps", "2", "--out", str(tmp_path / "c001.png")]
    ok(run_in_process([*generate, "--project", str(root), "--shot", SHOT], env))
    layer = np.zeros((64, 64, 4), np.uint8)
    layer[:, :16] = (250, 120, 30, 255)
    Image.fromarray(layer, "RGBA").save(tmp_path / "paint.png")
    paint = ["ledger", "import-paint", SHOT, "--layer", str(tmp_path / "paint.png")]
    ok(run_in_process([*paint, "--artist", "Kobayashi Mei", "-p", str(root)], env))
    director = ["users", "add", "Kei", "--role", "director", "--password-stdin", "-p", str(root)]
    ok(run_in_process(director, env, stdin="correct horse battery\n"))
    ok(run_in_process(["review", SHOT, "--by", "Kei", "--accept", "-p", str(root)], env))
    return root


def test_variant_makes_a_linked_night_plate_whose_credits_follow_the_rules(
    accepted: Path, tiny_env: dict[str, str], tmp_path: Path
) -> None:
    args = ["variant", "--shot", SHOT, "--time", "night", "--by", "Ren", "-p", str(accepted)]
    out = ok(run_in_process(args, tiny_env))
    assert "ai.variant" in out and "plate 'night' v1 from 'main'" in out
    ok(run_in_process(["ledger", "verify", "-p", str(accepted)], tiny_env))
    with Project.open(accepted) as project:
        ev = project.ledger.events(shot=SHOT, plate="night")[0]
        assert ev.payload["parent_plate"] == "main" and ev.payload["parent_version"] == 2
        record = ev.payload["record"]
        assert record["mode"] == "photo" and record["controlnet"]  # img2img + layout
        assert record["preset"] == "time/night" and "moonlight" in record["prompt"]
        assert record["prompt"].startswith("station square")  # the shot's own words kept
        parent = wf.plate_state(project, SHOT).image
        night = wf.plate_state(project, SHOT, plate="night")
        kept = ~c.visibly_different(parent, night.image)  # the model left these as they were
        expected = float(np.count_nonzero(kept[:, :16])) / (64 * 64)
        assert float(night.raster.human.mean()) == pytest.approx(expected)
    review = ["review", SHOT, "--plate", "night", "--by", "Kei", "--accept", "-p", str(accepted)]
    ok(run_in_process(review, tiny_env))  # the night plate is reviewed like any plate
    reports = tmp_path / "reports"
    credits = ["credits", "-p", str(accepted), "--format", "all", "--out", str(reports)]
    ok(run_in_process(credits, tiny_env))
    data = json.loads((reports / "credits.json").read_text(encoding="utf-8"))
    plates = {p["plate"]: p for p in data["plates"]}
    assert plates["main"]["human_paint_share"] == pytest.approx(0.25)  # the parent keeps its own
    assert plates["night"]["human_paint_share"] == pytest.approx(expected)
    mei = [x for x in plates["night"]["contributors"] if x["name"] == "Kobayashi Mei"]
    assert (mei[0]["human_paint_share"] if mei else 0.0) == pytest.approx(expected)
    signed = accepted / "exports" / "EP05" / f"{SHOT}__night.png"  # signed, with its PSD
    assert signed.is_file() and signed.with_suffix(".psd").is_file()
    again = ok(run_in_process(args, tiny_env))  # the same seed: the same image, nothing new
    assert "already recorded" in again


def test_variant_errors_are_one_line(accepted: Path, tiny_env: dict[str, str]) -> None:
    bad = run_cli(["variant", "--shot", SHOT, "--time", "dusk", "-p", str(accepted)], tiny_env)
    assert_clean_error(bad, "time of day 'dusk': not one of morning, day, evening, night")
    other = run_in_process(
        ["variant", "--shot", "EP05_C999", "--time", "night", "-p", str(accepted)], tiny_env
    )
    assert_clean_error(other, "shot EP05_C999: plate 'main' has not been accepted")
    with Project.open(accepted) as project:  # nothing recorded by either
        assert "night" not in wf.plate_names(project, SHOT)
