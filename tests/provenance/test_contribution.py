"""Known-answer and property tests of the provenance raster (bgart.provenance.raster)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from helpers.fork import check_in_fork
from helpers.images import grey_plate, natural_plate, noise_plate, stroke_layer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bgart import provenance as c
from bgart.provenance import parallel
from bgart.provenance.kernel import _div255

W, H = 64, 48
TOL = 0.005  # ±0.5 % of the plate


def _ai(width: int = W, height: int = H) -> c.Raster:
    return c.generated(width, height)


def _lab_reference(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) in float64, straight from the formulas."""
    v = rgb.astype(np.float64) / 255.0
    lin = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)
    m = np.array(
        [
            [0.4124564, 0.3575761, 0.1804375],
            [0.2126729, 0.7151522, 0.0721750],
            [0.0193339, 0.1191920, 0.9503041],
        ]
    )
    xyz = lin @ m.T / np.array([0.95047, 1.0, 1.08883])
    eps, kappa = 216 / 24389, 24389 / 27
    f = np.where(xyz > eps, np.cbrt(xyz), (kappa * xyz + 16) / 116)
    return np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1
    )


# --- the known answers -------------------------------------------------------------


def test_quarter_area_opaque_stroke_is_a_quarter_human() -> None:
    before = noise_plate(W, H)
    layer = stroke_layer((H, W), (0, 0, W // 2, H // 2), (255, 0, 255))
    out = c.paint(before, _ai(), layer)
    figs = c.figures(out.raster)
    assert figs["human_paint_share"] == pytest.approx(0.25, abs=TOL)
    assert figs["ai_gen_share"] == pytest.approx(0.75, abs=TOL)
    assert figs["human_touched_share"] == pytest.approx(0.25, abs=TOL)
    # The plate itself is exactly the stroke over the old pixels.
    assert (out.image[: H // 2, : W // 2] == (255, 0, 255)).all()
    assert np.array_equal(out.image[H // 2 :], before[H // 2 :])


def test_quarter_area_stroke_on_flat_grey() -> None:
    out = c.paint(
        grey_plate(W, H), _ai(), stroke_layer((H, W), (0, 0, W // 2, H // 2), (200, 30, 40))
    )
    assert c.figures(out.raster)["human_paint_share"] == 0.25


def test_half_alpha_stroke_counts_half() -> None:
    layer = stroke_layer((H, W), (0, 0, W // 2, H // 2), (255, 255, 255), alpha=128)
    out = c.paint(grey_plate(W, H, 20), _ai(), layer)
    assert c.figures(out.raster)["human_paint_share"] == pytest.approx(0.125, abs=TOL)
    # Painting the same half-alpha stroke again: h = a + (1 − a)·a.
    again = c.paint(out.image, out.raster, layer)
    a = 128 / 255
    assert c.figures(again.raster)["human_paint_share"] == pytest.approx(
        0.25 * (a + (1 - a) * a), abs=1e-6
    )


def test_repainting_the_same_colour_earns_nothing() -> None:
    before = grey_plate(W, H, 128)
    layer = stroke_layer((H, W), (0, 0, W, H), (128, 128, 128))
    out = c.paint(before, _ai(), layer)
    assert c.figures(out.raster)["human_paint_share"] == 0.0
    assert out.stats["visible_px"] == 0
    # A barely different colour (ΔE < 2.3) is not a visible change either.
    near = c.paint(before, _ai(), stroke_layer((H, W), (0, 0, W, H), (129, 128, 127)))
    assert c.figures(near.raster)["human_paint_share"] == 0.0
    assert near.stats["changed_px"] == W * H and near.stats["visible_px"] == 0


def test_inpaint_over_human_paint_moves_pixels_to_ai_inpaint() -> None:
    before = noise_plate(W, H)
    painted = c.paint(before, _ai(), stroke_layer((H, W), (0, 0, W // 2, H), (255, 0, 255)))
    assert c.figures(painted.raster)["human_paint_share"] == pytest.approx(0.5)
    mask = np.zeros((H, W), bool)
    mask[:, : W // 4] = True  # half of the painted half
    result = np.full((H, W, 3), (10, 200, 30), np.uint8)
    inp = c.inpaint(painted.image, painted.raster, result, mask)
    figs = c.figures(inp.raster)
    assert figs["human_paint_share"] == pytest.approx(0.25)
    assert figs["ai_inpaint_share"] == pytest.approx(0.25)
    assert figs["ai_gen_share"] == pytest.approx(0.5)
    assert (inp.raster.cls[:, : W // 4] == c.AI_INPAINT).all()
    assert (inp.raster.human[:, : W // 4] == 0).all()
    # Touched stays: it records that a human painted there, even though AI replaced it.
    assert figs["human_touched_share"] == pytest.approx(0.5)
    # Outside the mask the plate is untouched, whatever the model returned there.
    assert np.array_equal(inp.image[:, W // 4 :], painted.image[:, W // 4 :])
    assert inp.stats["mask_px"] == H * W // 4


def test_inpaint_without_visible_change_keeps_provenance() -> None:
    before = grey_plate(W, H, 90)
    painted = c.paint(before, _ai(), stroke_layer((H, W), (0, 0, W, H), (250, 250, 250)))
    mask = np.ones((H, W), bool)
    inp = c.inpaint(painted.image, painted.raster, painted.image.copy(), mask)
    assert c.figures(inp.raster)["human_paint_share"] == 1.0
    assert inp.stats["visible_px"] == 0


def test_final_with_one_changed_quadrant() -> None:
    before = natural_plate(W, H)
    final = before.copy()
    final[H // 2 :, W // 2 :] = 255 - final[H // 2 :, W // 2 :]
    out = c.final(before, _ai(), final)
    figs = c.figures(out.raster)
    assert figs["human_paint_share"] == pytest.approx(0.25, abs=TOL)
    assert figs["ai_gen_share"] == pytest.approx(0.75, abs=TOL)
    assert np.array_equal(out.image, final)


def test_final_with_invisible_noise_is_not_credited() -> None:
    before = natural_plate(W, H)
    rng = np.random.default_rng(3)
    jitter = rng.integers(-1, 2, before.shape)
    final = np.clip(before.astype(int) + jitter, 0, 255).astype(np.uint8)
    out = c.final(before, _ai(), final)
    assert c.figures(out.raster)["human_paint_share"] == 0.0


# --- adjustments are not authorship --------------------------------------------------------


def test_adjust_marks_pixels_but_keeps_authorship() -> None:
    before = natural_plate(W, H)
    adjusted = np.clip(before.astype(int) * 9 // 10 + 20, 0, 255).astype(np.uint8)
    out = c.adjust(before, _ai(), adjusted)
    figs = c.figures(out.raster)
    assert figs["ai_gen_share"] == 1.0
    assert figs["adjust_share"] > 0.8  # tones near the curve's fixed point barely move
    assert np.array_equal(out.image, adjusted)


@pytest.mark.parametrize(
    "transform",
    [
        lambda x: x * 0.8 + 25,  # levels
        lambda x: 255 * (x / 255) ** 0.8,  # gamma
        lambda x: x * [1.1, 1.0, 0.85] + [0, 5, 10],  # colour balance
    ],
    ids=["levels", "gamma", "colour-balance"],
)
def test_a_tone_adjustment_imported_as_final_earns_no_paint_credit(transform: object) -> None:
    before = natural_plate(160, 120)
    final = np.clip(np.rint(transform(before.astype(np.float64))), 0, 255).astype(np.uint8)  # type: ignore[operator]
    out = c.final(before, _ai(160, 120), final)
    figs = c.figures(out.raster)
    assert out.stats["visible_px"] > 0.5 * 160 * 120
    assert figs["human_paint_share"] < 0.02
    assert figs["adjust_share"] > 0.5


def test_a_large_flat_fill_is_still_paint() -> None:
    # 60 % of the plate repainted in one flat sky colour: a tone curve cannot explain that.
    before = natural_plate(160, 120)
    final = before.copy()
    final[:72] = (120, 170, 230)
    out = c.final(before, _ai(160, 120), final)
    assert c.figures(out.raster)["human_paint_share"] == pytest.approx(0.6, abs=TOL)


def test_a_full_repaint_with_new_content_is_all_human() -> None:
    before = natural_plate(160, 120, seed=1)
    final = noise_plate(160, 120, seed=2)
    out = c.final(before, _ai(160, 120), final)
    assert c.figures(out.raster)["human_paint_share"] > 0.98


def test_opaque_paint_replaces_an_adjusted_colour() -> None:
    before = natural_plate(W, H)
    adjusted = np.clip(before.astype(int) + 30, 0, 255).astype(np.uint8)
    adj = c.adjust(before, _ai(), adjusted)
    out = c.paint(adj.image, adj.raster, stroke_layer((H, W), (0, 0, W, H // 2), (0, 0, 0)))
    figs = c.figures(out.raster)
    assert figs["adjust_share"] == pytest.approx(
        c.figures(adj.raster)["adjust_share"] - 0.5, abs=0.02
    )


# --- bases ---------------------------------------------------------------------------------


def test_imported_bases() -> None:
    hand = c.figures(c.imported(W, H, "hand-painted"))
    assert hand["human_paint_share"] == 1.0 and hand["human_touched_share"] == 1.0
    layout = c.imported(W, H, "layout")
    assert c.figures(layout)["human_base_share"] == 1.0
    out = c.paint(
        grey_plate(W, H, 0), layout, stroke_layer((H, W), (0, 0, W // 2, H), (255, 255, 255))
    )
    figs = c.figures(out.raster)
    assert figs["human_paint_share"] == 0.5 and figs["human_base_share"] == 0.5
    with pytest.raises(ValueError):
        c.imported(W, H, "photo")


# --- colour science and exactness ----------------------------------------------------------


def test_delta_e_matches_the_float64_formulas() -> None:
    rng = np.random.default_rng(7)
    a = rng.integers(0, 256, (5000, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (5000, 3), dtype=np.uint8)
    a[:20] = rng.integers(0, 12, (20, 3))  # the dark, linear toe of CIELAB
    want = np.linalg.norm(_lab_reference(a) - _lab_reference(b), axis=-1)
    assert np.abs(c.delta_e76(a, b) - want).max() < 2e-3
    black, white = np.zeros((1, 3), np.uint8), np.full((1, 3), 255, np.uint8)
    assert c.delta_e76(black, white)[0] == pytest.approx(100.0, abs=1e-3)


def test_div255_is_exact() -> None:
    v = np.arange(0, 255 * 255 + 128, dtype=np.uint16)  # every value a blend can reach
    assert np.array_equal(_div255(v), v // 255)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1))
def test_composite_is_exact_rounding(seed: int) -> None:
    rng = np.random.default_rng(seed)
    before = rng.integers(0, 256, (7, 9, 3), dtype=np.uint8)
    colour = rng.integers(0, 256, (7, 9, 3), dtype=np.uint8)
    alpha = rng.choice(np.array([0, 1, 127, 128, 254, 255], np.uint8), (7, 9))
    after, visible, changed = c.composite(before, colour, alpha)
    a = alpha[..., None].astype(np.float64) / 255
    want = np.floor(before * (1 - a) + colour * a + 0.5)
    assert np.array_equal(after, want.astype(np.uint8))
    assert changed == int((after != before).any(-1).sum())
    assert np.array_equal(visible, c.visibly_different(before, after))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["paint", "inpaint", "adjust", "final"]), st.integers(0, 2**32 - 1)
        ),
        min_size=1,
        max_size=6,
    )
)
def test_shares_stay_in_range_and_sum_to_one(ops: list[tuple[str, int]]) -> None:
    image = noise_plate(24, 16)
    raster = _ai(24, 16)
    for op, seed in ops:
        rng = np.random.default_rng(seed)
        if op == "paint":
            layer = rng.integers(0, 256, (16, 24, 4), dtype=np.uint8)
            layer[..., 3] = rng.choice(np.array([0, 64, 255], np.uint8), (16, 24))
            out = c.paint(image, raster, layer)
        elif op == "inpaint":
            out = c.inpaint(
                image,
                raster,
                rng.integers(0, 256, (16, 24, 3), dtype=np.uint8),
                rng.random((16, 24)) < 0.3,
            )
        elif op == "adjust":
            out = c.adjust(image, raster, np.clip(image.astype(int) + 9, 0, 255).astype(np.uint8))
        else:
            out = c.final(image, raster, rng.integers(0, 256, (16, 24, 3), dtype=np.uint8))
        image, raster = out.image, out.raster
        figs = c.figures(raster)
        parts = [
            figs[k]
            for k in ("human_paint_share", "ai_gen_share", "ai_inpaint_share", "human_base_share")
        ]
        assert all(0.0 <= p <= 1.0 for p in parts)
        assert sum(parts) == pytest.approx(1.0, abs=1e-9)
        assert ((raster.human >= 0) & (raster.human <= 1)).all()


def _reference_paint(
    before: np.ndarray, raster: c.Raster, layer: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The definition written the slow, obvious way (no tone curve, no chunks)."""
    a8 = layer[..., 3:4].astype(np.int64)
    after = ((before.astype(np.int64) * (255 - a8) + layer[..., :3] * a8 + 127) // 255).astype(
        np.uint8
    )
    visible = np.linalg.norm(_lab_reference(before) - _lab_reference(after), axis=-1) > 2.3
    a = layer[..., 3].astype(np.float32) * np.float32(1 / 255)
    h = raster.human.copy()
    h[visible] = h[visible] + a[visible] * (1 - h[visible])
    return after, h


def test_chunked_parallel_kernel_matches_the_reference() -> None:
    # Large enough for several chunks and the thread pool, with a ragged last chunk.
    w, h = 613, 419
    before = natural_plate(w, h, seed=5)
    rng = np.random.default_rng(9)
    layer = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    layer[..., 3] = np.where(rng.random((h, w)) < 0.5, 0, layer[..., 3])
    raster = _ai(w, h)
    out = c.paint(before, raster, layer, tone_test=False)
    want_after, want_h = _reference_paint(before, raster, layer)
    assert np.array_equal(out.image, want_after)
    # Only pixels within float noise of the 2.3 threshold may disagree with float64.
    assert np.mean(out.raster.human != want_h) < 1e-4
    again = c.paint(before, raster, layer, tone_test=False)
    assert again.raster.equals(out.raster)  # deterministic


def test_the_result_does_not_depend_on_the_chunk_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """The chunk size is a speed setting: a ledger recorded with one must verify with any."""
    w, h = 613, 419
    before = natural_plate(w, h, seed=6)
    rng = np.random.default_rng(10)
    layer = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    layer[: h // 3, :, 3] = 0  # chunks the event does not touch are skipped
    # A whole-plate tone adjustment with a repainted band: the tone test splits each chunk.
    final = np.clip(before.astype(np.int32) + 40, 0, 255).astype(np.uint8)
    final[: h // 5] = (120, 170, 230)
    out = c.paint(before, _ai(w, h), layer)
    tone = c.final(before, _ai(w, h), final)
    assert 0 < tone.stats["explained_px"] < tone.stats["visible_px"]
    assert tone.stats["credited_px"] > 0
    for chunk in (1 << 12, 1 << 14, 1 << 18):
        monkeypatch.setattr(parallel, "_CHUNK", chunk)
        monkeypatch.setattr(parallel, "_PARALLEL_MIN", 2 * chunk)
        other = c.paint(before, _ai(w, h), layer)
        assert np.array_equal(other.image, out.image) and other.raster.equals(out.raster)
        assert other.stats == out.stats
        other = c.final(before, _ai(w, h), final)
        assert other.raster.equals(tone.raster) and other.stats == tone.stats


def _edits(rng: np.random.Generator) -> list[c.Edit]:
    """Edits of every kind on plates of several sizes, some larger than a chunk (so a pass
    over them splits an edit between chunks and puts two edits in one), on rasters that
    already hold paint, inpaint and adjustments."""
    edits = []
    for i, (w, h) in enumerate([(48, 27), (300, 250), (7, 3), (613, 119), (48, 27), (1, 1)] * 3):
        before = natural_plate(w, h, seed=i)
        raster = c.paint(before, _ai(w, h), rng.integers(0, 256, (h, w, 4), np.uint8)).raster
        plus9 = np.clip(before.astype(int) + 9, 0, 255).astype(np.uint8)
        raster = c.adjust(before, raster, plus9).raster
        mask = rng.random((h, w)) < 0.2
        raster = c.inpaint(before, raster, noise_plate(w, h, seed=i), mask).raster
        layer = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
        layer[..., 3] = np.where(rng.random((h, w)) < 0.6, 0, layer[..., 3])
        if i % 4 == 1:
            layer[..., 3] = 0  # touches nothing
        moved = np.clip(before.astype(np.int32) + 35, 0, 255).astype(np.uint8)
        edits += [
            c.Edit("paint", before, raster, layer),
            c.Edit("paint", before, raster, layer, tone_test=False),
            c.Edit("final", before, raster, noise_plate(w, h, seed=100 + i)),
            c.Edit("final", before, raster, moved),  # a tone adjustment: its own curve
            c.Edit(
                "inpaint", before, raster, noise_plate(w, h, seed=200 + i), rng.random((h, w)) < 0.3
            ),
            c.Edit("adjust", before, raster, moved),
        ]
    return edits


def test_edits_applied_together_give_each_what_it_gets_alone() -> None:
    """``ledger verify`` recomputes many versions in one pass: the result of each must be
    the one recording computed for it alone, byte for byte, figures included."""
    edits = _edits(np.random.default_rng(21))
    kept = [e.raster.copy() for e in edits]
    together = c.apply(edits)
    alone = {
        "paint": lambda e: c.paint(e.before, e.raster, e.image, tone_test=e.tone_test),
        "final": lambda e: c.final(e.before, e.raster, e.image, tone_test=e.tone_test),
        "inpaint": lambda e: c.inpaint(e.before, e.raster, e.image, e.mask),
        "adjust": lambda e: c.adjust(e.before, e.raster, e.image),
    }
    assert len(together) == len(edits)
    for edit, got, raster in zip(edits, together, kept, strict=True):
        want = alone[edit.kind](edit)
        assert np.array_equal(got.image, want.image), edit.kind
        assert got.raster.equals(want.raster), (edit.kind, got.raster.difference(want.raster))
        assert got.stats == want.stats
        assert edit.raster.equals(raster)  # the input raster is left as it was
    kinds = {
        (e.kind, bool(r.stats.get("explained_px"))) for e, r in zip(edits, together, strict=True)
    }
    assert ("final", True) in kinds and ("paint", False) in kinds  # both paths were taken
    assert sum(r.stats.get("visible_px", 0) > 0 for r in together) > len(edits) // 2


def test_an_edit_that_does_not_fit_its_plate_is_named() -> None:
    before = natural_plate(8, 8)
    with pytest.raises(ValueError, match="paint layer is 4x8 but the plate is 8x8"):
        c.apply(
            [
                c.Edit("adjust", before, _ai(8, 8), before),
                c.Edit("paint", before, _ai(8, 8), np.zeros((8, 4, 4), np.uint8)),
            ]
        )
    with pytest.raises(ValueError, match="unknown edit 'smudge'"):
        c.apply([c.Edit("smudge", before, _ai(8, 8), before)])


def test_raster_serialisation_round_trip() -> None:
    out = c.paint(noise_plate(W, H), _ai(), stroke_layer((H, W), (3, 4, 30, 20), (1, 2, 3), 77))
    data = out.raster.to_bytes()
    back = c.Raster.from_bytes(data)
    assert back.equals(out.raster) and back.difference(out.raster) == ""
    assert back.to_bytes() == data
    with pytest.raises(ValueError):
        c.Raster.from_bytes(b"nope")


def test_size_mismatch_is_refused() -> None:
    with pytest.raises(ValueError, match="paint layer is 10x10 but the plate is 64x48"):
        c.paint(noise_plate(W, H), _ai(), np.zeros((10, 10, 4), np.uint8))


def test_mask_from_image() -> None:
    grey = np.array([[0, 127, 128, 255]], np.uint8)
    assert c.mask_from_image(grey).tolist() == [[False, False, True, True]]
    rgba = np.zeros((1, 2, 4), np.uint8)
    rgba[0, 1, 3] = 200
    assert c.mask_from_image(rgba).tolist() == [[False, True]]


def test_heatmap_colours_and_legend() -> None:
    raster = _ai()
    raster.human[:, : W // 2] = 1.0
    raster.cls[: H // 2, W // 2 :] = c.AI_INPAINT
    img = c.heatmap(raster)
    assert img.width == W and img.height > H  # legend below
    px = np.asarray(img)
    assert tuple(px[H - 1, 0]) == c.HEAT_COLOURS["human paint"]
    assert tuple(px[0, W - 1]) == c.HEAT_COLOURS["AI inpainted"]
    assert tuple(px[H - 1, W - 1]) == c.HEAT_COLOURS["AI generated"]
    bare = c.heatmap(raster, noise_plate(W, H), legend=False)
    assert bare.size == (W, H)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_runs_the_kernel_on_its_own_threads() -> None:
    """verify's workers are forked from a process whose raster thread pool may be running:
    the child must start its own pool, not wait forever on threads left in the parent."""
    w, h = 640, 480  # above the size the kernel splits over its thread pool
    plate = natural_plate(w, h)
    layer = stroke_layer((h, w), (0, 0, w // 2, h), (255, 0, 255))
    expected = c.paint(plate, c.generated(w, h), layer)  # the parent's pool now exists

    def same_in_child() -> bool:
        got = c.paint(plate, c.generated(w, h), layer)
        return np.array_equal(got.image, expected.image) and got.stats == expected.stats

    check_in_fork(same_in_child, "the parent's raster thread pool")
