"""The reliability tests' bad-input corpus, generated once per session."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.reliability import CORPUS_SCRIPT, clean_env, load_corpus_module


@pytest.fixture(scope="session")
def corpus(
    tmp_path_factory: pytest.TempPathFactory, tiny_root: Path, tiny_store: Path
) -> Iterator[tuple[Path, list[Any]]]:
    """The whole corpus (weights group included), made by the generator script as a
    separate process, once per session: (root, cases)."""
    dest = tmp_path_factory.mktemp("corpus")
    res = subprocess.run(
        [
            sys.executable,
            str(CORPUS_SCRIPT),
            str(dest),
            "--lock",
            str(tiny_root / "weights.lock"),
            "--store",
            str(tiny_store),
        ],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=300,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    module = load_corpus_module()
    cases = [module.Case(**c) for c in json.loads((dest / "manifest.json").read_text())]
    yield dest, cases
