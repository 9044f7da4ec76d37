"""Shared fixtures and helpers for the ledger / contribution / workflow tests.

PostgreSQL: set ``BGART_TEST_PG_URL`` (e.g.
``postgresql+psycopg://bgart:bgart@127.0.0.1:5432/bgart_test``; the role needs CREATEDB).
One throwaway database is created per test session and dropped at the end; each test gets
its own schema in it. Without the variable, the PostgreSQL variants are skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bgart.generation import GenerationRecord, png_bytes
from bgart.ledger import Project

PG_ENV = "BGART_TEST_PG_URL"
PG_SKIP = f"PostgreSQL tests need {PG_ENV} (a server URL whose role may CREATE DATABASE)"


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for var in ("BGART_DB_URL", "BGART_PROJECT_DIR"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """URL of a fresh database on the test server, dropped after the session."""
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(PG_SKIP)
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(url)
    name = f"bgart_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # a server that is down is a failure, not a skip
        admin.dispose()
        raise RuntimeError(f"{PG_ENV}: cannot create a test database: {exc}") from exc
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def pg_schema_url(database_url: str) -> str:
    """A URL for a new, empty schema in the session database (one per test)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    url = make_url(database_url).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql":
        if not os.environ.get(PG_ENV):
            pytest.skip(PG_SKIP)
        request.applymarker(pytest.mark.postgres)
    return str(request.param)


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest) -> str | None:
    """None (the project's own SQLite file) or a fresh PostgreSQL schema."""
    if backend == "sqlite":
        return None
    return pg_schema_url(request.getfixturevalue("pg_database"))


@pytest.fixture
def project(tmp_path: Path, db_url: str | None) -> Iterator[Project]:
    proj = Project.init(tmp_path / "show", production="Test Show", db_url=db_url)
    try:
        yield proj
    finally:
        proj.close()


@pytest.fixture
def sqlite_project(tmp_path: Path) -> Iterator[Project]:
    proj = Project.init(tmp_path / "show", production="Test Show")
    try:
        yield proj
    finally:
        proj.close()


# --- hand-built images ---------------------------------------------------------------------


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
