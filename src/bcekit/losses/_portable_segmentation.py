"""The segmentation losses written against the Array API standard: portable twins of the
per-pixel BCE, the soft Dice loss and their sum (formulas in :mod:`bcekit.losses.segmentation`).
"""

from __future__ import annotations

from types import ModuleType, SimpleNamespace
from typing import Any

from bcekit.losses._dice import check_dice
from bcekit.losses._pixels import check_ignore_value
from bcekit.losses._portable import Pair, bce_logits, checked_bce_logits
from bcekit.losses._portable_checks import (
    REAL_KINDS,
    accumulator,
    as_mask,
    binary_inputs,
    host_floats,
)
from bcekit.losses._validation import BinaryInputs, _check_broadcast, check_scalar


def _drop_ignored(xp: ModuleType, a: SimpleNamespace, ignore_value: float | None) -> Pair:
    """:func:`bcekit.losses._pixels.drop_ignored` in ``xp``: ``(targets, mask)``."""
    shape = a.pred.shape
    mask = as_mask(xp, a.mask, a.pred, "logits")
    targets = a.targets if isinstance(a.targets, bool | int | float) else xp.asarray(a.targets)
    if ignore_value is None or isinstance(targets, bool | int | float):
        return targets, mask
    if not xp.isdtype(targets.dtype, REAL_KINDS):
        return targets, mask
    ignored = targets == ignore_value
    (count,) = host_floats(xp, xp.sum(xp.astype(ignored, xp.int64)))
    if count == 0:
        return targets, mask
    _check_broadcast(targets, "targets", shape, "logits")
    targets = xp.where(ignored, xp.zeros_like(targets), targets)
    return targets, (~ignored if mask is None else mask & ~ignored)


def _prepare(xp: ModuleType, a: SimpleNamespace, pos_weight: Any, reduction: str) -> BinaryInputs:
    """The checked inputs of both terms, with the ignored pixels masked out."""
    ignore_value = check_ignore_value(a.ignore_value)
    targets, mask = _drop_ignored(xp, a, ignore_value)
    return binary_inputs(
        xp, a.pred, targets, name="logits", allow_inf=True, weight=a.weight,
        pos_weight=pos_weight, mask=mask, reduction=reduction,
    )  # fmt: skip


def pixel_bce(xp: ModuleType, a: SimpleNamespace) -> Pair:
    """Per-pixel BCE on logits over the pixels that are not ``ignore_value``."""
    targets, mask = _drop_ignored(xp, a, check_ignore_value(a.ignore_value))
    keywords = {**vars(a), "targets": targets, "mask": mask, "label_smoothing": 0.0}
    return bce_logits(xp, SimpleNamespace(**keywords))


def _sigmoid(xp: ModuleType, z: Any) -> Any:
    e = xp.exp(-xp.abs(z))
    return xp.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _dice(
    xp: ModuleType, inp: BinaryInputs, smooth: float, reduction: str, need_grad: bool
) -> Pair:
    """Soft Dice per image of checked inputs, reduced, and its gradient."""
    z = inp.pred
    p = _sigmoid(xp, z)
    t = xp.broadcast_to(inp.targets, z.shape)
    counted = inp.weight
    if inp.mask is not None:
        mask = xp.astype(inp.mask, z.dtype)
        counted = mask if counted is None else xp.where(inp.mask, counted, 0.0)
    if counted is not None:
        counted = xp.broadcast_to(counted, z.shape)
    pixels = tuple(range(1, z.ndim))
    acc = accumulator(xp, z)
    p_c = p if counted is None else p * counted
    t_c = t if counted is None else t * counted
    intersection = xp.sum(p_c * t, axis=pixels, dtype=acc)
    total = xp.sum(p_c, axis=pixels, dtype=acc) + xp.sum(t_c, axis=pixels, dtype=acc)
    denom = total + smooth
    safe = xp.where(denom > 0, denom, 1.0)
    ratio = xp.where(denom > 0, (2.0 * intersection + smooth) / safe, 1.0)
    scale = 1.0 / z.shape[0] if reduction == "mean" else 1.0
    per_image = 1.0 - ratio
    value = per_image if reduction == "none" else xp.sum(per_image) * scale
    value = xp.astype(value, z.dtype)
    if not need_grad:
        return value, None
    column = (z.shape[0],) + (1,) * (z.ndim - 1)
    coef_t = xp.reshape(xp.astype(2.0 / safe * scale, z.dtype), column)
    coef_1 = xp.reshape(xp.astype(ratio / safe * scale, z.dtype), column)
    grad = (coef_1 - t * coef_t) * ((1.0 - p) * p)
    return value, (grad if counted is None else grad * counted)


def soft_dice(xp: ModuleType, a: SimpleNamespace) -> Pair:
    """Soft Dice loss per image, reduced over images."""
    check_ignore_value(a.ignore_value)
    smooth = check_dice(a.pred, a.smooth, a.reduction)
    inp = _prepare(xp, a, None, a.reduction)
    return _dice(xp, inp, smooth, a.reduction, a.need_grad)


def bce_dice(xp: ModuleType, a: SimpleNamespace) -> Pair:
    """``bce_weight · BCE + dice_weight · Dice``, both mean-reduced."""
    bce_weight = check_scalar(a.bce_weight, "bce_weight", 0.0)
    dice_weight = check_scalar(a.dice_weight, "dice_weight", 0.0)
    check_ignore_value(a.ignore_value)
    smooth = check_dice(a.pred, a.smooth, "mean")
    inp = _prepare(xp, a, a.pos_weight, "mean")
    bce, bce_grad = checked_bce_logits(xp, inp, 0.0, "mean", a.need_grad)
    dice, dice_grad = _dice(xp, inp, smooth, "mean", a.need_grad)
    value = bce * bce_weight + dice * dice_weight
    if not a.need_grad:
        return value, None
    return value, bce_grad * bce_weight + dice_grad * dice_weight
