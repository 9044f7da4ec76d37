"""PLACEHOLDER"""

# The package's public surface: code outside bgart.verify imports these names from here,
# so the modules inside can be split and renamed without touching it.

from bgart.verify.chain import (
    verify_project,
)

__all__ = [
    "verify_project",
]
