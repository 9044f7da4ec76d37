"""Opening images handed to bgart by users, safely.

Every user image goes through :func:`open_image`: it refuses non-images, truncated files,
decompression bombs and absurd sizes with one line that names the file, and returns a fully
decoded image in a known mode, so later code never meets a lazy or half-read file.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, ImageFile, ImageOps

from bgart.deflate import INFLATE_ERRORS, PIECE, adler32, decompressobj, zlib_parts
from bgart.errors import InputError
from bgart.fsutil import read_bounded

if TYPE_CHECKING:
    import numpy as np

MAX_PIXELS = 8192 * 8192  # largest image accepted (a 8K square); wide pans fit under it
MAX_SIDE = 16384
MAX_FILE_BYTES = 256 * 1024 * 1024


def open_image(
    source: Path | str | bytes,
    *,
    mode: str | None = "RGB",
    name: str | None = None,
    max_pixels: int = MAX_PIXELS,
) -> Image.Image:
    """Decode ``source`` fully and convert it to ``mode`` (None keeps the file's mode).

    ``name`` is how the file is named in errors (defaults to the path).
    """
    label = name or (str(source) if not isinstance(source, bytes) else "uploaded image")
    data = source if isinstance(source, bytes) else read_user_file(source, label)
    if not data:
        raise InputError(f"{label}: empty file (0 bytes)")
    if len(data) > MAX_FILE_BYTES:
        raise InputError(f"{label}: file too large ({len(data)} bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if w * h > max_pixels or w > MAX_SIDE or h > MAX_SIDE:
                raise InputError(
                    f"{label}: image too large ({w}x{h}; at most {max_pixels} pixels, "
                    f"{MAX_SIDE} px a side)"
                )
            if w < 1 or h < 1:
                raise InputError(f"{label}: image has no pixels")
            if ImageFile.LOAD_TRUNCATED_IMAGES:  # weasyprint's import turns it on for all
                ImageFile.LOAD_TRUNCATED_IMAGES = False
            img.load()
    except InputError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise InputError(f"{label}: refused as a decompression bomb") from None
    except Image.UnidentifiedImageError:
        raise InputError(f"{label}: not an image file bgart can read") from None
    except Exception as exc:  # Pillow's decoders raise many types on a damaged file
        raise InputError(f"{label}: damaged or truncated image ({exc})") from None
    img = _upright(img)
    if mode is None:
        return img
    try:
        return to_mode(img, mode)
    except ValueError as exc:
        raise InputError(f"{label}: cannot use a {img.mode} image ({exc})") from None


_ORIENTATION = 0x0112
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _upright(img: Image.Image) -> Image.Image:
    """The image turned as its EXIF orientation says (a phone photo of a layout sheet).

    Only the pixels are turned: ``ImageOps.exif_transpose`` also rewrites the EXIF, which
    fails on tags real cameras write oddly (a size stored as text); and an EXIF block too
    damaged to read says nothing about orientation, so the image is used as stored.
    """
    try:
        orientation = img.getexif().get(_ORIENTATION)
    except Exception:
        return img
    method = _TRANSPOSE.get(orientation) if isinstance(orientation, int) else None
    if method is None:
        return img
    turned = img.transpose(method)
    turned.info = {k: v for k, v in img.info.items() if k != "exif"}
    return turned


def read_user_file(
    path: Path | str,
    label: str | None = None,
    max_bytes: int = MAX_FILE_BYTES,
    *,
    kind: str = "file",
    allow_empty: bool = False,
) -> bytes:
    """The bytes of a file a user named: :func:`bgart.fsutil.read_bounded` with the image
    limit (256 MB) as default; folders, devices and pipes are refused by name."""
    return read_bounded(path, label, max_bytes, kind=kind, allow_empty=allow_empty)


def to_mode(img: Image.Image, mode: str) -> Image.Image:
    """Convert any PIL mode (16-bit, CMYK, palette, LA…) to ``mode``; alpha goes on white."""
    keyed = img.mode in ("L", "RGB") and "transparency" in img.info  # a tRNS colour key
    if img.mode == mode and not keyed:
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        import numpy as np

        arr = np.asarray(img, dtype=np.float64)
        peak = sample_peak(img.mode, float(arr.max()) if arr.size else 0.0)
        img = Image.fromarray((np.clip(arr / peak, 0.0, 1.0) * 255.0).round().astype("uint8"), "L")
    if img.mode == "P" or keyed:
        img = img.convert("RGBA")  # a colour key is transparency too
    if mode in ("RGB", "L") and img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    try:
        return img.convert(mode)
    except ValueError:  # e.g. LAB -> L: Pillow converts some modes only to RGB
        return img.convert("RGB").convert(mode)


def sample_peak(mode: str, maximum: float) -> float:
    """The value that means full white in a 16-bit/32-bit/float image: 65535 when samples go
    above 255, 1.0 for float images in 0..1 (how float TIFFs are usually stored), else 255."""
    if mode == "F" and maximum <= 1.0:
        return 1.0
    return 65535.0 if maximum > 255 else 255.0


def cover_resize(img: Image.Image, width: int, height: int) -> Image.Image:
    """Scale to cover width×height and centre-crop: a reference photo fitted to a plate."""
    return ImageOps.fit(img.convert("RGB"), (width, height), method=Image.Resampling.LANCZOS)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_MODES = {0: "L", 2: "RGB", 6: "RGBA"}  # 8-bit colour types the fast path reads
_PNG_COLOUR = {len(mode): colour for colour, mode in _PNG_MODES.items()}  # channels -> type
_PNG_IDAT = 1 << 24  # the longest IDAT chunk written


def _png_chunk(kind: bytes, body: bytes | memoryview) -> list[bytes | memoryview]:
    """A chunk as parts to join (a big body is not copied here)."""
    crc = zlib.crc32(body, zlib.crc32(kind))
    return [struct.pack(">I", len(body)), kind, body, struct.pack(">I", crc)]


def encode_png(arr: np.ndarray) -> bytes:
    """PNG bytes of an (h, w) L, (h, w, 3) RGB or (h, w, 4) RGBA uint8 array.

    Deterministic (the same pixels give the same bytes on any machine with the same zlib):
    the "Up" filter on every row, deflated by :mod:`bgart.deflate` (level 1, in pieces on
    threads, pieces of an earlier version reused). Pillow's writer tries five filters per
    row and deflates in one thread, which made the PNG of a 4K plate version most of an
    edit's time. Any PNG reader decodes the result. Each piece holds whole rows and has an
    IDAT chunk of its own, so one version can be read from another where they are the same
    (:func:`decode_png_near`).
    """
    import numpy as np

    shape_ok = arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))
    if arr.dtype != np.uint8 or not shape_ok or 0 in arr.shape:
        raise ValueError(f"encode_png: cannot write a {arr.dtype} array of shape {arr.shape}")
    h, w = arr.shape[:2]
    channels = 1 if arr.ndim == 2 else arr.shape[2]
    rows = np.ascontiguousarray(arr).reshape(h, w * channels)
    filtered = np.empty((h, w * channels + 1), np.uint8)
    filtered[:, 0] = 2  # Up: each byte minus the one above it (the first row: minus 0)
    filtered[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])
    stride = w * channels + 1
    header = struct.pack(">IIBBBBB", w, h, 8, _PNG_COLOUR[channels], 0, 0, 0)
    parts = [_PNG_SIGNATURE, *_png_chunk(b"IHDR", header)]
    for piece in zlib_parts(memoryview(filtered.data), _piece_rows(stride) * stride):
        view = memoryview(piece)
        for i in range(0, len(piece), _PNG_IDAT):
            parts += _png_chunk(b"IDAT", view[i : i + _PNG_IDAT])
    return b"".join([*parts, *_png_chunk(b"IEND", b"")])


def _piece_rows(stride: int) -> int:
    """Rows per deflated piece in :func:`encode_png` (whole rows, about PIECE bytes)."""
    return max(1, PIECE // stride)


def _plain_png(data: bytes, mode: str) -> tuple[int, int, list[memoryview]] | None:
    """(width, height, IDAT bodies: views into ``data``, not copies) of a plain PNG (8-bit,
    not interlaced, no palette and no transparency key) whose pixels are already in
    ``mode``; None for anything else."""
    if not data.startswith(_PNG_SIGNATURE):
        return None
    view = memoryview(data)
    pos, end, parts, header = 8, len(data), [], None
    try:
        while pos + 8 <= end:
            length, kind = struct.unpack_from(">I4s", data, pos)
            if kind == b"IHDR":
                header = struct.unpack_from(">IIBBBBB", data, pos + 8)
            elif kind == b"IDAT":
                parts.append(view[pos + 8 : pos + 8 + length])
            elif kind == b"IEND":
                break
            elif kind == b"PLTE" or kind == b"tRNS":
                return None  # palette or transparency key: Pillow's path handles them
            pos += 12 + length
    except struct.error:
        return None
    if header is None or not parts:
        return None
    width, height, depth, colour, _comp, _filter, interlace = header
    if depth != 8 or interlace or _PNG_MODES.get(colour) != mode:
        return None
    limit = Image.MAX_IMAGE_PIXELS
    if width < 1 or height < 1 or (limit is not None and width * height > limit):
        return None
    return width, height, parts


def is_plain_png(data: bytes, mode: str) -> bool:
    """True when ``data`` is a PNG any reader shows exactly as its pixels in ``mode``
    (8-bit, no palette, no transparency key, not interlaced)."""
    return _plain_png(data, mode) is not None


def decode_plain_png(data: bytes, mode: str) -> np.ndarray | None:
    """The pixels of a plain PNG (see :func:`is_plain_png`) already in ``mode``, decoded
    without Pillow's file machinery (ISA-L's inflate; rows filtered None, Sub or Up undone
    here, Average or Paeth by Pillow's code); None for anything else (the caller then
    decodes it the usual way).

    Only for blobs bgart wrote itself and has hash-checked: ``ledger verify`` decodes every
    one of them, and on small plates Pillow's per-file overhead was most of the cost.
    Chunk CRCs are not checked (the blob's sha256 was).
    """
    import numpy as np

    plain = _plain_png(data, mode)
    if plain is None:
        return None
    width, height, parts = plain
    channels, stride = len(mode), width * len(mode) + 1
    body = b"".join(parts)
    inflate = decompressobj(len(body))
    try:
        raw = inflate.decompress(body, height * stride + 1)
    except INFLATE_ERRORS:
        return None
    if not inflate.eof or len(raw) != height * stride:
        return None  # cut short or too long: Pillow's path names the damage
    pixels = _unfilter(width, height, channels, raw)
    if pixels is not None:
        return pixels
    try:  # Average or Paeth rows: Pillow undoes them, from the stream inflated here
        img = Image.frombytes(mode, (width, height), _stored_zlib(raw), "zip", mode)
    except (OSError, ValueError):
        return None
    return np.asarray(img)


def _undo_up(above: np.ndarray, rows: np.ndarray, out: np.ndarray) -> None:
    """Rows filtered Up (each byte minus the one above it), below the row ``above``, into
    ``out``: a running sum down each column, one numpy call per contiguous row
    (``np.add.accumulate`` down the columns walks memory across rows: 120 ms at 4K)."""
    import numpy as np

    for y in range(rows.shape[0]):
        np.add(above, rows[y], out=out[y])
        above = out[y]


def _stored_zlib(raw: bytes) -> bytes:
    """``raw`` as a zlib stream of stored (uncompressed) blocks: what Pillow's PNG decoder
    takes, with nothing left for its own (single-threaded zlib) inflate to do."""
    view, blocks, size = memoryview(raw), [b"\x78\x01"], 65535
    for i in range(0, max(len(raw), 1), size):
        block = view[i : i + size]
        final = 1 if i + size >= len(raw) else 0
        blocks += [struct.pack("<BHH", final, len(block), len(block) ^ 0xFFFF), block]
    blocks.append(struct.pack(">I", adler32(raw)))
    return b"".join(blocks)


def _unfilter(width: int, height: int, channels: int, raw: bytes) -> np.ndarray | None:
    """The pixels of a PNG from its inflated rows, when every row's filter is None, Sub or
    Up (:func:`encode_png` writes Up everywhere, Pillow's writer mostly Sub and Up); None
    when some row uses Average or Paeth (or an unknown filter).

    Faster than Pillow's decoder at every size (a 4K plate: 73 vs 182 ms here, most of it
    ISA-L's inflate; Up rows undone as :func:`_undo_up` says)."""
    import numpy as np

    stride = width * channels + 1
    kinds = raw[::stride]
    rows = np.frombuffer(raw, np.uint8).reshape(height, stride)[:, 1:]
    if kinds == b"\x02" * height:  # Up everywhere: a running sum down each column
        if width * height <= 1 << 14:  # a small plate: one call beats a call per row
            pixels = np.add.accumulate(rows, axis=0, dtype=np.uint8)
        else:
            pixels = np.empty((height, stride - 1), np.uint8)
            _undo_up(np.zeros(stride - 1, np.uint8), rows, pixels)
    elif kinds.strip(b"\x00\x01\x02"):
        return None
    else:
        pixels = np.empty((height, stride - 1), np.uint8)
        above = np.zeros(stride - 1, np.uint8)
        for y, kind in enumerate(kinds):
            if kind == 2:  # Up: plus the byte above
                np.add(above, rows[y], out=pixels[y])
            elif kind == 1:  # Sub: plus the byte one pixel to the left, along the row
                np.add.accumulate(
                    rows[y].reshape(width, channels),
                    axis=0,
                    dtype=np.uint8,
                    out=pixels[y].reshape(width, channels),
                )
            else:  # None
                pixels[y] = rows[y]
            above = pixels[y]
    return pixels.reshape(height, width, channels) if channels > 1 else pixels


def decode_png_near(
    data: bytes, ref: bytes, ref_pixels: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """The pixels of ``data``, read from those of ``ref`` where they are the same, and per
    row whether it may differ from ``ref_pixels`` (bool (h,)); ``ref_pixels`` itself when
    nothing differs. Both must be PNGs written by :func:`encode_png` (same size and mode;
    ``ref_pixels`` are ``ref``'s); None otherwise (the caller decodes ``data`` whole).

    :func:`encode_png` deflates whole rows in pieces, one IDAT chunk each, that a raw
    inflater reads alone. The encoder being deterministic, a piece with the same bytes in
    both holds the same filtered rows; with the Up filter its pixels are then ``ref``'s
    plus the difference carried down from the row above it (none unless rows above
    changed). Only the other pieces are inflated: a version of a plate retouched in one
    place reads in a fraction of a whole decode (earlier versions a final consults).
    Only for blobs bgart wrote and has hash-checked (as :func:`decode_plain_png`)."""
    import numpy as np

    mode = "L" if ref_pixels.ndim == 2 else None
    if ref_pixels.ndim == 3:
        mode = {3: "RGB", 4: "RGBA"}.get(ref_pixels.shape[2])
    if mode is None or ref_pixels.dtype != np.uint8:
        return None
    if data == ref:
        return ref_pixels, np.zeros(ref_pixels.shape[0], bool)
    mine, theirs = _plain_png(data, mode), _plain_png(ref, mode)
    if mine is None or theirs is None or mine[:2] != theirs[:2]:
        return None
    width, height, parts = mine
    if ref_pixels.shape[:2] != (height, width) or len(parts) != len(theirs[2]):
        return None
    stride = width * len(mode) + 1
    rows = _piece_rows(stride)
    if len(parts) < 3 or len(parts) != -(-height // rows) + 1:
        return None  # one piece, or not written piece by piece (pieces, then the checksum)
    parts = parts[:-1]
    same = [_same_bytes(a, b) for a, b in zip(parts, theirs[2][:-1], strict=True)]
    if 2 * same.count(False) > len(parts):  # changed nearly everywhere: decode it whole
        whole = decode_plain_png(data, mode)
        return None if whole is None else (whole, np.ones(height, bool))
    before = np.ascontiguousarray(ref_pixels).reshape(height, stride - 1)
    out: np.ndarray | None = None
    changed = np.zeros(height, bool)
    carry: np.ndarray | None = None  # out - before on the last row read, when not zero
    for i, part in enumerate(parts):
        top, end = i * rows, min(height, (i + 1) * rows)
        if same[i] and carry is None:
            continue
        if out is None:
            out = before.copy()
        changed[top:end] = True
        if same[i]:
            assert carry is not None
            np.add(out[top:end], carry, out=out[top:end])
            continue
        body = part[2:] if i == 0 else part  # the first piece starts with the zlib header
        filtered = _inflate_piece(body, end - top, stride, i == len(parts) - 1)
        if filtered is None:
            return None
        _undo_up(out[top - 1] if top else np.zeros(stride - 1, np.uint8), filtered, out[top:end])
        diff = out[end - 1] - before[end - 1]
        carry = diff if diff.any() else None
    if out is None:
        return ref_pixels, changed
    return (out.reshape(ref_pixels.shape), changed)


def _same_bytes(a: memoryview, b: memoryview) -> bool:
    """Whether two byte views hold the same bytes (numpy compares them in place: slicing
    them to bytes copied a 4K PNG twice per comparison, and memoryview's own == goes byte
    by byte through Python objects)."""
    import numpy as np

    return a.nbytes == b.nbytes and bool(
        np.array_equal(np.frombuffer(a, np.uint8), np.frombuffer(b, np.uint8))
    )


def _inflate_piece(body: memoryview, count: int, stride: int, last: bool) -> np.ndarray | None:
    """The ``count`` filtered rows (Up filter, filter bytes dropped) of one raw deflate
    piece of :func:`encode_png`, or None when it is not exactly that."""
    import numpy as np

    inflate = decompressobj(len(body), -15)
    try:
        raw = inflate.decompress(body, count * stride + 1)
    except INFLATE_ERRORS:
        return None
    if len(raw) != count * stride or raw[::stride] != b"\x02" * count:
        return None
    if last != bool(inflate.eof) or inflate.unconsumed_tail or inflate.unused_data:
        return None  # the last piece ends the stream (its checksum is the next chunk)
    return np.frombuffer(raw, np.uint8).reshape(count, stride)[:, 1:]
