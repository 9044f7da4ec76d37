"""Regions drawn in the UI (issue 23, item 6), without a browser: a drawing (an RGBA array,
alpha = painted, and a prompt per palette colour) saved as the shot's regions file (TOML +
colour PNG in the project's regions/ folder) reads back through the shot list's own loader
with the same colours, prompts and masks; bad drawings are refused naming the colour and
leave the saved file as it was; Generate renders with the saved regions (the shot list's
when the UI saved none), records them and regenerates byte for byte."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bgart.ui.handlers import Studio
from bgart.ui.regions import (
    PALETTE,
    current_regions,
    map_size,
    read_drawing,
    regions_path,
    save_regions,
    view_json,
)
from helpers.ui import SHOT, layout_png, req
from PIL import Image

from bgart.errors import InputError
from bgart.events import AiGenerated, Kind
from bgart.generation import GenerationRecord, regenerate
from bgart.images import open_image
from bgart.inputs import load_regions, prepare_layout

SKY, TOWN, FIELD = PALETTE[0], PALETTE[1], PALETTE[2]
W, H = 64, 48


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _drawing(labels: np.ndarray, palette: tuple[str, ...] = PALETTE) -> np.ndarray:
    """The page's drawing of a label map: colour k-1 where the label is k, clear at 0."""
    out = np.zeros((*labels.shape, 4), np.uint8)
    for k, colour in enumerate(palette, start=1):
        out[labels == k] = (*_rgb(colour), 255)
    return out


def _labels() -> np.ndarray:
    """Sky over the top third, a town block lower left, the rest unpainted."""
    labels = np.zeros((H, W), np.uint8)
    labels[: H // 3] = 1
    labels[H // 2 :, : W // 2] = 2
    return labels


def _prompts(**given: str) -> list[tuple[str, str]]:
    """The painter's palette with the prompts given by colour name (the rest empty)."""
    names = {"sky": SKY, "town": TOWN, "field": FIELD}
    by_colour = {names[k]: v for k, v in given.items()}
    return [(c, by_colour.get(c, "")) for c in PALETTE]


def test_a_drawing_saves_as_a_regions_file_the_loader_reads_back_the_same(
    tmp_path: Path,
) -> None:
    labels = _labels()
    saved = save_regions(
        tmp_path, SHOT, _drawing(labels), _prompts(sky="evening sky", town="old shops")
    )
    path = regions_path(tmp_path, SHOT)
    assert path == tmp_path / "regions" / f"{SHOT}.toml" and path.with_suffix(".png").exists()
    again = load_regions(path)  # the shot list's loader, as `bgart batch` reads it
    assert saved is not None and again.prompts == saved.prompts
    assert again.prompts == ((SKY, "evening sky"), (TOWN, "old shops"))  # palette order
    rgb = np.asarray(open_image(again.map.data, mode="RGB"), np.uint8)
    assert rgb.shape == (H, W, 3)
    for k, colour in ((1, SKY), (2, TOWN)):
        assert np.array_equal(np.all(rgb == _rgb(colour), axis=-1), labels == k), colour
    # unpainted pixels are one colour no region uses: they follow the shot's own prompt
    rest = rgb[labels == 0]
    assert len(np.unique(rest.reshape(-1, 3), axis=0)) == 1
    assert tuple(rest[0]) not in (_rgb(SKY), _rgb(TOWN))


def test_soft_edges_are_snapped_flat_to_the_nearest_colour(tmp_path: Path) -> None:
    drawn = _drawing(_labels())
    drawn[0, 0] = (*(c - 3 for c in _rgb(SKY)), 255)  # an anti-aliased edge pixel
    drawn[H - 1, 0] = (*_rgb(TOWN), 90)  # mostly transparent: not painted
    drawn[H - 1, 1] = (*_rgb(TOWN), 200)  # mostly opaque: painted
    saved = save_regions(tmp_path, SHOT, drawn, _prompts(sky="sky", town="shops"))
    assert saved is not None
    rgb = np.asarray(open_image(saved.map.data, mode="RGB"), np.uint8)
    assert tuple(rgb[0, 0]) == _rgb(SKY) and tuple(rgb[H - 1, 1]) == _rgb(TOWN)
    assert tuple(rgb[H - 1, 0]) not in (_rgb(SKY), _rgb(TOWN))
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) == 3  # two regions and the rest


def test_a_bad_drawing_is_refused_naming_the_colour_and_the_saved_file_stays(
    tmp_path: Path,
) -> None:
    good = _prompts(sky="evening sky", town="old shops")
    save_regions(tmp_path, SHOT, _drawing(_labels()), good)
    path = regions_path(tmp_path, SHOT)
    before = (path.read_bytes(), path.with_suffix(".png").read_bytes())
    with pytest.raises(InputError, match=f"colour {TOWN} is painted but has no prompt"):
        save_regions(tmp_path, SHOT, _drawing(_labels()), _prompts(sky="evening sky"))
    with pytest.raises(InputError, match=rf"colour {FIELD} \('fields'\) has a prompt but is not"):
        save_regions(tmp_path, SHOT, _drawing(_labels()), [*good[:2], (FIELD, "fields")])
    with pytest.raises(InputError, match="colour 'sky': not a colour"):
        save_regions(tmp_path, SHOT, _drawing(_labels()), [("sky", "x")])
    with pytest.raises(InputError, match=f"colour {SKY} is given twice"):
        save_regions(tmp_path, SHOT, _drawing(_labels()), [(SKY, "a"), (SKY.upper(), "b")])
    assert (path.read_bytes(), path.with_suffix(".png").read_bytes()) == before
    # nothing painted, no prompts: the shot has no regions any more
    assert save_regions(tmp_path, SHOT, np.zeros((H, W, 4), np.uint8), _prompts()) is None
    assert not path.exists() and not path.with_suffix(".png").exists()


def _image(colour: tuple[int, int, int], fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), colour).save(buf, fmt)
    return buf.getvalue()


def test_a_region_reference_of_the_shot_s_file_is_kept_while_its_region_is(
    tmp_path: Path,
) -> None:
    """The painter does not edit region references (a [references] table): a save keeps
    each one whose colour is still painted, the same bytes beside the map, and drops the
    others with their files."""
    sky_ref, town_ref = _image((90, 140, 220), "PNG"), _image((120, 70, 30), "JPEG")
    refs = [(SKY, sky_ref), (TOWN, town_ref), (FIELD, sky_ref)]
    saved = save_regions(
        tmp_path, SHOT, _drawing(_labels()), _prompts(sky="sky", town="shops"), refs
    )
    assert saved is not None
    assert [(c, i.data) for c, i in saved.references] == [(SKY, sky_ref), (TOWN, town_ref)]
    folder = tmp_path / "regions"
    assert (folder / f"{SHOT}.ref-{TOWN[1:]}.jpg").read_bytes() == town_ref
    no_sky = _labels()
    no_sky[no_sky == 1] = 0
    again = save_regions(tmp_path, SHOT, _drawing(no_sky), _prompts(town="shops"), refs)
    assert again is not None and [c for c, _ in again.references] == [TOWN]
    assert not (folder / f"{SHOT}.ref-{SKY[1:]}.png").exists()
    (kept,) = load_regions(regions_path(tmp_path, SHOT)).references
    assert kept[0] == TOWN and kept[1].data == town_ref


def _payload(drawn: np.ndarray, shot: str, prompts: list[tuple[str, str]]) -> str:
    buf = io.BytesIO()
    Image.fromarray(drawn, "RGBA").save(buf, "PNG")
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    return json.dumps({"shot": shot, "map": url, "regions": [list(p) for p in prompts]})


def test_what_the_page_sends_is_checked_field_by_field() -> None:
    drawn = _drawing(_labels())
    prompts = _prompts(sky="sky")
    got, pairs = read_drawing(_payload(drawn, SHOT, prompts), SHOT, (W, H), 2**20)
    assert np.array_equal(got, drawn) and pairs == prompts
    cases = {
        "": "nothing drawn",
        "{": "regions from the page: not readable",
        _payload(drawn, "EP09_C999", prompts): f"shows shot EP09_C999 but shot {SHOT} is open",
        json.dumps({"shot": SHOT, "map": "data:image/jpeg;base64,AAAA"}): "'map' is not a PNG",
        _payload(drawn, SHOT, [(SKY, "a")] * 9): "field 'regions'",
    }
    for text, message in cases.items():
        with pytest.raises(InputError, match=message):
            read_drawing(text, SHOT, (W, H), 2**20)
    with pytest.raises(InputError, match=f"64x48, but shot {SHOT}'s map is 32x24"):
        read_drawing(_payload(drawn, SHOT, prompts), SHOT, (32, 24), 2**20)


def _shot_list(folder: Path) -> Path:
    """A shot list whose shot has its own regions file (the shot list's `regions` column)."""
    folder.mkdir()
    (folder / "l.png").write_bytes(layout_png())
    labels = np.full((96, 128), 3, np.uint8)
    labels[:40] = 1
    Image.fromarray(_drawing(labels)[..., :3]).save(folder / "r.png")
    (folder / "field.png").write_bytes(_image((60, 160, 60), "PNG"))
    (folder / "r.toml").write_text(
        f'map = "r.png"\n[prompts]\n"{SKY}" = "listed sky"\n"{FIELD}" = "listed field"\n'
        f'[references]\n"{FIELD}" = "field.png"\n',
        encoding="utf-8",
    )
    path = folder / "shots.csv"
    path.write_text(
        "shot,layout,prompt,preset,width,height,variations,layout_artist,regions\n"
        "EP02_C001,l.png,a field,street,128,96,1,Sato,r.toml\n",
        encoding="utf-8",
    )
    return path


def test_generate_uses_the_saved_regions_records_them_and_regenerates_exactly(
    studio: Studio,
    tiny_engine,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    (code,) = studio.import_shot_list(_shot_list(tmp_path / "list"))
    # the painter opens on the shot list's regions, at the layout's size
    view = json.loads(view_json(studio, code))
    assert (view["width"], view["height"]) == map_size(studio, code) == (256, 192)
    assert view["regions"] == [[SKY, "listed sky"], [FIELD, "listed field"]]
    assert view["references"] == [FIELD]  # shown as kept; the painter does not edit it
    assert view["layout"].startswith("data:image/jpeg") and view["map"].startswith("data:image/png")

    labels = np.zeros((192, 256), np.uint8)
    labels[:60] = 1
    labels[120:, 100:] = 2
    saved = save_regions(
        studio.project.root, code, _drawing(labels), _prompts(sky="painted sky", town="shops")
    )
    assert saved is not None and current_regions(studio, code) == load_regions(
        regions_path(studio.project.root, code), saved.source
    )  # the UI's file now wins over the shot list's
    assert json.loads(view_json(studio, code))["regions"] == [[SKY, "painted sky"], [TOWN, "shops"]]

    (cand,) = studio.generate(req("alice"), code, "street", "a field", 5, 1)
    (event,) = studio.project.ledger.events(shot=code, kinds=(Kind.AI_GENERATED,))
    record = GenerationRecord.from_dict(event.typed(AiGenerated).record)
    regions = record.extra["regions"]
    assert [c for c, _ in regions["prompts"]] == [SKY, TOWN]
    assert regions["prompts"][0][1].startswith("painted sky, ")  # the style composed in
    assert regions["prompts"][1][1].startswith("shops, ")
    map_bytes = studio.project.blobs.get(regions["map_sha256"])  # kept in the project
    assert map_bytes == regions_path(studio.project.root, code).with_suffix(".png").read_bytes()
    layout = Image.open(io.BytesIO(layout_png()))
    again = regenerate(
        tiny_engine,
        record,
        layout=prepare_layout(layout, record.width, record.height),
        regions_map=map_bytes,
    )
    assert again.png() == studio.project.blobs.get(event.blobs["image"])
    assert cand.number == 1


def _app_fns(studio: Studio) -> dict[str, Any]:
    from bgart.ui.app import build_app

    return {f.fn.__name__: f.fn for f in build_app(studio).fns.values() if f.fn}


def _by_elem(out: dict[Any, Any]) -> dict[str, Any]:
    return {c.elem_id: v for c, v in out.items() if getattr(c, "elem_id", None)}


def test_the_page_s_save_says_in_the_status_line_what_it_saved_or_which_colour_is_wrong(
    studio: Studio,
) -> None:
    """Save regions as the page calls it: a refusal names the colour in the status line and
    keeps the saved file; a save answers with the painter's new view and the panel's title."""
    save = _app_fns(studio)["on_save_regions"]
    size = map_size(studio, SHOT)
    labels = np.zeros((size[1], size[0]), np.uint8)
    labels[:50] = 1
    labels[150:] = 2
    drawn = _drawing(labels)
    done = _by_elem(
        save(SHOT, _payload(drawn, SHOT, _prompts(sky="sky", town="shops")), req("alice"))
    )
    assert (
        done["status-line"]
        == f"✓ regions of {SHOT} saved (2 regions, regions/{SHOT}.toml): Generate uses them"
    )
    view = json.loads(done["regions-view"])
    assert view["saved"] and view["regions"] == [[SKY, "sky"], [TOWN, "shops"]]
    before = regions_path(studio.project.root, SHOT).read_bytes()

    refused = _by_elem(save(SHOT, _payload(drawn, SHOT, _prompts(sky="sky")), req("alice")))
    assert refused == {
        "status-line": f"⚠ regions of {SHOT}: colour {TOWN} is painted but has no prompt: write one"
    }
    assert regions_path(studio.project.root, SHOT).read_bytes() == before
    other = _by_elem(save(SHOT, _payload(drawn[:10], SHOT, _prompts(sky="sky")), req("alice")))
    assert "open the shot again" in other["status-line"]
    gone = _by_elem(save(SHOT, _payload(drawn * 0, SHOT, _prompts()), req("alice")))
    assert gone["status-line"] == f"✓ regions of {SHOT} removed: Generate uses the prompt alone"
    assert not regions_path(studio.project.root, SHOT).exists()
