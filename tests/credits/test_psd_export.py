"""The layered PSD of an exported plate, as a background department opens it: each artist's
own paint at its real alpha, adjustments labelled as such, no empty layers, the acts in the
order they happened, and a stored composite equal to the signed PNG."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from helpers.credits import DIRECTOR, lock_catalog
from PIL import Image
from psd_tools import PSDImage

from bgart import plates as workflow
from bgart.credits import ExportedPlate, build_report, export_plates
from bgart.ledger import Project

W, H = 64, 48
RED = (200, 30, 30)


def _stroke(box: tuple[int, int, int, int], colour: tuple[int, int, int], alpha: int) -> bytes:
    layer = np.zeros((H, W, 4), np.uint8)
    x0, y0, x1, y1 = box
    layer[y0:y1, x0:x1] = (*colour, alpha)
    return _png(layer, "RGBA")


def _png(arr: np.ndarray, mode: str) -> bytes:
    import io

    buf = io.BytesIO()
    Image.fromarray(arr, mode).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, ExportedPlate]]:
    proj = Project.init(tmp_path_factory.mktemp("psd") / "show", production="PSD test")
    shot = "EP01_C001"
    workflow.record_base(proj, shot, np.full((H, W, 3), 100, np.uint8), "Kobayashi Mei")
    workflow.record_paint(proj, shot, _stroke((4, 4, 20, 12), RED, 128), "Ito Aoi", 60.0)
    workflow.record_paint(proj, shot, _stroke((30, 20, 40, 30), (10, 200, 10), 255), "Sato Yuki")
    state = workflow.plate_state(proj, shot).image
    levels = np.clip(state.astype(int) + 12, 0, 255).astype(np.uint8)
    workflow.record_adjust(proj, shot, levels, "Mori Ren", {"op": "levels", "black": 12})
    workflow.accept(proj, shot, DIRECTOR)
    rep = build_report(proj, catalog=lock_catalog(proj), thumbnails=False)
    (item,) = export_plates(proj, rep, say=lambda _m: None)
    yield proj, item
    proj.close()


def test_layers_in_act_order_adjustment_labelled(
    exported: tuple[Project, ExportedPlate],
) -> None:
    _, item = exported
    psd = PSDImage.open(item.psd)
    assert [layer.name for layer in psd] == [
        "Base – Kobayashi Mei (hand-painted)",
        "Retouch – Ito Aoi",
        "Retouch – Sato Yuki",
        "Adjustment – Levels/colour – Mori Ren",
    ]
    for layer in psd:  # no empty layer
        assert (np.asarray(layer.composite(viewport=psd.viewbox).convert("RGBA"))[..., 3] > 0).any()


def test_a_semi_transparent_stroke_keeps_its_colour_and_alpha(
    exported: tuple[Project, ExportedPlate],
) -> None:
    _, item = exported
    psd = PSDImage.open(item.psd)
    ito = np.asarray(psd[1].composite(viewport=psd.viewbox).convert("RGBA"))
    inside = ito[4:12, 4:20]
    assert (inside[..., 3] == 128).all()  # the stroke's own alpha, not an opaque result
    assert (inside[..., :3] == RED).all()  # the artist's colour, not the blend with the base
    outside = ito[..., 3].copy()
    outside[4:12, 4:20] = 0
    assert not outside.any()  # transparent wherever the artist did not paint


def test_stored_composite_is_the_signed_png(exported: tuple[Project, ExportedPlate]) -> None:
    proj, item = exported
    assert item.png is not None and item.psd is not None
    png = np.asarray(Image.open(item.png).convert("RGB"))
    psd = PSDImage.open(item.psd)
    assert np.array_equal(np.asarray(psd.composite().convert("RGB")), png)
    assert np.array_equal(png, workflow.plate_state(proj, "EP01_C001").image)
    forced = np.asarray(psd.composite(force=True).convert("RGB"), dtype=int)
    assert np.abs(forced - png.astype(int)).max() <= 1  # the layers re-render to it


def test_an_edit_that_left_no_pixel_gets_no_layer(tmp_path: Path) -> None:
    proj = Project.init(tmp_path / "show", production="PSD test")
    shot = "EP01_C002"
    workflow.record_base(proj, shot, np.full((H, W, 3), 100, np.uint8), "Kobayashi Mei")
    workflow.record_paint(proj, shot, _stroke((4, 4, 20, 12), RED, 255), "Ito Aoi")
    same = workflow.plate_state(proj, shot).image
    workflow.record_adjust(proj, shot, same, "Mori Ren", {"op": "levels"})  # changed nothing
    workflow.accept(proj, shot, DIRECTOR)
    rep = build_report(proj, catalog=lock_catalog(proj), thumbnails=False)
    (item,) = export_plates(proj, rep, say=lambda _m: None)
    names = [layer.name for layer in PSDImage.open(item.psd)]
    proj.close()
    assert names == ["Base – Kobayashi Mei (hand-painted)", "Retouch – Ito Aoi"]
