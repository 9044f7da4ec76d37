"""``ledger verify`` recomputes a refinement (``ai.refined``) from the version it refined:
a forged result or forged figures are named."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers.history import expect_failure, rehash_chain, row, sql
from helpers.images import generated_png, make_record, natural_plate, stroke_layer

from bgart import plates as wf
from bgart import provenance as c
from bgart.canonical import canonical_json
from bgart.ledger import Project
from bgart.verify import verify_project

W, H = 64, 48
SHOT = "ep05_c020"


@pytest.fixture
def proj(sqlite_project: Project) -> Project:
    """An AI plate, a quarter repainted, refined ×2 with the paint kept (version 3)."""
    png, rec = generated_png(natural_plate(W, H, 4), make_record(W, H))
    wf.record_generated(sqlite_project, SHOT, png, rec, "yuki")
    wf.record_paint(
        sqlite_project, SHOT, stroke_layer((H, W), (0, 0, 32, 24), (240, 30, 30)), "mika"
    )
    state = wf.plate_state(sqlite_project, SHOT)
    refined = c.plain_resample(state.image, 2 * W, 2 * H) // 2
    png, rec = generated_png(refined, make_record(2 * W, 2 * H, mode="refine", strength=0.3))
    wf.record_refine(sqlite_project, SHOT, png, rec, "yuki")
    assert verify_project(sqlite_project).replayed == 3
    return sqlite_project


def _forge(proj: Project, payload: dict[str, object] | None = None, **blobs: str) -> None:
    ev = proj.ledger.events(shot=SHOT)[-1]
    r = row(proj, ev.seq)
    new_payload = {**json.loads(r["payload"]), **(payload or {})}
    new_blobs = {**json.loads(r["blobs"]), **blobs}
    sql(
        proj,
        "UPDATE events SET payload = :p, blobs = :b WHERE seq = :s",
        p=canonical_json(new_payload),
        b=canonical_json(new_blobs),
        s=ev.seq,
    )
    rehash_chain(proj, ev.seq)


def test_a_refinement_claiming_the_models_raw_image_as_its_result_is_named(
    proj: Project,
) -> None:
    ev = proj.ledger.events(shot=SHOT)[-1]
    _forge(proj, result=ev.blobs["refined"])  # as if the stroke had not been kept
    expect_failure(proj, r"ai\.refined.*stored plate image differs from the recomputed one")


def test_a_refinement_with_forged_figures_is_named(proj: Project) -> None:
    ev = proj.ledger.events(shot=SHOT)[-1]
    stats = dict(ev.payload["stats"])
    stats["visible_px"] = 0
    _forge(proj, {"stats": stats})
    expect_failure(proj, r"ai\.refined.*recorded figures differ")


def test_the_refined_raster_is_the_carried_one(proj: Project) -> None:
    state = wf.plate_state(proj, SHOT)
    assert state.image.shape[:2] == (2 * H, 2 * W)
    assert np.all(state.raster.human[:48, :64] == 1.0) and not state.raster.human[48:].any()
