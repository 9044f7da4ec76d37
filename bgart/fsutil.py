"""Crash-safe file writes: a reader sees the old file or the whole new one, never a part."""

from __future__ import annotations

import hashlib
import os
import re
import stat as stat_
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bgart.errors import InputError

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


KIB = 1024
MIB = 1024 * KIB
MAX_TEXT_BYTES = 1 * MIB  # a settings file, a preset, a weights.lock, a certificate bundle


def read_bounded(
    path: Path | str,
    label: str | None = None,
    max_bytes: int = MAX_TEXT_BYTES,
    *,
    kind: str = "file",
    allow_empty: bool = False,
) -> bytes:
    """The bytes of a file that came from outside (a user, an environment variable, a project
    folder), refusing anything that is not a regular file and files over ``max_bytes``.

    Every such path is read through here: ``/dev/zero`` would fill memory and a FIFO would
    never end. The file is opened without blocking and checked on the open descriptor, so a
    path swapped for a pipe between a check and the read still cannot hang. Errors are
    :class:`~bgart.errors.InputError` (exit code 2) naming ``label`` and calling the file a
    ``kind`` ("no such shot list"). Empty files are refused unless ``allow_empty``.
    """
    label = label or str(path)
    path = Path(path).expanduser()  # "--layout=~/x.png": no shell expands a ~ after "="
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise InputError(f"{label}: no such {kind}") from None
    except IsADirectoryError:
        raise InputError(f"{label}: is a folder, not a {kind}") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InputError(f"{label}: cannot read ({why})") from None
    try:
        st = os.fstat(fd)
        if stat_.S_ISDIR(st.st_mode):
            raise InputError(f"{label}: is a folder, not a {kind}")
        if not stat_.S_ISREG(st.st_mode):
            raise InputError(f"{label}: not a regular file (a device or a pipe)")
        if st.st_size == 0 and not allow_empty:
            raise InputError(f"{label}: empty file (0 bytes)")
        if st.st_size > max_bytes:
            raise InputError(f"{label}: file too large ({st.st_size} bytes; at most {max_bytes})")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        chunks: list[bytes] = []
        size = 0
        while size <= max_bytes:
            chunk = os.read(fd, min(max_bytes + 1 - size, 8 * MIB))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise InputError(f"{label}: cannot read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    if size > max_bytes:  # it grew while being read
        raise InputError(f"{label}: file too large (more than {max_bytes} bytes)")
    return b"".join(chunks)


def read_bounded_text(
    path: Path | str,
    label: str | None = None,
    max_bytes: int = MAX_TEXT_BYTES,
    *,
    kind: str = "file",
    allow_empty: bool = True,
) -> str:
    """:func:`read_bounded` decoded as UTF-8 (a leading BOM dropped); bytes that are not
    UTF-8 are refused with the file's name."""
    label = label or str(path)
    data = read_bounded(path, label, max_bytes, kind=kind, allow_empty=allow_empty)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{label}: not UTF-8 text (byte {exc.start})") from None


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
