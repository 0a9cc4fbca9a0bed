"""Running independent blocks of a layer's work on all cores, each with a one-thread BLAS.

A convolution's work splits into blocks of images whose matrix products are small (tens of
output columns): a multi-threaded BLAS shares out each product among its threads and waits
for them, which on a small machine shared with other processes costs more than it gains
(its waiting threads spin, and one descheduled thread stalls the rest). Instead the blocks
are dealt to a pool of Python threads, one per usable core; each runs its blocks one after
another with BLAS held to one thread. NumPy releases the GIL in the copies and products, so
the threads run in parallel, and a thread that loses its core only delays its own blocks.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

#: Most threads used, whatever the number of cores.
MAX_WORKERS = 8

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_blas: Any = None


def workers() -> int:
    """Threads the blocks are dealt to: the usable cores, at most :data:`MAX_WORKERS`."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(MAX_WORKERS, cores or 1))


def _executor() -> tuple[ThreadPoolExecutor, Any]:
    """The shared pool and a threadpoolctl controller of the loaded BLAS (made once)."""
    global _pool, _blas
    with _lock:
        if _pool is None:
            from threadpoolctl import ThreadpoolController

            _blas = ThreadpoolController().select(user_api="blas")
            _pool = ThreadPoolExecutor(workers(), thread_name_prefix="bcekit-nn")
        return _pool, _blas


def deal(items: Sequence[T], parts: int) -> list[list[T]]:
    """``items`` dealt round-robin into at most ``parts`` non-empty lists."""
    return [list(items[i::parts]) for i in range(min(parts, len(items)))]


def run(work: Callable[[int, list[T]], Any], groups: list[list[T]]) -> list[Any]:
    """``[work(slot, group) for slot, group in enumerate(groups)]``, the groups in parallel.

    ``slot`` numbers the group, so that ``work`` can keep one scratch buffer per slot. With
    one group (or one core) it runs on the calling thread, BLAS untouched.
    """
    if len(groups) <= 1:
        return [work(slot, group) for slot, group in enumerate(groups)]
    pool, blas = _executor()
    with blas.limit(limits=1):
        futures = [pool.submit(work, slot, group) for slot, group in enumerate(groups)]
        return [future.result() for future in futures]
