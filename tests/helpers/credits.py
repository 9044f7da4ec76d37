"""A small production for the credit-report and export tests, built through bgart.plates.acts
(tests/credits/conftest.py serves it as the ``project`` fixture).

Three accepted plates of 80×60 pixels (4800), no diffusers involved:

* ``EP01_C001``: an AI plate accepted as generated (grade F);
* ``EP01_C002``: candidate 2 of 3 chosen, 30% of the plate retouched (山田 花子 paints the
  left 24 columns, then Ito Aoi repaints 8 of them), one AI inpaint of 10×10 pixels on a
  mask drawn by Mori Ren (grade D);
* ``EP02_C001``: an AI plate repainted over every pixel by Kobayashi Mei (grade A: no pixel
  keeps AI weight).
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
from PIL import Image

from bgart import plates as workflow
from bgart.cli.credits import model_catalog
from bgart.credits import ModelCatalog
from bgart.generation import GenerationRecord, png_bytes
from bgart.ledger import Project

W, H = 80, 60
PIXELS = W * H
MODEL = "anime-test"
INPAINT_MODEL = "anime-test-inpaint"
REVISION = "0123456789abcdef0123456789abcdef01234567"
LICENCE = "CreativeML OpenRAIL-M"
UNET = "unet/diffusion_pytorch_model.safetensors"
UNET_SHA = hashlib.sha256(b"unet weights").hexdigest()
DIRECTOR = "Kei Director"
PRODUCTION = "Test Show"

LOCK_TEXT = f"""
[models.{MODEL}]
kind = "pipeline"
architecture = "sd15"
repo = "hf:example/anime-test"
revision = "{REVISION}"
license = "{LICENCE}"
files = [{{path = "{UNET}", size = 12, sha256 = "{UNET_SHA}"}}]
"""


def ai_image(seed: int) -> np.ndarray:
    """Noise in a range no paint colour used here comes near (R<100, 50≤G<150, 100≤B<200)."""
    rng = np.random.default_rng(seed)
    lo = np.array([0, 50, 100])
    return (lo + rng.integers(0, 100, (H, W, 3))).astype(np.uint8)


def record(seed: int, *, mode: str = "layout", model: str = MODEL) -> GenerationRecord:
    return GenerationRecord(
        mode=mode,
        model=model,
        architecture="sd15",
        model_files={f"{model}/{UNET}": UNET_SHA},
        controlnet=None,
        prompt=f"test background {seed}",
        negative="",
        preset="base",
        scheduler="euler",
        steps=2,
        guidance=5.0,
        controlnet_scale=1.0,
        strength=None,
        width=W,
        height=H,
        seeds=(seed,),
        batch_index=0,
        device="cpu",
        dtype="float32",
        seconds=1.5,
    )


def png(arr: np.ndarray, rec: GenerationRecord | None = None) -> bytes:
    return png_bytes(Image.fromarray(arr, "RGB"), rec)


def layout_png(seed: int) -> bytes:
    img = Image.new("L", (W, H), 255)
    img.paste(0, (seed % 10, 5, seed % 10 + 40, 7))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def opaque_layer(cols: slice, colour: tuple[int, int, int]) -> np.ndarray:
    layer = np.zeros((H, W, 4), np.uint8)
    layer[:, cols, :3] = colour
    layer[:, cols, 3] = 255
    return layer


def lock_catalog(project: Project) -> ModelCatalog:
    """What the project's weights.lock (``LOCK_TEXT`` for :func:`build_project`) pins, read as
    ``bgart credits`` reads it for the report."""
    return model_catalog(project.settings.weights_lock)


def build_project(root: Path) -> Project:
    """The three-plate production described in the module docstring."""
    lock = root.parent / f"{root.name}-weights.lock"
    lock.write_text(LOCK_TEXT, encoding="utf-8")
    project = Project.init(root, production=PRODUCTION)
    (root / "bgart.toml").write_text(
        f'production = "{PRODUCTION}"\nweights_lock = "{lock}"\n', encoding="utf-8"
    )
    project.close()
    project = Project.open(root)

    # EP01_C001: AI plate, untouched.
    workflow.record_layout(project, "EP01_C001", layout_png(1), "Sato Yuki", filename="c001.png")
    for seed in (11, 12):
        workflow.record_generated(
            project, "EP01_C001", png(ai_image(seed), record(seed)), record(seed)
        )
    workflow.accept(project, "EP01_C001", DIRECTOR, "as is")

    # EP01_C002: candidate 2 of 3, retouched 30%, one inpaint.
    workflow.record_layout(project, "EP01_C002", layout_png(2), "Tanaka Haruto")
    for seed in (21, 22, 23):
        workflow.record_generated(
            project,
            "EP01_C002",
            png(ai_image(seed), record(seed)),
            record(seed),
            requested_by="Mori Ren",
        )
    workflow.select_variation(project, "EP01_C002", 2, "Mori Ren")
    workflow.record_paint(
        project, "EP01_C002", opaque_layer(slice(0, 24), (255, 0, 255)), "山田 花子", 300.0
    )
    workflow.record_paint(
        project, "EP01_C002", opaque_layer(slice(16, 24), (255, 255, 0)), "Ito Aoi", 120.0
    )
    mask = np.zeros((H, W), np.uint8)
    mask[10:20, 40:50] = 255
    result = np.full((H, W, 3), (255, 128, 0), np.uint8)
    inpaint_rec = record(24, mode="inpaint", model=INPAINT_MODEL)
    workflow.record_inpaint(
        project, "EP01_C002", png(result), mask, inpaint_rec, "Mori Ren", active_seconds=30.0
    )
    workflow.accept(project, "EP01_C002", DIRECTOR)

    # EP02_C001: repainted over every pixel.
    workflow.record_layout(project, "EP02_C001", layout_png(3), "Sato Yuki")
    workflow.record_generated(
        project, "EP02_C001", png(ai_image(31), record(31)), record(31), requested_by="Mori Ren"
    )
    rng = np.random.default_rng(99)
    final = (200 + rng.integers(0, 56, (H, W, 3))).astype(np.uint8)
    workflow.record_final(project, "EP02_C001", final, "Kobayashi Mei", 3600.0)
    workflow.accept(project, "EP02_C001", DIRECTOR)
    return project
