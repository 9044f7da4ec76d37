"""The credits tests' ``project``: the small production of tests/helpers/credits.py (it
overrides the empty project of tests/fixtures/ledger.py here)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers.credits import build_project

from bgart.ledger import Project


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """The production, built once per test module that uses this fixture."""
    proj = build_project(tmp_path_factory.mktemp("credits") / "show")
    yield proj
    proj.close()
