"""Window planning, blending weights and the seam metric (bgart.generation.tiles)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from bgart.generation.tiles import (
    SEAM_LIMIT,
    Window,
    blend,
    blend_weights,
    inner_edges,
    plan_windows,
    seam_ratio,
    spans,
)


@pytest.mark.parametrize(
    ("length", "window", "overlap", "align"),
    [
        (240, 96, 16, 8),
        (135, 96, 16, 8),
        (720, 64, 8, 8),
        (97, 96, 16, 1),
        (96, 96, 16, 8),
        (40, 96, 16, 8),
        (1000, 128, 0, 8),
        (1000, 100, 30, 1),
    ],
)
def test_windows_cover_the_edges_exactly_and_overlap_by_at_least_the_asked(
    length: int, window: int, overlap: int, align: int
) -> None:
    starts, size = spans(length, window, overlap, align)
    assert size <= window
    assert starts[0] == 0 and starts[-1] + size == length
    assert starts == sorted(set(starts))
    if len(starts) > 1:
        assert size % align == 0
    for a, b in itertools.pairwise(starts):
        assert a + size - b >= overlap  # neighbours overlap enough


def test_windows_are_no_larger_than_needed() -> None:
    """1080p in latent cells (240x135) with 96-cell windows: 3 x 2 windows, trimmed so that
    the cells computed twice stay few (a UNet pass over 1.42x the plate, not 1.71x)."""
    wins = plan_windows(135, 240, (96, 96), 16)
    assert len(wins) == 6
    area = sum(w.height * w.width for w in wins)
    assert area / (135 * 240) < 1.45


def test_plan_covers_every_cell_of_a_6_to_1_pan_latent() -> None:
    wins = plan_windows(120, 720, (64, 96), 16)
    cover = np.zeros((120, 720), dtype=int)
    for w in wins:
        assert w.height <= 64 and w.width <= 96
        assert w.height % 8 == 0 and w.width % 8 == 0
        cover[w.top : w.bottom, w.left : w.right] += 1
    assert cover.min() >= 1
    assert wins[-1].bottom == 120 and wins[-1].right == 720


def test_a_grid_smaller_than_the_window_is_one_window() -> None:
    assert plan_windows(40, 60, (64, 96), 16) == [Window(0, 0, 40, 60)]
    assert seam_ratio(np.zeros((40, 60)), *inner_edges([Window(0, 0, 40, 60)], 40, 60)) == 1.0


def test_weights_are_flat_on_the_grid_border_and_fade_inside() -> None:
    wins = plan_windows(64, 200, (64, 96), 16)
    weights = blend_weights(wins, 64, 200, feather=16)
    first, last = weights[0], weights[-1]
    assert first[:, 0].min() == 1.0  # left border of the plate: nothing else covers it
    assert first[:, -1].max() < 0.05  # its right edge lies inside: faded out
    assert last[:, -1].min() == 1.0 and last[:, 0].max() < 0.05
    assert all(w.min() > 0 for w in weights)


def test_blending_identical_tiles_gives_the_image_back() -> None:
    rng = np.random.default_rng(0)
    img = rng.random((80, 300, 3))
    wins = plan_windows(80, 300, (64, 96), 16)
    tiles = [img[w.top : w.bottom, w.left : w.right] for w in wins]
    np.testing.assert_allclose(blend(tiles, wins, 80, 300, feather=16), img, atol=1e-12)


def _smooth_image(h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    return 0.5 + 0.2 * np.sin(x / 23.0) * np.cos(y / 31.0) + 0.1 * np.sin((x + 2 * y) / 47.0)


def _window_model(img: np.ndarray, win: Window) -> np.ndarray:
    """A stand-in for a denoiser that sees only its window: it returns the window's pixels
    shifted by a bias of its own (as two UNet calls on two crops never agree exactly),
    deterministic per window position."""
    rng = np.random.default_rng(win.top * 10007 + win.left)
    return img[win.top : win.bottom, win.left : win.right] + rng.uniform(-0.05, 0.05)


def test_seam_metric_fails_a_naive_tiler_and_passes_the_feathered_blend() -> None:
    """What it proves: the same per-window disagreement that leaves a visible step at every
    tile edge when tiles are laid side by side (ratio far above SEAM_LIMIT) is spread into
    a gradual transition by overlapping windows with feathered weights (ratio about 1), and
    the metric tells the two apart."""
    h, w = 192, 576
    img = _smooth_image(h, w)
    naive = plan_windows(h, w, (64, 96), 0)
    naive_out = blend([_window_model(img, win) for win in naive], naive, h, w, feather=0)
    over = plan_windows(h, w, (64, 96), 32)
    over_out = blend([_window_model(img, win) for win in over], over, h, w, feather=32)
    naive_ratio = seam_ratio(naive_out, *inner_edges(naive, h, w))
    over_ratio = seam_ratio(over_out, *inner_edges(over, h, w))
    assert naive_ratio > 3 * SEAM_LIMIT
    assert over_ratio < SEAM_LIMIT
    assert seam_ratio(img, *inner_edges(over, h, w)) == pytest.approx(1.0, abs=0.2)
