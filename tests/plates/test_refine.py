"""The refine act (``ai.refined``): a plate refined to a delivery size is a new version at
that size whose raster carries the human paint made at the base size."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.images import generated_png, make_record, natural_plate, stroke_layer

from bgart import plates as wf
from bgart import provenance as c
from bgart.errors import InputError
from bgart.events import Kind
from bgart.ledger import Project
from bgart.verify import verify_project

W, H = 96, 64
SHOT = "ep05_c010"


@pytest.fixture
def proj(sqlite_project: Project) -> Project:
    """An AI plate whose top-left quarter mika repainted (25 % human), version 2."""
    png, rec = generated_png(natural_plate(W, H, 2), make_record(W, H))
    wf.record_generated(sqlite_project, SHOT, png, rec, "yuki")
    wf.record_paint(
        sqlite_project, SHOT, stroke_layer((H, W), (0, 0, 48, 32), (240, 30, 30)), "mika"
    )
    return sqlite_project


def _refined(proj: Project, factor: int = 4) -> tuple[bytes, object]:
    """What the model hands back: the plate at ×factor, every pixel visibly repainted."""
    state = wf.plate_state(proj, SHOT)
    plain = c.plain_resample(state.image, factor * W, factor * H)
    out = np.clip(plain.astype(np.int16) - 30, 0, 255).astype(np.uint8)
    return generated_png(out, make_record(factor * W, factor * H, mode="refine", strength=0.35))


def test_a_quarter_retouch_stays_a_quarter_through_a_x4_refinement(proj: Project) -> None:
    png, rec = _refined(proj)
    made = wf.record_refine(proj, SHOT, png, rec, "yuki")  # type: ignore[arg-type]
    assert made.kind == Kind.AI_REFINED and made.version == 3
    figs = wf.plate_figures(proj, SHOT)
    assert (figs["width"], figs["height"]) == (4 * W, 4 * H)
    assert figs["human_paint_share"] == pytest.approx(0.25, abs=0.005)
    assert made.stats["visible_px"] == pytest.approx(0.75 * 16 * W * H, rel=0.01)
    ev = proj.ledger.events(shot=SHOT)[-1]
    assert ev.payload["keep_human_paint"] is True and ev.payload["requested_by"] == "yuki"
    assert ev.blobs["refined"] != ev.blobs["result"] == ev.blobs["image"]
    assert verify_project(proj).replayed == 3  # the refinement replayed with the others


def test_without_keep_human_paint_the_repainted_stroke_is_the_models(proj: Project) -> None:
    png, rec = _refined(proj)
    wf.record_refine(proj, SHOT, png, rec, "yuki", keep_human_paint=False)  # type: ignore[arg-type]
    assert wf.plate_figures(proj, SHOT)["human_paint_share"] < 0.001
    verify_project(proj)


def test_a_stale_or_missized_refinement_records_nothing(proj: Project) -> None:
    png, rec = _refined(proj)
    with pytest.raises(InputError, match="made from version 1, but version 2"):
        wf.record_refine(proj, SHOT, png, rec, "yuki", based_on=1)  # type: ignore[arg-type]
    bad = make_record(5 * W, 4 * H, mode="refine")
    with pytest.raises(InputError, match=r"is 384x256 but its record says 480x256"):
        wf.record_refine(proj, SHOT, png, bad, "yuki")
    assert len(wf.plate_versions(proj, SHOT)) == 2


def test_paint_after_a_refinement_is_at_the_new_size(proj: Project) -> None:
    png, rec = _refined(proj, factor=2)
    wf.record_refine(proj, SHOT, png, rec, "yuki")  # type: ignore[arg-type]
    layer = stroke_layer((2 * H, 2 * W), (96, 64, 192, 128), (20, 20, 240))
    wf.record_paint(proj, SHOT, layer, "mika")
    figs = wf.plate_figures(proj, SHOT)
    assert figs["human_paint_share"] == pytest.approx(0.5, abs=0.01)
    verify_project(proj)
