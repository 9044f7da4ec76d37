"""The delivery pass of a render: a :class:`~bgart.inputs.request.RenderRequest`'s delivery
size made into the engine's :class:`~bgart.generation.Delivery` (the layout prepared again
at the delivery size), the same for ``bgart generate``, ``bgart batch``, the artists' room
and ``bgart regenerate``."""

from __future__ import annotations

from typing import Any

from PIL import Image

from bgart.generation import Delivery, GenerationRecord
from bgart.inputs import delivery_size, parse_delivery, prepare_layout
from bgart.inputs.layout import MAX_PLATE_SIDE


def delivery_plan(size: tuple[int, int] | None, layout: Image.Image) -> Any:
    """The engine's delivery for ``size`` (None: none), its control image the layout
    prepared at that size, as the base pass's is at the base size."""
    if size is None:
        return None
    return Delivery(size[0], size[1], layout=control_at(layout, *size))


def control_at(layout: Image.Image, width: int, height: int) -> Image.Image:
    """The layout's control image at a delivery size: prepared as for any plate, at most
    4096 px a side (the layout cleanup's limit), then resized (Lanczos) to the size."""
    scale = min(1.0, MAX_PLATE_SIDE / max(width, height))
    if scale == 1.0:
        return prepare_layout(layout, width, height)
    w, h = (max(64, round(v * scale / 8) * 8) for v in (width, height))
    return prepare_layout(layout, w, h).resize((width, height), Image.Resampling.LANCZOS)


def replay_plan(record: GenerationRecord, layout: Image.Image | None) -> Any:
    """The delivery a record names, its layout prepared again at the delivery size (the
    record's size); None for a record without one (every plate made before delivery
    sizes)."""
    if "delivery" not in record.extra:
        return None
    control = None if layout is None else control_at(layout, record.width, record.height)
    return Delivery.from_record(record, control)


def base_of(record: GenerationRecord) -> tuple[int, int]:
    """The size of a record's base pass (its own size unless it is a delivery plate)."""
    return Delivery.base_of(record)


def job_delivery(
    asked: str | None, default: str, layout_size: tuple[int, int]
) -> tuple[int, int] | None:
    """The delivery size of a one-off render: ``--delivery`` when given, else ``default``
    (the preset's, else bgart.toml's ``delivery``), resolved for the layout; errors name
    the source."""
    field = "--delivery" if asked is not None else "default 'delivery'"
    text = asked if asked is not None else default
    return delivery_size(parse_delivery(text, field), *layout_size, field=field)
