"""C2PA signing: the test CA, manifests for plain and retouched plates, tamper detection."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import re
import shutil
import socket
import stat
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from PIL import Image

from bgart.credits import (
    C2PA_CLAIM_SIGNING,
    LEAF_DAYS,
    LoadedSigner,
    init_signing,
    load_signer,
    make_test_chain,
)
from bgart.credits.c2pa import (
    COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
    CONTRIBUTION_LABEL,
    DIGITAL_CREATION,
    EXPIRED_TEXT,
    HUMAN_EDITS,
    TRAINED_ALGORITHMIC_MEDIA,
    AiPlate,
    HumanBase,
    Inpaint,
    LayoutIngredient,
    PaintSession,
    PlateManifest,
    TimeStampError,
    format_credits,
    layout_definition,
    plate_definition,
    read_credentials,
    sign_png,
    verify_png,
)
from bgart.credits.c2pa.read import _manifest_failures, _read_store
from bgart.credits.c2pa.sign import _sign_bytes
from bgart.errors import BgartError, InputError

W, H = 64, 48


def _png(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8), "RGB").save(buf, "PNG")
    return buf.getvalue()


def _manifest(tmp: Path, *, retouched: bool) -> PlateManifest:
    layout = tmp / "layout.png"
    layout.write_bytes(_png(1))
    edits = (
        [
            Inpaint(model="anime-sd15-inpaint", mask_author="Ren Mori", bbox=(4, 6, 20, 10)),
            PaintSession(artist="山田 花子", bbox=(0, 0, 30, 30), seconds=312.0),
        ]
        if retouched
        else []
    )
    return PlateManifest(
        title="c012_bg.png",
        production="Test Show",
        ai_plate=AiPlate(
            model="anime-sd15",
            revision="0123abcd",
            licence="CreativeML OpenRAIL-M",
            image=_png(2) if retouched else None,
            seed=42,
        ),
        layout=LayoutIngredient(image=layout, title="c012_layout.png", author="Aoi Sato"),
        edits=edits,
        contribution={
            "human_paint_share": 0.25 if retouched else 0.0,
            "ai_gen_share": 0.7 if retouched else 1.0,
            "ai_inpaint_share": 0.05 if retouched else 0.0,
            "grade": "D" if retouched else "F",
            "people": ["Aoi Sato", "Ren Mori", "山田 花子"] if retouched else ["Aoi Sato"],
            "raster_sha256": "ab" * 32,
        },
        approver="Kei Art-Director",
    )


@pytest.fixture(scope="module")
def identity(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    project = tmp_path_factory.mktemp("project")
    chain, key = init_signing(project, "Studio Test")
    return chain, key, project / "signing" / "root_ca.pem"


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory, identity) -> dict[str, Path]:
    chain, key, _ = identity
    out = tmp_path_factory.mktemp("signed")
    plain = out / "plain.png"
    sign_png(_png(2), plain, _manifest(out, retouched=False), chain, key)
    retouched = out / "retouched.png"
    sign_png(_png(3), retouched, _manifest(out, retouched=True), chain, key)
    return {"plain": plain, "retouched": retouched}


# --------------------------------------------------------------------------- signing identity


def test_init_signing_makes_a_c2pa_leaf_and_a_root(tmp_path: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="bgart.credits.c2pa.signing"):
        chain_path, key_path = init_signing(tmp_path, "Studio Test")
    assert chain_path == tmp_path / "signing" / "cert_chain.pem"
    assert key_path == tmp_path / "signing" / "signer.key"
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert "NOT on the public C2PA trust list" in caplog.text

    leaf, root = x509.load_pem_x509_certificates(chain_path.read_bytes())
    assert leaf.issuer == root.subject and root.issuer == root.subject
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    ku = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and not ku.value.key_cert_sign
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert C2PA_CLAIM_SIGNING in eku and ExtendedKeyUsageOID.EMAIL_PROTECTION in eku
    ski = leaf.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    root_ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski.digest and aki.key_identifier == root_ski.digest
    assert leaf.public_key().curve.name == "secp256r1"

    with pytest.raises(InputError, match="already exists"):
        init_signing(tmp_path, "Studio Test")
    assert "CN=Studio Test bgart signer" in load_signer(chain_path, key_path).subject


def test_load_signer_errors_name_the_file(tmp_path: Path, identity) -> None:
    chain, key, _ = identity
    missing = tmp_path / "nope.pem"
    with pytest.raises(InputError, match=re.escape(str(missing))):
        load_signer(missing, key)
    with pytest.raises(InputError, match=re.escape(str(missing))):
        load_signer(chain, missing)
    junk = tmp_path / "junk.pem"
    junk.write_text("hello")
    with pytest.raises(InputError, match=re.escape(f"{junk}: not a PEM certificate chain")):
        load_signer(junk, key)
    with pytest.raises(InputError, match=re.escape(f"{junk}: not a PEM private key")):
        load_signer(chain, junk)
    _, other_key = init_signing(tmp_path / "other", "Other Studio")
    with pytest.raises(BgartError, match=re.escape(f"{other_key}: private key does not match")):
        load_signer(chain, other_key)


def test_sign_png_with_missing_cert_names_the_path(tmp_path: Path, identity) -> None:
    _, key, _ = identity
    missing = tmp_path / "signing" / "cert_chain.pem"
    dst = tmp_path / "out.png"
    with pytest.raises(InputError, match=re.escape(str(missing))):
        sign_png(_png(2), dst, _manifest(tmp_path, retouched=False), missing, key)
    assert not dst.exists()


# --------------------------------------------------------------------------- manifests


def test_action_lists_for_plain_and_retouched_plates(tmp_path: Path) -> None:
    def actions(m: PlateManifest) -> list[tuple[str, str | None]]:
        data = plate_definition(m)["assertions"][0]["data"]["actions"]
        return [(a["action"], a.get("digitalSourceType")) for a in data]

    assert actions(_manifest(tmp_path, retouched=False)) == [
        ("c2pa.created", TRAINED_ALGORITHMIC_MEDIA)
    ]
    # the opened action states the plate as a whole: AI and human pixels in one image
    assert actions(_manifest(tmp_path, retouched=True)) == [
        ("c2pa.opened", COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA),
        ("c2pa.edited", COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA),
        ("c2pa.drawing", HUMAN_EDITS),
    ]
    assert TRAINED_ALGORITHMIC_MEDIA == (
        "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
    )


def test_plain_plate_reads_back(signed, identity) -> None:
    creds = read_credentials(signed["plain"])
    assert [a["action"] for a in creds["actions"]] == ["c2pa.created"]
    created = creds["actions"][0]
    assert created["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
    assert created["softwareAgent"] == {"name": "anime-sd15", "version": "0123abcd"}
    assert created["parameters"]["org.bgart.licence"] == "CreativeML OpenRAIL-M"
    assert created["parameters"]["ingredients"]  # linked to the layout ingredient
    assert [(i["title"], i["relationship"]) for i in creds["ingredients"]] == [
        ("c012_layout.png", "inputTo")
    ]
    assert creds["contribution"]["grade"] == "F"
    assert creds["contribution"]["raster_sha256"] == "ab" * 32
    # the approver is credited as approver, not as an author of the pixels
    assert creds["authors"] == ["Aoi Sato"]
    assert creds["contributors"] == [{"name": "Kei Art-Director", "role": "approver"}]
    assert "  Approved by: Kei Art-Director" in format_credits(creds)
    assert creds["signer"]["common_name"] == "Studio Test bgart signer"
    # The layout has its own signed manifest: created by a human, digitalCreation.
    layout_entry = creds["history"][0]
    assert layout_entry["title"] == "c012_layout.png"
    assert [(a["action"], a["digitalSourceType"]) for a in layout_entry["actions"]] == [
        ("c2pa.created", DIGITAL_CREATION)
    ]
    assert layout_entry["authors"] == ["Aoi Sato"]

    result = verify_png(signed["plain"])
    assert result.ok, result.problems
    assert not result.trusted
    assert result.credentials["validation_state"] == "Valid"
    assert [f["code"] for f in creds["validation"]["failure"]] == ["signingCredential.untrusted"]
    assert "assertion.dataHash.match" in creds["validation"]["success"]
    assert any("untrusted" in n for n in result.notes)


def test_project_root_as_trust_anchor_makes_it_trusted(signed, identity) -> None:
    _, _, root = identity
    result = verify_png(signed["retouched"], trust_anchors=root)
    assert result.ok and result.trusted, result.problems
    assert result.credentials["validation_state"] == "Trusted"
    assert result.credentials["validation"]["failure"] == []
    assert result.notes == []


def test_retouched_plate_reads_back(signed) -> None:
    creds = read_credentials(signed["retouched"])
    acts = creds["actions"]
    assert [a["action"] for a in acts] == ["c2pa.opened", "c2pa.edited", "c2pa.drawing"]
    assert acts[1]["digitalSourceType"] == COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA
    shape = acts[1]["changes"][0]["region"][0]["shape"]
    assert (shape["origin"]["x"], shape["origin"]["y"], shape["width"], shape["height"]) == (
        4,
        6,
        20,
        10,
    )
    assert acts[2]["digitalSourceType"] == HUMAN_EDITS
    assert acts[2]["softwareAgent"]["name"] == "bgart"
    assert acts[2]["parameters"]["org.bgart.person"] == "山田 花子"
    assert "山田 花子" in acts[2]["description"]
    assert [(i["title"], i["relationship"]) for i in creds["ingredients"]] == [
        ("AI plate", "parentOf")
    ]
    assert creds["ingredients"][0]["active_manifest"]  # the AI plate's own manifest
    assert [e["title"] for e in creds["history"]] == ["c012_layout.png", "AI plate", "c012_bg.png"]
    ai_actions = creds["history"][1]["actions"]
    assert [(a["action"], a["digitalSourceType"]) for a in ai_actions] == [
        ("c2pa.created", TRAINED_ALGORITHMIC_MEDIA)
    ]
    assert creds["contribution"]["human_paint_share"] == 0.25
    # the mask director and the approver are named in their roles, not as authors
    assert creds["authors"] == ["Aoi Sato", "山田 花子"]
    assert creds["contributors"] == [
        {"name": "Ren Mori", "role": "AI inpaint direction"},
        {"name": "Kei Art-Director", "role": "approver"},
    ]
    assert verify_png(signed["retouched"]).ok

    text = format_credits(creds)
    for needle in (
        "Credits for c012_bg.png (Test Show)",
        "Layout: Aoi Sato",
        "AI plate: anime-sd15 revision 0123abcd, licence CreativeML OpenRAIL-M",
        "AI inpaint: anime-sd15-inpaint, mask drawn by Ren Mori at x=4 y=6 20x10 px",
        "Retouch: 山田 花子 (hand-painted, 312 s active)",
        "human paint 25.0%",
        "Grade: D",
        "Signed by: Studio Test bgart signer",
    ):
        assert needle in text, text


def test_signing_leaves_no_temp_files(signed) -> None:
    folder = signed["plain"].parent
    assert sorted(p.name for p in folder.iterdir()) == ["layout.png", "plain.png", "retouched.png"]


# --------------------------------------------------------------------------- tampering


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    out, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        out.append((data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return out


def _flip_one_pixel_byte(data: bytes) -> bytes:
    """Change one byte of decoded pixel data and re-encode IDAT with a valid CRC."""
    out = bytearray(data[:8])
    for kind, payload in _chunks(data):
        if kind == b"IDAT":
            raw = bytearray(zlib.decompress(payload))
            # The last byte (bottom-right pixel's blue) is the only one no PNG filter
            # (Sub, Up, Average, Paeth) carries forward into later bytes.
            raw[-1] ^= 0x01
            payload = zlib.compress(bytes(raw))
        out += struct.pack(">I", len(payload)) + kind + payload
        out += struct.pack(">I", zlib.crc32(kind + payload))
    return bytes(out)


def test_changed_pixel_fails_validation(signed, tmp_path: Path, identity) -> None:
    data = signed["plain"].read_bytes()
    assert [k for k, _ in _chunks(data)].count(b"IDAT") == 1
    tampered = _flip_one_pixel_byte(data)
    before = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    after = np.asarray(Image.open(io.BytesIO(tampered)).convert("RGB"))
    assert (before != after).sum() == 1  # a real, decodable one-pixel change

    path = tmp_path / "tampered.png"
    path.write_bytes(tampered)
    result = verify_png(path)
    assert not result.ok
    assert any(p.startswith("assertion.dataHash.mismatch") for p in result.problems)
    # ... even against a trust anchor that would otherwise make it fully green.
    assert not verify_png(tampered, trust_anchors=identity[2]).ok


def test_expired_certificate_is_not_called_damage(tmp_path: Path, capsys) -> None:
    """A plate signed (without a time-stamp) by a certificate that has since expired: C2PA
    calls it invalid, so verify exits 1, but it says the certificate expired and the content
    is intact, not that the file was damaged. A changed pixel on top is still damage."""
    from bgart.cli import main

    now = dt.datetime.now(dt.UTC)
    # make_test_chain's leaf lasts LEAF_DAYS from `now`: this one expires 2 s from now.
    chain, key, root = make_test_chain(
        "Studio Test", now=now - dt.timedelta(days=LEAF_DAYS) + dt.timedelta(seconds=2)
    )
    (tmp_path / "chain.pem").write_bytes(chain)
    (tmp_path / "key.pem").write_bytes(key)
    (tmp_path / "root.pem").write_bytes(root)
    dst = tmp_path / "old.png"
    sign_png(
        _png(2),
        dst,
        _manifest(tmp_path, retouched=True),
        tmp_path / "chain.pem",
        tmp_path / "key.pem",
    )
    tampered = tmp_path / "old-tampered.png"
    tampered.write_bytes(_flip_one_pixel_byte(dst.read_bytes()))
    leaf = x509.load_pem_x509_certificates(chain)[0]
    time.sleep(max(0.0, (leaf.not_valid_after_utc - dt.datetime.now(dt.UTC)).total_seconds()) + 1.2)

    result = verify_png(dst)
    assert not result.ok and result.expired
    assert result.problems == [EXPIRED_TEXT]
    assert main(["credits", "verify", str(dst), "--trust", str(tmp_path / "root.pem")]) == 1
    shown = capsys.readouterr().out
    assert (
        f"{dst}: NOT VALID: the signing certificate has expired and the manifest carries "
        "no trusted time-stamp"
    ) in shown, shown
    assert "content hashes are intact (not altered)" in shown
    assert "damaged" not in shown and "valid C2PA manifest" not in shown
    assert (
        "What the manifest states (intact, but signed with a certificate that has since expired)"
    ) in shown
    assert "AI plate: anime-sd15 revision 0123abcd" in shown  # the credits are still shown

    damaged = verify_png(tampered)
    assert not damaged.ok and not damaged.expired
    assert any(p.startswith("assertion.dataHash.mismatch") for p in damaged.problems)
    assert main(["credits", "verify", str(tampered)]) == 1
    shown = capsys.readouterr().out
    assert shown.startswith(f"{tampered}: NOT VALID: ") and "not altered" not in shown
    assert "AI plate" not in shown and "What the" not in shown  # no figures of a damaged one


def test_unreachable_time_stamp_authority_is_named(tmp_path: Path, identity) -> None:
    """sign_png with a tsa_url that gives no time-stamp: one line naming the URL (not c2pa's
    "Signature: internal error"), and no file written."""
    chain, key, _ = identity
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{closed.getsockname()[1]}/tsa"  # bound, not listening
    dst = tmp_path / "out.png"
    try:
        with pytest.raises(TimeStampError) as err:
            sign_png(_png(2), dst, _manifest(tmp_path, retouched=False), chain, key, tsa_url=url)
    finally:
        closed.close()
    assert str(err.value) == (
        f"{dst}: not signed: time-stamp authority {url} (setting "
        "tsa_url) could not be reached; nothing was written"
    )
    with pytest.raises(InputError, match=re.escape("'ftp://tsa.example/': not an http")):
        sign_png(
            _png(2),
            dst,
            _manifest(tmp_path, retouched=False),
            chain,
            key,
            tsa_url="ftp://tsa.example/",
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["layout.png"]


def test_unsigned_png_has_no_credentials(tmp_path: Path) -> None:
    path = tmp_path / "plain.png"
    path.write_bytes(_png(5))
    result = verify_png(path)
    assert not result.ok and result.problems == [f"{path}: no C2PA manifest"]
    with pytest.raises(InputError, match="no C2PA manifest"):
        read_credentials(path)


def test_retouched_plate_needs_the_ai_image(tmp_path: Path, identity) -> None:
    chain, key, _ = identity
    m = _manifest(tmp_path, retouched=True)
    m.ai_plate = AiPlate(model="m", revision="r", licence="l")
    with pytest.raises(InputError, match=r"ai_plate\.image"):
        sign_png(_png(3), tmp_path / "x.png", m, chain, key)
    assert not (tmp_path / "x.png").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["layout.png"]


def test_human_base_states_human_made_and_discloses_an_inpaint(tmp_path: Path, identity) -> None:
    """A plate that started without AI: digitalCreation by its artist, no AI plate; an AI
    inpaint on it is still disclosed with its model. Exactly one origin is accepted."""
    chain, key, root = identity
    base = HumanBase(artist="Kobayashi Mei", origin="hand-painted", title="c020_paint.png")
    plain = PlateManifest(
        title="c020_bg.png",
        production="Test Show",
        ai_plate=None,
        base=base,
        contribution={"grade": "A", "human_paint_share": 1.0},
    )
    sign_png(_png(4), tmp_path / "plain.png", plain, chain, key)
    creds = read_credentials(tmp_path / "plain.png", trust_anchors=root)
    (created,) = creds["actions"]
    assert (created["action"], created["digitalSourceType"]) == ("c2pa.created", DIGITAL_CREATION)
    assert "no AI involved" in created["description"]
    assert creds["authors"] == ["Kobayashi Mei"] and creds["trusted"]
    assert "Base: hand-painted plate imported by Kobayashi Mei (human-made, no AI)" in (
        format_credits(creds)
    )

    inpaint = Inpaint(model="anime-sd15-inpaint", mask_author="Ren Mori", bbox=(4, 6, 20, 10))
    edited = PlateManifest(
        title="c020_bg.png",
        production="Test Show",
        ai_plate=None,
        edits=[inpaint],
        base=HumanBase(artist="Kobayashi Mei", origin="hand-painted", image=_png(4)),
    )
    sign_png(_png(5), tmp_path / "edited.png", edited, chain, key)
    creds = read_credentials(tmp_path / "edited.png")
    # a hand-painted plate with an AI inpaint is, as a whole, a composite with AI media
    assert [(a["action"], a.get("digitalSourceType")) for a in creds["actions"]] == [
        ("c2pa.opened", COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA),
        ("c2pa.edited", COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA),
    ]
    assert creds["actions"][1]["parameters"]["org.bgart.model"] == "anime-sd15-inpaint"
    assert [(i["title"], i["relationship"]) for i in creds["ingredients"]] == [
        ("imported plate", "parentOf")
    ]
    assert creds["history"][0]["actions"][0]["digitalSourceType"] == DIGITAL_CREATION
    assert verify_png(tmp_path / "edited.png").ok

    edited.base = HumanBase(artist="Kobayashi Mei", origin="hand-painted")
    with pytest.raises(InputError, match=r"base\.image"):
        sign_png(_png(5), tmp_path / "x.png", edited, chain, key)
    both = _manifest(tmp_path, retouched=False)
    both.base = base
    with pytest.raises(InputError, match="exactly one of ai_plate and base"):
        sign_png(_png(2), tmp_path / "x.png", both, chain, key)
    assert not (tmp_path / "x.png").exists()


def test_not_a_png_is_refused(tmp_path: Path, identity) -> None:
    chain, key, _ = identity
    src = tmp_path / "plate.jpg"
    Image.new("RGB", (8, 8)).save(src, "JPEG")
    with pytest.raises(InputError, match=re.escape(f"{src}: not a PNG")):
        sign_png(src, tmp_path / "x.png", _manifest(tmp_path, retouched=False), chain, key)


def test_layout_with_existing_credentials_is_kept(tmp_path: Path, signed, identity) -> None:
    """A layout that already carries C2PA data is used as-is, not re-signed by bgart."""
    chain, key, _ = identity
    layout = tmp_path / "signed_layout.png"
    shutil.copy(signed["plain"], layout)  # stands in for a layout exported with credentials
    m = _manifest(tmp_path, retouched=False)
    m.layout = LayoutIngredient(image=layout, title="from-photoshop.png", author="Aoi Sato")
    dst = tmp_path / "out.png"
    sign_png(_png(2), dst, m, chain, key)
    history = read_credentials(dst)["history"]
    # the layout's manifest is the earlier plate's (with its own layout before it)
    assert [e["title"] for e in history] == ["c012_layout.png", "c012_bg.png", "c012_bg.png"]
    assert CONTRIBUTION_LABEL == "org.bgart.contribution"


def _outsider_layout(image: bytes, fmt: str = "image/png") -> bytes:
    """A layout signed by another studio, then one pixel changed by an editor that kept the
    C2PA data: its own credentials fail validation (assertion.dataHash.mismatch)."""
    chain, key, root = make_test_chain("Other Studio")
    layout = LayoutIngredient(image=image, title="lay.png", author="Outside Artist")
    signed = _sign_bytes(
        layout_definition(layout),
        image,
        fmt,
        LoadedSigner(chain, key, root, "CN=Other Studio bgart signer"),
    )
    if fmt == "image/png":
        bad = _flip_one_pixel_byte(signed)
    else:  # one byte of the entropy-coded scan (no marker byte made or touched)
        at = next(
            i for i in range(signed.rindex(b"\xff\xda") + 40, len(signed)) if 2 <= signed[i] <= 0xFD
        )
        bad = signed[:at] + bytes([signed[at] ^ 0x01]) + signed[at + 1 :]
    assert _manifest_failures(signed, fmt) == []
    assert _manifest_failures(bad, fmt) == ["assertion.dataHash.mismatch"]
    return bad


def test_plate_with_an_ingredient_whose_credentials_fail_is_not_valid(
    tmp_path: Path, identity, capsys
) -> None:
    """A plate that embeds, as-is, a layout whose own manifest failed validation (what
    bgart used to do): verify names that ingredient and exits 1 instead of "valid"."""
    from bgart.cli import main

    chain, key, _ = identity
    bad = _outsider_layout(_png(1))
    m = _manifest(tmp_path, retouched=False)
    ingredient = (
        {"title": "lay.png", "relationship": "inputTo", "label": "layout"},
        bad,
        "image/png",
    )
    plate = tmp_path / "plate.png"
    plate.write_bytes(
        _sign_bytes(
            plate_definition(m), _png(2), "image/png", load_signer(chain, key), [ingredient]
        )
    )
    result = verify_png(plate)
    assert not result.ok and not result.expired
    (problem,) = result.problems
    assert problem.startswith(
        "ingredient 'lay.png' (of c012_bg.png): assertion.dataHash.mismatch"
    ), problem
    assert main(["credits", "verify", str(plate)]) == 1
    shown = capsys.readouterr().out
    assert f"{plate}: NOT VALID: ingredient 'lay.png'" in shown
    assert "valid C2PA manifest" not in shown
    # nothing but the verdict: a manifest that fails states no figures
    assert shown.strip().count("\n") == 0 and "Grade" not in shown and "%" not in shown


@pytest.mark.parametrize("fmt", ["image/png", "image/jpeg"])
def test_layout_whose_own_credentials_fail_is_embedded_without_them(
    tmp_path: Path, identity, fmt: str
) -> None:
    """sign_png with such a layout: its broken manifest is dropped, the layout (same format)
    is embedded with bgart's own layout manifest saying so, a note tells the caller, and the
    plate validates."""
    chain, key, root = identity
    if fmt == "image/png":
        image = _png(1)
    else:
        buf = io.BytesIO()
        Image.open(io.BytesIO(_png(1))).save(buf, "JPEG", quality=90)
        image = buf.getvalue()
    m = _manifest(tmp_path, retouched=True)
    m.layout = LayoutIngredient(
        image=_outsider_layout(image, fmt), title="lay.png", author="Outside Artist"
    )
    dst = tmp_path / "out.png"
    notes = sign_png(_png(3), dst, m, chain, key)
    assert notes == [
        "layout lay.png: its own Content Credentials do not validate "
        "(assertion.dataHash.mismatch); they were dropped and the layout is embedded with "
        "bgart's record of it (layout by Outside Artist)"
    ]
    result = verify_png(dst, trust_anchors=root)
    assert result.ok and result.trusted, result.problems
    creds = result.credentials
    layout = creds["history"][0]
    assert layout["title"] == "lay.png" and layout["authors"] == ["Outside Artist"]
    assert layout["signer"]["common_name"] == "Studio Test bgart signer"
    assert (
        "Content Credentials were removed (did not validate: assertion.dataHash.mismatch)"
        in (layout["actions"][0]["description"])
    )
    assert "Other Studio" not in json.dumps(creds)
    assert (
        "Layout: Outside Artist (human, digital creation); the file's own Content "
        "Credentials were dropped (did not validate: assertion.dataHash.mismatch)"
    ) in format_credits(creds)
    # The layout keeps its format: only its C2PA data was cut out, not re-encoded.
    store = _read_store(dst, None)
    assert store is not None
    ai_plate = store["manifests"][creds["ingredients"][0]["active_manifest"]]
    assert [(i["title"], i["format"]) for i in ai_plate["ingredients"]] == [("lay.png", fmt)]


def test_edited_claim_or_figures_fail_validation(signed) -> None:
    """Same-length edits inside the manifest: the claim signature / assertion hash catch them."""
    data = signed["plain"].read_bytes()
    assert data.count(b"c012_bg.png") == 1 and data.count(b"Test Show") == 1
    retitled = data.replace(b"c012_bg.png", b"c012_bh.png")  # the claim's dc:title
    assert any(p.startswith("claimSignature.mismatch") for p in verify_png(retitled).problems)
    refigured = data.replace(b"Test Show", b"Best Show")  # inside org.bgart.contribution
    problems = verify_png(refigured).problems
    assert any("hashedURI.mismatch" in p and CONTRIBUTION_LABEL in p for p in problems)


def test_jpeg_layout_is_signed_as_jpeg(tmp_path: Path, identity) -> None:
    chain, key, _ = identity
    layout = tmp_path / "scan.jpg"
    Image.new("L", (W, H), 230).save(layout, "JPEG")
    m = _manifest(tmp_path, retouched=False)
    m.layout = LayoutIngredient(image=layout, title="scan.jpg", author="Aoi Sato")
    dst = tmp_path / "out.png"
    sign_png(_png(2), dst, m, chain, key)
    creds = read_credentials(dst)
    assert [(i["title"], i["format"]) for i in creds["ingredients"]] == [("scan.jpg", "image/jpeg")]
    assert creds["history"][0]["actions"][0]["digitalSourceType"] == DIGITAL_CREATION
    assert verify_png(dst).ok


def test_bad_trust_anchor_file_is_named(tmp_path: Path, signed) -> None:
    bad = tmp_path / "root.pem"
    bad.write_text("-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n")
    with pytest.raises(InputError, match=re.escape(f"{bad}: not PEM certificates")):
        verify_png(signed["plain"], trust_anchors=bad)


# --------------------------------------------------------------------------- any file


def _crafted(tmp: Path, identity, contribution: object, paint_params: dict) -> Path:
    """A validly signed PNG whose bgart assertions hold values bgart itself never writes."""
    chain, key, _ = identity
    definition = plate_definition(
        PlateManifest(
            title="crafted.png",
            production="Elsewhere",
            ai_plate=AiPlate(model="m", revision="r", licence="l"),
            contribution={},
        )
    )
    for assertion in definition["assertions"]:
        if assertion["label"] == CONTRIBUTION_LABEL:
            assertion["data"] = contribution
        elif assertion["label"].startswith("c2pa.actions"):
            assertion["data"]["actions"].append(
                {
                    "action": "c2pa.drawing",
                    "digitalSourceType": HUMAN_EDITS,
                    "parameters": {"org.bgart.role": "paint", **paint_params},
                    "changes": [
                        {
                            "description": "x",
                            "region": [
                                {
                                    "type": "spatial",
                                    "shape": {
                                        "type": "rectangle",
                                        "unit": "pixel",
                                        "origin": {"x": 1.5, "y": 2},
                                        "width": 3,
                                        "height": 4,
                                    },
                                }
                            ],
                        }
                    ],
                }
            )
    dst = tmp / "crafted.png"
    dst.write_bytes(_sign_bytes(definition, _png(5), "image/png", load_signer(chain, key)))
    assert verify_png(dst).ok
    return dst


@pytest.mark.parametrize(
    ("contribution", "paint", "shown"),
    [
        (
            {"retouch": [{"artist": "A", "human_paint_share": "about half"}], "grade": "A"},
            {"org.bgart.person": "A", "org.bgart.active_seconds": "a while"},
            ["A about half", "a while", "Grade: A"],
        ),
        (
            {
                "retouch": ["A did it", 7, None],
                "active_seconds": "lots",
                "human_paint_share": {"about": "half"},
            },
            {"org.bgart.person": ["A", "B"], "org.bgart.active_seconds": ["3 min"]},
            [
                "Retouch shares: A did it, 7, null",
                "active seconds: lots",
                'human paint {"about": "half"}',
                'Retouch: ["A", "B"] (hand-painted, active ["3 min"])',
            ],
        ),
        (["not", "a", "mapping"], {"org.bgart.person": {"name": "A"}}, ["not"]),
    ],
)
def test_verify_prints_unexpected_values_as_text(
    tmp_path: Path, identity, capsys, contribution, paint, shown
) -> None:
    """`credits verify` is for any file: a validly signed manifest whose bgart figures have
    types bgart never writes is printed (as text), not an internal error."""
    from bgart.cli import main

    png = _crafted(tmp_path, identity, contribution, paint)
    assert main(["credits", "verify", str(png)]) == 0
    out = capsys.readouterr().out
    assert "valid C2PA manifest" in out and "Retouch: " in out
    for text in shown:
        assert text in out, out


def test_format_credits_takes_any_json_shapes() -> None:
    """Regions, parameters and figures of the wrong type come out as text."""
    action = {
        "action": "c2pa.drawing",
        "parameters": {"org.bgart.role": "inpaint", "org.bgart.model": 5, "org.bgart.person": None},
        "changes": [
            {
                "region": [
                    {
                        "shape": {
                            "type": "rectangle",
                            "width": "wide",
                            "height": 2,
                            "origin": {"x": "left"},
                        }
                    }
                ]
            }
        ],
    }
    for creds in (
        {
            "history": [{"actions": [action, "junk", {"parameters": ["x"]}]}],
            "contribution": {"retouch": "A", "grade": ["A"]},
            "authors": [1, None],
            "signer": "someone",
        },
        {"actions": "none", "contribution": "text", "history": "x"},
        {
            "history": [
                {
                    "actions": [
                        {"changes": "x", "parameters": {"org.bgart.role": "paint"}},
                        {
                            "changes": [{"region": ["x"]}],
                            "parameters": {"org.bgart.role": "inpaint"},
                        },
                    ]
                }
            ]
        },
    ):
        text = format_credits(creds)
        assert text.startswith("Credits for")
    text = format_credits({"history": [{"actions": [action]}]})
    assert "AI inpaint: 5, mask drawn by null at x=left y=0 widex2 px" in text
