"""A time-of-day variant's signed PNG names the paint it kept from its parent plate: a
``c2pa.drawing`` action per inherited session, naming the painter, the plate and version it
was painted on and the parent the variant was made from, with its share of the variant and
the rectangles where it remains; the same figures as the credit report.

Real signing with the project's own test CA, read back with the c2pa Reader."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from helpers.images import generated_png, make_record, noise_plate, stroke_layer

from bgart import plates as wf
from bgart.credits import CreditReport, ExportedPlate, ModelCatalog, build_report, export_plates
from bgart.credits.c2pa import format_credits, read_credentials, verify_png
from bgart.ledger import Project

W, H = 64, 48
SHOT = "EP03_C041"
MIKA, KEN = "mika", "ken"


def _variant_project(root: Path) -> Project:
    """main: AI plate, Mika paints the top left quarter (v2), accepted; night: the model
    keeps the right half of her stroke (columns 16..31) and repaints everything else."""
    project = Project.init(root, production="Variant Show")
    layout = generated_png(noise_plate(W, H, 9))[0]
    wf.record_layout(project, SHOT, layout, "Sato")
    png, rec = generated_png(noise_plate(W, H, 3), make_record(W, H))
    wf.record_generated(project, SHOT, png, rec, "yuki")
    stroke = stroke_layer((H, W), (0, 0, 32, 24), (250, 20, 20))
    wf.record_paint(project, SHOT, stroke, MIKA, 30.0)
    project.ledger.add_user("kei", "director")
    wf.accept(project, SHOT, "kei")
    parent = wf.plate_state(project, SHOT).image
    night = parent // 4
    night[0:24, 16:32] = parent[0:24, 16:32]
    sha = hashlib.sha256(layout).hexdigest()
    png, rec = generated_png(night, make_record(W, H, mode="photo", layout_sha256=sha))
    wf.record_variant(
        project, SHOT, png, rec, plate="night", parent_version=2, time="night", requested_by="ren"
    )
    return project


def _export(project: Project) -> tuple[CreditReport, ExportedPlate]:
    wf.accept(project, SHOT, "kei", plate="night")
    report = build_report(project, catalog=ModelCatalog(), thumbnails=False)
    items = export_plates(project, report, psd=False, say=lambda _m: None)
    (night,) = [i for i in items if i.plate == "night"]
    assert night.png is not None and verify_png(night.png).ok
    return report, night


def _drawings(png: Path) -> list[dict[str, Any]]:
    return [a for a in read_credentials(png)["actions"] if a["action"] == "c2pa.drawing"]


def _rects(action: dict[str, Any]) -> list[tuple[int, int, int, int]]:
    out = []
    for change in action.get("changes", []):
        (rng,) = change["region"]
        shape = rng["shape"]
        origin = shape["origin"]
        out.append((int(origin["x"]), int(origin["y"]), int(shape["width"]), int(shape["height"])))
    return out


def _shares(report: CreditReport) -> dict[str, float]:
    (night,) = [p for p in report.plates if p.plate == "night"]
    return {c.name: c.human_paint_share for c in night.contributors if c.human_paint_share}


def test_a_variant_states_the_paint_it_kept_from_its_parent(tmp_path: Path) -> None:
    with _variant_project(tmp_path / "show") as project:
        report, item = _export(project)
    assert item.png is not None
    actions = read_credentials(item.png)["actions"]
    assert [a["action"] for a in actions] == ["c2pa.created", "c2pa.drawing"]
    (kept,) = _drawings(item.png)
    params = kept["parameters"]
    assert params["org.bgart.person"] == MIKA
    assert (params["org.bgart.parent_plate"], params["org.bgart.parent_version"]) == ("main", 2)
    assert (params["org.bgart.painted_plate"], params["org.bgart.painted_version"]) == ("main", 2)
    assert kept["digitalSourceType"].endswith("/humanEdits")
    assert params["org.bgart.pixels"] == 16 * 24  # the half of her stroke the model kept
    assert _rects(kept) == [(16, 0, 16, 24)]
    # the report's figure, and the manifest's own per-artist figure, are the action's
    assert _shares(report) == {MIKA: pytest.approx(0.125)}
    assert params["org.bgart.share"] == pytest.approx(_shares(report)[MIKA], rel=1e-12)
    figures = read_credentials(item.png)["contribution"]
    retouch = {r["artist"]: r["human_paint_share"] for r in figures["retouch"]}
    assert params["org.bgart.share"] == pytest.approx(retouch[MIKA], rel=1e-12)
    assert read_credentials(item.png)["authors"] == ["Sato", MIKA]
    text = format_credits(read_credentials(item.png))
    assert (
        f"Retouch: {MIKA} (hand-painted, 30 s active; on plate 'main' v2, kept by this "
        "variant), 12.5% of the plate in 1 area (x=16 y=0 16x24 px)"
    ) in text


def test_a_retouched_variant_states_kept_and_new_paint_as_the_report_does(
    tmp_path: Path,
) -> None:
    """Ken paints over the left half of what the night plate kept of Mika's stroke: her
    inherited action keeps the rest, after ``c2pa.opened``; his is the night plate's own."""
    with _variant_project(tmp_path / "show") as project:
        wf.record_paint(
            project,
            SHOT,
            stroke_layer((H, W), (16, 0, 24, 24), (20, 20, 250)),
            KEN,
            8.0,
            plate="night",
        )
        report, item = _export(project)
    assert item.png is not None
    names = [a["action"] for a in read_credentials(item.png)["actions"]]
    assert names == ["c2pa.opened", "c2pa.drawing", "c2pa.drawing"]
    kept, ken = _drawings(item.png)
    assert kept["parameters"]["org.bgart.person"] == MIKA
    assert "org.bgart.parent_plate" in kept["parameters"]
    assert "org.bgart.parent_plate" not in ken["parameters"]
    assert kept["parameters"]["org.bgart.pixels"] == 8 * 24
    assert _rects(kept) == [(24, 0, 8, 24)]
    assert _rects(ken) == [(16, 0, 8, 24)]
    shares = _shares(report)
    assert shares == {MIKA: pytest.approx(8 * 24 / (W * H)), KEN: pytest.approx(8 * 24 / (W * H))}
    for action in (kept, ken):
        person = action["parameters"]["org.bgart.person"]
        assert action["parameters"]["org.bgart.share"] == pytest.approx(shares[person], rel=1e-12)
    (night,) = [p for p in report.plates if p.plate == "night"]
    assert night.human_paint_share == pytest.approx(sum(shares.values()), rel=1e-12)
