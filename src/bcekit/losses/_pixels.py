"""Pixels of segmentation targets: ``ignore_value`` pixels removed, and the per-pixel BCE.

Targets are 0/1 masks that may also hold ``ignore_value`` (255 by default) for pixels of
unknown class: those pixels count nowhere, as if masked out (see
:mod:`bcekit.losses.segmentation`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bcekit.losses._base import ValueAndGrad
from bcekit.losses._validation import (
    BinaryInputs,
    _check_broadcast,
    as_mask,
    binary_inputs,
    invalid,
)
from bcekit.losses.binary import (
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_value_and_grad,
)


def check_ignore_value(ignore_value: Any) -> float | None:
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


def prepare(
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


def pixel_bce(
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
    """The definition of the per-pixel BCE; see
    :func:`bcekit.losses.segmentation.pixel_bce_with_logits`."""
    ignore_value = check_ignore_value(ignore_value)
    targets, mask = drop_ignored(logits, targets, mask, ignore_value)
    keywords = {"weight": weight, "pos_weight": pos_weight, "mask": mask, "reduction": reduction}
    if need_grad:
        return binary_cross_entropy_with_logits_value_and_grad(logits, targets, **keywords)
    return binary_cross_entropy_with_logits(logits, targets, **keywords), None
