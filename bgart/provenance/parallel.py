"""Chunked passes over pixels on a small thread pool, and the memory setting they need.

The kernel (:mod:`bgart.provenance.kernel`) works on cache-sized chunks of pixels, in
parallel when a pass is large enough (numpy releases the GIL). ``ledger verify`` turns the
threads off in its worker processes (:func:`use_threads`) and keeps freed memory for reuse
there as here (:func:`keep_freed_memory`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

# Pixels per work unit. Smaller chunks fit the cache better but pay numpy's per-call cost
# ~40 times each: on a 4K plate 1 << 16 was faster than 1 << 14 by 1.2-1.6x on the 2-core
# CI machine (bench/provenance.py), and 1 << 17 than 1 << 16 by about 1.1x once two threads
# share the work (each chunk's Python steps hold the GIL; fewer chunks, fewer of them).
# Results do not depend on it: the work is per pixel.
_CHUNK = 1 << 17
_PARALLEL_MIN = 2 * _CHUNK
_pool: ThreadPoolExecutor | None = None


def keep_freed_memory() -> None:
    """Stop glibc from handing every freed chunk temporary back to the kernel.

    The kernel allocates temporaries of 0.1–0.5 MB per chunk. glibc serves those with
    mmap and returns them on free, so each one page-faults afresh: on a 4K plate that was
    more than half of the event's time. With the mmap threshold at 4 MB (and up to 64 MB of
    freed heap kept) they are reused. Process-wide, Linux/glibc only, harmless elsewhere.
    """
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 4 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 64 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):  # not glibc (musl, …): keep its defaults
        pass


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        keep_freed_memory()
        workers = max(1, min(4, os.cpu_count() or 1))
        _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bgart-raster")
    return _pool


def _forget_pool_after_fork() -> None:
    """In any forked child (verify's workers): the pool's threads stayed in the parent."""
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


_threads = True


def use_threads(on: bool) -> None:
    """Whether the kernel may split a pass between threads (default: yes). ``ledger
    verify`` turns it off in its worker processes, which already keep every CPU busy."""
    global _threads
    _threads = on


def _chunk_count(n: int) -> int:
    """How many chunks :func:`_for_chunks` splits [0, n) into."""
    return (n + _CHUNK - 1) // _CHUNK


def _for_chunks(n: int, job: Callable[[int, int, int], None]) -> None:
    """Run ``job(k, start, stop)`` over the k-th chunk [start, stop) of [0, n), for each of
    them, in parallel when it pays."""
    spans = [(k, s, min(n, s + _CHUNK)) for k, s in enumerate(range(0, n, _CHUNK))]
    if n < _PARALLEL_MIN or not _threads:
        for k, s, e in spans:
            job(k, s, e)
        return
    for future in [_executor().submit(job, k, s, e) for k, s, e in spans]:
        future.result()
