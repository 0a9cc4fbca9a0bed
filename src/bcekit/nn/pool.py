"""Max pooling over non-overlapping square windows of NHWC image batches.

Forward, with window ``p``::

    y[n, a, b, c] = max_{0 ≤ i, j < p} x[n, p·a + i, p·b + j, c]

Backward routes each output gradient to the one input that was the maximum (the first in
row-major order when several tie, as PyTorch does); every other input gets zero. Rows and
columns beyond the last whole window are dropped, like PyTorch's default.
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
        x = as_images(x)
        n, h, w, c = x.shape
        p = self.pool_size
        ho, wo = h // p, w // p
        if ho == 0 or wo == 0:
            raise ValueError(f"x must be at least {p}×{p} pixels for pool_size={p}; got {h}×{w}")
        blocks = x[:, : ho * p, : wo * p].reshape(n, ho, p, wo, p, c)
        out = blocks.max(axis=(2, 4))
        self._in_shape, self._out_shape = x.shape, out.shape
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
