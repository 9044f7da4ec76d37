"""A shot list with regional prompts, through `bgart batch` on the tiny model: the shot's two
regions are rendered and recorded (``extra["regions"]``: the map's sha256 and each colour's
prompt with the shot's style), the map is kept in the project, and the plate regenerates
byte for byte from the ledger's record; `bgart generate --regions` does the same for one plate."""

from __future__ import annotations

from pathlib import Path

from helpers.cli import run_in_process
from helpers.reliability import assert_clean_error
from PIL import Image, ImageDraw

from bgart.generation import GenerationRecord, regenerate
from bgart.inputs import prepare_layout
from bgart.ledger import Project

SKY, TOWN = "#87ceeb", "#804020"


def _list(folder: Path) -> Path:
    folder.mkdir()
    layout = Image.new("RGB", (96, 64), (205, 200, 190))
    ImageDraw.Draw(layout).line((0, 40, 96, 20), fill=(60, 60, 60), width=2)
    layout.save(folder / "l.png")
    regions = Image.new("RGB", (96, 64), TOWN)
    ImageDraw.Draw(regions).rectangle((0, 0, 95, 27), fill=SKY)
    regions.save(folder / "c012_regions.png")
    (folder / "c012.toml").write_text(
        f'map = "c012_regions.png"\n[prompts]\n"{SKY}" = "evening sky"\n"{TOWN}" = "old shops"\n',
        encoding="utf-8",
    )
    path = folder / "ep.csv"
    path.write_text(
        "shot,layout,prompt,preset,width,height,variations,layout_artist,regions\n"
        "EP01_C012,l.png,station square,street,96,64,1,Sato,c012.toml\n"
        "EP01_C013,l.png,station square,street,96,64,1,Sato,\n",
        encoding="utf-8",
    )
    return path


def test_a_regioned_shot_is_recorded_and_regenerates_exactly(
    tiny_env: dict[str, str],
    tiny_engine,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    root = tmp_path / "show"
    assert run_in_process(["init", str(root), "--production", "Regions"], tiny_env).returncode == 0
    shots = _list(tmp_path / "list")
    done = run_in_process(["batch", str(shots), "-p", str(root), "--steps", "2"], tiny_env)
    assert done.returncode == 0, done.show()
    with Project.open(root) as project:
        (made,) = project.ledger.events(shot="EP01_C012", kinds=("ai.generated",))
        (plain,) = project.ledger.events(shot="EP01_C013", kinds=("ai.generated",))
        record = GenerationRecord.from_dict(made.payload["record"])
        assert "regions" not in plain.payload["record"]["extra"]
        regions = record.extra["regions"]
        assert [c for c, _ in regions["prompts"]] == [SKY, TOWN]
        assert regions["prompts"][0][1].startswith("evening sky, ")  # the style composed in
        map_bytes = project.blobs.get(regions["map_sha256"])  # kept in the project
        png = project.blobs.get(made.blobs["image"])
        layout = Image.open(tmp_path / "list" / "l.png")
    again = regenerate(
        tiny_engine,
        record,
        layout=prepare_layout(layout, record.width, record.height),
        regions_map=map_bytes,
    )
    assert again.png() == png
    plate = tmp_path / "c012.png"  # and from the command line, the map from the project
    plate.write_bytes(png)
    args = ["regenerate", str(plate), "--layout", str(tmp_path / "list" / "l.png")]
    args += ["--out", str(tmp_path / "again.png"), "--check"]
    done = run_in_process([*args, "--project", str(root)], tiny_env)
    assert done.returncode == 0 and "identical" in done.stderr, done.show()
    missing = run_in_process(args, tiny_env)
    assert missing.returncode != 0 and "pass --project, which keeps the map" in missing.stderr


def test_generate_takes_a_regions_file_and_regenerate_finds_its_map(
    tiny_env: dict[str, str], tmp_path: Path
) -> None:
    root = tmp_path / "show"
    assert run_in_process(["init", str(root), "--production", "Regions"], tiny_env).returncode == 0
    _list(tmp_path / "list")
    layout = str(tmp_path / "list" / "l.png")
    args = ["generate", "--layout", layout, "--prompt", "station square", "--steps", "2"]
    args += ["--width", "96", "--height", "64", "--out", str(tmp_path / "p.png")]
    regions = ["--regions", str(tmp_path / "list" / "c012.toml")]
    done = run_in_process([*args, *regions, "--project", str(root), "--shot", "X1"], tiny_env)
    assert done.returncode == 0, done.show()
    again = ["regenerate", str(tmp_path / "p.png"), "--layout", layout, "--check"]
    again += ["--out", str(tmp_path / "q.png"), "--project", str(root)]
    same = run_in_process(again, tiny_env)
    assert same.returncode == 0 and "identical" in same.stderr, same.show()
    (tmp_path / "list" / "bad.toml").write_text(
        'map = "c012_regions.png"\n[prompts]\n"#00ff00" = "grass"\n', encoding="utf-8"
    )
    bad = run_in_process([*args, "--regions", str(tmp_path / "list" / "bad.toml")], tiny_env)
    assert_clean_error(bad, "bad.toml: colour #00ff00 ('grass') does not occur in map")
