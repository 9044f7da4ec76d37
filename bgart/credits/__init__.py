"""PLACEHOLDER"""

# The package's public surface: code outside bgart.credits imports these names from here,
# so the modules inside can be split and renamed without touching it.

from bgart.credits.c2pa.manifest import (
    format_credits,
    format_retouch_shares,
    verify_png,
)
from bgart.credits.c2pa.signing import (
    C2PA_CLAIM_SIGNING,
    LEAF_DAYS,
    NOT_TRUSTED_NOTE,
    ROOT_FILE,
    LoadedSigner,
    init_signing,
    load_signer,
    make_test_chain,
)
from bgart.credits.export import (
    SUMS_FILE,
    ExportedPlate,
    export_plates,
    signing_identity,
)
from bgart.credits.psd import (
    PsdLayer,
    ai_layer_name,
    export_psd,
    flatten,
    inpaint_layer_name,
    retouch_layer_name,
)
from bgart.credits.render import (
    COLUMNS,
    CSV_TABLES,
    TABLES,
    read_csv,
    read_json,
    render_html,
    render_json,
    write_reports,
)
from bgart.credits.report import (
    NOT_RECORDED,
    CreditReport,
    Thresholds,
    build_report,
    episode_of,
    grade,
    natural_key,
    people_in,
    plate_credit_lines,
)

__all__ = [
    "C2PA_CLAIM_SIGNING",
    "COLUMNS",
    "CSV_TABLES",
    "LEAF_DAYS",
    "NOT_RECORDED",
    "NOT_TRUSTED_NOTE",
    "ROOT_FILE",
    "SUMS_FILE",
    "TABLES",
    "CreditReport",
    "ExportedPlate",
    "LoadedSigner",
    "PsdLayer",
    "Thresholds",
    "ai_layer_name",
    "build_report",
    "episode_of",
    "export_plates",
    "export_psd",
    "flatten",
    "format_credits",
    "format_retouch_shares",
    "grade",
    "init_signing",
    "inpaint_layer_name",
    "load_signer",
    "make_test_chain",
    "natural_key",
    "people_in",
    "plate_credit_lines",
    "read_csv",
    "read_json",
    "render_html",
    "render_json",
    "retouch_layer_name",
    "signing_identity",
    "verify_png",
    "write_reports",
]
