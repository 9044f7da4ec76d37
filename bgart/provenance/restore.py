"""Returns to an earlier version's value (definition v2): a final that hands back what an
earlier version of the plate showed gives those pixels that version's provenance.

A v2 raster keeps one base value per pixel (the last AI value there), which covers a return
to the AI's latest value but not to any earlier author's: after an AI inpaint, handing back
the generated value, or a painter's earlier value, would be credited as fresh paint. So when
a whole final is imported (``import-final``, lossless or lossy, and a layered PSD's bottom
layer), each pixel is compared with the same pixel in the plate's earlier versions (at most
:data:`RESTORE_WINDOW` before the version it edits, and the first), and a pixel that shows an
earlier version's value takes that version's raster entry: class, h, flags and base value.

Which version a pixel returns to, when several showed its value: the candidates (the
version edited, then the earlier ones, newest first) are ranked by how many of the final's
pixels each one matches (within the threshold below), most first, ties to the newest. A
pixel takes the first candidate in that order that it matches exactly, else the first it
matches within the visible-change threshold (ΔE76 ≤ 2.3). The version edited keeps what
the ordinary final edit gave the pixel; a pixel matched to no candidate keeps it too. So a
final equal to an earlier version gives exactly that version's raster, whatever came between
(inpaint, adjustment, glaze), and a final mixing versions gives each part its own version's.

A lossy file (:mod:`bgart.provenance.noise`): the threshold is the import's noise floor, the
version edited also matches its codec rendering (``ref_before``), and so does the earlier
version matching most pixels, rendered here by the file's codec (input ``ref_restore``,
payload ``restore_ref``), so a lossy re-save of an earlier version is that version.

The event records the versions consulted (payload ``restore_from``, newest first), so
``ledger verify`` consults the same ones. Versions are read one at a time through the
:class:`Earlier` loaders: images once each (two packed bit masks are kept per version), and
only the rasters of versions that give some pixel its entry; nothing is read when the final
equals the version it edits.

What that costs (bench/final_4k.py): each version is compared with the final only where it
differs from the version compared before it (newest first: where the acts between them
painted), and read from that version's PNG where the two are the same
(:func:`bgart.images.decode_png_near`), the next one on a thread while this one is compared.
A history of local retouches then costs a fraction of decoding and comparing every version
whole; one of plate-wide brushes still costs about that.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from bgart.images import decode_plain_png, decode_png_near
from bgart.provenance.colour import _TH2, _de2_lab, _lab_f
from bgart.provenance.edits import Applied
from bgart.provenance.noise import Codec
from bgart.provenance.raster import U8, BoolArr, Raster, same_pixels

RESTORE_WINDOW = 16  # earlier versions consulted besides the plate's first
_CHUNK = 1 << 18  # pixels per ΔE computation


@dataclass(frozen=True)
class Earlier:
    """An earlier version of the plate, read only when needed: its ``number`` and loaders of
    its image (RGB, the plate's size or it is passed over) and its raster; ``png``: of its
    image's PNG as stored, when reading it from the version compared before it is cheaper
    than decoding it whole (see :func:`bgart.images.decode_png_near`), and the version
    after it can be read from it (even when ``decoded``: its pixels are in memory)."""

    number: int
    image: Callable[[], U8]
    raster: Callable[[], Raster]
    png: Callable[[], bytes] | None = None
    decoded: bool = False  # ``image`` returns pixels already in memory


def restore_window(current: int) -> list[int]:
    """The earlier versions a final over version ``current`` consults, newest first: the
    :data:`RESTORE_WINDOW` versions before it and version 1."""
    numbers = list(range(current - 1, max(0, current - 1 - RESTORE_WINDOW), -1))
    if current > 1 and 1 not in numbers:
        numbers.append(1)
    return numbers


class _Final:
    """A final's pixels (flat (n, 3)), with their Lab values (``_lab_f``) computed once for
    all the versions it is compared with, and only for pixels some comparison needs."""

    def __init__(self, flat: U8) -> None:
        self.flat = flat
        n = flat.shape[0]
        # np.empty / np.zeros take no memory until written: a 4K final's 133 MB of Lab values
        # exist only for the pixels that differ from some version
        self._lab = np.empty((n, 4), np.float32)
        self._have = np.zeros(n, bool)

    def lab(self, idx: np.ndarray) -> np.ndarray:
        """The Lab values (rows of ``_lab_f``) of the pixels ``idx``."""
        lab, have = self._lab, self._have
        need = idx[~have[idx]]
        if need.size:
            lab[need] = _lab_f(np.ascontiguousarray(np.take(self.flat, need, axis=0).T))
            have[need] = True
        return np.take(lab, idx, axis=0)


def _matches(final: _Final, other: U8, th2: np.float32) -> tuple[BoolArr, BoolArr]:
    """Per pixel of flat (n, 3) arrays: equal, and within the squared threshold ``th2``."""
    n = other.shape[0]
    same = (final.flat.reshape(-1) == other.reshape(-1)).reshape(n, 3)  # contiguous: fast
    exact = same[:, 0] & same[:, 1] & same[:, 2]
    near = exact.copy()
    idx = np.flatnonzero(~exact)
    near[idx] = _close(final, idx, np.take(other, idx, axis=0), th2)
    return exact, near


def _close(final: _Final, idx: np.ndarray, other: U8, th2: np.float32) -> BoolArr:
    """For the final's pixels ``idx`` and another image's values there (``other``, (k, 3)):
    within the squared threshold ``th2`` (ΔE76)."""
    out = np.empty(idx.size, bool)
    for s in range(0, idx.size, _CHUNK):  # in chunks: ΔE's float temporaries stay small
        b = np.ascontiguousarray(other[s : s + _CHUNK].T)
        out[s : s + _CHUNK] = ~(_de2_lab(final.lab(idx[s : s + _CHUNK]), _lab_f(b)) > th2)
    return out


@dataclass
class _Candidate:
    """A version a final's pixels may return to: where the final equals its value, and
    where it is within the threshold (packed bits), and how many pixels are."""

    version: Earlier | None  # None: the version the final edits
    exact: np.ndarray
    near: np.ndarray
    score: int


def _differing(value: U8, prev: U8, rows: BoolArr | None) -> np.ndarray:
    """The pixels (flat indices) where two flat (n, 3) images differ; ``rows``: per row of
    the plate, whether it may differ (the others are not compared)."""
    if rows is None:
        spans = [(0, value.shape[0])]
    else:
        width = value.shape[0] // rows.shape[0]
        edges = np.flatnonzero(np.diff(rows.astype(np.int8), prepend=0, append=0))
        spans = [(a * width, b * width) for a, b in zip(edges[::2], edges[1::2], strict=True)]
    found = []
    for a, b in spans:
        differ = (value[a:b].reshape(-1) != prev[a:b].reshape(-1)).reshape(b - a, 3)
        found.append(a + np.flatnonzero(differ[:, 0] | differ[:, 1] | differ[:, 2]))
    return np.concatenate(found) if found else np.zeros(0, np.intp)


def _matches_since(
    final: _Final,
    value: U8,
    prev: U8,
    rows: BoolArr | None,
    exact: BoolArr,
    near: BoolArr,
    th2: np.float32,
) -> tuple[BoolArr, BoolArr]:
    """:func:`_matches` of ``value`` from those of ``prev`` (``exact``, ``near``, updated
    in place and returned: the caller has packed them): only the pixels where the two
    values differ are compared again (``rows``: the rows where they may differ, None: any)."""
    idx = _differing(value, prev, rows)
    if idx.size:
        other = np.take(value, idx, axis=0)
        same = np.take(final.flat, idx, axis=0) == other
        hit = same[:, 0] & same[:, 1] & same[:, 2]
        exact[idx] = hit
        near[idx] = hit
        miss = ~hit
        near[idx[miss]] = _close(final, idx[miss], other[miss], th2)
    return exact, near


def _pack(version: Earlier | None, exact: BoolArr, near: BoolArr) -> _Candidate:
    return _Candidate(version, np.packbits(exact), np.packbits(near), int(np.count_nonzero(near)))


def _candidate(
    version: Earlier | None,
    fin: _Final,
    value: U8,
    th2: np.float32,
    rendered: U8 | None = None,
    plain: tuple[BoolArr, BoolArr] | None = None,
) -> _Candidate:
    """The matches of ``fin`` with a version's ``value`` (flat; ``plain``: those matches,
    already computed), or with its rendering by a lossy file's codec (``rendered``; exact
    or within the noise floor)."""
    exact, near = _matches(fin, value, th2) if plain is None else plain
    if rendered is not None and not np.array_equal(rendered, value):
        exact_r, near_r = _matches(fin, rendered, th2)
        exact = exact | exact_r
        near = near | near_r
    return _pack(version, exact, near)


def restore_earlier(
    applied: Applied,
    before: U8,
    final_rgb: U8,
    earlier: Sequence[Earlier],
    *,
    floor: float | None = None,
    codec: Codec | None = None,
    ref_before: U8 | None = None,
    rendered: tuple[int, U8] | None = None,
    before_png: Callable[[], bytes] | None = None,
) -> Applied:
    """The final edit ``applied`` (the version ``before`` repainted as ``final_rgb``, by
    :func:`~bgart.provenance.edits.final` or ``lossy_final``, under v2) with the pixels that
    return to an earlier version's value given that version's raster entry (see the module).

    Adds payload ``restore_from`` (the versions consulted) and the figure ``returned_px``
    (pixels that took an earlier version's entry) when ``earlier`` is not empty.

    A lossy file: ``floor`` its noise floor and ``ref_before`` the version edited as its
    codec renders it (defaults: what the lossy final edit recorded); ``codec`` renders the
    earlier version that matches most pixels too (stored as input ``ref_restore``, payload
    ``restore_ref``: its number); replay passes that rendering back as ``rendered``.
    ``before_png``: of the PNG of ``before`` as stored, from which the earlier versions'
    images can be read (see :class:`Earlier`); it changes nothing but the time taken."""
    if not earlier:
        return applied
    params = {**applied.params, "restore_from": [e.number for e in earlier]}
    stats = {**applied.stats, "returned_px": 0}
    inputs = dict(applied.inputs)
    if applied.raster.base is None:
        raise ValueError("a return to an earlier version is measured under definition 2 only")
    if floor is None:
        floor = applied.params.get("noise_floor")
    if ref_before is None:
        ref_before = applied.inputs.get("ref_before")
    found = _owners(
        before, final_rgb, earlier, floor, codec, ref_before, rendered, params, inputs, before_png
    )
    if found is None:
        return replace(applied, params=params, stats=stats)
    owner, masks = found
    h, w = before.shape[:2]
    n = h * w
    returned = owner > 0
    count = int(np.count_nonzero(returned))
    stats["returned_px"] = count
    if count == 0:
        return replace(applied, params=params, stats=stats, inputs=inputs)
    raster = applied.raster.copy()
    assert raster.base is not None
    planes = (raster.cls.reshape(n), raster.human.reshape(n), raster.flags.reshape(n))
    base = raster.base.reshape(n, 3)
    owned = np.bincount(owner + 1, minlength=len(masks) + 1)[1:]  # pixels per candidate
    winners = [i for i in range(1, len(masks)) if owned[i]]
    for i, theirs in zip(winners, _rasters([masks[i].version for i in winners]), strict=True):
        number = masks[i].version.number  # type: ignore[union-attr]
        if theirs.cls.shape != (h, w):
            raise ValueError(f"version {number}: its raster is not the plate's size")
        assert theirs.base is not None
        if owned[i] == n:  # every pixel: that version's raster as it is
            for plane, their in zip(planes, (theirs.cls, theirs.human, theirs.flags), strict=True):
                plane[:] = their.reshape(n)
            base[:] = theirs.base.reshape(n, 3)
            continue
        mine = owner == i
        # masked copies, not index scatters: a return is often most of the plate
        np.copyto(planes[0], theirs.cls.reshape(n), where=mine)
        np.copyto(planes[1], theirs.human.reshape(n), where=mine)
        np.copyto(planes[2], theirs.flags.reshape(n), where=mine)
        np.copyto(base, theirs.base.reshape(n, 3), where=mine[:, None])
        del theirs
    return replace(applied, raster=raster, params=params, stats=stats, inputs=inputs)


def _rasters(versions: Sequence[Earlier | None]) -> Iterator[Raster]:
    """The rasters of ``versions``, in order, each with its base values (a v1 raster: its
    image's values, as its next edit takes them); the next read on a thread while the
    caller uses this one."""

    def read(version: Earlier | None) -> Raster:
        assert version is not None
        raster = version.raster()
        return raster if raster.base is not None else raster.with_base(version.image())

    if len(versions) < 2:
        yield from (read(v) for v in versions)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="bgart-restore") as pool:
        pending = pool.submit(read, versions[0])
        for i in range(len(versions)):
            current = pending
            if i + 1 < len(versions):
                pending = pool.submit(read, versions[i + 1])
            yield current.result()


def _owners(
    before: U8,
    final_rgb: U8,
    earlier: Sequence[Earlier],
    floor: Any,
    codec: Codec | None,
    ref_before: U8 | None,
    rendered: tuple[int, U8] | None,
    params: dict[str, Any],
    inputs: dict[str, U8],
    before_png: Callable[[], bytes] | None = None,
) -> tuple[np.ndarray, list[_Candidate]] | None:
    """Per pixel (flat), the index of the candidate whose entry it takes (0: the version
    edited, -1: none) and the candidates (see the module); None when the final equals the
    version it edits. ``params``/``inputs`` receive a lossy file's ``restore_ref``."""
    h, w = before.shape[:2]
    n = h * w
    fin = np.ascontiguousarray(final_rgb[..., :3], np.uint8).reshape(n, 3)
    cur = np.ascontiguousarray(before, np.uint8).reshape(n, 3)
    th2 = _TH2
    if isinstance(floor, int | float) and floor * floor > th2:
        th2 = np.float32(floor) * np.float32(floor)
    if same_pixels(fin, cur):
        return None
    ref = None if ref_before is None else np.ascontiguousarray(ref_before, np.uint8).reshape(n, 3)
    final = _Final(fin)
    # candidates: the version edited (index 0), then the earlier ones newest first, each
    # compared where its value differs from the one compared before it (consecutive
    # versions differ only where the acts between them changed the plate)
    exact, near = _matches(final, cur, th2)
    masks = [_candidate(None, final, cur, th2, ref, (exact, near))]
    prev = cur
    versions = sorted(earlier, key=lambda e: -e.number)
    for version, image, rows in _read_ahead(versions, before_png, before):
        if image.shape[:2] != (h, w):
            continue  # another size (before a refinement): not a value this plate shows
        value = np.ascontiguousarray(image, np.uint8).reshape(n, 3)
        exact, near = _matches_since(final, value, prev, rows, exact, near, th2)
        masks.append(_pack(version, exact, near))
        prev = value
        del image
    if rendered is not None or codec is not None:
        _render_best(masks, final, final_rgb, th2, codec, rendered, params, inputs)
    order = sorted(range(len(masks)), key=lambda i: -masks[i].score)  # stable: newest first
    owner = np.full(n, -1, np.int16)
    free = np.ones(n, bool)
    left = n
    for near in (False, True):  # exact matches first, then within the threshold
        for i in order:
            if left == 0 or masks[i].score == 0:  # every pixel placed, or none to place
                continue
            packed = masks[i].near if near else masks[i].exact
            hit = np.unpackbits(packed, count=n).view(bool)
            hit &= free
            taken = int(np.count_nonzero(hit))
            if taken:
                owner[hit] = i
                free &= ~hit
                left -= taken
    return owner, masks


_Png = Callable[[], bytes] | None  # a reader of a version's PNG as stored
_Read = tuple[U8, BoolArr | None, _Png, U8]


def _read(version: Earlier, before: Future[_Read] | None, first: tuple[_Png, U8]) -> _Read:
    """A version's image, the rows where it may differ from the version read before it
    (None: any), and the PNG and pixels the next version is read from."""
    ref, pixels = first if before is None else before.result()[2:]
    if version.decoded or version.png is None:  # in memory already, or no PNG to read
        image = version.image()
    else:
        data = version.png()
        if ref is not None:
            near = decode_png_near(data, ref(), pixels)
            if near is not None:
                return near[0], near[1], lambda: data, near[0]
        whole = decode_plain_png(data, "RGB")  # not read twice
        image = whole if whole is not None else version.image()
    if image.shape != pixels.shape:  # another size: the next is read from the one before
        return image, None, ref, pixels
    return image, None, version.png, image


def _read_ahead(
    versions: Sequence[Earlier], before_png: _Png, before: U8
) -> Iterator[tuple[Earlier, U8, BoolArr | None]]:
    """Each version (newest first) with its image and the rows where it may differ from the
    one before it, the next one read on a thread while the caller compares this one (at 4K,
    decoding a version takes about as long as comparing it). A version whose PNG is read
    from the one before it (:func:`bgart.images.decode_png_near`) costs only where the act
    between them changed the plate."""
    from concurrent.futures import ThreadPoolExecutor

    first = (before_png, np.ascontiguousarray(before))
    chain = list(versions)
    with ThreadPoolExecutor(2, thread_name_prefix="bgart-restore") as pool:
        # The oldest (the plate's first version: most often the generator's own PNG, read
        # whole) is read on the second thread from the start, beside the chain.
        oldest = None
        if len(chain) > 2 and not chain[-1].decoded:
            oldest = pool.submit(chain[-1].image)
            chain = chain[:-1]
        pending: Future[_Read] | None = None
        for i, version in enumerate(chain):
            if pending is None:
                pending = pool.submit(_read, version, None, first)
            current = pending
            if i + 1 < len(chain):  # submitted after this one: the chain stays in order
                pending = pool.submit(_read, chain[i + 1], current, first)
            image, rows = current.result()[:2]
            yield version, image, rows
            del image
        if oldest is not None:
            yield versions[-1], oldest.result(), None


def returned_to(
    before: U8,
    final_rgb: U8,
    earlier: Sequence[Earlier],
    *,
    floor: float | None = None,
    ref_before: U8 | None = None,
    rendered: tuple[int, U8] | None = None,
    before_png: Callable[[], bytes] | None = None,
) -> np.ndarray:
    """Per pixel (an (h, w) int32 array), the number of the earlier version whose raster
    entry :func:`restore_earlier` gave it, or -1 (the pixel kept the final edit's entry):
    the same decision from the same inputs, as replay has them (a recorded final: ``floor``
    its payload's ``noise_floor``, ``ref_before`` its blob, ``rendered`` its ``restore_ref``
    and blob ``ref_restore``). The credits use it to give a returned pixel back to the
    painters of the version it returned to (:mod:`bgart.credits.lineage`)."""
    h, w = before.shape[:2]
    out = np.full((h, w), -1, np.int32)
    if not earlier:
        return out
    found = _owners(
        before, final_rgb, earlier, floor, None, ref_before, rendered, {}, {}, before_png
    )
    if found is None:
        return out
    owner, masks = found
    flat = out.reshape(h * w)
    for i in range(1, len(masks)):
        version = masks[i].version
        assert version is not None
        flat[owner == i] = version.number
    return out


def _render_best(
    masks: list[_Candidate],
    fin: _Final,
    final_rgb: U8,
    th2: np.float32,
    codec: Codec | None,
    rendered: tuple[int, U8] | None,
    params: dict[str, Any],
    inputs: dict[str, U8],
) -> None:
    """A lossy final: the earlier version that matches most pixels (ties: the newest), or
    the one ``rendered`` names, matched again with its rendering by the file's codec too
    (``masks`` updated in place; the rendering and its number recorded)."""
    earlier = [(i, m.version) for i, m in enumerate(masks) if m.version is not None]
    if not earlier:
        if rendered is not None:
            raise ValueError(f"restore_ref names version {rendered[0]}, which was not consulted")
        return
    if rendered is not None:
        found = [(i, v) for i, v in earlier if v.number == rendered[0]]
        if not found:
            raise ValueError(f"restore_ref names version {rendered[0]}, which was not consulted")
        best, version = found[0]
    else:
        best, version = max(earlier, key=lambda iv: (masks[iv[0]].score, -iv[0]))
    raw = version.image()
    if rendered is not None:
        image = rendered[1]
    else:
        assert codec is not None
        image = codec.render(raw, final_rgb)
        if same_pixels(image, raw):  # a colour-managed or palette file: the value itself
            return
    number = version.number
    h, w = final_rgb.shape[:2]
    if image.shape[:2] != (h, w):
        raise ValueError(f"the rendering of version {number} is not the plate's size")
    flat = np.ascontiguousarray(image, np.uint8).reshape(h * w, 3)
    value = np.ascontiguousarray(raw, np.uint8).reshape(h * w, 3)
    masks[best] = _candidate(version, fin, value, th2, flat)
    params["restore_ref"] = number
    inputs["ref_restore"] = np.ascontiguousarray(image, np.uint8)
