"""The artists' room: page layout and event wiring (no business logic).

Every callback here reads component values, calls one :class:`bgart.ui.handlers.Studio` method with
the event's ``gr.Request`` (whose ``username`` the ledger credits) and turns the result into
component updates. A problem never kills the page: :func:`_guarded` shows it in the status
line and as a toast, and leaves the other components as they were.
"""

import functools
import logging
from collections.abc import Callable
from typing import Any

import gradio as gr

from bgart.errors import BgartError, StaleVersionError

from .canvas import Canvas, CanvasLayer, payload_js, project_key, read_payload
from .compare import CompareTab
from .files import ExternalEditors
from .handlers import (
    STATUS_CHOICES,
    ShotView,
    Studio,
    describe_figures,
)
from .recipe import candidate_gallery
from .regions import RegionsPanel
from .review import RetakeNotes, ReviewDesk
from .variants import variant_controls

log = logging.getLogger("bgart.ui")

CACHE_CLEANUP = (3600, 24 * 3600)  # hourly, drop the page's image copies older than a day


CSS = """
#status-line p { margin: 0; }
#shot-gallery .caption-label { font-size: 0.8em; }
"""


def _message(text: str, ok: bool = True) -> str:
    return f"✓ {text}" if ok else f"⚠ {text}"


def _guarded(status: gr.components.Component) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Turn a callback's errors into a message in ``status`` (and a toast) instead of a
    failed event; user errors (BgartError) show as they are, bugs as one line + log."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except BgartError as exc:
                text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                gr.Warning(text)
                return {status: _message(text, ok=False)}
            except Exception as exc:  # a bug: say so, keep the page alive
                log.exception("UI callback %s failed", fn.__name__)
                text = f"internal error: {type(exc).__name__}: {exc}"
                gr.Warning(text)
                return {status: _message(text, ok=False)}

        return run

    return wrap


def build_app(studio: Studio) -> gr.Blocks:
    """The Blocks app for one project."""
    canvas_key = project_key(studio.project.root)  # names the browser's drafts
    max_layer_bytes = studio.settings.max_upload_mb * 1024 * 1024
    with gr.Blocks(
        title=f"bgart · {studio.production}", analytics_enabled=False, delete_cache=CACHE_CLEANUP
    ) as demo:
        # ---- header and the current shot ---------------------------------------------------
        with gr.Row(equal_height=True):
            gr.Markdown(f"## bgart · {studio.production}")
            who = gr.Markdown(elem_id="whoami")
            gr.Button("Log out", link="/logout", size="sm", scale=0, elem_id="logout")
        with gr.Row(equal_height=True):
            shot = gr.Dropdown(
                label="Shot",
                choices=[],
                value=None,
                interactive=True,
                filterable=True,
                elem_id="shot-picker",
                scale=1,
            )
            shot_state = gr.Markdown(elem_id="shot-status")
        status = gr.Markdown(elem_id="status-line")

        gallery_codes = gr.State([])  # shot codes in the shots gallery, in order
        cand_numbers = gr.State([])  # candidate numbers shown in the variations gallery
        cand_pick = gr.State(None)  # index picked in the variations gallery
        shown_version = gr.State(None)  # the plate version the page shows: what a review decides

        with gr.Tabs():
            # ---- shots ---------------------------------------------------------------------
            with gr.Tab("Shots", id="shots", elem_id="tab-shots"):
                with gr.Row():
                    status_filter = gr.Dropdown(
                        list(STATUS_CHOICES),
                        value=STATUS_CHOICES[0],
                        label="Show",
                        elem_id="status-filter",
                        scale=0,
                        min_width=200,
                    )
                    refresh = gr.Button("Refresh", scale=0, size="sm", elem_id="refresh-shots")
                shot_gallery = gr.Gallery(
                    label="Shots (click one to open it)",
                    columns=6,
                    fit_columns=False,
                    allow_preview=False,
                    object_fit="contain",
                    height="auto",
                    format="png",
                    elem_id="shot-gallery",
                )
                with gr.Row():
                    layout_img = gr.Image(
                        label="Layout",
                        type="pil",
                        format="png",
                        interactive=False,
                        elem_id="layout-view",
                    )
                    plate_img = gr.Image(
                        label="Current plate",
                        type="pil",
                        format="png",
                        interactive=False,
                        elem_id="plate-view",
                    )
                with gr.Accordion("New shot from a layout scan", open=False), gr.Row():
                    new_code = gr.Textbox(
                        label="Shot id", placeholder="EP01_C010", elem_id="new-shot-id"
                    )
                    new_layout = gr.File(
                        label="Layout (PNG/JPEG)",
                        type="filepath",
                        file_types=["image"],
                        elem_id="new-shot-layout",
                    )
                    new_btn = gr.Button("Add shot", elem_id="new-shot-btn", scale=0)

            # ---- generate ------------------------------------------------------------------
            with gr.Tab("Generate", id="generate", elem_id="tab-generate"):
                with gr.Row():
                    preset = gr.Dropdown(label="Style preset", choices=[], elem_id="preset")
                    seed = gr.Number(label="Seed", value=0, precision=0, minimum=0, elem_id="seed")
                    variations = gr.Slider(
                        1, 8, value=4, step=1, label="Variations", elem_id="variations"
                    )
                    delivery = gr.Textbox(
                        label="Delivery size (1920x1080, 1080, none; blank: the shot's)",
                        value="",
                        elem_id="delivery",
                    )
                prompt = gr.Textbox(
                    label="Prompt (what this cut's background shows)", lines=2, elem_id="prompt"
                )
                regions = RegionsPanel.build()  # regions painted over the layout (ui/regions.py)
                gen_btn = gr.Button("Generate", variant="primary", elem_id="generate-btn")
                cand_gallery = gr.Gallery(
                    label="Variations (click one, then use it)",
                    columns=4,
                    fit_columns=False,
                    allow_preview=False,
                    object_fit="contain",
                    height="auto",
                    format="png",
                    elem_id="candidates",
                )
                use_btn = gr.Button("Use the selected variation", elem_id="use-variation")

            # ---- retouch -------------------------------------------------------------------
            with gr.Tab("Retouch", id="retouch", elem_id="tab-retouch"), gr.Row():
                # the painting surface (ui/canvas): plate, paint layer and the AI-fix mask
                # on one canvas that fills the window; the acts in a narrow column beside it
                with gr.Column(scale=5, min_width=480):
                    canvas = Canvas.build()
                with gr.Column(scale=1, min_width=240, elem_id="retouch-side"):
                    save_btn = gr.Button("Save paint", variant="primary", elem_id="save-paint")
                    submit_btn = gr.Button("Submit for review", elem_id="submit-plate")
                    gr.Markdown(
                        "**AI fix**: paint the mask layer (M) over the area, say what goes "
                        "there; your unsaved paint stays on the canvas.",
                        elem_id="fix-hint",
                    )
                    fix_prompt = gr.Textbox(
                        label="What the AI should paint there", elem_id="fix-prompt"
                    )
                    with gr.Row(equal_height=True):
                        fix_seed = gr.Number(
                            label="Seed", value=0, precision=0, minimum=0, elem_id="fix-seed"
                        )
                        fix_btn = gr.Button("AI fix", elem_id="fix-btn")
                    with gr.Accordion("History: go back to a version", open=False):
                        versions = gr.Dropdown(label="Version", choices=[], elem_id="versions")
                        undo_btn = gr.Button("Go back to it", elem_id="undo-btn")
                    notes = RetakeNotes.build()  # submit note, the director's retake marks
                    outside = ExternalEditors.build()  # PSD/PNG out, final or PSD back

            # ---- review --------------------------------------------------------------------
            with gr.Tab("Review", id="review", elem_id="tab-review"):
                desk = ReviewDesk.build()  # the queue, retake marks (ui/review.py)
                heat = gr.Checkbox(
                    label="Provenance heat map (green human · blue AI · orange "
                    "inpaint · grey human base)",
                    value=False,
                    elem_id="heat-toggle",
                )
                review_img = gr.Image(
                    label="Plate",
                    type="pil",
                    format="png",
                    interactive=False,
                    elem_id="review-image",
                )
                figures = gr.Markdown(elem_id="figures")
                comment = gr.Textbox(label="Comment", elem_id="review-comment")
                with gr.Row():
                    accept_btn = gr.Button("Accept", variant="primary", elem_id="accept-btn")
                    reject_btn = gr.Button("Reject", variant="stop", elem_id="reject-btn")
                reviewer_note = gr.Markdown(elem_id="reviewer-note")
                variant_controls(studio, shot, status)  # time-of-day variants (ui/variants.py)

            # ---- compare (ui/compare.py) ---------------------------------------------------
            with gr.Tab("Compare", id="compare", elem_id="tab-compare") as compare_tab:
                compare = CompareTab.build()

        # ---- how results become updates --------------------------------------------------
        def gallery(filter_value: str) -> dict[Any, Any]:
            cards = studio.shots(filter_value or STATUS_CHOICES[0])
            return {
                shot_gallery: [(c.thumb, f"{c.code} · {c.status}") for c in cards],
                gallery_codes: [c.code for c in cards],
            }

        def canvas_show(view: ShotView, clear: tuple[str, ...] = ()) -> dict[Any, Any]:
            """The shot's current plate onto the canvas, which keeps every unsaved stroke
            but those of the layers in ``clear`` (just recorded)."""
            size = (view.width, view.height)
            return canvas.update(canvas_key, view.code, view.version, size, view.plate, clear)

        def canvas_layer(payload: str, what: str, view: ShotView) -> CanvasLayer:
            return read_payload(payload, what, max_layer_bytes, expected=view.code)

        def plate_views(view: ShotView, heat_on: bool) -> dict[Any, Any]:
            return {
                shot_state: f"**{view.code}** · {view.status}"
                + (f" · v{view.version} · {view.width}×{view.height}" if view.version else ""),
                layout_img: view.layout,
                plate_img: view.plate,
                versions: gr.Dropdown(
                    choices=[(v.label, v.number) for v in view.versions],
                    value=view.versions[-1].number if view.versions else None,
                ),
                review_img: studio.review_image(view.code, heat_on) if view.plate else None,
                figures: describe_figures(view.figures),
                shown_version: view.version,
                **notes.views(studio, view),
                **desk.views(studio, view),
            }

        def after_act(
            code: str, heat_on: bool, filter_value: str, message: str, clear: tuple[str, ...] = ()
        ) -> dict[Any, Any]:
            view = studio.open_shot(code)
            out = {status: _message(message), **plate_views(view, heat_on), **gallery(filter_value)}
            out.update(canvas_show(view, clear))  # a shot's first plate reaches the canvas too
            return out

        def stale(
            code: str | None, heat_on: bool, filter_value: str, exc: StaleVersionError
        ) -> dict[Any, Any]:
            """A decision refused because a newer version was saved since the page showed
            this one: say so and show the newer version (the comment is kept)."""
            assert code is not None
            gr.Warning(str(exc))
            out = after_act(code, heat_on, filter_value, "")
            out[status] = _message(str(exc), ok=False)
            return out

        # ---- callbacks -------------------------------------------------------------------
        @_guarded(status)
        def on_load(filter_value: str, request: gr.Request) -> dict[Any, Any]:
            user, role = studio.whoami(request)
            reviewer = studio.may_review(request)
            names = studio.presets()
            codes = studio.shot_codes()
            hint = (
                ""
                if codes
                else "No shots yet: add one under “New shot”, or start the UI "
                "with `bgart ui --shots shots.csv`."
            )
            return {
                who: f"Logged in as **{user}** ({role})",
                shot: gr.Dropdown(choices=codes, value=None),
                preset: gr.Dropdown(
                    choices=names,
                    value=studio.settings.default_preset
                    if studio.settings.default_preset in names
                    else None,
                ),
                accept_btn: gr.Button(interactive=reviewer),
                reject_btn: gr.Button(interactive=reviewer),
                reviewer_note: "" if reviewer else "Only directors and admins accept or reject.",
                status: hint,
                **gallery(filter_value),
            }

        @_guarded(status)
        def on_filter(filter_value: str) -> dict[Any, Any]:
            return gallery(filter_value)

        @_guarded(status)
        def on_refresh(filter_value: str) -> dict[Any, Any]:
            return {shot: gr.Dropdown(choices=studio.shot_codes()), **gallery(filter_value)}

        def on_pick_shot(codes: list[str], evt: gr.SelectData) -> Any:
            if evt.index is None or not 0 <= int(evt.index) < len(codes):
                return gr.skip()
            return codes[int(evt.index)]

        @_guarded(status)
        def on_open(code: str | None, heat_on: bool) -> dict[Any, Any]:
            if not code:
                return {status: gr.skip()}
            view = studio.open_shot(code)
            recorded = candidate_gallery(studio.project, view.code)
            return {
                status: _message(f"opened {view.code}"),
                prompt: view.prompt,
                preset: view.preset,
                seed: view.seed,
                variations: view.variations,
                cand_gallery: recorded[0],  # every recorded variation (the batch's too)
                cand_numbers: recorded[1],
                cand_pick: None,
                **plate_views(view, heat_on),
                **canvas_show(view),
            }

        @_guarded(status)
        def on_new_shot(
            code: str, layout_path: str | None, filter_value: str, request: gr.Request
        ) -> dict[Any, Any]:
            added = studio.new_shot(request, code, layout_path)
            return {
                status: _message(f"added shot {added}"),
                shot: gr.Dropdown(choices=studio.shot_codes(), value=added),
                new_code: "",
                new_layout: None,
                **gallery(filter_value),
            }

        @_guarded(status)
        def on_generate(
            code: str | None,
            preset_name: str | None,
            text: str,
            seed_value: float,
            n: float,
            delivery_text: str,
            heat_on: bool,
            filter_value: str,
            request: gr.Request,
            progress: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio injects progress through this default)
        ) -> dict[Any, Any]:
            def step(done: int, total: int) -> None:
                progress((done, total), desc="denoising", unit="steps")

            cands = studio.generate(
                request,
                code,
                preset_name,
                text,
                seed_value,
                n,
                progress=step,
                delivery=delivery_text,
            )
            assert code is not None
            numbers = ", ".join(f"#{c.number}" for c in cands)
            out = after_act(
                code,
                heat_on,
                filter_value,
                f"generated {len(cands)} variation(s): candidates {numbers}; click one and use it",
            )  # the canvas keeps its strokes (and gets the shot's first plate)
            out.update(
                {
                    cand_gallery: [(c.image, f"#{c.number} · seed {c.seed}") for c in cands],
                    cand_numbers: [c.number for c in cands],
                    cand_pick: None,
                }
            )
            return out

        def on_pick_candidate(evt: gr.SelectData) -> Any:
            return evt.index

        @_guarded(status)
        def on_use(
            code: str | None,
            numbers: list[int],
            pick: int | None,
            heat_on: bool,
            filter_value: str,
            request: gr.Request,
        ) -> dict[Any, Any]:
            chosen = numbers[pick] if pick is not None and 0 <= pick < len(numbers) else None
            rec = studio.choose(request, code, chosen)
            assert code is not None
            return after_act(
                code,
                heat_on,
                filter_value,
                f"candidate #{chosen} is now the plate (v{rec.version}); "
                "retouch it in the Retouch tab",
            )

        def canvas_behind(
            view: ShotView, layer: CanvasLayer, heat_on: bool, filter_value: str
        ) -> dict[Any, Any] | None:
            """Strokes made over an older version than the shot's current one are not put
            on the newer plate unseen: the canvas gets that plate under the strokes (kept),
            and the artist looks before acting again."""
            if layer.version == view.version:
                return None
            text = (
                f"your canvas shows v{layer.version} of {view.code}, but v{view.version} was "
                "saved since: it is under your strokes now; look, then try again"
            )
            gr.Warning(text)
            out = after_act(view.code, heat_on, filter_value, "")
            out[status] = _message(text, ok=False)
            return out

        @_guarded(status)
        def on_save(
            code: str | None,
            payload: str,
            heat_on: bool,
            filter_value: str,
            request: gr.Request,
        ) -> dict[Any, Any]:
            view = studio.open_shot(code)
            layer = canvas_layer(payload, "paint", view)
            behind = canvas_behind(view, layer, heat_on, filter_value)
            if behind is not None:
                return behind
            rec = studio.save_paint(
                request, view.code, layer.editor_value(), layer.edit_times(studio.clock())
            )
            stats = rec.stats
            return after_act(
                view.code,
                heat_on,
                filter_value,
                f"paint saved as v{rec.version}: {stats.get('credited_px', 0)} "
                f"pixels credited to you",
                clear=("paint",),
            )

        @_guarded(status)
        def on_fix(
            code: str | None,
            payload: str,
            text: str,
            seed_value: float,
            preset_name: str | None,
            heat_on: bool,
            filter_value: str,
            request: gr.Request,
            progress: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio injects progress through this default)
        ) -> dict[Any, Any]:
            def step(done: int, total: int) -> None:
                progress((done, total), desc="inpainting", unit="steps")

            view = studio.open_shot(code)
            layer = canvas_layer(payload, "mask", view)
            behind = canvas_behind(view, layer, heat_on, filter_value)
            if behind is not None:
                return behind
            rec = studio.ai_fix(
                request,
                view.code,
                layer.editor_value(),
                text,
                seed_value,
                preset_name,
                layer.edit_times(studio.clock()),
                progress=step,
            )
            return after_act(
                view.code,
                heat_on,
                filter_value,
                f"AI fix saved as v{rec.version}: {rec.stats.get('visible_px', 0)} "
                "pixels repainted inside your mask (unsaved paint stays on the canvas)",
                clear=("mask",),
            )

        @_guarded(status)
        def on_undo(
            code: str | None,
            version: int | None,
            heat_on: bool,
            filter_value: str,
            request: gr.Request,
        ) -> dict[Any, Any]:
            rec = studio.undo(request, code, version)
            assert code is not None
            return after_act(
                code,
                heat_on,
                filter_value,
                f"back to v{version} (as v{rec.version}; the history is kept)",
            )

        @_guarded(status)
        def on_submit(
            code: str | None,
            heat_on: bool,
            filter_value: str,
            seen: int | None,
            note: str,
            request: gr.Request,
        ) -> dict[Any, Any]:
            try:
                rec = studio.submit(request, code, note, version=seen)
            except StaleVersionError as exc:
                return stale(code, heat_on, filter_value, exc)
            assert code is not None
            said = (
                f"v{rec.version} was already submitted: nothing recorded"
                if rec.duplicate
                else f"v{rec.version} submitted for review"
            )
            out = after_act(code, heat_on, filter_value, said)
            out[notes.note] = ""  # the note went with it
            return out

        def on_review(decision: str) -> Callable[..., Any]:
            @_guarded(status)
            def run(
                code: str | None,
                text: str,
                heat_on: bool,
                filter_value: str,
                seen: int | None,
                request: gr.Request,
            ) -> dict[Any, Any]:
                try:
                    rec = studio.review(request, code, decision, text, version=seen)
                except StaleVersionError as exc:
                    return stale(code, heat_on, filter_value, exc)
                assert code is not None
                said = f"{code} {decision}ed"
                if rec.duplicate:  # a second click: the library recorded nothing
                    said = f"{code} was already {decision}ed in v{rec.version}: nothing recorded"
                out = after_act(code, heat_on, filter_value, said)
                out[comment] = ""
                return out

            run.__name__ = f"on_{decision}"
            return run

        @_guarded(status)
        def on_heat(code: str | None, heat_on: bool) -> dict[Any, Any]:
            if not code:
                return {status: gr.skip()}
            # every view, not the review image alone: the page must not show a newer plate
            # than the version a review would be recorded against
            return plate_views(studio.open_shot(code), heat_on)

        # ---- wiring ----------------------------------------------------------------------
        views = [shot_state, layout_img, plate_img, versions, review_img, figures, shown_version]
        views += [*notes.outputs, *desk.outputs]
        editors = [canvas.view, canvas.plate]
        listing = [shot_gallery, gallery_codes]
        act_outputs = [status, *views, *editors, *listing]
        common: dict[str, Any] = {"api_visibility": "undocumented"}
        quick: dict[str, Any] = {**common, "show_progress": "minimal"}
        gpu: dict[str, Any] = {**common, "concurrency_id": "gpu", "concurrency_limit": 1}

        demo.load(
            on_load,
            [status_filter],
            [who, shot, preset, accept_btn, reject_btn, reviewer_note, status, *listing],
            **common,
        )
        status_filter.change(on_filter, [status_filter], [status, *listing], **common)
        refresh.click(on_refresh, [status_filter], [status, shot, *listing], **common)
        shot_gallery.select(on_pick_shot, [gallery_codes], [shot], **common)
        shot.change(
            on_open,
            [shot, heat],
            [
                status,
                prompt,
                preset,
                seed,
                variations,
                cand_gallery,
                cand_numbers,
                cand_pick,
                *views,
                *editors,
            ],
            **common,
        )
        new_btn.click(
            on_new_shot,
            [new_code, new_layout, status_filter],
            [status, shot, new_code, new_layout, *listing],
            **common,
        )
        gen_btn.click(
            on_generate,
            [shot, preset, prompt, seed, variations, delivery, heat, status_filter],
            [*act_outputs, cand_gallery, cand_numbers, cand_pick],
            show_progress_on=[cand_gallery],
            **gpu,
        )
        cand_gallery.select(on_pick_candidate, None, [cand_pick], **common)
        use_btn.click(
            on_use, [shot, cand_numbers, cand_pick, heat, status_filter], act_outputs, **quick
        )
        canvas.wire(demo)
        save_btn.click(
            on_save,
            [shot, canvas.payload, heat, status_filter],
            act_outputs,
            js=payload_js(1, "paint"),
            **quick,
        )
        fix_btn.click(
            on_fix,
            [shot, canvas.payload, fix_prompt, fix_seed, preset, heat, status_filter],
            act_outputs,
            js=payload_js(1, "mask"),
            show_progress_on=[canvas.host],
            **gpu,
        )
        undo_btn.click(on_undo, [shot, versions, heat, status_filter], act_outputs, **quick)
        submit_btn.click(
            on_submit,
            [shot, heat, status_filter, shown_version, notes.note],
            [*act_outputs, notes.note],
            **quick,
        )
        accept_btn.click(
            on_review("accept"),
            [shot, comment, heat, status_filter, shown_version],
            [*act_outputs, comment],
            **quick,
        )
        reject_btn.click(
            on_review("reject"),
            [shot, comment, heat, status_filter, shown_version],
            [*act_outputs, comment],
            **quick,
        )
        heat.change(on_heat, [shot, heat], [status, *views], **common)
        notes.wire(shot)
        desk.wire(
            studio,
            demo=demo,
            shot=shot,
            status=status,
            guard=_guarded(status),
            after_act=after_act,
            heat=heat,
            status_filter=status_filter,
            act_outputs=act_outputs,
            seen=shown_version,
            message=_message,
        )
        compare.wire(studio, tab=compare_tab, shot=shot, status=status, guard=_guarded(status))
        regions.wire(
            studio, demo=demo, shot=shot, status=status, guard=_guarded(status), message=_message
        )
        outside.wire(
            studio,
            shot=shot,
            status=status,
            guard=_guarded(status),
            after_act=after_act,
            heat=heat,
            status_filter=status_filter,
            act_outputs=act_outputs,
            message=_message,
        )
    return demo
