"""``ledger verify`` on variant plates: recomputed from the parent version the event names,
so a forged parent (the chain re-hashed) is named."""

from __future__ import annotations

import json

import pytest
from helpers.history import expect_failure, rehash_chain, row, sql
from helpers.images import generated_png, make_record, noise_plate, stroke_layer

from bgart import plates as wf
from bgart.canonical import canonical_json
from bgart.ledger import Project
from bgart.verify import verify_project

W, H = 64, 48
SHOT = "ep03_c030"


@pytest.fixture
def proj(sqlite_project: Project) -> Project:
    """Shot SHOT: main (AI, 25 % painted, accepted at v2) and its night variant."""
    png, rec = generated_png(noise_plate(W, H, 5), make_record(W, H))
    wf.record_generated(sqlite_project, SHOT, png, rec, "yuki")
    wf.record_paint(
        sqlite_project, SHOT, stroke_layer((H, W), (0, 0, 32, 24), (250, 20, 20)), "mika"
    )
    parent = wf.plate_state(sqlite_project, SHOT).image
    night = parent // 4
    night[0:24, 16:32] = parent[0:24, 16:32]
    png, rec = generated_png(night, make_record(W, H, mode="photo", strength=0.5))
    wf.record_variant(sqlite_project, SHOT, png, rec, plate="night", parent_version=2)
    verify_project(sqlite_project)
    return sqlite_project


def _forge(proj: Project, **changes: object) -> None:
    ev = proj.ledger.events(shot=SHOT, plate="night")[0]
    payload = {**json.loads(row(proj, ev.seq)["payload"]), **changes}
    sql(proj, "UPDATE events SET payload = :p WHERE seq = :s", p=canonical_json(payload), s=ev.seq)
    rehash_chain(proj, ev.seq)


def test_a_variant_claiming_another_parent_version_is_named(proj: Project) -> None:
    _forge(proj, parent_version=1)  # the unpainted AI plate: its raster has no paint
    expect_failure(proj, r"ai\.variant.*stored raster differs from the recomputed one")


def test_a_variant_naming_a_missing_parent_is_named(proj: Project) -> None:
    _forge(proj, parent_plate="dawn")
    expect_failure(
        proj, r"ai\.variant.*its parent, version 2 of plate 'dawn', is not in the history"
    )
