"""Reading the images artists hand in: odd EXIF, colour keys, float TIFFs, and the layout's
lines whatever way round they are drawn."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image, ImageDraw

from bgart.errors import InputError
from bgart.images import open_image
from bgart.inputs import prepare_layout


def _png(img: Image.Image, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", **kw)
    return buf.getvalue()


def test_a_phone_photo_with_an_oddly_written_exif_is_turned_upright() -> None:
    """Orientation 6 beside an ImageLength stored as text (as some cameras write it):
    Pillow's exif_transpose failed rewriting the EXIF, an internal error."""
    img = Image.new("RGB", (40, 20), "white")
    img.paste((255, 0, 0), (0, 0, 4, 4))  # a red corner, top left as stored
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 2)
    tiff += struct.pack("<HHI", 0x0101, 2, 3) + b"12\x00\x00"  # ImageLength as ASCII
    tiff += struct.pack("<HHIHH", 0x0112, 3, 1, 6, 0) + struct.pack("<I", 0)  # orientation 6
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=b"Exif\x00\x00" + tiff, quality=95)
    out = open_image(buf.getvalue(), name="phone.jpg")
    assert out.size == (20, 40)  # turned a quarter, as the phone was held
    r, g, b = out.getpixel((18, 1))  # the red corner is now top right
    assert r > 200 and g < 60 and b < 60


def test_an_unreadable_exif_block_does_not_refuse_a_good_image() -> None:
    img = Image.new("RGB", (40, 20), "white")
    buf = io.BytesIO()
    img.save(buf, "WEBP", exif=b"Exif\x00\x00not a TIFF header", lossless=True)
    assert open_image(buf.getvalue(), name="bg.webp").size == (40, 20)


def test_any_decoder_failure_is_one_line_naming_the_file() -> None:
    """A damaged file whose decoder raises something other than OSError (AVIF: RuntimeError)
    is refused by name, not an internal error."""
    from PIL import features

    if not features.check("avif"):
        pytest.skip("this Pillow has no AVIF codec")
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 30, 30)).save(buf, "AVIF")
    data = buf.getvalue()
    odd: list[str] = []
    for i in range(len(data)):  # every single-byte flip: refused by name, or read
        bad = bytearray(data)
        bad[i] ^= 0xFF
        try:
            open_image(bytes(bad), name="cut.avif")
        except InputError as exc:
            assert str(exc).startswith("cut.avif: ")
        except Exception as exc:
            odd.append(f"byte {i}: {type(exc).__name__}")
    assert odd == []


def test_a_colour_key_is_transparency_and_goes_on_white() -> None:
    """A grey PNG whose black is its transparent colour (tRNS) read black where it is
    transparent: the pencil lines on it vanished into a black page."""
    img = Image.new("L", (32, 32), 0)
    ImageDraw.Draw(img).line((0, 16, 31, 16), fill=90, width=2)
    out = np.asarray(open_image(_png(img, transparency=0), name="lines.png"))
    assert out[0, 0].tolist() == [255, 255, 255]  # transparent: white paper
    assert out[16, 5].tolist() == [90, 90, 90]  # the line as drawn
    rgb = Image.new("RGB", (8, 8), (0, 0, 0))
    rgb.putpixel((1, 1), (10, 20, 30))
    out = np.asarray(open_image(_png(rgb, transparency=(0, 0, 0)), name="key.png"))
    assert out[0, 0].tolist() == [255, 255, 255] and out[1, 1].tolist() == [10, 20, 30]


def test_a_float_tiff_in_0_to_1_is_read_at_its_brightness() -> None:
    arr = np.full((8, 8), 0.5, np.float32)
    arr[0, 0] = 1.0
    buf = io.BytesIO()
    Image.fromarray(arr, "F").save(buf, "TIFF")
    out = np.asarray(open_image(buf.getvalue(), name="scan.tif", mode="L"))
    assert out[0, 0] == 255 and out[4, 4] == 128  # was 0 and 0: a black page


def _sketch(paper: int, ink: int, size: tuple[int, int] = (240, 160)) -> Image.Image:
    img = Image.new("L", size, paper)
    d = ImageDraw.Draw(img)
    d.line((0, 150, 120, 40), fill=ink, width=3)
    d.rectangle((150, 30, 220, 120), outline=ink, width=3)
    return img


def _line_share(img: Image.Image) -> float:
    g = np.asarray(prepare_layout(img, 240, 160).convert("L"))
    return float((g > 128).mean())


def test_layout_lines_are_found_whichever_way_round_they_are_drawn() -> None:
    """Pencil on paper, white lineart on black (ready-made ControlNet input), white lines on
    a transparent layer and a dim photo of a pencil sheet all give the same lines; white on
    black and white on transparent gave an empty (all black) control image."""
    reference = _line_share(_sketch(235, 70))
    assert reference > 0.02
    white_on_black = _sketch(0, 255)
    layer = Image.new("RGBA", (240, 160), (0, 0, 0, 0))
    strokes = _sketch(0, 255)
    layer.paste((255, 255, 255, 255), mask=strokes)
    dim_photo = _sketch(95, 40)
    for img in (white_on_black, layer, dim_photo):
        share = _line_share(img)
        assert abs(share - reference) < 0.35 * reference, (img.mode, share, reference)
    assert _line_share(Image.new("L", (240, 160), 255)) == 0.0  # a blank page stays blank


def test_a_path_starting_with_a_tilde_is_the_home_folder(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--layout=~/cut12.png`: the shell leaves a ~ after '=' alone; bgart reads the file in
    the home folder instead of saying there is no such file."""
    from pathlib import Path

    home = Path(str(tmp_path))
    monkeypatch.setenv("HOME", str(home))
    (home / "cut12.png").write_bytes(_png(Image.new("RGB", (8, 8), "white")))
    assert open_image("~/cut12.png").size == (8, 8)
    with pytest.raises(InputError, match=r"^~/missing\.png: no such file"):
        open_image("~/missing.png")
