"""Fixtures for the UI tests: the test project, and a Studio on it with the tiny engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.ui import make_project, ui_env, write_prompts


@pytest.fixture
def ui_project(
    tmp_path: Path, tiny_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """A project folder; the environment points bgart at tiny models and fast presets."""
    for key, value in ui_env(tiny_env, write_prompts(tmp_path / "prompts")).items():
        monkeypatch.setenv(key, value)
    yield make_project(tmp_path / "show")


@pytest.fixture
def studio(ui_project: Path, tiny_engine):  # type: ignore[no-untyped-def]
    """A Studio on the test project whose engine is the session's tiny SD1.5 engine."""
    from bgart.ui.handlers import Studio

    from bgart.ledger import Project

    project = Project.open(ui_project)
    yield Studio(project, engine_loader=lambda _settings: tiny_engine)
    project.close()
