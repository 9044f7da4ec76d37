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
    on_disk |= {  # ui/ installs as bgart.ui, its subpackages under it
        ".".join(("bgart", *init.parent.relative_to(ROOT).parts))
        for init in (ROOT / "ui").rglob("__init__.py")
    }
    assert on_disk - listed == set(), "add these to [tool.setuptools] packages"
    assert listed - on_disk == set()


def test_the_ui_installs_inside_bgart_not_as_a_top_level_ui() -> None:
    setuptools = _pyproject()["tool"]["setuptools"]
    assert setuptools["package-dir"] == {"bgart.ui": "ui"}
    assert not any(name == "ui" or name.startswith("ui.") for name in setuptools["packages"])
    import bgart.ui

    assert Path(bgart.ui.__file__).resolve().parent == ROOT / "ui"


def test_the_painting_surface_ships_in_the_wheel_so_installing_needs_no_node(
    tmp_path: Path,
) -> None:
    """The canvas's page script and style (and the region painter's script) are package
    data of bgart.ui.canvas: a wheel built
    from the tree holds them (built from a copy, so the tree gets no build folders)."""
    import shutil
    import subprocess
    import sys
    import zipfile

    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    junk = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("bgart", "ui"):
        shutil.copytree(ROOT / folder, src / folder, ignore=junk)
    out = tmp_path / "wheel"
    pip_wheel = (sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q")
    subprocess.run(
        [*pip_wheel, "-w", str(out), str(src)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = out.glob("bgart-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    static = sorted(p.name for p in (ROOT / "ui" / "canvas" / "static").iterdir())
    assert static == ["canvas.css", "canvas.js", "regions.js"]  # regions.js: ui/regions.py
    for name in static:
        assert f"bgart/ui/canvas/static/{name}" in names
    assert "bgart/ui/canvas/widgets.py" in names and not any(n.startswith("ui/") for n in names)
