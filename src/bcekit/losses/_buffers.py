"""Gradient buffers that a loss object recycles once the caller has let go of them.

A new array of tens of megabytes costs more than the fused kernel that fills it: the operating
system hands it out as untouched pages and zeroes each one on its first write (measured on a
2-core VM: 40 MB, 10^7 float32, took 5–40 ms to fault in, depending on whether transparent huge
pages are on, against 11 ms for the whole value-and-gradient pass into a warm buffer).

A :class:`GradientPool` keeps the last few large gradients a loss object handed out. An array
is handed out again only when nothing outside the pool refers to it any more, which Python's
reference count tells exactly: every NumPy view, memoryview or tensor made from a returned
gradient keeps a reference to the pool's array, so a gradient (or anything made from it) that
the caller still holds is never overwritten. A training loop that keeps one gradient while it
asks for the next uses two buffers in turn.

Each loss object has its own pool, freed with the object. The functions
(``binary_cross_entropy_with_logits_value_and_grad`` and the like) share one pool for the whole
process, :func:`shared_pool`, which keeps buffers of at most :data:`SHARED_MAX_BYTES` each, so
that it never holds more than twice that after the caller has let go of its gradients.
"""

from __future__ import annotations

import math
import os
import sys
import threading

import numpy as np

MIN_POOLED_BYTES = 1 << 20
"""Smaller gradients come from ``np.empty``: malloc reuses warm memory for them already."""

SHARED_MAX_BYTES = 128 << 20
"""Largest buffer :func:`shared_pool` keeps (a 10^7-element float64 gradient is 80 MB); larger
gradients of the functions are new arrays."""

_SLOTS = 2
"""Buffers kept per pool: the gradient a training loop still holds and the one it asks for."""

_PROBE = [object()]
_FREE_REFCOUNT = sys.getrefcount(_PROBE[0])
"""``sys.getrefcount(slots[i])`` of a buffer that only its slot refers to (the call adds one)."""


class GradientPool:
    """Up to two buffers, each handed out again once no reference to it is left outside.

    Parameters
    ----------
    max_bytes : int, optional
        Largest buffer the pool keeps; larger arrays are new each time. None: no limit.
    """

    def __init__(self, max_bytes: int | None = None) -> None:
        self._slots: list[np.ndarray] = []
        self._lock = threading.Lock()
        self._max_bytes = max_bytes

    def empty(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """An uninitialised array of ``shape`` and ``dtype``, like ``np.empty(shape, dtype)``.

        Large arrays are views of a recycled buffer (their ``base``), small ones new arrays.
        """
        size = math.prod(shape)
        nbytes = size * dtype.itemsize
        if nbytes < MIN_POOLED_BYTES or (self._max_bytes is not None and nbytes > self._max_bytes):
            return np.empty(shape, dtype)
        with self._lock:
            slots = self._slots
            spare = None
            for i in range(len(slots)):
                if sys.getrefcount(slots[i]) > _FREE_REFCOUNT:
                    continue  # still held by a caller
                if slots[i].size == size and slots[i].dtype == dtype:
                    return slots[i].reshape(shape)
                spare = i
            fresh = np.empty(size, dtype)
            if len(slots) < _SLOTS:
                slots.append(fresh)
            elif spare is not None:
                slots[spare] = fresh  # a free buffer of another size or dtype makes room
            return fresh.reshape(shape)


_shared: list[GradientPool] = []


def shared_pool() -> GradientPool:
    """The process's pool for the functional forms (buffers up to :data:`SHARED_MAX_BYTES`)."""
    if not _shared:
        _shared.append(GradientPool(max_bytes=SHARED_MAX_BYTES))
    return _shared[0]


def _forget_shared_pool_in_child() -> None:
    """A forked child starts with an empty pool (and a lock no parent thread can hold)."""
    _shared.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_shared_pool_in_child)
