"""Dense (fully connected) layer: ``y = x W + b``."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from .base import Layer, Parameter, check_grad_shape, positive_int
from .init import resolve_initializer


def float_dtype(dtype: DTypeLike) -> np.dtype:
    """``dtype`` as a NumPy dtype, checked to be float32 or float64."""
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64; got {dt}")
    return dt


class Dense(Layer):
    r"""Affine map of the last axis: :math:`Y = X W + b`.

    Backward, with :math:`G = ∂L/∂Y`:

    .. math:: ∂L/∂W \mathrel{+}= X^\top G,\quad ∂L/∂b \mathrel{+}= \mathbf{1}^\top G,\quad
              ∂L/∂X = G W^\top

    Parameters
    ----------
    in_features, out_features : int
        Width of the input and the output.
    init : {"auto", "glorot", "he"} or a name from :data:`bcekit.nn.init.INITIALIZERS`
        Weight initialiser. ``"auto"`` chooses from ``activation_hint``: He normal before
        the ReLU family, Glorot uniform before tanh, sigmoid or a linear output. Biases
        start at zero.
    activation_hint : str, optional
        The activation applied to this layer's output (``None`` = linear).
    dtype : {np.float32, np.float64}
        Dtype of the parameters. Inputs of another dtype are cast to it once, so the
        output and every gradient have this dtype.
    random_state : None, int, Generator or RandomState
        Source of the initial weights.
    input_grad : bool
        When False, :meth:`backward` skips :math:`∂L/∂X` (one matrix product) and
        returns ``None``; for a first layer whose input needs no gradient.

    Attributes
    ----------
    weight : Parameter
        Shape ``(in_features, out_features)``.
    bias : Parameter
        Shape ``(out_features,)``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        init: str = "auto",
        activation_hint: str | None = None,
        dtype: DTypeLike = np.float64,
        random_state: Any = None,
        input_grad: bool = True,
    ) -> None:
        super().__init__()
        self.in_features = positive_int("in_features", in_features)
        self.out_features = positive_int("out_features", out_features)
        self.dtype = float_dtype(dtype)
        self.input_grad = bool(input_grad)
        initializer = resolve_initializer(init, activation_hint)
        w = initializer(
            (self.in_features, self.out_features), random_state=random_state, dtype=self.dtype
        )
        self.weight = Parameter(w, "weight")
        self.bias = Parameter(np.zeros(self.out_features, dtype=self.dtype), "bias")
        self.params = {"weight": self.weight, "bias": self.bias}
        self._x: np.ndarray | None = None
        self._ones = np.ones(0, dtype=self.dtype)

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=self.dtype)
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"x must have shape (n_samples, {self.in_features}); got {x.shape}")
        self._x = x
        y = np.dot(x, self.weight.value)  # np.dot, not @: less call overhead, see backward
        y += self.bias.value
        return y

    def backward(self, grad_out: np.ndarray) -> np.ndarray | None:
        x = self._x
        check_grad_shape(grad_out, None if x is None else (len(x), self.out_features), self)
        grad_out = np.asarray(grad_out, dtype=self.dtype)
        if len(self._ones) != len(x):  # 1ᵀG as a BLAS product beats G.sum(0) on small batches
            self._ones = np.ones(len(x), dtype=self.dtype)
        self.weight.grad += np.dot(x.T, grad_out)
        self.bias.grad += np.dot(self._ones, grad_out)
        # For one output column this is an outer product: np.dot sends it to BLAS, where @
        # takes a loop about 5x slower (and a broadcast multiply is 2x slower).
        return np.dot(grad_out, self.weight.value.T) if self.input_grad else None

    def __repr__(self) -> str:
        return f"Dense({self.in_features}, {self.out_features}, dtype={self.dtype.name})"
