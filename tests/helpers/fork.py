"""Running a check in a forked child (as verify forks its workers), failing on a hang."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import pytest


def check_in_fork(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Fork; the child runs ``check`` and exits 0 if it holds. Fails the test when the
    child fails, or is killed after ``timeout`` seconds as hung (``what`` says on what)."""
    pid = os.fork()
    if pid == 0:
        try:
            ok = check()
        except BaseException:
            ok = False
        os._exit(0 if ok else 1)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail(f"the forked child hung on {what}")
        time.sleep(0.05)
    assert os.waitstatus_to_exitcode(status) == 0, f"the check failed in the forked child ({what})"
