"""Project folders and the content-addressed blob store."""

from __future__ import annotations

import hashlib
import io
import os
import random
import stat
import threading
import tomllib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bgart.deflate import PIECE
from bgart.errors import InputError, LedgerIntegrityError
from bgart.images import decode_plain_png
from bgart.ledger import BlobStore, Project
from bgart.plates import decode_blob, encode_png


def test_init_creates_the_project_layout(tmp_path: Path) -> None:
    root = tmp_path / "myshow"
    with Project.init(root, production="My Show") as project:
        assert project.root == root.resolve()
        assert project.settings.production == "My Show"
        assert project.db_url == f"sqlite:///{root.resolve() / 'bgart.db'}"
        assert project.ledger.count() == 0
    assert (root / "blobs").is_dir() and (root / "exports").is_dir()
    assert (root / "bgart.db").is_file()
    data = tomllib.loads((root / "bgart.toml").read_text())
    assert data == {"production": "My Show"}


def test_init_defaults_the_production_to_the_folder_name(tmp_path: Path) -> None:
    with Project.init(tmp_path / "ep01") as project:
        assert project.settings.production == "ep01"


def test_init_refuses_an_existing_project(tmp_path: Path) -> None:
    Project.init(tmp_path / "p").close()
    with pytest.raises(InputError, match="already a bgart project"):
        Project.init(tmp_path / "p")
    Project.init(tmp_path / "p", exist_ok=True).close()


def test_init_refuses_a_file(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        Project.init(path)


def test_open_names_a_folder_that_is_not_a_project(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=rf"{tmp_path}.*not a bgart project"):
        Project.open(tmp_path)


def test_db_url_from_toml_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "elsewhere.db"
    with Project.init(tmp_path / "p", db_url=f"sqlite:///{other}") as project:
        assert project.db_url == f"sqlite:///{other}"
    assert other.exists() and not (tmp_path / "p" / "bgart.db").exists()
    env_db = tmp_path / "env.db"
    monkeypatch.setenv("BGART_DB_URL", f"sqlite:///{env_db}")
    with Project.open(tmp_path / "p") as project:
        assert project.db_url == f"sqlite:///{env_db}"


def test_bad_db_url_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="db_url"):
        Project.init(tmp_path / "p", db_url="nosuchdb://x")


def test_blob_put_get(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    data = b"\x89PNG fake"
    sha = store.put(data, "png")
    assert sha == hashlib.sha256(data).hexdigest()
    path = store.path(sha)
    assert path == tmp_path / "blobs" / sha[:2] / f"{sha[2:]}.png"
    assert store.get(sha) == data and store.has(sha) and store.check(sha) is None
    assert not stat.S_IMODE(path.stat().st_mode) & 0o222  # read-only
    assert list(store) == [sha]
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".tmp")]


def test_blobs_of_every_size_read_back_whole(tmp_path: Path) -> None:
    """Small blobs take one read, larger ones more: none comes back cut short or padded."""
    store = BlobStore(tmp_path / "blobs")
    rng = random.Random(7)
    for size in (0, 1, 65535, 65536, 65537, 131072, 3_000_001):
        data = rng.randbytes(size)
        sha = store.put(data, "bin")
        fresh = BlobStore(tmp_path / "blobs")  # nothing remembered from the put
        assert fresh.get(sha) == data, size
        assert fresh.read_checked(sha, "bin") == (data, None), size


def test_blob_is_never_overwritten(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    sha = store.put(b"one", "bin")
    path = store.path(sha)
    assert path is not None
    inode = path.stat().st_ino
    assert store.put(b"one", "png") == sha  # same bytes, other kind: still the one file
    assert store.path(sha) == path and path.stat().st_ino == inode


def test_altered_blob_is_detected(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    sha = store.put(b"original", "bin")
    path = store.path(sha)
    assert path is not None
    os.chmod(path, 0o644)
    path.write_bytes(b"tampered")
    with pytest.raises(LedgerIntegrityError, match=sha):
        store.get(sha)
    assert store.get(sha, verify=False) == b"tampered"
    assert "altered" in (store.check(sha) or "")
    path.unlink()
    assert store.check(sha) == "missing"
    with pytest.raises(LedgerIntegrityError, match="missing"):
        store.get(sha)


def test_blob_arguments_are_checked(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    with pytest.raises(ValueError, match="unknown blob kind"):
        store.put(b"x", "exe")
    with pytest.raises(InputError, match="not a sha256"):
        store.get("../../etc/passwd")


def test_concurrent_puts_of_the_same_blob(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    data = os.urandom(1 << 20)
    shas: list[str] = []
    threads = [
        threading.Thread(target=lambda: shas.append(store.put(data, "bin"))) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(shas)) == 1
    assert store.get(shas[0]) == data
    folder = tmp_path / "blobs" / shas[0][:2]
    assert [p.name for p in folder.iterdir()] == [f"{shas[0][2:]}.bin"]


def test_read_checked_finds_a_blob_whatever_the_extension_hint(tmp_path: Path) -> None:
    """Verify reads blobs by a guess of their extension: a wrong guess still finds the file,
    and a file that went missing after it was found is reported missing, not served stale."""
    store = BlobStore(tmp_path / "blobs")
    sha = store.put(b"layout bytes", "bin")
    for hint in ("raster", "png", None, "nonsense"):
        assert BlobStore(tmp_path / "blobs").read_checked(sha, hint) == (b"layout bytes", None)
        assert store.read_checked(sha, hint) == (b"layout bytes", None)  # cached path
    path = store.path(sha)
    assert path is not None
    os.chmod(path, 0o644)
    path.write_bytes(b"tampered")
    data, problem = store.read_checked(sha, "bin")
    assert data is None and problem is not None and problem.startswith("altered")
    path.unlink()
    assert store.read_checked(sha, "bin") == (None, "missing")


def _pillow_pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        return np.asarray(img)


def test_plain_png_blobs_decode_exactly_as_pillow_does() -> None:
    """The fast decoder of bgart's own blobs gives Pillow's pixels for every filter type,
    several IDAT chunks and each mode bgart writes; anything else is left to Pillow."""
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:300, 0:260]
    smooth = np.stack([(xx + yy) % 256, (xx * 3) % 256, (yy * 2) % 256], -1).astype(np.uint8)
    noise = rng.integers(0, 256, (300, 260, 3), dtype=np.uint8)
    mixed = np.where(xx[..., None] < 130, smooth, noise)
    plates = {"smooth": smooth, "noise": noise, "mixed": mixed}
    # Small plates are unfiltered in numpy when every row is Up-filtered (bgart's own).
    plates |= {f"small {name}": arr[:27, :48].copy() for name, arr in plates.items()}
    plates["one row"] = noise[:1, :7].copy()
    several_chunks = 0
    for name, rgb in plates.items():
        alpha = ((xx * yy) % 256).astype(np.uint8)[: rgb.shape[0], : rgb.shape[1]]
        for mode, arr in (
            ("RGB", rgb),
            ("RGBA", np.dstack([rgb, alpha])),
            ("L", rgb[..., 1].copy()),
        ):
            for data in (
                encode_png(arr),  # what bgart writes
                _png(Image.fromarray(arr, mode), compress_level=9),
                _png(Image.fromarray(arr, mode), optimize=True),
            ):
                fast = decode_plain_png(data, mode)
                assert fast is not None, (name, mode)
                assert fast.dtype == np.uint8 and np.array_equal(fast, _pillow_pixels(data))
                assert np.array_equal(fast, arr)
                several_chunks += data.count(b"IDAT") > 1
    assert several_chunks  # the noisy plates span several IDAT chunks

    rgba = encode_png(np.dstack([noise, noise[..., 0]]))
    others = {
        "asked for another mode": (rgba, "RGB"),
        "palette": (_png(Image.fromarray(noise).quantize(16)), "RGB"),
        "16-bit": (_png(Image.fromarray(noise[..., 0].astype(np.uint16) * 257)), "L"),
        "grey + alpha": (_png(Image.fromarray(noise[..., :2].copy(), "LA")), "L"),
        "damaged": (rgba[:60] + bytes(40) + rgba[100:], "RGBA"),
        "not a PNG": (b"GIF89a", "RGB"),
    }
    small = encode_png(noise[:27, :48])
    others["small, cut short"] = (small[:-40] + small[-12:], "RGB")  # IDAT end, IEND kept
    for why, (data, mode) in others.items():
        assert decode_plain_png(data, mode) is None, why
    # decode_blob still reads what Pillow can read, and names what nobody can
    rgb = decode_blob(rgba, "RGB", "a layer")
    assert rgb.shape == (300, 260, 3)
    with pytest.raises(LedgerIntegrityError, match="a layer: cannot be decoded"):
        decode_blob(others["damaged"][0], "RGBA", "a layer")


def _idat_stream(data: bytes) -> tuple[bytes, int]:
    """The zlib stream of a PNG's IDAT chunks (CRCs checked) and how many chunks hold it."""
    import struct
    import zlib

    pos, parts = 8, []
    while pos < len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack_from(">I", data, pos + 8 + length)
        assert crc == zlib.crc32(kind + body), kind
        if kind == b"IDAT":
            parts.append(body)
        pos += 12 + length
    return b"".join(parts), len(parts)


def test_bgart_pngs_are_valid_deterministic_and_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    import zlib

    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:1100, 0:1400]
    smooth = np.stack([xx % 256, yy % 256, (xx + yy) % 256], -1).astype(np.uint8)
    cases = {
        "tiny L mask": rng.integers(0, 2, (3, 5), dtype=np.uint8) * 255,
        "one pixel RGBA": rng.integers(0, 256, (1, 1, 4), dtype=np.uint8),
        "1400x1100 RGB, deflated in pieces on threads": smooth,
        "2400x2400 RGB noise, an IDAT chunk per piece": rng.integers(
            0, 256, (2400, 2400, 3), np.uint8
        ),
        "strided RGBA view": np.dstack([smooth, smooth[..., 0]])[::2, ::3],
    }
    for name, arr in cases.items():
        mode = {1: "L", 3: "RGB", 4: "RGBA"}[1 if arr.ndim == 2 else arr.shape[2]]
        data = encode_png(arr)
        stream, chunks = _idat_stream(data)
        raw = zlib.decompress(stream)  # checks the Adler-32 of the joined pieces
        assert len(raw) == arr.shape[0] * (arr[0].size + 1), name
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            assert img.mode == mode and np.array_equal(np.asarray(img), arr), name
        assert np.array_equal(decode_plain_png(data, mode), arr), name
        if name.startswith("2400"):  # whole rows a piece, each its own chunk, then the checksum
            rows = PIECE // (2400 * 3 + 1)
            assert chunks == -(-2400 // rows) + 1
        # the same bytes whatever the number of CPUs (blob hashes must not depend on it)
        monkeypatch.setattr(os, "cpu_count", lambda: 1)
        assert encode_png(arr) == data, name
        monkeypatch.undo()
    with pytest.raises(ValueError, match="cannot write a float32 array"):
        encode_png(np.zeros((4, 4, 3), np.float32))
    for shape in ((4, 4, 2), (0, 4, 3), (4, 0)):
        with pytest.raises(ValueError, match="shape"):
            encode_png(np.zeros(shape, np.uint8))


def _png(img: Image.Image, **options: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", **options)
    return buf.getvalue()
