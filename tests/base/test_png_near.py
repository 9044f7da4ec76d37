"""Reading one plate version's PNG from another's (bgart.images.decode_png_near): a final
consults up to 17 earlier versions, and most differ from the next only where one act
painted. The pixels must be exactly those of a whole decode, whatever changed where."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from bgart.images import decode_plain_png, decode_png_near, encode_png

W, H = 400, 720  # RGB rows of 1201 bytes: 218 rows a piece, four pieces


def _plate(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (H, W, 3), np.uint8)


def _near(after: np.ndarray, before: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    got = decode_png_near(encode_png(after), encode_png(before), before)
    assert got is not None
    return got


def test_a_local_retouch_reads_only_its_piece_and_gives_every_pixel() -> None:
    before = _plate()
    after = before.copy()
    after[300:340, 50:90] = (250, 10, 10)  # inside the second piece (rows 218-435)
    pixels, rows = _near(after, before)
    assert np.array_equal(pixels, after)
    assert rows[218:436].all() and not rows[:218].any() and not rows[436:].any()


def test_a_shift_down_to_the_bottom_carries_through_unchanged_pieces() -> None:
    """Rows below an edit whose filtered bytes are the same as before still differ when the
    rows above them did (the Up filter stores differences): every one is read right."""
    before = _plate(1)
    after = before.copy()
    after[300:] += np.uint8(7)  # the same offset down every column: later pieces' bytes equal
    data, ref = encode_png(after), encode_png(before)
    assert _pieces(data)[2:4] == _pieces(ref)[2:4]  # the last two pieces kept their bytes
    pixels, rows = _near(after, before)
    assert np.array_equal(pixels, after)
    assert rows[300:].all()


@pytest.mark.parametrize("seed", range(6))
def test_random_edits_read_back_exactly_and_every_changed_row_is_flagged(seed: int) -> None:
    rng = np.random.default_rng(seed)
    before = _plate(seed)
    after = before.copy()
    for _ in range(int(rng.integers(1, 4))):
        y, x = int(rng.integers(0, H - 1)), int(rng.integers(0, W - 1))
        after[y : y + int(rng.integers(1, 200)), x : x + int(rng.integers(1, 300))] = rng.integers(
            0, 256, 3
        )
    pixels, rows = _near(after, before)
    assert np.array_equal(pixels, after)
    differs = (after != before).reshape(H, -1).any(axis=1)
    assert not (differs & ~rows).any()


def test_the_same_picture_is_the_reference_itself_and_a_repaint_is_read_whole() -> None:
    before = _plate(2)
    pixels, rows = _near(before.copy(), before)
    assert pixels is before and not rows.any()
    pixels, rows = _near(_plate(3), before)  # every piece changed
    assert np.array_equal(pixels, _plate(3)) and rows.all()


def test_pngs_not_written_piece_by_piece_are_left_to_a_whole_decode() -> None:
    before = _plate(4)
    buf = io.BytesIO()
    Image.fromarray(before).save(buf, "PNG")  # Pillow's writer: not in bgart's pieces
    pillow = buf.getvalue()
    small = _plate(5)[:40, :60]
    cases = {
        "written by another program": (pillow, encode_png(before), before),
        "reference written by another program": (encode_png(before), pillow, before),
        "another size": (encode_png(before[:-1]), encode_png(before), before),
        "another mode": (
            encode_png(np.dstack([before, before[..., :1]])),
            encode_png(before),
            before,
        ),
        "one piece only": (encode_png(small[::-1].copy()), encode_png(small), small),
    }
    for why, (data, ref, pixels) in cases.items():
        assert decode_png_near(data, ref, pixels) is None, why
    # a decode of the whole file still reads them
    assert np.array_equal(decode_plain_png(pillow, "RGB"), before)


def test_pillow_written_pngs_with_every_row_filter_decode_as_pillow_does() -> None:
    """decode_plain_png undoes None, Sub and Up itself and leaves Average and Paeth to
    Pillow: every filter a writer may choose gives Pillow's pixels."""
    rng = np.random.default_rng(6)
    y, x = np.mgrid[0:180, 0:260]
    smooth = np.stack([x, y, x + y], -1) % 256 + rng.integers(0, 9, (180, 260, 3))
    for arr in (smooth.astype(np.uint8), _plate(7)[:180, :260]):
        for options in ({}, {"compress_level": 1}, {"compress_level": 9}, {"optimize": True}):
            buf = io.BytesIO()
            Image.fromarray(arr).save(buf, "PNG", **options)
            assert np.array_equal(decode_plain_png(buf.getvalue(), "RGB"), arr), options


def _pieces(data: bytes) -> list[bytes]:
    """The IDAT chunk bodies of a PNG."""
    import struct

    out, pos = [], 8
    while pos < len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        if kind == b"IDAT":
            out.append(data[pos + 8 : pos + 8 + length])
        pos += 12 + length
    return out
