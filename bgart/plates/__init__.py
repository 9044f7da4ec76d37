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
from bgart.plates.artboard import (
    BoardImage,
    board_artists,
    board_images,
    board_key,
    boards,
    read_reference,
    record_artboard,
    record_reuse,
    reuse_of,
    reused_shots,
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
    plate_version,
    plate_versions,
    shot_codes,
    shot_layout,
    shot_status,
)
from bgart.plates.refine import record_refine
from bgart.plates.review import (
    RetakeMark,
    accept,
    mark_retake,
    open_retakes,
    reject,
    retake_marks,
    review,
    review_queue,
    submit,
)
from bgart.plates.variants import TIMES, accepted_version, record_variant
from bgart.plates.versions import PLATE, REVIEWER_ROLES, Recorded, credit_summary

__all__ = [
    "PLATE",
    "REVIEWER_ROLES",
    "SHOT_STATUSES",
    "TIMES",
    "VERSION_KINDS",
    "BoardImage",
    "PlateHistory",
    "PlateState",
    "Recorded",
    "RetakeMark",
    "accept",
    "accepted_version",
    "board_artists",
    "board_images",
    "board_key",
    "boards",
    "credit_summary",
    "decode_blob",
    "encode_png",
    "heatmap",
    "is_psd",
    "mark_retake",
    "open_retakes",
    "plate_figures",
    "plate_names",
    "plate_state",
    "plate_version",
    "plate_versions",
    "read_layered",
    "read_reference",
    "record_adjust",
    "record_artboard",
    "record_base",
    "record_final",
    "record_generated",
    "record_generated_cli",
    "record_inpaint",
    "record_layered_final",
    "record_layout",
    "record_paint",
    "record_refine",
    "record_reuse",
    "record_variant",
    "reject",
    "retake_marks",
    "reuse_of",
    "reused_shots",
    "review",
    "review_queue",
    "select_variation",
    "shot_codes",
    "shot_layout",
    "shot_status",
    "submit",
    "undo",
]
