"""C2PA Content Credentials for exported plates: build, sign, read back, verify, print.

* :mod:`~bgart.credits.c2pa.manifest`: the plate's history (:class:`PlateManifest`, its origin
  and edits) and the manifest definitions it becomes;
* :mod:`~bgart.credits.c2pa.sign`: signing a plate PNG with that chain, time-stamp checks;
* :mod:`~bgart.credits.c2pa.read`: reading the credentials back and verifying them;
* :mod:`~bgart.credits.c2pa.text`: the credits a manifest states, as text;
* :mod:`~bgart.credits.c2pa.signing`: the local signing identity (certificates and key);
* :mod:`~bgart.credits.c2pa.softbinding`: the invisible watermark (soft binding) and finding
  an export again from a copy that lost its manifest;
* :mod:`~bgart.credits.c2pa.regions`: the rectangles covering where a person's paint remains;
* :mod:`~bgart.credits.c2pa.native`: the c2pa native library and the bytes handed to it.

Code outside this package imports these names from here. The digital source type URIs are
declared in :mod:`bgart.events` and re-exported here.
"""

from bgart.credits.c2pa.manifest import (
    CONTRIBUTION_LABEL,
    Adjustment,
    AiPlate,
    Credited,
    Edit,
    HumanBase,
    Inpaint,
    KeptFrom,
    LayoutIngredient,
    PaintSession,
    PlateManifest,
    layout_definition,
    plate_definition,
)
from bgart.credits.c2pa.read import EXPIRED_TEXT, VerifyResult, read_credentials, verify_png
from bgart.credits.c2pa.sign import TimeStampError, check_time_stamp_authority, sign_png
from bgart.credits.c2pa.signing import (
    C2PA_CLAIM_SIGNING,
    CHAIN_FILE,
    KEY_FILE,
    LEAF_DAYS,
    NOT_TRUSTED_NOTE,
    ROOT_FILE,
    LoadedSigner,
    init_signing,
    load_signer,
    make_test_chain,
)
from bgart.credits.c2pa.softbinding import (
    SOFT_BINDING_LABEL,
    StoreMatch,
    can_watermark,
    embed_png,
    find_in_store,
    watermark_value,
)
from bgart.credits.c2pa.text import format_credits, format_retouch_shares
from bgart.events import (
    COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
    DIGITAL_CREATION,
    HUMAN_EDITS,
    TRAINED_ALGORITHMIC_MEDIA,
)

__all__ = [
    "C2PA_CLAIM_SIGNING",
    "CHAIN_FILE",
    "COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA",
    "CONTRIBUTION_LABEL",
    "DIGITAL_CREATION",
    "EXPIRED_TEXT",
    "HUMAN_EDITS",
    "KEY_FILE",
    "LEAF_DAYS",
    "NOT_TRUSTED_NOTE",
    "ROOT_FILE",
    "SOFT_BINDING_LABEL",
    "TRAINED_ALGORITHMIC_MEDIA",
    "Adjustment",
    "AiPlate",
    "Credited",
    "Edit",
    "HumanBase",
    "Inpaint",
    "KeptFrom",
    "LayoutIngredient",
    "LoadedSigner",
    "PaintSession",
    "PlateManifest",
    "StoreMatch",
    "TimeStampError",
    "VerifyResult",
    "can_watermark",
    "check_time_stamp_authority",
    "embed_png",
    "find_in_store",
    "format_credits",
    "format_retouch_shares",
    "init_signing",
    "layout_definition",
    "load_signer",
    "make_test_chain",
    "plate_definition",
    "read_credentials",
    "sign_png",
    "verify_png",
    "watermark_value",
]
