"""A region's own reference through the CLI, as a production runs it: `bgart batch` renders a
shot whose regions file gives the sky its own reference, records its sha256, keeps the image
in the project, `bgart regenerate --project` remakes the plate byte for byte, the credits name
the art director who put that image on an art board, and a bad reference is one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.adapters import adapter_model_env
from helpers.cli import run_in_process
from helpers.reliability import assert_clean_error
from PIL import Image, ImageDraw

from bgart.generation import GenerationRecord
from bgart.ledger import Project

pytestmark = pytest.mark.slow

SKY, TOWN = "#87ceeb", "#804020"


@pytest.fixture(scope="module")
def adapter_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Tiny SD1.5 + ControlNet + IP-Adapter (with its CLIP image encoder), pulled."""
    return adapter_model_env(tmp_path_factory.mktemp("tiny-adapter"))


def _folder(folder: Path) -> Path:
    (folder / "boards").mkdir(parents=True)
    layout = Image.new("RGB", (96, 64), (205, 200, 190))
    ImageDraw.Draw(layout).line((0, 40, 96, 20), fill=(60, 60, 60), width=2)
    layout.save(folder / "l.png")
    regions = Image.new("RGB", (96, 64), TOWN)
    ImageDraw.Draw(regions).rectangle((0, 0, 95, 27), fill=SKY)
    regions.save(folder / "c012_regions.png")
    sky = Image.new("RGB", (80, 60), (240, 140, 60))
    ImageDraw.Draw(sky).ellipse((10, 10, 50, 50), fill=(250, 230, 200))
    sky.save(folder / "boards" / "sky_evening.png")
    (folder / "c012.toml").write_text(
        f'map = "c012_regions.png"\n[prompts]\n"{SKY}" = "evening sky"\n"{TOWN}" = "old shops"\n'
        f'[references]\n"{SKY}" = "boards/sky_evening.png"\n',
        encoding="utf-8",
    )
    (folder / "ep.csv").write_text(
        "shot,layout,prompt,preset,width,height,variations,layout_artist,regions\n"
        "EP01_C012,l.png,station square,street,96,64,1,Sato,c012.toml\n",
        encoding="utf-8",
    )
    return folder


def bgart(env: dict[str, str], *args: str) -> str:
    result = run_in_process(list(args), env)
    assert result.returncode == 0, result.show()
    return result.stdout + result.stderr


def test_batch_records_keeps_regenerates_and_credits_a_region_reference(
    adapter_env: dict[str, str], tmp_path: Path
) -> None:
    folder = _folder(tmp_path / "list")
    root = tmp_path / "show"
    bgart(adapter_env, "init", str(root), "--production", "Region references")
    add = ["users", "add", "Mori Aki", "--role", "director", "--password-stdin", "-p", str(root)]
    assert run_in_process(add, adapter_env, stdin="art-director-pw\n").returncode == 0
    sky = folder / "boards" / "sky_evening.png"
    bgart(
        adapter_env,
        "artboard", "add", str(sky),  # on a board this shot does not take: credit only
        "--location", "harbour", "--artist", "Mori Aki", "--project", str(root),
    )  # fmt: skip
    bgart(adapter_env, "batch", str(folder / "ep.csv"), "-p", str(root), "--steps", "2")
    import hashlib

    sha = hashlib.sha256(sky.read_bytes()).hexdigest()
    with Project.open(root) as project:
        (made,) = project.ledger.events(shot="EP01_C012", kinds=("ai.generated",))
        record = GenerationRecord.from_dict(made.payload["record"])
        assert record.extra["regions"]["references"] == [[SKY, sha]]
        assert "references" not in record.extra  # the shot takes no art board itself
        assert project.blobs.get(sha) == sky.read_bytes()  # kept for regenerate
        png = project.blobs.get(made.blobs["image"])
    plate = tmp_path / "c012.png"
    plate.write_bytes(png)
    args = ["regenerate", str(plate), "--layout", str(folder / "l.png"), "--check"]
    args += ["--out", str(tmp_path / "again.png")]
    same = run_in_process([*args, "--project", str(root)], adapter_env)
    assert same.returncode == 0 and "identical" in same.stderr, same.show()
    assert (tmp_path / "again.png").read_bytes() == png
    out = tmp_path / "credits"
    bgart(adapter_env, "credits", "--project", str(root), "--format", "json", "--out", str(out))
    report = json.loads((out / "credits.json").read_text(encoding="utf-8"))
    (entry,) = [p for p in report["plates"] if p["shot"] == "EP01_C012"]
    people = {c["name"]: c["roles"] for c in entry["contributors"]}
    assert "art_board" in people["Mori Aki"]
    # another sky reference: the done shot is rendered again by the next batch
    Image.new("RGB", (80, 60), (30, 40, 120)).save(sky)
    bgart(adapter_env, "batch", str(folder / "ep.csv"), "-p", str(root), "--steps", "2")
    with Project.open(root) as project:
        made = project.ledger.events(shot="EP01_C012", kinds=("ai.generated",))
        assert len(made) == 2
        newer = GenerationRecord.from_dict(made[-1].payload["record"])
        assert newer.extra["regions"]["references"][0][1] != sha


def test_a_bad_region_reference_is_one_line(adapter_env: dict[str, str], tmp_path: Path) -> None:
    folder = _folder(tmp_path / "list")
    (folder / "bad.toml").write_text(
        f'map = "c012_regions.png"\n[prompts]\n"{SKY}" = "evening sky"\n'
        f'[references]\n"{SKY}" = "boards/dusk.png"\n',
        encoding="utf-8",
    )
    args = ["generate", "--layout", str(folder / "l.png"), "--prompt", "station square"]
    args += ["--steps", "2", "--width", "96", "--height", "64", "--out", str(tmp_path / "p.png")]
    bad = run_in_process([*args, "--regions", str(folder / "bad.toml")], adapter_env)
    assert_clean_error(bad, f"bad.toml: references: colour {SKY}: reference 'boards/dusk.png'")


def test_generate_keeps_the_reference_for_regenerate(
    adapter_env: dict[str, str], tmp_path: Path
) -> None:
    folder = _folder(tmp_path / "list")
    root = tmp_path / "show"
    bgart(adapter_env, "init", str(root), "--production", "Region references")
    args = ["generate", "--layout", str(folder / "l.png"), "--prompt", "station square"]
    args += ["--steps", "2", "--width", "96", "--height", "64", "--out", str(tmp_path / "p.png")]
    bgart(
        adapter_env, *args, "--regions", str(folder / "c012.toml"), "-p", str(root), "--shot", "X"
    )
    again = ["regenerate", str(tmp_path / "p.png"), "--layout", str(folder / "l.png"), "--check"]
    again += ["--out", str(tmp_path / "q.png")]
    same = run_in_process([*again, "--project", str(root)], adapter_env)
    assert same.returncode == 0 and "identical" in same.stderr, same.show()
    missing = run_in_process(again, adapter_env)  # without the project: named, one line
    assert_clean_error(missing, "pass --project")
