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

from collections.abc import Callable, Mapping
from typing import Any

from bcekit.losses import _portable_segmentation as _portable
from bcekit.losses._base import Loss, ValueAndGrad, functional_forms, keyword_checks
from bcekit.losses._dice import DICE_REDUCTIONS, check_dice, dice_value_and_grad, soft_dice
from bcekit.losses._docs import loss_docs
from bcekit.losses._logits import checked_logits_value_and_grad
from bcekit.losses._namespace import with_portable_twin
from bcekit.losses._pixels import check_ignore_value, drop_ignored, pixel_bce, prepare
from bcekit.losses._validation import check_nonnegative, check_reduction, check_scalar, invalid

__all__ = [
    "DICE_REDUCTIONS",
    "BCEDiceLoss",
    "PixelBCEWithLogits",
    "SoftDiceLoss",
    "bce_dice_loss",
    "bce_dice_loss_value_and_grad",
    "drop_ignored",
    "pixel_bce_with_logits",
    "pixel_bce_with_logits_value_and_grad",
    "soft_dice_loss",
    "soft_dice_loss_value_and_grad",
]


@with_portable_twin(_portable.bce_dice)
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
    """The definition of the combined loss; see :func:`bce_dice_loss`."""
    bce_weight = check_scalar(bce_weight, "bce_weight", 0.0)
    dice_weight = check_scalar(dice_weight, "dice_weight", 0.0)
    ignore_value = check_ignore_value(ignore_value)
    smooth = check_dice(logits, smooth, "mean")
    # One check of the inputs and one pass for the ignored pixels serve both terms.
    inp = prepare(
        logits, targets, weight=weight, mask=mask, pos_weight=pos_weight,
        ignore_value=ignore_value, reduction="mean",
    )  # fmt: skip
    bce, bce_grad = checked_logits_value_and_grad(inp, 0.0, "mean", need_grad)
    dice, dice_grad = dice_value_and_grad(inp, smooth, "mean", need_grad)
    value = bce_weight * bce + dice_weight * dice
    if not need_grad:
        return value, None
    # Both gradients are new arrays of the logits' dtype, so they are combined in place.
    bce_grad *= bce_grad.dtype.type(bce_weight)
    dice_grad *= dice_grad.dtype.type(dice_weight)
    bce_grad += dice_grad
    return value, bce_grad


# The definitions for NumPy input, with their portable twins for other array libraries.
_pixel_bce = with_portable_twin(_portable.pixel_bce)(pixel_bce)
_soft_dice = with_portable_twin(_portable.soft_dice)(soft_dice)

_COMMON = """
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
_BOTH_RETURNS = (_RETURNS, _GRAD_RETURNS)

pixel_bce_with_logits, pixel_bce_with_logits_value_and_grad = functional_forms(
    _pixel_bce,
    "pixel_bce_with_logits",
    __name__,
    **loss_docs(
        r"""Per-pixel binary cross-entropy on logits, skipping pixels labelled ``ignore_value``.

    .. math:: \ell_i = -\left[pw\,t_i \log σ(z_i) + (1 - t_i)\log(1 - σ(z_i))\right]

    reduced over the counted pixels as :func:`bcekit.losses.binary_cross_entropy_with_logits`
    does (``"mean"`` divides by the number of counted pixels).""",
        r""":func:`pixel_bce_with_logits` and its gradient, :math:`(1 - t)σ(z) - pw\,t\,σ(-z)`
    per counted pixel (scaled by the reduction), 0 on ignored pixels.""",
        _COMMON + _POS_WEIGHT + _BCE_REDUCTION,
        _BOTH_RETURNS,
    ),
)

soft_dice_loss, soft_dice_loss_value_and_grad = functional_forms(
    _soft_dice,
    "soft_dice_loss",
    __name__,
    **loss_docs(
        r"""Soft Dice loss :math:`1 - (2Σpt + ε)/(Σp + Σt + ε)` per image, on :math:`p = σ(z)`.

    See the module docstring for the formula and its gradient. ``smooth`` is
    :math:`ε >= 0`; ``reduction`` is ``"mean"`` (over images), ``"sum"`` or ``"none"``.""",
        r""":func:`soft_dice_loss` and its gradient with respect to the logits (same shape, dtype).

    .. math::
        \frac{∂D_b}{∂z_i} = -\,w_i m_i\,\frac{2 t_i (S_b + ε) - (2 I_b + ε)}{(S_b + ε)^2}
                            \; p_i (1 - p_i)

    scaled by ``1/B`` for the mean over ``B`` images. For ``reduction="none"`` the gradient is
    that of the sum of the per-image losses.""",
        _COMMON + _SMOOTH + _DICE_REDUCTION,
        _BOTH_RETURNS,
    ),
)

bce_dice_loss, bce_dice_loss_value_and_grad = functional_forms(
    _bce_dice,
    "bce_dice_loss",
    __name__,
    **loss_docs(
        r"""``bce_weight · BCE + dice_weight · Dice``: mean per-pixel BCE plus mean per-image Dice.

    .. math:: L = λ_{bce} \frac{1}{|C|}\sum_{i∈C} \ell_i + λ_{dice} \frac{1}{B}\sum_b D_b

    over the counted pixels :math:`C` and the :math:`B` images.""",
        r""":func:`bce_dice_loss` and its gradient with respect to the logits.

    .. math:: \frac{∂L}{∂z_i} = λ_{bce} \frac{∂\,\mathrm{BCE}}{∂z_i}
                               + λ_{dice} \frac{∂\,\mathrm{Dice}}{∂z_i}""",
        _COMMON + _WEIGHTS + _POS_WEIGHT + _SMOOTH,
        _BOTH_RETURNS,
    ),
)


def _check_dice_reduction(reduction: Any) -> str:
    if reduction not in DICE_REDUCTIONS:
        raise invalid("reduction", f"be one of {DICE_REDUCTIONS}", repr(reduction))
    return reduction


_KEYWORD_CHECKS: dict[str, Callable[[Any], Any]] = {
    "pos_weight": lambda pos_weight: check_nonnegative(pos_weight, "pos_weight"),
    "ignore_value": check_ignore_value,
    "smooth": lambda smooth: check_scalar(smooth, "smooth", 0.0),
    "bce_weight": lambda bce_weight: check_scalar(bce_weight, "bce_weight", 0.0),
    "dice_weight": lambda dice_weight: check_scalar(dice_weight, "dice_weight", 0.0),
}


def _checks_of(*names: str, **checks: Callable[[Any], Any]) -> Mapping[str, Callable[[Any], Any]]:
    """The :func:`keyword_checks` of the named keywords, then of the given ``checks``."""
    return keyword_checks(**{name: _KEYWORD_CHECKS[name] for name in names}, **checks)


class PixelBCEWithLogits(Loss):
    """:func:`pixel_bce_with_logits` with ``pos_weight``, ``ignore_value`` and ``reduction`` fixed.

    Examples
    --------
    >>> loss = PixelBCEWithLogits(ignore_value=255)
    >>> value, grad = loss.value_and_grad(np.zeros((1, 2, 2)), [[[0, 1], [255, 1]]])
    >>> float(grad[0, 1, 0])
    0.0
    """

    _compute = staticmethod(_pixel_bce)
    _checks = _checks_of("pos_weight", "ignore_value", reduction=check_reduction)


class SoftDiceLoss(Loss):
    """:func:`soft_dice_loss` with ``smooth``, ``ignore_value`` and ``reduction`` fixed."""

    _compute = staticmethod(_soft_dice)
    _checks = _checks_of("smooth", "ignore_value", reduction=_check_dice_reduction)


class BCEDiceLoss(Loss):
    """:func:`bce_dice_loss` with its weights, ``pos_weight``, ``smooth``, ``ignore_value`` fixed.

    Examples
    --------
    >>> loss = BCEDiceLoss(dice_weight=0.5)
    >>> value, grad = loss.value_and_grad(np.zeros((2, 4, 4)), np.ones((2, 4, 4)))
    """

    _compute = staticmethod(_bce_dice)
    _checks = _checks_of("bce_weight", "dice_weight", "pos_weight", "smooth", "ignore_value")
