"""Credits: the report a production prints, and the files it delivers.

Everything here comes from the ledger (and the model pins the CLI hands in as a
:class:`~bgart.credits.catalog.ModelCatalog`), never from running a model.
:mod:`~bgart.credits.model` (the report's types), :mod:`~bgart.credits.grade` (the A–F
grade), :mod:`~bgart.credits.lineage` (who made which pixels of a plate, per artist),
:mod:`~bgart.credits.lines` (credit-roll lines), :mod:`~bgart.credits.report` (building the
report), :mod:`~bgart.credits.tables`, :mod:`~bgart.credits.html_page` and
:mod:`~bgart.credits.render` (CSV, HTML/PDF, JSON), :mod:`~bgart.credits.export` (signed PNGs
and layered PSDs per accepted plate), :mod:`~bgart.credits.psd`, and :mod:`bgart.credits.c2pa`
(Content Credentials).
"""

# The package's public surface: code outside bgart.credits imports these names from here,
# so the modules inside can be split and renamed without touching it.

from bgart.credits.c2pa import (
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
from bgart.credits.catalog import ModelCatalog, PinnedModel
from bgart.credits.export import (
    SUMS_FILE,
    ExportedPlate,
    export_plates,
    find_export,
    signing_identity,
)
from bgart.credits.grade import Thresholds, grade
from bgart.credits.html_page import render_html
from bgart.credits.lines import Headings, plate_credit_lines
from bgart.credits.model import NOT_RECORDED, CreditReport, episode_of, natural_key
from bgart.credits.psd import (
    PsdLayer,
    ai_layer_name,
    export_psd,
    flatten,
    inpaint_layer_name,
    retouch_layer_name,
)
from bgart.credits.render import read_json, render_json, write_reports
from bgart.credits.report import build_report, people_in
from bgart.credits.tables import COLUMNS, CSV_TABLES, TABLES, read_csv

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
    "Headings",
    "LoadedSigner",
    "ModelCatalog",
    "PinnedModel",
    "PsdLayer",
    "Thresholds",
    "ai_layer_name",
    "build_report",
    "episode_of",
    "export_plates",
    "export_psd",
    "find_export",
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
