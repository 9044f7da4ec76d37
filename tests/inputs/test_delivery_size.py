"""Delivery size as an input: parsing, the rules (multiples of 8, aspect, bounds), the
shot-list `delivery` column and the bgart.toml default, each refusal naming its field."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from bgart.errors import InputError
from bgart.inputs import ShotListError, load_shot_list, parse_delivery
from bgart.inputs.delivery import base_size_for, delivery_size
from bgart.settings import Settings, load_settings

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HEADER = "shot,layout,prompt,layout_artist,width,height,delivery\n"


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    for key in ("BGART_PROJECT_DIR", "BGART_WIDTH", "BGART_HEIGHT", "BGART_DELIVERY"):
        monkeypatch.delenv(key, raising=False)
    return load_settings(production="Test Show")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    Image.new("L", (640, 360), 200).save(tmp_path / "hd.png")  # 16:9
    Image.new("L", (1800, 300), 200).save(tmp_path / "pan.png")  # 6:1
    return tmp_path


def test_sizes_parse_and_a_short_side_follows_the_layout() -> None:
    assert parse_delivery("1920x1080") == (1920, 1080)
    assert parse_delivery(" 3840 × 2160 ") == (3840, 2160)
    assert parse_delivery("none") is None and parse_delivery("") is None
    assert delivery_size(parse_delivery("1080"), 1600, 900) == (1920, 1080)
    assert delivery_size(parse_delivery("960"), 1800, 300) == (5760, 960)
    assert delivery_size(parse_delivery("1080"), 900, 1600) == (1080, 1920)  # portrait


def test_the_base_pass_is_the_model_size_or_a_wide_panorama_for_a_pan() -> None:
    assert base_size_for((1920, 1080), 768, 512) == (768, 432)
    assert base_size_for((3840, 2160), 1024, 1024) == (1024, 576)
    assert base_size_for((5760, 960), 768, 512) == (3072, 512)
    assert base_size_for((11520, 1440), 768, 512) == (4096, 512)  # 8:1, capped


@pytest.mark.parametrize(
    ("text", "size", "message"),
    [
        ("1924x1080", (1600, 900), "width 1924 must be a multiple of 8"),
        ("1920x1200", (1600, 900), "aspect 1.600, the layout's is 1.778"),
        ("7680x4320", (1600, 900), "over the limit of 16588800"),
        ("9600x1080", (9600, 1080), "wider than 8:1"),
        ("12000x2000", (1200, 200), "width 12000 must be a multiple of 8 in 64..11520"),
        ("4k", (1600, 900), "not a size"),
    ],
)
def test_bad_sizes_are_refused_naming_the_field(
    text: str, size: tuple[int, int], message: str
) -> None:
    with pytest.raises(InputError, match=message) as err:
        delivery_size(parse_delivery(text, "--delivery"), *size, field="--delivery")
    assert str(err.value).startswith("--delivery")


def test_shot_list_column_gives_a_1080p_shot_and_a_6_to_1_pan(
    folder: Path, settings: Settings
) -> None:
    path = folder / "ep.csv"
    path.write_text(
        HEADER + "C001,hd.png,street,Sato,,,1920x1080\nC002,pan.png,river pan,Mei,,,960\n"
        "C003,hd.png,plain,Sato,,,\n"
    )
    a, b, c = load_shot_list(path, settings).shots
    assert a.delivery == (1920, 1080) and (a.width, a.height) == (768, 432)
    assert b.delivery == (5760, 960) and (b.width, b.height) == (3072, 512)
    assert c.delivery is None and (c.width, c.height) == (768, 432)


def test_bad_delivery_in_a_shot_list_names_file_line_and_field(
    folder: Path, settings: Settings
) -> None:
    path = folder / "ep.csv"
    path.write_text(
        HEADER + "C001,hd.png,street,Sato,,,1920x1080\nC002,hd.png,x,Sato,,,1920x1440\n"
    )
    with pytest.raises(ShotListError) as err:
        load_shot_list(path, settings)
    assert f"{path}:3: field 'delivery': value 1920x1440: aspect 1.333" in str(err.value)


def test_the_bgart_toml_default_applies_to_shots_without_one(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BGART_DELIVERY", "1080")
    settings = load_settings(production="Test Show")
    path = folder / "ep.csv"
    path.write_text(HEADER + "C001,hd.png,street,Sato,,,\nC002,pan.png,pan,Mei,,,none\n")
    a, b = load_shot_list(path, settings).shots
    assert a.delivery == (1920, 1080)
    assert b.delivery is None  # "none" turns the default off for one shot


def test_the_example_shot_list_has_a_1080p_shot_and_a_6_to_1_pan(settings: Settings) -> None:
    shots = load_shot_list(EXAMPLES / "shots_delivery.csv", settings).shots
    sizes = {s.delivery for s in shots}
    assert (1920, 1080) in sizes and (5760, 960) in sizes
