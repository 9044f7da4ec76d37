"""The ledger: the append-only, hash-chained record of every act, and the project's blobs.

:mod:`~bgart.ledger.chain` (the hash chain and the event rows read back),
:mod:`~bgart.ledger.tables` (the SQL tables), :mod:`~bgart.ledger.db` (SQLite or PostgreSQL,
write transactions and their locking), :mod:`~bgart.ledger.users` (roles and passwords),
:mod:`~bgart.ledger.names` (checked names), :mod:`~bgart.ledger.store` (a project folder:
settings, the ledger and the blobs by sha256). Which kinds of event exist is declared in
:mod:`bgart.events`, not here.
"""

# The package's public surface: code outside bgart.ledger imports these names from here,
# so the modules inside can be split and renamed without touching it.

from bgart.ledger.chain import (
    GENESIS_HASH,
    LEGACY_GENESIS_HASH,
    ChainChecker,
    EventRow,
    event_body,
    event_hash,
    event_hash_stored,
)
from bgart.ledger.db import Ledger, WriteTx
from bgart.ledger.names import check_name, check_utf8
from bgart.ledger.store import (
    DB_FILE,
    BlobStore,
    Project,
)
from bgart.ledger.tables import (
    Base,
    Candidate,
    ChainHead,
    Event,
    Plate,
    PlateVersion,
    Shot,
    User,
    utc_now,
)
from bgart.ledger.users import ROLES, UserBook, hash_password, password_digest, password_matches

__all__ = [
    "DB_FILE",
    "GENESIS_HASH",
    "LEGACY_GENESIS_HASH",
    "ROLES",
    "Base",
    "BlobStore",
    "Candidate",
    "ChainChecker",
    "ChainHead",
    "Event",
    "EventRow",
    "Ledger",
    "Plate",
    "PlateVersion",
    "Project",
    "Shot",
    "User",
    "UserBook",
    "WriteTx",
    "check_name",
    "check_utf8",
    "event_body",
    "event_hash",
    "event_hash_stored",
    "hash_password",
    "password_digest",
    "password_matches",
    "utc_now",
]
