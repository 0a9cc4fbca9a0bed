r"""The numbers the loop watches: finiteness, gradients to clear, each batch's share of the epoch.

The epoch's loss is the loss's own reduction taken over all the epoch's batches. A batch ``b``
with value :math:`v_b = \sum_{i \in b} m_i w_i \ell_i / D_b` adds :math:`v_b D_b` to the
numerator and :math:`D_b` to the denominator, so

.. math:: \text{train\_loss} = \sum_b v_b D_b \Big/ \sum_b D_b ,

with :math:`D_b` the loss's denominator (:func:`bcekit.losses._reduction.denominator`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from bcekit.losses._reduction import denominator, element_factor

__all__ = ["Diverged", "batch_share", "finite", "finite_array", "gradient_buffers"]


class Diverged(Exception):
    """Raised inside the loop when ``quantity`` stops being finite (batch None: validation)."""

    def __init__(self, quantity: str, epoch: int, batch: int | None) -> None:
        super().__init__(quantity)
        self.quantity, self.epoch, self.batch = quantity, epoch, batch


def finite_array(a: np.ndarray) -> bool:
    """Whether every element of ``a`` is finite.

    The sum of squares (one BLAS pass) is finite when every element is; only when it is not
    (a NaN or inf, or an overflow of huge finite values) are the elements checked one by one.
    """
    return math.isfinite(np.vdot(a, a)) or bool(np.isfinite(a).all())


def finite(arrays: Iterable[np.ndarray]) -> bool:
    """Whether every element of every array is finite (see :func:`finite_array`)."""
    for a in arrays:
        if not finite_array(a):
            return False
    return True


def gradient_buffers(model_params: Iterable[Any], optimizer_params: Iterable[Any]) -> list:
    """The arrays to zero before a step so that every model gradient starts at 0.

    A gradient that is a view into an optimiser parameter's gradient (the flat buffer of
    :func:`bcekit.nn.pack_parameters`) is cleared with that whole buffer, once.
    """
    flat = {id(p.grad) for p in optimizer_params}
    buffers: dict[int, np.ndarray] = {}
    for p in model_params:
        g = p.grad
        if g.base is not None and id(g.base) in flat:
            g = g.base
        buffers[id(g)] = g
    return list(buffers.values())


def batch_share(reduction: str, y: np.ndarray, weight: Any, mask: Any) -> float:
    """:math:`D_b` of one batch: the loss's denominator for its targets, weights and mask.

    The elements are taken in the shape of the largest of ``y``, ``weight`` and ``mask``
    (their broadcast shape, which one of them has); where the loss reduces over a class axis
    first (softmax with probability rows) that counts each row once per class, a factor that
    is the same for every batch and cancels in the epoch mean.
    """
    if weight is None and mask is None:  # the common case, in one call
        return denominator(reduction, y.shape, None, None)
    shape = y.shape
    for a in (weight, mask):
        if a is not None and a.size > math.prod(shape):
            shape = a.shape
    factor = None
    if reduction == "weighted_mean" and weight is not None:
        factor = element_factor(weight, mask, weight.dtype)
    return denominator(reduction, shape, factor, mask)
