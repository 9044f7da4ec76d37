"""Soft binding: each exported plate of 256×256 or more carries an invisible watermark declared
as ``c2pa.soft-binding``, and ``bgart credits verify`` traces a copy that lost its manifest
(Pillow re-save, JPEG q90, 50 % resize) back to its export by that watermark."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import c2pa
import numpy as np
import pytest
from helpers.credits import DIRECTOR, lock_catalog
from PIL import Image
from psd_tools import PSDImage

from bgart import plates as workflow
from bgart.cli import main
from bgart.credits import ExportedPlate, build_report, export_plates
from bgart.credits.c2pa import read_credentials, verify_png
from bgart.ledger import Project

W, H = 320, 256


def _painting(seed: int) -> np.ndarray:
    """A plate-like image: soft gradients with some texture (a watermark hides in it)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:H, 0:W]
    base = np.stack([x * 200 // W + 20, y * 180 // H + 40, (x + y) * 90 // (W + H) + 80], -1)
    return np.clip(base + rng.integers(-12, 13, (H, W, 3)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, dict]]:
    proj = Project.init(tmp_path_factory.mktemp("soft") / "show", production="夜行列車")
    plates = {"EP01_C001": _painting(1), "EP01_C002": _painting(2)}
    for shot, img in plates.items():
        workflow.record_base(proj, shot, img, "Kobayashi Mei")
        workflow.accept(proj, shot, DIRECTOR)
    small = np.full((60, 80, 3), 120, np.uint8)
    workflow.record_base(proj, "EP01_C003", small, "Kobayashi Mei")
    workflow.accept(proj, "EP01_C003", DIRECTOR)
    flat = np.full((H, W, 3), 128, np.uint8)  # large enough, but no texture to hide bits in
    workflow.record_base(proj, "EP01_C004", flat, "Kobayashi Mei")
    workflow.accept(proj, "EP01_C004", DIRECTOR)
    rep = build_report(proj, catalog=lock_catalog(proj), thumbnails=False)
    items = {i.shot: i for i in export_plates(proj, rep, say=lambda _m: None)}
    yield proj, {"items": items, "plates": plates}
    proj.close()


def _png(item: ExportedPlate) -> Path:
    assert item.png is not None
    return item.png


def test_export_embeds_and_declares_the_watermark(store: tuple[Project, dict]) -> None:
    proj, data = store
    values = set()
    for shot, img in data["plates"].items():
        path = _png(data["items"][shot])
        assert verify_png(path, trust_anchors=proj.root / "signing" / "root_ca.pem").ok
        value = read_credentials(path)["soft_binding"]
        assert isinstance(value, str) and len(value) == 12
        values.add(value)
        pixels = np.asarray(Image.open(path).convert("RGB")).astype(float)
        mse = float(((pixels - img) ** 2).mean())
        assert mse > 0 and 10 * np.log10(255**2 / mse) > 34  # changed, invisibly
        # The layered PSD's stored composite is the same watermarked image.
        psd = PSDImage.open(data["items"][shot].psd)
        assert np.array_equal(np.asarray(psd.composite().convert("RGB")), pixels.astype(np.uint8))
    assert len(values) == 2
    # Declared by bgart itself: a created assertion of the active manifest (C2PA 2.1).
    with open(_png(data["items"]["EP01_C001"]), "rb") as fh, c2pa.Reader("image/png", fh) as r:
        detail = json.loads(r.detailed_json())
    claim = detail["manifests"][detail["active_manifest"]]["claim"]
    created = [a["url"].rsplit("/", 1)[-1] for a in claim["created_assertions"]]
    assert "c2pa.soft-binding" in created
    # A plate under 256×256 cannot hold the watermark: exported as is, no assertion.
    small = _png(data["items"]["EP01_C003"])
    assert read_credentials(small)["soft_binding"] is None
    assert np.array_equal(np.asarray(Image.open(small).convert("RGB")), np.full((60, 80, 3), 120))
    assert data["items"]["EP01_C003"].notes == []


def test_a_plate_too_flat_to_hold_the_watermark_is_exported_without_and_said(
    store: tuple[Project, dict],
) -> None:
    item = store[1]["items"]["EP01_C004"]
    assert read_credentials(_png(item))["soft_binding"] is None
    assert np.array_equal(
        np.asarray(Image.open(_png(item)).convert("RGB")), np.full((H, W, 3), 128)
    )
    (note,) = item.notes
    assert note.startswith("EP01_C004/main: no invisible watermark (soft binding)")


def _resave(src: Path, dst: Path, how: str) -> Path:
    with Image.open(src) as im:
        rgb = im.convert("RGB")
        if how == "png":
            rgb.save(dst, "PNG")
        elif how == "jpeg90":
            rgb.save(dst, "JPEG", quality=90)
        else:  # half size
            rgb.resize((W // 2, H // 2), Image.Resampling.LANCZOS).save(dst, "PNG")
    return dst


@pytest.mark.parametrize("how", ["png", "jpeg90", "half"])
def test_verify_finds_a_stripped_copy_by_its_watermark(
    store: tuple[Project, dict],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    how: str,
) -> None:
    proj, data = store
    for shot in data["plates"]:
        export = _png(data["items"][shot])
        copy = _resave(export, tmp_path / f"{shot}-{how}.img", how)
        assert main(["credits", "verify", str(copy), "--project", str(proj.root)]) == 1
        out = capsys.readouterr().out
        assert f"{copy}: NOT VALID: " in out  # the copy itself carries no credentials
        assert f"{copy}: FOUND BY WATERMARK" in out
        assert f"declared by the export {export}" in out
        assert "they do not vouch for this copy's pixels" in out
        assert f"{export}: valid C2PA manifest" in out
        assert "Kobayashi Mei" in out


def test_verify_says_so_when_no_export_carries_the_watermark(
    store: tuple[Project, dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proj, _ = store
    stranger = tmp_path / "stranger.jpg"
    Image.fromarray(_painting(99)).save(stranger, "JPEG", quality=90)
    assert main(["credits", "verify", str(stranger), "--project", str(proj.root)]) == 1
    out = capsys.readouterr().out
    assert "FOUND BY WATERMARK" not in out
    assert "no export of this project carries its watermark" in out


def test_a_copy_with_its_manifest_is_verified_as_before(
    store: tuple[Project, dict], capsys: pytest.CaptureFixture[str]
) -> None:
    proj, data = store
    export = _png(data["items"]["EP01_C001"])
    assert main(["credits", "verify", str(export), "--project", str(proj.root)]) == 0
    out = capsys.readouterr().out
    assert "valid C2PA manifest" in out and "FOUND BY WATERMARK" not in out


def test_not_an_image_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("not an image")
    proj = Project.init(tmp_path / "empty", production="P")
    proj.close()
    assert main(["credits", "verify", str(junk), "--project", str(tmp_path / "empty")]) == 1
    out = capsys.readouterr().out
    assert "not looked up by watermark" in out or "no export of this project" in out
    assert "Traceback" not in out
