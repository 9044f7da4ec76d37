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


def rehash_chain(project: Project, start: int = 1, prev: str | None = None) -> str:
    """Re-hash every event from ``start`` on, as a forger who knows the hash rule would
    (``prev``: the hash the rewritten chain starts from; default: the one before ``start``,
    or the ledger's genesis). Sets the chain head; returns the new head hash."""
    import json

    from bgart.ledger import GENESIS_HASH, event_body, event_hash

    if prev is None:
        prev = row(project, start - 1)["hash"] if start > 1 else GENESIS_HASH
    with project.ledger.engine.connect() as conn:
        last = conn.exec_driver_sql("SELECT max(seq) FROM events").scalar_one()
    seq = start
    while seq <= last:
        r = row(project, seq)
        body = event_body(
            **{k: r[k] for k in ("seq", "id", "kind", "shot", "plate", "actor", "actor_kind")},
            created_at=r["created_at"],
            payload=json.loads(r["payload"]),
            blobs=json.loads(r["blobs"]),
            idem_key=r["idem_key"],
        )
        digest = event_hash(prev, body)
        sql(
            project,
            "UPDATE events SET prev_hash = :p, hash = :h WHERE seq = :s",
            p=prev,
            h=digest,
            s=seq,
        )
        prev, seq = digest, seq + 1
    sql(project, "UPDATE chain_head SET seq = :s, hash = :h", s=seq - 1, h=prev)
    return prev
