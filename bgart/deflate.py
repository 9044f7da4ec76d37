"""zlib streams of big blobs (plate PNGs, rasters): deflated in pieces, unchanged ones reused.

A new plate version differs from the one before it only where it was edited, yet its PNG
and raster used to be deflated whole, in one thread, every time: on a 4K plate that was
most of an edit's time. Here the data is cut into fixed 256 KiB pieces, each deflated on
its own (zlib level 1; a full flush ends every piece but the last, so the pieces join into
one valid zlib stream, as pigz does), big inputs on threads (zlib releases the GIL), and a
piece whose bytes were deflated recently is taken from a small cache keyed by its BLAKE3
hash (a cryptographic hash, so no upload can be made to collide with another artist's
piece; four times as fast as sha256 here, where hashing every piece of a 4K act's 130 MB was
a sixth of its CPU; sha256 without the ``blake3`` wheel).
Deflate looks back only 32 KiB, so cutting costs almost nothing in size. The bytes depend
on the data and the encoder alone: not on the number of CPUs, nor on what the cache holds.
Nothing compares them across machines: ``ledger verify`` compares decoded pixels and
rasters, so blobs written by any encoder (or version of it) verify alike.

The encoder is ISA-L's deflate (the ``isal`` package) when it is installed, zlib's level 1
otherwise. Both write plain deflate: every zlib reader (PNG viewers, bgart's own readers of
blobs written by any version) reads either. ISA-L's level 1 is about 8x faster than zlib's
on plate data at the same size (bench/act_4k.py): on a 3840x2160 plate the deflate of the
version's PNG and raster was most of an act's time. :func:`use_encoder` picks one (the
bench compares them side by side).
"""

from __future__ import annotations

import hashlib
import os
import struct
import threading
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from types import ModuleType
from typing import Any

try:  # BLAKE3 for the piece cache's keys (see the docstring)
    from blake3 import blake3 as _blake3
except ImportError:  # pragma: no cover - a platform without its wheel: sha256, same cache
    _blake3 = None

try:  # ISA-L: the same deflate format, several times faster (see the docstring)
    from isal import isal_zlib as _isal
except ImportError:  # pragma: no cover - a platform without its wheel: zlib, same format
    _isal = None

ENCODERS: dict[str, ModuleType] = {"zlib": zlib, **({"isal": _isal} if _isal else {})}
"""The deflate encoders available, by name (each a module with zlib's ``compressobj``)."""

PIECE = 256 << 10
_LEVEL = 1
_HEADER = b"\x78\x01"  # zlib header: deflate, 32 KiB window, "fastest" level
_THREADS_FROM = 4 * PIECE  # smaller inputs deflate in the calling thread
_CACHE_BYTES = 64 << 20  # deflated pieces kept (about three 4K plate versions of grain)

_lock = threading.Lock()
_cache: OrderedDict[bytes, tuple[bytes, int]] = OrderedDict()  # key -> (deflated, Adler-32)
_cached_bytes = 0
adler32 = zlib.adler32 if _isal is None else _isal.adler32
"""Adler-32 of a buffer (``zlib.adler32``'s result, ISA-L's SIMD code when installed)."""
_encoder_name = "isal" if "isal" in ENCODERS else "zlib"
_encoder: ModuleType = ENCODERS[_encoder_name]


_ISAL_ERROR: type[Exception] = zlib.error if _isal is None else _isal.IsalError  # type: ignore[assignment]
INFLATE_ERRORS: tuple[type[Exception], ...] = (zlib.error, _ISAL_ERROR)
"""What a damaged stream raises in :func:`decompressobj`."""
_FAST_INFLATE_FROM = 1 << 20  # smaller streams: zlib's object costs less to set up


def decompressobj(size: int, wbits: int = 15) -> Any:
    """A zlib stream reader for a stream of about ``size`` bytes (ISA-L's for big ones: twice
    as fast; the same result and interface: ``decompress(data, max_length)``, ``eof``);
    ``wbits=-15``: a raw deflate segment (one piece of :func:`zlib_parts`: ISA-L's at any
    size, 2.5x as fast on a 4K plate's 130 kB pieces)."""
    if _isal is not None and (size >= _FAST_INFLATE_FROM or wbits < 0):
        return _isal.decompressobj(wbits=wbits)
    return zlib.decompressobj(wbits)


def use_encoder(name: str) -> str:
    """Deflate with encoder ``name`` ("isal" or "zlib") from now on; returns the one used
    before. ValueError for an encoder that is not installed."""
    global _encoder, _encoder_name
    if name not in ENCODERS:
        raise ValueError(f"deflate encoder '{name}' is not available (have: {', '.join(ENCODERS)})")
    previous, _encoder_name, _encoder = _encoder_name, name, ENCODERS[name]
    return previous


def encoder() -> str:
    """The name of the encoder in use."""
    return _encoder_name


Buffer = bytes | bytearray | memoryview


def zlib_stream(data: Buffer | Sequence[Buffer]) -> bytes:
    """The zlib stream (level 1) of ``data``, as ``zlib.decompress`` reads it.

    ``data`` may be a sequence of buffers: the stream of their concatenation, without
    joining them first (a 4K raster's planes are 75 MB: the copy was a tenth of an act).
    Each buffer is cut into pieces of its own, so the bytes depend on the buffers' sizes too."""
    return b"".join(zlib_parts(data))


def zlib_parts(data: Buffer | Sequence[Buffer], size: int = PIECE) -> list[bytes]:
    """:func:`zlib_stream` of ``data`` cut in pieces of ``size`` bytes, as the list of its
    parts: the first piece with the stream's header, each further piece on its own (a raw
    deflate segment that a fresh raw inflater reads alone), then the checksum alone (so an
    unchanged last piece keeps its bytes). One part when ``data`` fits in one piece.
    (Pieces of whole PNG rows: see :func:`bgart.images.encode_png`.)"""
    parts = [data] if isinstance(data, bytes | bytearray | memoryview) else list(data)
    views = [v for v in (memoryview(p).cast("B") for p in parts) if v.nbytes]
    total = sum(v.nbytes for v in views)
    if total <= size:
        return [_encoder.compress(b"".join(views), _LEVEL)]
    spans = [(v, s, min(v.nbytes, s + size)) for v in views for s in range(0, v.nbytes, size)]
    last = len(spans) - 1

    def piece(i: int) -> tuple[bytes, int]:
        view, start, stop = spans[i]
        return _piece(view[start:stop], i == last)

    threads = min(len(spans), os.cpu_count() or 1)
    if total < _THREADS_FROM or threads == 1:
        pieces = [piece(i) for i in range(len(spans))]
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(threads, thread_name_prefix="bgart-deflate") as pool:
            pieces = list(pool.map(piece, range(len(spans))))
    adler = 1  # the Adler-32 of no bytes
    for (_v, start, stop), (_out, piece_adler) in zip(spans, pieces, strict=True):
        adler = _adler32_combine(adler, piece_adler, stop - start)
    out = [out for out, _a in pieces]
    out[0] = _HEADER + out[0]
    return [*out, struct.pack(">I", adler)]


def _piece(data: memoryview, last: bool) -> tuple[bytes, int]:
    """Raw deflate of one piece (the last ends the stream, the others end on a byte
    boundary with the stream still open) and the piece's own Adler-32."""
    lib, name = _encoder, _encoder_name
    key = _digest(data) + (b"$" if last else b"+") + name.encode()
    with _lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    co = lib.compressobj(_LEVEL, zlib.DEFLATED, -15)
    out = co.compress(data) + co.flush(zlib.Z_FINISH if last else zlib.Z_FULL_FLUSH)
    result = out, adler32(data)
    _remember(key, result)
    return result


def _digest(data: memoryview) -> bytes:
    """The piece cache's key for ``data`` (see the module docstring)."""
    if _blake3 is not None:
        return _blake3(data).digest()
    return hashlib.sha256(data).digest()


def _adler32_combine(adler1: int, adler2: int, len2: int) -> int:
    """The Adler-32 of A + B from those of A and B (zlib's adler32_combine, which Python
    does not expose): the stream's checksum without reading the data a second time."""
    base = 65521
    rem = len2 % base
    sum1 = adler1 & 0xFFFF
    sum2 = (rem * sum1) % base
    sum1 = (sum1 + (adler2 & 0xFFFF) + base - 1) % base
    sum2 = (sum2 + (adler1 >> 16) + (adler2 >> 16) + base - rem) % base
    return sum1 | (sum2 << 16)


def _remember(key: bytes, result: tuple[bytes, int]) -> None:
    global _cached_bytes
    size = len(result[0])
    with _lock:
        if key in _cache or size > _CACHE_BYTES:
            return
        _cache[key] = result
        _cached_bytes += size
        while _cached_bytes > _CACHE_BYTES:
            _old, (dropped, _a) = _cache.popitem(last=False)
            _cached_bytes -= len(dropped)


def clear_cache() -> None:
    """Forget every deflated piece (tests and benchmarks time a cold encode with it)."""
    global _cached_bytes
    with _lock:
        _cache.clear()
        _cached_bytes = 0


def _after_fork_in_child() -> None:
    """A forked child (verify's workers) starts with a free lock and an empty cache: the
    parent's lock may have been held by a thread that does not exist in the child."""
    global _lock, _cached_bytes
    _lock = threading.Lock()
    _cache.clear()
    _cached_bytes = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
