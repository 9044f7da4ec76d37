"""Shared bench helpers: tiny models built on the fly, timing with warm-up."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def machine() -> str:
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, {gpu}, torch {torch.__version__}, "
        f"{date.today().isoformat()}"
    )


def tiny_settings(root: Path, arch: str = "sd15", **overrides: object):  # type: ignore[no-untyped-def]
    """Settings pointing at tiny random-weight models under ``root`` (built once)."""
    from bgart.generation import WeightsLock, build_tiny_models, pull
    from bgart.settings import load_settings

    lock = build_tiny_models(root, arch)
    store = root / "store"
    pull(WeightsLock.load(lock), store, f"tiny-{arch}", say=lambda _m: None)
    return load_settings(weights_lock=lock, model_store=store, model=f"tiny-{arch}", **overrides)


def timed(fn: Callable[[], object], repeats: int, warmup: int = 1) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def run_in_tree(tree: Path, code: str, args: list[str]) -> dict[str, Any]:
    """``python -c code *args`` in a fresh process with ``tree``'s bgart (and this folder)
    first on the path; the last line it prints, read as JSON. Exits naming the tree when
    the run fails (side-by-side benches: one source tree against another)."""
    import json
    import subprocess
    import sys

    here = Path(__file__).resolve().parent
    env = {**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{here}"}
    done = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, cwd=tree, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"the run by {tree} failed:\n{done.stderr}")
    return json.loads(done.stdout.splitlines()[-1])
