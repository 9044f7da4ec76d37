"""The credit report written out: CSV, JSON, HTML and PDF (:func:`write_reports`).

* JSON: ``credits.json``, the whole :class:`~bgart.credits.model.CreditReport`
  (:meth:`~bgart.credits.model.CreditReport.from_dict` reads it back; :func:`read_json`).
* CSV (UTF-8 with a byte-order mark, so spreadsheet programs show Japanese names): one file
  per table, ``credits_plates.csv`` (a row per plate), ``credits_contributors.csv`` (a row per
  plate and person), ``credits_people.csv`` (ranked people per episode and production),
  ``credits_summary.csv`` (totals, grade distribution, credit lines) and
  ``credits_definition.csv`` (the definition and grade thresholds in force); the tables are
  in :mod:`bgart.credits.tables`.
* HTML: ``credits.html``, one self-contained file (styles inline, thumbnails as data URIs).
* PDF: ``credits.pdf``, the same HTML rendered by WeasyPrint. Pages: the summary (one page per
  summarised scope), the plate overview, one page per plate, the definition (both in
  :mod:`bgart.credits.html_page`).

With ``--episode EP01`` the files are named ``credits-EP01.*``, ``credits-EP01_plates.csv``….
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from bgart.credits.html_page import render_html, render_pdf
from bgart.credits.model import CreditReport
from bgart.credits.tables import COLUMNS, CSV_TABLES, MAX_REPORT_BYTES, TABLES, render_csv
from bgart.errors import InputError
from bgart.fsutil import atomic_write_bytes, read_bounded_text, safe_name

REPORT_FORMATS = ("csv", "json", "html", "pdf")


def base_name(report: CreditReport) -> str:
    """``credits`` or ``credits-<episode>``: the episode as a safe file name (``OVA/2``
    would otherwise write into a folder ``credits-OVA``, ``../x`` outside the reports)."""
    return f"credits-{safe_name(report.episode_filter)}" if report.episode_filter else "credits"


def _write(path: Path, data: bytes) -> Path:
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise InputError(f"{path}: cannot write ({exc.strerror})") from None
    return path


# --- JSON -----------------------------------------------------------------------------------


def render_json(report: CreditReport) -> str:
    return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"


def read_json(path: Path) -> CreditReport:
    # bounded: a report path may come from a user (``/dev/zero``, a FIFO, a huge file)
    text = read_bounded_text(path, str(path), MAX_REPORT_BYTES, kind="credit report")
    try:
        return CreditReport.from_dict(json.loads(text))
    except (ValueError, TypeError, KeyError, RecursionError) as exc:
        raise InputError(f"{path}: not a bgart credit report ({exc})") from None


# --- writing --------------------------------------------------------------------------------


def write_reports(report: CreditReport, out: Path, formats: Iterable[str]) -> list[Path]:
    """Write the requested report formats into ``out``; returns the files written."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out}: cannot create folder ({exc.strerror})") from None
    wanted = set(formats)
    unknown = wanted - set(REPORT_FORMATS)
    if unknown:
        raise InputError(
            f"format '{sorted(unknown)[0]}': not a report format ({', '.join(REPORT_FORMATS)})"
        )
    base = base_name(report)
    written: list[Path] = []
    if "csv" in wanted:
        for table in CSV_TABLES:
            text = render_csv(TABLES[table](report), COLUMNS[table])
            written.append(_write(out / f"{base}_{table}.csv", text.encode("utf-8-sig")))
    if "json" in wanted:
        written.append(_write(out / f"{base}.json", render_json(report).encode("utf-8")))
    html = render_html(report) if wanted & {"html", "pdf"} else ""
    if "html" in wanted:
        written.append(_write(out / f"{base}.html", html.encode("utf-8")))
    if "pdf" in wanted:
        written.append(_write(out / f"{base}.pdf", render_pdf(html)))
    return written
