"""Helpers shared by tests/reliability/test_reliability_*.py: the bad-input corpus, the CLI
run as real processes, and checks that an error is one clean line and left nothing behind
(the ``corpus`` fixture is in tests/reliability/conftest.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CORPUS_SCRIPT = ROOT / "tests" / "reliability" / "corpus" / "make_corpus.py"


def load_corpus_module() -> Any:
    """tests/reliability/corpus/make_corpus.py as a module (it is a script, not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bgart_make_corpus", CORPUS_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class CliResult:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float = 0.0

    def show(self) -> str:
        return (
            f"$ bgart {' '.join(self.args)}\n-> rc {self.returncode}\n"
            f"stdout: {self.stdout!r}\nstderr: {self.stderr!r}"
        )


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("BGART_") or k == "BGART_TEST_PG_URL"
    }
    env.update({"HF_HUB_OFFLINE": "1", "COLUMNS": "400", "NO_COLOR": "1", "PYTHONPATH": str(ROOT)})
    env.update(extra or {})
    return env


def run_cli(
    args: Sequence[str],
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 300,
) -> CliResult:
    """``python -m bgart.cli ARGS`` in a fresh process."""
    res = subprocess.run(
        [sys.executable, "-m", "bgart.cli", *args],
        capture_output=True,
        text=True,
        env=clean_env(env),
        cwd=cwd,
        timeout=timeout,
    )
    return CliResult(list(args), res.returncode, res.stdout, res.stderr)


# One process runs many CLI invocations (each through the real entry point, bgart.cli.main,
# with its own stdout/stderr files and environment): the corpus has ~90 cases and a fresh
# Python with torch costs ~5 s on a small machine. A few cases per group also run through
# run_cli as separate processes, so the two paths are known to agree.
_DRIVER = textwrap.dedent(
    """
    import json, os, sys, time
    jobs = json.load(open(sys.argv[1]))
    out = []
    base_env = dict(os.environ)
    for i, job in enumerate(jobs):
        os.environ.clear()
        os.environ.update(base_env)
        os.environ.update(job.get("env") or {})
        os.chdir(job.get("cwd") or base_env.get("PWD", "."))
        paths = [f"{sys.argv[1]}.{i}.out", f"{sys.argv[1]}.{i}.err"]
        sys.stdout.flush(); sys.stderr.flush()
        saved = [os.dup(1), os.dup(2)]
        for fd, p in zip((1, 2), paths):
            f = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(f, fd); os.close(f)
        t0 = time.perf_counter()
        try:
            from bgart.cli import main
            try:
                rc = main(job["args"])
            except SystemExit as exc:
                rc = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                import traceback; traceback.print_exc(); rc = 99
        finally:
            sys.stdout.flush(); sys.stderr.flush()
            for fd, s in zip((1, 2), saved):
                os.dup2(s, fd); os.close(s)
        out.append({"rc": rc, "stdout": open(paths[0], encoding="utf-8", errors="replace").read(),
                    "stderr": open(paths[1], encoding="utf-8", errors="replace").read(),
                    "seconds": time.perf_counter() - t0})
    json.dump(out, open(sys.argv[1] + ".result", "w"))
    """
)


def run_cli_many(
    jobs: Sequence[dict[str, Any]],
    workdir: Path,
    env: dict[str, str] | None = None,
    timeout: float = 600,
) -> list[CliResult]:
    """Run each job ``{"args": [...], "env": {...}, "cwd": "..."}`` through bgart.cli.main in
    one separate process; returns one CliResult per job."""
    workdir.mkdir(parents=True, exist_ok=True)
    spec = workdir / "jobs.json"
    spec.write_text(json.dumps(list(jobs)), encoding="utf-8")
    res = subprocess.run(
        [sys.executable, "-c", _DRIVER, str(spec)],
        capture_output=True,
        text=True,
        env=clean_env(env),
        cwd=workdir,
        timeout=timeout,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    results = json.loads((workdir / "jobs.json.result").read_text(encoding="utf-8"))
    return [
        CliResult(list(j["args"]), r["rc"], r["stdout"], r["stderr"], r["seconds"])
        for j, r in zip(jobs, results, strict=True)
    ]


def assert_clean_error(
    res: CliResult, needle: str, why: str = "", *, multi_line_ok: bool = False
) -> None:
    """Non-zero exit; stderr one line ``error: …`` naming the input (``needle``), mentioning
    ``why``; no traceback anywhere. ``multi_line_ok``: a shot list may list several
    problems, each on its own line naming the list."""
    text = res.show()
    assert res.returncode not in (0, 70, 99), text  # 70: "internal error" (a bug)
    assert "Traceback" not in res.stderr + res.stdout, text
    assert "internal error" not in res.stderr, text
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert lines, text
    assert lines[0].startswith("error: "), text
    if multi_line_ok:
        assert all(needle in ln for ln in lines), text
    else:
        assert len(lines) == 1, text
    assert needle in lines[0], text
    if why:
        assert why.lower() in res.stderr.lower(), text


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes); symlinks by their target."""
    out: dict[str, bytes] = {}
    if not folder.exists():
        return out
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_symlink():
            out[rel] = f"-> {os.readlink(p)}".encode()
        elif p.is_file():
            out[rel] = p.read_bytes()
    return out


def png_bytes_of(width: int = 96, height: int = 64, seed: int = 0) -> bytes:
    import io

    module = load_corpus_module()
    buf = io.BytesIO()
    module.sketch(width, height, seed).save(buf, "PNG")
    return buf.getvalue()
