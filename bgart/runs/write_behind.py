"""Finish one piece of work on a thread while the caller starts the next.

A batch renders shot k+1 on the GPU while shot k's PNGs are deflated, written and recorded
in the ledger on this thread; done one after the other, the GPU idles for the whole write
(Pillow's PNG encoder, hashing and file writes release the GIL, so the two overlap).

One write is in flight at a time and writes run in the order submitted: a shot's files and
events land exactly as they did without the thread, only earlier in wall time, and memory
holds at most one finished shot besides the one rendering. A write that fails is raised to
the caller at the next ``submit``/``wait``, or by ``check`` (called from a render's progress
callback, so a doomed batch stops within a step rather than after a whole render).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType


class WriteFailed(Exception):
    """Raised by :meth:`WriteBehind.check` inside a render; :meth:`WriteBehind.wait` then
    raises the write's own exception. Not a BgartError, so nothing on the way up takes it
    for a failure of the shot being rendered."""


class WriteBehind:
    """``with WriteBehind(enabled) as writer: ... writer.submit(fn) ...``; leaving the block
    waits for the last write (also on Ctrl-C, so a rendered shot is not left half written).
    Disabled, ``submit`` runs ``fn`` at once on the caller's thread."""

    def __init__(self, enabled: bool = True, name: str = "bgart-write") -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=name) if enabled else None
        self._pending: Future[None] | None = None

    def submit(self, fn: Callable[[], None]) -> None:
        """Wait for the previous write (raising its exception), then start ``fn``."""
        self.wait()
        if self._pool is None:
            fn()
        else:
            self._pending = self._pool.submit(fn)

    def wait(self) -> None:
        """Block until the write in flight is done; raise its exception if it failed."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def check(self) -> None:
        """Raise :class:`WriteFailed` if the write in flight has already failed."""
        pending = self._pending
        if pending is not None and pending.done() and pending.exception() is not None:
            raise WriteFailed

    def __enter__(self) -> WriteBehind:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc is None or isinstance(exc, WriteFailed):
                self.wait()  # a failed write: its own exception replaces the signal
            else:
                try:
                    self.wait()  # the caller's error (Ctrl-C, a render) is what is raised
                except Exception as write_exc:
                    exc.add_note(f"and the write in flight failed too: {write_exc!r}")
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
