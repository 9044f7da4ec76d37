"""Layered PSDs written by GIMP 2.10 headless (Debian's `gimp`), as an artist would: open the
AI plate's PNG, add layers over it, export a PSD (and GIMP's own flattened PNG to compare).

GIMP 2.10 has no Python 3 plug-ins, so the scene is a Script-Fu program run by
``gimp-console-2.10 -i -b … -b '(gimp-quit 0)'``, with a private HOME and GIMP2_DIRECTORY in
the test's tmp folder (the user's GIMP profile is never read or written).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

GIMP_CONSOLE = "gimp-console-2.10"
TIMEOUT = 180.0  # a first start with a fresh profile queries every plug-in: ~5 s here

Box = tuple[int, int, int, int]  # left, top, right, bottom


@dataclass(frozen=True)
class GimpLayer:
    """A layer filled with ``colour`` over ``box``, as added in GIMP's Layers dialog."""

    name: str
    box: Box
    colour: tuple[int, int, int]
    mode: str  # GIMP's Script-Fu constant: LAYER-MODE-NORMAL, LAYER-MODE-MULTIPLY, …
    opacity: float = 100.0  # percent, as GIMP shows it
    visible: bool = True


def require_gimp() -> str:
    """The path of gimp-console-2.10; skip (or, with BGART_REQUIRE_ALL set, fail) without it."""
    path = shutil.which(GIMP_CONSOLE)
    if path is None:
        reason = f"GIMP test: {GIMP_CONSOLE} is missing (apt-get install gimp)"
        if os.environ.get("BGART_REQUIRE_ALL"):
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def _string(text: str | Path) -> str:
    """A Script-Fu string literal."""
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _add_layer(layer: GimpLayer, perceptual: bool) -> str:
    left, top, right, bottom = layer.box
    r, g, b = layer.colour
    spaces = (
        "(gimp-layer-set-blend-space l LAYER-COLOR-SPACE-RGB-PERCEPTUAL) "
        "(gimp-layer-set-composite-space l LAYER-COLOR-SPACE-RGB-PERCEPTUAL)"
        if perceptual
        else ""
    )
    return (
        f"(let ((l (car (gimp-layer-new image (car (gimp-image-width image)) "
        f"(car (gimp-image-height image)) RGBA-IMAGE {_string(layer.name)} "
        f"{layer.opacity} {layer.mode})))) "
        "(gimp-image-insert-layer image l 0 -1) "  # on top of the stack, as "New Layer" does
        "(gimp-drawable-fill l FILL-TRANSPARENT) "
        f"(gimp-image-select-rectangle image CHANNEL-OP-REPLACE {left} {top} "
        f"{right - left} {bottom - top}) "
        f"(gimp-context-set-foreground '({r} {g} {b})) "
        "(gimp-drawable-edit-fill l FILL-FOREGROUND) "
        "(gimp-selection-none image) "
        f"{spaces} "
        f"(gimp-item-set-visible l {'TRUE' if layer.visible else 'FALSE'}))"
    )


def _save(stem: Path) -> str:
    """Export the image as ``stem.psd`` (uncompressed) and GIMP's flattened ``stem.png``."""
    psd, png = stem.with_suffix(".psd"), stem.with_suffix(".png")
    return (
        "(file-psd-save RUN-NONINTERACTIVE image (car (gimp-image-get-active-layer image)) "
        f"{_string(psd)} {_string(psd)} 0 0) "
        "(let* ((flat (car (gimp-image-duplicate image))) "
        "(merged (car (gimp-image-flatten flat)))) "
        f"(file-png-save-defaults RUN-NONINTERACTIVE flat merged {_string(png)} {_string(png)}) "
        "(gimp-image-delete flat))"
    )


def scene_script(plate_png: Path, layers: list[GimpLayer], stem: Path, perceptual: bool) -> str:
    """Script-Fu that opens ``plate_png`` (its one layer renamed "plate"), adds ``layers``
    bottom to top and saves ``stem``.psd/.png. ``perceptual``: each layer blends and
    composites in perceptual RGB (GIMP's Layer Attributes: blend/composite space), as
    Photoshop does; else GIMP 2.10's default for its modes (linear light)."""
    body = " ".join(_add_layer(layer, perceptual) for layer in layers)
    return (
        f"(let* ((image (car (gimp-file-load RUN-NONINTERACTIVE {_string(plate_png)} "
        f"{_string(plate_png)}))) (base (car (gimp-image-get-active-layer image)))) "
        "(gimp-context-set-background '(255 255 255)) "
        f'(gimp-item-set-name base "plate") {body} {_save(stem)} (gimp-image-delete image))'
    )


def run_gimp(scripts: list[str], workdir: Path) -> None:
    """Run the Script-Fu ``scripts`` in one headless GIMP, with a private profile under
    ``workdir``; fails the test with GIMP's output when it fails or times out."""
    exe = require_gimp()
    home = workdir / "gimp-home"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "HOME": str(home),
        "GIMP2_DIRECTORY": str(home / "gimp-2.10"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
    }
    args = [exe, "-i", "-d", "-f", "--batch-interpreter", "plug-in-script-fu-eval"]
    for script in scripts:
        args += ["-b", script]
    args += ["-b", "(gimp-quit 0)"]
    try:
        proc = subprocess.run(
            args, env=env, cwd=workdir, capture_output=True, text=True, timeout=TIMEOUT
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{GIMP_CONSOLE} ran past {TIMEOUT:.0f} s:\n{exc.stderr or ''}")
    output = proc.stdout + proc.stderr
    if proc.returncode != 0 or "batch command experienced an execution error" in output:
        pytest.fail(f"{GIMP_CONSOLE} failed (exit {proc.returncode}):\n{output}")
