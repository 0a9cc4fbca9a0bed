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
"""

from __future__ import annotations

import math
import sys
import threading

import numpy as np

MIN_POOLED_BYTES = 1 << 20
"""Smaller gradients come from ``np.empty``: malloc reuses warm memory for them already."""

_SLOTS = 2
"""Buffers kept per pool: the gradient a training loop still holds and the one it asks for."""

_PROBE = [object()]
_FREE_REFCOUNT = sys.getrefcount(_PROBE[0])
"""``sys.getrefcount(slots[i])`` of a buffer that only its slot refers to (the call adds one)."""


class GradientPool:
    """Up to two buffers, each handed out again once no reference to it is left outside."""

    def __init__(self) -> None:
        self._slots: list[np.ndarray] = []
        self._lock = threading.Lock()

    def empty(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """An uninitialised array of ``shape`` and ``dtype``, like ``np.empty(shape, dtype)``.

        Large arrays are views of a recycled buffer (their ``base``), small ones new arrays.
        """
        size = math.prod(shape)
        if size * dtype.itemsize < MIN_POOLED_BYTES:
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
