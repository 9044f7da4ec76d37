"""The provenance raster: who made each pixel of a plate version, and its figures.

Every plate version carries a :class:`Raster` with, per pixel,

* ``cls``   – the base class: ``HUMAN_BASE`` (0, a human-made base: a blank canvas or a
  layout used as the base), ``AI_GEN`` (1) or ``AI_INPAINT`` (2);
* ``human`` – the human paint weight h ∈ [0, 1] laid over that base;
* ``flags`` – ``TOUCHED`` (a human visibly painted it at some point in this version's
  lineage, even if later overwritten) and ``ADJUSTED`` (its current colour carries a
  technical adjustment: levels, colour balance, …); v2 adds ``BASE_PAINTED`` (the base value
  below is a painter's, e.g. a hand-painted import: returning to it gives h = 1);
* ``base`` – definition v2 only: per pixel, the RGB value its base author left there (what
  the last AI act made, or the imported first version). A later act whose result is within
  the visible-change threshold of it gives the pixel back to that author.

This module holds the raster type, its serialisation and its figures (:func:`figures`); the
edits that compute a raster from the pixels are in :mod:`bgart.provenance.edits`. The
definition, its rationale and its limits are in docs/contribution.md.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bgart.deflate import INFLATE_ERRORS, decompressobj, zlib_stream

DEFINITION_VERSION = 2  # recorded in every event that changes a raster (payload "contribution")
DEFINITION_VERSIONS = (1, 2)  # the versions replay knows: each event is replayed under its own

HUMAN_BASE = 0
AI_GEN = 1
AI_INPAINT = 2
CLASS_NAMES = {HUMAN_BASE: "human_base", AI_GEN: "ai_gen", AI_INPAINT: "ai_inpaint"}

TOUCHED = 1
ADJUSTED = 2
BASE_PAINTED = 4  # v2: the pixel's base value (``Raster.base``) is human paint (h_base = 1)

U8 = NDArray[np.uint8]
F32 = NDArray[np.float32]
BoolArr = NDArray[np.bool_]


def same_pixels(a: NDArray[Any], b: NDArray[Any]) -> bool:
    """Whether two arrays hold the same values in the same shape (integer dtypes). Small
    ones are compared as bytes: ``ledger verify`` compares three arrays per plate version,
    and np.array_equal's own cost was most of it on small plates."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.nbytes <= 1 << 16:
        return a.tobytes() == b.tobytes()
    return bool(np.array_equal(a, b))


_RASTER_SIZES: dict[bytes, tuple[int, int, int]] = {}  # raster header -> (w, h, planes)


@dataclass(eq=False)
class Raster:
    """Per-pixel provenance of one plate version (arrays of shape (height, width))."""

    cls: U8
    human: F32
    flags: U8
    base: U8 | None = None  # (height, width, 3) RGB, definition v2; None in v1 rasters

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
        base = None if self.base is None else self.base.copy()
        return Raster(self.cls.copy(), self.human.copy(), self.flags.copy(), base)

    def with_base(self, image: U8) -> Raster:
        """This raster (v2) with ``image`` as every pixel's base value; pixels whose h ≥ 0.5
        get BASE_PAINTED (a hand-painted import: h = 1; an AI plate: h = 0)."""
        flags = self.flags.copy()
        flags[self.human >= 0.5] |= BASE_PAINTED
        base = np.ascontiguousarray(image[..., :3], np.uint8).copy()
        return Raster(self.cls.copy(), self.human.copy(), flags, base)

    def equals(self, other: Raster) -> bool:
        """Bit for bit (a float that differs only in its last bit differs)."""
        if (self.base is None) != (other.base is None):
            return False
        return (
            same_pixels(self.cls, other.cls)
            and same_pixels(self.human.view(np.uint32), other.human.view(np.uint32))
            and same_pixels(self.flags, other.flags)
            and (self.base is None or other.base is None or same_pixels(self.base, other.base))
        )

    def difference(self, other: Raster) -> str:
        """A short description of where two rasters differ ('' when equal)."""
        if self.cls.shape != other.cls.shape:
            return f"size {self.width}x{self.height} vs {other.width}x{other.height}"
        if (self.base is None) != (other.base is None):
            return "one raster has base values (definition v2), the other none"
        for name in ("cls", "human", "flags", "base"):
            a, b = getattr(self, name), getattr(other, name)
            if a is None or b is None:
                continue
            diff = a != b
            if diff.any():
                y, x = np.argwhere(diff)[0]
                return f"{name} differs at {int(diff.sum())} pixels, first at x={x} y={y}"
        return ""

    # A deterministic serialisation (verify compares decoded arrays, not bytes).
    _MAGIC = b"BGRASTER"

    def to_bytes(self) -> bytes:
        planes = ["cls:u1", "human:<f4", "flags:u1"]
        if self.base is not None:  # v2: the base values, three planes R, G, B
            planes += ["base_r:u1", "base_g:u1", "base_b:u1"]
        header = json.dumps(
            {
                "v": 1 if self.base is None else 2,
                "width": self.width,
                "height": self.height,
                "planes": planes,
            },
            sort_keys=True,
        ).encode()
        n = self.cls.size
        # The planes one after the other, deflated without joining them (see zlib_stream):
        # cls, human (<f4), flags, then base planar (a paint act leaves those bytes alone).
        planes_data: list[Any] = [
            np.ascontiguousarray(self.cls).reshape(n),
            np.ascontiguousarray(self.human, "<f4").reshape(n).view(np.uint8),
            np.ascontiguousarray(self.flags).reshape(n),
        ]
        if self.base is not None:
            planes_data.append(np.ascontiguousarray(self.base.reshape(n, 3).T))
        return self._MAGIC + struct.pack("<I", len(header)) + header + zlib_stream(planes_data)

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
                size = int(header["width"]), int(header["height"]), len(header["planes"])
                if size[2] not in (3, 6):
                    raise ValueError(f"{size[2]} planes")
                if len(_RASTER_SIZES) > 4096:
                    _RASTER_SIZES.clear()
                _RASTER_SIZES[header_bytes] = size
            w, h, planes = size
            if w <= 0 or h <= 0:
                raise ValueError(f"raster size {w}x{h}")
            n = w * h
            per_px = 6 if planes == 3 else 9
            # At most one byte more than the planes need: a corrupt size cannot inflate more.
            inflate = decompressobj(len(data))
            body = inflate.decompress(memoryview(data)[start + hlen :], per_px * n + 1)
            if not inflate.eof:
                raise ValueError("raster body cut short or too long")
        except (
            struct.error,
            *INFLATE_ERRORS,
            KeyError,
            TypeError,
            OverflowError,
            RecursionError,
        ) as exc:
            raise ValueError(f"not a readable bgart raster ({exc})") from None
        if len(body) != per_px * n:
            raise ValueError("raster body has the wrong size")
        base = None
        if per_px == 9:
            base = np.frombuffer(body, np.uint8, 3 * n, 6 * n).reshape(3, n).T.reshape(h, w, 3)
            base = np.ascontiguousarray(base)
        return cls(
            cls=np.frombuffer(body, np.uint8, n, 0).reshape(h, w).copy(),
            human=np.frombuffer(body, "<f4", n, n).astype(np.float32).reshape(h, w),
            flags=np.frombuffer(body, np.uint8, n, 5 * n).reshape(h, w).copy(),
            base=base,
        )


def pct(share: float | None, digits: int = 1) -> str:
    """A share in 0..1 as a percentage that never shows 0 for more than nothing nor 100 for
    less than everything: ``< 0.1%`` and ``> 99.9%`` at the edges (``digits`` decimals).
    Every place that shows a share (reports, the CLI, the UI, heat-map legends) writes it so
    (docs/contribution.md, "display")."""
    if share is None:
        return "–"
    value = share * 100
    step = 10**-digits
    text = f"{value:.{digits}f}"
    if value > 0 and float(text) == 0:
        return f"< {step:.{digits}f}%"
    if value < 100 and float(text) >= 100:
        return f"> {100 - step:.{digits}f}%"
    return f"{text}%"


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
