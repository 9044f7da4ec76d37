"""Issue 8, bad input: every corpus case (tests/reliability/corpus/make_corpus.py) gives a
clear one-line error naming the input, or is handled correctly; never a traceback, never a
half-written output. The corpus is generated into a temporary folder by the generator script
itself."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from helpers.reliability import CliResult, assert_clean_error, run_cli, run_cli_many, snapshot
from PIL import Image

from bgart.errors import BgartError, InputError
from bgart.images import open_image, read_user_file
from bgart.verify import verify_project

Corpus = tuple[Path, list[Any]]
CACHE_FILE = ".bgart-verified.json"


def _cases(corp: Corpus, group: str) -> list[Any]:
    return [c for c in corp[1] if c.group == group]


# --- the corpus itself ---------------------------------------------------------------------


def test_corpus_is_small_on_disk_and_covers_the_issue(corpus: Corpus) -> None:
    root, cases = corpus
    total = sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())
    assert total < 20 * 1024 * 1024, f"corpus is {total} bytes"
    bomb = root / "images" / "bomb_20000.png"
    assert bomb.stat().st_size < 200_000
    data = bomb.read_bytes()  # a whole image of that size, not only a header
    assert struct.unpack(">II", data[16:24]) == (20000, 20000)
    idat_len = struct.unpack(">I", data[33:37])[0]
    assert len(zlib.decompress(data[41 : 41 + idat_len])) == 20000 * (1 + 20000 // 8)
    names = {(c.group, c.name) for c in cases}
    for wanted in [
        ("images", "truncated_png"),
        ("images", "truncated_jpg"),
        ("images", "empty_png"),
        ("images", "bomb_header_png"),
        ("images", "bomb_20000_png"),
        ("images", "one_by_one_png"),
        ("images", "cmyk_jpg"),
        ("images", "grey16_png"),
        ("images", "palette_png"),
        ("images", "alpha_png"),
        ("images", "text_png"),
        ("shotlists", "ok_bom_csv"),
        ("shotlists", "ok_semicolon_csv"),
        ("shotlists", "pipe_delimited_csv"),
        ("shotlists", "duplicate_ids_csv"),
        ("shotlists", "dotdot_path_csv"),
        ("shotlists", "absolute_path_csv"),
        ("shotlists", "symlink_escape_csv"),
        ("weights", "lock_wrong_hash"),
        ("weights", "missing_file"),
        ("weights", "extra_file"),
        ("weights", "stray_pickle"),
        ("weights", "lock_lists_pickle"),
        ("ledgers", "payload_edited"),
        ("ledgers", "row_deleted"),
        ("ledgers", "rechained_stats"),
    ]:
        assert wanted in names
    assert (root / "shotlists" / "layouts" / "escape.png").is_symlink()


# --- library level: fast, every case ------------------------------------------------------


def test_every_corpus_image_opens_or_is_refused_by_name(corpus: Corpus) -> None:
    root, _ = corpus
    for case in _cases(corpus, "images"):
        path = root / case.path
        for mode in ("RGB", "L", "RGBA", None):
            if case.expect == "ok":
                img = open_image(path, mode=mode)
                assert img.width >= 1 and img.height >= 1
                if mode is not None:
                    assert img.mode == mode
                continue
            with pytest.raises(InputError) as info:
                open_image(path, mode=mode)
            msg = str(info.value)
            assert "\n" not in msg and case.needle in msg, (case.name, msg)
            assert case.why.lower() in msg.lower(), (case.name, msg)
            # The same bytes handed over as an upload: the same refusal, named as given.
            with pytest.raises(InputError, match=r"upload x\.png"):
                open_image(path.read_bytes(), mode=mode, name="upload x.png")


def test_truncated_images_stay_refused_after_weasyprint_is_imported(corpus: Corpus) -> None:
    """weasyprint sets PIL's global LOAD_TRUNCATED_IMAGES on import (the credits PDF
    renderer imports it): open_image must not start accepting half files after that."""
    from PIL import ImageFile

    root, _ = corpus
    import weasyprint  # noqa: F401

    ImageFile.LOAD_TRUNCATED_IMAGES = True  # as weasyprint leaves it
    for name in ("truncated.png", "truncated.jpg"):
        with pytest.raises(InputError, match="truncated"):
            open_image(root / "images" / name)


def test_devices_pipes_and_folders_are_refused_without_reading(tmp_path: Path) -> None:
    fifo = tmp_path / "layout.png"
    os.mkfifo(fifo)  # reading it would block forever
    for path, why in [
        (fifo, "not a regular file"),
        (Path("/dev/zero"), "not a regular file"),
        (tmp_path, "folder"),
        (tmp_path / "nope.png", "no such file"),
    ]:
        with pytest.raises(InputError, match=why):
            read_user_file(path, f"--layout {path}")
        with pytest.raises(InputError, match=why):
            open_image(path)
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG" + b"\x00" * 2000)
    with pytest.raises(InputError, match="too large"):
        read_user_file(big, max_bytes=1000)


def test_shot_lists_parse_or_list_every_problem_by_line(corpus: Corpus, tiny_settings: Any) -> None:
    from bgart.inputs import ShotListError, load_shot_list

    root, _ = corpus
    for case in _cases(corpus, "shotlists"):
        path = root / case.path
        if case.expect == "ok":
            sl = load_shot_list(path, tiny_settings)
            assert [s.id for s in sl.shots][:1] == ["EP01_C001"], case.name
            assert all(s.layout.is_relative_to(path.parent.resolve()) for s in sl.shots)
            assert sl.shots[0].layout_artist == "Sato" and sl.shots[0].width == 64
            continue
        with pytest.raises(InputError) as info:
            load_shot_list(path, tiny_settings)
        lines = str(info.value).splitlines()
        assert all(str(path) in ln for ln in lines), (case.name, lines)
        assert case.why.lower() in str(info.value).lower(), (case.name, lines)
        if isinstance(info.value, ShotListError):
            assert len(lines) == 1 + len(info.value.problems)
    assert not list(root.rglob("PWNED")), "a YAML tag ran code"


# --- the CLI: every case through bgart.cli.main in a separate process ---------------------


def _job(case: Any, root: Path, work: Path, tiny_env: dict[str, str]) -> dict[str, Any]:
    p = str(root / case.path)
    out = str(work / f"{case.group}-{case.name}.png")
    ok_layout = str(root / "shotlists" / "layouts" / "ok.png")
    small = ["--width", "64", "--height", "64", "--steps", "2"]
    if case.group == "images":
        return {
            "args": ["generate", "--layout", p, "--prompt", "street", "--out", out, *small],
            "env": tiny_env,
        }
    if case.group == "records":
        return {"args": ["regenerate", p, "--out", out, "--layout", ok_layout], "env": tiny_env}
    if case.group == "shotlists":
        return {
            "args": [
                "batch",
                p,
                "--project",
                str(work / f"proj-{case.name}"),
                "--cpu",
                "--steps",
                "1",
            ],
            "env": tiny_env,
        }
    if case.group == "weights":
        env = {
            **tiny_env,
            "BGART_WEIGHTS_LOCK": f"{p}/weights.lock",
            "BGART_MODEL_STORE": f"{p}/store",
        }
        return {
            "args": ["generate", "--layout", ok_layout, "--prompt", "street", "--out", out, *small],
            "env": env,
        }
    args = ["ledger", "verify", "--project", p]
    if case.name.startswith("rechained"):  # a forger re-hashed the chain: check an anchor
        args += ["--anchor", (root / case.path / "anchor.txt").read_text().strip()]
    return {"args": args, "env": {}}


def _snap(folder: Path) -> dict[str, bytes]:
    return {
        k: v
        for k, v in snapshot(folder).items()
        if not k.endswith(CACHE_FILE) and not k.endswith(("-wal", "-shm"))
    }


@pytest.fixture(scope="module")
def cli_results(
    corpus: Corpus, tiny_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[tuple[str, str], CliResult], dict[str, Any]]:
    root, cases = corpus
    work = tmp_path_factory.mktemp("cli-corpus")
    # A copy of the corpus to run on: the originals stay pristine for the comparison.
    run_root = work / "corpus"
    shutil.copytree(root, run_root, symlinks=True)
    before = {
        f"{c.group}/{c.name}": _snap(run_root / c.path)
        for c in cases
        if c.group in ("weights", "ledgers")
    }
    jobs, keys = [], []
    for i, case in enumerate(cases):
        job = _job(case, run_root, work, tiny_env)
        out = work / f"{case.group}-{case.name}.png"
        if case.expect == "error" and i % 2:  # half the refusals run over an existing output
            out.write_bytes(b"the previous plate")
        jobs.append(job)
        keys.append((case.group, case.name))
    results = run_cli_many(jobs, work / "driver")
    return run_root, dict(zip(keys, results, strict=True)), before


@pytest.mark.slow
def test_every_corpus_case_through_the_cli(corpus: Corpus, cli_results: Any) -> None:
    run_root, results, before = cli_results
    _, cases = corpus
    work = run_root.parent
    for i, case in enumerate(cases):
        res = results[(case.group, case.name)]
        out = work / f"{case.group}-{case.name}.png"
        if case.expect == "error":
            assert_clean_error(res, case.needle, case.why, multi_line_ok=case.group == "shotlists")
            if i % 2:
                assert out.read_bytes() == b"the previous plate", res.show()
            else:
                assert not out.exists(), res.show()
            if case.group == "shotlists":
                assert not (work / f"proj-{case.name}").exists(), res.show()
            if case.group in ("weights", "ledgers"):  # refused: nothing was changed either
                assert _snap(run_root / case.path) == before[f"{case.group}/{case.name}"], (
                    res.show()
                )
            continue
        assert res.returncode == 0, res.show()
        assert "Traceback" not in res.stderr, res.show()
        if case.group in ("images", "weights"):
            with Image.open(out) as img:
                img.load()
                assert img.size == (64, 64)
        elif case.group == "shotlists":
            done = list((work / f"proj-{case.name}" / "shots").glob("*/done.json"))
            assert done, res.show()
        elif case.group == "ledgers":
            assert res.stdout.startswith("ledger ok:"), res.show()
    leftovers = [p.name for p in work.glob(".*.tmp")]
    assert not leftovers, leftovers
    assert not list(work.rglob("PWNED")), "something ran code from an input"


@pytest.mark.slow
def test_the_real_command_line_agrees(
    corpus: Corpus, tiny_env: dict[str, str], tmp_path: Path
) -> None:
    """A few cases as plain `python -m bgart.cli` processes (the driver runs the rest)."""
    root, _ = corpus
    res = run_cli(
        [
            "generate",
            "--layout",
            str(root / "images" / "bomb_20000.png"),
            "--prompt",
            "x",
            "--out",
            str(tmp_path / "o.png"),
        ],
        tiny_env,
    )
    assert_clean_error(res, "bomb_20000.png", "bomb")
    assert not (tmp_path / "o.png").exists()
    case = tmp_path / "ledger"
    shutil.copytree(root / "ledgers" / "row_deleted", case)
    res = run_cli(["ledger", "verify", "--project", str(case)])
    assert_clean_error(res, "#5", "missing")


# --- ledger cases at the library level -----------------------------------------------------


def test_edited_ledgers_name_the_first_bad_event(corpus: Corpus, tmp_path: Path) -> None:
    from bgart.ledger import Project

    root, _ = corpus
    for case in _cases(corpus, "ledgers"):
        folder = tmp_path / case.name
        shutil.copytree(root / case.path, folder)
        anchor = None
        if case.name.startswith("rechained"):
            anchor = (folder / "anchor.txt").read_text().strip()
        if case.expect == "ok":
            with Project.open(folder) as project:
                report = verify_project(project, anchor=anchor)
            assert report.events == 8
            continue
        with pytest.raises(BgartError) as info, Project.open(folder) as project:
            verify_project(project, anchor=anchor)
        msg = str(info.value)
        assert "\n" not in msg and case.needle in msg, (case.name, msg)


def test_a_missing_or_emptied_ledger_is_not_silently_recreated(
    corpus: Corpus, tmp_path: Path
) -> None:
    from bgart.errors import LedgerIntegrityError
    from bgart.ledger import Project

    root, _ = corpus
    for name in ("db_missing", "db_zero_bytes"):
        folder = tmp_path / name
        shutil.copytree(root / "ledgers" / name, folder)
        with pytest.raises(LedgerIntegrityError, match=r"bgart\.db"):
            Project.open(folder)
        db = folder / "bgart.db"
        assert not db.exists() or db.stat().st_size == 0  # still as found: nothing written


def test_a_hash_column_of_another_type_is_an_integrity_error(tmp_path: Path) -> None:
    from bgart import plates as wf
    from bgart.errors import LedgerIntegrityError
    from bgart.ledger import Project

    with Project.init(tmp_path / "p") as project:
        wf.record_base(project, "EP01_C001", Image.new("RGB", (16, 16), (9, 9, 9)), "Sato")
    for value in ("'" + "é" * 64 + "'", "x'00ff'", "NULL", "42"):
        con = sqlite3.connect(tmp_path / "p" / "bgart.db")
        try:
            con.execute(f"UPDATE events SET hash = {value} WHERE seq = 1")
            con.commit()
        except sqlite3.IntegrityError:  # NOT NULL
            continue
        finally:
            con.close()
        with (
            Project.open(tmp_path / "p") as project,
            pytest.raises(LedgerIntegrityError, match="event #1"),
        ):
            verify_project(project)


def test_regenerate_refuses_records_it_could_not_have_written(corpus: Corpus) -> None:
    from bgart.generation import read_record

    root, _ = corpus
    for case in _cases(corpus, "records"):
        with pytest.raises(InputError) as info:
            read_record(root / case.path)
        assert case.needle in str(info.value) and "\n" not in str(info.value)


def test_the_manifest_lists_every_case(corpus: Corpus) -> None:
    """The manifest is plain JSON a developer can read (the generator's CLI prints it too)."""
    root, cases = corpus
    data = json.loads((root / "manifest.json").read_text())
    assert len(data) == len(cases)
    assert {d["expect"] for d in data} == {"ok", "error"}
    for d in data:
        assert (root / d["path"]).exists() or d["name"] == "no_such_list", d


def test_names_in_another_encoding_through_the_real_command_line(tmp_path: Path) -> None:
    """Names typed or saved on a Shift-JIS system reach bgart as bytes that are not UTF-8 (in
    Python, surrogate escapes), which crashed it with an internal UnicodeEncodeError. A name
    is refused in one line naming its field; a file name is recorded with those bytes
    escaped."""
    from bgart.ledger import Project

    root = tmp_path / "show"
    Project.init(root).close()
    path = tmp_path / os.fsdecode("背景.png".encode("shift_jis"))
    Image.new("RGB", (16, 12), (40, 90, 160)).save(path)
    artist = os.fsdecode("佐藤".encode("shift_jis"))
    args = ["ledger", "import-final", "ep01_c001", str(path), "--project", str(root)]
    res = run_cli([*args, "--artist", artist])
    assert_clean_error(res, "artist '\ufffd\ufffd\ufffd\ufffd'", "not valid UTF-8")
    res = run_cli([*args, "--artist", "Sato"])
    assert res.returncode == 0, res.show()
    with Project.open(root) as project:
        (event,) = project.ledger.events()
        assert event.payload["filename"] == "\\x94w\\x8ci.png"
        assert verify_project(project).events == 1
    # a project folder named on such a system: verify remembers its run there too
    folder = tmp_path / os.fsdecode("背景".encode("shift_jis"))
    Project.init(folder).close()
    res = run_cli(
        [
            "ledger",
            "import-final",
            "ep01_c001",
            str(path),
            "--project",
            str(folder),
            "--artist",
            "Sato",
        ]
    )
    assert res.returncode == 0, res.show()
    res = run_cli(["ledger", "verify", "--project", str(folder)])
    assert res.returncode == 0 and "ledger ok" in res.stdout, res.show()
