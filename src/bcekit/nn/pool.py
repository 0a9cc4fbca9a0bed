"""Max pooling over non-overlapping square windows of NHWC image batches.

Forward, with window ``p``::

    y[n, a, b, c] = max_{0 ≤ i, j < p} x[n, p·a + i, p·b + j, c]

Backward routes each output gradient to the one input that was the maximum (the first in
row-major order when several tie, as PyTorch does); every other input gets zero. Rows and
columns beyond the last whole window are dropped, like PyTorch's default. Once Numba is loaded
the forward pass is one compiled loop (:mod:`bcekit.nn._window_loops`), else NumPy reductions.
"""

from __future__ import annotations

import sys
from functools import cache
from typing import Any

import numpy as np

from bcekit.nn.base import Layer, check_grad_shape, positive_int
from bcekit.nn.conv import as_images


class MaxPool2D(Layer):
    """Max pooling with a ``pool_size × pool_size`` window and the same stride.

    Parameters
    ----------
    pool_size : int
        Side of the window and step between windows (2 halves height and width).
    """

    def __init__(self, pool_size: int = 2) -> None:
        super().__init__()
        self.pool_size = positive_int("pool_size", pool_size)
        self._argmax: np.ndarray | None = None
        self._in_shape: tuple[int, ...] | None = None
        self._out_shape: tuple[int, ...] | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_images(x)
        n, h, w, c = x.shape
        p = self.pool_size
        ho, wo = h // p, w // p
        if ho == 0 or wo == 0:
            raise ValueError(f"x must be at least {p}×{p} pixels for pool_size={p}; got {h}×{w}")
        self._in_shape, self._out_shape = x.shape, (n, ho, wo, c)
        if window_loops_apply(x):
            out = np.empty(self._out_shape, dtype=x.dtype)
            first = np.zeros((n, ho, p, wo, p, c), dtype=bool)
            window_loops().max_pool_forward(x, p, out, first)
            self._argmax = first if self.training else None
            return out
        blocks = x[:, : ho * p, : wo * p].reshape(n, ho, p, wo, p, c)
        out = blocks.max(axis=(2, 4))
        self._argmax = self._first_maxima(blocks, out) if self.training else None
        return out

    @staticmethod
    def _first_maxima(blocks: np.ndarray, out: np.ndarray) -> np.ndarray:
        """One-hot of the first maximum of each window, in row-major order."""
        argmax = np.zeros(blocks.shape, dtype=bool)
        taken = np.zeros(out.shape, dtype=bool)
        for i in range(blocks.shape[2]):
            for j in range(blocks.shape[4]):
                hit = (blocks[:, :, i, :, j, :] == out) & ~taken
                argmax[:, :, i, :, j, :] = hit
                taken |= hit
        return argmax

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        check_grad_shape(grad_out, self._out_shape, self)
        if self._argmax is None:
            raise RuntimeError("MaxPool2D.backward needs a forward pass in training mode")
        n, ho, p, wo, _, c = self._argmax.shape
        dtype = np.result_type(grad_out, np.float32)
        routed = self._argmax * np.asarray(grad_out, dtype=dtype)[:, :, None, :, None, :]
        routed = routed.reshape(n, ho * p, wo * p, c)
        if routed.shape == self._in_shape:  # no remainder rows or columns: nothing to pad
            return routed
        grad_in = np.zeros(self._in_shape, dtype=dtype)
        grad_in[:, : ho * p, : wo * p] = routed
        return grad_in

    def __repr__(self) -> str:
        return f"MaxPool2D({self.pool_size})"


def window_loops_apply(x: np.ndarray) -> bool:
    """Whether the compiled window loops take ``x``: Numba is loaded (a loss kernel loads it)
    and ``x`` is a C-contiguous float array."""
    return (
        "numba" in sys.modules
        and type(x) is np.ndarray
        and x.dtype in (np.float32, np.float64)
        and x.flags.c_contiguous
    )


@cache
def window_loops() -> Any:
    """:mod:`bcekit.nn._window_loops`, imported on first use."""
    from bcekit.nn import _window_loops

    return _window_loops
