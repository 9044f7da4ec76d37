"""Credits of a variant plate: the parent's painter keeps the paint that survives in the
variant (and only that), named in the report, the credit-roll lines and the exports."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from helpers.images import generated_png, make_record, noise_plate, stroke_layer

from bgart import plates as wf
from bgart.credits import ModelCatalog, build_report, plate_credit_lines
from bgart.ledger import Project

W, H = 64, 48
SHOT = "EP03_C040"


def _project(root: Path) -> Project:
    """main: AI plate, mika paints 25 %, accepted; night: keeps half of the stroke."""
    project = Project.init(root, production="Variant Show")
    layout = generated_png(noise_plate(W, H, 9))[0]
    wf.record_layout(project, SHOT, layout, "Sato")
    png, rec = generated_png(noise_plate(W, H, 3), make_record(W, H))
    wf.record_generated(project, SHOT, png, rec, "yuki")
    wf.record_paint(project, SHOT, stroke_layer((H, W), (0, 0, 32, 24), (250, 20, 20)), "mika")
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


def test_the_parents_painter_is_credited_for_what_survives(tmp_path: Path) -> None:
    with _project(tmp_path / "show") as project:
        report = build_report(project, catalog=ModelCatalog(), thumbnails=False)
    plates = {p.plate: p for p in report.plates}
    night, main = plates["night"], plates["main"]
    assert main.human_paint_share == pytest.approx(0.25)
    assert night.human_paint_share == pytest.approx(0.125)
    assert night.unattributed_share == pytest.approx(0.0)
    people = {c.name: c for c in night.contributors}
    assert people["mika"].human_paint_share == pytest.approx(0.125)
    assert "retouch" in people["mika"].roles
    assert night.prompt_author == "ren"
    assert night.layout_artists == ["Sato"]  # the layout its record names, as for `main`
    assert any("mika" in line for line in plate_credit_lines(night))
