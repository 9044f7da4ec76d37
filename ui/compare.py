"""The Compare tab: a shot's variations side by side and zoomed (the current plate's marked),
an A/B slider between two versions, and the provenance heat map as an opacity overlay over
the full-size plate with its legend beside the image, not in it.

Everything is read from the ledger (``bgart.plates``); nothing here records anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr
import numpy as np
from PIL import Image, ImageDraw

from bgart import plates as workflow
from bgart import provenance as contrib
from bgart.errors import InputError
from bgart.provenance import HEAT_COLOURS

from .recipe import RecordedCandidate, recorded_candidates

if TYPE_CHECKING:
    from .handlers import Studio

TILE_WIDTH = 320
CURRENT_FRAME = (255, 140, 0)
CAPTION_H = 22
MAX_ZOOM = 8.0


def zoom_crop(image: Image.Image, zoom: float, cx: float, cy: float) -> Image.Image:
    """The part of ``image`` a ``zoom``× view centred at (``cx``, ``cy``) (fractions of
    the width and height) shows; kept inside the image."""
    zoom = min(MAX_ZOOM, max(1.0, float(zoom)))
    w, h = image.size
    cw, ch = max(1, round(w / zoom)), max(1, round(h / zoom))
    x0 = min(max(0, round(cx * w - cw / 2)), w - cw)
    y0 = min(max(0, round(cy * h - ch / 2)), h - ch)
    return image.crop((x0, y0, x0 + cw, y0 + ch))


def variation_strip(
    cands: Sequence[RecordedCandidate], zoom: float = 1.0, cx: float = 0.5, cy: float = 0.5
) -> Image.Image | None:
    """The variations side by side, each the same zoomed part, the current plate's framed
    and captioned "current" (pixels enlarged as they are: nearest neighbour)."""
    if not cands:
        return None
    tiles = []
    for c in cands:
        part = zoom_crop(c.image, zoom, cx, cy)
        th = max(1, round(TILE_WIDTH * part.height / part.width))
        tiles.append(part.resize((TILE_WIDTH, th), Image.Resampling.NEAREST))
    pad = 6
    height = max(t.height for t in tiles) + CAPTION_H + 2 * pad
    strip = Image.new("RGB", (len(tiles) * (TILE_WIDTH + 2 * pad), height), (250, 250, 250))
    draw = ImageDraw.Draw(strip)
    for i, (c, tile) in enumerate(zip(cands, tiles, strict=True)):
        x = i * (TILE_WIDTH + 2 * pad) + pad
        if c.current:
            draw.rectangle([x - pad, 0, x + TILE_WIDTH + pad - 1, height - 1], fill=CURRENT_FRAME)
        strip.paste(tile, (x, pad))
        caption = f"#{c.number} · seed {c.seed}" + ("  ★ current plate" if c.current else "")
        draw.text((x + 2, pad + tile.height + 4), caption, fill=(0, 0, 0))
    return strip


def heat_overlay(project: Any, shot: str, opacity: float) -> tuple[Image.Image, str]:
    """The full-size plate with its heat map laid over at ``opacity`` (0..1), and the legend
    (Markdown, with each share) to show beside it."""
    state = workflow.plate_state(project, shot)
    plate = Image.fromarray(np.array(state.image)).convert("RGB")
    heat = workflow.heatmap(project, shot, legend=False).convert("RGB")
    mixed = Image.blend(plate, heat, min(1.0, max(0.0, float(opacity))))
    figs = workflow.plate_figures(project, shot)
    shares = {
        "human paint": figs["human_paint_share"],
        "AI generated": figs["ai_gen_share"],
        "AI inpainted": figs["ai_inpaint_share"],
        "human base": figs["human_base_share"],
    }
    legend = " ".join(
        f'<span class="heat-key"><span style="display:inline-block;width:0.9em;height:0.9em;'
        f'background:rgb{HEAT_COLOURS[name]};border:1px solid #333;vertical-align:middle">'
        f"</span> {name} {contrib.pct(share)}</span> &nbsp;"
        for name, share in shares.items()
    )
    return mixed, f"**Heat map v{state.number}** &nbsp; {legend}"


def version_pair(
    project: Any, shot: str, a: int | None, b: int | None
) -> tuple[Image.Image, Image.Image] | None:
    """Versions ``a`` and ``b`` of the plate for the A/B slider (default: the one before
    the latest, and the latest)."""
    versions = [v.number for v in workflow.plate_versions(project, shot)]
    if not versions:
        return None
    b = versions[-1] if b is None else int(b)
    a = (versions[-2] if len(versions) > 1 else versions[-1]) if a is None else int(a)
    for n in (a, b):
        if n not in versions:
            raise InputError(f"compare: shot {shot} has no version {n}")

    def image(n: int) -> Image.Image:
        state = workflow.plate_state(project, shot, version=n)
        return Image.fromarray(np.array(state.image)).convert("RGB")

    return image(a), image(b)


def _default(numbers: Sequence[int], index: int) -> int | None:
    """The version at ``index`` (-1 latest, -2 the one before; the latest when alone)."""
    if not numbers:
        return None
    return numbers[index] if len(numbers) >= -index else numbers[-1]


@dataclass
class CompareTab:
    zoom: gr.Slider
    focus_x: gr.Slider
    focus_y: gr.Slider
    strip: gr.Image
    version_a: gr.Dropdown
    version_b: gr.Dropdown
    slider: gr.ImageSlider
    opacity: gr.Slider
    heat_img: gr.Image
    legend: gr.Markdown

    @classmethod
    def build(cls) -> CompareTab:
        gr.Markdown("**Variations**, side by side at the same zoom (★: the current plate)")
        with gr.Row():
            zoom = gr.Slider(1, MAX_ZOOM, value=1, step=0.5, label="Zoom", elem_id="cmp-zoom")
            focus_x = gr.Slider(0, 1, value=0.5, step=0.05, label="Centre x", elem_id="cmp-x")
            focus_y = gr.Slider(0, 1, value=0.5, step=0.05, label="Centre y", elem_id="cmp-y")
        strip = gr.Image(
            label="Variations", type="pil", format="png", interactive=False, elem_id="cmp-strip"
        )
        gr.Markdown("**A/B**: drag the handle between two versions")
        with gr.Row():
            version_a = gr.Dropdown(label="A (left)", choices=[], elem_id="cmp-a")
            version_b = gr.Dropdown(label="B (right)", choices=[], elem_id="cmp-b")
        slider = gr.ImageSlider(
            label="A | B", type="pil", format="png", interactive=False, elem_id="cmp-slider"
        )
        opacity = gr.Slider(
            0, 1, value=0.6, step=0.05, label="Heat map opacity", elem_id="cmp-opacity"
        )
        legend = gr.Markdown(elem_id="cmp-legend")
        heat_img = gr.Image(
            label="Plate with heat map",
            type="pil",
            format="png",
            interactive=False,
            elem_id="cmp-heat",
        )
        return cls(
            zoom, focus_x, focus_y, strip, version_a, version_b, slider, opacity, heat_img, legend
        )

    @property
    def outputs(self) -> list[Any]:
        return [self.strip, self.version_a, self.version_b, self.slider, self.heat_img, self.legend]

    def show(
        self,
        studio: Studio,
        code: str | None,
        zoom: float,
        cx: float,
        cy: float,
        a: int | None,
        b: int | None,
        opacity: float,
    ) -> dict[Any, Any]:
        if not code:
            return {o: None for o in self.outputs if o not in (self.version_a, self.version_b)}
        project = studio.project
        with studio._lock:  # reads of one consistent ledger state
            cands = recorded_candidates(project, code)
            numbers = [v.number for v in workflow.plate_versions(project, code)]
            if a not in numbers:
                a = None
            if b not in numbers:
                b = None
            pair = version_pair(project, code, a, b)
            heat, legend = heat_overlay(project, code, opacity) if numbers else (None, "")
        choices = [(f"v{n}", n) for n in numbers]
        shown = pair is not None
        return {
            self.strip: variation_strip(cands, zoom, cx, cy),
            self.version_a: gr.Dropdown(choices=choices, value=a if a else _default(numbers, -2)),
            self.version_b: gr.Dropdown(choices=choices, value=b if b else _default(numbers, -1)),
            self.slider: pair if shown else None,
            self.heat_img: heat,
            self.legend: legend,
        }

    def wire(
        self, studio: Studio, *, tab: gr.Tab, shot: gr.Dropdown, status: Any, guard: Any
    ) -> None:
        inputs = [
            shot,
            self.zoom,
            self.focus_x,
            self.focus_y,
            self.version_a,
            self.version_b,
            self.opacity,
        ]

        @guard
        def on_show(
            code: str | None,
            zoom: float,
            cx: float,
            cy: float,
            a: int | None,
            b: int | None,
            opacity: float,
        ) -> dict[Any, Any]:
            return self.show(studio, code, zoom, cx, cy, a, b, opacity)

        common: dict[str, Any] = {"api_visibility": "undocumented", "show_progress": "minimal"}
        outputs = [status, *self.outputs]
        tab.select(on_show, inputs, outputs, **common)
        for control in (self.zoom, self.focus_x, self.focus_y, self.opacity):
            control.release(on_show, inputs, outputs, **common)
        for control in (self.version_a, self.version_b):
            control.input(on_show, inputs, outputs, **common)
