"""兼用 detection (dHash), the `location` column, the [artboard] settings and the
`bgart artboard` command's refusals: no model needed."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from helpers.cli import run_in_process
from PIL import Image, ImageDraw

from bgart.errors import InputError
from bgart.runs.reuse import dhash, distance


def _drawing(k: int) -> Image.Image:
    img = Image.new("RGB", (320, 180), (240, 238, 230))
    d = ImageDraw.Draw(img)
    d.line((0, 170, 320, 30 + 40 * k), fill=(40, 40, 40), width=4)
    d.rectangle((30 + 60 * k, 40, 120 + 60 * k, 150), outline=(30, 30, 30), width=4)
    return img


def test_dhash_sees_a_rescan_as_the_same_layout_and_another_drawing_as_another() -> None:
    layout = _drawing(0)
    buf = io.BytesIO()
    layout.save(buf, "JPEG", quality=70)  # a resave with compression noise
    rescan = Image.open(buf).resize((640, 360)).point(lambda v: min(255, v + 6))
    assert distance(dhash(layout), dhash(rescan)) <= 4  # the production default
    for k in (1, 2):
        assert distance(dhash(layout), dhash(_drawing(k))) > 4


def test_location_column_and_its_seed_policy(tmp_path: Path) -> None:
    from bgart.inputs import load_shot_list
    from bgart.settings import load_settings

    _drawing(0).save(tmp_path / "a.png")
    rows = [
        "shot,layout,prompt,layout_artist,location",
        "C001,a.png,river,Sato,riverside",
        "C002,a.png,river again,Sato,riverside",
        "C003,a.png,street,Sato,",
    ]
    (tmp_path / "list.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    shared = load_settings(None, artboard_seed_policies={"riverside": "shared"})
    shots = load_shot_list(tmp_path / "list.csv", shared).shots
    assert [s.location for s in shots] == ["riverside", "riverside", ""]
    assert shots[0].seeds("P") == shots[1].seeds("P") != shots[2].seeds("P")
    per_shot = load_shot_list(tmp_path / "list.csv", load_settings(None)).shots
    assert per_shot[0].seeds("P") != per_shot[1].seeds("P")
    (tmp_path / "bad.csv").write_text(
        "shot,layout,prompt,layout_artist,location\nC001,a.png,river,Sato,river/bank\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError, match=r"bad.csv:2: field 'location'"):
        load_shot_list(tmp_path / "bad.csv", shared)


def test_artboard_settings_are_checked_by_name(tmp_path: Path) -> None:
    from bgart.settings import load_settings

    (tmp_path / "bgart.toml").write_text(
        '[artboard]\nseed_policy = "sometimes"\n', encoding="utf-8"
    )
    with pytest.raises(InputError, match="artboard_seed_policy"):
        load_settings(tmp_path)


def test_artboard_add_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    project = tmp_path / "show"
    assert run_in_process(["init", str(project)]).returncode == 0
    _drawing(0).save(tmp_path / "board.png")
    (tmp_path / "not-an-image.png").write_bytes(b"hello")
    both = ["artboard", "add", str(tmp_path / "board.png"), "--artist", "Mori", "-p", str(project)]
    res = run_in_process([*both, "--location", "river", "--preset", "street"])
    assert res.returncode == 2 and "give one of --location NAME or --preset NAME" in res.stderr
    res = run_in_process(
        [*both[:2], str(tmp_path / "not-an-image.png"), *both[3:], "--location", "r"]
    )
    assert res.returncode == 2 and "not-an-image.png" in res.stderr
    res = run_in_process([*both, "--location", "a/b"])
    assert res.returncode == 2 and "--location 'a/b'" in res.stderr
    ok = run_in_process([*both, "--location", "river"])
    assert ok.returncode == 0, ok.show()
    again = run_in_process([*both, "--location", "river"])
    assert "already on the location board 'river'" in again.stdout + again.stderr
    listed = run_in_process(["artboard", "list", "--json", "-p", str(project)])
    assert '"location:river"' in listed.stdout and listed.stdout.count('"sha256"') == 1
