"""Regions drawn in the UI: the Generate tab's region painter and the regions file it saves.

The art director or the artist paints a shot's regions (sky, buildings, foreground…) over its
layout, one flat colour per region (at most :data:`bgart.inputs.MAX_REGIONS`), and writes a
prompt for each colour (``static/regions.js`` in ``ui/canvas``: brush, fill that stops at the
layout's lines, eraser, clear; a label per pixel, so the colours are flat, never
anti-aliased). **Save regions** writes the shot's regions file into the project, in the
format the shot list's ``regions`` column names (:mod:`bgart.inputs.regions`)::

    <project>/regions/<shot>.toml   map = "<shot>.png", and [prompts] "#rrggbb" = "…"
    <project>/regions/<shot>.png    the colour map at the layout's size (long side ≤ 2048 px)

snapped to the palette and checked by :func:`bgart.inputs.load_regions` before it replaces
the shot's files (a refused save changes nothing). **Generate** renders with the project's
file, else the shot list's (:func:`shot_regions`), as the ``regions`` field of the
``RenderRequest``, the path the batch takes: the record's ``extra["regions"]`` names the
map's sha256 and each prompt, and the map is kept in the project's blobs, so ``bgart
regenerate --project`` is byte-identical.
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import logging
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr
import numpy as np
import tomli_w
from PIL import Image

from bgart import plates as workflow
from bgart.errors import BgartError, InputError
from bgart.fsutil import atomic_write_bytes
from bgart.images import encode_png, open_image
from bgart.inputs import MAX_REGIONS, RegionsInput, load_regions
from bgart.runs.regions import keep_region_files

from .canvas.bridge import page_json, png_from_data_url

if TYPE_CHECKING:
    from .handlers import Studio

log = logging.getLogger("bgart.ui")

REGIONS_DIR = "regions"  # in the project folder: <shot>.toml + <shot>.png
MAX_MAP_SIDE = 2048  # a layout scan larger than this is drawn on a map scaled down to it
# the painter's colours, in order (a shot's file may bring others: they take the last slots)
PALETTE = (
    "#87ceeb",  # sky blue
    "#804020",  # brown
    "#3cb44b",  # green
    "#ffe119",  # yellow
    "#f58231",  # orange
    "#911eb4",  # purple
    "#f032e6",  # magenta
    "#4363d8",  # blue
)
# the colour of unpainted pixels in a saved map: the first one no region uses
BACKGROUNDS = ("#000000", "#ffffff", "#808080", "#010101", "#fefefe", "#7f7f7f", "#020202")
STATIC = Path(__file__).resolve().parent / "canvas" / "static"  # package data (pyproject.toml)
BOX_LABEL = "Regions: a prompt per area, painted over the layout"
LOAD_VIEW_JS = (
    "(view) => { window.bgartRegionsView = view; "
    "if (window.bgartRegions) window.bgartRegions.load(view); }"
)
PAYLOAD_JS = (
    "(...args) => { args[1] = window.bgartRegions ? window.bgartRegions.payload() : ''; "
    "return args; }"
)
_COLOUR = re.compile(r"^#[0-9a-f]{6}$")
_nonce = itertools.count(1)


# ---- the regions file ------------------------------------------------------------------------
def regions_path(root: Path, code: str) -> Path:
    """The regions file the UI saves for shot ``code`` (its map is beside it)."""
    return Path(root) / REGIONS_DIR / f"{code}.toml"


def _label(code: str) -> str:
    return f"{REGIONS_DIR}/{code}.toml"


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def snap(drawn: np.ndarray, colours: Sequence[str]) -> np.ndarray:
    """Each pixel of an RGBA drawing as the index of the nearest of ``colours`` (-1 where it
    is unpainted: alpha < 128). A drawing with soft edges comes out flat."""
    if drawn.ndim != 3 or drawn.shape[2] != 4 or drawn.dtype != np.uint8:
        raise ValueError(f"snap: an (h, w, 4) uint8 drawing, not {drawn.dtype} {drawn.shape}")
    labels = np.full(drawn.shape[:2], -1, np.int16)
    if not colours:
        return labels
    rgb = drawn[..., :3].astype(np.int32)
    best = np.full(drawn.shape[:2], np.iinfo(np.int32).max, np.int32)
    for index, colour in enumerate(colours):
        dist = ((rgb - np.array(_rgb(colour), np.int32)) ** 2).sum(axis=-1)
        nearer = dist < best
        best[nearer] = dist[nearer]
        labels[nearer] = index
    labels[drawn[..., 3] < 128] = -1
    return labels


def save_regions(
    root: Path,
    code: str,
    drawn: np.ndarray,
    prompts: Sequence[tuple[str, str]],
    references: Sequence[tuple[str, bytes]] = (),
) -> RegionsInput | None:
    """Write shot ``code``'s regions file (:func:`regions_path`) from a drawing: an RGBA
    array (alpha = painted) and ``(colour, prompt)`` pairs, the painter's palette.

    Pixels are snapped to the nearest colour; a colour neither painted nor given a prompt is
    left out. A colour painted without a prompt, or with a prompt but not painted, is
    refused (an InputError naming it); nothing is written then. Nothing painted and no
    prompts: the shot's file is removed (None). The files are checked by ``load_regions``
    before they replace the old ones; the result is what it reads back.

    ``references``: ``(colour, image bytes)``, the region references the shot's file had
    (the painter does not edit them): each one whose colour is kept is written beside the
    map (``<shot>.ref-rrggbb.<ext>``, the same bytes) and named in ``[references]``."""
    name = f"regions of {code}"
    pairs: list[tuple[str, str]] = []
    for colour, prompt in prompts:
        hexa = str(colour).strip().lower()
        if not _COLOUR.match(hexa):
            raise InputError(f"{name}: colour '{colour}': not a colour (#rrggbb)")
        if any(hexa == c for c, _ in pairs):
            raise InputError(f"{name}: colour {hexa} is given twice")
        pairs.append((hexa, " ".join(str(prompt or "").split())))
    if len(pairs) > MAX_REGIONS:
        raise InputError(f"{name}: {len(pairs)} colours, at most {MAX_REGIONS}")
    labels = snap(drawn, [c for c, _ in pairs])
    counts = np.bincount(labels[labels >= 0].ravel(), minlength=len(pairs))
    kept: list[int] = []
    for index, (colour, prompt) in enumerate(pairs):
        if counts[index] and not prompt:
            raise InputError(f"{name}: colour {colour} is painted but has no prompt: write one")
        if prompt and not counts[index]:
            raise InputError(
                f"{name}: colour {colour} ({prompt!r}) has a prompt but is not painted: "
                "paint its area, or empty the prompt"
            )
        if prompt:
            kept.append(index)
    path = regions_path(root, code)
    map_path = path.with_suffix(".png")
    used = [pairs[i][0] for i in kept]
    refs = {
        f"{code}.ref-{c[1:]}.{_image_ext(data)}": (c, data) for c, data in references if c in used
    }
    stale = [p for p in path.parent.glob(f"{code}.ref-*") if p.name not in refs]
    if not kept:
        for old in (path, map_path, *stale):
            old.unlink(missing_ok=True)
        return None
    background = next(b for b in BACKGROUNDS if b not in used)
    rgb = np.empty((*labels.shape, 3), np.uint8)
    rgb[:] = _rgb(background)
    for index in kept:
        rgb[labels == index] = _rgb(pairs[index][0])
    png = encode_png(rgb)
    table: dict[str, Any] = {"map": map_path.name}
    table["prompts"] = {pairs[i][0]: pairs[i][1] for i in kept}
    if refs:
        table["references"] = {c: name for name, (c, _) in refs.items()}
    head = f"# regions of shot {code}, drawn in bgart's UI (format: bgart.inputs.regions)\n"
    text = head + tomli_w.dumps(table)
    files = {map_path.name: png, **{name: data for name, (_, data) in refs.items()}}
    with tempfile.TemporaryDirectory(prefix="bgart-regions-") as tmp:  # checked first
        for name, data in files.items():
            (Path(tmp) / name).write_bytes(data)
        (Path(tmp) / path.name).write_text(text, encoding="utf-8")
        load_regions(Path(tmp) / path.name, _label(code))
    for name, data in files.items():
        atomic_write_bytes(path.parent / name, data)
    atomic_write_bytes(path, text.encode("utf-8"))  # last: the file names only what is there
    for old in stale:
        old.unlink(missing_ok=True)
    return load_regions(path, _label(code))


def _image_ext(data: bytes) -> str:
    """The usual extension of an image's bytes (a reference keeps its own format)."""
    with Image.open(io.BytesIO(data)) as img:
        kind = (img.format or "png").lower()
    return {"jpeg": "jpg", "tiff": "tif"}.get(kind, kind)


def current_regions(studio: Studio, code: str) -> RegionsInput | None:
    """Shot ``code``'s regions: the project's file (drawn in the UI), else the shot list's."""
    path = regions_path(studio.project.root, code)
    if path.exists():
        return load_regions(path, _label(code))
    info = studio.shot_info.get(code)
    return info.regions if info is not None else None


def shot_regions(studio: Studio, code: str) -> RegionsInput | None:
    """The regions a render of ``code`` from the UI uses (:func:`current_regions`), with the
    map (and region references) kept in the project by sha256, as the batch keeps them:
    regenerate finds them there."""
    given = current_regions(studio, code)
    if given is not None:
        keep_region_files(studio.project.blobs, given)  # the map, each region reference
    return given


# ---- what the painter shows and sends ------------------------------------------------------
def _data_url(data: bytes, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def _fit(width: int, height: int) -> tuple[int, int]:
    scale = min(1.0, MAX_MAP_SIDE / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _layout(studio: Studio, code: str) -> Image.Image | None:
    data = workflow.shot_layout(studio.project, code)
    return open_image(data, mode="RGB", name=f"layout of shot {code}") if data else None


def map_size(studio: Studio, code: str, layout: Image.Image | None = None) -> tuple[int, int]:
    """The size regions of ``code`` are drawn at: its layout's (scaled to fit
    :data:`MAX_MAP_SIDE`), else its plate's, else the shot list's, else the project's."""
    layout = layout if layout is not None else _layout(studio, code)
    if layout is not None:
        return _fit(*layout.size)
    versions = workflow.plate_versions(studio.project, code)
    if versions:
        return _fit(versions[-1].width, versions[-1].height)
    info = studio.shot_info.get(code)
    if info is not None:
        return _fit(info.width, info.height)
    return _fit(studio.settings.width, studio.settings.height)


def view_json(studio: Studio, code: str, *, saved: bool = False) -> str:
    """The painter's view of shot ``code`` (JSON): the layout under it and the shot's regions
    (map and prompts) to edit, at :func:`map_size`. A regions file that does not load is
    named in the view's note; the painter then starts empty (saving replaces the file).
    ``saved``: the answer to a save (the painter drops its unsaved copy of the shot)."""
    layout = _layout(studio, code)
    width, height = map_size(studio, code, layout)
    note, pairs, map_url, source, refs = "", [], None, None, []
    try:
        given = current_regions(studio, code)
    except BgartError as exc:
        given, note = None, str(exc).splitlines()[0]
    if given is not None:
        source = given.source
        pairs = [list(p) for p in given.prompts]
        refs = [c for c, _ in given.references]
        img = open_image(given.map.data, mode="RGB", name=given.map.name)
        if img.size != (width, height):
            img = img.resize((width, height), Image.Resampling.NEAREST)
        map_url = _data_url(encode_png(np.asarray(img, np.uint8)), "image/png")
    layout_url = None
    if layout is not None:
        shown = layout if layout.size == (width, height) else layout.resize((width, height))
        buf = io.BytesIO()
        shown.save(buf, "JPEG", quality=90)  # shown under the regions only: never recorded
        layout_url = _data_url(buf.getvalue(), "image/jpeg")
    return json.dumps(
        {
            "shot": code,
            "width": width,
            "height": height,
            "layout": layout_url,
            "map": map_url,
            "regions": pairs,
            "references": refs,  # colours with a reference image of their own (kept as is)
            "palette": list(PALETTE),
            "max": MAX_REGIONS,
            "source": source,
            "note": note,
            "saved": saved,
            "nonce": f"{time.time_ns():x}-{next(_nonce)}",  # every view is a change
        }
    )


def read_drawing(
    text: str | None, code: str, size: tuple[int, int], max_bytes: int
) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """The drawing the painter sent (``bgartRegions.payload()``): an RGBA array at ``size``
    and its ``(colour, prompt)`` pairs; a one-line InputError naming the field otherwise."""
    what = "regions from the page"
    if not text or not text.strip():
        raise InputError(f"regions: nothing drawn: open shot {code} and paint its regions")
    data = page_json(text, what)
    shot = data.get("shot")
    if shot != code:
        raise InputError(
            f"regions: the painter shows shot {shot} but shot {code} is open; open it again"
        )
    raw = png_from_data_url(data.get("map"), what, "map", max_bytes)
    img = open_image(raw, mode="RGBA", name="regions map from the page")
    if img.size != size:
        raise InputError(
            f"regions map from the page: {img.size[0]}x{img.size[1]}, but shot {code}'s map "
            f"is {size[0]}x{size[1]}; open the shot again"
        )
    regions = data.get("regions")
    if (
        not isinstance(regions, list)
        or len(regions) > MAX_REGIONS
        or not all(
            isinstance(r, list) and len(r) == 2 and all(isinstance(x, str) for x in r)
            for r in regions
        )
    ):
        raise InputError(f"{what}: field 'regions' is not a list of [colour, prompt]")
    return np.asarray(img, np.uint8), [(c, p) for c, p in regions]


def box_label(view: str) -> str:
    """The panel's title for a view: whether Generate uses regions for the shot, and which."""
    data = json.loads(view)
    if not data["regions"]:
        return BOX_LABEL
    return f"{BOX_LABEL} · {len(data['regions'])} in use ({data['source']})"


@cache
def page_script() -> str:
    """The painter's script (its CSS inside it) as a ``js=`` function for ``demo.load``."""
    return "() => {\n" + (STATIC / "regions.js").read_text(encoding="utf-8") + "\n}"


# ---- the Generate tab's panel ----------------------------------------------------------------
@dataclass(frozen=True)
class RegionsPanel:
    """The region painter's components (made inside the Generate tab)."""

    box: gr.Accordion
    host: gr.HTML
    view: gr.Textbox  # JSON, see view_json
    payload: gr.Textbox  # filled by PAYLOAD_JS just before Save reaches Python
    save: gr.Button

    @classmethod
    def build(cls) -> RegionsPanel:
        with gr.Accordion(BOX_LABEL, open=False, elem_id="regions") as box:
            host = gr.HTML('<div id="bgart-regions"></div>', elem_id="regions-host")
            with gr.Row(equal_height=True):
                save = gr.Button("Save regions", elem_id="save-regions", scale=0, min_width=160)
                gr.Markdown(
                    "Paint each area in one colour and say what it shows; **Save regions**, "
                    "then **Generate** uses them. Unpainted areas follow the prompt above.",
                    elem_id="regions-hint",
                )
            view = gr.Textbox(visible="hidden", elem_id="regions-view")
            payload = gr.Textbox(visible=False, elem_id="regions-payload")
        return cls(box, host, view, payload, save)

    def wire(
        self,
        studio: Studio,
        *,
        demo: gr.Blocks,
        shot: Any,
        status: Any,
        guard: Callable[[Callable[..., Any]], Callable[..., Any]],
        message: Callable[[str], str],
    ) -> None:
        common: dict[str, Any] = {"api_visibility": "undocumented"}
        demo.load(None, None, None, js=page_script())
        self.view.change(None, [self.view], None, js=LOAD_VIEW_JS)
        max_bytes = studio.settings.max_upload_mb * 1024 * 1024

        def on_regions_view(code: str | None) -> dict[Any, Any]:
            if not code or code not in studio.shot_codes():
                return {self.view: gr.skip(), self.box: gr.skip()}
            try:
                text = view_json(studio, code)
            except BgartError as exc:  # the painter keeps the shot it shows (Save refuses it)
                log.warning("regions of %s: %s", code, exc)
                return {self.view: gr.skip(), self.box: gr.skip()}
            return {self.view: text, self.box: gr.Accordion(label=box_label(text))}

        @guard
        def on_save_regions(code: str | None, payload: str, request: gr.Request) -> dict[Any, Any]:
            studio.whoami(request)
            code = (code or "").strip()
            if code not in studio.shot_codes():
                raise InputError("no shot chosen: pick one in the Shots tab")
            drawn, pairs = read_drawing(payload, code, map_size(studio, code), max_bytes)
            try:  # the region references the painter does not edit are kept
                before = current_regions(studio, code)
            except BgartError:  # a file that does not load: the save replaces it
                before = None
            refs = [(c, image.data) for c, image in before.references] if before else []
            saved = save_regions(studio.project.root, code, drawn, pairs, refs)
            if saved is None:
                fallback = current_regions(studio, code)
                said = f"regions of {code} removed: Generate uses " + (
                    f"the shot list's ({fallback.source})" if fallback else "the prompt alone"
                )
            else:
                said = (
                    f"regions of {code} saved ({len(saved.prompts)} regions, "
                    f"{_label(code)}): Generate uses them"
                )
            text = view_json(studio, code, saved=True)
            box = gr.Accordion(label=box_label(text))
            return {status: message(said), self.view: text, self.box: box}

        shot.change(on_regions_view, [shot], [self.view, self.box], **common)
        outputs = [status, self.view, self.box]
        self.save.click(on_save_regions, [shot, self.payload], outputs, js=PAYLOAD_JS, **common)
