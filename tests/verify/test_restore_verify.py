"""`ledger verify` of a final that returns pixels to earlier versions (definition v2): the
replay consults the versions the event names (payload ``restore_from``), and a forged list
is caught even in a consistently re-hashed chain."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers.history import H, W, rehash_chain, row, sql
from helpers.images import generated_png, noise_plate, stroke_layer

from bgart import plates as wf
from bgart.canonical import canonical_json
from bgart.errors import LedgerIntegrityError
from bgart.ledger import Project
from bgart.verify import verify_project

SHOT = "ep18_c002"


def _restored_history(project: Project) -> int:
    """AI plate → paint → AI inpaint over the paint → version 1 handed back as a final;
    returns the final's seq."""
    plate = noise_plate(W, H, 7)
    png, rec = generated_png(plate)
    wf.record_generated(project, SHOT, png, rec, "aki")
    wf.record_paint(project, SHOT, stroke_layer((H, W), (0, 0, W // 2, H), (250, 250, 20)), "Mika")
    mask = np.zeros((H, W), bool)
    mask[:, : W // 4] = True
    res, res_rec = generated_png(np.full((H, W, 3), (10, 10, 120), np.uint8))
    wf.record_inpaint(project, SHOT, res, mask, res_rec, "Mika")
    return wf.record_final(project, SHOT, plate, "Ren").seq


@pytest.mark.parametrize("workers", [1, 2])
def test_a_final_that_returns_to_version_1_verifies(project: Project, workers: int) -> None:
    seq = _restored_history(project)
    payload = json.loads(row(project, seq)["payload"])
    assert payload["restore_from"] == [2, 1]
    assert wf.plate_figures(project, SHOT)["human_paint_share"] == 0.0
    verify_project(project, workers=workers)


@pytest.mark.parametrize(
    "forged,message",
    [
        ([], "stored raster differs from the recomputed one"),
        ([2], "stored raster differs from the recomputed one"),
        ([9, 1], "restore_from names a version the plate lacks"),
        ([4, 2, 1], "restore_from names a version the plate lacks"),  # its own: not earlier
        (None, "stored raster differs from the recomputed one"),  # field removed
    ],
)
def test_a_forged_list_of_consulted_versions_is_named(
    project: Project, forged: list[int] | None, message: str
) -> None:
    """The versions consulted are part of the event: another list gives another raster, or
    names a version that is not an earlier one of this plate."""
    seq = _restored_history(project)
    payload = json.loads(row(project, seq)["payload"])
    if forged is None:
        del payload["restore_from"]
    else:
        payload["restore_from"] = forged
    sql(project, "UPDATE events SET payload = :p WHERE seq = :s", p=canonical_json(payload), s=seq)
    rehash_chain(project, seq)
    with pytest.raises(LedgerIntegrityError, match=rf"event #{seq} .*{message}"):
        verify_project(project)


def _lossy_restored_history(project: Project) -> int:
    """As above, with version 1 handed back as a JPEG (quality 90): returns the final's seq."""
    import io

    from PIL import Image

    plate = noise_plate(W, H, 7)
    png, rec = generated_png(plate)
    wf.record_generated(project, SHOT, png, rec, "aki")
    wf.record_paint(project, SHOT, stroke_layer((H, W), (0, 0, W, H - 1), (250, 250, 20)), "Mika")
    buf = io.BytesIO()
    Image.fromarray(plate).save(buf, "JPEG", quality=90)
    return wf.record_final(project, SHOT, buf.getvalue(), "Ren", original=buf.getvalue()).seq


def test_a_lossy_return_verifies_and_a_forged_rendering_is_named(project: Project) -> None:
    seq = _lossy_restored_history(project)
    payload = json.loads(row(project, seq)["payload"])
    assert payload["restore_ref"] == 1 and "ref_restore" in json.loads(row(project, seq)["blobs"])
    assert wf.plate_figures(project, SHOT)["human_paint_share"] < 0.01
    verify_project(project)
    payload["restore_ref"] = 5
    sql(project, "UPDATE events SET payload = :p WHERE seq = :s", p=canonical_json(payload), s=seq)
    rehash_chain(project, seq)
    with pytest.raises(LedgerIntegrityError, match=rf"event #{seq} .*restore_ref names version 5"):
        verify_project(project)
