"""The edits: what one event does to a plate's pixels and its provenance raster.

The functions here apply one event to (plate pixels, raster) and return the new pair
(:class:`Applied`). They are pure and deterministic (integer compositing, float32 arithmetic
in a fixed order; :mod:`bgart.provenance.kernel`), so ``bgart ledger verify`` can recompute
every stored raster from the blobs and demand equality. :func:`apply` applies many edits
together, in shared kernel passes.

:data:`EDITS` is the registry of the edits of the event table, keyed by
:class:`~bgart.events.EditKind`: which blobs of an event each one reads, and how, so that
replay makes the edit of any event without naming event kinds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bgart.events import EditKind, Payload
from bgart.provenance.colour import _TH2, _de2_lab, _lab_f, _planar
from bgart.provenance.globaladj import fit_global
from bgart.provenance.kernel import (
    _ADJUST,
    _INPAINT,
    _PAINT,
    _composite_planar,
    _kernel,
    _one_pass,
    _Pass,
)
from bgart.provenance.noise import Codec, noise_floor
from bgart.provenance.raster import (
    AI_GEN,
    DEFINITION_VERSION,
    DEFINITION_VERSIONS,
    HUMAN_BASE,
    TOUCHED,
    U8,
    BoolArr,
    Raster,
)
from bgart.provenance.resample import carry, check_factor, plain_resample
from bgart.provenance.tone import Curve, _explains, _fit_curve, _sample_stride

MASK_THRESHOLD = 128  # soft masks are binarised at 50 %


@dataclass
class Applied:
    """The result of applying one event: new pixels, new raster and what happened."""

    image: U8  # (height, width, 3)
    raster: Raster
    stats: dict[str, int] = field(default_factory=dict)
    # v2: images the edit was computed from besides the event's own (stored as blobs of
    # these roles), and payload fields it was computed with, for replay
    inputs: dict[str, U8] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)


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


def paint(
    before: U8,
    raster: Raster,
    layer: U8,
    *,
    tone_test: bool = True,
    version: int = DEFINITION_VERSION,
) -> Applied:
    """``human.painted``: an RGBA layer laid over the plate.

    Where the stroke visibly changes the pixel (ΔE76 > 2.3) and the change is not a global
    tone adjustment (see :func:`~bgart.provenance.tone.tone_curve`), h := a + (1 − a)·h
    with a the stroke alpha; the pixel is marked TOUCHED, and an opaque stroke (a = 1)
    clears ADJUSTED. Pixels whose change *is* explained by a tone curve are marked ADJUSTED
    and earn no credit.
    """
    edit = Edit(EditKind.PAINT, before, raster, layer, tone_test=tone_test, version=version)
    return apply([edit])[0]


def final(
    before: U8,
    raster: Raster,
    final_rgb: U8,
    *,
    tone_test: bool = True,
    version: int = DEFINITION_VERSION,
    noise: Noise | None = None,
) -> Applied:
    """``human.painted`` from a whole repainted plate: an opaque layer over every pixel.

    v2, ``noise``: the file was lossy (or colour-managed); the plate before and its base
    values as that file's codec renders them, and the noise floor below which a difference
    from them is the codec's, not the artist's (:mod:`bgart.provenance.noise`)."""
    edit = Edit(
        EditKind.FINAL, before, raster, final_rgb, tone_test=tone_test, version=version, noise=noise
    )
    applied = apply([edit])[0]
    if noise is not None:
        applied.inputs = {"ref_before": noise.ref, "ref_base": noise.ref_base}
        applied.params = {"noise_floor": noise.floor}
    return applied


def lossy_final(before: U8, raster: Raster, final_rgb: U8, codec: Codec | None) -> Applied:
    """``human.painted`` from a whole plate handed in as a file whose ``codec`` adds noise
    (:func:`~bgart.provenance.noise.codec_of`; None: lossless, the plain :func:`final`)."""
    if codec is None:
        return final(before, raster, final_rgb)
    base = raster.base if raster.base is not None else before
    ref = codec.render(before, final_rgb)
    noise = Noise(ref, codec.render(base, final_rgb), noise_floor(final_rgb, ref))
    return final(before, raster, final_rgb, noise=noise)


def inpaint(
    before: U8, raster: Raster, result: U8, mask: BoolArr, *, version: int = DEFINITION_VERSION
) -> Applied:
    """``ai.inpainted``: the model's result pasted into the plate inside ``mask`` only.

    Outside the mask the plate keeps its pixels exactly (an inpainting pipeline re-encodes the
    whole image, which would otherwise shift every pixel a little). Inside the mask, pixels
    whose colour visibly changed become AI_INPAINT with h := 0 and lose ADJUSTED.
    """
    return apply([Edit(EditKind.INPAINT, before, raster, result, mask, version=version)])[0]


def adjust(
    before: U8, raster: Raster, adjusted: U8, *, version: int = DEFINITION_VERSION
) -> Applied:
    """``human.adjusted``: a technical edit (levels, colour). Visibly changed pixels are
    marked ADJUSTED; authorship (class and h) is unchanged."""
    return apply([Edit(EditKind.ADJUST, before, raster, adjusted, version=version)])[0]


def resample_edit(
    before: U8, raster: Raster, refined: U8, *, version: int = DEFINITION_VERSION
) -> Edit:
    """The edit of ``ai.refined`` (see :mod:`bgart.provenance.resample`): the raster carried
    to the refined size, then the refined image laid over the plain resample of ``before``
    as an inpaint over the whole plate (what it changed visibly is AI, the rest keeps its
    carried author). An :class:`Edit` of the inpaint kind, so :func:`apply` (and verify)
    run it with the others."""
    height, width = refined.shape[:2]
    try:
        check_factor((before.shape[1], before.shape[0]), (width, height))
    except ValueError as exc:
        raise ValueError(f"refined image: {exc}") from None
    if version < 2:
        raise ValueError("a refinement is recorded under contribution definition 2 or later")
    plain = plain_resample(before, width, height)
    mask = np.ones((height, width), bool)
    return Edit(
        EditKind.INPAINT, plain, carry(raster, width, height), refined, mask, version=version
    )


def resample(
    before: U8, raster: Raster, refined: U8, *, version: int = DEFINITION_VERSION
) -> Applied:
    """``ai.refined``: the plate refined by the model to ``refined``'s size. Figures as an
    inpaint's: ``mask_px`` (every output pixel), ``changed_px``, ``visible_px`` (the pixels
    the refinement visibly changed beyond a plain resample)."""
    return apply([resample_edit(before, raster, refined, version=version)])[0]


@dataclass(eq=False)
class Noise:
    """v2: what a lossy import's own codec does to the plate (see
    :mod:`bgart.provenance.noise`): ``ref`` the plate before, ``ref_base`` its base values,
    each as the file's codec renders them, and ``floor`` the ΔE76 noise floor."""

    ref: U8
    ref_base: U8
    floor: float


@dataclass(eq=False)
class Edit:
    """One edit of one plate, for :func:`apply` (what paint, final, inpaint and adjust take)."""

    kind: str  # an EditKind: "paint", "final", "inpaint" or "adjust"
    before: U8
    raster: Raster
    image: NDArray[np.uint8]  # RGBA layer; final plate, inpaint result or adjusted plate
    mask: BoolArr | None = None  # inpaint: where the result is pasted
    tone_test: bool = True
    version: int = DEFINITION_VERSION  # the contribution definition it is made under
    noise: Noise | None = None  # v2 final from a lossy file


# keyed by the edit's kind: an EditKind, or its plain string value (equal and same hash)
_EDIT_MODES: dict[str, int] = {
    EditKind.PAINT: _PAINT,
    EditKind.FINAL: _PAINT,
    EditKind.INPAINT: _INPAINT,
    EditKind.ADJUST: _ADJUST,
}
_STAT_INDEX = {
    "changed_px": 0,
    "visible_px": 1,
    "credited_px": 2,
    "explained_px": 3,
    "area_px": 4,
    "restored_px": 5,
}
_PAINT_STATS = ("area_px", "changed_px", "visible_px", "credited_px", "explained_px")
_EDIT_STATS: dict[str, tuple[str, ...]] = {
    EditKind.PAINT: _PAINT_STATS,
    EditKind.FINAL: _PAINT_STATS,
    EditKind.INPAINT: ("area_px", "changed_px", "visible_px"),
    EditKind.ADJUST: ("changed_px", "visible_px"),
}


def _coverage(edit: Edit) -> tuple[NDArray[np.uint8], U8 | None]:
    """(colour, alpha) the kernel lays over the plate for ``edit`` (alpha None: opaque),
    after checking that the edit fits its plate."""
    before, image = edit.before, edit.image
    if edit.kind == EditKind.PAINT:
        _check_same_size(before, image, "paint layer")
        if image.ndim != 3 or image.shape[2] != 4:
            raise ValueError("paint layer must be RGBA")
        layer = np.ascontiguousarray(image, np.uint8)
        return layer, layer[..., 3]  # alpha: a view
    if edit.kind == EditKind.FINAL:
        _check_same_size(before, image, "final image")
        return image, None
    if edit.kind == EditKind.INPAINT:
        _check_same_size(before, image, "inpaint result")
        if edit.mask is None:
            raise ValueError("inpaint needs a mask")
        _check_same_size(before, edit.mask, "inpaint mask")
        return image, np.asarray(edit.mask, bool).view(np.uint8) * np.uint8(255)
    if edit.kind == EditKind.ADJUST:
        _check_same_size(before, image, "adjusted image")
        return image, None
    raise ValueError(f"unknown edit '{edit.kind}'")


def _sample_curve(
    before: U8,
    colour: NDArray[np.uint8],
    alpha: NDArray[np.uint8] | None,
    version: int = 1,
    base: U8 | None = None,
) -> Curve | None:
    """The tone curve of an event, from a sample composited on its own (before the pass).

    v2, ``base``: the plate's base values; pixels the event brings visibly back to them are
    returns (given back whatever the curve says), so they are left out of the fit."""
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
    where = np.arange(0, n, stride)
    if version >= 2 and base is not None:
        # Only a changed pixel can be a return (a == b elsewhere), and each of those is
        # tested against its base with the base's colour converted once.
        moved = np.flatnonzero((a[0] != b[0]) | (a[1] != b[1]) | (a[2] != b[2]))
        bs = _planar(np.ascontiguousarray(base).reshape(n, 3)[::stride][moved])
        lab_base = _lab_f(bs)
        back = (_de2_lab(_lab_f(a[:, moved]), lab_base) <= _TH2) & (
            _de2_lab(_lab_f(b[:, moved]), lab_base) > _TH2
        )
        if back.any():
            keep = np.ones(m, bool)
            keep[moved[back]] = False
            kept = np.flatnonzero(keep)  # np.take: several times faster than a mask here
            b, a, where = np.take(b, kept, axis=1), np.take(a, kept, axis=1), where[kept]
    curve = _fit_curve(b, a, clip=version >= 2)
    if version < 2:
        return curve
    # v2: a global gradient map or vignette, where it explains more than the tone curve
    other = fit_global(b, a, where, w, h)
    if other is None or curve is None:
        return curve if other is None else other
    changed = np.flatnonzero((a != b).any(axis=0))
    bc, ac, wc = b[:, changed], a[:, changed], where[changed]
    better = other.explains(bc, ac, wc).sum() > _explains(curve, bc, ac).sum()
    return other if better else curve


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
    curves: dict[int, Curve] = {}
    for i, edit in enumerate(edits):
        if edit.version not in DEFINITION_VERSIONS:
            raise ValueError(f"contribution definition version {edit.version} is unknown")
        colour, alpha = _coverage(edit)
        curve = None
        if edit.kind in (EditKind.PAINT, EditKind.FINAL) and edit.tone_test:
            curve = _sample_curve(edit.before, colour, alpha, edit.version, edit.raster.base)
        key: tuple[Any, ...]
        if curve is not None or edit.noise is not None:  # a pass of its own
            if curve is not None:
                curves[i] = curve
            key = ("own", i)
        else:
            key = (_EDIT_MODES[edit.kind], alpha is None, colour.shape[-1], edit.version)
        groups.setdefault(key, []).append((i, edit, colour, alpha))
    for members in groups.values():
        curve = curves.get(members[0][0])
        for i, applied in zip((m[0] for m in members), _apply_pass(members, curve), strict=True):
            results[i] = applied
    return [r for r in results if r is not None]


def _apply_pass(
    members: list[tuple[int, Edit, NDArray[np.uint8], U8 | None]],
    curve: Curve | None,
) -> list[Applied]:
    """One kernel pass over edits of one kind (their pixels end to end when several)."""
    edits = [m[1] for m in members]
    shapes = [e.before.shape[:2] for e in edits]
    v2 = edits[0].version >= 2
    if len(edits) == 1:
        _i, edit, colour, alpha = members[0]
        raster = edit.raster.copy()
        if v2 and raster.base is None:  # a v1 plate's first v2 edit: its values as they are
            raster = raster.with_base(edit.before)
        if not v2:
            raster.base = None
        flat = _one_pass(edit.before, colour, alpha, raster)
        if edit.noise is not None:
            n = shapes[0][0] * shapes[0][1]
            flat.ref = np.ascontiguousarray(edit.noise.ref, np.uint8).reshape(n, 3)
            flat.ref_base = np.ascontiguousarray(edit.noise.ref_base, np.uint8).reshape(n, 3)
            flat.floor2 = np.float32(edit.noise.floor) * np.float32(edit.noise.floor)
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
        if v2:  # each one's base values (a v1 plate's: its values as they are)
            rasters = [
                e.raster if e.raster.base is not None else e.raster.with_base(e.before)
                for e in edits
            ]
            assert flat.planes is not None  # set just above
            cls, human, _flags = flat.planes
            flat.planes = (cls, human, joined([r.flags for r in rasters], np.uint8))
            bases = [r.base for r in rasters]
            assert all(b is not None for b in bases)  # with_base gave each one its base
            flat.base = joined([b for b in bases if b is not None], np.uint8).reshape(n, 3)
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
        if edit.kind == EditKind.INPAINT:
            stats_k["mask_px"] = stats_k.pop("area_px")
        if v2 and edit.kind in (EditKind.PAINT, EditKind.FINAL):
            stats_k["restored_px"] = values[_STAT_INDEX["restored_px"]]
        base = None if flat.base is None else flat.base[s:e].reshape(h, w, 3)
        raster = Raster(
            cls[s:e].reshape(h, w), human[s:e].reshape(h, w), flags[s:e].reshape(h, w), base
        )
        applied.append(Applied(after[s:e].reshape(h, w, 3), raster, stats_k))
    return applied


def mask_from_image(mask: U8) -> BoolArr:
    """A drawn mask (L or RGBA array) as booleans: alpha (or grey) ≥ 128."""
    arr = np.asarray(mask)
    if arr.ndim == 3:
        arr = arr[..., 3] if arr.shape[2] == 4 else arr[..., 0]
    return arr >= MASK_THRESHOLD


# --- the edits of the event table ----------------------------------------------------------

Read = Callable[[str, str], U8]
"""How the caller reads one of an event's blobs: ``read(role, mode)`` -> the decoded array
(``mode``: the PIL mode to decode in, "RGB", "RGBA" or "L"). Whatever it raises (a missing
or unreadable blob) passes through the registry's methods untouched."""

PayloadLike = Payload | Mapping[str, Any]


def _payload_field(payload: PayloadLike, name: str) -> Any:
    """A payload field, from a typed payload or the dict stored in the ledger ('' if unset)."""
    if isinstance(payload, Mapping):
        return payload.get(name, "")
    return getattr(payload, name, "")


@dataclass(frozen=True)
class BlobInput:
    """One blob an edit reads: its role in the event's blobs, the mode it is decoded in and
    what is made of the decoded array (``convert``; None: the array as it is)."""

    role: str
    mode: str
    convert: Callable[[U8], NDArray[Any]] | None = None

    def load(self, read: Read) -> NDArray[Any]:
        arr = read(self.role, self.mode)
        return arr if self.convert is None else self.convert(arr)


@dataclass(frozen=True)
class EditSpec:
    """How the edit of one :class:`~bgart.events.EditKind` is made from its event's blobs.

    ``image`` is the blob of the edit's image: the new plate of an *origin* (an edit that
    starts a plate's lineage from that image alone: ``origin`` makes its raster from the
    image's size and the payload), else the layer, whole repainted plate, inpaint result or
    adjusted plate laid over the version it edits. ``mask`` is the inpaint mask.
    """

    kind: EditKind
    image: BlobInput
    mask: BlobInput | None = None
    origin: Callable[[int, int, PayloadLike], Raster] | None = None

    @property
    def starts_plate(self) -> bool:
        """True: the edit makes a first version (:meth:`first_version`), with no version
        before it; False: it edits a version (:meth:`edit`)."""
        return self.origin is not None

    @property
    def reads(self) -> tuple[BlobInput, ...]:
        """The blobs the edit reads, in the order it reads them (an inpaint reads its mask
        first: an event missing both names the mask)."""
        return (self.image,) if self.mask is None else (self.mask, self.image)

    def first_version(self, read: Read, payload: PayloadLike) -> Applied:
        """The version an origin makes: its image, the raster of its kind (with the image
        as its base values under v2), no figures. ValueError when the payload cannot make a
        raster (an unknown plate origin)."""
        if self.origin is None:
            raise ValueError(f"a {self.kind} edit changes a version: it makes no first one")
        image = self.image.load(read)
        raster = self.origin(image.shape[1], image.shape[0], payload)
        if definition_version(payload) >= 2:
            raster = raster.with_base(image)
        return Applied(image, raster, {})

    def edit(
        self,
        before: U8,
        raster: Raster,
        read: Read,
        *,
        tone_test: bool = True,
        payload: PayloadLike | None = None,
    ) -> Edit:
        """The :class:`Edit` that makes this event's version from the version it edits
        (``before``, ``raster``), for :func:`apply`, under the definition version the
        event's ``payload`` records (1 when it records none)."""
        if self.origin is not None:
            raise ValueError(f"a {self.kind} edit makes a first version: it edits none")
        mask = None if self.mask is None else self.mask.load(read)
        version = 1 if payload is None else definition_version(payload)
        if self.kind == EditKind.RESAMPLE:
            return resample_edit(before, raster, self.image.load(read), version=version)
        noise = None
        floor = None if payload is None else _payload_field(payload, "noise_floor")
        if version >= 2 and isinstance(floor, int | float) and not isinstance(floor, bool):
            noise = Noise(read("ref_before", "RGB"), read("ref_base", "RGB"), float(floor))
        image = self.image.load(read)
        return Edit(self.kind, before, raster, image, mask, tone_test, version, noise)


def definition_version(payload: PayloadLike) -> int:
    """The contribution definition an event was made under (``contribution`` in its
    payload; 1 for events that record none, as the first ledgers did not)."""
    value = _payload_field(payload, "contribution")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 1


def _generated_raster(width: int, height: int, _payload: PayloadLike) -> Raster:
    return generated(width, height)


def _imported_raster(width: int, height: int, payload: PayloadLike) -> Raster:
    return imported(width, height, _payload_field(payload, "origin"))


EDITS: Mapping[EditKind, EditSpec] = {
    spec.kind: spec
    for spec in (
        EditSpec(EditKind.GENERATED, BlobInput("image", "RGB"), origin=_generated_raster),
        EditSpec(EditKind.IMPORTED, BlobInput("image", "RGB"), origin=_imported_raster),
        EditSpec(EditKind.PAINT, BlobInput("layer", "RGBA")),
        EditSpec(EditKind.FINAL, BlobInput("final", "RGB")),
        EditSpec(
            EditKind.INPAINT,
            BlobInput("result", "RGB"),
            mask=BlobInput("mask", "L", mask_from_image),
        ),
        EditSpec(EditKind.ADJUST, BlobInput("adjusted", "RGB")),
        EditSpec(EditKind.RESAMPLE, BlobInput("result", "RGB")),
    )
}
"""The edits that change pixels, by :class:`~bgart.events.EditKind` (``EditKind.NONE`` and
``EditKind.COPY`` have none: no new pixels, or a revert's exact copy)."""
