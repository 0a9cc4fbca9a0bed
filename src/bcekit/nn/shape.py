"""Flatten: reshape ``(n, d1, d2, ...)`` to ``(n, d1·d2·...)`` and back."""

from __future__ import annotations

import numpy as np

from .base import Layer, check_grad_shape


class Flatten(Layer):
    """Collapse every axis after the first: ``(n, ...) -> (n, prod(...))``.

    Backward reshapes ``∂L/∂y`` to the input's shape. Both are views when the
    arrays are contiguous, so no data is copied.
    """

    def __init__(self) -> None:
        super().__init__()
        self._shape: tuple[int, ...] | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim < 1:
            raise ValueError(f"x must have at least one axis (the samples); got shape {x.shape}")
        self._shape = x.shape
        return x.reshape(len(x), -1)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        shape = self._shape
        check_grad_shape(
            grad_out, None if shape is None else (shape[0], int(np.prod(shape[1:]))), self
        )
        return np.reshape(grad_out, shape)

    def __repr__(self) -> str:
        return "Flatten()"
