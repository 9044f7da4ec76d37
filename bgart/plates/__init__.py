"""Plates: the acts that change them (write) and the queries that read them.

``acts`` records what a person or a model did (each act one ledger transaction), ``review``
the submit/accept/reject of a version, ``versions`` what every act shares, ``history`` a
plate's events and versions read once (:class:`PlateHistory`, with a version's figures),
``queries`` the reads the UI, the CLI and the credits make, ``pixels`` decoding and caching.
"""

# The package's public surface: code outside bgart.plates imports these names from here,
# so the modules inside can be split and renamed without touching it.

from bgart.events import VERSION_KINDS
from bgart.images import encode_png
from bgart.plates.acts import (
    record_adjust,
    record_base,
    record_final,
    record_generated,
    record_generated_cli,
    record_inpaint,
    record_layout,
    record_paint,
    select_variation,
    undo,
)
from bgart.plates.history import PlateHistory
from bgart.plates.layered import record_layered_final
from bgart.plates.pixels import PlateState, decode_blob
from bgart.plates.psd import is_psd, read_layered
from bgart.plates.queries import (
    SHOT_STATUSES,
    heatmap,
    plate_figures,
    plate_names,
    plate_state,
    plate_versions,
    shot_codes,
    shot_layout,
    shot_status,
)
from bgart.plates.review import accept, reject, review, submit
from bgart.plates.versions import PLATE, REVIEWER_ROLES, Recorded

__all__ = [
    "PLATE",
    "REVIEWER_ROLES",
    "SHOT_STATUSES",
    "VERSION_KINDS",
    "PlateHistory",
    "PlateState",
    "Recorded",
    "accept",
    "decode_blob",
    "encode_png",
    "heatmap",
    "is_psd",
    "plate_figures",
    "plate_names",
    "plate_state",
    "plate_versions",
    "read_layered",
    "record_adjust",
    "record_base",
    "record_final",
    "record_generated",
    "record_generated_cli",
    "record_inpaint",
    "record_layered_final",
    "record_layout",
    "record_paint",
    "reject",
    "review",
    "select_variation",
    "shot_codes",
    "shot_layout",
    "shot_status",
    "submit",
    "undo",
]
