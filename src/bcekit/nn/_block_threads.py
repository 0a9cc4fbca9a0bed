"""Threads that share the blocks of a layer's products, for callers that keep BLAS on one thread.

NumPy releases the GIL in matrix products and copies, so a layer whose work is a list of
independent blocks (:class:`bcekit.nn.Conv2D`'s column blocks) can run them on several Python
threads. Off by default: with a multi-threaded BLAS the two kinds of threads would compete for
the cores. :func:`block_threads` turns it on for a ``with`` block (``SegmentationNet.fit`` does,
with BLAS limited to one thread).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

__all__ = ["available_cores", "block_threads", "parts", "run_in_parts"]

T = TypeVar("T")

_state = threading.local()
_pools: dict[int, ThreadPoolExecutor] = {}
_lock = threading.Lock()


def _forget_pools_in_child() -> None:
    """A forked child has none of its parent's pool threads: start afresh there."""
    global _lock
    _pools.clear()
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pools_in_child)


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity), at most 8."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(8, cores or 1))


def parts() -> int:
    """The number of threads the current thread's layers split their blocks over (1: none)."""
    return getattr(_state, "threads", 1)


@contextmanager
def block_threads(threads: int) -> Iterator[None]:
    """Within the ``with`` block, layers called from this thread split their blocks over
    ``threads`` threads (the caller keeps BLAS on one thread)."""
    previous = parts()
    _state.threads = max(1, int(threads))
    try:
        yield
    finally:
        _state.threads = previous


def _pool(threads: int) -> ThreadPoolExecutor:
    with _lock:
        if threads not in _pools:
            _pools[threads] = ThreadPoolExecutor(threads, thread_name_prefix="bcekit-blocks")
        return _pools[threads]


def run_in_parts(fn: Callable[[int, Sequence[Any]], T], items: Sequence[Any]) -> list[T]:
    """``[fn(0, part_0), fn(1, part_1), ...]`` over up to :func:`parts` contiguous parts of
    ``items``, each part on its own thread: part 0 on this thread, the others on the pool's."""
    count = min(parts(), len(items))
    if count <= 1:
        return [fn(0, items)]
    bounds = [len(items) * p // count for p in range(count + 1)]
    chunks = [items[bounds[p] : bounds[p + 1]] for p in range(count)]
    others = _pool(count - 1).map(fn, range(1, count), chunks[1:])
    first = fn(0, chunks[0])
    return [first, *others]
