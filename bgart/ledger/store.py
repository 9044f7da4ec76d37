"""A production's project folder and its content-addressed blob store.

Layout (see DESIGN.md)::

    myshow/
      bgart.toml      production name and settings (read by bgart.settings)
      bgart.db        SQLite ledger, unless ``db_url`` points elsewhere
      blobs/ab/cdef…  every image, mask, layer and raster ever recorded, named by sha256
      exports/        accepted plates, reports

Blobs are immutable: a blob is written once (temporary file, fsync, hard link into place,
fsync of the folder) and never overwritten, so a crash leaves either no blob or a whole one,
and nothing bgart does can change a blob that the ledger already refers to.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import tomli_w

from bgart.errors import InputError, LedgerIntegrityError
from bgart.fsutil import fsync_dir, sha256_file
from bgart.settings import PROJECT_FILE, Settings, load_settings

if TYPE_CHECKING:
    from bgart.ledger.db import Ledger

DB_FILE = "bgart.db"
BLOB_DIR = "blobs"
EXPORT_DIR = "exports"
# Known blob extensions, in lookup order; a blob's extension says what it holds.
BLOB_EXTS = ("png", "raster", "bin", "json", "psd")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_O_READ = os.O_RDONLY | getattr(os, "O_BINARY", 0)


def _read_all(name: str) -> bytes:
    """The bytes of file ``name``, read with plain system calls: ``ledger verify`` reads
    every blob of a production, and Python's buffered file object cost as much as the
    read itself on small blobs. A small file takes one read (no fstat: that system call
    cost a fifth of the whole read)."""
    fd = os.open(name, _O_READ)
    try:
        data = os.read(fd, _FIRST_READ)
        if len(data) < _FIRST_READ:  # fewer bytes than asked for: the end of the file
            return data
        # A big file: read whole again from its start into one buffer (joining the parts
        # of two reads copied a 4K plate's 19 MB once more: 3x the read's time here).
        data = os.pread(fd, os.fstat(fd).st_size + 1, 0)
        while more := os.pread(fd, 1 << 20, len(data)):  # the file grew since fstat
            data += more
        return data
    finally:
        os.close(fd)


# Bytes asked for in a blob's first read: most blobs of small plates fit; the buffer stays
# below the size at which malloc maps fresh pages from the system for each read.
_FIRST_READ = 1 << 16


class BlobStore:
    """Immutable files named by the sha256 of their bytes: ``blobs/ab/cdef….ext``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._prefix = os.path.join(self.root, "")  # "root/": blob names are built per read
        self._paths: dict[str, str] = {}  # found paths (a blob, once stored, never moves)

    def _stem(self, sha: str) -> str:
        """``root/ab/cdef…`` for blob ``sha``, without its extension (plain strings: verify
        builds one per blob, and pathlib costs more than the file read there)."""
        if not _SHA_RE.match(sha):
            raise InputError(f"blob '{sha}': not a sha256 hex digest")
        return f"{self._prefix}{sha[:2]}{os.sep}{sha[2:]}"

    def path(self, sha: str) -> Path | None:
        """Where the blob ``sha`` lies, or None when it is not stored."""
        known = self._paths.get(sha)
        if known is not None and os.path.exists(known):
            return Path(known)
        stem = self._stem(sha)
        for ext in BLOB_EXTS:
            candidate = f"{stem}.{ext}"
            if os.path.exists(candidate):
                self._paths[sha] = candidate
                return Path(candidate)
        return None

    def has(self, sha: str) -> bool:
        return self.path(sha) is not None

    def put(self, data: bytes, ext: str = "bin") -> str:
        """Store ``data`` once and return its sha256; an existing blob is never rewritten."""
        if ext not in BLOB_EXTS:
            raise ValueError(f"unknown blob kind '{ext}' (known: {', '.join(BLOB_EXTS)})")
        sha = sha256_hex(data)
        if self.path(sha) is not None:
            return sha
        stem = Path(self._stem(sha))
        folder = stem.parent
        folder.mkdir(parents=True, exist_ok=True)
        final = stem.with_name(f"{stem.name}.{ext}")
        tmp = folder / f".tmp-{uuid.uuid4().hex}"
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o444)
            try:
                os.link(tmp, final)  # fails if it exists: never overwrites
            except FileExistsError:
                pass  # a concurrent writer stored the same bytes first
            except OSError:
                # File systems without hard links: rename (same bytes if it races).
                if not final.exists():
                    os.replace(tmp, final)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        fsync_dir(folder)
        return sha

    def _read(self, sha: str, first: str | None = None) -> tuple[bytes, str] | None:
        """(bytes, file name) of blob ``sha``, or None when it is not stored; ``first``: the
        extension to try first (a hint: every known one is tried).

        Opens the candidate names directly instead of testing them first: verify reads every
        blob of a production, and a stat per candidate cost more than the read itself."""
        known = self._paths.get(sha)
        if known is not None:
            with contextlib.suppress(FileNotFoundError):
                return _read_all(known), known
        stem = self._stem(sha)
        order = BLOB_EXTS if first is None else (first, *(e for e in BLOB_EXTS if e != first))
        for ext in order:
            name = f"{stem}.{ext}"
            try:
                data = _read_all(name)
            except FileNotFoundError:
                continue
            self._paths[sha] = name
            return data, name
        return None

    def get(self, sha: str, *, verify: bool = True) -> bytes:
        """The bytes of blob ``sha``; with ``verify`` their hash is checked first."""
        found = self._read(sha)
        if found is None:
            raise LedgerIntegrityError(f"blob {sha}: missing from {self.root}")
        data, name = found
        if verify and sha256_hex(data) != sha:
            raise LedgerIntegrityError(f"blob {sha} ({name}): content does not match its hash")
        return data

    def read_checked(self, sha: str, ext: str | None = None) -> tuple[bytes | None, str | None]:
        """(bytes, None) for an intact blob, else (None, what is wrong with it); ``ext``: the
        extension the blob most likely has (tried first)."""
        try:
            found = self._read(sha, ext)
        except OSError as exc:
            return None, f"unreadable ({exc.strerror})"
        if found is None:
            return None, "missing"
        data, name = found
        digest = sha256_hex(data)
        if digest != sha:
            return None, f"altered (file {name} hashes to {digest[:16]}…)"
        return data, None

    def check(self, sha: str) -> str | None:
        """None when blob ``sha`` is stored intact, else what is wrong with it."""
        path = self.path(sha)
        if path is None:
            return "missing"
        digest = sha256_file(path)
        if digest != sha:
            return f"altered (file {path} hashes to {digest[:16]}…)"
        return None

    def __iter__(self) -> Iterator[str]:
        """The sha256 of every stored blob."""
        if not self.root.is_dir():
            return
        for folder in sorted(self.root.iterdir()):
            if not folder.is_dir() or len(folder.name) != 2:
                continue
            for item in sorted(folder.iterdir()):
                stem = item.name.split(".", 1)[0]
                if not item.name.startswith(".") and len(stem) == 62:
                    yield folder.name + stem


class Project:
    """One production's folder: settings, blob store and ledger.

    Use :meth:`init` to create one and :meth:`open` to open one; the ledger is opened on
    first use (``project.ledger``) and closed by :meth:`close` or a ``with`` block.
    """

    def __init__(self, root: Path, settings: Settings) -> None:
        self.root = root
        self.settings = settings
        self.blobs = BlobStore(root / BLOB_DIR)
        self._ledger: Ledger | None = None
        # Decoded state of recently used plate versions (see bgart.plates.acts).
        self.cache: dict[object, object] = {}

    @property
    def db_url(self) -> str:
        return self.settings.db_url or f"sqlite:///{self.root / DB_FILE}"

    @property
    def exports_dir(self) -> Path:
        return self.root / EXPORT_DIR

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            self._ledger = self._open_ledger(create=False)
        return self._ledger

    def _open_ledger(self, *, create: bool) -> Ledger:
        """The ledger, its tables made with ``create`` (``bgart init`` only); otherwise a
        database without them is refused: making them would start a new, empty history for
        an existing production (its database replaced or its tables dropped)."""
        from bgart.ledger.db import Ledger

        ledger = Ledger(self.db_url, create=False)
        try:
            if create:
                ledger.create_schema()
            else:
                ledger.check_schema()
        except BaseException:
            ledger.dispose()
            raise
        return ledger

    @classmethod
    def init(
        cls,
        root: Path | str,
        *,
        production: str | None = None,
        db_url: str | None = None,
        exist_ok: bool = False,
    ) -> Project:
        """Create a project folder (``bgart init DIR``) with its ledger schema."""
        root = Path(root).expanduser().resolve()
        toml_path = root / PROJECT_FILE
        if toml_path.exists():
            if exist_ok:
                return cls.open(root)
            raise InputError(f"{root}: already a bgart project ({PROJECT_FILE} exists)")
        if root.exists() and not root.is_dir():
            raise InputError(f"{root}: exists and is not a folder")
        from bgart.ledger.names import check_utf8, shown_text

        # bgart.toml is UTF-8: a production name in another encoding is refused, a folder
        # name in one is shown with U+FFFD for its bytes.
        production = check_utf8(production, "production") if production else None
        try:
            root.mkdir(parents=True, exist_ok=True)
            (root / BLOB_DIR).mkdir(exist_ok=True)
            (root / EXPORT_DIR).mkdir(exist_ok=True)
        except OSError as exc:
            raise InputError(f"{root}: cannot create project folder ({exc.strerror})") from None
        data: dict[str, str] = {"production": production or shown_text(root.name)}
        if db_url:
            data["db_url"] = db_url
        # The ledger first: a bad db_url must not leave a half-made project behind.
        project = cls(root, load_settings(None, **data))
        project.settings = project.settings.model_copy(update={"project_dir": root})
        try:
            project._ledger = project._open_ledger(create=True)
        except BaseException:
            project.close()
            raise
        tmp = toml_path.with_name(f".{PROJECT_FILE}.tmp")
        tmp.write_bytes(tomli_w.dumps(data).encode("utf-8"))
        os.replace(tmp, toml_path)
        project.close()
        return cls.open(root)

    @classmethod
    def open(cls, root: Path | str) -> Project:
        """Open an existing project; a folder without ``bgart.toml`` is refused by name."""
        root = Path(root).expanduser().resolve()
        # only a missing bgart.toml is "no bgart.toml": a FIFO, a device or a folder by that
        # name is named for what it is by the bounded read in load_settings
        if not os.path.lexists(root / PROJECT_FILE):
            raise InputError(
                f"{root}: not a bgart project (no {PROJECT_FILE}; create one with "
                f"`bgart init {root}`)"
            )
        settings = load_settings(root)
        if settings.db_url is None:
            from bgart.ledger.db import check_sqlite_file

            check_sqlite_file(root / DB_FILE)
        project = cls(root, settings)
        return project

    def close(self) -> None:
        if self._ledger is not None:
            self._ledger.dispose()
            self._ledger = None
        self.cache.clear()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
