r"""Softmax cross-entropy written against the Array API standard: the portable twin of
:func:`bcekit.losses.softmax_cross_entropy`.

Class ids become one-hot rows (smoothed like probability rows), so one formula serves both:

.. math::
    \ell = -\sum_k y_k \log\operatorname{softmax}(z)_k, \qquad
    \frac{\partial \ell}{\partial z_k} = \operatorname{softmax}(z)_k \sum_j y_j - y_k.
"""

from __future__ import annotations

import math
from types import ModuleType, SimpleNamespace
from typing import Any

from bcekit.losses._portable import Pair, reduce, smooth
from bcekit.losses._portable_checks import (
    ValueCheck,
    accumulator,
    as_float,
    as_mask,
    check_device,
    check_values,
    dtype_name,
    host_floats,
    operand,
)
from bcekit.losses._validation import (
    check_axis,
    check_label_smoothing,
    check_not_empty,
    check_reduction,
    invalid,
)

_INF = float("inf")


def _targets(xp: ModuleType, targets: Any, z: Any, axis: int) -> Any:
    """Probability rows with the class axis last, like ``z``: class ids made one-hot."""
    from array_api_compat import device

    arr = xp.asarray(targets)
    check_device(arr, "targets", z, "logits")
    rows, n_classes = z.shape[:-1], z.shape[-1]
    if arr.shape == rows and xp.isdtype(arr.dtype, "integral"):
        if math.prod(rows):
            lo, hi = host_floats(xp, xp.min(arr), xp.max(arr))
            if lo < 0 or hi >= n_classes:
                got = f"values in [{int(lo)}, {int(hi)}]"
                raise invalid("targets", f"be class ids in [0, {n_classes})", got)
        classes = xp.arange(n_classes, dtype=arr.dtype, device=device(z))
        return xp.astype(arr[..., None] == classes, z.dtype)
    if arr.shape == rows:
        expected = "have an integer dtype when they are class ids"
        raise invalid("targets", expected, dtype_name(arr.dtype))
    logits_shape = xp.moveaxis(z, -1, axis).shape
    if arr.shape != logits_shape:
        expected = f"be class ids of shape {rows} or probability rows of shape {logits_shape}"
        raise invalid("targets", expected, f"shape {arr.shape}")
    probs = operand(xp, xp.moveaxis(arr, axis, -1), "targets", z, "logits", high=1.0)
    if math.prod(rows):
        sums = xp.sum(probs, axis=-1, dtype=accumulator(xp, z))
        (off,) = host_floats(xp, xp.max(xp.abs(sums - 1.0)))
        tol = math.sqrt(float(xp.finfo(z.dtype).eps))
        if off > tol:
            raise invalid(
                "targets", f"have rows summing to 1 (within {tol:.1e})", f"a row off by {off:g}"
            )
    return probs


def _finite_rows(xp: ModuleType, z: Any) -> Any:
    """Rows holding +inf put their probability evenly on those entries; rows of only −inf are
    uniform (as in :func:`bcekit.losses.softmax._finite_rows`)."""
    pos = z == _INF
    limit = xp.where(pos, xp.zeros_like(z), xp.full_like(z, -_INF))
    z = xp.where(xp.any(pos, axis=-1, keepdims=True), limit, z)
    return xp.where(xp.all(z == -_INF, axis=-1, keepdims=True), 0.0, z)


def _rows(xp: ModuleType, z: Any, y: Any, need_grad: bool) -> Pair:
    """Per-row cross-entropy of logits ``z`` with finite row maxima and its gradient."""
    log_p = z - xp.max(z, axis=-1, keepdims=True)
    p = xp.exp(log_p)
    total = xp.sum(p, axis=-1, keepdims=True)
    log_p = log_p - xp.log(total)
    loss = -xp.sum(xp.where(y == 0, 0.0, log_p * y), axis=-1)  # 0·log 0 = 0
    if not need_grad:
        return loss, None
    return loss, p / total * xp.sum(y, axis=-1, keepdims=True) - y


def softmax_ce(xp: ModuleType, a: SimpleNamespace) -> Pair:
    """Softmax cross-entropy over the classes along ``a.axis``; rows are what is counted."""
    reduction = check_reduction(a.reduction)
    s = check_label_smoothing(a.label_smoothing)
    arr = as_float(xp, xp.asarray(a.pred), "logits")
    (has_inf,) = check_values(xp, ValueCheck(arr, "logits", allow_inf=True))
    axis = check_axis(a.axis, arr.ndim)
    if arr.shape[axis] == 0:
        raise invalid("logits", f"have at least one class along axis {axis}", f"shape {arr.shape}")
    z = xp.moveaxis(arr, axis, -1)
    rows, n_classes = z.shape[:-1], z.shape[-1]
    check_not_empty(math.prod(rows), arr.shape, "logits", reduction)
    y = smooth(_targets(xp, a.targets, z, axis), s, n_classes)
    w = None if a.weight is None else operand(xp, a.weight, "weight", z, "row losses", shape=rows)
    m = as_mask(xp, a.mask, z, "row losses", shape=rows)
    loss, grad = _rows(xp, _finite_rows(xp, z) if has_inf else z, y, a.need_grad)
    value, factor = reduce(xp, loss, weight=w, mask=m, reduction=reduction, finite=not has_inf)
    if grad is None:
        return value, None
    if not isinstance(factor, float):
        factor = factor[..., None]
    return value, xp.moveaxis(grad * factor, -1, axis)
