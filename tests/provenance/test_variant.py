"""A variant's provenance (bgart.provenance.variant): the parent's human paint survives where
the model left the parent's pixels within the visible-change threshold, and only there."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.images import noise_plate, stroke_layer

from bgart import provenance as c

W, H = 64, 48  # 3072 pixels
STROKE = (0, 0, 32, 24)  # a quarter of the plate


def _painted_parent() -> tuple[np.ndarray, c.Raster]:
    """An AI plate with an opaque human stroke over 25 % of it."""
    image = noise_plate(W, H, 3)
    raster = c.generated(W, H).with_base(image)
    painted = c.paint(image, raster, stroke_layer((H, W), STROKE, (250, 20, 20)))
    assert c.figures(painted.raster)["human_paint_share"] == pytest.approx(0.25)
    return painted.image, painted.raster


def test_a_variant_that_keeps_half_the_stroke_credits_half_of_it() -> None:
    parent, raster = _painted_parent()
    night = (parent // 4).astype(np.uint8)  # the whole plate visibly darker…
    night[0:24, 16:32] = parent[0:24, 16:32]  # …but the stroke's right half left as painted
    night[0:24, 16:32, 0] -= 1  # (one level off: within the visible-change threshold)

    applied = c.variant(parent, raster, night)

    assert np.array_equal(applied.image, night)  # the variant's pixels, exactly
    figs = c.figures(applied.raster)
    assert figs["human_paint_share"] == pytest.approx(0.125)  # 16×24 of 64×48 pixels
    assert figs["human_touched_share"] == pytest.approx(0.25)  # touched, even if repainted
    kept = applied.raster.human[0:24, 16:32]
    assert (kept == 1.0).all() and (applied.raster.human[0:24, 0:16] == 0.0).all()
    assert applied.stats["mask_px"] == W * H
    assert applied.stats["visible_px"] == W * H - 16 * 24


def test_a_variant_that_repaints_everything_credits_no_one() -> None:
    parent, raster = _painted_parent()
    applied = c.variant(parent, raster, 255 - parent)
    assert c.figures(applied.raster)["human_paint_share"] == 0.0


def test_a_variant_of_another_size_is_refused() -> None:
    parent, raster = _painted_parent()
    with pytest.raises(ValueError, match="variant image is 32x48 but its parent plate is 64x48"):
        c.variant(parent, raster, parent[:, :32].copy())
