"""Helpers for browser tests: `bgart ui` on a free loopback port, Debian's Chromium through
Playwright, and the page steps every test repeats (the fixtures are in the test modules)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
START_TIMEOUT = 60.0
_HOST = ("--host", "127.0.0.1", "--port")


def require_browser() -> None:
    """Skip (or, with BGART_REQUIRE_ALL set, fail) when Chromium or Playwright is missing."""
    problems = []
    if not CHROMIUM.exists():
        problems.append(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("the playwright package is missing (pip install playwright)")
    if problems:
        reason = "browser test: " + "; ".join(problems)
        if os.environ.get("BGART_REQUIRE_ALL"):
            pytest.fail(reason)
        pytest.skip(reason)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_ui(project: Path, env: dict[str, str], workdir: Path) -> Iterator[str]:
    """`bgart ui --project project` in a subprocess; yields its URL once it answers."""
    port = free_port()
    log_path = workdir / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bgart.cli", "ui", "--project", str(project), *_HOST, str(port)],
            env={**os.environ, **env},
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"bgart ui exited ({proc.returncode}):\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"bgart ui did not answer in {START_TIMEOUT} s:\n{log_path.read_text()}"
                )
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_status(page: Any, text: str, timeout: float = 45_000) -> str:
    """Wait until the page's status line says ``text``; fail with what it says instead."""
    try:
        page.wait_for_function(
            "t => (document.querySelector('#status-line')?.innerText || '').includes(t)",
            arg=text,
            timeout=timeout,
        )
    except Exception as exc:
        said = page.locator("#status-line").inner_text()
        raise AssertionError(f"status line never said {text!r}; it says {said!r}") from exc
    return str(page.locator("#status-line").inner_text())


def log_in(page: Any, url: str, user: str, password: str, *, wait: bool = True) -> None:
    """Fill the login form and send it; ``wait``: until the shot gallery shows (a login
    meant to fail passes False)."""
    page.goto(url)
    page.wait_for_selector("input[type=password]")  # the login form, before filling it
    page.get_by_label("username").fill(user)
    page.get_by_label("password").fill(password)
    page.get_by_role("button", name="Login").click()
    if wait:
        page.wait_for_selector("#shot-gallery .thumbnail-item", timeout=30_000)


def fill_settled(page: Any, selector: str, text: str) -> None:
    """Fill a field once the page's pending updates are done, and make sure it kept the
    text: opening a shot fills the recipe fields, and under load that update can land after
    a fast test's typing."""
    field = page.locator(selector)
    for _ in range(3):
        page.wait_for_function("() => !document.querySelector('.pending')", timeout=30_000)
        field.fill(text)
        page.wait_for_timeout(300)
        page.wait_for_function("() => !document.querySelector('.pending')", timeout=30_000)
        if field.input_value() == text:
            return
    raise AssertionError(f"{selector} did not keep {text!r}; it holds {field.input_value()!r}")
