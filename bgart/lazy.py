"""Lazy public names for a package whose modules are heavy (torch, diffusers).

``bgart.generation`` and ``bgart.runs`` export names whose modules import torch; the CLI
imports those packages to start, and must not pay for torch until a command needs it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_getattr(package: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``names`` maps a public name to the
    submodule that defines it, imported on first use."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module '{package}' has no attribute '{name}'")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    return __getattr__
