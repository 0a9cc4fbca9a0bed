r"""BCE on probabilities, clamped like PyTorch's: the definition behind
:func:`bcekit.losses.binary_cross_entropy` and its twins."""

from __future__ import annotations

from typing import Any

import numpy as np

from bcekit.losses._base import ValueAndGrad, scalar_as_1d
from bcekit.losses._elementwise import smooth_targets
from bcekit.losses._reduction import reduce, scale_grad
from bcekit.losses._validation import binary_inputs, check_label_smoothing, check_reduction

_LOG_FLOOR = -100.0
"""Lower clamp of ``log p`` and ``log(1 − p)`` on the probability path, as in PyTorch."""

_GRAD_EPS = float(np.float32(1e-12))
"""Floor of ``p(1 − p)`` in the probability-path gradient: PyTorch's ``1e-12``, which its
backward holds as a float32 (≈ 9.99999996e-13) for every dtype."""


def _bce_probs_elementwise(
    p: np.ndarray, y: np.ndarray, pw: np.ndarray | None, need_grad: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    r"""Per-element BCE on probabilities and its derivative.

    .. math::
        \ell = -\left[pw\,y\,\max(\log p, -100) + (1-y)\max(\log(1-p), -100)\right]

        \frac{\partial \ell}{\partial p}
            = \frac{(p - y) - (pw - 1)\,y\,(1 - p)}{\max(p(1-p),\ 10^{-12})}

    The gradient is that of the unclamped loss with PyTorch's floor on the denominator: finite
    everywhere, ``±10^{12}·(numerator)`` at ``p ∈ {0, 1}``.
    """
    with np.errstate(divide="ignore"):
        loss = np.log(p)
        log_1mp = np.log1p(-p)
    np.maximum(loss, _LOG_FLOOR, out=loss)
    np.maximum(log_1mp, _LOG_FLOOR, out=log_1mp)
    loss *= y if pw is None else pw * y
    log_1mp *= 1.0 - y
    loss += log_1mp
    np.negative(loss, out=loss)
    if not need_grad:
        return loss, None
    one_minus_p = np.subtract(1.0, p, out=log_1mp)
    grad = p - y
    if pw is not None:
        grad -= (pw - 1.0) * y * one_minus_p
    one_minus_p *= p
    np.maximum(one_minus_p, _GRAD_EPS, out=one_minus_p)
    grad /= one_minus_p
    return loss, grad


@scalar_as_1d
def probs_value_and_grad(
    probs: Any,
    targets: Any,
    *,
    weight: Any = None,
    pos_weight: Any = None,
    label_smoothing: float = 0.0,
    mask: Any = None,
    reduction: str = "mean",
    need_grad: bool,
) -> ValueAndGrad:
    """The definition of BCE on probabilities: :func:`bcekit.losses.binary_cross_entropy`."""
    reduction = check_reduction(reduction)
    s = check_label_smoothing(label_smoothing)
    inp = binary_inputs(
        probs, targets, name="probs", allow_inf=False,
        weight=weight, pos_weight=pos_weight, mask=mask, reduction=reduction,
    )  # fmt: skip
    y = smooth_targets(inp.targets, s, 2)
    loss, grad = _bce_probs_elementwise(inp.pred, y, inp.pos_weight, need_grad)
    value, factor = reduce(loss, weight=inp.weight, mask=inp.mask, reduction=reduction, finite=True)
    return value, (None if grad is None else scale_grad(grad, factor))
