"""A regions file's ``[references]``: a region's own reference image, read and checked with
the file; a bad one is refused in one line naming the file and the colour."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from bgart.errors import InputError
from bgart.inputs import load_regions

SKY, TOWN, TREES = "#87ceeb", "#804020", "#208020"
HEAD = f'map = "c012.png"\n[prompts]\n"{SKY}" = "evening sky"\n"{TOWN}" = "old shops"\n'


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    img = Image.new("RGB", (96, 64), TOWN)
    ImageDraw.Draw(img).rectangle((0, 0, 95, 31), fill=SKY)
    (tmp_path / "regions" / "boards").mkdir(parents=True)
    img.save(tmp_path / "regions" / "c012.png")
    Image.new("RGB", (40, 30), (240, 140, 60)).save(tmp_path / "regions" / "boards" / "sky.png")
    Image.new("RGB", (40, 30), (90, 60, 40)).save(tmp_path / "regions" / "boards" / "town.png")
    (tmp_path / "regions" / "boards" / "notes.png").write_text("not an image", encoding="utf-8")
    Image.new("RGB", (8, 8)).save(tmp_path / "outside.png")
    return tmp_path


def _load(folder: Path, body: str) -> object:
    path = folder / "regions" / "c012.toml"
    path.write_text(body, encoding="utf-8")
    return load_regions(path, "regions/c012.toml")


def test_a_region_gets_its_own_reference(folder: Path) -> None:
    regions = _load(folder, HEAD + f'[references]\n"{SKY.upper()}" = "boards/sky.png"\n')
    ((colour, image),) = regions.references  # type: ignore[attr-defined]
    assert colour == SKY
    assert image.data == (folder / "regions" / "boards" / "sky.png").read_bytes()
    assert len(image.sha256) == 64
    assert _load(folder, HEAD).references == ()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("refs", "message"),
    [
        (f'"{SKY}" = "boards/missing.png"', f"colour {SKY}: reference 'boards/missing.png'"),
        (f'"{TREES}" = "boards/sky.png"', f"colour {TREES}: not one of the colours in"),
        (f'"{SKY}" = "boards/notes.png"', f"colour {SKY}: reference 'boards/notes.png'"),
        (f'"{SKY}" = "../outside.png"', f"colour {SKY}: '../outside.png' must stay in"),
        (f'"{SKY}" = 3', f"colour {SKY}: the reference image's path"),
        ('sky = "boards/sky.png"', "colour 'sky': not a colour"),
        (
            "".join(f'"#00000{i}" = "boards/sky.png"\n' for i in range(5)),
            "5 region references, at most 4",
        ),
    ],
)
def test_a_bad_region_reference_is_named_in_one_line(folder: Path, refs: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        _load(folder, HEAD + "[references]\n" + refs + "\n")
    assert str(info.value).startswith("regions/c012.toml: ") and "\n" not in str(info.value)
