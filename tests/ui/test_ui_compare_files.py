"""Issue 22: the Compare tab's pictures and the external-editor round trip (PNG/PSD out,
a final or a layered PSD back, recorded as `bgart ledger import-final` records it)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from helpers.ui import SHOT, req
from PIL import Image

from bgart import plates as workflow
from bgart.errors import InputError


@pytest.fixture
def plated(studio):  # type: ignore[no-untyped-def]
    studio.generate(req("alice"), SHOT, "street", "quiet street at dusk", 3, 2)
    return studio


def test_variations_side_by_side_zoomed_with_the_current_one_marked(plated) -> None:  # type: ignore[no-untyped-def]
    from bgart.ui.compare import CURRENT_FRAME, TILE_WIDTH, variation_strip, zoom_crop
    from bgart.ui.recipe import recorded_candidates

    cands = recorded_candidates(plated.project, SHOT)
    strip = variation_strip(cands, zoom=4, cx=0.25, cy=0.5)
    assert strip is not None and strip.width == 2 * (TILE_WIDTH + 12)
    assert strip.getpixel((1, 1)) == CURRENT_FRAME  # candidate 1 is the plate: framed
    assert strip.getpixel((TILE_WIDTH + 13, 1)) != CURRENT_FRAME
    part = zoom_crop(cands[0].image, 4, 0.25, 0.5)
    w, h = cands[0].image.size
    assert part.size == (round(w / 4), round(h / 4))
    # the tile is that part enlarged, pixel for pixel (nearest neighbour)
    tile = strip.crop((6, 6, 6 + TILE_WIDTH, 6 + 4))
    assert tile.getpixel((0, 0)) == part.getpixel((0, 0))


def test_heat_overlay_and_a_b_pair(plated) -> None:  # type: ignore[no-untyped-def]
    from bgart.ui.compare import heat_overlay, version_pair

    mixed, legend = heat_overlay(plated.project, SHOT, 0.0)
    plate = np.array(workflow.plate_state(plated.project, SHOT).image)
    assert np.array_equal(np.asarray(mixed), plate)  # opacity 0: the plate, full size
    full, _ = heat_overlay(plated.project, SHOT, 1.0)
    heat = np.asarray(workflow.heatmap(plated.project, SHOT, legend=False))
    assert np.array_equal(np.asarray(full), heat) and full.size == mixed.size  # no legend in it
    assert "AI generated 100.0%" in legend and "human paint 0.0%" in legend
    plated.choose(req("alice"), SHOT, 2)
    a, b = version_pair(plated.project, SHOT, None, None)  # type: ignore[misc]
    assert not np.array_equal(np.asarray(a), np.asarray(b))
    with pytest.raises(InputError, match="no version 9"):
        version_pair(plated.project, SHOT, 9, None)


def test_psd_out_painted_in_an_editor_and_back_is_measured(plated, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from bgart.ui.files import import_upload, plate_download
    from psd_tools import PSDImage
    from psd_tools.api.layers import PixelLayer

    png = plate_download(plated, SHOT, "png")
    plate = np.array(workflow.plate_state(plated.project, SHOT).image)
    assert np.array_equal(np.asarray(Image.open(png).convert("RGB")), plate)
    psd_path = plate_download(plated, SHOT, "psd")
    psd = PSDImage.open(psd_path)
    assert [layer.name for layer in psd] == [f"{SHOT} v1 (plate: paint on layers above)"]

    # the artist paints a layer in their editor, named for them, and uploads the PSD
    h, w = plate.shape[:2]
    paint = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    paint.paste((20, 200, 60, 255), (0, 0, w // 2, h // 2))
    psd.append(PixelLayer.frompil(paint, psd, "@alice sky"))
    out = tmp_path / "back.psd"
    psd.save(out)
    recs = import_upload(plated, req("alice"), SHOT, str(out))
    assert [r.kind for r in recs] == ["human.painted"]
    figs = workflow.plate_figures(plated.project, SHOT)
    assert figs["human_paint_share"] == pytest.approx(0.25, abs=0.02)
    ev = plated.project.ledger.events(shot=SHOT)[-1]
    assert ev.actor == "alice" and ev.payload["source"] == "psd"

    # a flat final: only the visibly changed pixels are credited
    final = np.array(workflow.plate_state(plated.project, SHOT).image)
    final[h // 2 :, w // 2 :] = (240, 240, 20)
    buf = io.BytesIO()
    Image.fromarray(final).save(buf, "PNG")
    (tmp_path / "final.png").write_bytes(buf.getvalue())
    (rec,) = import_upload(plated, req("alice"), SHOT, str(tmp_path / "final.png"))
    assert rec.kind == "human.painted"
    assert workflow.plate_figures(plated.project, SHOT)["human_paint_share"] == pytest.approx(
        0.5, abs=0.03
    )
    with pytest.raises(InputError, match="choose the PNG"):
        import_upload(plated, req("alice"), SHOT, None)


def test_an_upload_handing_back_version_1_says_its_pixels_keep_their_credit(  # type: ignore[no-untyped-def]
    plated, tmp_path: Path
) -> None:
    """Cover-then-restore through the studio's upload: the AI plate handed back over a
    cover is credited as it was, and the message says so rather than counting the handed
    back pixels as the uploader's."""
    from bgart.ui.files import import_upload, plate_download, upload_message

    v1 = plate_download(plated, SHOT, "png")
    plate = np.array(workflow.plate_state(plated.project, SHOT).image)
    cover = tmp_path / "cover.png"
    Image.fromarray(np.full_like(plate, (30, 160, 90))).save(cover)
    (painted,) = import_upload(plated, req("alice"), SHOT, str(cover))
    assert "pixels credited" in upload_message([painted])
    assert workflow.plate_figures(plated.project, SHOT)["human_paint_share"] > 0.9
    recs = import_upload(plated, req("adam"), SHOT, v1)
    text = upload_message(recs)
    assert f"upload recorded as v{recs[-1].version}" in text
    assert f"{plate.shape[0] * plate.shape[1]} of the plate's pixels show an earlier" in text
    assert "pixels credited" not in text
    assert workflow.plate_figures(plated.project, SHOT)["human_paint_share"] == 0.0
    assert upload_message([]) == "the upload is the same as the plate: nothing recorded"
