"""Global gradient maps and vignettes are adjustments, not paint (definition v2).

Neither is a per-channel tone curve (:mod:`bgart.provenance.tone`), so that test misses them:

* a **gradient map** sends every pixel to a colour chosen by its luminance alone:
  ``after = G(Y(before))`` with Y the Rec. 601 or Rec. 709 luma;
* a **vignette** darkens (or lightens) the plate by a gain that depends only on the distance
  from its centre: ``after = before·g(r)`` toward black, ``255 − (255 − before)·g(r)``
  toward white, with g = 1 at the centre and never rising outward.

Each is fitted from the same sample as the tone curve (:func:`fit_global`), and only when
the tone curve explains less. A fit counts only when it is *broad and explains*: at least
50 % of the sample changed (a vignette: 12.5 %, with the corners changed and the centre
not), and the fitted map explains at least half of the changed pixels within 4 levels per
channel. Like the tone curve it must keep the
picture's structure: a gradient map explains a luminance level only where its output
luminance moves with the input (|slope| in [0.25, 4] over ±8 levels; a flat fill, which is
a "gradient map" to one colour, has slope 0 and stays paint), and a vignette only where its
gain is ≥ 0.25. A local dodge or burn changes a part of each luminance level and of each
ring, so neither fit explains it: it stays paint.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bgart.provenance.raster import U8, BoolArr

_TOLERANCE = 4  # levels per channel between a pixel and the fitted map
_MIN_CHANGED_MAP = 0.5  # share of the sample a gradient map must change
_MIN_CHANGED_VIGNETTE = 0.125  # and a vignette (it may leave the middle alone)
_MIN_EXPLAINED = 0.5  # share of the changed pixels the fit must explain
_UNIFORM = 0.8  # share of a luma level / a ring the fit must explain to count there
_SLOPE_WINDOW = 8
_MIN_LEVELS = 32  # luma levels (each ≥ 4 pixels of the sample) a map is fitted on
_MIN_SLOPE, _MAX_SLOPE = 0.25, 4.0
_RINGS = 32  # vignette gain bins over the normalised radius 0..√2
_MIN_GAIN = 0.25
_MONOTONE_SLACK = 0.02
_LUMA = {"601": (77, 150, 29), "709": (54, 183, 19)}  # /256


@dataclass(frozen=True)
class GradientMap:
    """``after = lut[:, Y(before)]`` where ``ok[Y]``; ``weights`` the luma's (/256)."""

    weights: tuple[int, int, int]
    lut: U8  # (3, 256)
    ok: BoolArr  # (256,)

    def explains(self, b: U8, a: U8, where: np.ndarray | None = None) -> BoolArr:
        y = _luma(b, self.weights)
        pred = self.lut[:, y].astype(np.int16)
        close = (np.abs(pred - a.astype(np.int16)) <= _TOLERANCE).all(axis=0)
        return close & self.ok[y]


@dataclass(frozen=True)
class Vignette:
    """``after = before·g(r)`` (``white``: ``255 − (255 − before)·g(r)``) on a plate of
    ``width`` × ``height``, g linear between ring centres; ``where`` are pixel indices."""

    width: int
    height: int
    white: bool
    gain: np.ndarray  # (_RINGS,) float64

    def explains(self, b: U8, a: U8, where: np.ndarray | None = None) -> BoolArr:
        if where is None:
            return np.zeros(b.shape[1], bool)
        r = _radius(np.asarray(where), self.width, self.height)
        centres = (np.arange(_RINGS) + 0.5) * (np.sqrt(2) / _RINGS)
        g = np.interp(r, centres, self.gain)
        bi = b.astype(np.float64)
        pred = 255.0 - (255.0 - bi) * g if self.white else bi * g
        close = (np.abs(np.rint(pred) - a) <= _TOLERANCE).all(axis=0)
        return close & (g >= _MIN_GAIN)


GlobalAdjustment = GradientMap | Vignette


def fit_global(b: U8, a: U8, where: np.ndarray, width: int, height: int) -> GlobalAdjustment | None:
    """A gradient map or a vignette that explains the change from planar sample ``b`` to
    ``a`` (pixels ``where`` of a ``width`` × ``height`` plate), or None."""
    changed = (a != b).any(axis=0)
    m = b.shape[1]
    n_changed = int(np.count_nonzero(changed))
    if m == 0 or n_changed < _MIN_CHANGED_VIGNETTE * m:
        return None
    candidates: list[GlobalAdjustment] = []
    if n_changed >= _MIN_CHANGED_MAP * m:
        candidates += [g for w in _LUMA.values() if (g := _fit_map(b, a, w)) is not None]
    r = _radius(where, width, height)
    corners, centre = r >= 1.1, r < 0.25
    # cheap gate (verify replays every paint): a vignette changes (nearly) all of the
    # corners and (nearly) none of the centre
    near_corners = corners.any() and changed[corners].mean() >= 0.75
    if near_corners and centre.any() and changed[centre].mean() <= 0.25:
        candidates += [
            v
            for white in (False, True)
            if (v := _fit_vignette(b, a, where, width, height, white)) is not None
        ]
    moved = np.flatnonzero(changed)  # np.take: several times faster than a mask here
    bc, ac, wc = np.take(b, moved, axis=1), np.take(a, moved, axis=1), where[moved]
    best, best_share = None, _MIN_EXPLAINED
    for cand in candidates:
        ex = cand.explains(bc, ac, wc)
        if isinstance(cand, GradientMap) and not _many_levels(_luma(bc[:, ex], cand.weights)):
            continue  # a recolouring of a few flat areas, not a map of the picture's tones
        share = float(ex.mean())
        if share >= best_share:
            best, best_share = cand, share
    return best


def _many_levels(y: np.ndarray) -> bool:
    """Do luma values ``y`` fill at least 32 levels (≥ 4 each) spanning at least 48?"""
    populated = np.flatnonzero(np.bincount(y, minlength=256) >= 4)
    return populated.size >= _MIN_LEVELS and int(populated[-1] - populated[0]) >= 48


def _luma(b: U8, weights: tuple[int, int, int]) -> np.ndarray:
    wr, wg, wb = weights
    y = wr * b[0].astype(np.int32) + wg * b[1].astype(np.int32) + wb * b[2].astype(np.int32)
    return np.minimum((y + 128) >> 8, 255)


def _fit_map(b: U8, a: U8, weights: tuple[int, int, int]) -> GradientMap | None:
    """The per-luma median colour of the sample, where its luma keeps structure and it
    explains (nearly) the whole luma level: a map over part of the plate does not."""
    y = _luma(b, weights)
    rows = np.bincount(y, minlength=256)
    populated = np.flatnonzero(rows >= 4)
    if not _many_levels(y):
        return None  # too few luma levels to tell a map from a recolouring of some flats
    # cheap gate: the per-level mean colour must already fit most pixels (a map sends each
    # level to one colour; paint over part of the plate does not)
    mean = np.stack([np.bincount(y, weights=a[ch], minlength=256) for ch in range(3)])
    mean /= np.maximum(rows, 1)
    if (np.abs(mean[:, y] - a) <= 2 * _TOLERANCE).all(axis=0).mean() < _MIN_EXPLAINED:
        return None
    lut = np.empty((3, 256), np.uint8)
    half = (rows + 1) // 2
    for ch in range(3):
        hist = np.bincount(y * 256 + a[ch], minlength=65536).reshape(256, 256)
        med = (np.cumsum(hist, axis=1) < half[:, None]).sum(axis=1)
        lut[ch] = np.rint(np.interp(np.arange(256), populated, med[populated]))
    out_y = _luma(lut, weights).astype(np.float64)
    levels = np.arange(256)
    lo = np.clip(levels - _SLOPE_WINDOW, 0, 255)
    hi = np.clip(levels + _SLOPE_WINDOW, 0, 255)
    slope = np.abs(out_y[hi] - out_y[lo]) / np.maximum(hi - lo, 1)
    ok = (slope >= _MIN_SLOPE) & (slope <= _MAX_SLOPE)
    ok[: populated[0]] = False
    ok[populated[-1] + 1 :] = False
    close = (np.abs(lut[:, y].astype(np.int16) - a.astype(np.int16)) <= _TOLERANCE).all(axis=0)
    explained = np.bincount(y, weights=close, minlength=256)
    ok &= (explained >= _UNIFORM * rows) & (rows >= 4)  # only levels the plate has
    if not ok.any():
        return None
    return GradientMap(weights, lut, ok)


def _radius(where: np.ndarray, width: int, height: int) -> np.ndarray:
    """Distance of pixel indices from the plate's centre, 1 at the middle of each edge."""
    y, x = np.divmod(where.astype(np.int64), width)
    dx = (x + 0.5 - width / 2) / (width / 2)
    dy = (y + 0.5 - height / 2) / (height / 2)
    return np.minimum(np.sqrt(dx * dx + dy * dy), np.sqrt(2) - 1e-9)


def _fit_vignette(
    b: U8, a: U8, where: np.ndarray, width: int, height: int, white: bool
) -> Vignette | None:
    """The per-ring median gain of the sample, if it is a vignette: 1 at the centre, never
    rising outward (by more than 0.02), below 0.9 somewhere, and explaining nearly every
    pixel of each ring it darkens (a burn over part of the plate does not)."""
    bf, af = b.astype(np.float64), a.astype(np.float64)
    if white:
        bf, af = 255.0 - bf, 255.0 - af
    r = _radius(where, width, height)
    ring = np.minimum((r / np.sqrt(2) * _RINGS).astype(np.intp), _RINGS - 1)
    ring3 = np.tile(ring, 3)
    usable = bf.ravel() >= 32
    ratio = af.ravel()[usable] / bf.ravel()[usable]
    ring3 = ring3[usable]
    order = np.argsort(ring3, kind="stable")
    starts = np.searchsorted(ring3[order], np.arange(_RINGS + 1))
    gain = np.ones(_RINGS)
    for k in range(_RINGS):
        if starts[k + 1] - starts[k] >= 4:
            gain[k] = float(np.median(ratio[order[starts[k] : starts[k + 1]]]))
    rises = np.maximum.accumulate(gain[::-1])[::-1]  # the most any outer ring rises above
    if (rises - gain).max() > _MONOTONE_SLACK or gain.min() > 0.9 or abs(gain[0] - 1) > 0.02:
        return None
    vignette = Vignette(width, height, white, gain)
    close = vignette.explains(b, a, where) | (a == b).all(axis=0)
    per_ring = np.bincount(ring, weights=close, minlength=_RINGS)
    pop = np.bincount(ring, minlength=_RINGS)
    darkened = (gain < 0.98) & (pop > 0)
    if (per_ring[darkened] < _UNIFORM * pop[darkened]).any():
        return None
    return vignette
