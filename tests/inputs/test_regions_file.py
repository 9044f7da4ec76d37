"""Regions files (bgart.inputs.regions) and the shot list's ``regions`` column: a colour map
and each colour's prompt, read and checked before anything renders; a bad one is named by
file, line and colour, on one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from bgart.errors import InputError
from bgart.inputs import ShotListError, load_regions, load_shot_list
from bgart.settings import Settings, load_settings

SKY, TOWN = "#87ceeb", "#804020"


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    for key in ("BGART_PROJECT_DIR", "BGART_PROMPTS_DIR", "BGART_DEFAULT_PRESET"):
        monkeypatch.delenv(key, raising=False)
    return load_settings()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    Image.new("L", (96, 64), 200).save(tmp_path / "layout.png")
    img = Image.new("RGB", (96, 64), TOWN)
    ImageDraw.Draw(img).rectangle((0, 0, 95, 31), fill=SKY)
    (tmp_path / "regions").mkdir()
    img.save(tmp_path / "regions" / "c012.png")
    return tmp_path


def _regions(folder: Path, body: str, name: str = "c012.toml") -> Path:
    path = folder / "regions" / name
    path.write_text(body, encoding="utf-8")
    return path


GOOD = f'map = "c012.png"\n[prompts]\n"{SKY.upper()}" = "evening sky"\n"{TOWN}" = "old shops"\n'


def test_a_regions_file_gives_its_map_and_prompts(folder: Path) -> None:
    regions = load_regions(_regions(folder, GOOD), "regions/c012.toml")
    assert regions.prompts == ((SKY, "evening sky"), (TOWN, "old shops"))
    assert regions.map.data == (folder / "regions" / "c012.png").read_bytes()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("map = [", "not valid TOML"),
        ('map = "c012.png"\nprompt = {}', "unknown field 'prompt'"),
        ('[prompts]\n"#87ceeb" = "sky"', "field 'map'"),
        ('map = "../layout.png"\n[prompts]\n"#87ceeb" = "sky"', "must stay in the file's folder"),
        ('map = "c012.png"', "field 'prompts'"),
        ('map = "c012.png"\n[prompts]\nblue = "sky"', "colour 'blue': not a colour"),
        ('map = "c012.png"\n[prompts]\n"#87ceeb" = ""', "colour #87ceeb: the prompt must be text"),
        (
            'map = "c012.png"\n[prompts]\n"#00ff00" = "grass"',
            r"colour #00ff00 \('grass'\) does not occur in map 'c012.png'",
        ),
        ('map = "missing.png"\n[prompts]\n"#87ceeb" = "sky"', "map 'missing.png'"),
    ],
)
def test_a_bad_regions_file_is_named_in_one_line(folder: Path, body: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        load_regions(_regions(folder, body), "regions/c012.toml")
    assert str(info.value).startswith("regions/c012.toml: ") and "\n" not in str(info.value)


def test_the_shot_list_column_reads_the_file(folder: Path, settings: Settings) -> None:
    _regions(folder, GOOD)
    (folder / "ep.csv").write_text(
        "shot,layout,prompt,layout_artist,regions\n"
        "EP01_C012,layout.png,station square,Sato,regions/c012.toml\n"
        "EP01_C013,layout.png,station square,Sato,\n",
        encoding="utf-8",
    )
    shots = load_shot_list(folder / "ep.csv", settings).shots
    assert shots[0].regions is not None and shots[0].regions.prompts[0] == (SKY, "evening sky")
    assert shots[1].regions is None


def test_a_bad_regions_cell_names_list_line_file_and_colour(
    folder: Path, settings: Settings
) -> None:
    _regions(folder, 'map = "c012.png"\n[prompts]\n"#00ff00" = "grass"\n', "bad.toml")
    (folder / "ep.csv").write_text(
        "shot,layout,prompt,layout_artist,regions\n"
        "EP01_C012,layout.png,station square,Sato,regions/bad.toml\n"
        "EP01_C013,layout.png,station square,Sato,../elsewhere.toml\n",
        encoding="utf-8",
    )
    with pytest.raises(ShotListError) as info:
        load_shot_list(folder / "ep.csv", settings, label="ep.csv")
    assert info.value.problems == [
        "ep.csv:2: field 'regions': regions/bad.toml: colour #00ff00 ('grass') does not occur "
        "in map 'c012.png'",
        f"ep.csv:3: field 'regions': '../elsewhere.toml' must be a path inside {folder.resolve()}",
    ]


def test_the_yaml_list_takes_regions_too(folder: Path, settings: Settings) -> None:
    _regions(folder, GOOD)
    (folder / "ep.yaml").write_text(
        "defaults: {layout_artist: Sato, layout: layout.png}\n"
        "shots:\n"
        "  - {shot: EP01_C012, prompt: station square, regions: regions/c012.toml}\n",
        encoding="utf-8",
    )
    (shot,) = load_shot_list(folder / "ep.yaml", settings).shots
    assert shot.regions is not None and [c for c, _ in shot.regions.prompts] == [SKY, TOWN]
