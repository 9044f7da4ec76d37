"""Hand-built plates, paint strokes and generation records for the ledger, plates,
provenance and CLI tests (no diffusers involved)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from bgart.generation import GenerationRecord, png_bytes


def noise_plate(width: int = 64, height: int = 48, seed: int = 0) -> np.ndarray:
    """A plate whose every pixel differs strongly from a fixed stroke colour."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def natural_plate(width: int = 96, height: int = 64, seed: int = 0) -> np.ndarray:
    """Smooth gradients plus grain: a full histogram, like a painted background."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    base = np.stack(
        [x / width * 200 + 20, y / height * 180 + 30, (x + y) / (width + height) * 150 + 50], -1
    )
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


def grey_plate(width: int = 64, height: int = 48, value: int = 128) -> np.ndarray:
    return np.full((height, width, 3), value, np.uint8)


def make_record(width: int, height: int, **extra: object) -> GenerationRecord:
    fields: dict[str, object] = {
        "mode": "layout",
        "model": "tiny-sd15",
        "architecture": "sd15",
        "model_files": {"unet/diffusion_pytorch_model.safetensors": "ab" * 32},
        "controlnet": None,
        "prompt": "a quiet street at dusk",
        "negative": "lowres",
        "preset": "base",
        "scheduler": "euler",
        "steps": 2,
        "guidance": 5.0,
        "controlnet_scale": 1.0,
        "strength": None,
        "width": width,
        "height": height,
        "seeds": (1,),
        "batch_index": 0,
        "device": "cpu",
        "dtype": "float32",
        "seconds": 2.5,
    }
    fields.update(extra)
    return GenerationRecord(**fields)  # type: ignore[arg-type]


def generated_png(
    arr: np.ndarray, record: GenerationRecord | None = None
) -> tuple[bytes, GenerationRecord]:
    rec = record or make_record(arr.shape[1], arr.shape[0])
    return png_bytes(Image.fromarray(arr, "RGB"), rec), rec


def stroke_layer(
    shape: tuple[int, int],
    box: tuple[int, int, int, int],
    colour: tuple[int, int, int],
    alpha: int = 255,
) -> np.ndarray:
    """An RGBA layer with one rectangular stroke ``box`` = (x0, y0, x1, y1)."""
    h, w = shape
    layer = np.zeros((h, w, 4), np.uint8)
    x0, y0, x1, y1 = box
    layer[y0:y1, x0:x1] = (*colour, alpha)
    return layer
