"""Provenance through resampling (issue 21 item 4): a plate refined to a new size keeps its
authors where the model changed nothing beyond a plain resample; what it changed is AI."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.images import natural_plate

from bgart import provenance as c

W, H = 96, 64  # the base size; refined ×4 to 384×256


def _painted(share_cols: int = 48, share_rows: int = 32) -> tuple[np.ndarray, c.Raster]:
    """An AI plate with an opaque human retouch of the top-left quarter (25 %)."""
    before = natural_plate(W, H, seed=1)
    raster = c.generated(W, H).with_base(before)
    layer = np.zeros((H, W, 4), np.uint8)
    layer[:share_rows, :share_cols] = (230, 40, 40, 255)
    applied = c.paint(before, raster, layer)
    return applied.image, applied.raster


def test_a_quarter_retouch_stays_a_quarter_after_a_x4_refinement_that_leaves_it() -> None:
    image, raster = _painted()
    assert c.figures(raster)["human_paint_share"] == pytest.approx(0.25)
    plain = c.plain_resample(image, 4 * W, 4 * H)
    # the model repaints everything (a visible shift) but the retouch is composited back
    refined = np.clip(plain.astype(np.int16) + 25, 0, 255).astype(np.uint8)
    kept = c.keep_human(refined, image, raster)
    out = c.resample(image, raster, kept)
    figs = c.figures(out.raster)
    assert (figs["width"], figs["height"]) == (4 * W, 4 * H)
    assert figs["human_paint_share"] == pytest.approx(0.25, abs=0.005)
    assert figs["ai_gen_share"] + figs["ai_inpaint_share"] == pytest.approx(0.75, abs=0.005)
    assert np.array_equal(out.image, kept)
    # the stroke is the same region, four times larger, pixel for pixel
    assert (out.raster.human[: 4 * 32, : 4 * 48] == 1.0).all()
    assert (out.raster.human[4 * 32 :, :] == 0).all() and (out.raster.human[:, 4 * 48 :] == 0).all()


def test_without_keep_the_refinement_over_the_stroke_is_ai() -> None:
    image, raster = _painted()
    plain = c.plain_resample(image, 4 * W, 4 * H)
    refined = plain.copy()
    refined[: 4 * 16, : 4 * 48] = (20, 200, 20)  # the model repainted half the stroke
    out = c.resample(image, raster, refined)
    assert c.figures(out.raster)["human_paint_share"] == pytest.approx(0.125, abs=0.005)
    assert out.stats["visible_px"] == 4 * 16 * 4 * 48


def test_a_plain_resample_moves_no_credit_and_keeps_the_v2_base_values() -> None:
    image, raster = _painted(40, 30)  # not a whole number of output pixels at ×2.5
    out = c.resample(image, raster, c.plain_resample(image, 240, 160))
    before, after = c.figures(raster), c.figures(out.raster)
    assert after["human_paint_share"] == pytest.approx(before["human_paint_share"], abs=0.01)
    assert out.stats["visible_px"] == 0
    assert out.raster.base is not None and raster.base is not None
    carried = c.carry(raster, 240, 160)
    assert carried.base is not None and np.array_equal(out.raster.base, carried.base)
    assert np.array_equal(out.raster.base[0, 0], raster.base[0, 0])


def test_the_plain_resample_is_deterministic_and_close_to_lanczos() -> None:
    from PIL import Image

    y, x = np.mgrid[0:H, 0:W]
    smooth = np.stack([x * 2, y * 3, x + y], -1).astype(np.uint8)
    ours = c.plain_resample(smooth, 4 * W, 4 * H)
    assert np.array_equal(ours, c.plain_resample(smooth.copy(), 4 * W, 4 * H))
    pil = np.asarray(Image.fromarray(smooth).resize((4 * W, 4 * H), Image.Resampling.LANCZOS))
    assert int(np.abs(ours.astype(int) - pil).max()) <= 1
    down = c.plain_resample(natural_plate(W, H), W // 3, H // 3)
    assert down.shape == (H // 3, W // 3, 3)


def test_an_absurd_factor_or_a_v1_refinement_is_refused() -> None:
    image, raster = _painted()
    with pytest.raises(ValueError, match="more than 16x"):
        c.resample(image, raster, np.zeros((H * 17, W * 17, 3), np.uint8))
    with pytest.raises(ValueError, match="definition 2"):
        c.resample(image, raster, np.zeros((H * 2, W * 2, 3), np.uint8), version=1)
