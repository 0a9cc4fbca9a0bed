r"""Losses for binary segmentation: per-pixel BCE with ignored pixels, soft Dice, and their sum.

The first axis of ``logits`` indexes images; every other axis indexes pixels. Targets are
0/1 masks that may also hold ``ignore_value`` (255 by default) for pixels of unknown class:
those pixels count nowhere — not in any sum, not in any mean's denominator — and get a zero
gradient. A boolean ``mask`` (True = counted) removes further pixels the same way.

Soft Dice, per image :math:`b`, with :math:`p = σ(z)`, counted pixels :math:`m_i` and
optional pixel weights :math:`w_i`:

.. math::
    I_b = \sum_i w_i m_i p_i t_i, \quad S_b = \sum_i w_i m_i (p_i + t_i), \quad
    D_b = 1 - \frac{2 I_b + ε}{S_b + ε}

    \frac{∂D_b}{∂z_i} = -\,w_i m_i\,\frac{2 t_i (S_b + ε) - (2 I_b + ε)}{(S_b + ε)^2}
                        \; p_i (1 - p_i)

The smoothing :math:`ε` keeps an image with no foreground and no prediction at
:math:`D_b = 0` instead of 0/0. Reductions: ``"mean"`` averages :math:`D_b` over images,
``"sum"`` adds them, ``"none"`` returns the vector of :math:`D_b`.

The combined loss is ``bce_weight · BCE + dice_weight · Dice`` with both terms mean-reduced:
BCE over counted pixels, Dice over images.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit

from bcekit.losses._base import Loss, ValueAndGrad
from bcekit.losses._docs import RAISES, document
from bcekit.losses._reduction import element_factor
from bcekit.losses._validation import (
    BinaryInputs,
    _check_broadcast,
    as_mask,
    binary_inputs,
    check_nonnegative,
    check_reduction,
    check_scalar,
    invalid,
)
from bcekit.losses.binary import (
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_value_and_grad,
    checked_logits_value_and_grad,
)

DICE_REDUCTIONS = ("mean", "sum", "none")


def _check_ignore_value(ignore_value: Any) -> float | None:
    if ignore_value is None:
        return None
    if isinstance(ignore_value, bool) or not isinstance(ignore_value, int | float | np.number):
        raise invalid("ignore_value", "be None or a number", repr(ignore_value))
    if 0 <= ignore_value <= 1 or not np.isfinite(ignore_value):
        raise invalid(
            "ignore_value", "be None or a finite number outside [0, 1]", repr(ignore_value)
        )
    return ignore_value


def drop_ignored(
    logits: Any, targets: Any, mask: Any, ignore_value: float | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Targets with ignored pixels set to 0, and the mask with those pixels removed.

    Returns ``(targets, mask)``; ``mask`` broadcasts to the shape of ``logits`` and is None
    when no pixel is masked or ignored.
    """
    shape = np.shape(logits)
    mask = as_mask(mask, shape, "logits")
    targets = np.asarray(targets)
    if ignore_value is None or targets.dtype.kind not in "biuf":
        return targets, mask
    ignored = targets == ignore_value
    if not ignored.any():
        return targets, mask
    _check_broadcast(targets, "targets", shape, "logits")
    targets = np.where(ignored, 0, targets)
    return targets, ~ignored if mask is None else mask & ~ignored


def _prepare(
    logits: Any,
    targets: Any,
    *,
    weight: Any,
    mask: Any,
    pos_weight: Any,
    ignore_value: float | None,
    reduction: str,
) -> BinaryInputs:
    """The checked inputs of the BCE and the Dice terms, with ignored pixels masked out.

    Infinite logits are not looked for: the fused BCE kernel and :func:`expit` handle them.
    """
    targets, mask = drop_ignored(logits, targets, mask, ignore_value)
    return binary_inputs(
        logits, targets, name="logits", allow_inf=True, find_inf=False,
        weight=weight, pos_weight=pos_weight, mask=mask, reduction=reduction,
    )  # fmt: skip


def _pixel_bce(
    logits: Any,
    targets: Any,
    *,
    weight: Any = None,
    mask: Any = None,
    pos_weight: Any = None,
    ignore_value: float | None = 255,
    reduction: str = "mean",
    need_grad: bool,
) -> ValueAndGrad:
    ignore_value = _check_ignore_value(ignore_value)
    targets, mask = drop_ignored(logits, targets, mask, ignore_value)
    keywords = {"weight": weight, "pos_weight": pos_weight, "mask": mask, "reduction": reduction}
    if need_grad:
        return binary_cross_entropy_with_logits_value_and_grad(logits, targets, **keywords)
    return binary_cross_entropy_with_logits(logits, targets, **keywords), None


def _check_dice(logits: Any, smooth: Any, reduction: Any) -> float:
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


def _soft_dice(
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
    ignore_value = _check_ignore_value(ignore_value)
    smooth = _check_dice(logits, smooth, reduction)
    inp = _prepare(
        logits, targets, weight=weight, mask=mask, pos_weight=None,
        ignore_value=ignore_value, reduction=reduction,
    )  # fmt: skip
    return _dice_value_and_grad(inp, smooth, reduction, need_grad)


def _dice_value_and_grad(
    inp: BinaryInputs, smooth: float, reduction: str, need_grad: bool
) -> ValueAndGrad:
    """Soft Dice of checked inputs (from :func:`_prepare`); ``inp.pos_weight`` is not used."""
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


def _bce_dice(
    logits: Any,
    targets: Any,
    *,
    weight: Any = None,
    mask: Any = None,
    bce_weight: float = 1.0,
    dice_weight: float = 1.0,
    pos_weight: Any = None,
    smooth: float = 1.0,
    ignore_value: float | None = 255,
    need_grad: bool,
) -> ValueAndGrad:
    bce_weight = check_scalar(bce_weight, "bce_weight", 0.0)
    dice_weight = check_scalar(dice_weight, "dice_weight", 0.0)
    ignore_value = _check_ignore_value(ignore_value)
    smooth = _check_dice(logits, smooth, "mean")
    # One check of the inputs and one pass for the ignored pixels serve both terms.
    inp = _prepare(
        logits, targets, weight=weight, mask=mask, pos_weight=pos_weight,
        ignore_value=ignore_value, reduction="mean",
    )  # fmt: skip
    bce, bce_grad = checked_logits_value_and_grad(inp, 0.0, "mean", need_grad)
    dice, dice_grad = _dice_value_and_grad(inp, smooth, "mean", need_grad)
    value = bce_weight * bce + dice_weight * dice
    if not need_grad:
        return value, None
    # Both gradients are new arrays of the logits' dtype, so they are combined in place.
    bce_grad *= bce_grad.dtype.type(bce_weight)
    dice_grad *= dice_grad.dtype.type(dice_weight)
    bce_grad += dice_grad
    return value, bce_grad


_COMMON = """

    Parameters
    ----------
    logits : array-like of shape (n_images, ...)
        Per-pixel scores; the first axis indexes images.
    targets : array-like
        0/1 per pixel, or ``ignore_value``; broadcasts to the shape of ``logits``.
    weight : array-like, optional
        Non-negative per-pixel weights, broadcasting to the shape of ``logits``.
    mask : array-like of bool, optional
        True where a pixel counts; combined with the pixels that are not ``ignore_value``.
    ignore_value : number or None, default 255
        Target value of pixels to ignore (outside [0, 1]); None ignores nothing."""
_POS_WEIGHT = """
    pos_weight : float or array-like, optional
        Weight ``pw`` of the positive term of the BCE."""
_BCE_REDUCTION = """
    reduction : {"mean", "weighted_mean", "sum", "none"}, default "mean"
        As in :func:`bcekit.losses.binary_cross_entropy_with_logits`, over counted pixels."""
_SMOOTH = """
    smooth : float, default 1.0
        ``ε >= 0`` added to the Dice numerator and denominator."""
_DICE_REDUCTION = """
    reduction : {"mean", "sum", "none"}, default "mean"
        Mean or sum of the per-image losses, or the vector of them."""
_WEIGHTS = """
    bce_weight, dice_weight : float, default 1.0
        Non-negative weights of the two terms."""
_RETURNS = """

    Returns
    -------
    value : float or ndarray
        A float (sums taken in float64), or an array for ``reduction="none"``."""
_GRAD_RETURNS = (
    _RETURNS
    + """
    grad : ndarray
        ``∂value/∂logits``, same shape and float dtype as ``logits``; 0 on ignored pixels."""
)


@document(_COMMON, _POS_WEIGHT, _BCE_REDUCTION, _RETURNS, RAISES)
def pixel_bce_with_logits(
    logits: Any,
    targets: Any,
    *,
    weight: Any = None,
    mask: Any = None,
    pos_weight: Any = None,
    ignore_value: float | None = 255,
    reduction: str = "mean",
) -> float | np.ndarray:
    r"""Per-pixel binary cross-entropy on logits, skipping pixels labelled ``ignore_value``.

    .. math:: \ell_i = -\left[pw\,t_i \log σ(z_i) + (1 - t_i)\log(1 - σ(z_i))\right]

    reduced over the counted pixels as :func:`bcekit.losses.binary_cross_entropy_with_logits`
    does (``"mean"`` divides by the number of counted pixels).
    """
    return _pixel_bce(
        logits, targets, weight=weight, mask=mask, pos_weight=pos_weight,
        ignore_value=ignore_value, reduction=reduction, need_grad=False,
    )[0]  # fmt: skip


@document(_COMMON, _POS_WEIGHT, _BCE_REDUCTION, _GRAD_RETURNS, RAISES)
def pixel_bce_with_logits_value_and_grad(
    logits: Any,
    targets: Any,
    *,
    weight: Any = None,
    mask: Any = None,
    pos_weight: Any = None,
    ignore_value: float | None = 255,
    reduction: str = "mean",
) -> tuple[float | np.ndarray, np.ndarray]:
    r""":func:`pixel_bce_with_logits` and its gradient, :math:`(1 - t)σ(z) - pw\,t\,σ(-z)`
    per counted pixel (scaled by the reduction), 0 on ignored pixels."""
    return _pixel_bce(
        logits, targets, weight=weight, mask=mask, pos_weight=pos_weight,
        ignore_value=ignore_value, reduction=reduction, need_grad=True,
    )  # fmt: skip


@document(_COMMON, _SMOOTH, _DICE_REDUCTION, _RETURNS, RAISES)
def soft_dice_loss(
    logits: Any,
    targets: Any,
    *,
    weight: Any = None,
    mask: Any = None,
    smooth: float = 1.0,
    ignore_value: float | None = 255,
    reduction: str = "mean",
) -> float | np.ndarray:
    r"""Soft Dice loss :math:`1 - (2Σpt + ε)/(Σp + Σt + ε)` per image, on :math:`p = σ(z)`.

    See the module docstring for the formula and its gradient. ``smooth`` is
    :math:`ε >= 0`; ``reduction`` is ``"mean"`` (over images), ``"sum"`` or ``"none"``.
    """
    return _soft_dice(
        logits, targets, weight=weight, mask=mask, smooth=smooth,
        ignore_value=ignore_value, reduction=reduction, need_grad=False,
    )[0]  # fmt: skip


@document(_COMMON, _SMOOTH, _DICE_REDUCTION, _GRAD_RETURNS, RAISES)
def soft_dice_loss_value_and_grad(
    logits: Any,
    targets: Any,
    *,
    weight: Any = None,
    mask: Any = None,
    smooth: float = 1.0,
    ignore_value: float | None = 255,
    reduction: str = "mean",
) -> tuple[float | np.ndarray, np.ndarray]:
    """:func:`soft_dice_loss` and its gradient with respect to the logits (same shape and dtype).

    For ``reduction="none"`` the gradient is that of the sum of the per-image losses.
    """
    return _soft_dice(
        logits, targets, weight=weight, mask=mask, smooth=smooth,
        ignore_value=ignore_value, reduction=reduction, need_grad=True,
    )  # fmt: skip


@document(_COMMON, _WEIGHTS, _POS_WEIGHT, _SMOOTH, _RETURNS, RAISES)
def bce_dice_loss(
    logits: Any,
    targets: Any,
    *,
    weight: Any = None,
    mask: Any = None,
    bce_weight: float = 1.0,
    dice_weight: float = 1.0,
    pos_weight: Any = None,
    smooth: float = 1.0,
    ignore_value: float | None = 255,
) -> float:
    r"""``bce_weight · BCE + dice_weight · Dice``: mean per-pixel BCE plus mean per-image Dice.

    .. math:: L = λ_{bce} \frac{1}{|C|}\sum_{i∈C} \ell_i + λ_{dice} \frac{1}{B}\sum_b D_b

    over the counted pixels :math:`C` and the :math:`B` images.
    """
    return _bce_dice(
        logits, targets, weight=weight, mask=mask, bce_weight=bce_weight,
        dice_weight=dice_weight, pos_weight=pos_weight, smooth=smooth,
        ignore_value=ignore_value, need_grad=False,
    )[0]  # fmt: skip


@document(_COMMON, _WEIGHTS, _POS_WEIGHT, _SMOOTH, _GRAD_RETURNS, RAISES)
def bce_dice_loss_value_and_grad(
    logits: Any,
    targets: Any,
    *,
    weight: Any = None,
    mask: Any = None,
    bce_weight: float = 1.0,
    dice_weight: float = 1.0,
    pos_weight: Any = None,
    smooth: float = 1.0,
    ignore_value: float | None = 255,
) -> tuple[float, np.ndarray]:
    """:func:`bce_dice_loss` and its gradient with respect to the logits."""
    return _bce_dice(
        logits, targets, weight=weight, mask=mask, bce_weight=bce_weight,
        dice_weight=dice_weight, pos_weight=pos_weight, smooth=smooth,
        ignore_value=ignore_value, need_grad=True,
    )  # fmt: skip


class PixelBCEWithLogits(Loss):
    """:func:`pixel_bce_with_logits` with ``pos_weight``, ``ignore_value`` and ``reduction`` fixed.

    Examples
    --------
    >>> loss = PixelBCEWithLogits(ignore_value=255)
    >>> value, grad = loss.value_and_grad(np.zeros((1, 2, 2)), [[[0, 1], [255, 1]]])
    >>> float(grad[0, 1, 0])
    0.0
    """

    _keywords = ("pos_weight", "ignore_value", "reduction")
    _compute = staticmethod(_pixel_bce)

    def __init__(
        self, *, pos_weight: Any = None, ignore_value: float | None = 255, reduction: str = "mean"
    ) -> None:
        self.pos_weight = check_nonnegative(pos_weight, "pos_weight")
        self.ignore_value = _check_ignore_value(ignore_value)
        self.reduction = check_reduction(reduction)


class SoftDiceLoss(Loss):
    """:func:`soft_dice_loss` with ``smooth``, ``ignore_value`` and ``reduction`` fixed."""

    _keywords = ("smooth", "ignore_value", "reduction")
    _compute = staticmethod(_soft_dice)

    def __init__(
        self, *, smooth: float = 1.0, ignore_value: float | None = 255, reduction: str = "mean"
    ) -> None:
        self.smooth = check_scalar(smooth, "smooth", 0.0)
        self.ignore_value = _check_ignore_value(ignore_value)
        if reduction not in DICE_REDUCTIONS:
            raise invalid("reduction", f"be one of {DICE_REDUCTIONS}", repr(reduction))
        self.reduction = reduction


class BCEDiceLoss(Loss):
    """:func:`bce_dice_loss` with its weights, ``pos_weight``, ``smooth``, ``ignore_value`` fixed.

    Examples
    --------
    >>> loss = BCEDiceLoss(dice_weight=0.5)
    >>> value, grad = loss.value_and_grad(np.zeros((2, 4, 4)), np.ones((2, 4, 4)))
    """

    _keywords = ("bce_weight", "dice_weight", "pos_weight", "smooth", "ignore_value")
    _compute = staticmethod(_bce_dice)

    def __init__(
        self,
        *,
        bce_weight: float = 1.0,
        dice_weight: float = 1.0,
        pos_weight: Any = None,
        smooth: float = 1.0,
        ignore_value: float | None = 255,
    ) -> None:
        self.bce_weight = check_scalar(bce_weight, "bce_weight", 0.0)
        self.dice_weight = check_scalar(dice_weight, "dice_weight", 0.0)
        self.pos_weight = check_nonnegative(pos_weight, "pos_weight")
        self.smooth = check_scalar(smooth, "smooth", 0.0)
        self.ignore_value = _check_ignore_value(ignore_value)
