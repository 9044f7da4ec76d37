"""A production with a Japanese title: its signing identity, its reports on a machine with no
CJK system font, and the full title in the Content Credentials (issue 20, items 1 and 2)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from helpers.credits import PRODUCTION, build_project, lock_catalog
from pypdf import PdfReader

from bgart.credits import build_report, init_signing, make_test_chain, render_html, write_reports
from bgart.credits.fonts import FAMILY
from bgart.ledger import Project

TITLE = "葬送のフリーレン 第二期 夜行列車"


@pytest.fixture(scope="module")
def jp_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """The credits production (山田 花子 among its painters), retitled in Japanese."""
    root = tmp_path_factory.mktemp("jp") / "show"
    build_project(root).close()
    toml = root / "bgart.toml"
    text = toml.read_text(encoding="utf-8").replace(PRODUCTION, TITLE)
    toml.write_text(text, encoding="utf-8")
    proj = Project.open(root)
    assert proj.settings.production == TITLE
    yield proj
    proj.close()


def _no_cjk_fonts(tmp: Path) -> dict[str, str]:
    """An environment whose fontconfig sees no font at all (so no CJK font either)."""
    (tmp / "fonts").mkdir()
    conf = tmp / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
        f"<dir>{tmp / 'fonts'}</dir><cachedir>{tmp / 'cache'}</cachedir></fontconfig>",
        encoding="utf-8",
    )
    return {**os.environ, "FONTCONFIG_FILE": str(conf), "PYTHONWARNINGS": "ignore"}


def _embedded_fonts(reader: PdfReader) -> set[str]:
    names: set[str] = set()
    for page in reader.pages:
        fonts = page["/Resources"].get("/Font") or {}
        for ref in fonts.values():
            names.add(str(ref.get_object()["/BaseFont"]))
    return names


def test_long_japanese_title_makes_a_signing_identity(tmp_path: Path) -> None:
    """A title over 64 UTF-8 bytes crashed init_signing ("Attribute's length must be >= 1
    and <= 64"); the cut is on character boundaries and keeps the role suffix."""
    long_title = TITLE * 4
    chain, _key, _root = make_test_chain(long_title)
    leaf, root = x509.load_pem_x509_certificates(chain)
    cn = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    org = leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
    assert isinstance(cn, str) and isinstance(org, str)
    assert cn.endswith("… bgart signer") and cn.startswith(TITLE)
    assert org.startswith(TITLE) and org.endswith("…") and len(org.encode()) <= 64
    assert "\ufffd" not in cn + org  # no character cut in half
    root_cn = root.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert isinstance(root_cn, str) and root_cn.endswith("(not publicly trusted)")
    init_signing(tmp_path, long_title)
    assert (tmp_path / "signing" / "cert_chain.pem").is_file()


def test_html_embeds_the_font_and_names_everyone(jp_project: Project) -> None:
    report = build_report(jp_project, catalog=lock_catalog(jp_project))
    html = render_html(report)
    assert f'font-family: "{FAMILY}"' in html
    assert 'src: url("data:font/woff2;base64,' in html
    assert TITLE in html and "山田 花子" in html


def test_pdf_renders_japanese_without_any_system_font(jp_project: Project, tmp_path: Path) -> None:
    """The PDF is written in a process whose fontconfig has no font: Japanese still comes out
    as text, set in the embedded Noto Sans CJK JP and no other font."""
    env = _no_cjk_fonts(tmp_path)
    listed = subprocess.run(
        ["fc-list", ":lang=ja"], env=env, capture_output=True, text=True, check=False
    )
    assert listed.stdout.strip() == ""  # the simulated machine has no Japanese font
    report = build_report(jp_project, catalog=lock_catalog(jp_project))
    out = tmp_path / "out"
    write_reports(report, out, ["html"])
    script = (
        "import sys; from pathlib import Path; from bgart.credits.html_page import render_pdf; "
        "Path(sys.argv[2]).write_bytes(render_pdf(Path(sys.argv[1]).read_text('utf-8')))"
    )
    pdf = out / "credits.pdf"
    subprocess.run(
        [sys.executable, "-c", script, str(out / "credits.html"), str(pdf)],
        env=env,
        check=True,
        timeout=300,
    )
    reader = PdfReader(io.BytesIO(pdf.read_bytes()))
    fonts = _embedded_fonts(reader)
    assert fonts and all(f.endswith("+bgart-Noto-Sans-CJK-JP") for f in fonts), fonts
    text = " ".join(page.extract_text() or "" for page in reader.pages)
    assert TITLE in text
    assert "山田 花子" in text and "背景美術" in text


def test_full_title_goes_in_the_reports(jp_project: Project, tmp_path: Path) -> None:
    report = build_report(jp_project, catalog=lock_catalog(jp_project), thumbnails=False)
    written = write_reports(report, tmp_path, ["json", "csv"])
    assert any(TITLE in p.read_text(encoding="utf-8-sig") for p in written if p.suffix == ".json")
