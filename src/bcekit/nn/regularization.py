"""Dropout: random zeroing of activations while training (inverted dropout)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .activations import as_float
from .base import Layer, check_grad_shape
from .init import as_generator


class Dropout(Layer):
    r"""Inverted dropout: :math:`y = x \odot m`, :math:`m_i = 1[u_i \ge p] / (1 - p)`.

    While training, each element is kept with probability :math:`1 - p` and scaled by
    :math:`1/(1 - p)`, so :math:`E[y] = x` and nothing changes at inference: in eval
    mode (or with ``p = 0``) the layer is the identity. Backward uses the same mask:
    :math:`∂L/∂x = g \odot m`.

    Parameters
    ----------
    p : float
        Probability of zeroing an element, in [0, 1).
    random_state : None, int, Generator or RandomState
        Source of the masks; a new mask is drawn on every training forward pass.
    """

    def __init__(self, p: float = 0.5, *, random_state: Any = None) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, int | float | np.floating | np.integer):
            raise TypeError(f"p must be a float in [0, 1); got {type(p).__name__}")
        if not 0.0 <= p < 1.0:
            raise ValueError(f"p must be a float in [0, 1); got {p!r}")
        self.p = float(p)
        self.rng = as_generator(random_state)
        self._mask: np.ndarray | None = None
        self._shape: tuple[int, ...] | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_float(x)
        self._shape = x.shape
        if not self.training or self.p == 0.0:
            self._mask = None
            return x
        mask = (self.rng.random(x.shape, dtype=x.dtype) >= self.p).astype(x.dtype)
        mask *= 1.0 / (1.0 - self.p)
        self._mask = mask
        return x * mask

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        check_grad_shape(grad_out, self._shape, self)
        return grad_out if self._mask is None else grad_out * self._mask

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"
