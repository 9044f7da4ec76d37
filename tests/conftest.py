"""Shared fixtures: tiny random-weight models built once per session, offline settings.

Fixtures come to tests as parameters only: these, the plugins in ``pytest_plugins`` below
(tests/fixtures/), and each folder's own conftest.py. Plain helpers live in tests/helpers/.
"""

from __future__ import annotations

import os

from helpers.scratch import scratch_folder

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# what `ledger verify` remembers per machine goes to a throwaway folder, never ~/.cache
os.environ["BGART_CACHE_DIR"] = str(scratch_folder("bgart-test-cache-"))
# files the UI hands Gradio (plates to show) likewise; `bgart ui` points it into the project
os.environ["GRADIO_TEMP_DIR"] = str(scratch_folder("bgart-test-gradio-"))

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

pytest_plugins = ["fixtures.ledger", "fixtures.lora"]

TEST_THREADS = 1  # byte-identical CPU results need a fixed thread count


@pytest.fixture(autouse=True)
def _fixed_threads() -> Iterator[None]:
    torch.set_num_threads(TEST_THREADS)
    yield


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test takes a project or a database from the environment it was started in."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for var in ("BGART_DB_URL", "BGART_PROJECT_DIR"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny SD1.5 and SDXL models (+ ControlNets) in diffusers format, with a weights.lock."""
    from bgart.generation import build_tiny_models

    root = tmp_path_factory.mktemp("tiny-models")
    build_tiny_models(root, "sd15")
    build_tiny_models(root, "sdxl")
    return root


@pytest.fixture(scope="session")
def tiny_store(tiny_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model store with both tiny models pulled through the real `weights.pull`."""
    from bgart.generation import WeightsLock, pull

    store = tmp_path_factory.mktemp("model-store")
    lock = WeightsLock.load(tiny_root / "weights.lock")
    for name in ("tiny-sd15", "tiny-sdxl"):
        pull(lock, store, name, say=lambda _m: None)
    return store


@pytest.fixture(scope="session")
def tiny_env(tiny_root: Path, tiny_store: Path) -> dict[str, str]:
    """Environment variables that point bgart (CLI subprocesses too) at the tiny models."""
    return {
        "BGART_WEIGHTS_LOCK": str(tiny_root / "weights.lock"),
        "BGART_MODEL_STORE": str(tiny_store),
        "BGART_MODEL": "tiny-sd15",
        "BGART_CPU_THREADS": str(TEST_THREADS),
        "HF_HUB_OFFLINE": "1",
    }


@pytest.fixture
def tiny_settings(tiny_env: dict[str, str], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Settings for the tiny SD1.5 model (environment patched for code that reloads them)."""
    from bgart.settings import load_settings

    for key, value in tiny_env.items():
        monkeypatch.setenv(key, value)
    return load_settings()


_ENGINES: dict[str, object] = {}


@pytest.fixture
def tiny_engine(tiny_settings):  # type: ignore[no-untyped-def]
    """One loaded tiny SD1.5 engine for the whole session (loading is the slow part)."""
    from bgart.generation import Engine

    if "sd15" not in _ENGINES:
        _ENGINES["sd15"] = Engine.load(tiny_settings)
    return _ENGINES["sd15"]


@pytest.fixture
def tiny_engine_xl(tiny_settings):  # type: ignore[no-untyped-def]
    from bgart.generation import Engine

    if "sdxl" not in _ENGINES:
        _ENGINES["sdxl"] = Engine.load(tiny_settings, model="tiny-sdxl")
    return _ENGINES["sdxl"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """GPU tests skip cleanly, and say why, on machines without CUDA."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (none on this machine)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
