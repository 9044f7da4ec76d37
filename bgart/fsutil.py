"""Crash-safe file writes: a reader sees the old file or the whole new one, never a part."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no locks between processes
    fcntl = None  # type: ignore[assignment]


def _file_mode() -> int:
    """The mode a plain open() would give a new file (mkstemp would give 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_MODE = _file_mode()


def atomic_write_bytes(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder, fsync, rename.

    ``durable=False`` skips the fsyncs, for files that only need to be whole when read (a
    copy the UI hands the browser), not to survive a power cut."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, _MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def fsync_dir(folder: Path) -> None:
    """Make a rename durable (POSIX); a no-op where folders can't be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def sha256_file(path: Path) -> str:
    """The sha256 of a file's bytes, read in 1 MiB chunks (model files are gigabytes)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@contextmanager
def file_lock(path: Path, *, busy: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold an ``flock`` on ``path`` (created if need be) for the block.

    When another process holds it, ``busy`` is called first: it may raise to give up, or
    return (say why we wait) to wait for it. Without ``flock`` (Windows), or on a file
    system that cannot lock (ENOLCK), the block runs unlocked.
    """
    if fcntl is None:
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if busy is not None:
                busy()
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:  # no locks on this file system
            pass
        yield
    finally:
        os.close(fd)  # releases the lock


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_MAX_NAME = 120


def safe_name(text: str) -> str:
    """A file-name-safe form of a shot/plate/episode name, distinct for distinct names.

    A name that is already safe everywhere (letters, digits, ``_``, ``-``, ``.``; starting
    with a letter or digit, not ending with ``.``, at most 120 characters) is kept as is.
    Any other name is cleaned (other characters become ``_``) and gets ``-`` and the first
    8 hex digits of its sha256, so two names that clean alike (``EP03 C1``, ``EP03?C1``)
    still get two files.
    """
    if len(text) <= _MAX_NAME and _SAFE.fullmatch(text) and not text.endswith("."):
        return text
    cleaned = _UNSAFE.sub("_", text).strip("._")[: _MAX_NAME - 9] or "_"
    return f"{cleaned}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:8]}"
