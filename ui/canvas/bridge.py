"""What crosses between the painting surface in the browser and Python.

Python → browser: a *canvas view* (JSON in a hidden textbox: project key, shot, plate
version and size, which layers to clear) and the plate's PNG file (a hidden image, so
Gradio serves it). The page's ``bgartCanvas.load(view, plate)`` loads it.

Browser → Python: a *canvas payload*, JSON made by ``bgartCanvas.payload(layer)`` when Save
or AI fix is pressed: the shot and version the strokes were made over, the layer at the
plate's full size as a PNG data URL (alpha = the strokes), and how many seconds ago each
edit was made. :func:`read_payload` turns it into the ImageEditor-shaped value
(``{"layers": [RGBA image]}``) that :class:`bgart.ui.handlers.Studio` has always taken, so
the paint layer that reaches provenance is the same contract as before.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import json
import math
import time
from dataclasses import dataclass
from typing import Any

from PIL import Image

from bgart.errors import InputError
from bgart.images import open_image

PNG_DATA_URL = "data:image/png;base64,"
LAYERS = ("paint", "mask")
MAX_EDIT_TIMES = 100_000  # one per stroke (and per second of a long stroke)
_nonce = itertools.count(1)


@dataclass(frozen=True)
class CanvasLayer:
    """One layer sent by the canvas, with what it was painted over."""

    shot: str
    version: int | None
    image: Image.Image
    ages: list[float]

    def editor_value(self) -> dict[str, Any]:
        """The value :meth:`Studio.save_paint` and :meth:`Studio.ai_fix` take."""
        return {"background": None, "layers": [self.image], "composite": None}

    def edit_times(self, now: float) -> list[float]:
        """The edits as moments on the server's clock (the browser's clock may differ:
        only the ages it measured with its own clock are used)."""
        return [now - age for age in self.ages]


def page_json(text: str, what: str) -> dict[str, Any]:
    """The JSON object a page's script sent; an InputError naming ``what`` otherwise."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InputError(f"{what}: not readable ({exc}); reload the page") from None
    if not isinstance(data, dict):
        raise InputError(f"{what}: not readable; reload the page")
    return data


def png_from_data_url(url: object, what: str, field: str, max_bytes: int) -> bytes:
    """The bytes of a PNG the page sent as a data URL in ``field`` (at most ``max_bytes``);
    an InputError naming ``what`` and the field otherwise."""
    if not isinstance(url, str) or not url.startswith(PNG_DATA_URL):
        raise InputError(f"{what}: field '{field}' is not a PNG data URL")
    if len(url) > max_bytes * 4 // 3 + len(PNG_DATA_URL) + 4:
        raise InputError(f"{what}: larger than {max_bytes // (1024 * 1024)} MB")
    try:
        return base64.b64decode(url[len(PNG_DATA_URL) :], validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"{what}: field '{field}' is not valid base64") from None


def project_key(root: object) -> str:
    """A short, stable name of a project for the browser's drafts (not its path)."""
    return hashlib.sha256(str(root).encode("utf-8")).hexdigest()[:16]


def view_json(
    project: str,
    shot: str | None,
    version: int | None,
    size: tuple[int | None, int | None],
    clear: tuple[str, ...] = (),
) -> str:
    """The canvas view for a shot. ``clear`` names the layers whose strokes were just
    recorded (``paint`` after Save, ``mask`` after an AI fix): the canvas empties those and
    keeps the others, so unsaved work survives every other act."""
    unknown = set(clear) - set(LAYERS)
    if unknown:
        raise ValueError(f"unknown canvas layers {sorted(unknown)}")
    return json.dumps(
        {
            "project": project,
            "shot": shot,
            "version": version,
            "width": size[0],
            "height": size[1],
            "clear": list(clear),
            # every view is a change (so the page always hears it), unique across restarts
            "nonce": f"{time.time_ns():x}-{next(_nonce)}",
        }
    )


def read_payload(
    text: str | None, what: str, max_bytes: int, *, expected: str | None = None
) -> CanvasLayer:
    """The layer ``what`` (``paint`` or ``mask``) the canvas sent; a clear one-line error
    when it is missing, unreadable, too large or not a PNG, or (given ``expected``, the shot
    the page has open) painted on another shot."""
    if not text or not text.strip():
        raise InputError(f"nothing painted: draw the {what} on the plate first")
    data = page_json(text, f"{what} from the canvas")
    if data.get("empty"):
        raise InputError(f"nothing painted: draw the {what} on the plate first")
    raw = png_from_data_url(data.get("layer"), f"{what} from the canvas", "layer", max_bytes)
    image = open_image(raw, mode="RGBA", name=f"{what} layer from the canvas")
    shot = data.get("shot")
    version = data.get("version")
    ages = data.get("ages") or []
    if not isinstance(shot, str) or not shot:
        raise InputError(f"{what} from the canvas: field 'shot' is missing")
    if expected is not None and shot != expected:
        raise InputError(
            f"{what}: the canvas shows shot {shot} but shot {expected} is open; "
            f"open {shot} again to save its strokes (they are kept as a draft)"
        )
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise InputError(f"{what} from the canvas: field 'version' is not a whole number")
    if (
        not isinstance(ages, list)
        or len(ages) > MAX_EDIT_TIMES
        or not all(
            isinstance(a, int | float) and not isinstance(a, bool) and math.isfinite(a) and a >= 0
            for a in ages
        )
    ):
        raise InputError(f"{what} from the canvas: field 'ages' is not a list of seconds")
    return CanvasLayer(shot, version, image, [float(a) for a in ages])
