"""The variant act (bgart.plates.variants): a new plate of the shot, linked to its parent
version in the ledger, whose raster keeps the parent's surviving human paint; ``ledger
verify`` recomputes it from the parent and names a forged one."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.images import generated_png, make_record, noise_plate, stroke_layer

from bgart import plates as wf
from bgart.errors import InputError
from bgart.events import Kind
from bgart.ledger import Project
from bgart.verify import verify_project

W, H = 64, 48
SHOT = "ep03_c020"


@pytest.fixture
def proj(sqlite_project: Project) -> Project:
    return sqlite_project


def _accepted_painted_plate(proj: Project) -> np.ndarray:
    """Shot SHOT's main plate: an AI plate, 25 % painted over by mika, accepted at v2."""
    png, rec = generated_png(noise_plate(W, H, 3), make_record(W, H))
    wf.record_generated(proj, SHOT, png, rec, "yuki")
    wf.record_paint(proj, SHOT, stroke_layer((H, W), (0, 0, 32, 24), (250, 20, 20)), "mika")
    proj.ledger.add_user("kei", "director")
    wf.submit(proj, SHOT, "mika")
    wf.accept(proj, SHOT, "kei")
    return wf.plate_state(proj, SHOT).image


def _night(parent: np.ndarray) -> np.ndarray:
    """A 'night' image: everything visibly darker but the stroke's right half."""
    night = (parent // 4).astype(np.uint8)
    night[0:24, 16:32] = parent[0:24, 16:32]
    return night


def _record_night(proj: Project, parent: np.ndarray, **kw: object) -> wf.Recorded:
    png, rec = generated_png(_night(parent), make_record(W, H, mode="photo", strength=0.5))
    args: dict[str, object] = dict(plate="night", parent_version=2, time="night")
    args.update(kw)
    return wf.record_variant(proj, SHOT, png, rec, requested_by="mika", **args)  # type: ignore[arg-type]


def test_a_variant_is_a_linked_plate_crediting_the_surviving_paint(proj: Project) -> None:
    parent = _accepted_painted_plate(proj)
    assert wf.accepted_version(proj, SHOT) == 2
    made = _record_night(proj, parent)
    assert made.kind == Kind.AI_VARIANT and made.version == 1
    ev = proj.ledger.events(shot=SHOT, plate="night")[0]
    assert ev.payload["parent_plate"] == "main" and ev.payload["parent_version"] == 2
    assert ev.payload["time"] == "night" and ev.payload["requested_by"] == "mika"
    assert sorted(wf.plate_names(proj, SHOT)) == ["main", "night"]
    figs = wf.plate_figures(proj, SHOT, plate="night")
    assert figs["human_paint_share"] == pytest.approx(0.125)
    assert figs["human_paint_share"] + figs["ai_inpaint_share"] + figs["ai_gen_share"] == (
        pytest.approx(1.0)
    )
    assert np.array_equal(wf.plate_state(proj, SHOT, plate="night").image, _night(parent))
    assert _record_night(proj, parent).duplicate  # the same image again: nothing new
    report = verify_project(proj)
    assert report.replayed >= 3  # the variant recomputed from its parent


def test_variant_errors_name_what_is_wrong(proj: Project) -> None:
    with pytest.raises(InputError, match="plate 'main' has not been accepted"):
        wf.accepted_version(proj, "nothing_here")
    parent = _accepted_painted_plate(proj)
    with pytest.raises(InputError, match="plate 'main' has no version 9"):
        _record_night(proj, parent, parent_version=9)
    with pytest.raises(InputError, match="time 'dusk': not one of morning, day, evening, night"):
        _record_night(proj, parent, time="dusk")
    with pytest.raises(InputError, match="needs a plate name of its own"):
        _record_night(proj, parent, plate="main")
    _record_night(proj, parent)
    png, rec = generated_png(parent // 2, make_record(W, H))
    with pytest.raises(InputError, match="plate 'night' exists already"):
        wf.record_variant(proj, SHOT, png, rec, plate="night", parent_version=2)
    wf.reject(proj, SHOT, "kei")
    with pytest.raises(InputError, match="plate 'main' was rejected"):
        wf.accepted_version(proj, SHOT)
