"""The compositing kernel: one fused per-pixel pass lays an edit over a plate, tests each
pixel for a visible change and updates the provenance raster.

Compositing is exact integer arithmetic and the colour test float32 in a fixed order, so a
pass is deterministic: ``bgart ledger verify`` recomputes every stored raster and demands
equality. The pass is per pixel, so several edits of one kind can be laid end to end in one
pass (:class:`_Pass`) and each gets the bytes it would get alone.

Speed: the work is done in cache-sized chunks of pixels, skipping chunks the event does not
touch, on a small thread pool (numpy releases the GIL; :mod:`bgart.provenance.parallel`), so a
full 3840×2160 event stays within a few hundred milliseconds on two cores. Pixels are
processed in chunks, each turned planar (3, m): numpy is slow on an inner axis of length 3,
fast on long contiguous rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
from numpy.typing import NDArray

from bgart.provenance.colour import _TH2, _de2_lab, _lab_f
from bgart.provenance.parallel import _chunk_count, _for_chunks
from bgart.provenance.raster import (
    ADJUSTED,
    AI_INPAINT,
    BASE_PAINTED,
    F32,
    TOUCHED,
    U8,
    BoolArr,
    Raster,
)
from bgart.provenance.tone import Curve, _explains


def _div255(v: NDArray[np.uint16]) -> NDArray[np.uint16]:
    """Exact ``v // 255`` for 0 <= v <= 65152 (all a blend can reach) without a division."""
    return cast(NDArray[np.uint16], (v + 1 + (v >> 8)) >> 8)  # uint16 in, uint16 out


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
_N_STATS = 6  # changed, visible, credited, explained, area, restored (v2)


@dataclass
class _Pass:
    """The flat inputs of one kernel pass: one edit, or several of the same kind laid end to
    end (``bounds``: where each one's pixels start, and the total)."""

    before: U8  # (n, 3)
    colour: NDArray[np.uint8]  # (n, 3 or 4); only the first three channels are used
    alpha: U8 | None  # (n,), None = opaque
    planes: tuple[U8, F32, U8] | None  # the raster's cls, human, flags (n,), updated in place
    bounds: NDArray[np.intp]
    # Definition v2 (None: v1): the raster's base values (n, 3), updated in place; and for an
    # import whose file is lossy, the plate before and its base as that file's codec renders
    # them (n, 3) with the noise floor (squared ΔE) below which a change is the codec's.
    base: U8 | None = None
    ref: U8 | None = None
    ref_base: U8 | None = None
    floor2: np.float32 | None = None


def _one_pass(
    before: U8, colour: NDArray[np.uint8], alpha: U8 | None, raster: Raster | None
) -> _Pass:
    """The kernel's flat inputs for one plate: its (h, w, …) arrays seen as n pixels
    (``raster``, updated in place through them, None for none)."""
    h, w = before.shape[:2]
    n = h * w
    base = None if raster is None or raster.base is None else raster.base.reshape(n, 3)
    return _Pass(
        np.ascontiguousarray(before, np.uint8).reshape(n, 3),
        np.ascontiguousarray(colour, np.uint8).reshape(n, colour.shape[-1]),
        None if alpha is None else alpha.reshape(n),
        None
        if raster is None
        else (raster.cls.reshape(n), raster.human.reshape(n), raster.flags.reshape(n)),
        np.array([0, n], np.intp),
        base,
    )


def _kernel(
    job_in: _Pass, mode: int, curve: Curve | None = None, want_visible: bool = False
) -> tuple[U8, NDArray[np.int64], BoolArr | None]:
    """The fused per-pixel pass: composite, visible-change test and raster update.

    Every step is per pixel, so the result for a pixel does not depend on what else is in
    the pass: several edits laid end to end give each the bytes it gets alone, and their
    figures are counted per edit (``bounds``). Returns (after (n, 3), figures per edit
    (edits, 5), visible mask (n,) if asked for).
    """
    B, C, A, bounds = job_in.before, job_in.colour, job_in.alpha, job_in.bounds
    BASE, REF, REF_BASE, FLOOR2 = job_in.base, job_in.ref, job_in.ref_base, job_in.floor2
    n = B.shape[0]
    after = np.empty((n, 3), np.uint8)
    after_bytes = after.reshape(3 * n)
    visible = np.zeros(n, bool) if want_visible else None
    n_chunks = _chunk_count(n)
    stats = np.zeros((n_chunks, len(bounds) - 1, _N_STATS), np.int64)
    if job_in.planes is not None:
        cls_f, hum_f, flg_f = job_in.planes

    def job(k: int, s: int, e: int) -> None:
        m = e - s
        # The edits with pixels in [s, e), and where each starts and ends within it.
        i0 = int(np.searchsorted(bounds, s, "right")) - 1
        i1 = int(np.searchsorted(bounds, e, "left"))
        lb = np.clip(bounds[i0 : i1 + 1] - s, 0, m)
        row = stats[k, i0:i1]

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
        lab_o = _lab_f(oo)
        d2 = _de2_lab(_lab_f(bb), lab_o)
        vis = d2 > _TH2
        if REF is not None and FLOOR2 is not None:  # v2, a lossy file: the codec's noise
            rr = np.ascontiguousarray(REF[s:e][idx].T)
            vis &= _de2_lab(_lab_f(rr), lab_o) > FLOOR2
        vidx = idx[vis]
        row[:, 1] = per_edit(vidx)
        if vidx.size == 0:
            return
        if visible is not None:
            visible[s + vidx] = True
        if job_in.planes is None:
            return
        if mode == _PAINT:
            ex = None
            # the visible pixels' colours before and after, after's through _lab_f: what
            # the v2 return tests below need, computed once
            if vidx.size == idx.size:  # all of them (the usual case): no copies
                vb, vo, vlab = bb, oo, lab_o
            else:
                vsel = np.flatnonzero(vis)
                vb, vo = np.take(bb, vsel, axis=1), np.take(oo, vsel, axis=1)
                vlab = np.take(lab_o, vsel, axis=0)
            if BASE is not None:  # v2: each visible pixel's base, and whether it was there
                vbase = np.take(BASE[s:e], vidx, axis=0)
                vmoved = (vbase[:, 0] != vb[0]) | (vbase[:, 1] != vb[1]) | (vbase[:, 2] != vb[2])

                def near(sel: BoolArr | None) -> BoolArr:
                    """Which of the visible pixels ``sel`` (None: all) are back at their base."""
                    pick = slice(None) if sel is None else sel
                    ref = None if REF_BASE is None else np.take(REF_BASE[s:e], vidx[pick], axis=0)
                    return _near(vbase[pick], vmoved[pick], vlab[pick], ref, FLOOR2)

            if curve is not None:
                ex = _explains(curve, vb, vo, s + vidx)
                eidx, eov = vidx[ex], vo[:, ex]
                if BASE is not None and eidx.size:  # v2: an adjustment back to the base
                    back = near(ex)
                    ridx = s + eidx[back]
                    row[:, 5] += per_edit(eidx[back])
                    hum_f[ridx] = _h_base(flg_f[ridx])
                    flg_f[ridx] &= ~np.uint8(ADJUSTED)
                    eidx, eov = eidx[~back], eov[:, ~back]
                flg_f[s + eidx] |= ADJUSTED
                row[:, 3] = per_edit(eidx)
                if BASE is not None:  # v2: an adjusted base value stays the base's
                    _carry_base(hum_f, flg_f, BASE, s + eidx, eov)
            cidx = vidx if ex is None else vidx[~ex]
            row[:, 2] = per_edit(cidx)
            _credit(hum_f[s:e], flg_f[s:e], cidx, al)
            if BASE is not None and cidx.size:  # v2: back within sight of the base: its
                back = near(None if ex is None else ~ex)
                ridx = s + cidx[back]
                row[:, 5] += per_edit(cidx[back])
                hum_f[ridx] = _h_base(flg_f[ridx])
                flg_f[ridx] &= ~np.uint8(ADJUSTED)
        elif mode == _INPAINT:
            g = slice(s, e) if vidx.size == m else s + vidx
            cls_f[g] = AI_INPAINT
            hum_f[g] = 0.0
            flg_f[g] &= ~np.uint8(ADJUSTED)
            if BASE is not None:  # v2: the model's value is the pixel's new base
                flg_f[g] &= ~np.uint8(BASE_PAINTED)
                BASE[s + vidx] = np.compress(vis, oo, axis=1).T
        elif mode == _ADJUST:
            g = slice(s, e) if vidx.size == m else s + vidx
            flg_f[g] |= ADJUSTED
            if BASE is not None:
                sel = None
                if vidx.size < m:
                    sel = np.zeros(m, bool)
                    sel[vidx] = True
                _carry_base_chunk(hum_f[s:e], flg_f[s:e], BASE[s:e], after[s:e], sel)

    _for_chunks(n, job)
    return after, stats.sum(axis=0), visible


def _near(
    base: U8, moved: BoolArr, lab_after: F32, ref_base: U8 | None, floor2: np.float32 | None
) -> BoolArr:
    """v2: which of some visibly changed pixels are within sight of their base value
    (``base``, rows (k, 3)): ΔE76 ≤ 2.3, or, for a lossy file, within its noise floor of the
    base as the file's codec renders it (``ref_base``, rows). ``lab_after``: their new
    values through ``_lab_f``.

    A pixel whose base is its value before the change (``moved`` False) changed visibly from
    its base, so it is not near it: only the others are tested (the same answer as testing
    all, at a fraction of the cost: most painted pixels were at their base)."""
    near = np.zeros(moved.size, bool)
    idx = np.flatnonzero(moved)
    if idx.size:
        lab_base = _lab_f(np.ascontiguousarray(base[idx].T))
        near[idx] = ~(_de2_lab(lab_base, lab_after[idx]) > _TH2)
    if ref_base is not None and floor2 is not None:
        lab_ref = _lab_f(np.ascontiguousarray(ref_base.T))
        near |= ~(_de2_lab(lab_ref, lab_after) > floor2)
    return near


def _carry_base_chunk(hum: F32, flg: U8, base: U8, after: U8, sel: BoolArr | None) -> None:
    """:func:`_carry_base` for the pixels ``sel`` (None: all) of one chunk (``hum``, ``flg``,
    ``base`` views of the chunk; ``after`` its new values, rows (m, 3)): the same result
    with masks over the chunk instead of gathering and scattering pixels by index (a global
    adjustment changes nearly every pixel: the scatter was most of its time)."""
    carry = hum == _h_base(flg)
    if sel is not None:
        carry &= sel
    np.copyto(base, after, where=carry[:, None])


def _carry_base(hum: F32, flg: U8, base: U8, where: NDArray[np.intp], after: U8) -> None:
    """v2: pixels ``where`` took a technical adjustment (values ``after``, planar); those
    still showing their base author's work (h equal to that author's h) carry the adjusted
    value as their base, so a later return to it is that author's again."""
    at_base = hum[where] == _h_base(flg[where])
    base[where[at_base]] = after[:, at_base].T


def _h_base(flg: U8) -> F32:
    """v2: the h of each pixel's base author (1 where the base is human paint, else 0): a
    pixel whose h equals it shows only its base's work."""
    return np.where(flg & BASE_PAINTED, np.float32(1), np.float32(0))


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
