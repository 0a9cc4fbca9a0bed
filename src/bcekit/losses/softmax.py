r"""Softmax cross-entropy over ``C`` classes, through log-sum-exp, with its gradient.

For a row of logits ``z`` along ``axis`` and a target distribution ``y`` over the classes
(one-hot for a class id, optionally smoothed: ``y ← y·(1 − s) + s/C``):

.. math::
    \ell = -\sum_k y_k \log\operatorname{softmax}(z)_k
         = \Big(\sum_k y_k\Big)\operatorname{logsumexp}(z) - \sum_k y_k z_k,
    \qquad \frac{\partial \ell}{\partial z_k} = \operatorname{softmax}(z)_k \sum_j y_j - y_k.

With two classes it is :func:`bcekit.losses.binary_cross_entropy_with_logits` on the logit
difference ``z₁ − z₀``. Weights, masks and the mean count *rows*, not classes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bcekit.losses._base import Loss, ValueAndGrad, functional_forms, keyword_checks
from bcekit.losses._docs import COMMON_PARAMETERS, loss_docs
from bcekit.losses._elementwise import smooth_targets
from bcekit.losses._namespace import with_portable_twin
from bcekit.losses._portable_softmax import softmax_ce
from bcekit.losses._reduction import reduce, scale_grad
from bcekit.losses._validation import (
    as_mask,
    as_operand,
    as_prediction,
    check_axis,
    check_axis_type,
    check_label_smoothing,
    check_not_empty,
    check_reduction,
    invalid,
)


def _as_targets(targets: Any, z: np.ndarray, axis: int) -> tuple[np.ndarray, bool]:
    """Class ids, or probability rows moved to have their class axis last like ``z``.

    ``z`` is the logits with the class axis (``axis`` in the caller's layout) moved last.
    Returns the targets and whether they are class ids.
    """
    arr = np.asarray(targets)
    rows, n_classes = z.shape[:-1], z.shape[-1]
    if arr.shape == rows and arr.dtype.kind in "iu":
        if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
            got = f"values in [{arr.min()}, {arr.max()}]"
            raise invalid("targets", f"be class ids in [0, {n_classes})", got)
        return arr, True
    if arr.shape == rows:
        raise invalid("targets", "have an integer dtype when they are class ids", str(arr.dtype))
    logits_shape = np.moveaxis(z, -1, axis).shape
    if arr.shape != logits_shape:
        expected = f"be class ids of shape {rows} or probability rows of shape {logits_shape}"
        raise invalid("targets", expected, f"shape {arr.shape}")
    probs = as_operand(np.moveaxis(arr, axis, -1), "targets", z.dtype, z.shape, "logits", high=1.0)
    off = np.abs(np.sum(probs, axis=-1, dtype=np.float64) - 1.0)
    tol = float(np.sqrt(np.finfo(z.dtype).eps))
    if off.size and off.max() > tol:
        raise invalid(
            "targets", f"have rows summing to 1 (within {tol:.1e})", f"a row off by {off.max():g}"
        )
    return probs, False


def _finite_rows(z: np.ndarray) -> np.ndarray:
    """Logits with infinities replaced by their limit: a copy where every row has a finite max.

    A row holding +inf puts all its probability, evenly, on its +inf entries (logit 0, others
    −inf); a row of only −inf is the limit of equal logits (all 0, uniform).
    """
    pos = np.isposinf(z)
    z = np.where(pos.any(axis=-1, keepdims=True), np.where(pos, 0.0, -np.inf), z).astype(z.dtype)
    np.copyto(z, 0.0, where=np.isneginf(z).all(axis=-1, keepdims=True))
    return z


def _softmax_ce_rows(
    z: np.ndarray, targets: np.ndarray, ids: bool, s: float, need_grad: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-row cross-entropy and its gradient; ``z`` (class axis last) has finite row maxima."""
    n_classes = z.shape[-1]
    log_p = z - np.max(z, axis=-1, keepdims=True)
    p = np.exp(log_p)
    total = np.sum(p, axis=-1, keepdims=True)
    log_p -= np.log(total)
    if ids:
        picked = np.take_along_axis(log_p, targets[..., None], axis=-1)[..., 0]
        loss = np.multiply(picked, -(1.0 - s))
        if s:
            loss -= (s / n_classes) * np.sum(log_p, axis=-1)
    else:
        y = smooth_targets(targets, s, n_classes)
        with np.errstate(invalid="ignore"):
            log_p *= y
        np.copyto(log_p, 0.0, where=y == 0)  # 0·log 0 = 0
        loss = -np.sum(log_p, axis=-1)
    if not need_grad:
        return loss, None
    grad = np.divide(p, total, out=p)
    if ids:
        index = targets[..., None]
        np.put_along_axis(grad, index, np.take_along_axis(grad, index, -1) - (1.0 - s), -1)
        if s:
            grad -= s / n_classes
    else:
        grad *= np.sum(y, axis=-1, keepdims=True)
        grad -= y
    return loss, grad


@with_portable_twin(softmax_ce)
def _softmax(
    logits: Any,
    targets: Any,
    *,
    weight: Any = None,
    label_smoothing: float = 0.0,
    mask: Any = None,
    reduction: str = "mean",
    axis: int = -1,
    need_grad: bool,
) -> ValueAndGrad:
    """The definition of the softmax cross-entropy; see :func:`softmax_cross_entropy`."""
    reduction = check_reduction(reduction)
    s = check_label_smoothing(label_smoothing)
    arr, has_inf = as_prediction(logits, "logits", allow_inf=True)
    axis = check_axis(axis, arr.ndim)
    if arr.shape[axis] == 0:
        raise invalid("logits", f"have at least one class along axis {axis}", f"shape {arr.shape}")
    z = np.moveaxis(arr, axis, -1)
    rows = z.shape[:-1]
    check_not_empty(int(np.prod(rows)), arr.shape, "logits", reduction)
    y, ids = _as_targets(targets, z, axis)
    w = None if weight is None else as_operand(weight, "weight", z.dtype, rows, "row losses")
    m = as_mask(mask, rows, "row losses")
    if z.ndim == 1:  # one row: keep a row axis so that per-row results stay arrays
        z, y = z[None], y[None]
    loss, grad = _softmax_ce_rows(_finite_rows(z) if has_inf else z, y, ids, s, need_grad)
    value, factor = reduce(loss, weight=w, mask=m, reduction=reduction, finite=not has_inf)
    if isinstance(value, np.ndarray):
        value = value.reshape(rows)
    if grad is None:
        return value, None
    if isinstance(factor, np.ndarray):
        factor = factor[..., None]
    grad = scale_grad(grad, factor).reshape(*rows, -1)
    return value, np.moveaxis(grad, -1, axis)


_SOFTMAX_PARAMETERS = """
    logits : array-like
        Real-valued scores with the classes along ``axis``.
    targets : array-like
        Either integer class ids in ``[0, C)`` with the shape of the logits without
        ``axis``, or probability rows in ``[0, 1]`` with the logits' shape, each summing to
        1 along ``axis``.
    weight : array-like, optional
        Non-negative weights ``w`` per row, broadcasting to the logits' shape without
        ``axis`` (for class weights pass ``class_weight[targets]``)."""

_AXIS_PARAMETER = """
    axis : int, default -1
        The class axis of the logits."""

softmax_cross_entropy, softmax_cross_entropy_value_and_grad = functional_forms(
    _softmax,
    "softmax_cross_entropy",
    __name__,
    **loss_docs(
        r"""Softmax cross-entropy over the classes along ``axis``.

    .. math::
        \ell = -\sum_k y_k \log\operatorname{softmax}(z)_k,\qquad
        y \leftarrow y\,(1 - s) + s/C

    computed through log-sum-exp; the mean and ``mask`` count rows. Logits may be ``±inf``:
    a row's +inf entries share its probability, a row of only −inf is uniform.""",
        r""":func:`softmax_cross_entropy` and its gradient with respect to the logits.

    .. math::
        \frac{\partial \ell}{\partial z_k} = \operatorname{softmax}(z)_k \sum_j y_j - y_k
        \quad (= \operatorname{softmax}(z)_k - y_k \text{ for rows summing to 1})""",
        _SOFTMAX_PARAMETERS + COMMON_PARAMETERS + _AXIS_PARAMETER,
    ),
)


class SoftmaxCrossEntropy(Loss):
    """:func:`softmax_cross_entropy` with its keywords fixed.

    Parameters
    ----------
    label_smoothing : float, default 0.0
        ``s ∈ [0, 1)``; targets become ``y·(1 − s) + s/C``.
    reduction : {"mean", "weighted_mean", "sum", "none"}, default "mean"
    axis : int, default -1
        The class axis of the logits.
    """

    _compute = staticmethod(_softmax)
    _checks = keyword_checks(
        label_smoothing=check_label_smoothing, reduction=check_reduction, axis=check_axis_type
    )
