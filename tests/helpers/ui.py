"""Helpers for the UI tests: a small project with users, a shot and fast presets (the
fixtures built on them are in tests/ui/conftest.py)."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageDraw

PASSWORDS = {"alice": "alice-secret-1", "dora": "dora-secret-1", "adam": "adam-secret-1"}
ROLES = {"alice": "artist", "dora": "director", "adam": "admin"}
SHOT = "EP01_C001"
LAYOUT_ARTIST = "Sato Yuki"
PLATE_W, PLATE_H = 128, 96
FAST_STEPS = 3


def layout_png(width: int = 256, height: int = 192) -> bytes:
    """A pencil-like layout: dark lines on white paper."""
    img = Image.new("RGB", (width, height), (246, 244, 238))
    d = ImageDraw.Draw(img)
    d.line((0, height * 2 // 3, width, height // 2), fill=(40, 40, 40), width=3)
    d.rectangle((width // 6, height // 5, width // 2, height // 2), outline=(40, 40, 40), width=3)
    d.line((width * 3 // 4, 0, width * 3 // 4, height), fill=(60, 60, 60), width=2)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def write_prompts(folder: Path) -> Path:
    """Presets like the production's, with few steps so the tiny model runs fast."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "base.toml").write_text(
        'description = "test house style"\n'
        'positive = "anime background art, detailed scenery"\n'
        'negative = "people, text"\n'
        f"steps = {FAST_STEPS}\nguidance = 7.0\ncontrolnet_scale = 1.0\nstrength = 0.6\n",
        encoding="utf-8",
    )
    (folder / "street.toml").write_text(
        'extends = "base"\ndescription = "streets"\npositive = "japanese town street"\n',
        encoding="utf-8",
    )
    return folder


def ui_env(tiny_env: dict[str, str], prompts: Path) -> dict[str, str]:
    """Environment for a UI process: tiny models, fast presets, small plates."""
    return {
        **tiny_env,
        "BGART_PROMPTS_DIR": str(prompts),
        "BGART_WIDTH": str(PLATE_W),
        "BGART_HEIGHT": str(PLATE_H),
        "BGART_VARIATIONS": "2",
        "GRADIO_ANALYTICS_ENABLED": "False",
    }


def make_project(root: Path) -> Path:
    """A project with an artist, a director, an admin and one shot with a layout."""
    from bgart import plates as workflow
    from bgart.ledger import Project

    with Project.init(root, production="Test Show") as project:
        for name, role in ROLES.items():
            project.ledger.add_user(name, role, PASSWORDS[name])
        workflow.record_layout(project, SHOT, layout_png(), LAYOUT_ARTIST, filename="c001.png")
    return root


def req(name: str | None):  # type: ignore[no-untyped-def]
    """The gr.Request of an event by logged-in user ``name``."""
    import gradio as gr

    return gr.Request(username=name)
