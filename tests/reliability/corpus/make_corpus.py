"""Generate bgart's bad-input corpus into a folder (nothing big is committed).

    python tests/reliability/corpus/make_corpus.py DEST [--lock weights.lock --store MODEL_STORE]

Every case is an input a user (or a damaged disk) could hand bgart, with what bgart must do
with it: ``expect="error"`` (a clear one-line error naming the input, nothing written) or
``expect="ok"`` (handled correctly). The cases are listed in ``DEST/manifest.json``.

Groups:

* ``images/``     truncated PNG/JPEG, zero bytes, decompression bombs (a PNG whose IHDR
                  declares 20000×20000, and a real, fully decodable 20000×20000 1-bit PNG of
                  a few kB), 1×1, CMYK, 16-bit, palette, alpha, LAB, non-images named .png/.jpg.
* ``shotlists/``  BOMs, other delimiters, duplicate ids, ``../`` and absolute paths, a
                  symlink out of the list's folder, bad encodings, bad/hostile YAML.
* ``weights/``    (needs ``--lock``/``--store``: a pulled model to damage) wrong hashes in the
                  lock or on disk, missing files, extra files, pickle files, a pickle renamed
                  .safetensors, paths leaving the model folder.
* ``ledgers/``    project folders whose ledger was edited: rows changed, deleted, swapped, the
                  chain rewritten, blobs altered or gone, the database replaced or emptied.

The big images are written as PNGs built by hand: their bytes are a few kB whatever size
their header declares, so the corpus stays small on disk and fast to make.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import pickle
import shutil
import sqlite3
import struct
import sys
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Case:
    """One corpus input. ``path`` is relative to the corpus root."""

    group: str  # images | shotlists | weights | ledgers
    name: str
    path: str
    expect: str  # "error" | "ok"
    needle: str  # what the error line must contain (the input's name), or "" for ok cases
    why: str = ""  # what the error must be about (a word of the message), or ""
    note: str = ""

    def __post_init__(self) -> None:
        assert self.expect in ("error", "ok"), self.expect


# --- image bytes ---------------------------------------------------------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png_declaring(
    width: int, height: int, *, bit_depth: int = 8, colour: int = 2, rows: bytes | None = None
) -> bytes:
    """A PNG whose IHDR declares ``width``×``height``; IDAT holds ``rows`` (raw, filtered
    scanlines, compressed here) or a token few bytes when None (a lying header)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    body = zlib.compress(rows if rows is not None else b"\x00" * 16, 9)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", body) + _chunk(b"IEND", b"")
    )


def real_bomb_png(side: int = 20000) -> bytes:
    """A complete, valid 1-bit ``side``×``side`` PNG (all white): ~side²/8 bytes decoded,
    a few kB on disk. Compressed row by row so making it stays fast."""
    row = b"\x00" + b"\xff" * ((side + 7) // 8)
    comp = zlib.compressobj(9)
    parts = [comp.compress(row * 1000) for _ in range(side // 1000)]
    parts.append(comp.compress(row * (side % 1000)))
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", b"".join(parts))
        + _chunk(b"IEND", b"")
    )


def _encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def sketch(width: int = 96, height: int = 64, seed: int = 0) -> Image.Image:
    """A small pencil-layout-like image: paper grey with dark lines."""
    rng = np.random.default_rng(seed)
    arr = np.full((height, width, 3), 215, np.uint8)
    for _ in range(6):
        if rng.random() < 0.5:
            arr[int(rng.integers(0, height)), :] = 60
        else:
            arr[:, int(rng.integers(0, width))] = 60
    return Image.fromarray(arr, "RGB")


def make_images(root: Path) -> list[Case]:
    d = root / "images"
    d.mkdir(parents=True, exist_ok=True)
    good_png = _encode(sketch(), "PNG")
    noisy = Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 96, 3), np.uint8))
    good_jpg = _encode(noisy, "JPEG", quality=90)
    files: dict[str, tuple[bytes, str, str, str]] = {
        # name: (bytes, expect, why, note)
        "truncated.png": (good_png[: len(good_png) // 2], "error", "truncated", ""),
        "truncated.jpg": (good_jpg[: len(good_jpg) // 2], "error", "truncated", ""),
        "header_only.png": (good_png[:33], "error", "", "signature + IHDR, nothing else"),
        "empty.png": (b"", "error", "empty", "zero bytes"),
        "empty.jpg": (b"", "error", "empty", "zero bytes"),
        "bomb_header.png": (
            png_declaring(20000, 20000),
            "error",
            "bomb",
            "IHDR declares 20000x20000, a few bytes of data",
        ),
        "bomb_20000.png": (
            real_bomb_png(20000),
            "error",
            "bomb",
            "a real 20000x20000 1-bit PNG, ~10 kB on disk",
        ),
        "too_wide.png": (
            png_declaring(20000, 8),
            "error",
            "too large",
            "160k pixels but 20000 px wide",
        ),
        "zero_width.png": (png_declaring(0, 8), "error", "", "IHDR says width 0"),
        "one_by_one.png": (
            _encode(Image.new("RGB", (1, 1), (90, 90, 90)), "PNG"),
            "ok",
            "",
            "1x1: a plate of the default size",
        ),
        "cmyk.jpg": (_encode(sketch().convert("CMYK"), "JPEG"), "ok", "", ""),
        "grey16.png": (
            _encode(Image.fromarray(np.asarray(sketch().convert("L"), np.uint16) * 257), "PNG"),
            "ok",
            "",
            "16-bit",
        ),
        "palette.png": (
            _encode(sketch().convert("P", palette=Image.Palette.ADAPTIVE), "PNG"),
            "ok",
            "",
            "",
        ),
        "alpha.png": (_encode(sketch().convert("RGBA"), "PNG"), "ok", "", "RGBA"),
        "transparent.png": (
            _encode(Image.new("RGBA", (96, 64), (0, 0, 0, 0)), "PNG"),
            "ok",
            "",
            "fully transparent: becomes white paper",
        ),
        "grey_alpha.png": (_encode(sketch().convert("LA"), "PNG"), "ok", "", "LA"),
        "bilevel.png": (_encode(sketch().convert("1"), "PNG"), "ok", "", "1-bit"),
        "lab.tif": (_encode(sketch().convert("LAB"), "TIFF"), "ok", "", "CIELAB TIFF"),
        "float.tif": (_encode(sketch().convert("F"), "TIFF"), "ok", "", "32-bit float TIFF"),
        "text.png": (b"shot,layout,prompt\nEP01,a.png,street\n", "error", "not an image", ""),
        "html.jpg": (b"<!doctype html><title>x</title>", "error", "not an image", ""),
        "zip.png": (b"PK\x03\x04" + b"\x00" * 60, "error", "not an image", ""),
        "pickle.png": (pickle.dumps({"not": "an image"}), "error", "not an image", ""),
        "garbage_after_magic.png": (b"\x89PNG\r\n\x1a\n" + os.urandom(200), "error", "", ""),
    }
    cases = []
    for name, (data, expect, why, note) in files.items():
        (d / name).write_bytes(data)
        cases.append(
            Case(
                "images",
                name.replace(".", "_"),
                f"images/{name}",
                expect,
                name if expect == "error" else "",
                why,
                note,
            )
        )
    return cases


def make_records(root: Path) -> list[Case]:
    """PNGs handed to ``bgart regenerate``: their embedded record is input too."""
    from PIL import PngImagePlugin

    d = root / "records"
    d.mkdir(parents=True, exist_ok=True)
    good = json.loads(json.dumps(_record(64, 64, 1).__dict__, default=list))  # type: ignore[attr-defined]
    texts: dict[str, tuple[str | None, str, str]] = {
        "no_record.png": (None, "no bgart generation record", ""),
        "record_not_json.png": ("{not json", "not JSON", ""),
        "record_number.png": ("5", "not a JSON object", ""),
        "record_unknown_field.png": (json.dumps({**good, "exec": "rm -rf /"}), "unknown", ""),
        "record_missing_field.png": (
            json.dumps({k: v for k, v in good.items() if k != "width"}),
            "width",
            "",
        ),
        "record_bad_types.png": (json.dumps({**good, "width": "wide", "steps": [1]}), "", ""),
        "record_huge_size.png": (
            json.dumps({**good, "width": 100000, "height": 100000}),
            "",
            "would allocate a 10-gigapixel plate",
        ),
        "record_negative_steps.png": (json.dumps({**good, "steps": -3}), "", ""),
    }
    cases = []
    for name, (text, why, note) in texts.items():
        info = PngImagePlugin.PngInfo()
        if text is not None:
            info.add_itxt("bgart", text)
        buf = io.BytesIO()
        Image.new("RGB", (64, 64), (100, 110, 120)).save(buf, "PNG", pnginfo=info)
        (d / name).write_bytes(buf.getvalue())
        cases.append(
            Case("records", name.replace(".", "_"), f"records/{name}", "error", name, why, note)
        )
    return cases


# --- shot lists ----------------------------------------------------------------------------

HEADER = "shot,layout,prompt,layout_artist,width,height,variations"
WIN_DOTDOT = "..\\outside\\secret.png"


def make_shot_lists(root: Path) -> list[Case]:
    d = root / "shotlists"
    (d / "layouts").mkdir(parents=True, exist_ok=True)
    sketch().save(d / "layouts" / "ok.png")
    sketch(seed=2).save(d / "layouts" / "ok2.png")
    (d / "layouts" / "text.png").write_bytes(b"not an image")
    (d / "layouts" / "empty.png").write_bytes(b"")
    (d / "layouts" / "bomb.png").write_bytes(png_declaring(20000, 20000))
    good = (d / "layouts" / "ok.png").read_bytes()
    (d / "layouts" / "truncated.png").write_bytes(good[: len(good) // 2])
    outside = root / "outside"
    outside.mkdir(exist_ok=True)
    sketch(seed=3).save(outside / "secret.png")
    link = d / "layouts" / "escape.png"
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(outside / "secret.png", link)
    (d / "folder.csv").mkdir(exist_ok=True)

    def row(
        shot: str,
        layout: str = "layouts/ok.png",
        prompt: str = "street at dusk",
        artist: str = "Sato",
    ) -> str:
        return f"{shot},{layout},{prompt},{artist},64,64,1"

    lists: dict[str, tuple[bytes, str, str, str]] = {
        # name: (bytes, expect, why, note)
        "ok_bom.csv": (
            b"\xef\xbb\xbf" + f"{HEADER}\n{row('EP01_C001')}\n".encode(),
            "ok",
            "",
            "Excel's UTF-8 BOM",
        ),
        "ok_semicolon.csv": (
            f"{HEADER}\n{row('EP01_C001')}\n".replace(",", ";").encode(),
            "ok",
            "",
            "';' delimiter (European Excel)",
        ),
        "ok_tab.csv": (
            f"{HEADER}\n{row('EP01_C001')}\n".replace(",", "\t").encode(),
            "ok",
            "",
            "tab delimiter",
        ),
        "ok_crlf.csv": (
            f"{HEADER}\r\n{row('EP01_C001')}\r\n{row('EP01_C002')}\r\n".encode(),
            "ok",
            "",
            "Windows line ends",
        ),
        "ok_bom.yaml": (
            b"\xef\xbb\xbf"
            + (
                b"shots:\n  - {shot: EP01_C001, layout: layouts/ok.png, prompt: street,"
                b" layout_artist: Sato, width: 64, height: 64, variations: 1}\n"
            ),
            "ok",
            "",
            "",
        ),
        "pipe_delimited.csv": (
            f"{HEADER}\n{row('EP01_C001')}\n".replace(",", "|").encode(),
            "error",
            "column",
            "'|' is not a delimiter bgart reads",
        ),
        "duplicate_ids.csv": (
            f"{HEADER}\n{row('EP01_C001')}\n{row('EP01_C001')}\n".encode(),
            "error",
            "duplicate",
            "",
        ),
        "duplicate_ids_case.csv": (
            f"{HEADER}\n{row('EP01_C001')}\n{row('ep01_c001')}\n".encode(),
            "error",
            "duplicate",
            "same folder on macOS/Windows",
        ),
        "dotdot_path.csv": (
            f"{HEADER}\n{row('EP01_C001', '../outside/secret.png')}\n".encode(),
            "error",
            "leaves",
            "",
        ),
        "absolute_path.csv": (
            f"{HEADER}\n{row('EP01_C001', str(outside / 'secret.png'))}\n".encode(),
            "error",
            "relative",
            "",
        ),
        "etc_passwd.csv": (
            f"{HEADER}\n{row('EP01_C001', '/etc/passwd')}\n".encode(),
            "error",
            "relative",
            "",
        ),
        "windows_path.csv": (
            f"{HEADER}\n{row('EP01_C001', 'C:/layouts/ok.png')}\n".encode(),
            "error",
            "relative",
            "",
        ),
        "backslash_dotdot.csv": (
            f"{HEADER}\n{row('EP01_C001', WIN_DOTDOT)}\n".encode(),
            "error",
            "leaves",
            "a Windows-style ../",
        ),
        "symlink_escape.csv": (
            f"{HEADER}\n{row('EP01_C001', 'layouts/escape.png')}\n".encode(),
            "error",
            "leaves",
            "layouts/escape.png links outside",
        ),
        "shot_id_traversal.csv": (
            f"{HEADER}\n{row('../../etc')}\n".encode(),
            "error",
            "shot id",
            "a shot id becomes a folder name",
        ),
        "missing_layout.csv": (
            f"{HEADER}\n{row('EP01_C001', 'layouts/nope.png')}\n".encode(),
            "error",
            "no such file",
            "",
        ),
        "text_layout.csv": (
            f"{HEADER}\n{row('EP01_C001', 'layouts/text.png')}\n".encode(),
            "error",
            "not an image",
            "",
        ),
        "empty_layout.csv": (
            f"{HEADER}\n{row('EP01_C001', 'layouts/empty.png')}\n".encode(),
            "error",
            "empty",
            "",
        ),
        "bomb_layout.csv": (
            f"{HEADER}\n{row('EP01_C001', 'layouts/bomb.png')}\n".encode(),
            "error",
            "bomb",
            "",
        ),
        "truncated_layout.csv": (
            f"{HEADER}\n{row('EP01_C001', 'layouts/truncated.png')}\n".encode(),
            "error",
            "truncated",
            "",
        ),
        "folder_layout.csv": (
            f"{HEADER}\n{row('EP01_C001', 'layouts')}\n".encode(),
            "error",
            "folder",
            "",
        ),
        "latin1.csv": (
            f"{HEADER}\n{row('EP01_C001', prompt='café au soleil')}\n".encode("latin-1"),
            "error",
            "UTF-8",
            "",
        ),
        "utf16.csv": (f"{HEADER}\n{row('EP01_C001')}\n".encode("utf-16"), "error", "", ""),
        "empty.csv": (b"", "error", "empty", "zero bytes"),
        "header_only.csv": (f"{HEADER}\n".encode(), "error", "empty", ""),
        "missing_column.csv": (
            b"shot,layout,prompt\nEP01_C001,layouts/ok.png,street\n",
            "error",
            "layout_artist",
            "",
        ),
        "unterminated_quote.csv": (
            f'{HEADER}\nEP01_C001,layouts/ok.png,"street,Sato,64,64,1\n'.encode(),
            "error",
            "",
            "",
        ),
        "nul_bytes.csv": (
            f"{HEADER}\n{row('EP01_C001')}\n".encode().replace(b"street", b"str\x00eet"),
            "error",
            "",
            "NUL inside a cell",
        ),
        "binary.csv": (bytes(range(256)) * 4, "error", "", "random bytes"),
        "bad_numbers.csv": (
            f"{HEADER}\nEP01_C001,layouts/ok.png,street,Sato,sixty,64,99\n".encode(),
            "error",
            "whole number",
            "",
        ),
        "bad.yaml": (b"shots:\n  - shot: EP01_C001\n    layout: [unclosed\n", "error", "YAML", ""),
        "alias_bomb.yaml": (
            (
                b"a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                b"b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                b"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                b"d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                b"e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                b"f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                b"shots: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
            ),
            "error",
            "",
            "billion laughs: 10^7 references",
        ),
        "python_tag.yaml": (
            (
                b"shots:\n  - shot: !!python/object/apply:os.system ['touch PWNED']\n"
                b"    layout: layouts/ok.png\n    prompt: x\n    layout_artist: Sato\n"
            ),
            "error",
            "",
            "a YAML tag that would run code in an unsafe loader",
        ),
        "scalar.yaml": (b"just a string\n", "error", "list", ""),
    }
    cases = []
    for name, (data, expect, why, note) in lists.items():
        (d / name).write_bytes(data)
        cases.append(
            Case(
                "shotlists",
                name.replace(".", "_"),
                f"shotlists/{name}",
                expect,
                name if expect == "error" else "",
                why,
                note,
            )
        )
    cases.append(
        Case(
            "shotlists",
            "folder",
            "shotlists/folder.csv",
            "error",
            "folder.csv",
            "folder",
            "a folder named like a list",
        )
    )
    cases.append(
        Case("shotlists", "no_such_list", "shotlists/nope.csv", "error", "nope.csv", "no such", "")
    )
    return cases


# --- weights -------------------------------------------------------------------------------


def _lock_text(models: dict[str, dict[str, object]]) -> str:
    import tomlkit

    doc = tomlkit.document()
    table = tomlkit.table(is_super_table=True)
    for name, spec in models.items():
        t = tomlkit.table()
        for key, value in spec.items():
            if key == "files":
                arr = tomlkit.array()
                for f in value:  # type: ignore[attr-defined]
                    it = tomlkit.inline_table()
                    it.update(f)
                    arr.append(it)
                arr.multiline(True)
                t["files"] = arr
            else:
                t[key] = value
        table[name] = t
    doc["models"] = table
    return tomlkit.dumps(doc)


def _file_pin(folder: Path, rel: str) -> dict[str, object]:
    p = folder / rel
    return {
        "path": rel,
        "size": p.stat().st_size,
        "sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
    }


def make_weights(root: Path, lock_path: Path, store: Path, model: str = "tiny-sd15") -> list[Case]:
    """Damaged copies of ``model`` (and its ControlNet): one folder per case holding a
    ``weights.lock`` and a ``store/``. The engine must refuse each with the bad file named."""
    import tomlkit

    src = tomlkit.parse(lock_path.read_text(encoding="utf-8")).unwrap()
    entry = src["models"][model]
    names = [model] + ([entry["controlnet"]] if entry.get("controlnet") else [])
    base = {n: dict(src["models"][n]) for n in names}
    weights_file = next(
        f["path"]
        for f in entry["files"]
        if f["path"].endswith(".safetensors") and "unet" in f["path"]
    )
    cases: list[Case] = []

    def case(
        name: str,
        expect: str,
        needle: str,
        why: str,
        note: str = "",
        lock: dict[str, dict[str, object]] | None = None,
    ) -> Path:
        folder = root / "weights" / name
        if folder.exists():
            shutil.rmtree(folder)
        (folder / "store").mkdir(parents=True)
        for n in names:
            shutil.copytree(store / n, folder / "store" / n, symlinks=True)
        (folder / "weights.lock").write_text(_lock_text(lock or base), encoding="utf-8")
        cases.append(Case("weights", name, f"weights/{name}", expect, needle, why, note))
        return folder / "store" / model

    case("intact", "ok", "", "", "the undamaged copy loads")
    m = case("flipped_byte", "error", weights_file, "sha256", "one byte of the UNet changed")
    data = bytearray((m / weights_file).read_bytes())
    data[len(data) // 2] ^= 0x01
    (m / weights_file).write_bytes(bytes(data))

    m = case(
        "flipped_byte_same_mtime",
        "error",
        weights_file,
        "sha256",
        "changed in place with its mtime put back (the verify cache must not hide it)",
    )
    target = m / weights_file
    # Prime the verify cache as a load would, then alter the file and restore its mtime.
    st = target.stat()
    data = bytearray(target.read_bytes())
    data[len(data) // 3] ^= 0x01
    cache = {}
    for f in entry["files"]:
        p = m / f["path"]
        cache[f["path"]] = [
            p.stat().st_size,
            p.stat().st_mtime_ns,
            hashlib.sha256(p.read_bytes()).hexdigest(),
        ]
    (m / ".bgart-verified.json").write_text(json.dumps(cache), encoding="utf-8")
    with open(target, "r+b") as fh:
        fh.write(bytes(data))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))

    lock = json.loads(json.dumps(base))
    for f in lock[model]["files"]:
        if f["path"] == weights_file:
            f["sha256"] = hashlib.sha256(b"something else").hexdigest()
    case(
        "lock_wrong_hash", "error", weights_file, "sha256", "the lock pins another hash", lock=lock
    )

    m = case("missing_file", "error", weights_file, "missing", "")
    (m / weights_file).unlink()

    m = case("extra_file", "error", "extra.safetensors", "not in", "a file the lock does not pin")
    (m / "unet" / "extra.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")

    m = case(
        "extra_code_file",
        "error",
        "pipeline.py",
        "not in",
        "custom pipeline code dropped into the model folder",
    )
    (m / "pipeline.py").write_text("import os\nos.system('touch PWNED')\n", encoding="utf-8")

    lock = json.loads(json.dumps(base))
    lock[model]["files"].append({"path": "unet/extra.safetensors", "size": 16, "sha256": "ab" * 32})
    case(
        "lock_extra_file",
        "error",
        "extra.safetensors",
        "missing",
        "the lock lists a file that is not there",
        lock=lock,
    )

    m = case(
        "stray_pickle",
        "error",
        "diffusion_pytorch_model.bin",
        "pickle",
        "a pickle checkpoint beside the safetensors",
    )
    (m / "unet" / "diffusion_pytorch_model.bin").write_bytes(pickle.dumps({"w": [1, 2, 3]}))

    lock = json.loads(json.dumps(base))
    lock[model]["files"].append(
        {"path": "unet/diffusion_pytorch_model.bin", "size": 1, "sha256": "ab" * 32}
    )
    case(
        "lock_lists_pickle",
        "error",
        "diffusion_pytorch_model.bin",
        "pickle",
        "the lock itself lists a pickle file",
        lock=lock,
    )

    lock = json.loads(json.dumps(base))
    lock[model]["files"].append({"path": "../../etc/passwd", "size": 1, "sha256": "ab" * 32})
    case("lock_path_escape", "error", "../../etc/passwd", "relative", "", lock=lock)

    # A pickle renamed .safetensors, and the lock re-pinned to it (a hostile lock): it must
    # fail to load as safetensors, never be unpickled.
    m = case("pickle_renamed", "error", model, "", "a torch pickle named .safetensors")
    evil = pickle.dumps({"PWNED": True}, protocol=2)
    (m / weights_file).write_bytes(evil)
    lock = json.loads(json.dumps(base))
    for f in lock[model]["files"]:
        if f["path"] == weights_file:
            f.update(_file_pin(m, weights_file))
    (root / "weights" / "pickle_renamed" / "weights.lock").write_text(
        _lock_text(lock), encoding="utf-8"
    )
    pin_path = m / ".bgart-pin.json"
    pin = json.loads(pin_path.read_text(encoding="utf-8"))
    pin["files"][weights_file] = _file_pin(m, weights_file)
    pin_path.write_text(json.dumps(pin), encoding="utf-8")
    (m / ".bgart-verified.json").unlink(missing_ok=True)

    folder = root / "weights" / "lock_not_toml"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "store").mkdir(exist_ok=True)
    (folder / "weights.lock").write_text("[models.x\nkind = ", encoding="utf-8")
    cases.append(
        Case(
            "weights", "lock_not_toml", "weights/lock_not_toml", "error", "weights.lock", "TOML", ""
        )
    )
    return cases


# --- ledgers -------------------------------------------------------------------------------


def _record(width: int, height: int, seed: int) -> object:
    from bgart.generation import GenerationRecord

    return GenerationRecord(
        mode="layout",
        model="tiny-sd15",
        architecture="sd15",
        model_files={"unet/diffusion_pytorch_model.safetensors": "ab" * 32},
        controlnet=None,
        prompt="street at dusk",
        negative="lowres",
        preset="base",
        scheduler="euler",
        steps=2,
        guidance=5.0,
        controlnet_scale=1.0,
        strength=None,
        width=width,
        height=height,
        seeds=(seed,),
        batch_index=0,
        device="cpu",
        dtype="float32",
        seconds=0.5,
    )


SHOT = "EP01_C001"


def make_base_project(folder: Path) -> Path:
    """A small, valid project: layout, two candidates, a pick, paint, adjust, submit, accept."""
    from bgart import plates as wf
    from bgart.generation import png_bytes
    from bgart.ledger import Project

    rng = np.random.default_rng(7)
    h, w = 24, 32
    with Project.init(folder, production="Corpus Show") as project:
        wf.record_layout(
            project, SHOT, _encode(sketch(w, h), "PNG"), "Sato", filename="layouts/ok.png"
        )
        for seed in (1, 2):
            arr = rng.integers(0, 256, (h, w, 3), np.uint8)
            wf.record_generated(
                project,
                SHOT,
                png_bytes(Image.fromarray(arr), _record(w, h, seed)),
                _record(w, h, seed),
                requested_by="Sato",
            )  # type: ignore[arg-type]
        wf.select_variation(project, SHOT, 2, "Sato")
        layer = np.zeros((h, w, 4), np.uint8)
        layer[4:12, 4:20] = (30, 200, 40, 255)
        wf.record_paint(project, SHOT, layer, "Mika", 12.5)
        plate = np.array(wf.plate_state(project, SHOT).image)
        wf.record_adjust(
            project,
            SHOT,
            np.clip(plate.astype(int) + 12, 0, 255).astype(np.uint8),
            "Mika",
            {"op": "levels"},
        )
        wf.submit(project, SHOT, "Mika")
        wf.accept(project, SHOT, "Director", "good")
    return folder


def _sql(folder: Path, *statements: str) -> None:
    con = sqlite3.connect(folder / "bgart.db")
    try:
        for stmt in statements:
            con.execute(stmt)
        con.commit()
    finally:
        con.close()


def _rechain(folder: Path) -> None:
    """Recompute every hash after an edit, as a forger with the database would."""
    from bgart.ledger import GENESIS_HASH, event_body, event_hash

    con = sqlite3.connect(folder / "bgart.db")
    con.row_factory = sqlite3.Row
    try:
        prev = GENESIS_HASH
        for r in con.execute("SELECT * FROM events ORDER BY seq").fetchall():
            body = event_body(
                seq=r["seq"],
                id=r["id"],
                kind=r["kind"],
                shot=r["shot"],
                plate=r["plate"],
                actor=r["actor"],
                actor_kind=r["actor_kind"],
                created_at=r["created_at"],
                payload=json.loads(r["payload"]),
                blobs=json.loads(r["blobs"]),
                idem_key=r["idem_key"],
            )
            digest = event_hash(prev, body)
            con.execute(
                "UPDATE events SET prev_hash=?, hash=? WHERE seq=?", (prev, digest, r["seq"])
            )
            prev = digest
        con.execute("UPDATE chain_head SET hash=? WHERE id=1", (prev,))
        con.commit()
    finally:
        con.close()


def _seq_of(folder: Path, kind: str) -> int:
    con = sqlite3.connect(folder / "bgart.db")
    try:
        return int(con.execute("SELECT min(seq) FROM events WHERE kind=?", (kind,)).fetchone()[0])
    finally:
        con.close()


def _blob(folder: Path, seq: int, role: str) -> Path:
    con = sqlite3.connect(folder / "bgart.db")
    try:
        blobs = json.loads(
            con.execute("SELECT blobs FROM events WHERE seq=?", (seq,)).fetchone()[0]
        )
    finally:
        con.close()
    sha = blobs[role]
    return next((folder / "blobs" / sha[:2]).glob(sha[2:] + ".*"))


def make_ledgers(root: Path) -> list[Case]:
    """Copies of one valid project, each with its ledger edited one way."""
    d = root / "ledgers"
    d.mkdir(parents=True, exist_ok=True)
    base = make_base_project(d / "_base")
    con = sqlite3.connect(base / "bgart.db")
    anchor = str(con.execute("SELECT hash FROM chain_head").fetchone()[0])
    con.close()
    (base / "anchor.txt").write_text(anchor + "\n", encoding="utf-8")  # the head, as printed
    paint = _seq_of(base, "human.painted")
    gen = _seq_of(base, "ai.generated")
    cases: list[Case] = []

    def case(name: str, expect: str, needle: str, why: str = "", note: str = "") -> Path:
        folder = d / name
        if folder.exists():
            shutil.rmtree(folder)
        shutil.copytree(base, folder)
        cases.append(Case("ledgers", name, f"ledgers/{name}", expect, needle, why, note))
        return folder

    case("intact", "ok", "")
    f = case(
        "payload_edited",
        "error",
        f"event #{paint}",
        "edited",
        "a painted event's active seconds raised",
    )
    _sql(f, f"UPDATE events SET payload = replace(payload, '12.5', '99.5') WHERE seq={paint}")
    f = case("actor_edited", "error", f"event #{paint}", "edited", "credit moved to someone else")
    _sql(f, f"UPDATE events SET actor = 'Mallory' WHERE seq={paint}")
    f = case("hash_non_ascii", "error", f"event #{gen}", "", "a hash column holding non-ASCII text")
    _sql(f, f"UPDATE events SET hash = '{'é' * 64}' WHERE seq={gen}")
    f = case("hash_integer", "error", f"event #{gen}", "", "a hash column holding a number")
    _sql(f, f"UPDATE events SET hash = 12345 WHERE seq={gen}")
    f = case("payload_not_json", "error", f"event #{paint}", "", "")
    _sql(f, f"UPDATE events SET payload = '{{' WHERE seq={paint}")
    f = case("payload_null_json", "error", f"event #{paint}", "", "payload 'null'")
    _sql(f, f"UPDATE events SET payload = 'null' WHERE seq={paint}")
    f = case("blobs_integer", "error", f"event #{paint}", "", "blob map replaced by a number")
    _sql(f, f"UPDATE events SET blobs = '7' WHERE seq={paint}")
    f = case("row_deleted", "error", f"#{paint}", "missing", "")
    _sql(f, f"DELETE FROM events WHERE seq={paint}")
    f = case("last_row_deleted", "error", "#", "missing", "")
    _sql(f, "DELETE FROM events WHERE seq=(SELECT max(seq) FROM events)")
    f = case("rows_swapped", "error", f"event #{gen}", "", "two rows' contents swapped")
    _sql(
        f,
        f"UPDATE events SET seq=-1 WHERE seq={gen}",
        f"UPDATE events SET seq={gen} WHERE seq={gen + 1}",
        f"UPDATE events SET seq={gen + 1} WHERE seq=-1",
    )
    f = case("chain_head_deleted", "error", "chain head", "", "")
    _sql(f, "DELETE FROM chain_head")
    f = case("chain_head_behind", "error", "chain head", "", "")
    _sql(f, "UPDATE chain_head SET seq = seq - 1")
    f = case("version_row_edited", "error", "plate version", "table", "")
    _sql(
        f,
        "UPDATE plate_versions SET image_sha = (SELECT image_sha FROM plate_versions "
        "WHERE number = 1) WHERE number = 3",
    )
    f = case("candidate_row_deleted", "error", "candidate", "", "")
    _sql(f, "DELETE FROM candidates WHERE number = 2")
    f = case(
        "rechained_stats",
        "error",
        f"event #{paint}",
        "recomputed",
        "credited pixels inflated and the whole chain re-hashed",
    )
    con = sqlite3.connect(f / "bgart.db")
    payload = json.loads(con.execute(f"SELECT payload FROM events WHERE seq={paint}").fetchone()[0])
    con.close()
    payload["stats"]["credited_px"] += 100
    from bgart.canonical import canonical_json

    _sql(f, f"UPDATE events SET payload = '{canonical_json(payload)}' WHERE seq={paint}")
    _rechain(f)
    f = case(
        "rechained_actor",
        "error",
        "",
        "",
        "credit moved and the chain re-hashed: only an "
        "anchor (a head hash printed earlier) can tell; see test",
    )
    _sql(f, f"UPDATE events SET actor = 'Mallory' WHERE seq={paint}")
    _rechain(f)
    f = case("blob_altered", "error", _blob(base, paint, "layer").name[:12], "altered", "")
    p = _blob(f, paint, "layer")
    p.chmod(0o644)
    p.write_bytes(p.read_bytes() + b"\x00")
    f = case("blob_missing", "error", f"event #{paint}", "missing", "")
    _blob(f, paint, "layer").unlink()
    f = case(
        "raster_blob_garbage",
        "error",
        f"event #{paint}",
        "",
        "a raster blob swapped for another valid-hash blob",
    )
    # Point the event at a blob that is stored intact but is not a raster, re-hashing the
    # chain so only the replay can notice.
    layer_sha = _blob(f, paint, "layer").parent.name + _blob(f, paint, "layer").name[:62]
    _sql(
        f, f"UPDATE events SET blobs = json_set(blobs, '$.raster', '{layer_sha}') WHERE seq={paint}"
    )
    _rechain(f)
    f = case("db_not_sqlite", "error", "bgart.db", "", "the database replaced by text")
    (f / "bgart.db").write_bytes(b"this is not a database\n" * 100)
    f = case("db_zero_bytes", "error", "bgart.db", "", "the database emptied")
    (f / "bgart.db").write_bytes(b"")
    f = case("db_missing", "error", "bgart.db", "", "the database deleted")
    (f / "bgart.db").unlink()
    f = case("db_truncated", "error", "bgart.db", "", "the database cut in half")
    data = (f / "bgart.db").read_bytes()
    (f / "bgart.db").write_bytes(data[: len(data) // 2])
    f = case("events_table_dropped", "error", "", "", "")
    _sql(f, "DROP TABLE events")
    shutil.rmtree(base)
    return cases


# --- all -----------------------------------------------------------------------------------


def make_corpus(
    dest: Path, *, lock: Path | None = None, store: Path | None = None, model: str = "tiny-sd15"
) -> list[Case]:
    """Write the whole corpus under ``dest``; the weights group only with a lock and store."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    cases = make_images(dest) + make_records(dest) + make_shot_lists(dest) + make_ledgers(dest)
    if lock is not None and store is not None:
        cases += make_weights(dest, Path(lock), Path(store), model)
    names = [(c.group, c.name) for c in cases]
    assert len(names) == len(set(names)), "duplicate case names"
    (dest / "manifest.json").write_text(
        json.dumps([asdict(c) for c in cases], indent=1), encoding="utf-8"
    )
    return cases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path)
    parser.add_argument("--lock", type=Path, help="weights.lock of a pulled model to damage")
    parser.add_argument("--store", type=Path, help="model store holding it")
    parser.add_argument("--model", default="tiny-sd15")
    args = parser.parse_args(argv)
    cases = make_corpus(args.dest, lock=args.lock, store=args.store, model=args.model)
    for c in cases:
        print(f"{c.group:10} {c.name:28} {c.expect:5} {c.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
