"""The artists' room: time-of-day variants (the *Variant* row of the Review tab).

Picks a time of day and makes the variant of the open shot's accepted plate, exactly as
``bgart variant`` does (:mod:`bgart.runs.variant`), as the logged-in user; the new plate
(``night``…) appears beside ``main`` in the ledger and the credits. :func:`make_variant` is
the act, :func:`variant_controls` the controls, wired by one call in ``ui/app.py``.
"""

from __future__ import annotations

import logging
from typing import Any

import gradio as gr

from bgart.errors import BgartError
from bgart.generation import Engine, Progress
from bgart.plates import TIMES, Recorded

from .handlers import Studio

log = logging.getLogger(__name__)


def make_variant(
    studio: Studio, request: Any, shot: str | None, time: str, *, progress: Progress | None = None
) -> Recorded:
    """The variant of ``shot``'s accepted main plate at ``time``, asked for by the user
    logged in; every input is checked before the model is touched."""
    from bgart.runs import EngineState
    from bgart.runs.variant import VariantJob, run_variant, variant_render

    user, _ = studio.whoami(request)
    code = studio._require_shot(shot)
    job = VariantJob(shot=code, time=time or "", requested_by=user)
    variant_render(studio.project, job, studio.settings)
    memory = studio._memory = studio._memory or EngineState()  # low-memory mode sticks

    def run(engine: Engine) -> Recorded:
        return run_variant(studio.project, job, engine, progress=progress, state=memory)

    return studio._with_engine(run)


def variant_controls(studio: Studio, shot: gr.components.Component, status: Any) -> None:
    """A time-of-day choice and a *Variant* button for the open shot; the outcome (or what
    is wrong, on one line) goes to ``status``."""
    with gr.Row(equal_height=True):
        time = gr.Dropdown(
            choices=list(TIMES), value="night", label="Time of day", elem_id="variant-time"
        )
        button = gr.Button("Make time-of-day variant", elem_id="variant-btn")

    def on_variant(
        code: str | None,
        chosen: str,
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio injects progress this way)
    ) -> dict[Any, Any]:
        def step(done: int, total: int) -> None:
            progress((done, total), desc="denoising", unit="steps")

        try:
            made = make_variant(studio, request, code, chosen, progress=step)
        except BgartError as exc:
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            gr.Warning(text)
            return {status: f"⚠ {text}"}
        except Exception as exc:  # a bug: say so, keep the page alive
            log.exception("variant failed")
            return {status: f"⚠ internal error: {type(exc).__name__}: {exc}"}
        again = " (already made)" if made.duplicate else ""
        return {status: f"✓ {code}: {chosen} variant recorded as plate '{chosen}'{again}"}

    button.click(
        on_variant,
        [shot, time],
        [status],
        api_visibility="undocumented",
        concurrency_id="gpu",  # one model call at a time, with generate and AI fix
        concurrency_limit=1,
    )
