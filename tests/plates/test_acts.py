"""User acts through bgart.plates.acts: events, plate versions, figures, heat maps."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest
from helpers.images import (
    generated_png,
    grey_plate,
    make_record,
    natural_plate,
    noise_plate,
    stroke_layer,
)
from PIL import Image

from bgart import plates as wf
from bgart import provenance as c
from bgart.errors import InputError
from bgart.ledger import Project, WriteTx
from bgart.verify import verify_project

W, H = 64, 48
SHOT = "ep02_c010"


@pytest.fixture
def proj(sqlite_project: Project) -> Project:
    return sqlite_project


def _generate(proj: Project, arr: np.ndarray, shot: str = SHOT, **rec: object) -> wf.Recorded:
    png, record = generated_png(arr, make_record(arr.shape[1], arr.shape[0], **rec))
    return wf.record_generated(proj, shot, png, record, "yuki")


def test_generated_candidate_becomes_the_first_version(proj: Project) -> None:
    first = _generate(proj, noise_plate(W, H, 1))
    assert first.version == 1 and first.candidate == 1
    second = _generate(proj, noise_plate(W, H, 2))
    assert second.version is None and second.candidate == 2
    figs = wf.plate_figures(proj, SHOT)
    assert figs["ai_gen_share"] == 1.0 and figs["human_paint_share"] == 0.0
    assert figs["candidates"] == 2 and figs["chosen_candidate"] == 1 and figs["version"] == 1
    sel = wf.select_variation(proj, SHOT, 2, "yuki")
    assert sel.version == 2 and sel.image_sha == second.image_sha
    figs = wf.plate_figures(proj, SHOT)
    assert figs["chosen_candidate"] == 2 and figs["selections"] == 1
    state = wf.plate_state(proj, SHOT)
    assert np.array_equal(state.image, noise_plate(W, H, 2))
    verify_project(proj)


def test_select_by_sha_prefix_and_errors(proj: Project) -> None:
    gen = _generate(proj, noise_plate(W, H, 1))
    assert gen.image_sha
    assert wf.select_variation(proj, SHOT, gen.image_sha[:10], "yuki").version == 2
    with pytest.raises(InputError, match="no candidate 7"):
        wf.select_variation(proj, SHOT, 7, "yuki")
    with pytest.raises(InputError, match="no generated candidates"):
        wf.select_variation(proj, "other", 1, "yuki")


def test_paint_known_answer_through_the_workflow(proj: Project) -> None:
    _generate(proj, noise_plate(W, H))
    layer = stroke_layer((H, W), (0, 0, W // 2, H // 2), (255, 0, 255))
    rec = wf.record_paint(proj, SHOT, Image.fromarray(layer, "RGBA"), "mika", 42.5)
    assert rec.kind == "human.painted" and rec.version == 2
    assert rec.stats["credited_px"] == W * H // 4
    figs = wf.plate_figures(proj, SHOT)
    assert figs["human_paint_share"] == 0.25
    assert figs["active_seconds"] == 42.5 and figs["painters"] == ["mika"]
    verify_project(proj)


def test_half_alpha_and_same_colour_through_the_workflow(proj: Project) -> None:
    _generate(proj, grey_plate(W, H, 128))
    same = wf.record_paint(proj, SHOT, stroke_layer((H, W), (0, 0, W, H), (128, 128, 128)), "mika")
    assert same.stats["credited_px"] == 0
    assert wf.plate_figures(proj, SHOT)["human_paint_share"] == 0.0
    wf.record_paint(
        proj, SHOT, stroke_layer((H, W), (0, 0, W // 2, H // 2), (255, 255, 255), 128), "mika"
    )
    assert wf.plate_figures(proj, SHOT)["human_paint_share"] == pytest.approx(0.125, abs=0.005)
    verify_project(proj)


def test_inpaint_over_paint_through_the_workflow(proj: Project) -> None:
    _generate(proj, noise_plate(W, H))
    wf.record_paint(proj, SHOT, stroke_layer((H, W), (0, 0, W // 2, H), (255, 0, 255)), "mika")
    mask = np.zeros((H, W), np.uint8)
    mask[:, : W // 4] = 255
    result = noise_plate(W, H, 5)  # the model also "changed" pixels outside the mask
    png, rec = generated_png(result, make_record(W, H, mode="inpaint", seconds=4.0))
    out = wf.record_inpaint(proj, SHOT, png, Image.fromarray(mask, "L"), rec, "mika")
    assert out.kind == "ai.inpainted" and out.stats["mask_px"] == H * W // 4
    figs = wf.plate_figures(proj, SHOT)
    assert figs["human_paint_share"] == pytest.approx(0.25)
    assert figs["ai_inpaint_share"] == pytest.approx(0.25)
    assert figs["masks"] == 1 and figs["mask_area_share"] == pytest.approx(0.25)
    assert figs["mask_authors"] == ["mika"]
    assert figs["gpu_seconds"] == pytest.approx(2.5 + 4.0)
    state = wf.plate_state(proj, SHOT)
    assert np.array_equal(
        state.image[:, W // 4 :], wf.plate_state(proj, SHOT, version=2).image[:, W // 4 :]
    )
    ev = proj.ledger.event(out.seq)
    assert ev is not None and ev.payload["mask_bbox"] == [0, 0, W // 4, H]
    assert ev.actor == "tiny-sd15" and ev.actor_kind == "ai" and ev.payload["directed_by"] == "mika"
    verify_project(proj)


def test_final_with_one_changed_quadrant_through_the_workflow(proj: Project) -> None:
    plate = natural_plate(W, H)
    _generate(proj, plate)
    final = plate.copy()
    final[: H // 2, W // 2 :] = (250, 240, 10)
    rec = wf.record_final(proj, SHOT, Image.fromarray(final), "mika", original=b"psd bytes")
    assert rec.kind == "human.painted"
    assert wf.plate_figures(proj, SHOT)["human_paint_share"] == pytest.approx(0.25, abs=0.005)
    ev = proj.ledger.event(rec.seq)
    assert ev is not None and ev.payload["source"] == "final" and "original" in ev.blobs
    verify_project(proj)


def test_final_on_an_empty_shot_is_a_hand_painted_import(proj: Project) -> None:
    rec = wf.record_final(proj, "handmade", natural_plate(W, H), "mika")
    assert rec.kind == "plate.imported" and rec.version == 1
    figs = wf.plate_figures(proj, "handmade")
    assert figs["human_paint_share"] == 1.0 and figs["ai_gen_share"] == 0.0
    with pytest.raises(InputError, match="already has versions"):
        wf.record_base(proj, "handmade", natural_plate(W, H), "mika")
    verify_project(proj)


def test_layout_base_and_layout_import(proj: Project) -> None:
    layout = Image.fromarray(grey_plate(W, H, 0))
    import io

    buf = io.BytesIO()
    layout.save(buf, "PNG")
    rec = wf.record_layout(proj, SHOT, buf.getvalue(), "layout-san", filename="c010.png")
    assert rec.kind == "layout.imported"
    assert wf.record_layout(proj, SHOT, buf.getvalue(), "layout-san").duplicate
    wf.record_base(proj, SHOT, grey_plate(W, H, 0), "layout-san", origin="layout")
    wf.record_paint(proj, SHOT, stroke_layer((H, W), (0, 0, W // 2, H), (255, 255, 255)), "mika")
    figs = wf.plate_figures(proj, SHOT)
    assert figs["human_paint_share"] == 0.5 and figs["human_base_share"] == 0.5
    assert figs["layout_artists"] == ["layout-san"]
    verify_project(proj)


def test_the_current_layout_is_the_one_last_imported_even_when_it_comes_back(
    proj: Project,
) -> None:
    """l0, then l1, then l0 again (a retake undone): the shot's layout is l0 again; a
    corrected artist name is recorded too; the very same import asked twice (a resumed
    batch) records nothing."""
    import io

    def png(value: int) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(grey_plate(W, H, value)).save(buf, "PNG")
        return buf.getvalue()

    l0, l1 = png(0), png(255)
    steps = [
        (l0, "Sato Yuki"),
        (l0, "Sato Yuki"),
        (l1, "Sato Yuki"),
        (l0, "Sato Yuki"),
        (l0, "Sato Yuuki"),
    ]
    duplicates = [wf.record_layout(proj, SHOT, data, who).duplicate for data, who in steps]
    assert duplicates == [False, True, False, False, False]
    assert wf.shot_layout(proj, SHOT) == l0
    events = proj.ledger.events(shot=SHOT, kinds=("layout.imported",))
    assert [e.actor for e in events][-1] == "Sato Yuuki" and len(events) == 4
    import hashlib

    png_bytes, rec = generated_png(
        noise_plate(W, H), make_record(W, H, layout_sha256=hashlib.sha256(l0).hexdigest())
    )
    wf.record_generated(proj, SHOT, png_bytes, rec)
    assert wf.plate_figures(proj, SHOT)["layout_artists"] == ["Sato Yuuki"]  # corrected name
    verify_project(proj)


def test_adjust_undo_and_review(proj: Project) -> None:
    plate = natural_plate(W, H)
    _generate(proj, plate)
    wf.record_paint(proj, SHOT, stroke_layer((H, W), (0, 0, W // 2, H), (0, 0, 0)), "mika")
    adjusted = np.clip(wf.plate_state(proj, SHOT).image.astype(int) + 25, 0, 255).astype(np.uint8)
    adj = wf.record_adjust(proj, SHOT, adjusted, "mika", {"op": "levels", "offset": 25})
    figs = wf.plate_figures(proj, SHOT)
    assert figs["human_paint_share"] == 0.5  # an adjustment is not authorship
    assert figs["adjust_share"] > 0.4
    assert adj.version == 3
    wf.reject(proj, SHOT, "director", "too bright")
    assert wf.plate_figures(proj, SHOT)["status"] == "rejected"
    back = wf.undo(proj, SHOT, 2, "mika")
    assert back.version == 4 and back.kind == "plate.reverted"
    state = wf.plate_state(proj, SHOT)
    assert np.array_equal(state.image, wf.plate_state(proj, SHOT, version=2).image)
    figs = wf.plate_figures(proj, SHOT)
    assert figs["status"] == "open" and figs["adjust_share"] == 0.0
    wf.accept(proj, SHOT, "director", "ok")
    figs = wf.plate_figures(proj, SHOT)
    assert figs["status"] == "accepted" and figs["approver"] == "director"
    assert wf.plate_figures(proj, SHOT, version=3)["adjust_share"] > 0.4
    with pytest.raises(InputError, match="already the latest"):
        wf.undo(proj, SHOT, 4, "mika")
    with pytest.raises(InputError, match="no version 9"):
        wf.undo(proj, SHOT, 9, "mika")
    report = verify_project(proj)
    assert report.versions == 4


def test_an_edit_keeps_its_own_pixels_as_blobs(proj: Project) -> None:
    """The layer, the mask and the adjusted image are kept with their event, read back
    exactly; a retried act (same key) is recorded, and stored, once."""
    _generate(proj, natural_plate(W, H))
    layer = stroke_layer((H, W), (0, 0, W // 2, H), (9, 9, 9))
    mask = np.zeros((H, W), np.uint8)
    mask[4:20, 8:40] = 255
    png, rec = generated_png(noise_plate(W, H, 5), make_record(W, H, mode="inpaint"))
    adjusted = np.full((H, W, 3), 77, np.uint8)
    painted = wf.record_paint(proj, SHOT, layer, "mika", idem_key="ui/stroke-1")
    inpainted = wf.record_inpaint(proj, SHOT, png, mask, rec, "mika")
    adjusted_rec = wf.record_adjust(proj, SHOT, adjusted, "mika")
    for recorded, role, mode, expected in (
        (painted, "layer", "RGBA", layer),
        (inpainted, "mask", "L", mask),
        (adjusted_rec, "adjusted", "RGB", adjusted),
    ):
        ev = proj.ledger.event(recorded.seq)
        assert ev is not None
        got = wf.decode_blob(proj.blobs.get(ev.blobs[role]), mode, role)
        assert np.array_equal(got, expected), role
    blobs = sum(1 for _ in proj.blobs)
    again = wf.record_paint(proj, SHOT, layer, "mika", idem_key="ui/stroke-1")
    assert again.duplicate and again.seq == painted.seq
    assert sum(1 for _ in proj.blobs) == blobs
    assert verify_project(proj).versions == 4


def test_gpu_seconds_add_up_the_per_image_seconds(proj: Project) -> None:
    # One batched call of 6 s: the engine records 2 s per image (the call over its images).
    for i in range(3):
        _generate(proj, noise_plate(W, H, i), seeds=(10, 11, 12), batch_index=i, seconds=2.0)
    assert wf.plate_figures(proj, SHOT)["gpu_seconds"] == 6.0


def test_errors_name_the_input(proj: Project) -> None:
    with pytest.raises(InputError, match="has no image yet"):
        wf.record_paint(proj, SHOT, stroke_layer((H, W), (0, 0, 1, 1), (0, 0, 0)), "mika")
    with pytest.raises(InputError, match="no plate 'main' to review"):
        wf.accept(proj, SHOT, "dir")
    _generate(proj, noise_plate(W, H))
    with pytest.raises(InputError, match=r"paint layer .*is 10x10 but the plate is 64x48"):
        wf.record_paint(proj, SHOT, np.zeros((10, 10, 4), np.uint8), "mika")
    with pytest.raises(InputError, match="expected RGBA pixels"):
        wf.record_paint(proj, SHOT, np.zeros((H, W, 3), np.uint8), "mika")
    png, rec = generated_png(noise_plate(W, H), make_record(32, 32))
    with pytest.raises(InputError, match="its record says 32x32"):
        wf.record_generated(proj, SHOT, png, rec)
    with pytest.raises(InputError, match="record_inpaint"):
        wf.record_generated(proj, SHOT, png, make_record(W, H, mode="inpaint"))
    with pytest.raises(InputError, match="shot: must not be empty"):
        wf.accept(proj, " ", "dir")
    with pytest.raises(InputError, match="active seconds"):
        wf.record_paint(proj, SHOT, stroke_layer((H, W), (0, 0, 1, 1), (0, 0, 0)), "mika", -1)
    assert proj.ledger.count() == 1  # nothing half-recorded


def test_several_plates_per_shot(proj: Project) -> None:
    png, rec = generated_png(noise_plate(W, H))
    wf.record_generated(proj, SHOT, png, rec, plate="book")
    _generate(proj, noise_plate(W, H, 3))
    wf.record_paint(proj, SHOT, stroke_layer((H, W), (0, 0, W, H), (0, 0, 0)), "mika", plate="book")
    assert wf.plate_names(proj, SHOT) == ["book", "main"]
    assert wf.plate_figures(proj, SHOT, plate="book")["human_paint_share"] == 1.0
    assert wf.plate_figures(proj, SHOT)["human_paint_share"] == 0.0
    verify_project(proj)


def test_heatmap_of_a_plate(proj: Project) -> None:
    _generate(proj, noise_plate(W, H))
    wf.record_paint(proj, SHOT, stroke_layer((H, W), (0, 0, W // 2, H), (0, 0, 0)), "mika")
    img = wf.heatmap(proj, SHOT, legend=False)
    assert img.size == (W, H)
    px = np.asarray(img).astype(int)
    # Left half human (green-dominant), right half AI (blue-dominant).
    assert px[H // 2, 2, 1] > px[H // 2, 2, 2] and px[H // 2, W - 3, 2] > px[H // 2, W - 3, 1]
    legend = wf.heatmap(proj, SHOT)
    assert legend.height > H


def test_cache_does_not_leak_mutations(proj: Project) -> None:
    _generate(proj, noise_plate(W, H))
    state = wf.plate_state(proj, SHOT)
    with pytest.raises(ValueError):
        state.image[0, 0] = 0  # read-only
    with pytest.raises(ValueError):
        state.raster.human[0, 0] = 1.0
    assert c.figures(state.raster)["ai_gen_share"] == 1.0


def test_shot_overview_and_submit(proj: Project) -> None:
    import io

    assert wf.shot_status(proj, SHOT) == "no plate" and wf.shot_layout(proj, SHOT) is None
    buf = io.BytesIO()
    Image.fromarray(grey_plate(W, H, 0)).save(buf, "PNG")
    wf.record_layout(proj, SHOT, buf.getvalue(), "layout-san")
    assert wf.shot_layout(proj, SHOT) == buf.getvalue()
    _generate(proj, noise_plate(W, H))
    assert wf.shot_status(proj, SHOT) == "generated"
    wf.record_paint(proj, SHOT, stroke_layer((H, W), (0, 0, 4, 4), (0, 0, 0)), "mika")
    assert wf.shot_status(proj, SHOT) == "in retouch"
    sub = wf.submit(proj, SHOT, "mika", "ready")
    assert sub.kind == "plate.submitted" and wf.shot_status(proj, SHOT) == "submitted"
    wf.reject(proj, SHOT, "director")
    assert wf.shot_status(proj, SHOT) == "rejected"
    assert wf.shot_codes(proj) == [SHOT]
    assert set(wf.SHOT_STATUSES) >= {"no plate", "generated", "submitted", "accepted"}
    verify_project(proj)


def test_record_generated_cli(proj: Project) -> None:
    class Result:
        def __init__(self, arr: np.ndarray) -> None:
            self._png, self.record = generated_png(arr)

        def png(self) -> bytes:
            return self._png

    layout = b"\x89PNG\r\n\x1a\nnot really"
    recs = wf.record_generated_cli(
        proj.root, SHOT, layout, [Result(noise_plate(W, H, i)) for i in range(2)]
    )
    assert [r.candidate for r in recs] == [1, 2] and recs[0].version == 1
    import hashlib

    assert proj.blobs.has(hashlib.sha256(layout).hexdigest())


def test_final_on_an_empty_shot_keeps_seconds_and_original(proj: Project) -> None:
    rec = wf.record_final(
        proj, "handmade", natural_plate(W, H), "mika", 3600, filename="bg.psd", original=b"psd"
    )
    assert rec.kind == "plate.imported"
    ev = proj.ledger.event(rec.seq)
    assert ev is not None and ev.payload["active_seconds"] == 3600.0
    assert ev.payload["filename"] == "bg.psd" and "original" in ev.blobs
    assert proj.blobs.get(ev.blobs["original"]) == b"psd"
    assert wf.plate_figures(proj, "handmade")["active_seconds"] == 3600.0
    verify_project(proj)


@pytest.mark.parametrize("seconds", [-5, float("nan"), float("inf")])
def test_final_on_an_empty_shot_refuses_bad_seconds(proj: Project, seconds: float) -> None:
    with pytest.raises(InputError, match="active seconds"):
        wf.record_final(proj, "handmade", natural_plate(W, H), "mika", seconds)
    assert proj.ledger.count() == 0 and wf.shot_codes(proj) == []


def test_two_first_finals_at_once_both_land(proj: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two artists import a final onto the same new plate at once (each one's first ledger
    transaction ends before either goes on): one starts the plate, the other's lands as a
    repaint of it, as import-final over an existing plate does. Nobody's work is refused."""
    import contextlib
    import threading

    write = proj.ledger.write
    both = threading.Barrier(2, timeout=10)
    waited = threading.local()

    @contextlib.contextmanager
    def write_then_wait() -> Iterator[WriteTx]:
        with write() as tx:
            yield tx
        if not getattr(waited, "done", False):
            waited.done = True
            both.wait()

    monkeypatch.setattr(proj.ledger, "write", write_then_wait)
    results: dict[str, object] = {}

    def go(artist: str, seed: int) -> None:
        try:
            results[artist] = wf.record_final(proj, "new", natural_plate(W, H, seed), artist, 60)
        except Exception as exc:  # reported by the assertion below
            results[artist] = exc

    threads = [threading.Thread(target=go, args=a) for a in (("ann", 1), ("ben", 2))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    recs = sorted(results.values(), key=lambda r: getattr(r, "version", 0) or 0)
    assert all(isinstance(r, wf.Recorded) for r in recs), results
    assert [(r.kind, r.version) for r in recs] == [("plate.imported", 1), ("human.painted", 2)]
    events = proj.ledger.events(shot="new")
    assert sorted(ev.actor for ev in events) == ["ann", "ben"]
    assert events[1].payload["source"] == "final" and events[1].payload["active_seconds"] == 60
    assert wf.plate_figures(proj, "new")["active_seconds"] == 120.0
    verify_project(proj)


def _refused_acts() -> dict[str, Callable[[Project], object]]:
    import io

    buf = io.BytesIO()
    Image.fromarray(grey_plate(W, H, 0)).save(buf, "PNG")
    png, rec = generated_png(noise_plate(W, H))
    layer = stroke_layer((H, W), (0, 0, 4, 4), (0, 0, 0))
    mask = np.ones((H, W), bool)
    plate = natural_plate(W, H)
    return {
        "final-no-artist": lambda p: wf.record_final(p, "new", plate, ""),
        "final-bad-seconds": lambda p: wf.record_final(p, "new", plate, "mika", -5),
        "base-no-artist": lambda p: wf.record_base(p, "new", plate, " "),
        "base-bad-seconds": lambda p: wf.record_base(p, "new", plate, "mika", active_seconds=-1),
        "base-bad-origin": lambda p: wf.record_base(p, "new", plate, "mika", origin="x"),
        "paint-no-plate": lambda p: wf.record_paint(p, "new", layer, "mika"),
        "adjust-no-plate": lambda p: wf.record_adjust(p, "new", plate, "mika"),
        "inpaint-no-plate": lambda p: wf.record_inpaint(p, "new", png, mask, rec, "mika"),
        "layout-no-artist": lambda p: wf.record_layout(p, "new", buf.getvalue(), ""),
        "generated-bad-requester": lambda p: wf.record_generated(p, "new", png, rec, "a\x01"),
        "select-nothing": lambda p: wf.select_variation(p, "new", 1, "mika"),
        "undo-nothing": lambda p: wf.undo(p, "new", 1, "mika"),
    }


@pytest.mark.parametrize("act", list(_refused_acts()))
def test_a_refused_act_on_a_new_shot_leaves_no_shot(proj: Project, act: str) -> None:
    with pytest.raises(InputError):
        _refused_acts()[act](proj)
    assert proj.ledger.count() == 0
    assert wf.shot_codes(proj) == [] and wf.plate_names(proj, "new") == []


def test_plate_states_load_from_several_threads_at_once(proj: Project) -> None:
    """Library callers may read and record from several threads: the plate cache must not
    fail while another thread adds to it."""
    import random
    import sys
    import threading

    wf.record_base(proj, SHOT, natural_plate(8, 8, 1), "a", origin="blank")
    for i in range(8):
        wf.record_paint(proj, SHOT, stroke_layer((8, 8), (0, 0, i + 1, 2), (i * 20, 0, 255)), "a")
    versions = wf.plate_versions(proj, SHOT)
    errors: list[str] = []

    def load(seed: int) -> None:
        pick = random.Random(seed)
        for _ in range(1500):
            try:
                wf.plate_state(proj, SHOT, version=pick.choice(versions).number)
            except Exception as exc:  # any failure is the finding
                errors.append(f"{type(exc).__name__}: {exc}")

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        threads = [threading.Thread(target=load, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []
