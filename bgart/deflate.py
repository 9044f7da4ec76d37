"""zlib streams of big blobs (plate PNGs, rasters): deflated in pieces, unchanged ones reused.

A new plate version differs from the one before it only where it was edited, yet its PNG
and raster used to be deflated whole, in one thread, every time: on a 4K plate that was
most of an edit's time. Here the data is cut into fixed 256 KiB pieces, each deflated on
its own (zlib level 1; a full flush ends every piece but the last, so the pieces join into
one valid zlib stream, as pigz does), big inputs on threads (zlib releases the GIL), and a
piece whose bytes were deflated recently is taken from a small cache keyed by its sha256.
Deflate looks back only 32 KiB, so cutting costs almost nothing in size. The bytes depend
on the data alone: not on the number of CPUs, nor on what the cache holds.
"""

from __future__ import annotations

import hashlib
import os
import struct
import threading
import zlib
from collections import OrderedDict

PIECE = 256 << 10
_LEVEL = 1
_HEADER = b"\x78\x01"  # zlib header: deflate, 32 KiB window, "fastest" level
_THREADS_FROM = 4 * PIECE  # smaller inputs deflate in the calling thread
_CACHE_BYTES = 64 << 20  # deflated pieces kept (about three 4K plate versions of grain)

_lock = threading.Lock()
_cache: OrderedDict[bytes, tuple[bytes, int]] = OrderedDict()  # key -> (deflated, Adler-32)
_cached_bytes = 0


def zlib_stream(data: bytes | bytearray | memoryview) -> bytes:
    """The zlib stream (level 1) of ``data``, as ``zlib.decompress`` reads it."""
    view = memoryview(data).cast("B")
    if view.nbytes <= PIECE:
        return zlib.compress(view, _LEVEL)
    spans = [(s, min(view.nbytes, s + PIECE)) for s in range(0, view.nbytes, PIECE)]
    last = len(spans) - 1

    def piece(i: int) -> tuple[bytes, int]:
        start, stop = spans[i]
        return _piece(view[start:stop], i == last)

    threads = min(len(spans), os.cpu_count() or 1)
    if view.nbytes < _THREADS_FROM or threads == 1:
        pieces = [piece(i) for i in range(len(spans))]
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(threads, thread_name_prefix="bgart-deflate") as pool:
            pieces = list(pool.map(piece, range(len(spans))))
    adler = 1  # the Adler-32 of no bytes
    for (start, stop), (_out, piece_adler) in zip(spans, pieces, strict=True):
        adler = _adler32_combine(adler, piece_adler, stop - start)
    return b"".join([_HEADER, *(out for out, _a in pieces), struct.pack(">I", adler)])


def _piece(data: memoryview, last: bool) -> tuple[bytes, int]:
    """Raw deflate of one piece (the last ends the stream, the others end on a byte
    boundary with the stream still open) and the piece's own Adler-32."""
    key = hashlib.sha256(data).digest() + (b"$" if last else b"+")
    with _lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    co = zlib.compressobj(_LEVEL, zlib.DEFLATED, -15)
    out = co.compress(data) + co.flush(zlib.Z_FINISH if last else zlib.Z_FULL_FLUSH)
    result = out, zlib.adler32(data)
    _remember(key, result)
    return result


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
