r"""Gradient clipping by global norm.

The global norm treats all gradients as one vector,
:math:`\lVert g \rVert = \sqrt{\sum_p \sum_i g_{p,i}^2}`; clipping rescales every gradient by
the same factor :math:`\min(1, c / \lVert g \rVert)`, which keeps the update's direction.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from bcekit.optim.base import ParamLike, check_params, check_real

__all__ = ["clip_grad_norm", "grad_norm"]


def grad_norm(params: Iterable[ParamLike]) -> float:
    r"""The global L2 norm of the parameters' gradients.

    .. math:: \lVert g \rVert = \sqrt{\textstyle\sum_p \sum_i g_{p,i}^2}

    Parameters
    ----------
    params : iterable of parameters
        Objects with a ``grad`` array.

    Returns
    -------
    float
        The norm; NaN or inf when a gradient holds NaN or inf. Squares are summed in the
        gradients' dtype; should that overflow while every gradient is finite, the norm is
        recomputed in float64 after scaling by the largest magnitude, so it stays exact.
    """
    grads = [p.grad for p in check_params(params)]
    total = math.sqrt(sum(float(np.vdot(g, g)) for g in grads))
    if math.isinf(total) and all(np.isfinite(g).all() for g in grads):
        scale = max(float(np.abs(g).max()) for g in grads if g.size)
        scaled = [g.astype(np.float64) / scale for g in grads]
        total = scale * math.sqrt(sum(float(np.vdot(s, s)) for s in scaled))
    return total


def clip_grad_norm(params: Iterable[ParamLike], max_norm: float) -> float:
    r"""Rescale gradients in place so that their global norm is at most ``max_norm``.

    .. math:: g \leftarrow g \cdot \min\!\left(1, \frac{c}{\lVert g \rVert}\right)

    Parameters
    ----------
    params : iterable of parameters
        Objects with a ``grad`` array, modified in place.
    max_norm : float
        :math:`c > 0`.

    Returns
    -------
    float
        The global norm *before* clipping. When it is not finite the gradients are left
        unchanged, so the caller can detect the divergence.
    """
    max_norm = check_real("max_norm", max_norm, low=0.0, low_open=True)
    params = list(params)
    total = grad_norm(params)
    if math.isfinite(total) and total > max_norm:
        factor = max_norm / total
        for p in params:
            p.grad *= factor
    return total
