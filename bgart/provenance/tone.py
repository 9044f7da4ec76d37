"""Telling a tone adjustment from paint: the global per-channel tone curve of an edit.

A levels or colour-balance edit maps every input level of a channel through one curve; a
repaint does not. :func:`tone_curve` fits that curve from a sample of the plate before and
after, and :func:`_explains` tells, per pixel, whether the curve accounts for the change
(such pixels are marked ADJUSTED and earn no paint credit).
"""

from __future__ import annotations

import numpy as np

from bgart.provenance.colour import _planar
from bgart.provenance.globaladj import GlobalAdjustment, GradientMap, Vignette
from bgart.provenance.raster import U8, BoolArr

_KNOT_STEP = 16
_SAMPLE_MAX = 500_000
_MIN_SLOPE, _MAX_SLOPE = 0.25, 4.0
_MONOTONE_SLACK = 8  # v2: levels a curve may fall back (medians, rounding) and stay monotone


def _sample_stride(n: int) -> int:
    return max(1, -(-n // _SAMPLE_MAX))


Curve = tuple[U8, BoolArr] | tuple[U8, BoolArr, BoolArr] | GlobalAdjustment
"""A fitted tone curve: (prediction, explains) tables (3, 256); v2 adds where clipping may,
or (v2) a gradient map or a vignette (:mod:`bgart.provenance.globaladj`)."""


def tone_curve(before: U8, after: U8) -> Curve | None:
    """Fit the global per-channel tone curve mapping ``before`` to ``after``.

    Per channel, the plate is sampled (at most 500 000 pixels, on a fixed stride) and split
    into windows of 16 input levels; each window holding at least 0.1 % of the sample gives a
    curve point (median input, median input + median change); points closer than 8 levels
    are merged. A channel's curve counts as a *global adjustment* only when it is broad: at
    least 4 points move (by more than one level), spanning at least 48 levels and at least
    25 % of the plate. A repainted region, even a flat one that fills one window, is too
    narrow to pass. Between points the curve is linear, and a segment *explains* its inputs
    only if its slope lies in [0.25, 4]: levels, curves and colour balance keep the
    picture's structure, a fill flattens it (slope ≈ 0) and is paint.

    Returns None when every channel's curve is the identity (the usual case: less than half
    of each window changed), else (prediction table (3, 256) uint8, explains table (3, 256)
    bool). A pixel is explained when all three channels are.
    """
    n = before.shape[0] * before.shape[1]
    stride = _sample_stride(n)
    return _fit_curve(
        _planar(before.reshape(n, 3)[::stride]), _planar(after.reshape(n, 3)[::stride])
    )


_MIN_MOVED_POINTS = 4
_MIN_MOVED_SPAN = 48
_MIN_MOVED_SHARE = 0.25


def _fit_curve(b: U8, a: U8, clip: bool = False) -> Curve | None:
    """The tone curve from planar (3, m) samples before/after (see :func:`tone_curve`).

    ``clip`` (definition v2): a flat segment whose ends are both predicted at 0 or both at
    255 explains its inputs too: levels or contrast that clip (e.g. 20–235) flatten the
    picture there, as a fill would, but at the ends of the range only."""
    m = b.shape[1]
    min_pop = max(16, m // 1000)
    pred = np.empty((3, 256), np.uint8)
    ok = np.zeros((3, 256), bool)
    clip_ok = np.zeros((3, 256), bool)  # v2: input levels an adjustment clipped
    clip_pred = np.zeros((3, 256), np.uint8)  # and the value (0 or 255) it clipped them to
    identity = True
    any_broad = False
    levels = np.arange(256)
    for ch in range(3):
        bv = b[ch].astype(np.int32)
        d = a[ch].astype(np.int32) - bv + 255
        hist = np.bincount(bv * 511 + d, minlength=256 * 511).reshape(256, 511)
        rows = hist.sum(axis=1)
        xs: list[int] = []
        ds: list[int] = []
        pops: list[int] = []
        for lo in range(0, 256, _KNOT_STEP):
            hi = lo + _KNOT_STEP
            pop = int(rows[lo:hi].sum())
            if pop < min_pop:
                continue
            half = (pop + 1) // 2
            x = lo + int(np.searchsorted(np.cumsum(rows[lo:hi]), half))
            dm = int(np.searchsorted(np.cumsum(hist[lo:hi].sum(axis=0)), half)) - 255
            if xs and x - xs[-1] < _KNOT_STEP // 2:
                continue
            xs.append(x)
            ds.append(dm)
            pops.append(pop)
        moved = [i for i, dv in enumerate(ds) if abs(dv) > 1]
        pred[ch] = levels
        if not moved:  # identity channel: explains what it covers
            if xs:
                ok[ch, xs[0] : xs[-1] + 1] = True
            continue
        identity = False
        broad = (
            len(moved) >= _MIN_MOVED_POINTS
            and xs[moved[-1]] - xs[moved[0]] >= _MIN_MOVED_SPAN
            and sum(pops[i] for i in moved) >= _MIN_MOVED_SHARE * m
        )
        if not broad:  # a local change, not an adjustment: explains nothing
            continue
        any_broad = True
        # Piecewise linear through the points, extended along the end segments (the
        # sparse extremes of the histogram follow the same adjustment).
        curve = levels + np.interp(levels, xs, ds)
        lo_slope = (ds[1] - ds[0]) / (xs[1] - xs[0])
        hi_slope = (ds[-1] - ds[-2]) / (xs[-1] - xs[-2])
        curve[: xs[0]] += (levels[: xs[0]] - xs[0]) * lo_slope
        curve[xs[-1] + 1 :] += (levels[xs[-1] + 1 :] - xs[-1]) * hi_slope
        pred[ch] = np.clip(np.rint(curve), 0, 255).astype(np.uint8)
        p16 = pred[ch].astype(np.int16)
        falls = int((np.maximum.accumulate(p16) - p16).max())
        rises = int((p16 - np.minimum.accumulate(p16)).max())
        # v2: only a monotone channel (levels, curves) may clip; any other keeps v1's rule
        may_clip = clip and min(falls, rises) <= _MONOTONE_SLACK
        normal = [
            _MIN_SLOPE <= abs(1.0 + (ds[i + 1] - ds[i]) / (xs[i + 1] - xs[i])) <= _MAX_SLOPE
            for i in range(len(xs) - 1)
        ]
        for i in range(len(xs) - 1):
            if normal[i]:
                start = 0 if i == 0 else xs[i]
                stop = 256 if i == len(xs) - 2 else xs[i + 1] + 1
                ok[ch, start:stop] = True
        if may_clip and sum(normal) >= 2:
            # v2: input levels that (nearly) all went to 0 or to 255 are clipped by the
            # adjustment: levels 20–235 sends everything below 20 to 0. A fill over part
            # of the plate sends only part of each level there.
            for out, col in ((0, 255 - levels), (255, 510 - levels)):
                hits = hist[levels, col]
                clipped_levels = (rows >= 4) & (hits * 10 >= rows * 9)
                clip_pred[ch, clipped_levels] = out
                clip_ok[ch, clipped_levels] = True
    if identity or not any_broad or not ok.any(axis=1).all():
        return None  # nothing can be explained (all three channels must be): all is paint
    if not clip:
        return pred, ok
    if clip_ok.any():
        # Clipping is read only on top of a curve that explains most of what changed: a
        # fill over one side of a plate sends whole levels to one value too, when the
        # picture's levels lie on one side (a gradient), but explains nothing else.
        changed = np.flatnonzero((a != b).any(axis=0))
        if changed.size and _explains((pred, ok), b[:, changed], a[:, changed]).mean() >= 0.5:
            pred = np.where(clip_ok, clip_pred, pred).astype(np.uint8)
            ok = ok | clip_ok
        else:
            clip_ok[:] = False
    return pred, ok, clip_ok


_CURVE_TOLERANCE = 3  # levels per channel: the fitted curve is piecewise linear, integer
_CLIP_TOLERANCE = 16  # v2: levels between a clipped value (0 or 255) and the curve's


def _explains(curve: Curve, b: U8, a: U8, where: np.ndarray | None = None) -> BoolArr:
    """For planar pixels (3, m): is ``a`` the tone curve applied to ``b``, within 3 levels
    on every channel, with all three channels inside an explaining segment?

    A v2 curve (three tables) also lets a channel at 0 or 255 count as explained when a
    monotone curve predicts within 16 levels of it: the fitted curve is piecewise linear
    between medians and rounds off the corner where levels or contrast start to clip.

    A gradient map or a vignette explains by its own rule (``where``: the pixels' indices
    in the plate, which a vignette needs)."""
    if isinstance(curve, (GradientMap, Vignette)):
        return curve.explains(b, a, where)
    pred_tab, ok_tab = curve[0], curve[1]
    clip_tab = curve[2] if len(curve) > 2 else None
    ok = np.take(ok_tab[0], b[0])
    ok &= np.take(ok_tab[1], b[1])
    ok &= np.take(ok_tab[2], b[2])
    idx = np.flatnonzero(ok)
    if idx.size == 0:
        return ok
    if idx.size < ok.size:
        b, a = np.take(b, idx, axis=1), np.take(a, idx, axis=1)
    close = np.ones(idx.size, bool)
    for c in range(3):
        err = np.take(pred_tab[c], b[c]).astype(np.int16)
        err -= a[c]
        np.abs(err, out=err)
        if clip_tab is not None:
            at_end = ((a[c] == 0) | (a[c] == 255)) & np.take(clip_tab[c], b[c])
            # an input at 0 or 255 may have been clipped by an earlier adjustment: undoing
            # it may bring it back anywhere between the curve's value and that end
            pred = np.take(pred_tab[c], b[c])
            unclip = ((b[c] == 255) & (a[c] >= pred)) | ((b[c] == 0) & (a[c] <= pred))
            close &= (err <= _CURVE_TOLERANCE) | (at_end & (err <= _CLIP_TOLERANCE)) | unclip
        else:
            close &= err <= _CURVE_TOLERANCE
    ok[idx] = close
    return ok
