"""What `pip install` puts on disk: every bgart package, the UI as bgart.ui, no top-level ui."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))


def test_every_package_of_the_tree_is_installed() -> None:
    """The package list is explicit (the UI folder is mapped in); a new subpackage that is not
    in it would be missing from a wheel while an editable install hides the gap."""
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "bgart").rglob("__init__.py")
    }
    assert on_disk - listed == set(), "add these to [tool.setuptools] packages"
    assert listed - on_disk == {"bgart.ui"}


def test_the_ui_installs_inside_bgart_not_as_a_top_level_ui() -> None:
    setuptools = _pyproject()["tool"]["setuptools"]
    assert setuptools["package-dir"] == {"bgart.ui": "ui"}
    assert not any(name == "ui" or name.startswith("ui.") for name in setuptools["packages"])
    import bgart.ui

    assert Path(bgart.ui.__file__).resolve().parent == ROOT / "ui"
