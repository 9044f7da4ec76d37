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


TEST_MODEL_ENV = "BGART_TEST_MODEL"
"""Set to 1: every command that runs a model uses the tiny random-weight test model (noise,
not art), so the README's walk-through runs offline. The one documented switch."""
MODEL_COMMANDS = frozenset(
    {"batch", "generate", "regenerate", "ui", "demo", "variant", "refine", "lora"}
)
DEMO_USERS = (("demo-director", "director"), ("demo-artist", "artist"))


def test_model_requested() -> bool:
    return os.environ.get(TEST_MODEL_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def apply_test_model_switch(command: str | None, say: Say) -> bool:
    """With :data:`TEST_MODEL_ENV` set and a command that runs a model, point bgart at the
    tiny test model (built once) and say plainly that its images are noise."""
    if command not in MODEL_COMMANDS or not test_model_requested():
        return False
    os.environ.update(use_tiny_model(load_settings(), say))
    say(f"NOTE: {TEST_MODEL_ENV}=1: using the tiny random-weight TEST model — {TINY_NOTE}.")
    return True


def _pin_tiny_model(project: Path) -> None:
    """Make the demo project's own settings name the tiny model, so `bgart ui --project
    bgart-demo` generates and fixes with it offline, without the switch."""
    import tomllib

    import tomli_w

    from bgart.fsutil import atomic_write_bytes
    from bgart.settings import PROJECT_FILE

    path = project / PROJECT_FILE
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    for key, env in (
        ("model", "BGART_MODEL"),
        ("model_store", "BGART_MODEL_STORE"),
        ("weights_lock", "BGART_WEIGHTS_LOCK"),
    ):
        data[key] = str(Path(os.environ[env]).resolve()) if key != "model" else os.environ[env]
    atomic_write_bytes(path, tomli_w.dumps(data).encode("utf-8"))


def add_demo_users(project: Path, say: Say) -> dict[str, str]:
    """A demo director and artist with one-time passwords, printed once (never stored in
    clear); users already there keep theirs. Returns the new passwords by name."""
    import secrets

    from bgart.ledger import Project

    made: dict[str, str] = {}
    with Project.open(project) as proj:
        for name, role in DEMO_USERS:
            if proj.ledger.user(name) is not None:
                continue
            made[name] = secrets.token_urlsafe(9)
            proj.ledger.add_user(name, role, made[name])
    if made:
        say("UI logins (shown this once, note them now):")
        for name, role in DEMO_USERS:
            if name in made:
                say(f"  {name:14} ({role:8}) password: {made[name]}")
    else:
        say("UI logins: demo-director and demo-artist already exist (their passwords stand)")
    return made


def run_demo(out: Path, model: str | None = None, say: Say = print) -> int:
    """Render the example shot list into project ``out``, add the demo director and artist;
    returns the batch's exit code."""
    from bgart.cli.batch import RichReporter
    from bgart.runs.batch import BatchOptions, run_batch

    settings = load_settings()
    name = model or settings.model
    forced = test_model_requested()
    why_not = f"{TEST_MODEL_ENV} is set" if forced else _real_weights(settings, name, say)
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
        _pin_tiny_model(Path(summary.project))
        say(
            "These images come from the tiny TEST model: noise, not art. "
            f"Pull real weights with `bgart weights pull {name}` for real plates."
        )
    add_demo_users(Path(summary.project), say)
    say(f"open it in the browser: bgart ui --project {out}")
    return summary.exit_code
