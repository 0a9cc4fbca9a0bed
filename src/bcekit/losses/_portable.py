r"""The binary losses written once against the Array API standard (``xp.`` calls only).

The same formulas, checks and messages as the NumPy definitions, for arrays of any library
that follows the standard (see :mod:`bcekit.losses._namespace`); results are arrays of the
input's library, dtype and device: a 0-d array for a reduced value. Each loss here is the
portable twin of one definition, called as ``loss(xp, a)`` with the call's arguments as
attributes of ``a``:

* :func:`bce_logits`: :func:`bcekit.losses.binary_cross_entropy_with_logits`, from
  :math:`e = e^{-|z|}` as in :func:`bcekit.losses._elementwise.bce_logits_parts`;
* :func:`bce_probs`: :func:`bcekit.losses.binary_cross_entropy`, logarithms clamped at −100;
* :func:`focal`: :func:`bcekit.losses.sigmoid_focal_loss`, in log-space.

Sums are taken in float64 where the device has it, as :mod:`bcekit.losses._reduction` does.
"""

from __future__ import annotations

import math
from types import ModuleType, SimpleNamespace
from typing import Any

from bcekit.losses._portable_checks import accumulator, binary_inputs
from bcekit.losses._validation import (
    BinaryInputs,
    check_label_smoothing,
    check_reduction,
    check_scalar,
)

_INF = float("inf")
_LOG_FLOOR = -100.0
_GRAD_EPS = 9.999999960041972e-13  # float(np.float32(1e-12)), PyTorch's floor of p(1 − p)

Pair = tuple[Any, Any]


def reduce(
    xp: ModuleType, loss: Any, *, weight: Any, mask: Any, reduction: str, finite: bool
) -> Pair:
    """:func:`bcekit.losses._reduction.reduce` in ``xp``: ``(value, ∂value/∂ℓᵢ)``.

    The value is a 0-d array (the array ``mᵢ wᵢ ℓᵢ`` for ``"none"``) of ``loss``'s dtype; a
    mean over nothing is 0 with a zero gradient.
    """
    factor = weight
    if mask is not None and weight is None:
        factor = xp.astype(mask, loss.dtype)
    elif mask is not None:
        factor = xp.where(mask, weight, 0.0)
    if factor is not None:
        weighted = loss * factor
        loss = weighted if finite else xp.where(factor == 0, 0.0, weighted)
    if reduction == "none":
        return loss, (1.0 if factor is None else factor)
    acc = accumulator(xp, loss)
    total = xp.sum(loss, dtype=acc)
    if reduction == "sum":
        return xp.astype(total, loss.dtype), (1.0 if factor is None else factor)
    if reduction == "weighted_mean" and factor is not None:
        d = xp.sum(xp.broadcast_to(factor, loss.shape), dtype=acc)
    elif mask is not None:
        d = xp.sum(xp.astype(xp.broadcast_to(mask, loss.shape), acc))
    else:
        d = xp.asarray(float(math.prod(loss.shape)), dtype=acc, device=_device(loss))
    safe = xp.where(d > 0, d, 1.0)
    value = xp.where(d > 0, total / safe, 0.0)
    scale = xp.astype(xp.where(d > 0, 1.0 / safe, 0.0), loss.dtype)
    return xp.astype(value, loss.dtype), (scale if factor is None else factor * scale)


def _device(x: Any) -> Any:
    from array_api_compat import device

    return device(x)


def smooth(y: Any, label_smoothing: float, n_classes: int = 2) -> Any:
    """``y·(1 − s) + s/C``."""
    return (
        y if label_smoothing == 0.0 else y * (1.0 - label_smoothing) + label_smoothing / n_classes
    )


def saturate(xp: ModuleType, z: Any) -> Any:
    """``z`` with ±inf replaced by ± the largest finite value of its dtype."""
    big = float(xp.finfo(z.dtype).max)
    return xp.clip(z, -big, big)


def set_limits(xp: ModuleType, loss: Any, z: Any, grows_up: Any, grows_down: Any) -> Any:
    """``loss`` with its limit (+inf where ``grows_*`` > 0, else 0) at infinite logits."""
    for end, grows in ((_INF, grows_up), (-_INF, grows_down)):
        at_end = z == end
        loss = xp.where(at_end & (grows > 0), _INF, loss)
        loss = xp.where(at_end & ~(grows > 0), 0.0, loss)
    return loss


def bce_parts(xp: ModuleType, z: Any, y: Any, pw: Any, need_grad: bool) -> tuple[Any, Any, Any]:
    """Per-element BCE on finite logits, its derivative (or None) and ``log(1 + e^{−|z|})``."""
    nonneg = z >= 0
    e = xp.exp(-xp.abs(z))
    soft = xp.log1p(e)
    one_minus_y = 1.0 - y
    pw_y = y if pw is None else pw * y
    linear = xp.where(nonneg, one_minus_y, -pw_y)
    grad = None
    if need_grad:
        grad = (xp.where(nonneg, -pw_y, one_minus_y) * e + linear) / (e + 1.0)
    loss = linear * z + (soft if pw is None else soft * (1.0 + (pw - 1.0) * y))
    return loss, grad, soft


def _finish(xp: ModuleType, loss: Any, grad: Any, inp: Any, reduction: str, finite: bool) -> Pair:
    value, factor = reduce(
        xp, loss, weight=inp.weight, mask=inp.mask, reduction=reduction, finite=finite
    )
    return value, (None if grad is None else grad * factor)


def _checked(
    xp: ModuleType, a: SimpleNamespace, name: str, pos_weight: Any
) -> tuple[BinaryInputs, float, str]:
    """A binary loss call's checked inputs, label smoothing and reduction; the predictions
    are called ``name`` (``"logits"``, which may be infinite, or ``"probs"``)."""
    reduction = check_reduction(a.reduction)
    s = check_label_smoothing(a.label_smoothing)
    inp = binary_inputs(
        xp, a.pred, a.targets, name=name, allow_inf=name == "logits", weight=a.weight,
        pos_weight=pos_weight, mask=a.mask, reduction=reduction,
    )  # fmt: skip
    return inp, s, reduction


def bce_logits(xp: ModuleType, a: SimpleNamespace) -> Pair:
    """BCE on logits, finite for every finite logit, with its limits at ``±inf``."""
    inp, s, reduction = _checked(xp, a, "logits", a.pos_weight)
    return checked_bce_logits(xp, inp, s, reduction, a.need_grad)


def checked_bce_logits(
    xp: ModuleType, inp: BinaryInputs, label_smoothing: float, reduction: str, need_grad: bool
) -> Pair:
    """:func:`bce_logits` of inputs checked by :func:`binary_inputs` (``name="logits"``)."""
    y = smooth(inp.targets, label_smoothing)
    z = saturate(xp, inp.pred) if inp.has_inf else inp.pred
    loss, grad, _ = bce_parts(xp, z, y, inp.pos_weight, need_grad)
    if inp.has_inf:
        pw_y = y if inp.pos_weight is None else inp.pos_weight * y
        loss = set_limits(xp, loss, inp.pred, 1.0 - y, pw_y)
    return _finish(xp, loss, grad, inp, reduction, not inp.has_inf)


def bce_probs(xp: ModuleType, a: SimpleNamespace) -> Pair:
    """BCE on probabilities, ``log`` clamped at −100 and ``p(1 − p)`` floored at 1e-12."""
    inp, s, reduction = _checked(xp, a, "probs", a.pos_weight)
    p, y, pw = inp.pred, smooth(inp.targets, s), inp.pos_weight
    log_p = xp.clip(xp.log(p), _LOG_FLOOR, None)
    log_1mp = xp.clip(xp.log1p(-p), _LOG_FLOOR, None)
    loss = -(log_p * (y if pw is None else pw * y) + log_1mp * (1.0 - y))
    grad = None
    if a.need_grad:
        numerator = p - y if pw is None else (p - y) - (pw - 1.0) * y * (1.0 - p)
        grad = numerator / xp.clip((1.0 - p) * p, _GRAD_EPS, None)
    return _finish(xp, loss, grad, inp, reduction, True)


def focal(xp: ModuleType, a: SimpleNamespace) -> Pair:
    r"""Sigmoid focal loss :math:`α_t (1 − p_t)^γ\,\mathrm{CE}` in log-space."""
    gamma = check_scalar(a.gamma, "gamma", 0.0)
    alpha = None if a.alpha is None else check_scalar(a.alpha, "alpha", 0.0, 1.0)
    inp, s, reduction = _checked(xp, a, "logits", None)
    y = smooth(inp.targets, s)
    z = saturate(xp, inp.pred) if inp.has_inf else inp.pred
    ce, d_ce, soft = bce_parts(xp, z, y, None, a.need_grad)
    sp_pos = xp.clip(z, 0.0, None) + soft  # sp(z) = −log σ(−z)
    sp_neg = soft - xp.clip(z, None, 0.0)  # sp(−z) = −log σ(z)
    alpha_t = None if alpha is None else alpha * y + (1.0 - alpha) * (1.0 - y)
    log_q = xp.logaddexp(xp.log(y) - sp_pos, xp.log1p(-y) - sp_neg)
    modulator = xp.exp(gamma * log_q)
    loss = modulator * ce if alpha_t is None else modulator * ce * alpha_t
    grad = None
    if a.need_grad:
        focus = xp.exp((gamma - 1.0) * log_q - sp_neg - sp_pos) * ce * (gamma * (1.0 - 2.0 * y))
        grad = modulator * d_ce + focus
        grad = grad if alpha_t is None else grad * alpha_t
    if inp.has_inf:
        weight_t = 1.0 if alpha_t is None else alpha_t
        loss = set_limits(xp, loss, inp.pred, weight_t * (1.0 - y), weight_t * y)
    return _finish(xp, loss, grad, inp, reduction, not inp.has_inf)
