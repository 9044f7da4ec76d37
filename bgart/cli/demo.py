"""`bgart demo`: the example episode rendered end to end, with or without real weights.

With the pinned weights installed (or downloadable) it renders examples/shots_hd.csv at
production size. Otherwise it says plainly that it falls back to the tiny random-weight test
model (noise, not art) and renders the small examples/shots.csv, so the whole path —
layout clean-up, presets, engine, batch, ledger, contact sheet — still runs on any machine.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from bgart.errors import WeightsError
from bgart.generation import (
    TINY_NOTE,
    WeightsLock,
    build_tiny_models,
    ensure_ready,
    pull,
    pull_if_missing,
)
from bgart.settings import PACKAGE_ROOT, Settings, load_settings

EXAMPLES = PACKAGE_ROOT / "examples"
Say = Callable[[str], None]


def _real_weights(settings: Settings, name: str, say: Say) -> str | None:
    """None when model ``name`` is ready (pulled now if it never was), else why not."""
    lock = WeightsLock.load(settings.weights_lock)
    try:
        pull_if_missing(lock, settings.model_store, name, say)
        for needed in lock.with_controlnet(name):
            ensure_ready(lock, settings.model_store, needed)
        return None
    except WeightsError as exc:
        return str(exc)


def use_tiny_model(settings: Settings, say: Say) -> dict[str, str]:
    """Build (once) and pull the tiny SD1.5 test model; the env that points bgart at it."""
    root = Path(settings.model_store) / "_tiny-test-model"
    lock = build_tiny_models(root, "sd15")
    store = root / "store"
    pull(WeightsLock.load(lock), store, "tiny-sd15", say=lambda _m: None)
    return {
        "BGART_WEIGHTS_LOCK": str(lock),
        "BGART_MODEL_STORE": str(store),
        "BGART_MODEL": "tiny-sd15",
    }


def run_demo(out: Path, model: str | None = None, say: Say = print) -> int:
    """Render the example shot list into project ``out``; returns the batch's exit code."""
    from bgart.cli.batch import RichReporter
    from bgart.runs.batch import BatchOptions, run_batch

    settings = load_settings()
    name = model or settings.model
    why_not = _real_weights(settings, name, say)
    shot_list = EXAMPLES / "shots_hd.csv"
    chosen = name
    if why_not:
        say(f"NOTE: real weights for '{name}' are not available: {why_not}")
        say(f"NOTE: using the tiny random-weight TEST model instead — {TINY_NOTE}.")
        os.environ.update(use_tiny_model(settings, say))
        shot_list = EXAMPLES / "shots.csv"
        chosen = "tiny-sd15"
    summary = run_batch(
        BatchOptions(shot_list=shot_list, project=out, model=chosen), RichReporter()
    )
    say(f"demo project: {summary.project}")
    if summary.contact_html:
        say(f"contact sheet: {summary.contact_html}")
    if why_not:
        say(
            "These images come from the tiny TEST model: noise, not art. "
            f"Pull real weights with `bgart weights pull {name}` for real plates."
        )
    return summary.exit_code
