"""Tiles over a latent or an image: where the windows go, how they are blended, and how
visible the seams between them are. Pure numpy, no diffusers.

A plate larger than the model's native size is made window by window (MultiDiffusion,
Bar-Tal et al. 2023, as in diffusers' ``StableDiffusionPanoramaPipeline`` and the community
mixture-tiling pipelines): windows of the native size overlap, every step each window's
noise prediction is computed, and the predictions are averaged where windows overlap. Plain
averaging leaves a faint step where a window ends; the weights here are feathered (a
raised-cosine ramp over the overlap), so a window's influence fades out before its edge.

:func:`plan_windows` places the windows (covering the edges exactly, overlapping by at least
the asked amount), :func:`blend_weights` gives each its weight map, and :func:`seam_ratio`
measures seams: the mean gradient across the windows' inner edges against the mean gradient
everywhere else. A seamless image scores about 1; a tiler whose tiles disagree scores well
above (see ``SEAM_LIMIT``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SEAM_LIMIT = 1.5
"""A seam ratio above this is a visible seam (the tests and the bench use it): the image
changes at the tiles' edges half as much again as it does elsewhere."""

MIN_WEIGHT = 1e-3
"""The smallest blending weight: every pixel of a window counts a little, so a pixel that
only one window covers is never divided by zero."""


@dataclass(frozen=True)
class Window:
    """One window: ``top``, ``left``, ``height``, ``width`` in the grid planned over."""

    top: int
    left: int
    height: int
    width: int

    @property
    def bottom(self) -> int:
        return self.top + self.height

    @property
    def right(self) -> int:
        return self.left + self.width

    def scaled(self, factor: int) -> Window:
        """The same window on a grid ``factor`` times finer (latent → pixels: 8)."""
        return Window(
            self.top * factor, self.left * factor, self.height * factor, self.width * factor
        )


def spans(length: int, window: int, overlap: int, align: int = 1) -> tuple[list[int], int]:
    """Start positions and the common size of windows covering ``0..length``: the first at
    0, the last ending exactly at ``length``, spaced evenly, neighbours overlapping by at
    least ``overlap`` cells. As few windows as cover it, each no larger than needed (a
    multiple of ``align``, at most ``window``), so that little work is spent twice. One
    window of ``length`` when ``length <= window``."""
    if length < 1 or window < 1:
        raise ValueError(f"spans: length {length} and window {window} must be at least 1")
    if not 0 <= overlap < window:
        raise ValueError(f"spans: overlap {overlap} must be 0..{window - 1}")
    if length <= window:
        return [0], length
    count = max(2, math.ceil((length - overlap) / (window - overlap)))
    while count <= length:
        size = -(-math.ceil((length + (count - 1) * overlap) / count) // align) * align
        while size <= window and size - math.ceil((length - size) / (count - 1)) < overlap:
            size += align
        if size <= window:
            last = length - size
            return [round(i * last / (count - 1)) for i in range(count)], size
        count += 1
    raise ValueError(f"spans: no {align}-aligned windows of at most {window} cover {length}")


def plan_windows(
    height: int, width: int, window: tuple[int, int], overlap: int, align: int = 8
) -> list[Window]:
    """Windows of at most ``window`` = (height, width) cells over a ``height`` x ``width``
    grid, row by row, overlapping by at least ``overlap`` cells (0: side by side, the naive
    tiler), their sides multiples of ``align`` (8 latent cells: what a UNet's three
    downsamplings take) unless one window covers the grid's side."""
    rows, wh = spans(height, window[0], min(overlap, window[0] - 1), align)
    cols, ww = spans(width, window[1], min(overlap, window[1] - 1), align)
    return [Window(t, left, wh, ww) for t in rows for left in cols]


def _ramp(n: int, fade_start: bool, fade_end: bool, feather: int) -> np.ndarray:
    """1-D weights over ``n`` cells: 1 in the middle, a raised-cosine ramp over ``feather``
    cells at an end that another window overlaps, flat at an end on the grid's border."""
    w = np.ones(n, dtype=np.float64)
    f = min(feather, n // 2)
    if f > 0:
        x = (np.arange(f, dtype=np.float64) + 0.5) / f
        ramp = 0.5 - 0.5 * np.cos(np.pi * x)
        if fade_start:
            w[:f] = ramp
        if fade_end:
            w[n - f :] = ramp[::-1]
    return np.maximum(w, MIN_WEIGHT)


def blend_weights(
    windows: Sequence[Window], height: int, width: int, feather: int
) -> list[np.ndarray]:
    """Each window's weight map (``window.height`` x ``window.width``, float64): feathered
    over ``feather`` cells along every edge that lies inside the grid, flat along the grid's
    own borders (nothing else covers them). ``feather`` 0 gives flat weights: plain
    averaging, as diffusers' panorama pipeline does."""
    out = []
    for win in windows:
        rows = _ramp(win.height, win.top > 0, win.bottom < height, feather)
        cols = _ramp(win.width, win.left > 0, win.right < width, feather)
        out.append(np.outer(rows, cols))
    return out


def blend(
    tiles: Sequence[np.ndarray], windows: Sequence[Window], height: int, width: int, feather: int
) -> np.ndarray:
    """The weighted average of ``tiles`` (each ``(h, w, ...)``, placed at its window) over a
    ``height`` x ``width`` grid."""
    if not tiles:
        raise ValueError("blend: no tiles")
    rest = tiles[0].shape[2:]
    acc = np.zeros((height, width, *rest), dtype=np.float64)
    total = np.zeros((height, width), dtype=np.float64)
    for tile, win, weight in zip(
        tiles, windows, blend_weights(windows, height, width, feather), strict=True
    ):
        wv = weight.reshape(weight.shape + (1,) * len(rest))
        acc[win.top : win.bottom, win.left : win.right] += tile * wv
        total[win.top : win.bottom, win.left : win.right] += weight
    if (total <= 0).any():
        raise ValueError("blend: the windows leave part of the grid uncovered")
    return acc / total.reshape(total.shape + (1,) * len(rest))


def inner_edges(windows: Sequence[Window], height: int, width: int) -> tuple[list[int], list[int]]:
    """Where windows start or end inside the grid: (rows, columns) of the cell just past each
    edge, sorted, without the grid's own borders. The seams of a tiler are there."""
    rows = sorted({e for w in windows for e in (w.top, w.bottom) if 0 < e < height})
    cols = sorted({e for w in windows for e in (w.left, w.right) if 0 < e < width})
    return rows, cols


def seam_ratio(
    image: np.ndarray, rows: Sequence[int], cols: Sequence[int], margin: int = 2
) -> float:
    """How visible the seams at ``rows``/``cols`` are: the mean absolute step across them
    against the mean step elsewhere (steps within ``margin`` of a seam left out of the
    reference).

    ``image`` is ``(h, w)`` or ``(h, w, channels)``, any scale. A step across column ``c``
    is ``image[:, c] - image[:, c - 1]`` (rows likewise). About 1: the image changes at the
    tiles' edges as it does anywhere else; above :data:`SEAM_LIMIT`: a visible seam. An
    image with no seams to measure (one window) scores 1.0.
    """
    img = np.asarray(image, dtype=np.float64)
    if img.ndim == 2:
        img = img[:, :, None]
    h, w = img.shape[:2]
    dx = np.abs(np.diff(img, axis=1)).mean(axis=2)  # dx[:, c - 1]: step into column c
    dy = np.abs(np.diff(img, axis=0)).mean(axis=2)
    seam_steps: list[np.ndarray] = []
    keep_x = np.ones(w - 1, dtype=bool)
    keep_y = np.ones(h - 1, dtype=bool)
    for c in cols:
        if 0 < c < w:
            seam_steps.append(dx[:, c - 1])
            keep_x[max(0, c - 1 - margin) : c + margin] = False
    for r in rows:
        if 0 < r < h:
            seam_steps.append(dy[r - 1, :])
            keep_y[max(0, r - 1 - margin) : r + margin] = False
    if not seam_steps:
        return 1.0
    across = float(np.concatenate(seam_steps).mean())
    interior = [a.ravel() for a in (dx[:, keep_x], dy[keep_y, :]) if a.size]
    reference = float(np.concatenate(interior).mean()) if interior else 0.0
    if reference <= 1e-12:
        return 1.0 if across <= 1e-12 else math.inf
    return across / reference
