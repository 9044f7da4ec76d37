"""Credits of a refined plate (``ai.refined``): the painter of the base-size retouch keeps
their share at the delivery size, the report names the refining model, and the layered PSD
is at the new size with each artist's layer carried to it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers.images import generated_png, make_record, natural_plate, stroke_layer

from bgart import plates as wf
from bgart import provenance as c
from bgart.credits import ModelCatalog, build_report, export_plates
from bgart.ledger import Project

W, H = 64, 48
SHOT = "EP05_C030"


def _project(root: Path) -> Project:
    """An AI plate, mika repaints the top-left quarter, the plate is refined ×2 (paint
    kept), and accepted."""
    project = Project.init(root, production="Refine Show")
    png, rec = generated_png(natural_plate(W, H, 7), make_record(W, H))
    wf.record_generated(project, SHOT, png, rec, "yuki")
    wf.record_paint(project, SHOT, stroke_layer((H, W), (0, 0, 32, 24), (250, 20, 20)), "mika")
    state = wf.plate_state(project, SHOT)
    refined = np.clip(c.plain_resample(state.image, 2 * W, 2 * H).astype(int) + 40, 0, 255)
    png, rec = generated_png(
        refined.astype(np.uint8),
        make_record(2 * W, 2 * H, mode="refine", strength=0.35, model="tiny-refiner"),
    )
    wf.record_refine(project, SHOT, png, rec, "ren")
    project.ledger.add_user("kei", "director")
    wf.accept(project, SHOT, "kei")
    return project


def test_the_base_size_painter_keeps_their_share_and_the_refiner_is_named(
    tmp_path: Path,
) -> None:
    with _project(tmp_path / "show") as project:
        report = build_report(project, catalog=ModelCatalog(), thumbnails=False)
    (plate,) = report.plates
    assert plate.human_paint_share == pytest.approx(0.25, abs=0.005)
    assert plate.unattributed_share == pytest.approx(0.0)
    people = {p.name: p for p in plate.contributors}
    assert people["mika"].human_paint_share == pytest.approx(0.25, abs=0.005)
    assert any(m.name == "tiny-refiner" and m.role == "refine" for m in plate.models)


def test_the_psd_of_a_refined_plate_is_at_the_new_size(tmp_path: Path) -> None:
    from psd_tools import PSDImage

    with _project(tmp_path / "show") as project:
        report = build_report(project, catalog=ModelCatalog(), thumbnails=False)
        (item,) = export_plates(project, report, png=False, say=lambda _m: None)
        final = wf.plate_state(project, SHOT).image
    assert item.psd is not None
    psd = PSDImage.open(item.psd)
    assert psd.size == (2 * W, 2 * H)
    names = [layer.name for layer in psd]
    assert names[1] == "Retouch – mika"
    assert names[-1] == "AI refine – tiny-refiner (requested by ren)"
    assert all(layer.size == (2 * W, 2 * H) or layer.size[0] <= 2 * W for layer in psd)
    assert np.array_equal(np.asarray(psd.composite().convert("RGB")), final)
    # mika's layer covers the stroke, four times its pixels at twice the size
    retouch = np.asarray(psd[1].topil().convert("RGBA"))
    assert int((retouch[..., 3] > 0).sum()) == 4 * 32 * 24


def test_the_signed_png_states_the_refinement_as_an_ai_edit(tmp_path: Path) -> None:
    from bgart.credits.c2pa import read_credentials
    from bgart.events import COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA

    with _project(tmp_path / "show") as project:
        report = build_report(project, catalog=ModelCatalog(), thumbnails=False)
        (item,) = export_plates(project, report, psd=False, say=lambda _m: None)
    assert item.png is not None
    creds = read_credentials(item.png)
    actions = [a for entry in creds["history"] for a in entry["actions"]]
    refine = actions[-1]
    assert refine["action"] == "c2pa.edited"
    assert refine["digitalSourceType"] == COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA
    assert refine["parameters"]["org.bgart.model"] == "tiny-refiner"
    assert refine["parameters"]["org.bgart.person"] == "ren"
    assert refine["parameters"]["org.bgart.role"] == "refine"
    assert "AI refine" in refine["description"] and "inpaint" not in refine["description"]
    assert creds["contribution"]["human_paint_share"] == pytest.approx(0.25, abs=0.005)
    # its share: the pixels the model repainted that remain (all but mika's kept paint),
    # the plate's inpainted share, in the regions where they are
    share = refine["parameters"]["org.bgart.share"]
    assert share == pytest.approx(creds["contribution"]["ai_inpaint_share"], rel=1e-12)
    assert share == pytest.approx(0.75, abs=0.005)
    assert refine["parameters"]["org.bgart.pixels"] == pytest.approx(0.75 * 4 * W * H, rel=0.01)
    assert refine["changes"] and all("remain" in c["description"] for c in refine["changes"])


def test_the_reports_name_the_refining_model(tmp_path: Path) -> None:
    from bgart.credits import write_reports

    with _project(tmp_path / "show") as project:
        report = build_report(project, catalog=ModelCatalog(), thumbnails=False)
    paths = write_reports(report, tmp_path / "out", ["html", "json", "csv"])
    text = "".join(p.read_text(encoding="utf-8") for p in paths if p.suffix in (".html", ".json"))
    assert "tiny-refiner" in text and "mika" in text
