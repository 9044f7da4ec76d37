"""A small plate history in a project's ledger, and raw SQL on its rows: what the ledger
and verify tests build on and then edit behind bgart's back."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sqlalchemy import text

from bgart import plates as wf
from bgart.errors import LedgerIntegrityError
from bgart.ledger import Project
from bgart.verify import verify_project
from helpers.images import generated_png, noise_plate, stroke_layer

W, H = 32, 24


def build_history(project: Project, shot: str = "ep01_c001", variant: int = 0) -> dict[str, int]:
    """A small but complete plate history; returns event seq numbers by name. Histories
    with another ``variant`` share no generated image (and so no plate version) with it."""
    seqs: dict[str, int] = {}
    png1, rec = generated_png(noise_plate(W, H, 1 + 10 * variant))
    seqs["gen1"] = wf.record_generated(project, shot, png1, rec, "alice").seq
    png2, rec2 = generated_png(noise_plate(W, H, 2 + 10 * variant))
    seqs["gen2"] = wf.record_generated(project, shot, png2, rec2, "alice").seq
    seqs["select"] = wf.select_variation(project, shot, 2, "alice").seq
    layer = stroke_layer((H, W), (0, 0, W // 2, H // 2), (255, 0, 255))
    seqs["paint"] = wf.record_paint(project, shot, layer, "alice", 30.0).seq
    mask = np.zeros((H, W), bool)
    mask[H // 2 :, W // 2 :] = True
    res_png, res_rec = generated_png(noise_plate(W, H, 3))
    seqs["inpaint"] = wf.record_inpaint(project, shot, res_png, mask, res_rec, "alice").seq
    seqs["accept"] = wf.accept(project, shot, "dir", "good").seq
    return seqs


def sql(project: Project, statement: str, **params: Any) -> None:
    with project.ledger.engine.begin() as conn:
        conn.execute(text(statement), params)


def row(project: Project, seq: int) -> dict[str, Any]:
    with project.ledger.engine.connect() as conn:
        return dict(
            conn.execute(text("SELECT * FROM events WHERE seq = :s"), {"s": seq}).one()._mapping
        )


def expect_failure(project: Project, pattern: str) -> str:
    with pytest.raises(LedgerIntegrityError, match=pattern) as info:
        verify_project(project)
    return str(info.value)
