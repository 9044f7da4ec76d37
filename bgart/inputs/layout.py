"""Scanned pencil layout -> clean line image for ControlNet.

A layout scan is grey or cream paper, lit unevenly (vignetting, a shadow from the scanner
lid), with grey pencil lines of varying pressure. ControlNet lineart/scribble models expect
the opposite: WHITE lines on a BLACK background, nothing else. :func:`prepare_layout` gets
there in five steps, all vectorised numpy plus Pillow resampling:

1. greyscale, box-downsampled to a working size (twice the output size: enough detail for
   clean anti-aliasing, and a 4000x3000 scan is then cheap to process);
2. paper removal: estimate the lighting on a coarse grid (the median of each cell: lines
   are dark and thin, so most of a cell is paper), smooth it, divide it out, giving *ink* =
   how much darker than the paper each pixel is, independent of vignetting;
3. levels: the paper's noise floor (robust MAD estimate) maps to black, the typical pencil
   darkness (a high percentile of the inked pixels) to full white, so light and heavy
   pencil both give full lines;
4. soft threshold (smoothstep between the two levels) so anti-aliased edges survive
   instead of turning into jaggies;
5. fit to the plate: scale to fit, centre, pad with black. Never stretch: a wide pan keeps
   its aspect.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from bgart.errors import InputError
from bgart.images import open_image, sample_peak, to_mode

MIN_PLATE_SIDE = 64
MAX_PLATE_SIDE = 4096

SUPERSAMPLE = 2  # work at this multiple of the fitted output size
BG_GRID = 32  # the lighting estimate is computed on about this many cells along the long side
PAPER_QUANTILE = 0.5  # per cell: the median is paper until pencil covers half the cell
HATCH_TOLERANCE = 0.03  # a cell this much darker than its neighbours' median is not paper
NOISE_SIGMAS = 3.5  # black point: this many noise sigmas of ink above the paper
MIN_BLACK_POINT = 0.02  # ink fraction; scans cleaner than this still need a floor
MIN_CONTRAST = 0.06  # white point at least this far above the black point (blank paper)
LINE_PERCENTILE = 90.0  # the pencil darkness that maps to full white
WHITE_FRACTION = 0.6  # ... reached at this fraction of the way from black point to it


def check_plate_size(width: int, height: int) -> None:
    """Refuse a plate size the diffusion models can't take (multiples of 8, 64..4096)."""
    for label, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise InputError(f"{label} {value!r} is not a whole number of pixels")
        if value < MIN_PLATE_SIDE or value > MAX_PLATE_SIDE:
            raise InputError(
                f"{label} {value} is out of range ({MIN_PLATE_SIDE}..{MAX_PLATE_SIDE})"
            )
        if value % 8:
            raise InputError(f"{label} {value} is not a multiple of 8")


def plate_size_for(src_w: int, src_h: int, long_side: int = 768) -> tuple[int, int]:
    """A plate size with the layout's aspect: long side ``long_side``, both multiples of 8.

    The short side is rounded to the nearest multiple of 8 (never below 64); the small
    remaining aspect error is absorbed by padding in :func:`prepare_layout`. A layout that
    is not square never becomes a square plate (a near-square portrait stays portrait).
    """
    if src_w < 1 or src_h < 1:
        raise InputError(f"layout size {src_w}x{src_h} has no pixels")
    check_plate_size(long_side, long_side)
    short = long_side * min(src_w, src_h) / max(src_w, src_h)
    cap = long_side - 8 if src_w != src_h and long_side - 8 >= MIN_PLATE_SIDE else long_side
    short_px = min(cap, max(MIN_PLATE_SIDE, round(short / 8) * 8))
    return (long_side, short_px) if src_w >= src_h else (short_px, long_side)


def fit_box(src_w: int, src_h: int, width: int, height: int) -> tuple[int, int, int, int]:
    """Where a ``src_w`` x ``src_h`` image lands in the plate: (left, top, w, h).

    Scaled uniformly to fit inside the plate and centred; one side fills the plate.
    """
    scale = min(width / src_w, height / src_h)
    fw = min(width, max(1, round(src_w * scale)))
    fh = min(height, max(1, round(src_h * scale)))
    return (width - fw) // 2, (height - fh) // 2, fw, fh


def _grey(img: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """Any PIL mode -> float32 luminance in [0, 1], box-averaged down to ``size``.

    8-bit images are reduced by Pillow before going to float (a 4000x3000 scan never
    becomes a 12-megapixel float array); 16-bit and float images keep full precision.
    """
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float32)
        peak = sample_peak(img.mode, float(arr.max()) if arr.size else 0.0)
        return _resize(np.clip(arr / peak, 0.0, 1.0), size, Image.Resampling.BOX)
    grey = _on_contrasting_paper(img) if _has_alpha(img) else to_mode(img, "L")
    if grey.size != size:
        grey = grey.resize(size, Image.Resampling.BOX)
    return np.asarray(grey, dtype=np.float32) / 255.0


def _dark_lines(grey: np.ndarray) -> np.ndarray:
    """``grey`` with its lines darker than the paper: light lines on dark paper (lineart
    already made for ControlNet, a white-on-black digital layout) are turned over. Decided
    by which way the rarest pixels stray from the paper (the median), not by how dark the
    paper is: a dim photo of a pencil sheet keeps its dark lines."""
    low, paper, high = (float(v) for v in np.percentile(grey, (0.1, 50.0, 99.9)))
    return 1.0 - grey if high - paper > 2.0 * (paper - low) else grey


def _has_alpha(img: Image.Image) -> bool:
    return img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info


def _on_contrasting_paper(img: Image.Image) -> Image.Image:
    """Lines drawn on a transparent layer, put on paper they show on: white paper for dark
    lines, black for light ones (white lines on a transparent layer on white paper would be
    invisible)."""
    rgba = img.convert("RGBA")
    alpha = np.asarray(rgba.getchannel("A"))
    lum = np.asarray(rgba.convert("L"))
    drawn = alpha > 127
    light = bool(drawn.any()) and float(np.median(lum[drawn])) > 127
    paper = Image.new("RGBA", rgba.size, (0, 0, 0, 255) if light else (255, 255, 255, 255))
    return Image.alpha_composite(paper, rgba).convert("L")


def _resize(arr: np.ndarray, size: tuple[int, int], resample: Image.Resampling) -> np.ndarray:
    """Resize a float32 2-D array with Pillow (mode F keeps full precision)."""
    arr = np.ascontiguousarray(arr, dtype=np.float32)  # mode F is float32: never hand it more
    if (arr.shape[1], arr.shape[0]) == size:
        return arr
    return np.asarray(Image.fromarray(arr, "F").resize(size, resample), dtype=np.float32)


def _cell_quantile(arr: np.ndarray, cell: int, q: float) -> np.ndarray:
    """The ``q`` quantile of each ``cell`` x ``cell`` block (edges padded by replication)."""
    h, w = arr.shape
    ph, pw = -h % cell, -w % cell
    if ph or pw:
        arr = np.pad(arr, ((0, ph), (0, pw)), mode="edge")
    ch, cw = arr.shape[0] // cell, arr.shape[1] // cell
    blocks = arr.reshape(ch, cell, cw, cell).transpose(0, 2, 1, 3).reshape(ch, cw, cell * cell)
    k = min(cell * cell - 1, round(q * (cell * cell - 1)))
    return np.partition(blocks, k, axis=-1)[..., k]


def _pad_linear(arr: np.ndarray, n: int, axes: tuple[int, ...]) -> np.ndarray:
    """Pad by ``n`` along ``axes`` continuing the edge slope (point reflection)."""
    if min(arr.shape[a] for a in axes) < 2:
        return np.pad(arr, [(n, n) if a in axes else (0, 0) for a in range(arr.ndim)], "edge")
    pad = [(n, n) if a in axes else (0, 0) for a in range(arr.ndim)]
    return np.pad(arr, pad, mode="reflect", reflect_type="odd")


def _median3(arr: np.ndarray) -> np.ndarray:
    """3 x 3 median filter (edges extrapolated linearly); for small grids."""
    p = _pad_linear(arr, 1, axes=(0, 1))
    h, w = arr.shape
    stack = np.stack([p[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)])
    return np.median(stack, axis=0)


def _dilate(arr: np.ndarray, radius: int) -> np.ndarray:
    """Grey max filter with a square window, separably, via shifted maxima."""
    h, w = arr.shape
    p = np.pad(arr, ((radius, radius), (0, 0)), mode="edge")
    out = p[:h].copy()
    for shift in range(1, 2 * radius + 1):
        np.maximum(out, p[shift : shift + h], out=out)
    p = np.pad(out, ((0, 0), (radius, radius)), mode="edge")
    out = p[:, :w].copy()
    for shift in range(1, 2 * radius + 1):
        np.maximum(out, p[:, shift : shift + w], out=out)
    return out


def _blur(arr: np.ndarray, passes: int = 1) -> np.ndarray:
    """Separable [1, 2, 1] / 4 blur, ``passes`` times.

    Edges are extrapolated linearly, so a lighting gradient runs on unchanged to the border
    (replicating the edge would pull the border toward the brighter inside).
    """
    arr = arr.astype(np.float32)
    for _ in range(passes):
        p = _pad_linear(arr, 1, axes=(0,))
        arr = (p[:-2] + 2.0 * p[1:-1] + p[2:]) * 0.25
        p = _pad_linear(arr, 1, axes=(1,))
        arr = (p[:, :-2] + 2.0 * p[:, 1:-1] + p[:, 2:]) * 0.25
    return arr


def _paper(grey: np.ndarray) -> np.ndarray:
    """Estimate the paper's brightness under the scan's lighting, at every pixel.

    Per coarse cell, the median pixel is paper as long as pencil covers less than half the
    cell (lines only nudge it down by a fraction of the paper's grain), and unlike a max or
    a high quantile it has no bias where the lighting falls off steeply (vignetted
    corners). A cell darker than its neighbours' median by more than the tolerance
    (hatching, a dense cluster of lines) takes that median instead. The grid is then
    smoothed and interpolated back up: lighting is smooth, pencil lines are not.
    """
    h, w = grey.shape
    cell = max(1, max(h, w) // BG_GRID)
    coarse = _cell_quantile(grey, cell, PAPER_QUANTILE)
    around = _median3(coarse)
    coarse = np.where(coarse < around * (1.0 - HATCH_TOLERANCE), around, coarse)
    coarse = _blur(coarse, passes=1)
    full = _upsample_linear(coarse, cell, h, w)
    return np.maximum(full, 1e-3)


def _upsample_linear(coarse: np.ndarray, cell: int, h: int, w: int) -> np.ndarray:
    """Bilinear from cell centres to pixels, extrapolating linearly past the outer centres.

    Clamping there (as image resizers do) would hold the lighting flat over the outer half
    cell, exactly where vignetting falls off fastest.
    """
    out = coarse.astype(np.float32)
    for axis, n in ((1, w), (0, h)):
        m = out.shape[axis]
        if m == 1:
            out = np.repeat(out, n, axis=axis)
            continue
        u = (np.arange(n, dtype=np.float32) + 0.5) / cell - 0.5
        i0 = np.clip(np.floor(u).astype(np.int64), 0, m - 2)
        f = u - i0
        a, b = np.take(out, i0, axis=axis), np.take(out, i0 + 1, axis=axis)
        f = f[None, :] if axis == 1 else f[:, None]
        out = a + (b - a) * f.astype(np.float32)
    return out


def extract_lines(grey: np.ndarray) -> np.ndarray:
    """Float [0, 1] greyscale scan -> float [0, 1] line strength (1 = full pencil line)."""
    # A light blur first: at twice the output resolution it costs no visible detail, and it
    # cuts paper grain and scanner noise by ~2.5x, so the black point can sit much lower.
    ratio = _blur(grey / _paper(grey), passes=1)
    # Paper after division is ~constant; its level and noise come from robust statistics
    # (most of a layout is paper, so the median pixel is paper).
    level = float(np.median(ratio))
    if level <= 1e-3:  # an all-black image: nothing recognisable as paper
        return np.zeros_like(grey)
    ink = np.clip(1.0 - ratio / level, 0.0, 1.0)
    upper = ratio[ratio >= level]  # the paper's bright half: pure noise, no pencil
    sigma = 1.4826 * float(np.median(upper - level)) / level if upper.size else 0.0
    black = max(MIN_BLACK_POINT, NOISE_SIGMAS * sigma)
    inked = ink[ink > black]
    if inked.size == 0:
        return np.zeros_like(grey)
    line = float(np.percentile(inked, LINE_PERCENTILE))
    white = max(black + MIN_CONTRAST, black + WHITE_FRACTION * (line - black))
    t = np.clip((ink - black) / (white - black), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)  # smoothstep: soft edges, no jaggies


def prepare_layout(img: Image.Image, width: int, height: int) -> Image.Image:
    """A scanned pencil layout -> RGB ``width`` x ``height``, white lines on black.

    The layout is scaled to fit and centred, padded with black; never stretched.
    Deterministic: the same image and size give the same bytes.
    """
    check_plate_size(width, height)
    src_w, src_h = img.size
    if src_w < 1 or src_h < 1:
        raise InputError("layout image has no pixels")
    left, top, fw, fh = fit_box(src_w, src_h, width, height)
    # Working size: SUPERSAMPLE x the fitted size, never above the scan's own size.
    scale = min(1.0, SUPERSAMPLE * fw / src_w, SUPERSAMPLE * fh / src_h)
    work = (max(1, round(src_w * scale)), max(1, round(src_h * scale)))
    lines = extract_lines(_dark_lines(_grey(img, work)))
    if work[0] >= 1.5 * fw:
        # Thin lines would come out of the downscale as faint greys; widen them by a pixel
        # first so they stay full-strength lines of about 1.5 output pixels.
        lines = _dilate(lines, 1)
    lines = _resize(lines, (fw, fh), Image.Resampling.LANCZOS)
    lines_u8 = np.clip(lines * 255.0 + 0.5, 0, 255).astype(np.uint8)
    plate = Image.new("L", (width, height), 0)
    plate.paste(Image.fromarray(lines_u8, "L"), (left, top))
    return plate.convert("RGB")


def load_layout(path: Path | str, width: int, height: int) -> Image.Image:
    """Open a layout scan (any format/mode open_image accepts) and prepare it."""
    return prepare_layout(open_image(path, mode=None), width, height)
