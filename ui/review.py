"""The director's desk and what the artist gets back: the review queue (next/previous,
keyboard accept/reject), retake marks drawn on the plate with a comment per region, and the
marks shown to the artist (a list, an overlay image, and on the painting surface).

The acts are :func:`bgart.plates.mark_retake` and :func:`bgart.plates.review` (idempotent:
a second Accept records nothing); this module only turns page values into their arguments.
:class:`ReviewDesk` is built inside the Review tab, :class:`RetakeNotes` beside the canvas;
``ui/app.py`` wires both with a few lines.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr
import numpy as np
from PIL import Image, ImageDraw

from bgart import plates as workflow
from bgart.errors import BgartError, InputError

if TYPE_CHECKING:
    from .handlers import ShotView, Studio

MARK_COLOUR = "#ff3b30"
MAX_REGIONS = 32
# Keys on the Review tab (never while typing): A accept, R reject (the comment first),
# J / → next shot in the queue, K / ← previous.
REVIEW_KEYS_JS = """() => {
  if (window.bgartReviewKeys) return;
  window.bgartReviewKeys = true;
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
    const t = e.target;
    if (t && t.closest && t.closest("input, textarea, select, [contenteditable=true]")) return;
    const tab = document.getElementById("tab-review");
    if (!tab || tab.offsetParent === null) return;
    const press = (id) => {
      const b = document.getElementById(id);
      if (b && !b.disabled) { e.preventDefault(); b.click(); }
    };
    const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    if (key === "a") press("accept-btn");
    else if (key === "r") {
      const box = document.querySelector("#review-comment textarea");
      if (box && !box.value.trim()) { e.preventDefault(); box.focus(); }
      else press("reject-btn");
    }
    else if (key === "j" || key === "ArrowRight") press("queue-next");
    else if (key === "k" || key === "ArrowLeft") press("queue-prev");
  });
}"""
# the marks onto the painting surface, when the canvas (ui/canvas) is on the page
SHOW_MARKS_JS = (
    "(marks, shot) => { if (window.bgartCanvas && shot) "
    "window.bgartCanvas.showMarks(marks || '[]', shot); }"
)


# --- plain functions (unit-tested) ------------------------------------------------------------


def queue_step(queue: Sequence[str], current: str | None, step: int) -> str | None:
    """The shot ``step`` places from ``current`` in the queue (wrapping); the first (or
    last) when ``current`` is not in it; None for an empty queue."""
    if not queue:
        return None
    if current is None or current not in queue:
        return queue[0] if step > 0 else queue[-1]
    return queue[(list(queue).index(current) + step) % len(queue)]


def queue_text(queue: Sequence[str], current: str | None) -> str:
    if not queue:
        return "**Review queue:** nothing submitted is waiting."
    names = " · ".join(f"**▶ {c}**" if c == current else c for c in queue)
    return (
        f"**Review queue ({len(queue)}):** {names}  \n"
        "Keys: **A** accept · **R** reject (write the comment first) · **J**/**K** next/previous"
    )


SHAPES = ("box", "outline")  # the region a stroke marks: its bounding box, or its hull


def drift_text(studio: Studio, code: str) -> str:
    """The plate's drift from its art board, for the director (docs/art-direction.md):
    nothing for a plate made without a board or a model without an image encoder."""
    from bgart.runs import plate_drift

    try:
        found = plate_drift(studio.project, studio.settings, code)
    except (BgartError, OSError) as exc:
        return f"  \nDrift from the art board: not measured ({exc})"
    if not found:
        return ""
    over = " — **over the production's threshold: check the look**" if found["over"] else ""
    return f"  \nDrift from the art board ({found['board']}): {found['drift']:.3f}{over}"


def stroke_region(
    editor: Mapping[str, Any] | None, comment: str, shape: str = "box"
) -> dict[str, Any]:
    """The region a director drew in the mark editor, in plate pixels, with its comment:
    ``box`` the bounding box of their strokes (a rectangle), ``outline`` the convex hull
    around them (a polygon, for an area that is not a box). Refused, by field, without a
    stroke or a comment."""
    layers = [ly for ly in (editor or {}).get("layers") or [] if ly is not None]
    alpha: np.ndarray | None = None
    for item in layers:
        img = item if isinstance(item, Image.Image) else Image.fromarray(np.asarray(item))
        a = np.asarray(img.convert("RGBA"))[..., 3]
        alpha = a if alpha is None or alpha.shape != a.shape else np.maximum(alpha, a)
    if alpha is None or not alpha.any():
        raise InputError("retake mark: draw around the area on the plate first")
    text = (comment or "").strip()
    if not text:
        raise InputError("retake mark: write what to change in this region (comment)")
    if shape not in SHAPES:
        raise InputError(f"retake mark shape '{shape}': one of {', '.join(SHAPES)}")
    ys, xs = np.nonzero(alpha)
    box = [[int(xs.min()), int(ys.min())], [int(xs.max()) + 1, int(ys.max()) + 1]]
    if shape == "outline":
        hull = convex_hull(np.stack([xs, ys], axis=1))
        if len(hull) >= 3:
            return {"shape": "polygon", "points": hull, "comment": text}
    return {"shape": "rect", "points": box, "comment": text}


def convex_hull(points: np.ndarray) -> list[list[int]]:
    """The convex hull of integer pixel positions (x, y), counter-clockwise, as pixel-edge
    corners (a pixel at x covers x..x+1): Andrew's monotone chain."""
    corners = np.concatenate([points + d for d in ((0, 0), (1, 0), (0, 1), (1, 1))])
    pts = sorted({(int(x), int(y)) for x, y in corners})
    if len(pts) < 3:
        return [list(p) for p in pts]

    def cross(o: tuple[int, int], a: tuple[int, int], b: tuple[int, int]) -> int:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[int, int]] = []
    upper: list[tuple[int, int]] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return [list(p) for p in lower[:-1] + upper[:-1]]


def _outline(region: Any) -> list[tuple[float, float]]:
    shape = region["shape"] if isinstance(region, Mapping) else region.shape
    points = [
        tuple(p) for p in (region["points"] if isinstance(region, Mapping) else region.points)
    ]
    if shape == "rect":
        (x0, y0), (x1, y1) = points
        return [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
    return [*points, points[0]]


def _comment(region: Any) -> str:
    return str(region["comment"] if isinstance(region, Mapping) else region.comment)


def regions_markdown(regions: Sequence[Any], title: str) -> str:
    if not regions:
        return ""
    lines = [f"**{title}**"]
    lines += [f"{i}. {_comment(r)}" for i, r in enumerate(regions, 1)]
    return "\n".join(lines)


def marks_markdown(marks: Sequence[workflow.RetakeMark]) -> str:
    """The artist's list: every open retake mark, numbered as on the overlay."""
    if not marks:
        return ""
    regions = [r for m in marks for r in m.regions]
    head = "; ".join(
        f"{m.director} on v{m.version}" + (f": “{m.comment}”" if m.comment else "") for m in marks
    )
    return regions_markdown(regions, f"Retake marks ({head})")


def marks_overlay(plate: Image.Image, regions: Sequence[Any]) -> Image.Image:
    """The plate with the marked regions drawn over it, numbered as in the list."""
    out = plate.convert("RGB").copy()
    shade = Image.new("RGBA", out.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(shade)
    width = max(2, round(max(out.size) / 300))
    for i, region in enumerate(regions, 1):
        outline = _outline(region)
        draw.polygon(outline[:-1], fill=(255, 59, 48, 40))
        draw.line(outline, fill=(255, 59, 48, 255), width=width)
        x, y = outline[0]
        draw.rectangle([x, y, x + 6 * width + 6, y + 6 * width + 6], fill=(255, 59, 48, 230))
        draw.text((x + 3, y + 1), str(i), fill=(255, 255, 255, 255))
    return Image.alpha_composite(out.convert("RGBA"), shade).convert("RGB")


def marks_for_canvas(regions: Sequence[Any]) -> str:
    """The JSON the painting surface draws (``bgartCanvas.showMarks``): closed outlines."""
    return json.dumps([{"points": _outline(r), "comment": _comment(r)} for r in regions])


def send_retake(
    studio: Studio,
    request: Any,
    shot: str | None,
    regions: Sequence[Mapping[str, Any]],
    comment: str,
    version: int | None,
) -> workflow.Recorded:
    """Record the pending regions as a retake of the version on the director's screen."""
    user, _ = studio.whoami(request)
    code = (shot or "").strip()
    if not code:
        raise InputError("no shot chosen: pick one in the review queue")
    with studio._lock:  # the studio's acts are serialised (see Studio)
        return workflow.mark_retake(
            studio.project, code, user, list(regions), comment, version=version
        )


def _plate_image(studio: Studio, code: str) -> Image.Image | None:
    if not workflow.plate_versions(studio.project, code):
        return None
    return Image.fromarray(np.array(workflow.plate_state(studio.project, code).image))


# --- the components ---------------------------------------------------------------------------


@dataclass
class RetakeNotes:
    """Beside the canvas: the artist's note when submitting and the open retake marks."""

    note: gr.Textbox
    marks_md: gr.Markdown
    marks_img: gr.Image
    marks_json: gr.Textbox

    @classmethod
    def build(cls) -> RetakeNotes:
        note = gr.Textbox(
            label="Note for the director (sent with Submit)", lines=2, elem_id="submit-note"
        )
        marks_md = gr.Markdown(elem_id="retake-list")
        marks_img = gr.Image(
            label="Retake marks on the plate",
            type="pil",
            format="png",
            interactive=False,
            visible=True,
            elem_id="retake-overlay",
            height=220,
        )
        marks_json = gr.Textbox(visible="hidden", elem_id="retake-marks-json")
        return cls(note, marks_md, marks_img, marks_json)

    @property
    def outputs(self) -> list[Any]:
        return [self.marks_md, self.marks_img, self.marks_json]

    def views(self, studio: Studio, view: ShotView) -> dict[Any, Any]:
        marks = workflow.open_retakes(studio.project, view.code)
        regions = [r for m in marks for r in m.regions]
        plate = _plate_image(studio, view.code) if regions else None
        return {
            self.marks_md: marks_markdown(marks),
            self.marks_img: marks_overlay(plate, regions) if plate is not None else None,
            self.marks_json: marks_for_canvas(regions),
        }

    def wire(self, shot: gr.Dropdown) -> None:
        self.marks_json.change(None, [self.marks_json, shot], None, js=SHOW_MARKS_JS)


@dataclass
class ReviewDesk:
    """In the Review tab: the queue, and the retake-mark editor with its pending regions."""

    queue_md: gr.Markdown
    prev_btn: gr.Button
    next_btn: gr.Button
    editor: gr.ImageEditor
    region_comment: gr.Textbox
    region_shape: gr.Radio
    add_btn: gr.Button
    pending: gr.State
    pending_md: gr.Markdown
    retake_comment: gr.Textbox
    send_btn: gr.Button

    @classmethod
    def build(cls) -> ReviewDesk:
        with gr.Row(equal_height=True):
            queue_md = gr.Markdown(elem_id="review-queue")
            prev_btn = gr.Button("◀ Previous", size="sm", scale=0, elem_id="queue-prev")
            next_btn = gr.Button("Next ▶", size="sm", scale=0, elem_id="queue-next")
        with gr.Accordion("Retake marks: draw on the plate, a comment per region", open=False):
            editor = gr.ImageEditor(
                label="Draw around one area, write its comment, add it; repeat",
                type="pil",
                image_mode="RGBA",
                format="png",
                sources=(),
                transforms=(),
                layers=False,
                interactive=True,
                elem_id="mark-editor",
                brush=gr.Brush(colors=[MARK_COLOUR], color_mode="fixed", default_size=4),
            )
            with gr.Row(equal_height=True):
                region_comment = gr.Textbox(
                    label="What to change in this region", elem_id="mark-comment"
                )
                region_shape = gr.Radio(
                    [("box around it", "box"), ("its outline", "outline")],
                    value="box",
                    label="Region",
                    scale=0,
                    min_width=180,
                    elem_id="mark-shape",
                )
                add_btn = gr.Button("Add region", scale=0, elem_id="mark-add")
            pending = gr.State([])
            pending_md = gr.Markdown(elem_id="mark-pending")
            with gr.Row(equal_height=True):
                retake_comment = gr.Textbox(
                    label="Overall comment (optional)", elem_id="retake-comment"
                )
                send_btn = gr.Button("Send retake", variant="stop", scale=0, elem_id="retake-send")
        return cls(
            queue_md,
            prev_btn,
            next_btn,
            editor,
            region_comment,
            region_shape,
            add_btn,
            pending,
            pending_md,
            retake_comment,
            send_btn,
        )

    @property
    def outputs(self) -> list[Any]:
        return [self.queue_md, self.editor, self.pending, self.pending_md]

    def views(self, studio: Studio, view: ShotView) -> dict[Any, Any]:
        plate = studio.plate_file(view.code) if view.version else None
        queue = queue_text(workflow.review_queue(studio.project), view.code)
        if view.code and view.version:
            queue += drift_text(studio, view.code)
        return {
            self.queue_md: queue,
            self.editor: {"background": plate, "layers": [], "composite": None}
            if plate is not None
            else None,
            self.pending: [],
            self.pending_md: "",
        }

    def wire(
        self,
        studio: Studio,
        *,
        demo: gr.Blocks,
        shot: gr.Dropdown,
        status: Any,
        guard: Callable[[Callable[..., Any]], Callable[..., Any]],
        after_act: Callable[..., dict[Any, Any]],
        heat: Any,
        status_filter: Any,
        act_outputs: list[Any],
        seen: Any,
        message: Callable[[str], str],
    ) -> None:
        """``after_act(code, heat_on, filter_value, message)``: the page's updates after an
        act (``act_outputs``, which include :attr:`outputs`); ``seen``: the version shown."""
        common: dict[str, Any] = {"api_visibility": "undocumented"}
        demo.load(None, None, None, js=REVIEW_KEYS_JS)

        def stepper(step: int) -> Callable[..., Any]:
            @guard
            def run(code: str | None, heat_on: bool, filter_value: str) -> dict[Any, Any]:
                queue = workflow.review_queue(studio.project)
                target = queue_step(queue, code, step)
                if target is None:
                    return {
                        status: message("the review queue is empty"),
                        self.queue_md: queue_text([], code),
                    }
                # the shot's latest version, even when it is the shot already shown
                out = after_act(target, heat_on, filter_value, f"opened {target}")
                out[shot] = target
                return out

            run.__name__ = "on_queue_next" if step > 0 else "on_queue_prev"
            return run

        for button, step in ((self.next_btn, 1), (self.prev_btn, -1)):
            button.click(stepper(step), [shot, heat, status_filter], [*act_outputs, shot], **common)

        @guard
        def on_add(
            value: dict[str, Any] | None,
            comment: str,
            shape: str,
            pending: list[dict[str, Any]],
            code: str | None,
        ) -> dict[Any, Any]:
            if len(pending) >= MAX_REGIONS:
                raise InputError(f"retake: at most {MAX_REGIONS} regions; send these first")
            region = stroke_region(value, comment, shape or "box")
            regions = [*pending, region]
            plate = studio.plate_file(code) if code else None
            return {
                self.pending: regions,
                self.pending_md: regions_markdown(regions, "Regions to send"),
                self.region_comment: "",
                self.editor: {"background": plate, "layers": [], "composite": None},
                status: message(f"region {len(regions)} added; add another or send the retake"),
            }

        self.add_btn.click(
            on_add,
            [self.editor, self.region_comment, self.region_shape, self.pending, shot],
            [self.pending, self.pending_md, self.region_comment, self.editor, status],
            **common,
        )

        @guard
        def on_send(
            code: str | None,
            regions: list[dict[str, Any]],
            comment: str,
            heat_on: bool,
            filter_value: str,
            version: int | None,
            request: gr.Request,
        ) -> dict[Any, Any]:
            rec = send_retake(studio, request, code, regions, comment, version)
            assert code is not None
            said = "was already rejected: marks added" if rec.duplicate else "rejected"
            text = f"retake sent: {len(regions)} region(s) marked; v{rec.version} {said}"
            out = after_act(code, heat_on, filter_value, text)
            out[self.retake_comment] = ""
            return out

        self.send_btn.click(
            on_send,
            [shot, self.pending, self.retake_comment, heat, status_filter, seen],
            [*act_outputs, self.retake_comment],
            **common,
        )
