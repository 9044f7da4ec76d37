"""The reliability tests' bad-input corpus, generated once per session."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.reliability import load_corpus_module


@pytest.fixture(scope="session")
def corpus(
    tmp_path_factory: pytest.TempPathFactory, tiny_root: Path, tiny_store: Path
) -> Iterator[tuple[Path, list[Any]]]:
    """The whole corpus (weights group included), made once per session by the generator
    script's own function, in this process (a fresh Python costs seconds of torch import):
    (root, cases), the cases as listed in its manifest."""
    dest = tmp_path_factory.mktemp("corpus")
    module = load_corpus_module()
    module.make_corpus(dest, lock=tiny_root / "weights.lock", store=tiny_store)
    cases = [module.Case(**c) for c in json.loads((dest / "manifest.json").read_text())]
    yield dest, cases
