"""``bgart ledger verify``: prove the ledger from its own bytes.

:mod:`~bgart.verify.chain` checks the hash chain, the numbering of plate versions, every blob
hash and the derived tables; :mod:`~bgart.verify.replay` recomputes every plate version from
the version it edits (the edit comes from the table in :mod:`bgart.events`, the pixels from
:mod:`bgart.provenance`), in forked child processes; :mod:`~bgart.verify.verified` remembers
the head a full run proved, so the next run replays only what came after.
"""

# The package's public surface: code outside bgart.verify imports these names from here,
# so the modules inside can be split and renamed without touching it.

from bgart.verify.chain import (
    verify_project,
)

__all__ = [
    "verify_project",
]
