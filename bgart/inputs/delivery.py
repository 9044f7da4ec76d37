"""Delivery size: the size a plate is handed over at (1920x1080 for TV, 3840x2160 for a 4K
working resolution, up to 8:1 for a pan), as opposed to the base pass the model renders.

Written ``WxH`` (``1920x1080``: exactly that size) or as one number, the short side
(``1080``: the long side follows the layout's aspect, rounded to a multiple of 8); ``none``
(or blank) is no delivery size: the plate stays at its base size, as before.

The rules (each refusal names the field it came from):

* both sides multiples of 8, each 64..11520 px;
* at most twice 3840x2160 in area (16,588,800 px: 4K UHD with room, or an 8:1 pan 1440 px
  high);
* an aspect within 1 % of the layout's (the layout is not stretched to fit: a 16:9 layout
  delivers 16:9), and at most 8:1 either way;
* at least the base plate's size (a delivery size refines up, it never shrinks).
"""

from __future__ import annotations

import re

from bgart.errors import InputError

MAX_SIDE = 11520
MAX_AREA = 3840 * 2160 * 2
MAX_ASPECT = 8.0
ASPECT_TOLERANCE = 0.01
SINGLE_PASS_ASPECT = 2.0
"""A delivery plate whose aspect is beyond this (a pan) gets a wide base pass, made as a
panorama; at or within it, the base pass is an ordinary plate of the model's size."""
MAX_BASE_SIDE = 4096

_SIZE = re.compile(r"^\s*(\d{1,6})\s*[xX×]\s*(\d{1,6})\s*$")
_SHORT = re.compile(r"^\s*(\d{1,6})\s*[pP]?\s*$")

Delivery = tuple[int, int] | int | None
"""A parsed delivery size: (width, height), the short side alone, or None (none)."""


def parse_delivery(text: str, field: str = "delivery") -> Delivery:
    """``"1920x1080"`` → (1920, 1080); ``"1080"`` → 1080 (short side); ``""``/``"none"`` →
    None. A size that cannot be one is refused here, naming ``field``."""
    value = text.strip()
    if not value or value.lower() in ("none", "base"):
        return None
    if m := _SIZE.match(value):
        size = int(m.group(1)), int(m.group(2))
        check_delivery_size(*size, field=field)
        return size
    if m := _SHORT.match(value):
        short = int(m.group(1))
        _check_side(short, "short side", field)
        return short
    raise InputError(
        f"{field} '{text}': not a size (WxH, e.g. 1920x1080; or the short side, e.g. 1080; or none)"
    )


def _check_side(value: int, label: str, field: str) -> None:
    if value % 8 or not 64 <= value <= MAX_SIDE:
        raise InputError(f"{field}: {label} {value} must be a multiple of 8 in 64..{MAX_SIDE}")


def check_delivery_size(width: int, height: int, field: str = "delivery") -> None:
    """Multiples of 8, 64..11520 a side, at most twice 4K UHD in area, at most 8:1."""
    _check_side(width, "width", field)
    _check_side(height, "height", field)
    if width * height > MAX_AREA:
        raise InputError(
            f"{field} {width}x{height}: {width * height} pixels, over the limit of "
            f"{MAX_AREA} (twice 3840x2160)"
        )
    if max(width, height) / min(width, height) > MAX_ASPECT:
        raise InputError(f"{field} {width}x{height}: wider than 8:1")


def delivery_size(
    spec: Delivery, layout_w: int, layout_h: int, field: str = "delivery", of: str = "layout"
) -> tuple[int, int] | None:
    """The delivery size ``spec`` asks for, for a ``layout_w`` x ``layout_h`` layout: a
    short side gets its long side from the layout's aspect; the aspect is checked."""
    if spec is None:
        return None
    aspect = layout_w / layout_h
    if isinstance(spec, int):
        long = round(spec * max(aspect, 1 / aspect) / 8) * 8
        size = (long, spec) if aspect >= 1 else (spec, long)
    else:
        size = spec
    check_delivery_size(*size, field=field)
    ratio = (size[0] / size[1]) / aspect
    if abs(ratio - 1.0) > ASPECT_TOLERANCE:
        raise InputError(
            f"{field} {size[0]}x{size[1]}: aspect {size[0] / size[1]:.3f}, the {of}'s is "
            f"{aspect:.3f} ({layout_w}x{layout_h}); they must agree within 1 %"
        )
    return size


def base_size_for(delivery: tuple[int, int], long_side: int, short_side: int) -> tuple[int, int]:
    """The base pass of a delivery plate when none is given: the model's plate size
    (``long_side``) at the delivery's aspect, or for a pan (beyond 2:1) the model's
    ``short_side`` with the long side following the aspect (at most 4096: then the short
    side shrinks), rendered as a panorama."""
    w, h = delivery
    aspect = max(w, h) / min(w, h)
    if aspect <= SINGLE_PASS_ASPECT:
        long, short = long_side, max(64, round(long_side / aspect / 8) * 8)
    else:
        short = short_side
        while short > 64 and round(short * aspect / 8) * 8 > MAX_BASE_SIDE:
            short -= 8
        long = min(MAX_BASE_SIDE, round(short * aspect / 8) * 8)
    long, short = min(long, max(w, h)), min(short, min(w, h))
    return (long, short) if w >= h else (short, long)


def check_base_within(
    delivery: tuple[int, int], base: tuple[int, int], field: str = "delivery"
) -> None:
    """A delivery size is at least the base plate's size on both sides."""
    if delivery[0] < base[0] or delivery[1] < base[1]:
        raise InputError(
            f"{field} {delivery[0]}x{delivery[1]}: smaller than the base plate "
            f"{base[0]}x{base[1]} (a delivery size refines up)"
        )


def resolve_delivery(
    text: str,
    layout_size: tuple[int, int],
    base: tuple[int, int],
    base_given: bool,
    model_size: tuple[int, int],
    field: str = "delivery",
) -> tuple[tuple[int, int] | None, tuple[int, int]]:
    """(delivery size, base size) of a render: ``text`` parsed and checked against the
    layout; the base pass is ``base`` when the user gave it, else the model's size
    (``model_size``: the settings' width and height) at the delivery's aspect."""
    size = delivery_size(parse_delivery(text, field), *layout_size, field=field)
    if size is None:
        return None, base
    if not base_given:
        base = base_size_for(size, max(model_size), min(model_size))
    check_base_within(size, base, field)
    return size, base
