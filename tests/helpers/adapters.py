"""The tiny IP-Adapter models (a tiny SD1.5/SDXL + ControlNet + IP-Adapter with its CLIP image
encoder, built from configs) pulled into a model store, as the art-board tests use them."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def pulled_adapter(root: Path, arch: str) -> tuple[Path, Path]:
    """Build the tiny ``arch`` model with its IP-Adapter under ``root`` and pull it:
    (its weights.lock, the model store)."""
    from bgart.generation import WeightsLock, build_tiny_adapter, pull

    lock = build_tiny_adapter(root, arch)
    store = root / "store"
    pull(WeightsLock.load(lock), store, f"tiny-{arch}", say=lambda _m: None)
    return lock, store


def adapter_engine(root: Path, param: str) -> Any:
    """An engine on the tiny model with its IP-Adapter; ``param`` is "sd15", "sdxl" or an
    architecture with a dtype ("sd15-bfloat16": the GPU path's dtype, on the CPU)."""
    from bgart.generation import Engine
    from bgart.settings import load_settings

    arch, _, dtype = param.partition("-")
    lock, store = pulled_adapter(root, arch)
    settings = load_settings(
        None,
        weights_lock=lock,
        model_store=store,
        model=f"tiny-{arch}",
        device="cpu",
        dtype=dtype or "float32",
    )
    return Engine.load(settings)


def adapter_model_env(root: Path) -> dict[str, str]:
    """The environment that points bgart's commands at the tiny SD1.5 with its IP-Adapter."""
    lock, store = pulled_adapter(root, "sd15")
    return {
        "BGART_WEIGHTS_LOCK": str(lock),
        "BGART_MODEL_STORE": str(store),
        "BGART_MODEL": "tiny-sd15",
        "BGART_CPU_THREADS": "1",
    }
