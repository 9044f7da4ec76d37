"""bgart.deflate: big blobs deflated in pieces, on threads, unchanged pieces reused."""

from __future__ import annotations

import io
import os
import threading
import zlib

import numpy as np
import pytest
from helpers.fork import check_in_fork
from PIL import Image

from bgart import deflate
from bgart.images import encode_png
from bgart.provenance import Raster

P = deflate.PIECE


@pytest.fixture(autouse=True)
def _cold_cache() -> None:
    deflate.clear_cache()


def _data(n: int, seed: int = 0) -> bytes:
    """Half noise, half runs: both kinds of piece."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, n // 2, dtype=np.uint8).tobytes()
    return noise + bytes(rng.integers(0, 4, n - n // 2, dtype=np.uint8) * 50)


@pytest.mark.parametrize("n", [0, 1, P - 1, P, P + 1, 3 * P + 17, 9 * P])
def test_the_stream_is_what_zlib_reads(n: int) -> None:
    data = _data(n)
    out = deflate.zlib_stream(data)
    assert zlib.decompress(out) == data  # also checks the Adler-32 of the joined pieces
    # a reader that takes the stream in small bites sees it end exactly at the end
    reader = zlib.decompressobj()
    got = b"".join(reader.decompress(out[i : i + 999]) for i in range(0, len(out), 999))
    assert got == data and reader.eof and not reader.unused_data


def test_the_bytes_depend_on_the_data_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _data(9 * P + 5)
    cold = deflate.zlib_stream(data)
    assert deflate.zlib_stream(data) == cold  # every piece from the cache now
    deflate.clear_cache()
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert deflate.zlib_stream(data) == cold  # one thread, cold cache
    # cutting costs almost nothing in size (deflate looks back only 32 KiB)
    assert len(cold) <= len(zlib.compress(data, 1)) * 1.01 + 64


def test_only_changed_pieces_are_deflated_again(monkeypatch: pytest.MonkeyPatch) -> None:
    before = bytearray(_data(8 * P, seed=1))
    deflated: list[int] = []
    lib = deflate.ENCODERS[deflate.encoder()]
    real = lib.compressobj

    def counting(*args: object) -> object:
        deflated.append(1)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(lib, "compressobj", counting)
    deflate.zlib_stream(before)
    assert len(deflated) == 8
    after = bytearray(before)
    after[3 * P + 10 : 3 * P + 20] = b"retouched!"  # a local edit: one piece changes
    deflated.clear()
    out = deflate.zlib_stream(after)
    assert len(deflated) == 1 and zlib.decompress(out) == after


def test_the_checksum_of_the_stream_is_combined_from_the_pieces() -> None:
    rng = np.random.default_rng(9)
    for a_len, b_len in [(0, 0), (0, 7), (7, 0), (1, 65521), (65521, 65522), (P, 5 * P + 3)]:
        a = rng.integers(0, 256, a_len, dtype=np.uint8).tobytes()
        b = (b"\xff" * b_len) if b_len % 2 else rng.integers(0, 256, b_len, np.uint8).tobytes()
        combined = deflate._adler32_combine(zlib.adler32(a), zlib.adler32(b), len(b))
        assert combined == zlib.adler32(a + b), (a_len, b_len)


def test_the_cache_keeps_to_its_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deflate, "_CACHE_BYTES", 3 * P)
    for seed in range(4):
        data = np.random.default_rng(seed).integers(0, 256, 6 * P, dtype=np.uint8).tobytes()
        assert zlib.decompress(deflate.zlib_stream(data)) == data
        assert deflate._cached_bytes <= 3 * P
        assert deflate._cached_bytes == sum(len(out) for out, _a in deflate._cache.values())


def test_threads_encoding_at_once_each_get_their_own_bytes() -> None:
    inputs = [_data(6 * P + i, seed=i) for i in range(6)]
    results: dict[int, bytes] = {}

    def run(i: int) -> None:
        results[i] = deflate.zlib_stream(inputs[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(zlib.decompress(results[i]) == inputs[i] for i in range(6))


def test_plate_pngs_and_rasters_read_back_after_a_local_edit() -> None:
    rng = np.random.default_rng(3)
    plate = rng.integers(0, 256, (700, 900, 3), dtype=np.uint8)
    encode_png(plate)
    edited = plate.copy()
    edited[300:320, 100:400] = (250, 10, 10)
    with Image.open(io.BytesIO(encode_png(edited))) as img:
        assert np.array_equal(np.asarray(img), edited)
    raster = Raster.filled(900, 700, 1)
    raster.to_bytes()
    raster.human[300:320, 100:400] = 1.0
    assert Raster.from_bytes(raster.to_bytes()).equals(raster)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_deflates_even_if_the_parent_held_the_lock() -> None:
    """verify forks worker processes; a thread of the parent may be deflating right then."""
    data = _data(6 * P)
    deflate.zlib_stream(data)  # something in the cache

    def fresh_and_whole() -> bool:  # must neither hang nor reuse the parent's state
        fresh = deflate._cached_bytes == 0 and not deflate._cache
        ok = zlib.decompress(deflate.zlib_stream(data)) == data and len(deflate._cache) == 6
        return fresh and ok

    with deflate._lock:  # as if another thread were mid-deflate at the fork
        check_in_fork(fresh_and_whole, "the deflate lock", timeout=30)


@pytest.mark.parametrize("name", sorted(deflate.ENCODERS))
def test_every_encoder_writes_streams_any_zlib_reader_reads(name: str) -> None:
    """A ledger holds blobs written by either encoder (older versions wrote zlib's): the
    readers are plain zlib and Pillow, so both must decode to the same pixels and raster."""
    previous = deflate.use_encoder(name)
    try:
        rng = np.random.default_rng(3)
        data = _data(5 * P + 11)
        assert zlib.decompress(deflate.zlib_stream(data)) == data
        arr = rng.integers(0, 256, (300, 700, 3), dtype=np.uint8)
        png = encode_png(arr)
        with Image.open(io.BytesIO(png)) as img:
            assert np.array_equal(np.asarray(img), arr)
        raster = Raster.filled(700, 300, 1).with_base(arr)
        raster.human[10:50, 20:90] = 0.75
        assert Raster.from_bytes(raster.to_bytes()).equals(raster)
    finally:
        deflate.use_encoder(previous)


def test_an_unknown_encoder_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="'lzma' is not available"):
        deflate.use_encoder("lzma")
    assert deflate.encoder() in deflate.ENCODERS


def test_isal_is_the_default_where_installed() -> None:
    pytest.importorskip("isal")
    assert deflate.encoder() == "isal"


def test_a_damaged_big_raster_is_refused_as_unreadable() -> None:
    """Big rasters are inflated by ISA-L where installed: its errors read as zlib's do."""
    rng = np.random.default_rng(5)
    raster = Raster.filled(1200, 900, 1).with_base(rng.integers(0, 256, (900, 1200, 3), np.uint8))
    data = bytearray(raster.to_bytes())
    assert len(data) > 1 << 20
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(range(64))
    with pytest.raises(ValueError, match="raster"):
        Raster.from_bytes(bytes(data))
    with pytest.raises(ValueError, match="raster"):
        Raster.from_bytes(bytes(data[: len(data) // 3]))
