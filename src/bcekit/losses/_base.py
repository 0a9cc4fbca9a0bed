"""The object form shared by every loss: configured once, evaluated per batch."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from bcekit.losses._buffers import GradientPool
from bcekit.losses._validation import check_out

ValueAndGrad = tuple[float | np.ndarray, np.ndarray | None]


def scalar_as_1d(compute: Callable[..., ValueAndGrad]) -> Callable[..., ValueAndGrad]:
    """Let an element-wise ``compute(pred, targets, **kw)`` take a 0-d ``pred``.

    NumPy ufuncs return scalars, not arrays, for 0-d input; the computation runs on a 1-element
    array instead and its array results are reshaped back to 0-d.
    """

    @functools.wraps(compute)
    def wrapper(pred: Any, targets: Any, **keywords: Any) -> ValueAndGrad:
        if not (np.isscalar(pred) or (isinstance(pred, np.ndarray) and pred.ndim == 0)):
            return compute(pred, targets, **keywords)
        value, grad = compute(np.reshape(pred, 1), targets, **keywords)
        if isinstance(value, np.ndarray):
            value = value.reshape(())
        return value, (None if grad is None else grad.reshape(()))

    return wrapper


class Loss:
    """A loss with its keywords fixed; ``loss(pred, targets)`` and ``loss.value_and_grad``.

    Subclasses store their keywords as attributes in ``__init__`` (validated there), list their
    names in ``_keywords`` and set ``_compute`` to the module's value-and-gradient function,
    called as ``_compute(pred, targets, weight=..., mask=..., need_grad=..., **keywords)``.
    A subclass whose computation can write the gradient into ``out`` directly overrides
    :meth:`value_and_grad`; here the gradient is computed and then copied into ``out``.
    """

    _keywords: ClassVar[tuple[str, ...]] = ()
    _compute: ClassVar[Callable[..., ValueAndGrad]]

    def _config(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._keywords}

    def _pool(self) -> GradientPool:
        """The object's own :class:`GradientPool`, made on first use."""
        pool = self.__dict__.get("_gradient_pool")
        if pool is None:
            pool = self.__dict__["_gradient_pool"] = GradientPool()
        return pool

    def __getstate__(self) -> dict[str, Any]:
        # Copies and pickles (Dask ships losses to its workers) carry the configuration only.
        return {k: v for k, v in self.__dict__.items() if k != "_gradient_pool"}

    def __call__(
        self, pred: Any, targets: Any, *, weight: Any = None, mask: Any = None
    ) -> float | np.ndarray:
        """The loss value: a Python float, or an array for ``reduction="none"``."""
        compute = type(self)._compute
        value, _ = compute(
            pred, targets, weight=weight, mask=mask, need_grad=False, **self._config()
        )
        return value

    def value_and_grad(
        self, pred: Any, targets: Any, *, weight: Any = None, mask: Any = None, out: Any = None
    ) -> tuple[float | np.ndarray, np.ndarray]:
        """The loss value and its gradient with respect to ``pred`` (same shape and dtype).

        For ``reduction="none"`` the gradient is that of the sum of the returned array, i.e.
        the element-wise derivative ``∂ℓᵢ/∂predᵢ``.

        Parameters
        ----------
        pred, targets, weight, mask
            As for the functional form of the loss.
        out : numpy.ndarray, optional
            Buffer that receives the gradient and is returned as it, instead of a new array:
            writeable, of the gradient's shape and working dtype (float32 for float16/float32
            ``pred``, float64 otherwise), sharing no memory with the other arguments. Reusing
            one buffer across calls saves allocating (and first touching) the gradient, which
            is a large share of the time on big arrays.

        Raises
        ------
        TypeError
            If ``out`` is not a :class:`numpy.ndarray`.
        ValueError
            As for the functional form, and if ``out`` has the wrong shape or dtype, is
            read-only or overlaps an input.
        """
        compute = type(self)._compute
        config = self._config()
        value, grad = compute(pred, targets, weight=weight, mask=mask, need_grad=True, **config)
        if out is None:
            return value, grad
        np.copyto(check_out(out, grad.shape, grad.dtype, pred, targets, weight, mask), grad)
        return value, out

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._config().items())
        return f"{type(self).__name__}({args})"
