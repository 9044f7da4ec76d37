"""Layered PSD finals (``bgart ledger import-final painted.psd``): reading the layers.

A background painted over a bgart plate in Photoshop, CLIP STUDIO PAINT or Krita comes back
as a PSD whose bottom layer is the plate and whose other layers are what the artists added.
:func:`read_layered` turns such a file into that bottom layer and, above it, one **normal**
RGBA layer per visible layer, which :func:`bgart.plates.layered.record_layered_final` records
as one ``human.painted`` event each, so every layer is measured as its artist's layer.

Rules (``docs/contribution.md``, "Layered PSD finals"):

* Layers are read bottom to top; **hidden** layers (or inside a hidden group) are ignored,
  as are layers without pixels.
* The bottom visible layer is the plate, laid over white (as a flattened PSD shows it).
* Blend modes **normal, multiply, screen and overlay** are computed, in 8-bit integers, over
  the picture below (a blended layer of colour c and alpha a over b gives
  ``b·(1 − a) + B(b, c)·a``, so it is recorded as the normal layer of colour ``B(b, c)`` and
  alpha ``a``: the stored layer composes exactly as the file does). Any other mode is
  refused by name, as are clipping layers, vector masks, layer effects, adjustment and fill
  layers, and groups that are not pass-through (or normal around normal layers) at full
  opacity. Layer opacity, fill opacity and a layer mask scale the alpha.
* The file's own flattened image, when it has one, must show the picture the layers compose
  to (:func:`_check_shown`): a program that blends otherwise (GIMP 2.10's linear light) is
  refused rather than credited for a picture nobody saw.
* **Who painted a layer**: a layer name starting with ``@name`` (e.g. ``@Mika sky glaze``)
  is Mika's; a layer without one takes its group's ``@name``, else the command's
  ``--artist``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np

from bgart.errors import InputError
from bgart.images import MAX_PIXELS
from bgart.ledger import check_name
from bgart.provenance import visibly_different

PSD_SIGNATURE = b"8BPS"
BLEND_MODES = ("normal", "multiply", "screen", "overlay")
_PIXEL_KINDS = ("pixel", "type", "shape", "smartobject")


@dataclass(frozen=True)
class PsdLayer:
    """One visible layer as bgart records it: a plate-sized normal RGBA layer."""

    name: str
    artist: str | None  # from an ``@name`` prefix (its own or its group's); None: --artist
    blend: str  # the file's mode (one of BLEND_MODES); ``rgba`` already has it computed
    rgba: np.ndarray  # (h, w, 4) uint8


@dataclass(frozen=True)
class LayeredFinal:
    """A layered PSD read for import: the bottom layer (the plate, over white) and the
    layers above it, and the picture they compose to."""

    base_name: str
    base_artist: str | None
    base: np.ndarray  # (h, w, 3) uint8
    layers: list[PsdLayer]
    composite: np.ndarray  # (h, w, 3) uint8: base with every layer composed over it


def is_psd(data: bytes | None) -> bool:
    """True when ``data`` is a Photoshop document (PSD or PSB) by its signature."""
    return bool(data) and data[:4] == PSD_SIGNATURE  # type: ignore[index]


def artist_of(name: str) -> str | None:
    """The artist an ``@name`` layer-name prefix names (``"@Mika sky" -> "Mika"``)."""
    stripped = name.strip()
    if not stripped.startswith("@"):
        return None
    token = stripped[1:].split(None, 1)
    return token[0] if token else None


def read_layered(data: bytes, label: str) -> LayeredFinal:
    """Read the layers of the PSD ``data`` (named ``label`` in errors) as the rules above
    say. Raises :class:`InputError` naming the file and the layer for anything refused."""
    from psd_tools import PSDImage  # import here: psd-tools is slow to import

    try:
        psd = PSDImage.open(io.BytesIO(data))
    except Exception as exc:  # psd-tools raises many kinds on a damaged file
        raise InputError(f"{label}: not a readable PSD ({type(exc).__name__}: {exc})") from None
    mode = str(getattr(psd.color_mode, "name", psd.color_mode))
    if mode != "RGB":
        raise InputError(f"{label}: colour mode {mode}; only RGB PSDs are read")
    if psd.depth != 8:
        raise InputError(f"{label}: {psd.depth} bits per channel; only 8-bit PSDs are read")
    w, h = psd.width, psd.height
    if w < 1 or h < 1 or w * h > MAX_PIXELS:
        raise InputError(f"{label}: canvas {w}x{h} (at most {MAX_PIXELS} pixels)")
    leaves: list[tuple[Any, str | None]] = []
    _collect(psd, None, leaves, label)
    if not leaves:
        raise InputError(f"{label}: no visible layer with pixels")
    bottom, bottom_artist = leaves[0]
    colour, alpha = _canvas(bottom, w, h, label)
    white = np.full_like(colour, 255)
    current = _over(white, colour, _scaled_alpha(alpha, bottom))
    base = current.copy()
    layers: list[PsdLayer] = []
    for layer, artist in leaves[1:]:
        colour, alpha = _canvas(layer, w, h, label)
        a = _scaled_alpha(alpha, layer)
        if not a.any():
            continue
        blend = _blend_name(layer, label)
        blended = _blend(blend, current, colour)
        blended[a == 0] = 0
        layers.append(PsdLayer(layer.name, artist, blend, np.dstack([blended, a])))
        current = _over(current, blended, a)
    _check_shown(psd, current, layers, bottom.name, label)
    return LayeredFinal(bottom.name, bottom_artist, base, layers, current)


def _collect(group: Any, artist: str | None, out: list[tuple[Any, str | None]], label: str) -> None:
    """The visible pixel layers under ``group``, bottom to top, each with its artist."""
    for layer in group:  # psd-tools iterates bottom to top
        if not layer.visible:
            continue
        who = artist_of(layer.name) or artist
        where = f"{label}: layer '{layer.name}'"
        if layer.is_group():
            blend = _blend_name(layer, label, group=True)
            inner = [_blend_name(x, label, group=x.is_group()) for x in layer.descendants()]
            if layer.opacity != 255 or (blend == "normal" and set(inner) - {"normal"}):
                raise InputError(
                    f"{where}: a group at opacity {layer.opacity} in mode {blend} is not read "
                    "(only pass-through groups at full opacity); merge the group"
                )
            _collect(layer, who, out, label)
            continue
        if layer.kind not in _PIXEL_KINDS:
            raise InputError(f"{where}: a {layer.kind} layer is not read; rasterize or merge it")
        if layer.clipping:
            raise InputError(f"{where}: a clipping layer is not read; merge it down")
        if layer.has_vector_mask():
            raise InputError(f"{where}: has a vector mask; rasterize the layer before import")
        if layer.has_effects() and any(getattr(e, "enabled", True) for e in layer.effects):
            raise InputError(f"{where}: has layer effects; rasterize them before import")
        if who is not None:
            check_name(who, f"{where}: artist")
        if layer.has_pixels() and layer.width > 0 and layer.height > 0:
            out.append((layer, who))


def _blend_name(layer: Any, label: str, group: bool = False) -> str:
    """The layer's blend mode as a name; refused unless computed (see the module doc)."""
    mode = getattr(layer.blend_mode, "name", str(layer.blend_mode)).lower()
    if mode in BLEND_MODES or (group and mode == "pass_through"):
        return mode
    raise InputError(
        f"{label}: layer '{layer.name}' uses blend mode {mode.replace('_', ' ')}; only "
        f"{', '.join(BLEND_MODES)} are read (merge the layer, or change its mode)"
    )


def _canvas(layer: Any, w: int, h: int, label: str) -> tuple[np.ndarray, np.ndarray]:
    """The layer's colour (h, w, 3) and alpha (h, w) on the canvas (outside it: alpha 0)."""
    img = layer.topil()
    colour = np.zeros((h, w, 3), np.uint8)
    alpha = np.zeros((h, w), np.uint8)
    if img is None:
        return colour, alpha
    px = np.asarray(img.convert("RGBA"))
    left, top = layer.left, layer.top
    x0, y0 = max(0, left), max(0, top)
    x1, y1 = min(w, left + px.shape[1]), min(h, top + px.shape[0])
    if x1 <= x0 or y1 <= y0:
        return colour, alpha
    part = px[y0 - top : y1 - top, x0 - left : x1 - left]
    colour[y0:y1, x0:x1] = part[..., :3]
    alpha[y0:y1, x0:x1] = part[..., 3]
    if layer.has_mask() and not layer.mask.disabled:
        alpha = _masked(alpha, layer.mask, w, h)
    return colour, alpha


def _masked(alpha: np.ndarray, mask: Any, w: int, h: int) -> np.ndarray:
    """``alpha`` × the layer mask (its pixels in its box, its background value outside)."""
    full = np.full((h, w), int(mask.background_color) & 255, np.uint8)
    img = mask.topil()
    if img is not None:
        m = np.asarray(img.convert("L"))
        left, top = mask.left, mask.top
        x0, y0 = max(0, left), max(0, top)
        x1, y1 = min(w, left + m.shape[1]), min(h, top + m.shape[0])
        if x1 > x0 and y1 > y0:
            full[y0:y1, x0:x1] = m[y0 - top : y1 - top, x0 - left : x1 - left]
    return ((alpha.astype(np.uint32) * full + 127) // 255).astype(np.uint8)


def _scaled_alpha(alpha: np.ndarray, layer: Any) -> np.ndarray:
    """Alpha × layer opacity × fill opacity (each 0–255), rounded."""
    a = alpha.astype(np.uint32)
    for factor in (int(layer.opacity), int(getattr(layer, "fill_opacity", 255))):
        if factor != 255:
            a = (a * factor + 127) // 255
    return a.astype(np.uint8)


def _blend(mode: str, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """B(b, c) for 8-bit backdrop ``b`` and layer colour ``c``, rounded to integers."""
    bi, ci = b.astype(np.int32), c.astype(np.int32)
    if mode == "normal":
        out = ci
    elif mode == "multiply":
        out = (bi * ci + 127) // 255
    elif mode == "screen":
        out = bi + ci - (bi * ci + 127) // 255
    else:  # overlay: multiply the darks, screen the lights (by the backdrop)
        dark = (2 * bi * ci + 127) // 255
        light = 255 - (2 * (255 - bi) * (255 - ci) + 127) // 255
        out = np.where(bi < 128, dark, light)
    return np.clip(out, 0, 255).astype(np.uint8)


def _over(b: np.ndarray, c: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Colour ``c`` at alpha ``a`` over opaque ``b``, exactly as bgart composes a layer."""
    a32 = a.astype(np.int32)[..., None]
    out = (b.astype(np.int32) * (255 - a32) + c.astype(np.int32) * a32 + 127) // 255
    return out.astype(np.uint8)


def _check_shown(
    psd: Any, current: np.ndarray, layers: list[PsdLayer], base_name: str, label: str
) -> None:
    """Refuse a file whose own flattened image (what the program that wrote it showed)
    differs visibly from the picture its layers compose to by the rules above.

    The PSD format names a layer's blend mode but not the colour space it is computed in:
    GIMP 2.10's default layer modes blend and composite in linear light, so a 60 % normal
    layer it writes as ``norm`` looks up to ~50 levels off in GIMP from Photoshop
    (or here). Recording such a file would credit a picture nobody saw. A pixel counts when
    it is more than 2 levels off in a channel (integer rounding: psd-tools truncates, GIMP
    rounds once in float) and visibly different (ΔE76 > 2.3). A file without real merged
    data (Photoshop's "maximize compatibility" off) is not checked."""
    if not psd.has_preview():
        return
    img = psd.topil()
    if img is None:
        return
    shown = np.asarray(img.convert("RGBA"))
    flat = _over(np.full_like(current, 255), shown[..., :3], shown[..., 3])
    if flat.shape != current.shape:
        return
    diff = np.abs(flat.astype(np.int16) - current.astype(np.int16)).max(axis=2)
    ys, xs = np.nonzero(diff > 2)
    if not len(ys):
        return
    seen = visibly_different(flat[ys, xs], current[ys, xs])
    if not seen.any():
        return
    y, x = int(ys[seen][0]), int(xs[seen][0])
    under = next((la.name for la in reversed(layers) if la.rgba[y, x, 3]), base_name)
    raise InputError(
        f"{label}: the layers compose to a picture visibly different from the file's own "
        f"flattened image at {int(seen.sum())} pixels (up to {int(diff[ys, xs][seen].max())} "
        f"levels; the first at x={x}, y={y}, layer '{under}'): the program that wrote it "
        "blends differently (in GIMP 2.10 set each layer's blend and composite space to RGB "
        "(perceptual)); or import the flattened picture"
    )
