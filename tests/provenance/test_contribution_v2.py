"""Contribution definition v2 (issue 18): known answers through the CLI, and properties.

Every figure is read from `bgart ledger show --json`, after `bgart ledger import-final` /
`import-paint`, as a production coordinator would; each project is verified at the end.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from helpers.cli import ai_plate_project, ledger_cli
from helpers.images import generated_png, natural_plate, stroke_layer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from bgart import plates as wf
from bgart import provenance as c
from bgart.ledger import Project
from bgart.verify import verify_project

W, H = 160, 120
SHOT = "ep18_c001"


def _cli(*args: str) -> str:
    return ledger_cli(*args).stdout


@pytest.fixture
def show(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A project with one AI plate (a natural-looking picture with grain)."""
    plate = natural_plate(W, H, seed=4)
    return ai_plate_project(tmp_path / "show", SHOT, plate), plate


def _save(tmp: Path, name: str, arr: np.ndarray, fmt: str, **options: object) -> Path:
    path = tmp / name
    Image.fromarray(arr).save(path, fmt, **options)
    return path


def _final(root: Path, path: Path, artist: str = "Mika") -> None:
    _cli("ledger", "import-final", SHOT, str(path), "--artist", artist, "-p", str(root))


def _paint(root: Path, tmp: Path, layer: np.ndarray, artist: str = "Mika") -> None:
    path = _save(tmp, "layer.png", layer, "PNG")
    _cli("ledger", "import-paint", SHOT, "--layer", str(path), "--artist", artist, "-p", str(root))


def _figures(root: Path) -> dict[str, object]:
    data = json.loads(_cli("ledger", "show", SHOT, "-p", str(root), "--json"))
    return data["plates"]["main"]


def _human(root: Path) -> float:
    return float(_figures(root)["human_paint_share"])  # type: ignore[arg-type]


def _verified(root: Path) -> None:
    with Project.open(root) as project:
        verify_project(project)


@pytest.mark.parametrize("quality", [75, 90, 95])
@pytest.mark.parametrize("subsampling", [0, 2])
def test_a_jpeg_resave_of_an_untouched_ai_plate_earns_nothing(
    show: tuple[Path, np.ndarray], tmp_path: Path, quality: int, subsampling: int
) -> None:
    root, plate = show
    _final(root, _save(tmp_path, "f.jpg", plate, "JPEG", quality=quality, subsampling=subsampling))
    assert _human(root) < 0.01  # v1: 30–95 %
    data = json.loads(_cli("ledger", "show", SHOT, "-p", str(root), "--json"))
    event = data["events"][-1]
    assert event["payload"]["contribution"] == 2 and "ref_before" in event["blobs"]
    _verified(root)


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_a_quarter_repaint_delivered_lossy_is_a_quarter(
    show: tuple[Path, np.ndarray], tmp_path: Path, fmt: str
) -> None:
    root, plate = show
    final = plate.copy()
    final[:, : W // 4] = (200, 40, 90)
    _final(root, _save(tmp_path, "f." + fmt.lower(), final, fmt, quality=90))
    assert _human(root) == pytest.approx(0.25, abs=0.01)  # v1: about 96 % for the JPEG
    _verified(root)


def test_cover_then_restore_ends_at_zero(show: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    root, plate = show
    cover = stroke_layer((H, W), (1, 1, W - 1, H - 1), (30, 200, 60))
    _paint(root, tmp_path, cover)
    assert _human(root) > 0.95
    _final(root, _save(tmp_path, "original.png", plate, "PNG"))
    figs = _figures(root)
    assert figs["human_paint_share"] == 0.0  # v1: 99.99–100 %
    assert figs["ai_gen_share"] == 1.0
    _verified(root)


def test_cover_then_restore_as_a_jpeg_ends_near_zero(
    show: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    root, plate = show
    _paint(root, tmp_path, stroke_layer((H, W), (0, 0, W, H - 1), (30, 200, 60)))
    _final(root, _save(tmp_path, "original.jpg", plate, "JPEG", quality=90))
    assert _human(root) < 0.01
    _verified(root)


def test_a_return_to_the_painters_value_after_an_inpaint_is_the_painters(
    show: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    """Paint, an AI inpaint over it, then the painted version handed back: human again."""
    root, _plate = show
    _paint(root, tmp_path, stroke_layer((H, W), (0, 0, W // 2, H), (250, 250, 20)))
    with Project.open(root) as project:
        painted = wf.plate_state(project, SHOT).image.copy()
        mask = np.zeros((H, W), bool)
        mask[:, : W // 4] = True
        result = np.full((H, W, 3), (10, 10, 120), np.uint8)
        png, rec = generated_png(result)
        wf.record_inpaint(project, SHOT, png, mask, rec, "Mika")
    assert _human(root) == pytest.approx(0.25, abs=0.001)
    _final(root, _save(tmp_path, "painted.png", painted, "PNG"))
    assert _human(root) == pytest.approx(0.5, abs=0.001)
    _verified(root)


_SHARES = (
    "human_paint_share",
    "ai_gen_share",
    "ai_inpaint_share",
    "human_base_share",
    "human_touched_share",
    "adjust_share",
)


def _shares(root: Path) -> dict[str, object]:
    figs = _figures(root)
    return {key: figs[key] for key in _SHARES}


def _version_png(root: Path, tmp: Path, version: int) -> Path:
    """Version ``version``'s image as stored in the ledger (its ``image`` blob), as a file."""
    data = json.loads(_cli("ledger", "show", SHOT, "-p", str(root), "--json"))
    made = [e for e in data["events"] if e["payload"].get("version") == version]
    with Project.open(root) as project:
        png = project.blobs.get(made[0]["blobs"]["image"])
    path = tmp / f"v{version}.png"
    path.write_bytes(png)
    return path


def _inpaint_and_adjust(root: Path, box: tuple[slice, slice]) -> None:
    """An AI inpaint of ``box`` (a flat colour), then levels +12 over the whole plate."""
    with Project.open(root) as project:
        mask = np.zeros((H, W), bool)
        mask[box] = True
        png, rec = generated_png(np.full((H, W, 3), (10, 10, 120), np.uint8))
        wf.record_inpaint(project, SHOT, png, mask, rec, "Mika")
        img = wf.plate_state(project, SHOT).image
        wf.record_adjust(
            project, SHOT, np.clip(img.astype(np.int16) + 12, 0, 255).astype(np.uint8), "Ren"
        )


def test_handing_back_version_1_after_paint_inpaint_and_adjust_gives_its_figures(
    show: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    """AI plate → paint (opaque and a glaze) → AI inpaint → levels → import-final of version
    1's PNG: version 1's figures exactly (v2 before returns to earlier versions: the
    inpainted and adjusted pixels handed back read as paint)."""
    root, _plate = show
    first = _shares(root)
    _paint(root, tmp_path, stroke_layer((H, W), (0, 0, W // 2, H // 2), (250, 250, 20)))
    glaze = stroke_layer((H, W), (W // 2, H // 2, W, H), (20, 90, 250), 128)
    _paint(root, tmp_path, glaze, "Ren")
    _inpaint_and_adjust(root, (slice(0, H // 2), slice(0, W // 4)))
    assert _shares(root) != first
    _final(root, _version_png(root, tmp_path, 1))
    assert _shares(root) == first
    data = json.loads(_cli("ledger", "show", SHOT, "-p", str(root), "--json"))
    event = data["events"][-1]
    assert event["payload"]["restore_from"] == [4, 3, 2, 1]  # the versions before 5
    assert event["payload"]["stats"]["returned_px"] == W * H
    assert "OK" in _cli("ledger", "verify", "-p", str(root)).upper()
    _verified(root)


@pytest.mark.parametrize(
    "fmt,options",
    [
        ("JPEG", {"quality": 75, "subsampling": 2}),
        ("JPEG", {"quality": 90, "subsampling": 0}),
        ("JPEG", {"quality": 95, "subsampling": 2}),
        ("WEBP", {"quality": 90}),
    ],
    ids=["jpeg-75-420", "jpeg-90-444", "jpeg-95-420", "webp-90"],
)
def test_handing_back_version_1_as_a_lossy_file_gives_its_figures(
    show: tuple[Path, np.ndarray], tmp_path: Path, fmt: str, options: dict[str, int]
) -> None:
    """The same, version 1 re-saved lossy: the earlier version that matches most pixels is
    rendered by the file's codec too (blob ref_restore), so its codec noise is not paint."""
    root, plate = show
    first = _shares(root)
    _paint(root, tmp_path, stroke_layer((H, W), (0, 0, W // 2, H // 2), (250, 250, 20)))
    glaze = stroke_layer((H, W), (W // 2, H // 2, W, H), (20, 90, 250), 128)
    _paint(root, tmp_path, glaze, "Ren")
    _inpaint_and_adjust(root, (slice(0, H), slice(0, W // 2)))
    _final(root, _save(tmp_path, "v1." + fmt.lower(), plate, fmt, **options))
    assert _shares(root) == first
    data = json.loads(_cli("ledger", "show", SHOT, "-p", str(root), "--json"))
    event = data["events"][-1]
    assert event["payload"]["restore_ref"] == 1 and "ref_restore" in event["blobs"]
    _verified(root)


def test_handing_back_a_glazed_version_gives_its_partial_weights(
    show: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    """A half-alpha glaze (h = 128/255), covered by an opaque layer, then handed back: the
    glaze's weight, not h = 1."""
    root, _plate = show
    _paint(root, tmp_path, stroke_layer((H, W), (0, 0, W // 2, H), (250, 40, 20), 128))
    glazed = _shares(root)
    assert 0.2 < glazed["human_paint_share"] <= 0.5 * 128 / 255  # (where visible)
    _paint(root, tmp_path, stroke_layer((H, W), (0, 0, W, H - 1), (30, 200, 60)))
    _final(root, _version_png(root, tmp_path, 2))
    assert _shares(root) == glazed
    _verified(root)


def test_a_layered_psd_over_the_original_returns_it_and_credits_its_layer(
    show: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    """A PSD whose bottom layer is the untouched AI original (after a cover and an AI
    inpaint) and whose one layer above paints a quarter: only that layer is human."""
    from psd_tools import PSDImage
    from psd_tools.api.layers import PixelLayer

    root, plate = show
    _paint(root, tmp_path, stroke_layer((H, W), (0, 0, W, H - 1), (30, 200, 60)))
    _inpaint_and_adjust(root, (slice(0, H), slice(0, W // 2)))
    psd = PSDImage.new("RGB", (W, H))
    psd.append(PixelLayer.frompil(Image.fromarray(plate), psd, "plate"))
    quarter = np.zeros((H, W // 4, 4), np.uint8)
    quarter[...] = (250, 40, 200, 255)
    psd.append(PixelLayer.frompil(Image.fromarray(quarter, "RGBA"), psd, "@Rui", top=0, left=0))
    path = tmp_path / "over-original.psd"
    psd.save(str(path))
    _final(root, path)
    figs = _figures(root)
    assert figs["human_paint_share"] == pytest.approx(0.25, abs=0.01)
    assert figs["ai_inpaint_share"] == 0.0 and figs["adjust_share"] == 0.0
    assert figs["ai_gen_share"] == pytest.approx(1 - float(figs["human_paint_share"]), abs=1e-9)  # type: ignore[arg-type]
    _verified(root)


def test_a_final_mixing_two_earlier_versions_gives_each_part_its_own(
    show: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    """Left half from the painted version 2, right half from the inpainted version 3, over a
    later cover: the paint (a quarter) is the painter's, the right half the model's."""
    root, _plate = show
    _paint(root, tmp_path, stroke_layer((H, W), (0, 0, W // 2, H // 2), (250, 250, 20)))
    with Project.open(root) as project:
        painted = wf.plate_state(project, SHOT).image.copy()
        png, rec = generated_png(np.full((H, W, 3), (10, 10, 120), np.uint8))
        wf.record_inpaint(project, SHOT, png, np.ones((H, W), bool), rec, "Mika")
        inpainted = wf.plate_state(project, SHOT).image.copy()
    _paint(root, tmp_path, stroke_layer((H, W), (0, 0, W, H - 1), (30, 200, 60)))
    mixed = inpainted.copy()
    mixed[:, : W // 2] = painted[:, : W // 2]
    _final(root, _save(tmp_path, "mixed.png", mixed, "PNG"))
    figs = _figures(root)
    assert figs["human_paint_share"] == 0.25
    assert figs["ai_gen_share"] == 0.25
    assert figs["ai_inpaint_share"] == 0.5
    _verified(root)


@pytest.mark.parametrize(
    "adjust",
    [
        lambda a: np.clip(np.rint((a - 20.0) * 255 / 215), 0, 255),  # levels 20–235
        lambda a: np.clip(np.rint(((a - 128.0) * 1.25 + 128) * 1.1), 0, 255),  # contrast
    ],
    ids=["levels-20-235", "contrast-1.25-brightness-1.1"],
)
def test_clipped_tone_edits_are_adjustments(
    show: tuple[Path, np.ndarray], tmp_path: Path, adjust: object
) -> None:
    root, plate = show
    final = adjust(plate.astype(np.float64)).astype(np.uint8)  # type: ignore[operator]
    _final(root, _save(tmp_path, "levels.png", final, "PNG"))
    figs = _figures(root)
    assert figs["human_paint_share"] < 0.02  # v1: 6–14 %
    assert figs["adjust_share"] > 0.9
    _verified(root)


def test_a_local_burn_stays_paint(show: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    root, plate = show
    final = plate.copy()
    final[: H // 2, : W // 2] = (final[: H // 2, : W // 2] * 0.6).astype(np.uint8)
    _final(root, _save(tmp_path, "burn.png", final, "PNG"))
    assert _human(root) == pytest.approx(0.25, abs=0.01)
    _final(root, _save(tmp_path, "original.png", plate, "PNG"))  # the burn handed back
    assert _shares(root)["human_paint_share"] == 0.0  # (before returns to versions: 1–2 %)
    assert _shares(root)["adjust_share"] == 0.0
    _verified(root)


def test_real_strokes_in_a_jpeg_still_count(show: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    """1-px line work and a small detail, delivered at JPEG quality 90."""
    root, plate = show
    final = plate.copy()
    final[::10, :] = (0, 0, 0)  # 12 one-pixel lines: 10 % of the plate
    final[50:60, 50:60] = (255, 255, 255)
    _final(root, _save(tmp_path, "lines.jpg", final, "JPEG", quality=90))
    assert 0.09 < _human(root) < 0.2


def test_16_bit_and_dithered_round_trips_earn_nothing(
    show: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    root, plate = show
    sixteen = plate.astype(np.uint16) * 257
    path = tmp_path / "f16.png"
    Image.fromarray(sixteen[..., 0], "I;16").save(path)  # one channel: Pillow writes grey only
    rng = np.random.default_rng(1)
    dithered = np.clip(plate.astype(np.int16) + rng.integers(-1, 2, plate.shape), 0, 255)
    _final(root, _save(tmp_path, "dither.png", dithered.astype(np.uint8), "PNG"))
    assert _human(root) == 0.0


def test_an_icc_tagged_round_trip_earns_nothing(
    show: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    from PIL import ImageCms

    root, plate = show
    srgb = ImageCms.createProfile("sRGB")
    lab = ImageCms.createProfile("LAB")
    # through Lab and back (a colour-space round trip), tagged with an sRGB profile
    there = ImageCms.profileToProfile(Image.fromarray(plate), srgb, lab, outputMode="LAB")
    back = ImageCms.profileToProfile(there, lab, srgb, outputMode="RGB")
    icc = ImageCms.ImageCmsProfile(srgb).tobytes()
    path = tmp_path / "tagged.png"
    back.save(path, icc_profile=icc)
    _final(root, path)
    assert _human(root) < 0.01


# --- properties ---------------------------------------------------------------------------

P_W, P_H = 48, 32
_acts = st.lists(
    st.tuples(
        st.sampled_from(["paint", "glaze", "final", "inpaint", "adjust"]),
        st.integers(0, P_W - 8),
        st.integers(0, P_H - 8),
        st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)),
    ),
    min_size=1,
    max_size=5,
)


def _final_over(versions: list[c.Applied], final: np.ndarray) -> c.Applied:
    """``final`` imported over the last of ``versions`` (numbered 1, 2, …) as the plates
    layer does it: the final edit, then the returns to the earlier versions it consults."""
    last = versions[-1]
    earlier = [
        c.Earlier(k, lambda v=versions[k - 1]: v.image, lambda v=versions[k - 1]: v.raster)
        for k in c.restore_window(len(versions))
    ]
    return c.restore_earlier(c.final(last.image, last.raster, final), last.image, final, earlier)


def _replay_acts(plate: np.ndarray, acts: list) -> list[c.Applied]:
    """Apply ``acts`` in memory (v2) to an AI plate: every version, the first included."""
    raster = c.generated(P_W, P_H).with_base(plate)
    versions = [c.Applied(plate, raster)]
    for kind, x, y, colour in acts:
        cur = versions[-1]
        box = (x, y, x + 8, y + 8)
        if kind in ("paint", "glaze"):
            layer = stroke_layer((P_H, P_W), box, colour, 255 if kind == "paint" else 128)
            versions.append(c.paint(cur.image, cur.raster, layer))
        elif kind == "final":
            img = cur.image.copy()
            img[y : y + 8, x : x + 8] = colour
            versions.append(_final_over(versions, img))
        elif kind == "inpaint":
            mask = np.zeros((P_H, P_W), bool)
            mask[y : y + 8, x : x + 8] = True
            result = np.full((P_H, P_W, 3), colour, np.uint8)
            versions.append(c.inpaint(cur.image, cur.raster, result, mask))
        else:
            img = np.clip(cur.image.astype(np.int16) + 12, 0, 255).astype(np.uint8)
            versions.append(c.adjust(cur.image, cur.raster, img))
    return versions


_settings = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_settings
@given(acts=_acts, seed=st.integers(0, 5))
def test_property_shares_sum_to_one(acts: list, seed: int) -> None:
    for version in _replay_acts(natural_plate(P_W, P_H, seed), acts):
        f = c.figures(version.raster)
        total = f["human_paint_share"] + f["ai_gen_share"] + f["ai_inpaint_share"]
        assert total + f["human_base_share"] == pytest.approx(1.0, abs=1e-9)


@_settings
@given(acts=_acts, seed=st.integers(0, 5), pick=st.integers(0, 5))
def test_property_restoring_an_earlier_version_gives_its_figures(
    acts: list, seed: int, pick: int
) -> None:
    """(a) Handing back any earlier version as a final (through the function the plates
    layer calls, with the plate's versions) gives exactly that version's figures, whatever
    came between: paint, glazes of partial alpha, finals, inpaints, adjustments."""
    versions = _replay_acts(natural_plate(P_W, P_H, seed), acts)
    target = versions[min(pick, len(versions) - 1)]
    back = _final_over(versions, target.image)
    assert c.figures(back.raster) == c.figures(target.raster)
    assert np.array_equal(back.raster.human, target.raster.human)


@_settings
@given(
    acts=_acts,
    seed=st.integers(0, 5),
    left=st.integers(0, 5),
    right=st.integers(0, 5),
    cut=st.integers(1, P_W - 1),
)
def test_property_a_final_mixing_versions_weighs_each_pixel_by_its_version(
    acts: list, seed: int, left: int, right: int, cut: int
) -> None:
    """Mixed lineages: a final made of the left columns of one version and the rest of
    another gives each pixel the human weight of the version whose value it shows."""
    versions = _replay_acts(natural_plate(P_W, P_H, seed), acts)
    a, b = versions[min(left, len(versions) - 1)], versions[min(right, len(versions) - 1)]
    mixed = b.image.copy()
    mixed[:, :cut] = a.image[:, :cut]
    want = b.raster.human.copy()
    want[:, :cut] = a.raster.human[:, :cut]
    assert np.array_equal(_final_over(versions, mixed).raster.human, want)


@_settings
@given(acts=_acts, seed=st.integers(0, 5), quality=st.sampled_from([75, 85, 95]))
def test_property_a_lossy_resave_moves_the_headline_under_a_point(
    acts: list, seed: int, quality: int
) -> None:
    last = _replay_acts(natural_plate(P_W, P_H, seed), acts)[-1]
    buf = io.BytesIO()
    Image.fromarray(last.image).save(buf, "JPEG", quality=quality)
    data = buf.getvalue()
    decoded = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    again = c.lossy_final(last.image, last.raster, decoded, c.codec_of(data))
    before = c.figures(last.raster)["human_paint_share"]
    assert abs(c.figures(again.raster)["human_paint_share"] - before) < 0.01


@_settings
@given(acts=_acts, seed=st.integers(0, 5), colour=st.tuples(*[st.integers(0, 255)] * 3))
def test_property_a_visibly_different_stroke_is_never_the_ais(
    acts: list, seed: int, colour: tuple[int, int, int]
) -> None:
    plate = natural_plate(P_W, P_H, seed)
    last = _replay_acts(plate, acts)[-1]
    painted = c.paint(last.image, last.raster, stroke_layer((P_H, P_W), (4, 4, 20, 20), colour))
    region = (slice(4, 20), slice(4, 20))
    stroke = np.broadcast_to(np.array(colour, np.uint8), (16, 16, 3))
    differs = c.visibly_different(stroke, last.raster.base[region])  # type: ignore[index]
    changed = c.visibly_different(stroke, last.image[region])
    assert (painted.raster.human[region][differs & changed] == 1.0).all()
