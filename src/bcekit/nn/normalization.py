"""Batch normalisation over every axis but the last (features, or channels of NHWC images).

In training mode the passes are compiled loops (:mod:`bcekit.nn._norm_loops`) once Numba is
loaded (a loss kernel loads it) and the input is C-contiguous; otherwise NumPy reductions.
The compiled passes can apply a ReLU as well (:meth:`BatchNorm.forward_relu`), which
:class:`~bcekit.nn.Sequential` uses for a BatchNorm followed by a ReLU: half the passes
over memory forward.
"""

from __future__ import annotations

import sys
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from bcekit.nn.base import Layer, Parameter, check_grad_shape, positive_int
from bcekit.nn.dense import float_dtype


class BatchNorm(Layer):
    r"""Normalise each feature by the batch's statistics, then scale and shift it.

    With :math:`M` values of a feature in the batch (all rows, and all pixels of NHWC
    images), in training mode

    .. math:: μ = \frac{1}{M}\sum x,\quad σ^2 = \frac{1}{M}\sum (x - μ)^2,\quad
              \hat x = \frac{x - μ}{\sqrt{σ^2 + ε}},\quad y = γ\,\hat x + β

    and the running statistics move towards the batch's:
    :math:`μ_r ← (1 - m)\,μ_r + m\,μ`, :math:`σ^2_r ← (1 - m)\,σ^2_r + m\,\frac{M}{M-1}σ^2`
    (the unbiased variance, as PyTorch keeps it). In eval mode :math:`μ_r` and
    :math:`σ^2_r` replace :math:`μ` and :math:`σ^2`. Backward, with :math:`g = ∂L/∂y`:

    .. math:: ∂L/∂γ = \sum g\,\hat x,\quad ∂L/∂β = \sum g,\quad
              ∂L/∂x = \frac{γ}{M\sqrt{σ^2 + ε}}\Big(M g - \sum g - \hat x \sum g\,\hat x\Big)

    in training mode, and :math:`∂L/∂x = γ\,g / \sqrt{σ^2_r + ε}` in eval mode.

    Parameters
    ----------
    num_features : int
        Size of the last axis.
    eps : float
        ε above, added to the variance.
    momentum : float in (0, 1]
        m above.
    dtype : {np.float32, np.float64}
        Dtype of γ, β, the running statistics and the output.

    Attributes
    ----------
    weight, bias : Parameter
        γ (ones at first) and β (zeros at first), shape ``(num_features,)``.
    buffers : dict
        ``"running_mean"`` (zeros at first) and ``"running_var"`` (ones at first), saved
        with the weights by :meth:`state_dict`.
    """

    def __init__(
        self,
        num_features: int,
        *,
        eps: float = 1e-5,
        momentum: float = 0.1,
        dtype: DTypeLike = np.float32,
    ) -> None:
        super().__init__()
        num_features = positive_int("num_features", num_features)
        if not 0.0 < float(eps):
            raise ValueError(f"eps must be > 0; got {eps!r}")
        if not 0.0 < float(momentum) <= 1.0:
            raise ValueError(f"momentum must lie in (0, 1]; got {momentum!r}")
        self.num_features = int(num_features)
        self.eps, self.momentum = float(eps), float(momentum)
        self.dtype = float_dtype(dtype)
        self.weight = Parameter(np.ones(self.num_features, dtype=self.dtype), "weight")
        self.bias = Parameter(np.zeros(self.num_features, dtype=self.dtype), "bias")
        self.params = {"weight": self.weight, "bias": self.bias}
        self.buffers = {
            "running_mean": np.zeros(self.num_features, dtype=self.dtype),
            "running_var": np.ones(self.num_features, dtype=self.dtype),
        }
        self._x_hat: np.ndarray | None = None
        self._inv_std: np.ndarray | None = None
        self._batch_stats = False

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=self.dtype)
        if x.ndim < 2 or x.shape[-1] != self.num_features:
            raise ValueError(
                f"x must have shape (..., {self.num_features}) with at least 2 axes; got {x.shape}"
            )
        axes = tuple(range(x.ndim - 1))
        count = x.size // self.num_features
        self._batch_stats = self.training
        if self.training:
            if count < 2:
                raise ValueError(
                    "BatchNorm needs at least 2 values per feature in training mode; got a "
                    f"batch of shape {x.shape}"
                )
            if _compiled_applies(x):
                return self._compiled_forward(x, count)
            mean = x.mean(axis=axes)
            centred = x - mean
            flat = centred.reshape(-1, self.num_features)
            var = np.einsum("ic,ic->c", flat, flat) / count
            self._update_running(mean, var, count)
        else:
            centred = x - self.buffers["running_mean"]
            var = self.buffers["running_var"]
        inv_std = (1.0 / np.sqrt(var + self.eps)).astype(self.dtype)
        x_hat = centred
        x_hat *= inv_std
        self._x_hat, self._inv_std = x_hat, inv_std
        y = x_hat * self.weight.value
        y += self.bias.value
        return y

    def _update_running(self, mean: np.ndarray, var: np.ndarray, count: int) -> None:
        """Move the running statistics towards the batch's (the unbiased variance)."""
        m = self.momentum
        running_mean, running_var = self.buffers["running_mean"], self.buffers["running_var"]
        running_mean *= 1 - m
        running_mean += m * mean
        running_var *= 1 - m
        running_var += (m * count / (count - 1)) * var

    def _compiled_forward(self, x: np.ndarray, count: int, relu: bool = False) -> np.ndarray:
        x_hat, y = np.empty_like(x), np.empty_like(x)
        c = self.num_features
        mean, var, inv_std = _loops().batch_norm_forward(
            x.reshape(-1, c), self.weight.value, self.bias.value, self.eps,
            x_hat.reshape(-1, c), y.reshape(-1, c), relu,
        )  # fmt: skip
        self._update_running(mean, var, count)
        self._x_hat, self._inv_std = x_hat, inv_std
        return y

    def forward_relu(self, x: np.ndarray) -> np.ndarray | None:
        """``ReLU().forward(self.forward(x))`` in one compiled pass, for training mode.

        Returns None, having done nothing, where the compiled pass does not apply (eval
        mode, Numba not loaded, ``x`` not C-contiguous): call the two layers then.
        :meth:`backward_relu` is the backward pass of the pair. The results are those of
        the two layers, bit for bit.
        """
        if not self.training:
            return None
        x = np.asarray(x, dtype=self.dtype)
        count = x.size // self.num_features
        if x.ndim < 2 or x.shape[-1] != self.num_features or count < 2:
            return None
        if not _compiled_applies(x):
            return None
        self._batch_stats = True
        return self._compiled_forward(x, count, relu=True)

    def backward_relu(self, grad_out: np.ndarray) -> np.ndarray:
        """The backward pass of :meth:`forward_relu`: ``grad_out`` is ``∂L/∂ max(y, 0)``."""
        x_hat = self._x_hat
        check_grad_shape(grad_out, None if x_hat is None else x_hat.shape, self)
        return self._compiled_backward(np.ascontiguousarray(grad_out, dtype=self.dtype), True)

    def _compiled_backward(self, g: np.ndarray, relu: bool) -> np.ndarray:
        """The compiled backward pass of a training forward pass, for a checked C-contiguous
        ``g`` of the layer's dtype."""
        c = self.num_features
        grad_in = np.empty_like(g)
        gamma = self.weight.value
        _loops().batch_norm_backward(
            g.reshape(-1, c), self._x_hat.reshape(-1, c), gamma * self._inv_std, gamma,
            self.bias.value, relu, self.weight.grad, self.bias.grad, grad_in.reshape(-1, c),
        )  # fmt: skip
        return grad_in

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        x_hat, inv_std = self._x_hat, self._inv_std
        check_grad_shape(grad_out, None if x_hat is None else x_hat.shape, self)
        g = np.asarray(grad_out, dtype=self.dtype)
        if self._batch_stats and _compiled_applies(g):
            return self._compiled_backward(g, relu=False)
        axes = tuple(range(g.ndim - 1))
        sum_g = g.sum(axis=axes)
        sum_g_xhat = np.einsum(
            "ic,ic->c", g.reshape(-1, self.num_features), x_hat.reshape(-1, self.num_features)
        )
        self.weight.grad += sum_g_xhat
        self.bias.grad += sum_g
        scale = self.weight.value * inv_std
        if not self._batch_stats:
            return g * scale
        count = g.size // self.num_features
        grad_in = x_hat * (sum_g_xhat / count)
        np.subtract(g, grad_in, out=grad_in)
        grad_in -= sum_g / count
        grad_in *= scale
        return grad_in

    def __repr__(self) -> str:
        return f"BatchNorm({self.num_features}, dtype={self.dtype.name})"


def _compiled_applies(a: np.ndarray) -> bool:
    """Whether the compiled passes take ``a`` (already of the layer's dtype)."""
    return "numba" in sys.modules and type(a) is np.ndarray and a.flags.c_contiguous


@cache
def _loops() -> Any:
    from bcekit.nn import _norm_loops

    return _norm_loops
