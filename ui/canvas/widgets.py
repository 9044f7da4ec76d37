"""The painting surface's Gradio side: a host element, three hidden components that carry
the canvas view, the plate file and the strokes, and the page script (``static/``).

The script is the package's own file, read when the app is built and run once by
``demo.load`` (no static route, nothing fetched at run time); its CSS rides along in it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import gradio as gr

from .bridge import LAYERS, view_json

HOST_ID = "bgart-canvas"
STATIC = Path(__file__).resolve().parent / "static"  # package data (pyproject.toml)
# a view arriving from Python is handed to the page's canvas with the plate file beside it
LOAD_VIEW_JS = "(view, plate) => { if (window.bgartCanvas) window.bgartCanvas.load(view, plate); }"


@cache
def page_script() -> str:
    """The canvas script as a ``js=`` function for ``demo.load``, its CSS inlined."""
    source = (STATIC / "canvas.js").read_text(encoding="utf-8")
    css = (STATIC / "canvas.css").read_text(encoding="utf-8")
    return f"() => {{\nconst BGART_CANVAS_CSS = {json.dumps(css)};\n{source}\n}}"


def payload_js(position: int, layer: str) -> str:
    """A ``js=`` step for a button: before Python runs, the input at ``position`` becomes
    the canvas payload of ``layer`` (the other inputs pass through)."""
    if layer not in LAYERS:
        raise ValueError(f"unknown canvas layer {layer!r}")
    return (
        f"(...args) => {{ args[{position}] = window.bgartCanvas ? "
        f"window.bgartCanvas.payload('{layer}') : ''; return args; }}"
    )


@dataclass(frozen=True)
class Canvas:
    """The components of the painting surface (made inside a Blocks context)."""

    host: gr.HTML
    view: gr.Textbox  # JSON, see bridge.view_json
    plate: gr.Image  # the plate's PNG file, served by Gradio like every image of the page
    payload: gr.Textbox  # filled by payload_js just before Save / AI fix reach Python

    @classmethod
    def build(cls) -> Canvas:
        host = gr.HTML(f'<div id="{HOST_ID}"></div>', js_on_load=None, elem_id="canvas-host")
        view = gr.Textbox(visible="hidden", elem_id="canvas-view")
        plate = gr.Image(
            type="filepath",
            format="png",
            visible="hidden",
            interactive=False,
            elem_id="canvas-plate",
        )
        payload = gr.Textbox(visible=False, elem_id="canvas-payload")
        return cls(host, view, plate, payload)

    def wire(self, demo: gr.Blocks) -> None:
        demo.load(None, None, None, js=page_script())
        for part in (self.view, self.plate):  # whichever of the two arrives last loads
            part.change(None, [self.view, self.plate], None, js=LOAD_VIEW_JS)

    def update(
        self,
        project: str,
        shot: str | None,
        version: int | None,
        size: tuple[int | None, int | None],
        plate: Any,
        clear: tuple[str, ...] = (),
    ) -> dict[Any, Any]:
        """The updates that show ``shot``'s plate on the canvas, emptying the layers in
        ``clear`` (see :func:`bridge.view_json`)."""
        return {
            self.plate: plate,
            self.view: view_json(project, shot, version, size, clear),
        }
