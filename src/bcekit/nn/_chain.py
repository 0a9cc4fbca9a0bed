r"""Dense layers with ReLU (or no) activations between them, run as one step each.

A :class:`~bcekit.nn.Sequential` of ``Dense [→ ReLU | Identity] → … → Dense`` (what
:func:`~bcekit.nn.mlp` builds for "relu" and "identity" without dropout) spends most of a
small minibatch step in the Python and NumPy call overhead of its layers: a dozen calls per
layer around the two matrix products that do the work. :class:`DenseChain` computes the same
pass one Dense layer at a time in each direction:

.. math:: H_l = \mathrm{relu}(H_{l-1} W_l + b_l), \qquad
          ∂L/∂W_l \mathrel{+}= H_{l-1}^\top G_l,\quad ∂L/∂b_l \mathrel{+}= \mathbf 1^\top G_l,
          \quad G_{l-1} = (G_l W_l^\top) \odot 1[H_{l-1} > 0]

Once Numba is loaded (the BCE kernels load it: starting Numba for the layers alone would
cost more than it saves on a short fit), each step is one compiled call
(:mod:`bcekit.nn._chain_loops`); before that, a few NumPy calls that skip the layers' checks
and keep no ReLU mask (the derivative is read from the next layer's input, :math:`H_{l-1}`).
It applies when the input is a C-contiguous 2-D array of the model's dtype; otherwise the
layers run one by one. The matrix products are the same BLAS calls; results agree with the
layer-by-layer pass to rounding (the NumPy steps do the layers' operations exactly).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from .activations import Identity, ReLU
from .base import Layer, check_grad_shape
from .dense import Dense

__all__ = ["DenseChain", "runs_compiled_chain"]

_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


_loaded: list[Any] = []  # the compiled loops' module, once imported


def _compiled_loops() -> Any:
    """:mod:`bcekit.nn._chain_loops` once Numba is loaded, else None (the NumPy steps)."""
    if not _loaded:
        if "numba" not in sys.modules:
            return None
        from bcekit.nn import _chain_loops

        _loaded.append(_chain_loops)
    return _loaded[0]


def runs_compiled_chain(model: Any) -> bool:
    """Whether ``model`` (a :class:`~bcekit.nn.Sequential`) has a Dense chain that runs the
    compiled loops now, whose products call SciPy's BLAS through Numba (see
    :func:`bcekit._threads.numba_blas_alone`)."""
    # Numba first: until it loads (most steps of a short fit) that is one dictionary lookup.
    return bool(_compiled_loops()) and isinstance(getattr(model, "_chain", None), DenseChain)


def _numpy_forward(x: np.ndarray, dense: Dense, relu: ReLU | None) -> np.ndarray:
    """``relu(x W + b)`` (or ``x W + b``) by the layers' own NumPy operations."""
    out = np.dot(x, dense.weight.value)
    out += dense.bias.value
    if relu is not None:
        np.maximum(out, relu._zero_like(out), out=out)
    return out


def _numpy_backward(
    x: np.ndarray, g: np.ndarray, dense: Dense, relu: bool, need_gx: bool
) -> np.ndarray | None:
    """Add ``xᵀg`` and ``1ᵀg`` into the layer's gradients; return ``g Wᵀ`` (times the ReLU's
    derivative ``1[x > 0]`` when ``x`` is a ReLU's output) or None without ``need_gx``."""
    dense.weight.grad += np.dot(x.T, g)
    dense.bias.grad += np.dot(dense._ones, g)
    if not need_gx:
        return None
    gx = np.dot(g, dense.weight.value.T)
    if relu:
        np.multiply(gx, x > 0, out=gx)  # x > 0 exactly where the ReLU's input was
    return gx


class DenseChain:
    """The compiled pass over a chain of Dense layers (see the module notes).

    Parameters
    ----------
    steps : sequence of (Dense, ReLU or None)
        Each Dense layer and the ReLU after it (None: no activation).
    """

    def __init__(self, steps: Sequence[tuple[Dense, ReLU | None]]) -> None:
        self.steps = list(steps)
        self._inputs: list[np.ndarray] | None = None
        self._empty = {dt: np.empty((0, 0), dtype=dt) for dt in _DTYPES}

    @classmethod
    def of(cls, layers: Sequence[Layer]) -> DenseChain | None:
        """The chain for ``layers``, or None unless they are Dense [→ ReLU | Identity] … Dense.

        Only the first Dense layer may skip its input gradient (``input_grad=False``).
        """
        steps: list[tuple[Dense, ReLU | None]] = []
        for layer in layers:
            if type(layer) is Dense:
                if steps and not layer.input_grad:
                    return None
                steps.append((layer, None))
            elif type(layer) in (ReLU, Identity) and steps and steps[-1][1] is None:
                if type(layer) is ReLU:
                    steps[-1] = (steps[-1][0], layer)
            else:
                return None
        if not steps or steps[-1][1] is not None:
            return None
        return cls(steps)

    def applies(self, x: np.ndarray) -> bool:
        """Whether the compiled pass takes ``x`` (already cast to the model's dtype)."""
        return (
            type(x) is np.ndarray
            and x.dtype in _DTYPES
            and x.ndim == 2
            and x.flags.c_contiguous
            and x.shape[1] == self.steps[0][0].in_features
            and all(
                d.weight.value.flags.c_contiguous and d.weight.grad.flags.c_contiguous
                for d, _ in self.steps
            )
        )

    def forward(self, x: np.ndarray) -> np.ndarray:
        """The logits of ``x``; keeps each layer's input for :meth:`backward`."""
        loops = _compiled_loops()
        inputs = []
        for dense, relu in self.steps:
            if loops is None:
                out = _numpy_forward(x, dense, relu)
            else:
                w = dense.weight.value
                out = np.empty((x.shape[0], w.shape[1]), dtype=x.dtype)
                loops.dense_forward(x, w, dense.bias.value, out, relu is not None)
            dense._x = x
            if relu is not None:
                relu._shape = None  # its own backward needs its own forward
            inputs.append(x)
            x = out
        self._inputs = inputs
        return x

    def ready(self) -> bool:
        """Whether the last forward pass was this one (so :meth:`backward` may follow)."""
        return self._inputs is not None

    def forget(self) -> None:
        """Drop the kept inputs (the layers ran one by one since)."""
        self._inputs = None

    def backward(self, grad_out: np.ndarray) -> np.ndarray | None:
        """Accumulate every parameter gradient; return ``∂L/∂x`` (None without input_grad)."""
        loops = _compiled_loops()
        inputs = self._inputs
        last = self.steps[-1][0]
        check_grad_shape(grad_out, (len(inputs[-1]), last.out_features), last)
        dtype = inputs[0].dtype
        g = np.ascontiguousarray(grad_out, dtype=dtype)
        for i in range(len(self.steps) - 1, -1, -1):
            dense = self.steps[i][0]
            x = inputs[i]
            need_gx = i > 0 or dense.input_grad
            if len(dense._ones) != len(x):
                dense._ones = np.ones(len(x), dtype=dtype)
            relu = i > 0 and self.steps[i - 1][1] is not None
            if loops is None:
                gx = _numpy_backward(x, g, dense, relu, need_gx)
            else:
                gx = np.empty_like(x) if need_gx else self._empty[dtype]
                loops.dense_backward(
                    x, g, dense.weight.value, dense.weight.grad, dense.bias.grad, dense._ones,
                    gx, relu, need_gx,
                )  # fmt: skip
            g = gx
        return g if self.steps[0][0].input_grad else None
