"""Provenance through resampling: a plate refined (or upscaled) to a new size.

A refinement (``ai.refined``, :class:`~bgart.events.EditKind` ``RESAMPLE``) takes a plate
version at, say, 768 px and hands back the model's image at the delivery size. Its raster is
made in two steps:

1. **Carried.** Every output pixel inherits the provenance of its *nearest source pixel*:
   class, human weight h, flags and (v2) base value (:func:`carry`). A human stroke made at
   768 px is the same share of the plate at 3840 px: with an integer factor each source
   pixel becomes a k×k block, so the shares are kept exactly; with any other factor, to
   within the rounding of the mapping's edges.
2. **Changed by the model.** The refined image is compared with a *plain resample* of the
   source (:func:`plain_resample`: a fixed-point Lanczos-3, the same bytes on every machine,
   so ``ledger verify`` recomputes it exactly). What the refinement changed beyond that
   resample, by the visible-change test of the definition in force (ΔE76 > 2.3), is AI:
   the same rule as an inpaint over the whole plate (class ``AI_INPAINT``, h = 0, under v2
   the model's value becomes the pixel's base). The rest keeps its carried author.

Resampling alone is not authorship (definition v2): the carried raster credits nobody anew,
and a pixel the model left as the plain resample has it keeps its author. ``--keep-human-paint``
(:func:`keep_human`) composites the human-credited pixels back from the plain resample after
the model ran, so the refinement does not touch them and their credit survives it.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from bgart.provenance.raster import U8, BoolArr, Raster

_BITS = 14  # fixed-point weights: each output's taps sum to exactly 1 << _BITS
_LANCZOS = 3.0
MAX_FACTOR = 16  # a refinement changes each side by at most this factor, up or down


def source_index(n_in: int, n_out: int) -> NDArray[np.intp]:
    """For each of ``n_out`` output positions, its nearest of ``n_in`` source positions
    (pixel centres: ``floor((o + ½)·n_in / n_out)``, in integers)."""
    out = np.arange(n_out, dtype=np.int64)
    return np.minimum((2 * out + 1) * n_in // (2 * n_out), n_in - 1).astype(np.intp)


def check_factor(src: tuple[int, int], dst: tuple[int, int]) -> None:
    """ValueError unless ``dst`` (width, height) is a size a refinement can take ``src`` to."""
    (sw, sh), (dw, dh) = src, dst
    if min(sw, sh, dw, dh) < 1:
        raise ValueError(f"cannot resample {sw}x{sh} to {dw}x{dh}")
    if max(dw / sw, sw / dw, dh / sh, sh / dh) > MAX_FACTOR:
        raise ValueError(
            f"refined image is {dw}x{dh}: more than {MAX_FACTOR}x the plate's {sw}x{sh}"
        )


def carry(raster: Raster, width: int, height: int) -> Raster:
    """``raster`` at ``width`` x ``height``: each pixel that of its nearest source pixel."""
    ys = source_index(raster.height, height)
    xs = source_index(raster.width, width)

    def take(plane: NDArray[np.generic]) -> NDArray[np.generic]:
        return np.ascontiguousarray(plane[ys[:, None], xs[None, :]])

    base = None if raster.base is None else take(raster.base)
    return Raster(take(raster.cls), take(raster.human), take(raster.flags), base)  # type: ignore[arg-type]


def _weights(n_in: int, n_out: int) -> tuple[NDArray[np.intp], NDArray[np.int32]]:
    """Per output position: its source taps (clamped to the edge) and their fixed-point
    Lanczos-3 weights, summing to exactly ``1 << _BITS`` (the rounding remainder goes to the
    largest tap). Downscaling widens the kernel by the factor, as Pillow's resize does."""
    scale = n_in / n_out
    support = _LANCZOS * max(scale, 1.0)
    taps = math.ceil(support) * 2 + 1
    centre = (np.arange(n_out, dtype=np.float64) + 0.5) * scale
    first = np.floor(centre - support + 0.5).astype(np.int64)
    idx = first[:, None] + np.arange(taps, dtype=np.int64)[None, :]
    x = (idx + 0.5 - centre[:, None]) / max(scale, 1.0)
    w = np.sinc(x) * np.sinc(x / _LANCZOS)
    w[np.abs(x) >= _LANCZOS] = 0.0
    w /= w.sum(axis=1, keepdims=True)
    fixed = np.round(w * (1 << _BITS)).astype(np.int64)
    rows = np.arange(n_out)
    fixed[rows, np.argmax(fixed, axis=1)] += (1 << _BITS) - fixed.sum(axis=1)
    return np.clip(idx, 0, n_in - 1).astype(np.intp), fixed.astype(np.int32)


def _pass(arr: NDArray[np.uint8], n_out: int, axis: int) -> NDArray[np.uint8]:
    """One separable pass along ``axis`` (0: rows, 1: columns) of an (h, w, c) image, in
    integers: the same bytes on any machine."""
    idx, weights = _weights(arr.shape[axis], n_out)
    acc = np.zeros(
        (n_out, arr.shape[1], arr.shape[2]) if axis == 0 else (arr.shape[0], n_out, arr.shape[2]),
        np.int32,
    )
    for k in range(idx.shape[1]):
        w = weights[:, k]
        if not w.any():
            continue
        if axis == 0:
            acc += arr[idx[:, k]].astype(np.int32) * w[:, None, None]
        else:
            acc += arr[:, idx[:, k]].astype(np.int32) * w[None, :, None]
    acc += 1 << (_BITS - 1)
    acc >>= _BITS
    return np.clip(acc, 0, 255).astype(np.uint8)


def plain_resample(image: U8, width: int, height: int) -> U8:
    """``image`` (h, w, 3) resampled to ``width`` x ``height`` with nothing added: a
    separable Lanczos-3 in fixed point (columns, then rows). What a refinement is compared
    with, and what :func:`keep_human` puts back."""
    arr = np.ascontiguousarray(image, np.uint8)
    if arr.shape[:2] == (height, width):
        return arr.copy()
    return np.ascontiguousarray(_pass(_pass(arr, width, 1), height, 0))


def human_pixels(raster: Raster) -> BoolArr:
    """The pixels with any human paint weight (h > 0): what ``--keep-human-paint`` keeps."""
    return raster.human > 0


def keep_human(refined: U8, source: U8, raster: Raster) -> U8:
    """``refined`` with every human-credited pixel of the carried raster (at the refined
    size) taken from the plain resample of ``source`` instead: the refinement leaves the
    artists' strokes as a plain resample has them, so their credit is carried unchanged."""
    height, width = refined.shape[:2]
    carried = carry(raster, width, height)
    keep = human_pixels(carried)
    if not keep.any():
        return np.ascontiguousarray(refined, np.uint8)
    out = np.array(refined, np.uint8, copy=True)
    out[keep] = plain_resample(source, width, height)[keep]
    return out
