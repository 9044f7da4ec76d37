"""A final that hands back an earlier version credits that version's painters (issue 18,
definition v2, point 8): the pixels it returns keep the per-artist and per-act split the
plate had at that version, in the credit report and in the signed PNG's Content Credentials,
not the split of whoever imported the final.

Acts through the CLI (`bgart ledger import-paint` / `import-final`), figures read from the
report `bgart credits` writes and from its signed PNG, read back with the c2pa Reader.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers.cli import ai_plate_project, ledger_cli, run_in_process
from helpers.images import generated_png, natural_plate, stroke_layer
from PIL import Image

from bgart import plates as wf
from bgart.credits.c2pa import read_credentials, verify_png
from bgart.ledger import Project
from bgart.verify import verify_project

W, H = 80, 60
SHOT = "ep18_c002"
MIKA, RUI, SORA, REN = "Mika", "Rui", "Sora", "Ren"
DIRECTOR = "Kei"
COVER = (30, 200, 60)


@pytest.fixture
def show(tmp_path: Path) -> Path:
    """An AI plate (v1), Mika paints its left quarter opaquely (v2)."""
    root = ai_plate_project(tmp_path / "show", SHOT, natural_plate(W, H, seed=5))
    layer = _save(tmp_path, "mika.png", stroke_layer((H, W), (0, 0, W // 4, H), (250, 40, 20)))
    ledger_cli(
        "ledger", "import-paint", SHOT, "--layer", str(layer), "--artist", MIKA, "-p", str(root)
    )
    return root


def _save(tmp: Path, name: str, arr: np.ndarray) -> Path:
    path = tmp / name
    Image.fromarray(arr).save(path, "PNG")
    return path


def _final(root: Path, path: Path, artist: str) -> None:
    ledger_cli("ledger", "import-final", SHOT, str(path), "--artist", artist, "-p", str(root))


def _image(root: Path, version: int) -> np.ndarray:
    with Project.open(root) as project:
        return wf.PlateHistory.load(project, SHOT).state(version).image.copy()


def _cover(root: Path, tmp: Path) -> None:
    """Rui covers the whole plate opaquely (a whole final of one flat colour)."""
    _final(root, _save(tmp, "cover.png", np.full((H, W, 3), COVER, np.uint8)), RUI)


def _credits(root: Path, out: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The plate accepted, then `bgart credits --format json,png`: the report's plate and
    the signed PNG's Content Credentials (checked valid)."""
    with Project.open(root) as project:
        project.ledger.add_user(DIRECTOR, "director")
        wf.accept(project, SHOT, DIRECTOR)
        verify_project(project)  # the ledger (and every return) replays
    res = run_in_process(
        ["credits", "--project", str(root), "--format", "json,png", "--out", str(out)]
    )
    assert res.returncode == 0, res.show()
    (report,) = out.rglob("*.json")
    (plate,) = json.loads(report.read_text(encoding="utf-8"))["plates"]
    (png,) = (root / "exports").rglob(f"{SHOT}.png")  # the signed export
    assert verify_png(png).ok
    return plate, read_credentials(png)


def _people(plate: dict[str, Any]) -> dict[str, float]:
    """Each contributor's human paint share (those with a part in the paint)."""
    return {
        c["name"]: c["human_paint_share"]
        for c in plate["contributors"]
        if {"retouch", "background"} & set(c["roles"])
    }


def _acts(creds: dict[str, Any], role: str) -> list[tuple[str, float, int]]:
    """(person, share, pixels) of each action of ``role`` ("paint", "inpaint"), in order."""
    return [
        (p["org.bgart.person"], p.get("org.bgart.share", 0.0), p.get("org.bgart.pixels", 0))
        for a in creds["actions"]
        if (p := a.get("parameters", {})).get("org.bgart.role") == role
    ]


def _agree(plate: dict[str, Any], creds: dict[str, Any]) -> None:
    """The C2PA paint acts add up, per person, to the report's shares."""
    per_person: dict[str, float] = {}
    for person, share, _ in _acts(creds, "paint"):
        per_person[person] = per_person.get(person, 0.0) + share
    people = _people(plate)
    for name, share in people.items():
        assert per_person.get(name, 0.0) == pytest.approx(share, abs=1e-12), name
    assert sum(people.values()) == pytest.approx(plate["human_paint_share"], abs=1e-12)


def test_handing_back_the_painted_version_credits_its_painter(show: Path, tmp_path: Path) -> None:
    """Mika paints 25 % (v2), Rui covers everything (v3), Sora imports v2's PNG (v4): the
    quarter is Mika's again; neither Rui (covered) nor Sora (handed back) painted it."""
    _cover(show, tmp_path)
    _final(show, _save(tmp_path, "v2.png", _image(show, 2)), SORA)
    plate, creds = _credits(show, tmp_path / "out")
    assert plate["human_paint_share"] == 0.25 and plate["unattributed_share"] == 0.0
    assert _people(plate) == {MIKA: 0.25, RUI: 0.0, SORA: 0.0}
    mika, rui, sora = _acts(creds, "paint")
    assert mika == (MIKA, 0.25, W * H // 4)
    assert rui[1:] == sora[1:] == (0.0, 0)
    _agree(plate, creds)


def test_handing_back_half_credits_each_painter_their_part(show: Path, tmp_path: Path) -> None:
    """Sora's final shows v2 in the left half (Mika's quarter and AI pixels) and keeps
    Rui's cover in the right half: Mika 25 %, Rui 50 %, Sora nothing."""
    _cover(show, tmp_path)
    mixed = _image(show, 3)
    mixed[:, : W // 2] = _image(show, 2)[:, : W // 2]
    _final(show, _save(tmp_path, "mixed.png", mixed), SORA)
    plate, creds = _credits(show, tmp_path / "out")
    assert plate["human_paint_share"] == 0.75
    assert plate["ai_gen_share"] == 0.25
    assert _people(plate) == {MIKA: 0.25, RUI: 0.5, SORA: 0.0}
    mika, rui, sora = _acts(creds, "paint")
    assert mika == (MIKA, 0.25, W * H // 4)
    assert rui == (RUI, 0.5, W * H // 2)
    assert sora[1:] == (0.0, 0)
    _agree(plate, creds)


def test_handing_back_an_inpainted_version_keeps_the_inpaints_share(
    show: Path, tmp_path: Path
) -> None:
    """An AI inpaint of the third quarter (v3, mask by Ren), Rui's cover (v4), then v3
    handed back (v5): Mika keeps her quarter, the inpaint act its quarter."""
    with Project.open(show) as project:
        mask = np.zeros((H, W), bool)
        mask[:, W // 2 : 3 * W // 4] = True
        png, rec = generated_png(np.full((H, W, 3), (10, 10, 120), np.uint8))
        wf.record_inpaint(project, SHOT, png, mask, rec, REN)
    _cover(show, tmp_path)
    _final(show, _save(tmp_path, "v3.png", _image(show, 3)), SORA)
    plate, creds = _credits(show, tmp_path / "out")
    assert plate["human_paint_share"] == 0.25
    assert plate["ai_inpaint_share"] == 0.25 and plate["ai_gen_share"] == 0.5
    assert _people(plate) == {MIKA: 0.25, RUI: 0.0, SORA: 0.0}
    ((person, share, pixels),) = _acts(creds, "inpaint")
    assert (person, pixels) == (REN, W * H // 4)
    assert share == pytest.approx(plate["ai_inpaint_share"], abs=1e-12)
    mika, rui, sora = _acts(creds, "paint")
    assert mika == (MIKA, 0.25, W * H // 4)
    assert rui[1:] == sora[1:] == (0.0, 0)
    _agree(plate, creds)


def test_handing_back_the_painted_version_as_a_jpeg_credits_its_painter(
    show: Path, tmp_path: Path
) -> None:
    """The same return, delivered as a JPEG (quality 90): the pixels it returns are found as
    the act found them (the codec's rendering of v2, blob ref_restore), so Mika keeps what
    the plate credits as paint and Sora, who handed it back, nothing."""
    _cover(show, tmp_path)
    path = tmp_path / "v2.jpg"
    Image.fromarray(_image(show, 2)).save(path, "JPEG", quality=90)
    _final(show, path, SORA)
    shown = json.loads(ledger_cli("ledger", "show", SHOT, "-p", str(show), "--json").stdout)
    assert shown["events"][-1]["payload"]["restore_ref"] == 2  # v2 as the codec renders it
    plate, creds = _credits(show, tmp_path / "out")
    assert plate["human_paint_share"] == pytest.approx(0.25, abs=0.01)
    people = _people(plate)
    assert people[MIKA] == pytest.approx(plate["human_paint_share"], abs=1e-12)
    assert people[RUI] == people[SORA] == 0.0
    _agree(plate, creds)


def test_a_return_to_a_reverted_version_credits_the_version_it_reverted_to(
    show: Path, tmp_path: Path
) -> None:
    """Rui covers (v3), the plate is reverted to v2 (v4), Rui covers again (v5), Sora hands
    back v2's picture (v6, equal to v4's): v4 is v2 again, so the quarter is Mika's."""
    _cover(show, tmp_path)
    with Project.open(show) as project:  # the UI's undo (no CLI command)
        wf.undo(project, SHOT, 2, SORA)
    _final(show, _save(tmp_path, "cover2.png", np.full((H, W, 3), (200, 30, 60), np.uint8)), RUI)
    _final(show, _save(tmp_path, "v2.png", _image(show, 2)), SORA)
    plate, creds = _credits(show, tmp_path / "out")
    assert plate["human_paint_share"] == 0.25
    assert _people(plate) == {MIKA: 0.25, RUI: 0.0, SORA: 0.0}
    _agree(plate, creds)
