"""The credit report as CSV tables, and read back.

One file per table (:data:`CSV_TABLES`; columns in :data:`COLUMNS`, rows by :data:`TABLES`):
``credits_plates.csv`` (a row per plate), ``credits_contributors.csv`` (a row per plate and
person), ``credits_people.csv`` (ranked people per episode and production),
``credits_summary.csv`` (totals, grade distribution, credit lines) and
``credits_definition.csv`` (the definition and grade thresholds in force). Text that a
spreadsheet would take for a formula is quoted (:func:`render_csv`); :func:`read_csv` reads
a table back with its numbers as numbers. Also how the report writes a duration
(:func:`hms`) and a box (:func:`bbox_text`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bgart.credits.grade import pct
from bgart.credits.lines import Headings, plate_credit_lines
from bgart.credits.model import GRADES, NOT_RECORDED, CreditReport, ScopeSummary
from bgart.errors import InputError
from bgart.fsutil import MIB, read_bounded_text

CSV_TABLES = ("plates", "contributors", "people", "summary", "definition")


def _names(items: Iterable[str]) -> str:
    return "; ".join(items)


def bbox_text(bbox: Sequence[int] | None) -> str:
    """A box (x, y, width, height) as the report writes it; "–" for none."""
    if not bbox:
        return "–"
    x, y, w, h = bbox
    return f"x={x} y={y} {w}×{h}"


def hms(seconds: float) -> str:
    """A duration as the report writes it (``42 s``, ``3 min 05 s``, ``2 h 07 min``)."""
    s = round(float(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def plate_rows(report: CreditReport) -> list[dict[str, Any]]:
    """One row per plate, as written to ``credits_plates.csv`` (typed values)."""
    rows = []
    for p in report.plates:
        en, ja, _ = plate_credit_lines(p, Headings.of_report(report.headings))
        rows.append(
            {
                "episode": p.episode,
                "shot": p.shot,
                "plate": p.plate,
                "version": p.version,
                "status": p.status,
                "grade": p.grade,
                "grade_reason": p.grade_reason,
                "human_paint_share": p.human_paint_share,
                "ai_gen_share": p.ai_gen_share,
                "ai_inpaint_share": p.ai_inpaint_share,
                "human_base_share": p.human_base_share,
                "human_touched_share": p.human_touched_share,
                "adjust_share": p.adjust_share,
                "unattributed_share": p.unattributed_share,
                "width": p.width,
                "height": p.height,
                "pixels": p.pixels,
                "layout_artists": _names(p.layout_artists),
                "prompt_author": p.prompt_author or NOT_RECORDED,
                "chosen_by": p.chosen_by or "",
                "candidates": p.candidates,
                "chosen_candidate": p.chosen_candidate,
                "models": _names(
                    f"{m.name} [{m.role}] revision {m.revision}, licence {m.licence}"
                    for m in p.models
                ),
                "retouch": _names(
                    f"{c.name} {pct(c.human_paint_share, 2)} {hms(c.active_seconds)}"
                    for c in p.retouchers()
                ),
                "inpaint_masks": _names(
                    f"{m.directed_by} ({m.model}; {m.changed_px} px"
                    + (f" at {bbox_text(m.bbox)}" if m.bbox else "")
                    + ")"
                    for m in p.masks
                ),
                "adjusted_by": _names(p.adjusted_by),
                "active_seconds": p.active_seconds,
                "gpu_seconds": p.gpu_seconds,
                "approver": p.approver or "",
                "approved_at": p.approved_at or "",
                "review_comment": p.review_comment or "",
                "image_sha256": p.image_sha256,
                "raster_sha256": p.raster_sha256,
                "layout_sha256": p.layout_sha256 or "",
                "events": p.events,
                "last_event_hash": p.last_event_hash,
                "credit_en": en,
                "credit_ja": ja,
            }
        )
    return rows


def contributor_rows(report: CreditReport) -> list[dict[str, Any]]:
    return [
        {
            "episode": p.episode,
            "shot": p.shot,
            "plate": p.plate,
            "status": p.status,
            "person": c.name,
            "roles": _names(c.roles),
            "human_paint_share": c.human_paint_share,
            "painted_px": c.painted_px,
            "active_seconds": c.active_seconds,
            "sessions": c.sessions,
            "masks": c.masks,
        }
        for p in report.plates
        for c in p.contributors
    ]


def _scopes(report: CreditReport) -> list[ScopeSummary]:
    return [report.production_summary, *report.episodes]


def people_rows(report: CreditReport) -> list[dict[str, Any]]:
    return [
        {
            "scope": s.scope,
            "scope_name": s.name,
            "rank": pc.rank,
            "person": pc.name,
            "roles": _names(pc.roles),
            "plates": pc.plates,
            "painted_px": pc.painted_px,
            "human_paint_share": pc.human_paint_share,
            "active_seconds": pc.active_seconds,
            "rank_by_time": pc.rank_by_time,
            "layouts": pc.layouts,
            "prompts": pc.prompts,
            "sessions": pc.sessions,
            "masks": pc.masks,
            "approvals": pc.approvals,
        }
        for s in _scopes(report)
        for pc in s.people
    ]


def summary_rows(report: CreditReport) -> list[dict[str, Any]]:
    rows = []
    for s in _scopes(report):
        row: dict[str, Any] = {
            "scope": s.scope,
            "name": s.name,
            "plates": s.plates,
            "accepted": s.accepted,
            "open": s.open,
            "rejected": s.rejected,
            "pixels": s.pixels,
            "human_paint_share": s.human_paint_share,
            "ai_gen_share": s.ai_gen_share,
            "ai_inpaint_share": s.ai_inpaint_share,
            "human_base_share": s.human_base_share,
        }
        row.update({f"grade_{g}": s.grade_distribution.get(g, 0) for g in GRADES})
        row.update(
            {
                "unmodified": s.unmodified,
                "unmodified_share": s.unmodified_share,
                "candidates": s.candidates,
                "masks": s.masks,
                "active_seconds": s.active_seconds,
                "gpu_seconds": s.gpu_seconds,
                "models": _names(s.models),
                "credit_en": s.credit_en,
                "credit_ja": s.credit_ja,
                "credit_line": s.credit_line,
            }
        )
        rows.append(row)
    return rows


def definition_rows(report: CreditReport) -> list[dict[str, Any]]:
    d = report.definition
    rows: list[tuple[str, Any]] = [
        ("report", "bgart background credit report"),
        ("production", report.production),
        ("episode", report.episode_filter or "all"),
        ("generated_at", report.generated_at),
        ("ledger_events", report.ledger_events),
        ("ledger_head", report.ledger_head),
        ("definition_version", d.version),
        ("delta_e76_threshold", d.delta_e),
        ("grade_b", d.grade_b),
        ("grade_c", d.grade_c),
        ("grade_d", d.grade_d),
    ]
    rows += [(f"grade_{g}", rule) for g, rule in d.grade_rules.items()]
    rows += [(f"definition_{i}", line) for i, line in enumerate(d.text, 1)]
    return [{"key": k, "value": _cell(v)} for k, v in rows]  # a key/value table: all text


#: Column order of each CSV table (the header is written even when a table has no rows).
COLUMNS: dict[str, tuple[str, ...]] = {
    "plates": (
        "episode",
        "shot",
        "plate",
        "version",
        "status",
        "grade",
        "grade_reason",
        "human_paint_share",
        "ai_gen_share",
        "ai_inpaint_share",
        "human_base_share",
        "human_touched_share",
        "adjust_share",
        "unattributed_share",
        "width",
        "height",
        "pixels",
        "layout_artists",
        "prompt_author",
        "chosen_by",
        "candidates",
        "chosen_candidate",
        "models",
        "retouch",
        "inpaint_masks",
        "adjusted_by",
        "active_seconds",
        "gpu_seconds",
        "approver",
        "approved_at",
        "review_comment",
        "image_sha256",
        "raster_sha256",
        "layout_sha256",
        "events",
        "last_event_hash",
        "credit_en",
        "credit_ja",
    ),
    "contributors": (
        "episode",
        "shot",
        "plate",
        "status",
        "person",
        "roles",
        "human_paint_share",
        "painted_px",
        "active_seconds",
        "sessions",
        "masks",
    ),
    "people": (
        "scope",
        "scope_name",
        "rank",
        "person",
        "roles",
        "plates",
        "painted_px",
        "human_paint_share",
        "active_seconds",
        "rank_by_time",
        "layouts",
        "prompts",
        "sessions",
        "masks",
        "approvals",
    ),
    "summary": (
        "scope",
        "name",
        "plates",
        "accepted",
        "open",
        "rejected",
        "pixels",
        "human_paint_share",
        "ai_gen_share",
        "ai_inpaint_share",
        "human_base_share",
        *(f"grade_{g}" for g in GRADES),
        "unmodified",
        "unmodified_share",
        "candidates",
        "masks",
        "active_seconds",
        "gpu_seconds",
        "models",
        "credit_en",
        "credit_ja",
        "credit_line",
    ),
    "definition": ("key", "value"),
}

TABLES: dict[str, Callable[[CreditReport], list[dict[str, Any]]]] = {
    "plates": plate_rows,
    "contributors": contributor_rows,
    "people": people_rows,
    "summary": summary_rows,
    "definition": definition_rows,
}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)  # shortest text that reads back as the same float
    return str(value)


#: Text a spreadsheet (Excel, LibreOffice, Numbers) may take for a formula when it opens a
#: CSV: OWASP's list, plus the full-width forms a Japanese IME types.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")


def _csv_text(value: Any) -> str:
    """A CSV cell: numbers as numbers; text that starts like a formula (a person named
    ``=HYPERLINK(...)``, a comment starting with ``@``) gets a leading ``'`` so spreadsheets
    show it as text (OWASP's advice). Text already starting with ``'`` gets one more, so
    :func:`read_csv` can always take exactly one off and give the text back unchanged."""
    if not isinstance(value, str):
        return _cell(value)
    return f"'{value}" if value.startswith((*FORMULA_START, "'")) else value


def render_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    buf = io.StringIO()
    cols = list(columns or (rows[0].keys() if rows else []))
    writer = csv.DictWriter(buf, fieldnames=cols, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_text(row.get(k)) for k in cols})
    return buf.getvalue()


INT_COLUMNS = frozenset(
    {
        "version",
        "width",
        "height",
        "pixels",
        "candidates",
        "chosen_candidate",
        "events",
        "sessions",
        "masks",
        "rank",
        "plates",
        "rank_by_time",
        "layouts",
        "prompts",
        "approvals",
        "accepted",
        "open",
        "rejected",
        "unmodified",
        *(f"grade_{g}" for g in GRADES),
    }
)
FLOAT_COLUMNS = frozenset(
    {
        "human_paint_share",
        "ai_gen_share",
        "ai_inpaint_share",
        "human_base_share",
        "human_touched_share",
        "adjust_share",
        "unattributed_share",
        "active_seconds",
        "gpu_seconds",
        "painted_px",
        "unmodified_share",
    }
)


MAX_REPORT_BYTES = 64 * MIB  # a credit report read back (JSON, CSV): far above any production


def read_csv(path: Path) -> list[dict[str, Any]]:
    """Rows of a CSV written here, numbers read back as numbers (an empty number is None).

    The ``value`` column of the definition table stays text. The ``'`` that
    :func:`render_csv` puts before text starting like a formula is taken off again.
    """
    # bounded: a CSV path may come from a user (``/dev/zero``, a FIFO, a huge file)
    text = read_bounded_text(path, str(path), MAX_REPORT_BYTES, kind="CSV file")
    try:
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise InputError(f"{path}: cannot read CSV ({exc})") from None
    return [{k: _parse(k, v) for k, v in row.items()} for row in rows]


def _parse(column: str, text: str) -> Any:
    if column in INT_COLUMNS:
        return int(text) if text else None
    if column in FLOAT_COLUMNS:
        return float(text) if text else None
    return text[1:] if text.startswith("'") else text
