"""The whole production path through the real `bgart` command line:

init → batch from a shot list → outside paint imported → director review → credits (all
formats) → the signed plate verifies. What a production manager runs for an episode.

The steps run through the real entry point (``bgart.cli.main``) in this process; the two
verifies at the end run in a fresh process, which sees only what the steps left on disk.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from helpers.cli import run_in_process
from helpers.reliability import CliResult, run_cli_many
from PIL import Image, ImageDraw

pytestmark = pytest.mark.slow

SHOTS = ["EP01_C001", "EP01_C002"]


def bgart(args: list[str], env: dict[str, str], stdin: str = "") -> CliResult:
    return run_in_process(args, env, stdin=stdin)


def ok(result: CliResult) -> str:
    assert result.returncode == 0, result.show()
    return result.stdout + result.stderr


def write_list(folder: Path) -> Path:
    (folder / "layouts").mkdir(parents=True)
    for k in range(2):
        img = Image.new("RGB", (120, 120), (205, 200, 190))
        d = ImageDraw.Draw(img)
        d.line((0, 110, 60, 20 + 10 * k), fill=(70, 70, 70), width=2)
        img.save(folder / "layouts" / f"l{k}.png")
    path = folder / "ep01.csv"
    path.write_text(
        "shot,layout,prompt,preset,width,height,variations,layout_artist\n"
        "EP01_C001,layouts/l0.png,street at dusk,street,64,64,2,Sato Yuki\n"
        "EP01_C002,layouts/l1.png,small bedroom,interior,64,64,1,Tanaka Haruto\n",
        encoding="utf-8",
    )
    return path


def test_episode_from_shot_list_to_signed_credits(tiny_env: dict[str, str], tmp_path: Path) -> None:
    env = {**tiny_env, "BGART_CPU_THREADS": "1"}
    project = tmp_path / "show"
    ok(bgart(["init", str(project), "--production", "Night Train"], env))
    shot_list = write_list(tmp_path / "list")
    out = ok(bgart(["batch", str(shot_list), "--project", str(project), "--steps", "2"], env))
    assert "EP01_C002" in out

    # an artist repaints the left half of C001 in an outside app and hands in the layer
    layer = np.zeros((64, 64, 4), np.uint8)
    layer[:, :32] = (250, 120, 30, 255)
    layer_path = tmp_path / "c001_paint.png"
    Image.fromarray(layer, "RGBA").save(layer_path)
    ok(
        bgart(
            [
                "ledger",
                "import-paint",
                "EP01_C001",
                "--layer",
                str(layer_path),
                "--artist",
                "Kobayashi Mei",
                "--seconds",
                "600",
                "-p",
                str(project),
            ],
            env,
        )
    )

    # only a director's decision counts; an artist's is refused and nothing is recorded
    ok(
        bgart(
            [
                "users",
                "add",
                "Kei Director",
                "--role",
                "director",
                "--password-stdin",
                "-p",
                str(project),
            ],
            env,
            stdin="correct horse battery\n",
        )
    )
    refused = bgart(["review", "EP01_C001", "--by", "Kobayashi Mei", "-p", str(project)], env)
    assert refused.returncode == 2 and "only directors and admins" in refused.stderr
    for shot in SHOTS:
        ok(bgart(["review", shot, "--by", "Kei Director", "-p", str(project)], env))

    reports = tmp_path / "reports"
    ok(bgart(["credits", "-p", str(project), "--format", "all", "--out", str(reports)], env))
    data = json.loads((reports / "credits.json").read_text(encoding="utf-8"))
    plates = {p["shot"]: p for p in data["plates"]}
    assert set(plates) == set(SHOTS)
    c001 = plates["EP01_C001"]
    assert c001["status"] == "accepted" and c001["approver"] == "Kei Director"
    assert c001["layout_artists"] == ["Sato Yuki"]
    assert c001["human_paint_share"] == pytest.approx(0.5)
    assert c001["ai_gen_share"] == pytest.approx(0.5)
    assert any(c["name"] == "Kobayashi Mei" for c in c001["contributors"])
    assert plates["EP01_C002"]["human_paint_share"] == 0.0
    assert plates["EP01_C002"]["grade"] != c001["grade"]  # more human work, another grade
    html = (reports / "credits.html").read_text(encoding="utf-8")
    for name in ("Sato Yuki", "Tanaka Haruto", "Kobayashi Mei", "Kei Director", "tiny-sd15"):
        assert name in html, name

    signed = project / "exports" / "EP01" / "EP01_C001.png"
    fresh = {**env, "BGART_CACHE_DIR": os.environ["BGART_CACHE_DIR"]}  # not ~/.cache
    jobs = [
        {"args": ["ledger", "verify", "-p", str(project)], "env": fresh},
        {"args": ["credits", "verify", str(signed)], "env": fresh},
    ]
    verified, shown_res = run_cli_many(jobs, tmp_path / "verify")  # one fresh process
    ok(verified)
    shown = ok(shown_res)
    assert "valid C2PA manifest" in shown and "Kobayashi Mei" in shown
