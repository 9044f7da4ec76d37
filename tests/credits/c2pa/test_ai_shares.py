"""C2PA states the model's part too: each AI inpaint's action carries its share of the final
plate (the pixels whose value it made and that survive later inpaints and paint) and the
rectangles where they are, from the same per-act split as the report; the shares of the
model's acts add up to the plate's ``ai_inpaint_share``.

Real signing with the project's own test CA, read back with the c2pa Reader."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers.credits import DIRECTOR, INPAINT_MODEL, H, W, ai_image, lock_catalog, png, record

from bgart import plates as workflow
from bgart.credits import build_report, export_plates
from bgart.credits.c2pa import format_credits, read_credentials, verify_png
from bgart.ledger import Project

SHOT = "EP08_C001"
REN, KEN = "Mori Ren", "Retouch Ken"
# rows, cols: the first inpaint (white), the second (black) over its lower right corner, then
# Ken paints over the second's bottom rows
FIRST = (slice(10, 30), slice(10, 40))
SECOND = (slice(20, 40), slice(30, 60))
KEN_ROWS = (slice(35, 40), slice(30, 60))


def _mask(rows: slice, cols: slice) -> np.ndarray:
    mask = np.zeros((H, W), np.uint8)
    mask[rows, cols] = 255
    return mask


def _inpaint(proj: Project, box: tuple[slice, slice], value: int, seed: int) -> None:
    rec = dataclasses.replace(record(seed, mode="inpaint", model=INPAINT_MODEL), seconds=0.5)
    result = png(np.full((H, W, 3), value, np.uint8))
    workflow.record_inpaint(proj, SHOT, result, _mask(*box), rec, REN)


def _rects(action: dict[str, Any]) -> list[tuple[int, int, int, int]]:
    out = []
    for change in action.get("changes", []):
        (rng,) = change["region"]
        shape = rng["shape"]
        assert (shape["type"], shape["unit"]) == ("rectangle", "pixel")
        origin = shape["origin"]
        out.append((int(origin["x"]), int(origin["y"]), int(shape["width"]), int(shape["height"])))
    return out


def test_each_ai_inpaint_states_what_of_it_remains_and_they_add_up(tmp_path: Path) -> None:
    proj = Project.init(tmp_path / "show", production="Inpaint Show")
    workflow.record_generated(proj, SHOT, png(ai_image(81), record(81)), record(81))
    _inpaint(proj, FIRST, 255, 82)
    _inpaint(proj, SECOND, 0, 83)
    paint = np.zeros((H, W, 4), np.uint8)
    paint[KEN_ROWS] = (255, 255, 0, 255)
    workflow.record_paint(proj, SHOT, paint, KEN, 12.0)
    workflow.accept(proj, SHOT, DIRECTOR)
    report = build_report(proj, catalog=lock_catalog(proj), thumbnails=False)
    (item,) = export_plates(proj, report, psd=False, say=lambda _m: None)
    proj.close()
    assert item.png is not None and verify_png(item.png).ok

    creds = read_credentials(item.png)
    first, second = [
        a for a in creds["actions"] if a.get("parameters", {}).get("org.bgart.role") == "inpaint"
    ]
    assert first["action"] == second["action"] == "c2pa.edited"
    # the first keeps its 600 pixels but the 10x10 corner the second repainted; the second
    # keeps its 600 but the 5 rows Ken painted over
    assert first["parameters"]["org.bgart.pixels"] == 600 - 100
    assert second["parameters"]["org.bgart.pixels"] == 600 - 150
    assert first["parameters"]["org.bgart.share"] == pytest.approx(500 / (W * H), rel=1e-12)
    assert second["parameters"]["org.bgart.share"] == pytest.approx(450 / (W * H), rel=1e-12)
    assert _rects(first) == [(10, 10, 30, 20)]  # one patch (an L), bounded
    assert _rects(second) == [(30, 20, 30, 15)]
    mask = {"x": 10, "y": 10, "width": 30, "height": 20}
    assert first["parameters"]["org.bgart.mask"] == mask  # the mask box, apart
    assert first["parameters"]["org.bgart.person"] == REN
    # the same split as the report's: the model's acts add up to its inpainted share
    (plate,) = report.plates
    total = first["parameters"]["org.bgart.share"] + second["parameters"]["org.bgart.share"]
    assert plate.ai_inpaint_share == pytest.approx(950 / (W * H), rel=1e-12)
    assert total == pytest.approx(plate.ai_inpaint_share, rel=1e-12)
    assert total == pytest.approx(creds["contribution"]["ai_inpaint_share"], rel=1e-12)
    text = format_credits(creds)
    assert (
        f"AI inpaint: {INPAINT_MODEL}, mask drawn by {REN} (mask x=10 y=10 30x20 px), "
        "10.4% of the plate in 1 area (x=10 y=10 30x20 px)"
    ) in text
