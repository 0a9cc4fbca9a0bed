"""Max pooling over non-overlapping square windows of NHWC image batches.

Forward, with window ``p``::

    y[n, a, b, c] = max_{0 ≤ i, j < p} x[n, p·a + i, p·b + j, c]

Backward routes each output gradient to the one input that was the maximum (the first in
row-major order when several tie, as PyTorch does); every other input gets zero. Rows and
columns beyond the last whole window are dropped, like PyTorch's default. Forward keeps,
per output, the position of that maximum in its window (one byte); both passes are Numba
loops (:mod:`bcekit.nn._kernels`).
"""

from __future__ import annotations

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
        from bcekit.nn import _kernels

        x = as_images(x)
        n, h, w, c = x.shape
        p = self.pool_size
        ho, wo = h // p, w // p
        if ho == 0 or wo == 0:
            raise ValueError(f"x must be at least {p}×{p} pixels for pool_size={p}; got {h}×{w}")
        x = np.ascontiguousarray(x)
        out = np.empty((n, ho, wo, c), x.dtype)
        where = np.empty(out.shape, np.uint8 if p * p <= 256 else np.intp)
        _kernels.max_pool(x, p, out, where)
        self._in_shape, self._out_shape = x.shape, out.shape
        self._argmax = where if self.training else None
        return out

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        from bcekit.nn import _kernels

        check_grad_shape(grad_out, self._out_shape, self)
        if self._argmax is None:
            raise RuntimeError("MaxPool2D.backward needs a forward pass in training mode")
        dtype = np.result_type(grad_out, np.float32)
        grad_in = np.zeros(self._in_shape, dtype=dtype)
        g = np.ascontiguousarray(grad_out, dtype=dtype)
        _kernels.max_pool_backward(g, self._argmax, self.pool_size, grad_in)
        return grad_in

    def __repr__(self) -> str:
        return f"MaxPool2D({self.pool_size})"
