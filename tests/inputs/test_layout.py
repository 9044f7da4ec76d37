"""Layout preparation: scanned pencil on grey paper -> white lines on black, fitted."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from bgart.errors import InputError
from bgart.inputs import check_plate_size, fit_box, load_layout, plate_size_for, prepare_layout

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "layouts"


def fake_scan(
    w: int = 600,
    h: int = 400,
    *,
    vlines: tuple[float, ...] = (0.25, 0.7),
    hlines: tuple[float, ...] = (0.5,),
    pencil: float = 0.45,
    seed: int = 0,
) -> np.ndarray:
    """A grey-paper scan (float 0..1): vignette, a lighting gradient, noise, pencil lines.

    Lines sit at the given fractions of the width/height, about 3 px wide at 600 px.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    r2 = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2
    paper = 0.80 * (1.0 - 0.25 * r2) * (0.85 + 0.15 * xx / w)  # corners ~45% darker
    ink = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(ink)
    lw = max(1, round(w / 200))
    for f in vlines:
        draw.line([(f * w, 0.05 * h), (f * w, 0.95 * h)], fill=255, width=lw)
    for f in hlines:
        draw.line([(0.05 * w, f * h), (0.95 * w, f * h)], fill=255, width=lw)
    ink_arr = np.asarray(ink, dtype=np.float64) / 255.0
    img = paper * (1.0 - pencil * ink_arr) + rng.normal(0, 0.008, (h, w))
    return np.clip(img, 0.0, 1.0)


def to_image(arr: np.ndarray, mode: str = "RGB") -> Image.Image:
    grey = Image.fromarray((arr * 255 + 0.5).astype(np.uint8), "L")
    if mode == "RGB":  # a cream tint, as scanners see paper
        rgb = np.stack([arr * 1.0, arr * 0.97, arr * 0.9], axis=-1)
        return Image.fromarray((np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8), "RGB")
    if mode == "I;16":
        return Image.fromarray((arr * 65535 + 0.5).astype(np.uint16))
    return grey.convert(mode)


def lines_mask(w: int, h: int, vx: list[float], hy: list[float], margin: int) -> np.ndarray:
    """True within ``margin`` px of the expected line positions (output coordinates)."""
    yy, xx = np.mgrid[0:h, 0:w]
    near = np.zeros((h, w), bool)
    for x in vx:
        near |= np.abs(xx - x) <= margin
    for y in hy:
        near |= np.abs(yy - y) <= margin
    return near


def grey_of(img: Image.Image) -> np.ndarray:
    arr = np.asarray(img)
    assert arr.ndim == 3 and arr.shape[2] == 3
    assert (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all()
    return arr[..., 0].astype(np.float64)


# -- polarity, levels, paper removal ---------------------------------------------------------


def test_grey_paper_scan_becomes_white_lines_on_black() -> None:
    out = prepare_layout(to_image(fake_scan()), 240, 160)
    assert out.mode == "RGB" and out.size == (240, 160)
    g = grey_of(out)
    near = lines_mask(240, 160, [60, 168], [80], margin=3)
    paper = g[~near]
    assert np.percentile(paper, 99.5) < 8, "paper (vignetted corners included) must be black"
    assert paper.mean() < 1.0
    assert g[:, 58:63].max(axis=1)[20:140].min() > 200, "the pencil line is a full white line"
    assert g[78:83, :].max(axis=0)[20:220].min() > 200
    assert g.mean() < 40


def test_dark_corners_of_vignette_are_not_lines() -> None:
    out = grey_of(prepare_layout(to_image(fake_scan(vlines=(), hlines=(0.5,))), 240, 160))
    for corner in (out[:20, :20], out[:20, -20:], out[-20:, :20], out[-20:, -20:]):
        assert corner.max() < 20  # a line is > 200


def test_light_and_heavy_pencil_both_give_full_lines() -> None:
    for pencil in (0.15, 0.8):
        g = grey_of(prepare_layout(to_image(fake_scan(pencil=pencil)), 240, 160))
        assert g[:, 58:63].max(axis=1)[20:140].min() > 200, pencil
        assert np.percentile(g[~lines_mask(240, 160, [60, 168], [80], 3)], 99.5) < 8


def test_blank_paper_gives_a_black_plate() -> None:
    g = grey_of(prepare_layout(to_image(fake_scan(vlines=(), hlines=())), 240, 160))
    assert g.mean() < 1.0
    assert np.percentile(g, 99.9) < 40, "no speckle from paper noise"


def test_uniform_images_do_not_crash() -> None:
    for value in (0, 128, 255):
        out = prepare_layout(Image.new("L", (50, 40), value), 64, 64)
        assert out.size == (64, 64) and grey_of(out).max() == 0


def test_antialiased_edges_survive_as_intermediate_values() -> None:
    g = grey_of(prepare_layout(to_image(fake_scan()), 240, 160))
    profile = g[80 - 20, 50:70]  # across the vertical line at x=60, away from the crossing
    assert profile.max() > 200
    assert ((profile > 10) & (profile < 245)).any(), "edges are soft, not thresholded hard"


# -- fitting: never stretch ----------------------------------------------------------------------


def test_wide_pan_keeps_its_aspect_exactly() -> None:
    scan = to_image(fake_scan(1200, 400, vlines=(0.25, 0.6), hlines=(0.5,)))
    g = grey_of(prepare_layout(scan, 192, 64))
    assert g.shape == (64, 192)
    cols = g[10:28].max(axis=0)  # above the horizontal line
    peaks = [int(np.argmax(cols[:96])), 96 + int(np.argmax(cols[96:]))]
    assert abs(peaks[0] - 0.25 * 192) <= 1.5 and abs(peaks[1] - 0.6 * 192) <= 1.5
    assert abs(int(np.argmax(g[:, 100:140].mean(axis=1))) - 32) <= 1


def test_wide_pan_in_a_standard_plate_is_letterboxed_not_stretched() -> None:
    scan = to_image(fake_scan(1200, 400, vlines=(0.25, 0.6), hlines=(0.5,)))
    g = grey_of(prepare_layout(scan, 240, 160))
    left, top, fw, fh = fit_box(1200, 400, 240, 160)
    assert (left, top, fw, fh) == (0, 40, 240, 80)
    assert g[:top].max() == 0 and g[top + fh :].max() == 0, "padding is pure black"
    cols = g[top + 10 : top + 30].max(axis=0)
    assert abs(int(np.argmax(cols[:120])) - 0.25 * 240) <= 1.5
    assert abs(int(np.argmax(g[:, 150:200].mean(axis=1))) - (top + 0.5 * fh)) <= 1


def test_portrait_layout_in_a_wide_plate_is_pillarboxed() -> None:
    scan = to_image(fake_scan(400, 600, vlines=(0.5,), hlines=(0.3,)))
    g = grey_of(prepare_layout(scan, 192, 64))
    left, _top, fw, fh = fit_box(400, 600, 192, 64)
    assert fh == 64 and abs(fw - 64 * 400 / 600) < 1
    assert g[:, :left].max() == 0 and g[:, left + fw :].max() == 0
    # Uniform scale: the horizontal line at 30% height is 30% down, the vertical at mid-width.
    assert abs(int(np.argmax(g[:, left + 2 : left + 12].mean(axis=1))) - 0.3 * 64) <= 1
    assert abs(int(np.argmax(g[40:60, :].max(axis=0))) - (left + 0.5 * fw)) <= 1.5


# -- sizes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "message"),
    [
        ((770, 512), "width 770 is not a multiple of 8"),
        ((768, 500), "height 500 is not a multiple of 8"),
        ((56, 512), "width 56 is out of range"),
        ((768, 4104), "height 4104 is out of range"),
    ],
)
def test_bad_plate_sizes_are_refused_naming_the_value(size: tuple[int, int], message: str) -> None:
    with pytest.raises(InputError, match=message):
        prepare_layout(Image.new("L", (64, 64), 200), *size)
    with pytest.raises(InputError, match=message):
        check_plate_size(*size)


def test_non_integer_plate_size_is_refused() -> None:
    with pytest.raises(InputError, match=r"width 512\.0"):
        check_plate_size(512.0, 512)  # type: ignore[arg-type]


def test_plate_size_for_keeps_aspect() -> None:
    assert plate_size_for(1024, 683) == (768, 512)
    assert plate_size_for(683, 1024) == (512, 768)
    assert plate_size_for(1536, 512) == (768, 256)
    assert plate_size_for(1536, 512, long_side=192) == (192, 64)
    assert plate_size_for(4000, 100) == (768, 64)  # short side never below 64
    with pytest.raises(InputError, match="multiple of 8"):
        plate_size_for(100, 100, long_side=500)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 9000), st.integers(1, 9000), st.sampled_from([128, 512, 768, 1024]))
@example(31, 32, 128)  # near-square portrait: once rounded to a square plate
def test_plate_size_for_property(w: int, h: int, long_side: int) -> None:
    pw, ph = plate_size_for(w, h, long_side)
    assert pw % 8 == 0 and ph % 8 == 0 and max(pw, ph) == long_side
    check_plate_size(pw, ph)
    if min(pw, ph) > 64:
        assert abs(pw / ph - w / h) <= (w / h) * 8 / min(pw, ph)
    assert (pw >= ph) == (w >= h)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 300), st.integers(1, 300), st.sampled_from([(64, 64), (192, 64), (96, 128)]))
def test_any_source_size_gives_exactly_the_plate(w: int, h: int, size: tuple[int, int]) -> None:
    img = Image.new("L", (w, h), 220)
    ImageDraw.Draw(img).line([(0, 0), (w, h)], fill=60, width=2)
    out = prepare_layout(img, *size)
    assert out.size == size and out.mode == "RGB"


# -- file formats and modes ------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["L", "RGBA", "I;16", "P", "LA"])
def test_modes_agree_with_rgb(mode: str) -> None:
    arr = fake_scan()
    reference = grey_of(prepare_layout(to_image(arr, "L"), 240, 160))
    out = grey_of(prepare_layout(to_image(arr, mode), 240, 160))
    assert np.abs(out - reference).mean() < 2.0
    assert out[:, 58:63].max(axis=1)[20:140].min() > 200


def test_rgba_transparency_counts_as_paper() -> None:
    rgba = Image.new("RGBA", (300, 200), (0, 0, 0, 0))  # transparent *black*
    ImageDraw.Draw(rgba).line([(150, 10), (150, 190)], fill=(60, 60, 60, 255), width=2)
    g = grey_of(prepare_layout(rgba, 120, 80))
    assert g[:, 58:62].max() > 200
    assert g[:, :50].max() < 8 and g[:, 70:].max() < 8


def test_sixteen_bit_png_and_jpeg_files(tmp_path: Path) -> None:
    arr = fake_scan()
    reference = grey_of(prepare_layout(to_image(arr, "L"), 240, 160))
    png16 = tmp_path / "scan16.png"
    to_image(arr, "I;16").save(png16)
    assert Image.open(png16).mode.startswith("I")
    jpg = tmp_path / "scan.jpg"
    to_image(arr).save(jpg, quality=85)
    for path in (png16, jpg):
        g = grey_of(load_layout(path, 240, 160))
        assert np.abs(g - reference).mean() < 3.0, path.name
        assert g[:, 58:63].max(axis=1)[20:140].min() > 200, path.name


def test_load_layout_names_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "cut12.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(InputError, match=r"cut12\.png"):
        load_layout(bad, 64, 64)
    with pytest.raises(InputError, match=r"missing\.png"):
        load_layout(tmp_path / "missing.png", 64, 64)


def test_deterministic() -> None:
    scan = to_image(fake_scan())
    a = prepare_layout(scan, 240, 160)
    b = prepare_layout(scan.copy(), 240, 160)
    buf_a, buf_b = io.BytesIO(), io.BytesIO()
    a.save(buf_a, "PNG")
    b.save(buf_b, "PNG")
    assert buf_a.getvalue() == buf_b.getvalue()


@pytest.mark.parametrize(
    "name", ["street.png", "interior.png", "countryside.jpg", "riverside_pan.png"]
)
def test_example_layouts_prepare_cleanly(name: str) -> None:
    path = EXAMPLES / name
    assert path.stat().st_size < 400 * 1024
    with Image.open(path) as img:
        size = plate_size_for(*img.size)
    g = grey_of(load_layout(path, *size))
    assert 2 < g.mean() < 40, "lines present, paper black"
    assert (g > 200).mean() > 0.01
    assert np.median(g) == 0


def test_large_scan_is_fast() -> None:
    big = to_image(fake_scan(600, 450)).resize((4000, 3000), Image.Resampling.BILINEAR)
    start = time.perf_counter()
    out = prepare_layout(big, 768, 576)
    elapsed = time.perf_counter() - start
    assert out.size == (768, 576)
    assert elapsed < 2.0, f"4000x3000 took {elapsed:.2f} s"  # ~0.2 s unloaded; CI is shared
