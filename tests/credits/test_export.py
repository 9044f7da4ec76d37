"""Exports of accepted plates: C2PA-signed PNGs that validate (and stop validating when one
pixel byte changes), layered PSDs that recompose to the plate, and the `bgart credits` CLI."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
import struct
import threading
import zlib
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import c2pa
import numpy as np
import pytest
from helpers.credits import (
    DIRECTOR,
    INPAINT_MODEL,
    LICENCE,
    LOCK_TEXT,
    MODEL,
    PRODUCTION,
    REVISION,
    ai_image,
    build_project,
    layout_png,
    lock_catalog,
    png,
    record,
)
from PIL import Image
from psd_tools import PSDImage

from bgart import plates as workflow
from bgart.cli import main
from bgart.credits import (
    SUMS_FILE,
    CreditReport,
    ExportedPlate,
    LoadedSigner,
    build_report,
    export_plates,
    init_signing,
    make_test_chain,
    signing_identity,
)
from bgart.credits.c2pa import (
    COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
    DIGITAL_CREATION,
    HUMAN_EDITS,
    TRAINED_ALGORITHMIC_MEDIA,
    HumanBase,
    LayoutIngredient,
    PlateManifest,
    TimeStampError,
    format_credits,
    layout_definition,
    read_credentials,
    sign_png,
    verify_png,
)
from bgart.credits.c2pa.sign import _sign_bytes
from bgart.errors import InputError
from bgart.ledger import Project
from bgart.settings import load_settings


@pytest.fixture(scope="module")
def report(project: Project) -> CreditReport:
    return build_report(project, catalog=lock_catalog(project), thumbnails=False)


@pytest.fixture(scope="module")
def exported(project: Project, report: CreditReport) -> dict[str, ExportedPlate]:
    notes: list[str] = []
    items = export_plates(project, report, say=notes.append)
    assert len(notes) == 1 and "NOT on the public C2PA trust list" in notes[0]
    return {item.shot: item for item in items}


def _root(project: Project) -> Path:
    return project.root / "signing" / "root_ca.pem"


def flip_one_pixel_byte(png: bytes) -> bytes:
    """The same PNG, every chunk kept (the C2PA one too), with one pixel byte changed: the
    image data is re-encoded unfiltered from the decoded pixels with that byte flipped."""
    pixels = np.array(Image.open(io.BytesIO(png)).convert("RGB"))
    assert png[25] == 2 and png[24] == 8  # IHDR: 8-bit RGB, as bgart writes plates
    pixels[0, 0, 0] ^= 0x01
    raw = b"".join(b"\x00" + row.tobytes() for row in pixels)  # filter type 0 per row
    chunks: list[tuple[bytes, bytes]] = []
    pos = 8
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        chunks.append((png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    out = bytearray(png[:8])
    idat_written = False
    for kind, data in chunks:
        if kind == b"IDAT":
            if idat_written:
                continue
            data, idat_written = zlib.compress(raw), True
        out += struct.pack(">I", len(data)) + kind + data
        out += struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return bytes(out)


def _actions(creds: dict) -> list[dict]:  # type: ignore[type-arg]
    return [a for entry in creds["history"] for a in entry["actions"]]


# --- signed PNGs ---------------------------------------------------------------------------


def test_exports_land_per_episode_with_checksums(
    project: Project, exported: dict[str, ExportedPlate]
) -> None:
    ep1 = project.exports_dir / "EP01"
    assert sorted(p.name for p in ep1.iterdir()) == [
        "EP01_C001.png",
        "EP01_C001.psd",
        "EP01_C002.png",
        "EP01_C002.psd",
        SUMS_FILE,
    ]
    assert (project.exports_dir / "EP02" / "EP02_C001.png").is_file()
    sums = dict(reversed(line.split("  ")) for line in (ep1 / SUMS_FILE).read_text().splitlines())
    for name, sha in sums.items():
        assert hashlib.sha256((ep1 / name).read_bytes()).hexdigest() == sha


def test_signed_png_validates_and_keeps_the_plate_pixels(
    project: Project, exported: dict[str, ExportedPlate]
) -> None:
    for shot, item in exported.items():
        assert item.png is not None
        result = verify_png(item.png, trust_anchors=_root(project))
        assert result.ok and result.trusted, (shot, result.problems)
        untrusted = verify_png(item.png)  # no anchor: intact, signer merely unknown
        assert untrusted.ok and not untrusted.trusted
        pixels = np.asarray(Image.open(item.png).convert("RGB"))
        assert np.array_equal(pixels, workflow.plate_state(project, shot).image)


def test_flipping_one_pixel_byte_breaks_validation(
    exported: dict[str, ExportedPlate], tmp_path: Path
) -> None:
    original = exported["EP01_C002"].png.read_bytes()  # type: ignore[union-attr]
    tampered = flip_one_pixel_byte(original)
    a = np.asarray(Image.open(io.BytesIO(original)).convert("RGB")).astype(int)
    b = np.asarray(Image.open(io.BytesIO(tampered)).convert("RGB")).astype(int)
    assert int(np.abs(a - b).sum()) == 1  # exactly one byte of one pixel changed
    path = tmp_path / "tampered.png"
    path.write_bytes(tampered)
    result = verify_png(path)
    assert not result.ok
    assert any("dataHash.mismatch" in p for p in result.problems), result.problems


def test_manifest_states_the_history_and_figures(
    project: Project, report: CreditReport, exported: dict[str, ExportedPlate]
) -> None:
    creds = read_credentials(exported["EP01_C002"].png)  # type: ignore[arg-type]
    actions = _actions(creds)
    kinds = [a["action"] for a in actions]
    assert kinds[:2] == ["c2pa.created", "c2pa.created"]  # layout, then the AI plate
    assert actions[1]["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
    assert actions[1]["parameters"]["org.bgart.revision"] == REVISION
    assert actions[1]["parameters"]["org.bgart.licence"] == LICENCE
    assert kinds[2:] == ["c2pa.opened", "c2pa.drawing", "c2pa.drawing", "c2pa.edited"]
    # the active manifest states the retouched plate as a whole: a composite with AI media
    assert actions[2]["digitalSourceType"] == COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA
    assert creds["actions"][0]["digitalSourceType"] == COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA
    paint_a, paint_b, inpaint = actions[3:]
    assert paint_a["digitalSourceType"] == HUMAN_EDITS
    assert paint_a["parameters"]["org.bgart.person"] == "山田 花子"
    assert paint_b["parameters"]["org.bgart.person"] == "Ito Aoi"
    assert inpaint["digitalSourceType"] == COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA
    assert inpaint["parameters"]["org.bgart.person"] == "Mori Ren"
    assert inpaint["parameters"]["org.bgart.model"] == INPAINT_MODEL
    shape = inpaint["changes"][0]["region"][0]["shape"]
    assert (shape["origin"], shape["width"], shape["height"]) == ({"x": 40, "y": 10}, 10, 10)
    layout_ing = creds["history"][0]
    assert layout_ing["authors"] == ["Tanaka Haruto"]

    figures = creds["contribution"]
    plate = report.plates[1]
    assert figures["raster_sha256"] == plate.raster_sha256
    assert figures["image_sha256"] == plate.image_sha256
    assert figures["human_paint_share"] == plate.human_paint_share
    assert figures["ai_inpaint_share"] == plate.ai_inpaint_share
    assert figures["grade"] == "D" and figures["approver"] == DIRECTOR
    assert [r["artist"] for r in figures["retouch"]] == ["山田 花子", "Ito Aoi"]
    assert figures["production"] == PRODUCTION
    assert "Background Retouch: 山田 花子, Ito Aoi;" in figures["credit_line"]
    assert "背景レタッチ：山田 花子、Ito Aoi／" in figures["credit_line_ja"]

    plain = read_credentials(exported["EP01_C001"].png)  # type: ignore[arg-type]
    plain_kinds = [a["action"] for a in _actions(plain)]
    assert plain_kinds == ["c2pa.created", "c2pa.created"]
    assert plain["contribution"]["grade"] == "F"
    assert plain["contribution"]["prompt_author"] == "not recorded"


def test_assertions_bgart_makes_are_created_assertions(
    exported: dict[str, ExportedPlate],
) -> None:
    """C2PA 2.x: assertions the claim generator makes itself are created assertions; gathered
    ones are for assertions taken from elsewhere. The ingredients and thumbnails c2pa-rs adds
    are created too (setting ``builder.created_assertion_labels``); nothing is gathered."""
    path = exported["EP01_C002"].png
    assert path is not None
    with open(path, "rb") as fh, c2pa.Reader("image/png", fh) as reader:
        detail = json.loads(reader.detailed_json())
    claim = detail["manifests"][detail["active_manifest"]]["claim"]
    created = {a["url"].rsplit("/", 1)[-1] for a in claim["created_assertions"]}
    gathered = {a["url"].rsplit("/", 1)[-1] for a in claim.get("gathered_assertions", [])}
    for label in (
        "c2pa.actions.v2",
        "org.bgart.contribution",
        "org.bgart.people",
        "c2pa.ingredient.v3",
        "c2pa.thumbnail.claim",
        "c2pa.thumbnail.ingredient",
    ):
        assert label in created and label not in gathered, (label, created, gathered)
    assert not gathered


# --- layered PSDs --------------------------------------------------------------------------


def test_psd_layers_recompose_to_the_final_plate(
    project: Project, exported: dict[str, ExportedPlate]
) -> None:
    expected = {
        "EP01_C001": [f"AI – {MODEL}"],
        "EP01_C002": [
            f"AI – {MODEL}",
            "Retouch – 山田 花子",
            "Retouch – Ito Aoi",
            f"AI inpaint – {INPAINT_MODEL} (mask by Mori Ren)",
        ],
        "EP02_C001": [f"AI – {MODEL}", "Retouch – Kobayashi Mei"],
    }
    for shot, item in exported.items():
        psd = PSDImage.open(item.psd)
        assert [layer.name for layer in psd] == expected[shot]
        final = workflow.plate_state(project, shot).image
        assert np.array_equal(np.asarray(psd.composite().convert("RGB")), final)
        forced = np.asarray(psd.composite(force=True).convert("RGB"), dtype=int)
        assert np.abs(forced - final.astype(int)).max() <= 1  # re-rendered from the layers
    # A retouch layer holds exactly the pixels its session changed.
    psd = PSDImage.open(exported["EP01_C002"].psd)
    ito = np.asarray(psd[2].composite(viewport=psd.viewbox).convert("RGBA"))
    assert (ito[..., 3] > 0).sum() == 8 * 60


def test_psd_edit_layers_hold_only_their_own_pixels(exported: dict[str, ExportedPlate]) -> None:
    """Turning masks off (or reading the layer on its own) shows no AI pixels in a
    "Retouch" layer: the layer is transparent outside what that artist changed."""
    path = exported["EP01_C002"].psd
    psd = PSDImage.open(path)
    ito = psd[2]
    assert ito.name == "Retouch – Ito Aoi" and not ito.has_mask()
    pixels = np.asarray(ito.topil())
    assert pixels.shape == (60, 80, 4)
    painted = pixels[..., 3] > 0
    assert painted.sum() == 8 * 60 and painted[:, 16:24].all()
    assert (pixels[painted][:, :3] == (255, 255, 0)).all()  # Ito's yellow, nothing else
    assert not pixels[~painted].any()  # no hidden plate pixels behind the transparency
    with Image.open(path) as pil:  # Pillow skipped every layer of a masked RGB document
        assert len(pil.layers) == 4


def test_verify_with_trust_refuses_a_signer_outside_that_root(
    project: Project,
    exported: dict[str, ExportedPlate],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An outsider signs the studio's plate with their own identity named like the
    production: `verify --trust <studio root>` must fail and say the signer does not chain to
    that root (it printed "valid" and called the untrusted signer expected)."""
    chain, key = init_signing(tmp_path / "outsider", PRODUCTION)
    forged = tmp_path / "EP01_C001.png"
    plate = exported["EP01_C001"].png.read_bytes()  # type: ignore[union-attr]
    sign_png(
        plate,
        forged,
        PlateManifest(
            title="EP01_C001.png",
            production=PRODUCTION,
            ai_plate=None,
            base=HumanBase(artist="Forger Name", origin="hand-painted"),
            contribution={"shot": "EP01_C001", "grade": "A", "human_paint_share": 1.0},
            people=[DIRECTOR],
        ),
        chain,
        key,
    )
    root = _root(project)
    assert main(["credits", "verify", str(forged), "--trust", str(root)]) == 1
    shown = capsys.readouterr().out
    assert f"signer does not chain to {root}" in shown, shown
    assert "valid C2PA manifest" not in shown and "expected" not in shown

    genuine = exported["EP01_C001"].png
    assert main(["credits", "verify", str(genuine), "--trust", str(root)]) == 0
    shown = capsys.readouterr().out
    assert "valid C2PA manifest" in shown and f"signer chains to {root}" in shown
    assert "note: signer untrusted" not in shown


def _sums(folder: Path) -> dict[str, str]:
    lines = (folder / SUMS_FILE).read_text().splitlines()
    return {name: sha for sha, name in (line.split("  ", 1) for line in lines)}


def test_export_withdraws_plates_no_longer_accepted(tmp_path: Path) -> None:
    """A plate exported while accepted and rejected afterwards: the next export moves its
    signed PNG (which states an approval) and PSD out of the episode folder into withdrawn/,
    says so, and SHA256SUMS lists exactly the files left there."""
    proj = build_project(tmp_path / "show")
    export_plates(
        proj, build_report(proj, catalog=lock_catalog(proj), thumbnails=False), say=lambda _m: None
    )
    ep1 = proj.exports_dir / "EP01"
    workflow.reject(proj, "EP01_C002", DIRECTOR, "wrong time of day")
    said: list[str] = []
    items = export_plates(
        proj, build_report(proj, catalog=lock_catalog(proj), thumbnails=False), say=said.append
    )
    proj.close()
    assert sorted(item.shot for item in items) == ["EP01_C001", "EP02_C001"]
    assert sorted(p.name for p in ep1.iterdir()) == [
        "EP01_C001.png",
        "EP01_C001.psd",
        SUMS_FILE,
        "withdrawn",
    ]
    assert sorted(p.name for p in (ep1 / "withdrawn").iterdir()) == [
        "EP01_C002.png",
        "EP01_C002.psd",
    ]
    (line,) = [m for m in said if "EP01_C002" in m]
    assert "no longer accepted (rejected)" in line and "withdrawn" in line, said
    sums = _sums(ep1)
    assert sorted(sums) == ["EP01_C001.png", "EP01_C001.psd"]
    for name, sha in sums.items():
        assert hashlib.sha256((ep1 / name).read_bytes()).hexdigest() == sha


def test_interrupted_export_leaves_no_stale_checksums(tmp_path: Path) -> None:
    """An export that stops part-way (here: a folder where a PSD should go) must not leave
    the previous run's SHA256SUMS beside files it has since rewritten."""
    proj = build_project(tmp_path / "show")
    report = build_report(proj, catalog=lock_catalog(proj), thumbnails=False)
    export_plates(proj, report, say=lambda _m: None)
    ep1 = proj.exports_dir / "EP01"
    (ep1 / "EP01_C002.psd").unlink()
    (ep1 / "EP01_C002.psd").mkdir()  # the second plate of EP01 cannot be written
    with pytest.raises(InputError, match=r"EP01_C002\.psd"):
        export_plates(proj, report, say=lambda _m: None)
    proj.close()
    if (ep1 / SUMS_FILE).exists():
        for name, sha in _sums(ep1).items():
            path = ep1 / name
            assert path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == sha, name


# --- signing identity --------------------------------------------------------------------


def test_signing_identity_from_settings(tmp_path: Path) -> None:
    proj = build_project(tmp_path / "p")
    with pytest.raises(InputError, match="run `bgart credits init-signing`"):
        signing_identity(proj)
    chain, key = signing_identity(proj, create=True)
    assert chain == proj.root / "signing" / "cert_chain.pem"
    toml = proj.root / "bgart.toml"
    toml.write_text(toml.read_text() + 'signing_cert = "signing/cert_chain.pem"\n')
    proj.close()
    with Project.open(proj.root) as half, pytest.raises(InputError, match="'signing_key'"):
        signing_identity(half)
    toml.write_text(toml.read_text() + 'signing_key = "signing/signer.key"\n')
    with Project.open(proj.root) as full:
        assert signing_identity(full) == (chain, key)


class _FailingTsa(BaseHTTPRequestHandler):
    """A time-stamp authority on this machine that answers every query with HTTP 503."""

    queries: ClassVar[list[tuple[str, str | None]]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.queries.append((self.path, self.headers.get("Content-Type")))
        self.send_response(503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_tsa_url_setting_reaches_the_signer_and_a_failing_one_stops_the_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Setting tsa_url (bgart.toml or BGART_TSA_URL) makes the export ask that time-stamp
    authority; one that gives no time-stamp stops the export in one line naming the URL,
    before anything is written (the earlier export and its SHA256SUMS stay as they were)."""
    proj = build_project(tmp_path / "show")
    export_plates(
        proj, build_report(proj, catalog=lock_catalog(proj), thumbnails=False), say=lambda _m: None
    )
    root = proj.root
    proj.close()
    ep1 = root / "exports" / "EP01"
    before = {p.name: p.read_bytes() for p in ep1.iterdir()}
    assert SUMS_FILE in before

    server = HTTPServer(("127.0.0.1", 0), _FailingTsa)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/tsa"
    _FailingTsa.queries = []
    toml = root / "bgart.toml"
    toml.write_text(toml.read_text() + f'tsa_url = "{url}"\n')
    try:
        with Project.open(root) as proj:
            assert proj.settings.tsa_url == url
            with pytest.raises(TimeStampError) as err:
                export_plates(
                    proj,
                    build_report(proj, catalog=lock_catalog(proj), thumbnails=False),
                    say=lambda _m: None,
                )
        assert str(err.value) == (
            f"time-stamp authority {url} (setting tsa_url) answered HTTP 503; nothing was "
            "exported (fix or remove tsa_url to sign without a time-stamp)"
        )
        # c2pa really sent an RFC 3161 query there: the setting reached the signer.
        assert _FailingTsa.queries == [("/tsa", "application/timestamp-query")]
        assert {p.name: p.read_bytes() for p in ep1.iterdir()} == before

        assert main(["credits", "-p", str(root), "-f", "png"]) == 2
        shown = capsys.readouterr().err
        assert f"error: time-stamp authority {url} (setting tsa_url) answered HTTP 503" in shown
        assert "internal error" not in shown and "Traceback" not in shown
        assert {p.name: p.read_bytes() for p in ep1.iterdir()} == before
    finally:
        server.shutdown()
        server.server_close()

    monkeypatch.setenv("BGART_TSA_URL", "https://tsa.example.com/rfc3161")
    assert load_settings(root).tsa_url == "https://tsa.example.com/rfc3161"  # env wins
    monkeypatch.setenv("BGART_TSA_URL", "tsa.example.com")
    with pytest.raises(InputError, match="BGART_TSA_URL: not an http"):
        load_settings(root)


# --- the command line ----------------------------------------------------------------------


def test_cli_credits_all_then_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build_project(tmp_path / "show").close()
    out = tmp_path / "reports"
    rc = main(
        ["credits", "--project", str(tmp_path / "show"), "--format", "all", "--out", str(out)]
    )
    printed = capsys.readouterr()
    assert rc == 0, printed.err
    paths = [Path(line) for line in printed.out.splitlines()]
    assert all(p.is_file() for p in paths)
    assert sorted(p.name for p in paths if p.parent == out) == sorted(
        [
            "credits.html",
            "credits.pdf",
            "credits.json",
            "credits_plates.csv",
            "credits_contributors.csv",
            "credits_people.csv",
            "credits_summary.csv",
            "credits_definition.csv",
        ]
    )
    assert [p.suffix for p in paths].count(".png") == 3
    assert [p.suffix for p in paths].count(".psd") == 3
    assert "NOT on the public C2PA trust list" in printed.err
    assert "背景レタッチ / Background Retouch：Kobayashi Mei、" in printed.err

    png = tmp_path / "show" / "exports" / "EP01" / "EP01_C002.png"
    assert main(["credits", "verify", str(png)]) == 0
    shown = capsys.readouterr().out
    assert "valid C2PA manifest" in shown
    for text in (
        "Layout: Tanaka Haruto",
        "Retouch: 山田 花子",
        "mask drawn by Mori Ren",
        f"AI plate: {MODEL} revision {REVISION}",
        "Grade: D",
        "Retouch shares: 山田 花子 20.0% (300 s), Ito Aoi 10.0% (120 s)",
        "signer not on a trust list",
    ):
        assert text in shown, text

    bad = tmp_path / "bad.png"
    bad.write_bytes(flip_one_pixel_byte(png.read_bytes()))
    assert main(["credits", "verify", str(bad)]) == 1
    (verdict,) = capsys.readouterr().out.strip().splitlines()  # no forged figures under it
    assert verdict.startswith(f"{bad}: NOT VALID: ")

    assert main(["credits", "init-signing", "--project", str(tmp_path / "show")]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["credits", "-p", str(tmp_path / "show"), "--format", "csv,docx"]) == 2
    assert "--format 'docx'" in capsys.readouterr().err


def test_cli_episode_and_report_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build_project(tmp_path / "show").close()
    out = tmp_path / "r"
    assert (
        main(
            [
                "credits",
                "-p",
                str(tmp_path / "show"),
                "-e",
                "EP02",
                "-f",
                "json",
                "-f",
                "csv",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    names = sorted(Path(line).name for line in capsys.readouterr().out.splitlines())
    assert "credits-EP02.json" in names and len(names) == 6
    assert not (tmp_path / "show" / "signing").exists()  # no PNG asked: no identity made
    assert main(["credits", "init-signing", "-p", str(tmp_path / "show"), "--org", "Studio"]) == 0
    assert re.search(r"cert_chain\.pem", capsys.readouterr().out)


def test_hand_painted_plate_is_signed_as_human_made(tmp_path: Path) -> None:
    """A plate with no AI at all is graded A, exported as a PSD and as a signed PNG whose
    Content Credentials state a human-made base (digitalCreation) and no AI model."""
    proj = Project.init(tmp_path / "hp", production="Small")
    img = np.full((60, 80, 3), 120, np.uint8)
    workflow.record_base(proj, "EP05_C001", img, "Kobayashi Mei")
    workflow.accept(proj, "EP05_C001", DIRECTOR)
    rep = build_report(proj, catalog=lock_catalog(proj), thumbnails=False)
    (plate,) = rep.plates
    assert plate.grade == "A" and plate.models == []
    assert [c.name for c in plate.retouchers()] == ["Kobayashi Mei"]
    (item,) = export_plates(proj, rep, say=lambda _m: None)
    assert item.notes == [] and item.png is not None
    assert verify_png(item.png, trust_anchors=_root(proj)).ok
    creds = read_credentials(item.png)
    (action,) = _actions(creds)
    assert action["action"] == "c2pa.created"
    assert action["digitalSourceType"] == DIGITAL_CREATION
    assert action["parameters"]["org.bgart.person"] == "Kobayashi Mei"
    assert action["parameters"]["org.bgart.origin"] == "hand-painted"
    assert "trainedAlgorithmicMedia" not in json.dumps(creds)
    assert creds["contribution"]["grade"] == "A" and creds["contribution"]["models"] == "none"
    assert "hand-painted plate imported by Kobayashi Mei (human-made, no AI)" in format_credits(
        creds
    )
    assert np.array_equal(np.asarray(Image.open(item.png).convert("RGB")), img)
    assert [layer.name for layer in PSDImage.open(item.psd)] == [
        "Base – Kobayashi Mei (hand-painted)"
    ]
    proj.close()


def test_imported_plate_with_an_ai_inpaint_is_signed_naming_the_model(tmp_path: Path) -> None:
    """A plate that started as an import gets AI pixels from an inpaint: its signed PNG
    discloses the inpaint model (compositeWithTrainedAlgorithmicMedia) and the mask author."""
    proj = Project.init(tmp_path / "imp", production="Small")
    workflow.record_base(
        proj,
        "EP05_C001",
        np.full((60, 80, 3), (120, 160, 200), np.uint8),
        "Painter Pia",
        origin="hand-painted",
    )
    mask = np.zeros((60, 80), np.uint8)
    mask[0:30, 0:40] = 255
    workflow.record_inpaint(
        proj,
        "EP05_C001",
        png(np.full((60, 80, 3), (250, 20, 20), np.uint8)),
        mask,
        record(81, mode="inpaint", model=INPAINT_MODEL),
        "Mask Max",
    )
    workflow.accept(proj, "EP05_C001", DIRECTOR)
    rep = build_report(proj, catalog=lock_catalog(proj), thumbnails=False)
    (item,) = export_plates(proj, rep, say=lambda _m: None)
    assert item.png is not None and item.notes == []
    assert verify_png(item.png, trust_anchors=_root(proj)).ok
    creds = read_credentials(item.png)
    base, opened, inpaint = _actions(creds)
    assert (base["action"], base["digitalSourceType"]) == ("c2pa.created", DIGITAL_CREATION)
    assert base["parameters"]["org.bgart.person"] == "Painter Pia"
    assert opened["action"] == "c2pa.opened"
    assert inpaint["action"] == "c2pa.edited"
    assert inpaint["digitalSourceType"] == COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA
    assert inpaint["parameters"]["org.bgart.model"] == INPAINT_MODEL
    assert inpaint["parameters"]["org.bgart.person"] == "Mask Max"
    assert creds["contribution"]["ai_inpaint_share"] == pytest.approx(0.25)
    assert INPAINT_MODEL in creds["contribution"]["models"]
    assert creds["authors"] == ["Painter Pia"]  # the approver and mask director: their roles
    assert creds["contributors"] == [
        {"name": "Mask Max", "role": "AI inpaint direction"},
        {"name": DIRECTOR, "role": "approver"},
    ]
    proj.close()


def test_signed_png_names_the_layout_the_plate_used(tmp_path: Path) -> None:
    """A layout imported for the shot after the plate was generated is not its ingredient."""
    proj = Project.init(tmp_path / "lay", production="Small")
    used = layout_png(5)
    workflow.record_layout(proj, "EP03_C001", used, "Sato Yuki", filename="used.png")
    rec = dataclasses.replace(record(51), layout_sha256=hashlib.sha256(used).hexdigest())
    workflow.record_generated(proj, "EP03_C001", png(ai_image(51), rec), rec)
    workflow.accept(proj, "EP03_C001", DIRECTOR)
    workflow.record_layout(proj, "EP03_C001", layout_png(7), "Intruder Ken", filename="new.png")
    (item,) = export_plates(
        proj,
        build_report(proj, catalog=lock_catalog(proj), thumbnails=False),
        psd=False,
        say=lambda _m: None,
    )
    creds = read_credentials(item.png)  # type: ignore[arg-type]
    layout = creds["history"][0]
    assert (layout["title"], layout["authors"]) == ("used.png", ["Sato Yuki"])
    assert "Intruder Ken" not in json.dumps(creds, ensure_ascii=False)
    proj.close()


def test_layout_with_failing_credentials_is_exported_without_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A layout PNG signed by another studio, then one pixel changed (the editor kept its
    C2PA chunk): the export does not pass its failing credentials off inside the plate. The
    layout is embedded without them, the run says so naming the shot and layout, and the
    plate verifies, stating the layout artist and that the credentials were dropped."""
    proj = Project.init(tmp_path / "bad", production="Small")
    chain, key, root = make_test_chain("Other Studio")
    layout = LayoutIngredient(image=b"", title="lay.png", author="Outside Artist")
    plain = Image.open(io.BytesIO(layout_png(7))).convert("RGB")
    buf = io.BytesIO()
    plain.save(buf, "PNG")
    signed = _sign_bytes(
        layout_definition(layout),
        buf.getvalue(),
        "image/png",
        LoadedSigner(chain, key, root, "CN=Other Studio bgart signer"),
    )
    bad = flip_one_pixel_byte(signed)
    assert not verify_png(bad).ok  # its own credentials fail (assertion.dataHash.mismatch)
    workflow.record_layout(proj, "EP03_C001", bad, "Outside Artist", filename="lay.png")
    rec = dataclasses.replace(record(71), layout_sha256=hashlib.sha256(bad).hexdigest())
    workflow.record_generated(proj, "EP03_C001", png(ai_image(71), rec), rec)
    workflow.accept(proj, "EP03_C001", DIRECTOR)
    proj.close()

    assert main(["credits", "-p", str(proj.root), "-f", "png"]) == 0
    said = capsys.readouterr().err
    assert (
        "EP03_C001/main: layout lay.png: its own Content Credentials do not validate "
        "(assertion.dataHash.mismatch); they were dropped and the layout is embedded "
        "with bgart's record of it (layout by Outside Artist)"
    ) in said, said
    exported = proj.root / "exports" / "EP03" / "EP03_C001.png"
    assert main(["credits", "verify", str(exported), "--trust", str(_root(proj))]) == 0
    shown = capsys.readouterr().out
    assert "valid C2PA manifest" in shown
    assert (
        "Layout: Outside Artist (human, digital creation); the file's own Content "
        "Credentials were dropped (did not validate: assertion.dataHash.mismatch)"
    ) in shown
    creds = read_credentials(exported)
    assert creds["history"][0]["signer"]["common_name"] == "Small bgart signer"
    assert "Other Studio" not in json.dumps(creds)


def test_signed_png_does_not_name_a_revision_the_recorded_weights_do_not_match(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """weights.lock moved on (new revision, new file hash) after the plate was generated: the
    signed credentials must not claim the new revision made it; they say it is unknown, why,
    and `credits verify` shows that."""
    lock = tmp_path / "weights.lock"
    lock.write_text(LOCK_TEXT, encoding="utf-8")
    proj = Project.init(tmp_path / "moved", production="Small")
    (proj.root / "bgart.toml").write_text(
        f'production = "Small"\nweights_lock = "{lock}"\n', encoding="utf-8"
    )
    proj.close()
    proj = Project.open(proj.root)
    workflow.record_generated(proj, "EP04_C001", png(ai_image(71), record(71)), record(71))
    workflow.accept(proj, "EP04_C001", DIRECTOR)
    new_rev, new_sha = "f" * 40, hashlib.sha256(b"other weights").hexdigest()
    lock.write_text(
        LOCK_TEXT.replace(REVISION, new_rev).replace(
            hashlib.sha256(b"unet weights").hexdigest(), new_sha
        ),
        encoding="utf-8",
    )
    proj.close()
    proj = Project.open(proj.root)
    (item,) = export_plates(
        proj,
        build_report(proj, catalog=lock_catalog(proj), thumbnails=False),
        psd=False,
        say=lambda _m: None,
    )
    proj.close()
    creds = read_credentials(item.png)  # type: ignore[arg-type]
    assert new_rev not in json.dumps(creds) and REVISION not in json.dumps(creds)
    ai = _actions(creds)[0]["parameters"]
    assert ai["org.bgart.revision"] == "unknown (recorded weights differ from weights.lock)"

    assert main(["credits", "verify", str(item.png)]) == 0
    shown = capsys.readouterr().out
    assert new_rev not in shown
    assert (
        f"AI plate: {MODEL} revision unknown (recorded weights differ from weights.lock)" in shown
    ), shown
    assert "weights differ from weights.lock" in shown


def test_distinct_shots_get_distinct_export_files(tmp_path: Path) -> None:
    """EP03_C1 and EP03_C1_ are two shots: two files each, each listed once in SHA256SUMS;
    two plates that would still share a file stop the export, naming both shots."""
    proj = Project.init(tmp_path / "names", production="Small")
    shots = ("EP03_C1", "EP03_C1_", "EP03_C 1", "EP03_C?1")
    for n, shot in enumerate(shots):
        workflow.record_generated(proj, shot, png(ai_image(61 + n), record(61 + n)), record(61 + n))
        workflow.accept(proj, shot, DIRECTOR)
    items = export_plates(
        proj, build_report(proj, catalog=lock_catalog(proj), thumbnails=False), say=lambda _m: None
    )
    stems = [item.psd.stem for item in items]  # type: ignore[union-attr]
    assert len(set(stems)) == len(shots) and stems[:2] == ["EP03_C1", "EP03_C1_"]
    assert all(re.fullmatch(r"EP03_C_1-[0-9a-f]{8}", s) for s in stems[2:])
    for item in items:
        assert item.png is not None and item.png.stem == item.psd.stem  # type: ignore[union-attr]
        assert read_credentials(item.png)["contribution"]["shot"] == item.shot
    sums = (proj.exports_dir / "EP03" / SUMS_FILE).read_text().splitlines()
    names = [line.split("  ")[1] for line in sums]
    assert sorted(names) == sorted(f"{s}{ext}" for s in stems for ext in (".png", ".psd"))

    clash = Project.init(tmp_path / "clash", production="Small")
    for shot, plate in (
        ("EP03_C1__b", "main"),
        ("EP03_C1", "b"),
        ("EP04_X", "main"),
        ("ep04_x", "main"),
    ):
        workflow.record_generated(
            clash, shot, png(ai_image(70), record(70)), record(70), plate=plate
        )
        workflow.accept(clash, shot, DIRECTOR, plate=plate)
    rep = build_report(clash, catalog=lock_catalog(clash), thumbnails=False)
    with pytest.raises(
        InputError,
        match=r"shot EP03_C1 \(plate b\) and shot EP03_C1__b "
        r"\(plate main\) would both be exported as "
        r"EP03/EP03_C1__b",
    ):
        export_plates(clash, rep, say=lambda _m: None)
    assert not clash.exports_dir.exists() or not any(clash.exports_dir.rglob("*.p*"))
    rep.plates = [p for p in rep.plates if p.shot.startswith(("EP04", "ep04"))]
    with pytest.raises(
        InputError,
        match=r"shot EP04_X .* and shot ep04_x .* as EP04/EP04_X "
        r"and ep04/ep04_x \(one file where letter case",
    ):
        export_plates(clash, rep, say=lambda _m: None)
    clash.close()
    proj.close()
