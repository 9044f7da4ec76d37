"""The provenance raster: who made each pixel of a plate, computed from the pixels.

Every plate version carries a :class:`Raster` with, per pixel,

* ``cls``   – the base class: ``HUMAN_BASE`` (0, a human-made base: a blank canvas or a
  layout used as the base), ``AI_GEN`` (1) or ``AI_INPAINT`` (2);
* ``human`` – the human paint weight h ∈ [0, 1] laid over that base;
* ``flags`` – ``TOUCHED`` (a human visibly painted it at some point in this version's
  lineage, even if later overwritten) and ``ADJUSTED`` (its current colour carries a
  technical adjustment: levels, colour balance, …).

The functions below apply one event to (plate pixels, raster) and return the new pair. They
are pure and deterministic (integer compositing, float32 arithmetic in a fixed order), so
``bgart ledger verify`` can recompute every stored raster from the blobs and demand equality.
The definition, its rationale and its limits are in docs/contribution.md.

Speed: the work is done in cache-sized chunks of pixels, skipping chunks the event does not
touch, on a small thread pool (numpy releases the GIL), so a full 3840×2160 event stays
within a few hundred milliseconds on two cores.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from bgart.deflate import zlib_stream

DEFINITION_VERSION = 1  # recorded in every event that changes a raster

HUMAN_BASE = 0
AI_GEN = 1
AI_INPAINT = 2
CLASS_NAMES = {HUMAN_BASE: "human_base", AI_GEN: "ai_gen", AI_INPAINT: "ai_inpaint"}

TOUCHED = 1
ADJUSTED = 2

DELTA_E_THRESHOLD = 2.3  # ΔE76 just-noticeable difference
MASK_THRESHOLD = 128  # soft masks are binarised at 50 %

U8 = NDArray[np.uint8]
F32 = NDArray[np.float32]
BoolArr = NDArray[np.bool_]

# Pixels per work unit. Smaller chunks fit the cache better but pay numpy's per-call cost
# ~40 times each: on a 4K plate 1 << 16 was faster than 1 << 14 by 1.2-1.6x on the 2-core
# CI machine (bench/provenance.py). Results do not depend on it: the work is per pixel.
_CHUNK = 1 << 16
_PARALLEL_MIN = 2 * _CHUNK
_pool: ThreadPoolExecutor | None = None


def keep_freed_memory() -> None:
    """Stop glibc from handing every freed chunk temporary back to the kernel.

    The kernel allocates temporaries of 0.1–0.5 MB per chunk. glibc serves those with
    mmap and returns them on free, so each one page-faults afresh: on a 4K plate that was
    more than half of the event's time. With the mmap threshold at 4 MB (and up to 64 MB of
    freed heap kept) they are reused. Process-wide, Linux/glibc only, harmless elsewhere.
    """
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 4 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 64 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):  # not glibc (musl, …): keep its defaults
        pass


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        keep_freed_memory()
        workers = max(1, min(4, os.cpu_count() or 1))
        _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bgart-raster")
    return _pool


def _forget_pool_after_fork() -> None:
    """In any forked child (verify's workers): the pool's threads stayed in the parent."""
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


_threads = True


def use_threads(on: bool) -> None:
    """Whether the kernel may split a pass between threads (default: yes). ``ledger
    verify`` turns it off in its worker processes, which already keep every CPU busy."""
    global _threads
    _threads = on


def _for_chunks(n: int, job: Callable[[int, int], None]) -> None:
    """Run ``job(start, stop)`` over [0, n) in chunks, in parallel when it pays."""
    spans = [(s, min(n, s + _CHUNK)) for s in range(0, n, _CHUNK)]
    if n < _PARALLEL_MIN or not _threads:
        for s, e in spans:
            job(s, e)
        return
    for future in [_executor().submit(job, s, e) for s, e in spans]:
        future.result()


# --- the raster ----------------------------------------------------------------------------


def same_pixels(a: NDArray[Any], b: NDArray[Any]) -> bool:
    """Whether two arrays hold the same values in the same shape (integer dtypes). Small
    ones are compared as bytes: ``ledger verify`` compares three arrays per plate version,
    and np.array_equal's own cost was most of it on small plates."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.nbytes <= 1 << 16:
        return a.tobytes() == b.tobytes()
    return bool(np.array_equal(a, b))


_RASTER_SIZES: dict[bytes, tuple[int, int]] = {}  # raster header -> (width, height)


@dataclass(eq=False)
class Raster:
    """Per-pixel provenance of one plate version (arrays of shape (height, width))."""

    cls: U8
    human: F32
    flags: U8

    @classmethod
    def filled(
        cls, width: int, height: int, klass: int, human: float = 0.0, flags: int = 0
    ) -> Raster:
        return cls(
            cls=np.full((height, width), klass, np.uint8),
            human=np.full((height, width), human, np.float32),
            flags=np.full((height, width), flags, np.uint8),
        )

    @property
    def width(self) -> int:
        return int(self.cls.shape[1])

    @property
    def height(self) -> int:
        return int(self.cls.shape[0])

    def copy(self) -> Raster:
        return Raster(self.cls.copy(), self.human.copy(), self.flags.copy())

    def equals(self, other: Raster) -> bool:
        """Bit for bit (a float that differs only in its last bit differs)."""
        return (
            same_pixels(self.cls, other.cls)
            and same_pixels(self.human.view(np.uint32), other.human.view(np.uint32))
            and same_pixels(self.flags, other.flags)
        )

    def difference(self, other: Raster) -> str:
        """A short description of where two rasters differ ('' when equal)."""
        if self.cls.shape != other.cls.shape:
            return f"size {self.width}x{self.height} vs {other.width}x{other.height}"
        for name in ("cls", "human", "flags"):
            a, b = getattr(self, name), getattr(other, name)
            diff = a != b
            if diff.any():
                y, x = np.argwhere(diff)[0]
                return f"{name} differs at {int(diff.sum())} pixels, first at x={x} y={y}"
        return ""

    # A deterministic serialisation (verify compares decoded arrays, not bytes).
    _MAGIC = b"BGRASTER"

    def to_bytes(self) -> bytes:
        header = json.dumps(
            {
                "v": 1,
                "width": self.width,
                "height": self.height,
                "planes": ["cls:u1", "human:<f4", "flags:u1"],
            },
            sort_keys=True,
        ).encode()
        n = self.cls.size
        body = np.empty(6 * n, np.uint8)  # cls, human (<f4), flags, filled in one pass each
        body[:n] = self.cls.reshape(n)
        body[n : 5 * n].view("<f4")[:] = self.human.reshape(n)
        body[5 * n :] = self.flags.reshape(n)
        return self._MAGIC + struct.pack("<I", len(header)) + header + zlib_stream(memoryview(body))

    @classmethod
    def from_bytes(cls, data: bytes) -> Raster:
        """The raster serialised by :meth:`to_bytes`; ValueError for anything else (verify
        names the event whose raster blob it is)."""
        start = len(cls._MAGIC) + 4
        if not data.startswith(cls._MAGIC):
            raise ValueError("not a bgart raster")
        if len(data) < start:
            raise ValueError("raster cut short in its header")
        try:
            (hlen,) = struct.unpack_from("<I", data, len(cls._MAGIC))
            if len(data) < start + hlen:
                raise ValueError("raster cut short in its header")
            header_bytes = data[start : start + hlen]
            size = _RASTER_SIZES.get(header_bytes)
            if size is None:  # a plate's versions share a header: parsed once
                header = json.loads(header_bytes)
                size = int(header["width"]), int(header["height"])
                if len(_RASTER_SIZES) > 4096:
                    _RASTER_SIZES.clear()
                _RASTER_SIZES[header_bytes] = size
            w, h = size
            if w <= 0 or h <= 0:
                raise ValueError(f"raster size {w}x{h}")
            n = w * h
            # At most one byte more than the planes need: a corrupt size cannot inflate more.
            inflate = zlib.decompressobj()
            body = inflate.decompress(memoryview(data)[start + hlen :], 6 * n + 1)
            if not inflate.eof:
                raise ValueError("raster body cut short or too long")
        except (
            struct.error,
            zlib.error,
            KeyError,
            TypeError,
            OverflowError,
            RecursionError,
        ) as exc:
            raise ValueError(f"not a readable bgart raster ({exc})") from None
        if len(body) != 6 * n:
            raise ValueError("raster body has the wrong size")
        return cls(
            cls=np.frombuffer(body, np.uint8, n, 0).reshape(h, w).copy(),
            human=np.frombuffer(body, "<f4", n, n).astype(np.float32).reshape(h, w),
            flags=np.frombuffer(body, np.uint8, n, 5 * n).reshape(h, w).copy(),
        )


@dataclass
class Applied:
    """The result of applying one event: new pixels, new raster and what happened."""

    image: U8  # (height, width, 3)
    raster: Raster
    stats: dict[str, int] = field(default_factory=dict)


# --- colour: CIELAB ΔE76 -------------------------------------------------------------------

_v = np.arange(256, dtype=np.float64) / 255.0
_LIN = np.where(_v <= 0.04045, _v / 12.92, ((_v + 0.055) / 1.055) ** 2.4)
# sRGB (D65) -> XYZ, rows already divided by the D65 white point.
_M = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
) / np.array([[0.95047], [1.0], [1.08883]])
# Per channel: value -> its (X, Y, Z, 0) contribution, viewed as one 16-byte item so that a
# gather moves a whole row at once (about 4x faster than a 2-D take).
_XYZ_TAB = []
for _c in range(3):
    _t = np.zeros((256, 4), np.float32)
    _t[:, :3] = (_LIN[:, None] * _M[:, _c][None, :]).astype(np.float32)
    _t[:, 3] = 1.0 / 3.0  # pad column: sums to 1, above the linear toe, never "small"
    _XYZ_TAB.append(_t.view(np.complex128).ravel())
_EPS = np.float32(216 / 24389)
_KAPPA = np.float32(24389 / 27 / 116)
_OFF = np.float32(16 / 116)
_TH2 = np.float32(DELTA_E_THRESHOLD) * np.float32(DELTA_E_THRESHOLD)


def _lab_f(p: U8) -> F32:
    """Planar (3, m) uint8 sRGB -> (m, 4) float32 of f(X/Xn), f(Y/Yn), f(Z/Zn), pad."""
    m = p.shape[1]
    xyz = np.take(_XYZ_TAB[0], p[0]).view(np.float32)
    xyz += np.take(_XYZ_TAB[1], p[1]).view(np.float32)
    xyz += np.take(_XYZ_TAB[2], p[2]).view(np.float32)
    # The cube root in float64, rounded to float32: numpy's float32 cbrt differs in the last
    # bit between CPUs (SIMD library or libm), which would flip pixels at the 2.3 threshold
    # and make a ledger verified on another machine look tampered with.
    out = np.cbrt(xyz, dtype=np.float64).astype(np.float32)
    small = xyz <= _EPS  # the linear toe of CIELAB: very dark colours only
    k = np.count_nonzero(small)
    if k * 8 > small.size:
        out = np.where(small, xyz * _KAPPA + _OFF, out)
    elif k:
        idx = np.flatnonzero(small)
        out[idx] = xyz[idx] * _KAPPA + _OFF
    return out.reshape(m, 4)


def _de2(p: U8, q: U8) -> F32:
    """Squared ΔE76 between planar (3, m) uint8 colours, in float32."""
    d = _lab_f(p)
    d -= _lab_f(q)
    fx, fy, fz = d[:, 0], d[:, 1], d[:, 2]
    dl = fy * np.float32(116.0)
    da = fx - fy
    da *= np.float32(500.0)
    db = fy - fz
    db *= np.float32(200.0)
    dl *= dl
    da *= da
    db *= db
    dl += da
    dl += db
    return dl


def _planar(x: NDArray[Any]) -> U8:
    """(…, 3) uint8 -> contiguous (3, m)."""
    return np.ascontiguousarray(np.asarray(x, np.uint8).reshape(-1, 3).T)


def delta_e76(a: U8, b: U8) -> F32:
    """ΔE76 between two uint8 RGB arrays of the same shape (…, 3)."""
    return np.sqrt(_de2(_planar(a), _planar(b))).reshape(np.shape(a)[:-1])


def visibly_different(a: U8, b: U8) -> BoolArr:
    """True where ΔE76(a, b) > 2.3: the visible-change test."""
    return (_de2(_planar(a), _planar(b)) > _TH2).reshape(np.shape(a)[:-1])


# --- the compositing kernel ----------------------------------------------------------------
# Pixels are processed in chunks, each turned planar (3, m): numpy is slow on an inner axis of
# length 3, fast on long contiguous rows.


def _div255(v: NDArray[np.uint16]) -> NDArray[np.uint16]:
    """Exact ``v // 255`` for 0 <= v <= 65152 (all a blend can reach) without a division."""
    return (v + 1 + (v >> 8)) >> 8


def _blend(b: U8, c: U8, al: U8) -> U8:
    """round(b·(1 − a) + c·a) with a = al/255, exactly, in integers; planar (3, m).

    b·(255 − α) + c·α + 127 ≤ 65152, so uint16 never overflows; written in place to keep
    the temporaries few (this runs on every partially covered chunk).
    """
    a16 = al.astype(np.uint16)
    v = b.astype(np.uint16)
    v *= 255 - a16
    t = c.astype(np.uint16)
    t *= a16
    v += t
    v += 127
    # v // 255 as (v + 1 + (v >> 8)) >> 8: exact for v ≤ 65152
    np.right_shift(v, 8, out=t)
    v += t
    v += 1
    v >>= 8
    return v.astype(np.uint8)


def _composite_planar(b: U8, c: U8, al: U8 | None) -> U8:
    """Composite planar colours ``c`` (alpha ``al``, None = opaque) over ``b``."""
    if al is None:
        return c
    lo, hi = int(al.min()), int(al.max())
    if lo == 255:
        return c
    if hi == 0:
        return b
    return _blend(b, c, al)  # exact for α = 0 and 255 as well


_PAINT, _INPAINT, _ADJUST, _NONE = range(4)
_N_STATS = 5  # changed, visible, credited, explained, area


@dataclass
class _Pass:
    """The flat inputs of one kernel pass: one edit, or several of the same kind laid end to
    end (``bounds``: where each one's pixels start, and the total)."""

    before: U8  # (n, 3)
    colour: NDArray[np.uint8]  # (n, 3 or 4); only the first three channels are used
    alpha: U8 | None  # (n,), None = opaque
    planes: tuple[U8, F32, U8] | None  # the raster's cls, human, flags (n,), updated in place
    bounds: NDArray[np.intp]


def _one_pass(
    before: U8, colour: NDArray[np.uint8], alpha: U8 | None, raster: Raster | None
) -> _Pass:
    """The kernel's flat inputs for one plate: its (h, w, …) arrays seen as n pixels
    (``raster``, updated in place through them, None for none)."""
    h, w = before.shape[:2]
    n = h * w
    return _Pass(
        np.ascontiguousarray(before, np.uint8).reshape(n, 3),
        np.ascontiguousarray(colour, np.uint8).reshape(n, colour.shape[-1]),
        None if alpha is None else alpha.reshape(n),
        None
        if raster is None
        else (raster.cls.reshape(n), raster.human.reshape(n), raster.flags.reshape(n)),
        np.array([0, n], np.intp),
    )


def _kernel(
    job_in: _Pass, mode: int, curve: tuple[U8, BoolArr] | None = None, want_visible: bool = False
) -> tuple[U8, NDArray[np.int64], BoolArr | None]:
    """The fused per-pixel pass: composite, visible-change test and raster update.

    Every step is per pixel, so the result for a pixel does not depend on what else is in
    the pass: several edits laid end to end give each the bytes it gets alone, and their
    figures are counted per edit (``bounds``). Returns (after (n, 3), figures per edit
    (edits, 5), visible mask (n,) if asked for).
    """
    B, C, A, bounds = job_in.before, job_in.colour, job_in.alpha, job_in.bounds
    n = B.shape[0]
    after = np.empty((n, 3), np.uint8)
    after_bytes = after.reshape(3 * n)
    visible = np.zeros(n, bool) if want_visible else None
    n_chunks = (n + _CHUNK - 1) // _CHUNK
    stats = np.zeros((n_chunks, len(bounds) - 1, _N_STATS), np.int64)
    if job_in.planes is not None:
        cls_f, hum_f, flg_f = job_in.planes

    def job(s: int, e: int) -> None:
        m = e - s
        # The edits with pixels in [s, e), and where each starts and ends within it.
        i0 = int(np.searchsorted(bounds, s, "right")) - 1
        i1 = int(np.searchsorted(bounds, e, "left"))
        lb = np.clip(bounds[i0 : i1 + 1] - s, 0, m)
        row = stats[s // _CHUNK, i0:i1]

        def per_edit(where: NDArray[np.intp]) -> NDArray[np.intp]:
            """How many of the (sorted, chunk-local) positions fall in each edit."""
            return np.diff(np.searchsorted(where, lb))

        al = None if A is None else np.ascontiguousarray(A[s:e])
        if al is None:
            row[:, 4] = np.diff(lb)
        elif i1 - i0 == 1:
            row[:, 4] = np.count_nonzero(al)
        else:
            row[:, 4] = per_edit(np.flatnonzero(al))
        if not row[:, 4].any():
            after[s:e] = B[s:e]
            return
        bp = np.ascontiguousarray(B[s:e].T)
        op = _composite_planar(bp, np.ascontiguousarray(C[s:e, :3].T), al)
        flat = after_bytes[3 * s : 3 * e]
        for ch in range(3):  # three strided writes beat one (m, 3) transpose 3:1
            flat[ch::3] = op[ch]
        changed = (op[0] != bp[0]) | (op[1] != bp[1]) | (op[2] != bp[2])
        idx = np.flatnonzero(changed)
        row[:, 0] = per_edit(idx)
        if idx.size == 0:
            return
        if idx.size == m:
            bb, oo = bp, op
        else:  # np.take is several times faster than fancy indexing here
            bb, oo = np.take(bp, idx, axis=1), np.take(op, idx, axis=1)
        vis = _de2(bb, oo) > _TH2
        vidx = idx[vis]
        row[:, 1] = per_edit(vidx)
        if vidx.size == 0:
            return
        if visible is not None:
            visible[s + vidx] = True
        if job_in.planes is None:
            return
        if mode == _PAINT:
            if curve is not None:
                ex = _explains(curve, np.compress(vis, bb, axis=1), np.compress(vis, oo, axis=1))
                flg_f[s + vidx[ex]] |= ADJUSTED
                row[:, 3] = per_edit(vidx[ex])
                vidx = vidx[~ex]
            row[:, 2] = per_edit(vidx)
            _credit(hum_f[s:e], flg_f[s:e], vidx, al)
        elif mode == _INPAINT:
            g = slice(s, e) if vidx.size == m else s + vidx
            cls_f[g] = AI_INPAINT
            hum_f[g] = 0.0
            flg_f[g] &= ~np.uint8(ADJUSTED)
        elif mode == _ADJUST:
            g = slice(s, e) if vidx.size == m else s + vidx
            flg_f[g] |= ADJUSTED

    _for_chunks(n, job)
    return after, stats.sum(axis=0), visible


def _credit(hum: F32, flg: U8, idx: NDArray[np.intp], al: U8 | None) -> None:
    """Paint credit on one chunk (``hum``/``flg`` are views): h := a + (1 − a)·h."""
    if idx.size == 0:
        return
    not_adjusted = np.uint8(0xFF ^ ADJUSTED)
    if idx.size == hum.size:  # every pixel of the chunk: slices, not fancy indexing
        if al is None:
            hum[:] = 1.0
            flg |= TOUCHED
            flg &= not_adjusted
        else:
            a = al.astype(np.float32) * np.float32(1.0 / 255.0)
            hum += a * (np.float32(1.0) - hum)  # = a + (1 − a)·h, same rounding as below
            flg |= TOUCHED
            flg &= np.where(al == 255, not_adjusted, np.uint8(0xFF))
        return
    if al is None:
        hum[idx] = 1.0
        flg[idx] = (flg[idx] | TOUCHED) & not_adjusted
        return
    ag = al[idx]
    a = ag.astype(np.float32) * np.float32(1.0 / 255.0)
    hg = hum[idx]
    hum[idx] = hg + a * (np.float32(1.0) - hg)  # = a + (1 − a)·h
    # TOUCHED always; an opaque stroke (a = 1) also replaces any adjusted colour.
    keep = np.where(ag == 255, not_adjusted, np.uint8(0xFF))
    flg[idx] = (flg[idx] | TOUCHED) & keep


def composite(before: U8, colour: U8, alpha: U8 | None) -> tuple[U8, BoolArr, int]:
    """Lay ``colour`` (alpha ``alpha``; None = opaque) over ``before``.

    Returns (after, visible, changed): ``after`` = round(before·(1−a) + colour·a) in exact
    integer arithmetic, ``visible`` = ΔE76(before, after) > 2.3 per pixel, ``changed`` = the
    number of pixels whose RGB value changed at all.
    """
    h, w = before.shape[:2]
    after, totals, visible = _kernel(
        _one_pass(before, colour, alpha, None), _NONE, want_visible=True
    )
    assert visible is not None
    return after.reshape(h, w, 3), visible.reshape(h, w), int(totals[0, 0])


# --- telling a tone adjustment from paint --------------------------------------------------

_KNOT_STEP = 16
_SAMPLE_MAX = 500_000
_MIN_SLOPE, _MAX_SLOPE = 0.25, 4.0


def _sample_stride(n: int) -> int:
    return max(1, -(-n // _SAMPLE_MAX))


def tone_curve(before: U8, after: U8) -> tuple[U8, BoolArr] | None:
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


def _fit_curve(b: U8, a: U8) -> tuple[U8, BoolArr] | None:
    """The tone curve from planar (3, m) samples before/after (see :func:`tone_curve`)."""
    m = b.shape[1]
    min_pop = max(16, m // 1000)
    pred = np.empty((3, 256), np.uint8)
    ok = np.zeros((3, 256), bool)
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
        for i in range(len(xs) - 1):
            slope = 1.0 + (ds[i + 1] - ds[i]) / (xs[i + 1] - xs[i])
            if _MIN_SLOPE <= abs(slope) <= _MAX_SLOPE:
                start = 0 if i == 0 else xs[i]
                stop = 256 if i == len(xs) - 2 else xs[i + 1] + 1
                ok[ch, start:stop] = True
    if identity or not any_broad or not ok.any(axis=1).all():
        return None  # nothing can be explained (all three channels must be): all is paint
    return pred, ok


_CURVE_TOLERANCE = 3  # levels per channel: the fitted curve is piecewise linear, integer


def _explains(curve: tuple[U8, BoolArr], b: U8, a: U8) -> BoolArr:
    """For planar pixels (3, m): is ``a`` the tone curve applied to ``b``, within 3 levels
    on every channel, with all three channels inside an explaining segment?"""
    pred_tab, ok_tab = curve
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
        close &= err <= _CURVE_TOLERANCE
    ok[idx] = close
    return ok


def _sample_curve(
    before: U8, colour: NDArray[np.uint8], alpha: NDArray[np.uint8] | None
) -> tuple[U8, BoolArr] | None:
    """The tone curve of an event, from a sample composited on its own (before the pass)."""
    h, w = before.shape[:2]
    n = h * w
    stride = _sample_stride(n)
    al = None if alpha is None else np.ascontiguousarray(alpha.reshape(n)[::stride])
    m = -(-n // stride)
    # A broad curve needs >= 4 windows, together >= 25 % of the plate, each more than half
    # changed: so at least 12.5 % of the sample must change. Most strokes stop here.
    if al is not None and np.count_nonzero(al) * 8 < m:
        return None
    b = _planar(before.reshape(n, 3)[::stride])
    colour = np.ascontiguousarray(colour, np.uint8)
    c = np.ascontiguousarray(colour.reshape(n, colour.shape[-1])[::stride, :3].T)
    a = _composite_planar(b, c, al)
    if np.count_nonzero((a[0] != b[0]) | (a[1] != b[1]) | (a[2] != b[2])) * 8 < m:
        return None
    return _fit_curve(b, a)


# --- events --------------------------------------------------------------------------------


def _check_same_size(before: U8, other: NDArray[Any], what: str) -> None:
    if before.shape[:2] != other.shape[:2]:
        raise ValueError(
            f"{what} is {other.shape[1]}x{other.shape[0]} but the plate is "
            f"{before.shape[1]}x{before.shape[0]}"
        )


def generated(width: int, height: int) -> Raster:
    """``ai.generated`` / ``variation.selected``: every pixel AI-made."""
    return Raster.filled(width, height, AI_GEN)


def imported(width: int, height: int, origin: str) -> Raster:
    """``plate.imported``: a plate started without AI.

    ``hand-painted``: every pixel painted by the importing artist (h = 1, touched);
    ``layout`` / ``blank``: a human-made base not painted by anyone (class HUMAN_BASE, h = 0).
    """
    if origin == "hand-painted":
        return Raster.filled(width, height, HUMAN_BASE, 1.0, TOUCHED)
    if origin in ("layout", "blank"):
        return Raster.filled(width, height, HUMAN_BASE, 0.0)
    raise ValueError(f"unknown plate origin '{origin}'")


_STAT_INDEX = {"changed_px": 0, "visible_px": 1, "credited_px": 2, "explained_px": 3, "area_px": 4}


def paint(before: U8, raster: Raster, layer: U8, *, tone_test: bool = True) -> Applied:
    """``human.painted``: an RGBA layer laid over the plate.

    Where the stroke visibly changes the pixel (ΔE76 > 2.3) and the change is not a global
    tone adjustment (see :func:`tone_curve`), h := a + (1 − a)·h with a the stroke alpha;
    the pixel is marked TOUCHED, and an opaque stroke (a = 1) clears ADJUSTED. Pixels whose
    change *is* explained by a tone curve are marked ADJUSTED and earn no credit.
    """
    return apply([Edit("paint", before, raster, layer, tone_test=tone_test)])[0]


def final(before: U8, raster: Raster, final_rgb: U8, *, tone_test: bool = True) -> Applied:
    """``human.painted`` from a whole repainted plate: an opaque layer over every pixel."""
    return apply([Edit("final", before, raster, final_rgb, tone_test=tone_test)])[0]


def inpaint(before: U8, raster: Raster, result: U8, mask: BoolArr) -> Applied:
    """``ai.inpainted``: the model's result pasted into the plate inside ``mask`` only.

    Outside the mask the plate keeps its pixels exactly (an inpainting pipeline re-encodes the
    whole image, which would otherwise shift every pixel a little). Inside the mask, pixels
    whose colour visibly changed become AI_INPAINT with h := 0 and lose ADJUSTED.
    """
    return apply([Edit("inpaint", before, raster, result, mask)])[0]


def adjust(before: U8, raster: Raster, adjusted: U8) -> Applied:
    """``human.adjusted``: a technical edit (levels, colour). Visibly changed pixels are
    marked ADJUSTED; authorship (class and h) is unchanged."""
    return apply([Edit("adjust", before, raster, adjusted)])[0]


@dataclass(eq=False)
class Edit:
    """One edit of one plate, for :func:`apply` (what paint, final, inpaint and adjust take)."""

    kind: str  # "paint", "final", "inpaint" or "adjust"
    before: U8
    raster: Raster
    image: NDArray[np.uint8]  # RGBA layer; final plate, inpaint result or adjusted plate
    mask: BoolArr | None = None  # inpaint: where the result is pasted
    tone_test: bool = True


_EDIT_MODES = {"paint": _PAINT, "final": _PAINT, "inpaint": _INPAINT, "adjust": _ADJUST}
_PAINT_STATS = ("area_px", "changed_px", "visible_px", "credited_px", "explained_px")
_EDIT_STATS = {
    "paint": _PAINT_STATS,
    "final": _PAINT_STATS,
    "inpaint": ("area_px", "changed_px", "visible_px"),
    "adjust": ("changed_px", "visible_px"),
}


def _coverage(edit: Edit) -> tuple[NDArray[np.uint8], U8 | None]:
    """(colour, alpha) the kernel lays over the plate for ``edit`` (alpha None: opaque),
    after checking that the edit fits its plate."""
    before, image = edit.before, edit.image
    if edit.kind == "paint":
        _check_same_size(before, image, "paint layer")
        if image.ndim != 3 or image.shape[2] != 4:
            raise ValueError("paint layer must be RGBA")
        layer = np.ascontiguousarray(image, np.uint8)
        return layer, layer[..., 3]  # alpha: a view
    if edit.kind == "final":
        _check_same_size(before, image, "final image")
        return image, None
    if edit.kind == "inpaint":
        _check_same_size(before, image, "inpaint result")
        if edit.mask is None:
            raise ValueError("inpaint needs a mask")
        _check_same_size(before, edit.mask, "inpaint mask")
        return image, np.asarray(edit.mask, bool).view(np.uint8) * np.uint8(255)
    if edit.kind == "adjust":
        _check_same_size(before, image, "adjusted image")
        return image, None
    raise ValueError(f"unknown edit '{edit.kind}'")


def apply(edits: Sequence[Edit]) -> list[Applied]:
    """Apply each edit to its own plate: the same result, byte for byte, as paint, final,
    inpaint or adjust called on each one.

    Edits of one kind share kernel passes, laid end to end (the kernel works per pixel and
    counts the figures per edit), except a paint whose change is a tone adjustment, which
    has its own curve. ``ledger verify`` recomputes thousands of small plate versions this
    way: numpy's per-call cost, paid once per pass instead of once per version, was most of
    the time of each.
    """
    results: list[Applied | None] = [None] * len(edits)
    groups: dict[tuple[Any, ...], list[tuple[int, Edit, NDArray[np.uint8], U8 | None]]] = {}
    curves: dict[int, tuple[U8, BoolArr]] = {}
    for i, edit in enumerate(edits):
        colour, alpha = _coverage(edit)
        curve = None
        if edit.kind in ("paint", "final") and edit.tone_test:
            curve = _sample_curve(edit.before, colour, alpha)
        key: tuple[Any, ...]
        if curve is not None:  # its own curve: a pass of its own
            curves[i] = curve
            key = ("curve", i)
        else:
            key = (_EDIT_MODES[edit.kind], alpha is None, colour.shape[-1])
        groups.setdefault(key, []).append((i, edit, colour, alpha))
    for members in groups.values():
        curve = curves.get(members[0][0])
        for i, applied in zip((m[0] for m in members), _apply_pass(members, curve), strict=True):
            results[i] = applied
    return [r for r in results if r is not None]


def _apply_pass(
    members: list[tuple[int, Edit, NDArray[np.uint8], U8 | None]],
    curve: tuple[U8, BoolArr] | None,
) -> list[Applied]:
    """One kernel pass over edits of one kind (their pixels end to end when several)."""
    edits = [m[1] for m in members]
    shapes = [e.before.shape[:2] for e in edits]
    if len(edits) == 1:
        _i, edit, colour, alpha = members[0]
        flat = _one_pass(edit.before, colour, alpha, edit.raster.copy())
    else:  # each input flattened and laid end to end (copies: the edits' own are left as is)
        bounds = np.zeros(len(shapes) + 1, np.intp)
        np.cumsum([h * w for h, w in shapes], out=bounds[1:])
        n = int(bounds[-1])

        def joined(arrays: list[NDArray[Any]], dtype: type) -> NDArray[Any]:
            return np.concatenate(arrays, axis=None, dtype=dtype)

        alphas = [m[3] for m in members if m[3] is not None]
        flat = _Pass(
            joined([e.before for e in edits], np.uint8).reshape(n, 3),
            joined([m[2] for m in members], np.uint8).reshape(n, members[0][2].shape[-1]),
            joined(alphas, np.uint8) if alphas else None,
            (
                joined([e.raster.cls for e in edits], np.uint8),
                joined([e.raster.human for e in edits], np.float32),
                joined([e.raster.flags for e in edits], np.uint8),
            ),
            bounds,
        )
    after, stats, _ = _kernel(flat, mode=_EDIT_MODES[edits[0].kind], curve=curve)
    assert flat.planes is not None
    applied = []
    edges = flat.bounds.tolist()
    figures = stats.tolist()
    cls, human, flags = flat.planes
    for k, edit in enumerate(edits):
        s, e = edges[k], edges[k + 1]
        h, w = shapes[k]
        values = figures[k]
        stats_k = {name: values[_STAT_INDEX[name]] for name in _EDIT_STATS[edit.kind]}
        if edit.kind == "inpaint":
            stats_k["mask_px"] = stats_k.pop("area_px")
        raster = Raster(cls[s:e].reshape(h, w), human[s:e].reshape(h, w), flags[s:e].reshape(h, w))
        applied.append(Applied(after[s:e].reshape(h, w, 3), raster, stats_k))
    return applied


def mask_from_image(mask: U8) -> BoolArr:
    """A drawn mask (L or RGBA array) as booleans: alpha (or grey) ≥ 128."""
    arr = np.asarray(mask)
    if arr.ndim == 3:
        arr = arr[..., 3] if arr.shape[2] == 4 else arr[..., 0]
    return arr >= MASK_THRESHOLD


# --- figures and the heat map --------------------------------------------------------------


def figures(raster: Raster) -> dict[str, float | int]:
    """Shares of the plate, each in [0, 1]; the four class shares sum to 1.

    human_paint_share = mean(h); ai_gen_share = mean((1 − h)·[AI_GEN]);
    ai_inpaint_share = mean((1 − h)·[AI_INPAINT]); human_base_share = mean((1 − h)·[HUMAN_BASE]).
    """
    n = raster.cls.size
    h = raster.human.astype(np.float64)
    rest = 1.0 - h
    shares = {
        "human_paint_share": float(h.sum() / n),
        "ai_gen_share": float(rest[raster.cls == AI_GEN].sum() / n),
        "ai_inpaint_share": float(rest[raster.cls == AI_INPAINT].sum() / n),
        "human_base_share": float(rest[raster.cls == HUMAN_BASE].sum() / n),
        "human_touched_share": float(np.count_nonzero(raster.flags & TOUCHED) / n),
        "adjust_share": float(np.count_nonzero(raster.flags & ADJUSTED) / n),
    }
    return {"width": raster.width, "height": raster.height, "pixels": n, **shares}


HEAT_COLOURS = {
    "human paint": (46, 184, 92),
    "AI generated": (66, 120, 245),
    "AI inpainted": (245, 140, 30),
    "human base": (170, 170, 170),
}


def heatmap(raster: Raster, image: U8 | None = None, *, legend: bool = True) -> Image.Image:
    """The provenance heat map: human paint green, AI generation blue, inpaint orange,
    human base grey, blended by h; the plate's luminance shows through faintly. A legend
    with each share sits below."""
    base = np.zeros((3, 3), np.float32)
    base[AI_GEN] = HEAT_COLOURS["AI generated"]
    base[AI_INPAINT] = HEAT_COLOURS["AI inpainted"]
    base[HUMAN_BASE] = HEAT_COLOURS["human base"]
    human = np.array(HEAT_COLOURS["human paint"], np.float32)
    h = raster.human[..., None]
    rgb = base[raster.cls] * (1.0 - h) + human * h
    if image is not None:
        lum = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        rgb = rgb * (0.55 + 0.45 * (lum[..., None] / 255.0))
    heat = Image.fromarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8), "RGB")
    if not legend:
        return heat
    figs = figures(raster)
    entries = [
        ("human paint", figs["human_paint_share"]),
        ("AI generated", figs["ai_gen_share"]),
        ("AI inpainted", figs["ai_inpaint_share"]),
        ("human base", figs["human_base_share"]),
    ]
    w = heat.width
    size = max(10, min(32, w // 40))
    try:
        font: ImageFont.ImageFont | ImageFont.FreeTypeFont = ImageFont.load_default(size)
    except TypeError:  # Pillow < 10.1
        font = ImageFont.load_default()
    line = size + size // 2
    pad = size // 2
    per_row = max(1, min(4, w // (size * 14)))
    rows = -(-len(entries) // per_row)
    out = Image.new("RGB", (w, heat.height + rows * line + 2 * pad), (255, 255, 255))
    out.paste(heat, (0, 0))
    draw = ImageDraw.Draw(out)
    col_w = w // per_row
    for i, (name, share) in enumerate(entries):
        x = pad + (i % per_row) * col_w
        y = heat.height + pad + (i // per_row) * line
        draw.rectangle([x, y, x + size, y + size], fill=HEAT_COLOURS[name], outline=(0, 0, 0))
        draw.text((x + size + pad, y), f"{name} {share * 100:.1f}%", fill=(0, 0, 0), font=font)
    return out
