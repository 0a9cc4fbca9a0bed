r"""Soft Dice loss per image, on :math:`p = σ(z)`, with its gradient (formulas in
:mod:`bcekit.losses.segmentation`)."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit

from bcekit.losses._base import ValueAndGrad
from bcekit.losses._pixels import check_ignore_value, prepare
from bcekit.losses._reduction import element_factor
from bcekit.losses._validation import BinaryInputs, check_scalar, invalid

DICE_REDUCTIONS = ("mean", "sum", "none")


def check_dice(logits: Any, smooth: Any, reduction: Any) -> float:
    """Check the Dice loss's ``smooth`` and ``reduction`` and the number of axes of ``logits``."""
    smooth = check_scalar(smooth, "smooth", 0.0)
    if reduction not in DICE_REDUCTIONS:
        raise invalid(
            "reduction", f"be one of {DICE_REDUCTIONS} for the Dice loss", repr(reduction)
        )
    if np.ndim(logits) < 2:
        raise invalid(
            "logits", "have at least 2 axes (images, pixels...)", f"shape {np.shape(logits)}"
        )
    return smooth


def soft_dice(
    logits: Any,
    targets: Any,
    *,
    weight: Any = None,
    mask: Any = None,
    smooth: float = 1.0,
    ignore_value: float | None = 255,
    reduction: str = "mean",
    need_grad: bool,
) -> ValueAndGrad:
    """The definition of the soft Dice loss: :func:`bcekit.losses.segmentation.soft_dice_loss`."""
    ignore_value = check_ignore_value(ignore_value)
    smooth = check_dice(logits, smooth, reduction)
    inp = prepare(
        logits, targets, weight=weight, mask=mask, pos_weight=None,
        ignore_value=ignore_value, reduction=reduction,
    )  # fmt: skip
    return dice_value_and_grad(inp, smooth, reduction, need_grad)


def dice_value_and_grad(
    inp: BinaryInputs, smooth: float, reduction: str, need_grad: bool
) -> ValueAndGrad:
    """Soft Dice of checked inputs (from :func:`prepare`); ``inp.pos_weight`` is not used."""
    z = inp.pred
    p = expit(z)
    t = np.broadcast_to(inp.targets, z.shape)
    counted = element_factor(inp.weight, inp.mask, z.dtype)
    if counted is not None:
        counted = np.broadcast_to(counted, z.shape)
    pixels = tuple(range(1, z.ndim))
    p_c = p if counted is None else p * counted
    t_c = t if counted is None else t * counted
    intersection = np.sum(p_c * t, axis=pixels, dtype=np.float64)
    total = np.sum(p_c, axis=pixels, dtype=np.float64) + np.sum(t_c, axis=pixels, dtype=np.float64)
    denom = total + smooth
    ratio = np.divide(2.0 * intersection + smooth, denom, out=np.ones_like(denom), where=denom > 0)
    per_image = 1.0 - ratio
    scale = 1.0 / z.shape[0] if reduction == "mean" else 1.0
    value = per_image.astype(z.dtype) if reduction == "none" else float(per_image.sum() * scale)
    if not need_grad:
        return value, None
    safe = np.where(denom > 0, denom, 1.0)
    expand = (slice(None),) + (None,) * (z.ndim - 1)
    # Per-image coefficients in the logits' dtype, so the per-pixel arithmetic runs in it too.
    coef_t = (2.0 / safe * scale).astype(z.dtype)[expand]
    coef_1 = (ratio / safe * scale).astype(z.dtype)[expand]
    # ∂D/∂p = −(2t − ratio)/(S + ε) per counted pixel, times the weight; then ∂p/∂z = p(1 − p).
    grad = t * coef_t
    np.subtract(coef_1, grad, out=grad)
    dp = np.subtract(1.0, p, out=None if counted is None else p_c)  # p_c is no longer needed
    dp *= p
    grad *= dp
    if counted is not None:
        grad *= counted
    return value, grad
