r"""Binary cross-entropy on probabilities and on logits, with its gradient.

For a prediction ``p`` of the probability that the target is 1 and a (possibly soft) target
``y ∈ [0, 1]``, the per-element loss with positive weight ``pw`` is

.. math:: \ell = -\left[pw\, y \log p + (1 - y) \log(1 - p)\right].

On logits ``z`` with ``p = σ(z)`` the same loss is evaluated without forming ``p``, stably for
every finite ``z`` and with its limits at ``±inf``; its gradient is the famous ``σ(z) − y``
(with ``pw = 1``). Models should output logits and use
:func:`binary_cross_entropy_with_logits`; :func:`binary_cross_entropy` is for callers who
hold probabilities already.

Each loss exists as a function returning the value, a ``*_value_and_grad`` function returning
``(value, ∂value/∂pred)`` and a class configured once and called per batch. All three share
one implementation. Weights, masks and reductions are described in
:mod:`bcekit.losses._reduction`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from bcekit.distributed._compat import is_dask_collection
from bcekit.losses._base import Loss, ValueAndGrad, scalar_as_1d
from bcekit.losses._buffers import GradientPool
from bcekit.losses._docs import COMMON_PARAMETERS, GRAD_RETURNS, RAISES, VALUE_RETURNS, document
from bcekit.losses._elementwise import (
    bce_logits_elementwise,
    saturate,
    set_limits,
    smooth_targets,
)
from bcekit.losses._reduction import denominator, element_factor, reduce, scale_grad
from bcekit.losses._validation import (
    BinaryInputs,
    binary_inputs,
    check_label_smoothing,
    check_nonnegative,
    check_out,
    check_reduction,
    deferred_binary_inputs,
    targets_within,
)

_SMALLEST_NORMAL = {np.dtype(t): float(np.finfo(t).tiny) for t in (np.float32, np.float64)}
_SUBNORMAL_SCALE = 2.0**100
"""Brings subnormal weights of either float type into the normal range without overflow."""

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


def _uniform_pos_weight(pos_weight: np.ndarray | None) -> float | None:
    """``pw`` as the fused kernel takes it, one number for every element; None if it varies."""
    if pos_weight is None:
        return 1.0
    return pos_weight.item() if pos_weight.size == 1 else None


def _flat(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``a`` broadcast to ``shape``, flattened in C order: a view if it is C-contiguous there."""
    return (a if a.shape == shape else np.broadcast_to(a, shape)).ravel()


def _into(out: np.ndarray | None, grad: np.ndarray | None) -> np.ndarray | None:
    """``grad`` itself, or, when an ``out`` buffer was given, ``out`` holding a copy of it."""
    if out is None or grad is out:
        return grad
    np.copyto(out, grad)
    return out


def _fused_value_and_grad(
    kernels: ModuleType,
    inp: BinaryInputs,
    pos_weight: float,
    label_smoothing: float,
    reduction: str,
    need_grad: bool,
    out: np.ndarray | None,
    pool: GradientPool | None,
    recheck: Callable[[], object] | None,
) -> ValueAndGrad:
    r"""Value and gradient in one pass of the Numba kernel over flat C-ordered inputs.

    The mask enters as a zero weight (:math:`m_i w_i`); infinite logits need no special case.
    With :math:`D` the reduction's denominator the kernel returns :math:`\sum m_i w_i \ell_i`
    and writes :math:`(m_i w_i / D)\,\partial\ell_i/\partial z_i` straight into the gradient,
    which is ``out`` itself when that is C-contiguous, else a new array (from ``pool`` if
    given). ``kernels`` is :mod:`bcekit.losses._kernels`, imported by the caller.

    ``recheck`` is given when the logits and targets were not checked for NaN and range
    (:func:`deferred_binary_inputs`): the kernel's sum and targets' bit pattern tell whether
    they are valid, and if not ``recheck()`` raises the error the checks would have raised.
    """
    z, _, targets, weight, _, mask = inp
    shape, dtype = z.shape, z.dtype
    factor = element_factor(weight, mask, dtype)
    d = 1.0 if reduction == "none" else denominator(reduction, shape, factor, mask)
    if 0.0 < d < _SMALLEST_NORMAL[dtype]:
        # Every m·w is subnormal, so 1/D would overflow: scale them into the normal range (a
        # power of two, exactly), which leaves every m·w/D as it was.
        factor = factor * dtype.type(_SUBNORMAL_SCALE)
        d *= _SUBNORMAL_SCALE
    grad = None
    if need_grad and out is not None and out.flags.c_contiguous:
        grad = out
    elif need_grad:
        grad = np.empty(shape, dtype) if pool is None else pool.empty(shape, dtype)
    flat_grad = None if grad is None else grad.reshape(-1)
    flat = (z.ravel(), _flat(targets, shape), None if factor is None else _flat(factor, shape))
    top = None if recheck is None else np.zeros(1, f"u{dtype.itemsize}")
    if reduction == "none":
        loss = np.empty(shape, dtype)
        total = kernels.bce_with_logits_elementwise(
            *flat, loss.reshape(-1), flat_grad, pos_weight, label_smoothing, 1.0, top
        )
        value: float | np.ndarray = loss
    else:
        # D = 0 only when every m·w is 0: the kernel's sum and gradient are then exactly 0.
        total = kernels.bce_with_logits_fused(
            *flat, flat_grad, pos_weight, label_smoothing, 1.0 / d if d > 0 else 0.0, top
        )
        value = total / d if d > 0 else 0.0
    if top is not None and (math.isnan(total) or not targets_within(int(top[0]), dtype)):
        recheck()
    return value, _into(out, grad)


@scalar_as_1d
def _numpy_value_and_grad(
    z: np.ndarray,
    y: np.ndarray,
    *,
    pos_weight: np.ndarray | None,
    weight: np.ndarray | None,
    mask: np.ndarray | None,
    reduction: str,
    need_grad: bool,
) -> ValueAndGrad:
    """The same value and gradient from NumPy ufuncs, for validated logits and smoothed targets.

    Used where the kernel does not apply: a ``pos_weight`` that varies across elements.
    """
    has_inf = bool(np.isinf(z).any())
    loss, grad = bce_logits_elementwise(saturate(z) if has_inf else z, y, pos_weight, need_grad)
    if has_inf:
        pw_y = y if pos_weight is None else pos_weight * y
        set_limits(loss, z, grows_up=1.0 - y, grows_down=pw_y)
    value, factor = reduce(loss, weight=weight, mask=mask, reduction=reduction, finite=not has_inf)
    return value, (None if grad is None else scale_grad(grad, factor))


def _logits_value_and_grad(
    logits: Any,
    targets: Any,
    *,
    weight: Any = None,
    pos_weight: Any = None,
    label_smoothing: float = 0.0,
    mask: Any = None,
    reduction: str = "mean",
    need_grad: bool,
    out: Any = None,
    pool: GradientPool | None = None,
) -> ValueAndGrad:
    reduction = check_reduction(reduction)
    s = check_label_smoothing(label_smoothing)
    checks = {
        "name": "logits", "allow_inf": True, "find_inf": False, "weight": weight,
        "pos_weight": pos_weight, "mask": mask, "reduction": reduction,
    }  # fmt: skip
    # Without out= (which a failed check must leave alone), the common case's values are
    # checked by the kernel on its way, saving two passes over memory.
    inp = None if out is not None else deferred_binary_inputs(logits, targets, **checks)
    if inp is not None:
        from bcekit.losses import _kernels

        if inp.pred.size >= _kernels.FUSED_MIN_SIZE:
            pw = 1.0 if pos_weight is None else float(pos_weight)
            return _fused_value_and_grad(
                _kernels, inp, pw, s, reduction, need_grad, None, pool,
                lambda: binary_inputs(logits, targets, **checks),
            )  # fmt: skip
    inp = binary_inputs(logits, targets, **checks)
    if out is not None:
        check_out(out, inp.pred.shape, inp.pred.dtype, logits, targets, weight, pos_weight, mask)
    return checked_logits_value_and_grad(inp, s, reduction, need_grad, out, pool)


def checked_logits_value_and_grad(
    inp: BinaryInputs,
    label_smoothing: float,
    reduction: str,
    need_grad: bool,
    out: np.ndarray | None = None,
    pool: GradientPool | None = None,
) -> ValueAndGrad:
    """BCE on logits for inputs already checked: ``inp`` from :func:`binary_inputs` with
    ``name="logits", allow_inf=True, find_inf=False``, checked ``label_smoothing`` and
    ``reduction``, and ``out`` None or checked by :func:`check_out`. Without ``out``, the
    fused path takes its gradient from ``pool`` when one is given."""
    from bcekit.losses import _kernels

    pw = _uniform_pos_weight(inp.pos_weight)
    if pw is not None and inp.pred.size >= _kernels.FUSED_MIN_SIZE:
        return _fused_value_and_grad(
            _kernels, inp, pw, label_smoothing, reduction, need_grad, out, pool, None
        )
    value, grad = _numpy_value_and_grad(
        inp.pred, smooth_targets(inp.targets, label_smoothing, 2), pos_weight=inp.pos_weight,
        weight=inp.weight, mask=inp.mask, reduction=reduction, need_grad=need_grad,
    )  # fmt: skip
    return value, _into(out, grad)


@scalar_as_1d
def _probs_value_and_grad(
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


_BINARY_PARAMETERS = """
    targets : array-like
        Targets in ``[0, 1]`` (soft targets allowed), broadcasting to the predictions' shape.
    weight : array-like, optional
        Non-negative per-element weights ``w``, broadcasting to the predictions' shape.
    pos_weight : float or array-like, optional
        Non-negative weight ``pw`` of the positive term: a scalar, a per-class vector along
        the last axis, or any array broadcasting to the predictions' shape."""
_VALUE_DOC = (_BINARY_PARAMETERS, COMMON_PARAMETERS, VALUE_RETURNS, RAISES)
_GRAD_DOC = (_BINARY_PARAMETERS, COMMON_PARAMETERS, GRAD_RETURNS, RAISES)


@document(*_VALUE_DOC)
def binary_cross_entropy_with_logits(
    logits: Any,
    targets: Any,
    *,
    weight: Any = None,
    pos_weight: Any = None,
    label_smoothing: float = 0.0,
    mask: Any = None,
    reduction: str = "mean",
) -> float | np.ndarray:
    r"""Binary cross-entropy on logits ``z``, exact for every finite ``z`` and at ``±inf``.

    .. math::
        \ell = -\left[pw\,y\log\sigma(z) + (1-y)\log(1-\sigma(z))\right]
             = (1-y)\,z + (1 + (pw-1)\,y)\log(1 + e^{-z})

    evaluated as a sum of non-negative terms; at ``z = ±inf`` it takes its limit (0 or +inf).
    A fused Numba kernel computes it in one pass over memory unless ``pos_weight`` varies
    across elements (then NumPy does).

    Parameters
    ----------
    logits : array-like
        Real-valued scores; ``±inf`` allowed.
    """
    if is_dask_collection(logits) or is_dask_collection(targets):  # lazy, chunk by chunk
        from bcekit.distributed import binary_cross_entropy_with_logits as lazy

        return lazy(
            logits,
            targets,
            weight=weight,
            pos_weight=pos_weight,
            label_smoothing=label_smoothing,
            mask=mask,
            reduction=reduction,
        )
    value, _ = _logits_value_and_grad(
        logits, targets, weight=weight, pos_weight=pos_weight, label_smoothing=label_smoothing,
        mask=mask, reduction=reduction, need_grad=False,
    )  # fmt: skip
    return value


@document(*_GRAD_DOC)
def binary_cross_entropy_with_logits_value_and_grad(
    logits: Any,
    targets: Any,
    *,
    weight: Any = None,
    pos_weight: Any = None,
    label_smoothing: float = 0.0,
    mask: Any = None,
    reduction: str = "mean",
) -> tuple[float | np.ndarray, np.ndarray]:
    r""":func:`binary_cross_entropy_with_logits` and its gradient with respect to the logits.

    .. math::
        \frac{\partial \ell}{\partial z} = (1-y)\,\sigma(z) - pw\,y\,\sigma(-z)
        \quad (= \sigma(z) - y \text{ for } pw = 1),

    finite everywhere, with ``σ(+inf) = 1`` and ``σ(−inf) = 0``.

    Parameters
    ----------
    logits : array-like
        Real-valued scores; ``±inf`` allowed.
    """
    if is_dask_collection(logits) or is_dask_collection(targets):  # lazy, chunk by chunk
        from bcekit.distributed import value_and_grad as lazy

        return lazy(
            logits,
            targets,
            weight=weight,
            pos_weight=pos_weight,
            label_smoothing=label_smoothing,
            mask=mask,
            reduction=reduction,
        )
    return _logits_value_and_grad(
        logits, targets, weight=weight, pos_weight=pos_weight, label_smoothing=label_smoothing,
        mask=mask, reduction=reduction, need_grad=True,
    )  # fmt: skip


@document(*_VALUE_DOC)
def binary_cross_entropy(
    probs: Any,
    targets: Any,
    *,
    weight: Any = None,
    pos_weight: Any = None,
    label_smoothing: float = 0.0,
    mask: Any = None,
    reduction: str = "mean",
) -> float | np.ndarray:
    r"""Binary cross-entropy on probabilities, with PyTorch's clamp of the logarithms.

    .. math::
        \ell = -\left[pw\,y\,\max(\log p, -100) + (1-y)\max(\log(1-p), -100)\right]

    The clamp keeps the loss finite (at most 100·max(pw, 1)) at ``p ∈ {0, 1}``, where it
    equals PyTorch's ``binary_cross_entropy``. Prefer
    :func:`binary_cross_entropy_with_logits` when logits are available.

    Parameters
    ----------
    probs : array-like
        Probabilities in ``[0, 1]``.
    """
    value, _ = _probs_value_and_grad(
        probs, targets, weight=weight, pos_weight=pos_weight, label_smoothing=label_smoothing,
        mask=mask, reduction=reduction, need_grad=False,
    )  # fmt: skip
    return value


@document(*_GRAD_DOC)
def binary_cross_entropy_value_and_grad(
    probs: Any,
    targets: Any,
    *,
    weight: Any = None,
    pos_weight: Any = None,
    label_smoothing: float = 0.0,
    mask: Any = None,
    reduction: str = "mean",
) -> tuple[float | np.ndarray, np.ndarray]:
    r""":func:`binary_cross_entropy` and its gradient with respect to the probabilities.

    .. math::
        \frac{\partial \ell}{\partial p}
            = \frac{(p - y) - (pw - 1)\,y\,(1 - p)}{\max(p(1-p),\ 10^{-12})}

    This is the derivative of the unclamped loss with the denominator floored as in PyTorch's
    backward: finite everywhere, and at ``p ∈ {0, 1}`` equal to ``10^{12}`` times the
    numerator (e.g. ``−10^{12}`` for ``p = 0, y = 1``; 0 where ``p = y``).

    Parameters
    ----------
    probs : array-like
        Probabilities in ``[0, 1]``.
    """
    return _probs_value_and_grad(
        probs, targets, weight=weight, pos_weight=pos_weight, label_smoothing=label_smoothing,
        mask=mask, reduction=reduction, need_grad=True,
    )  # fmt: skip


class BinaryCrossEntropyWithLogits(Loss):
    """:func:`binary_cross_entropy_with_logits` with its keywords fixed.

    Parameters
    ----------
    pos_weight : float or array-like, optional
        Weight of the positive term (scalar, per-class vector, or broadcasting array).
    label_smoothing : float, default 0.0
        ``s ∈ [0, 1)``; targets become ``y·(1 − s) + s/2``.
    reduction : {"mean", "weighted_mean", "sum", "none"}, default "mean"

    Examples
    --------
    >>> loss = BinaryCrossEntropyWithLogits(reduction="sum")
    >>> value, grad = loss.value_and_grad([0.0, 2.0], [1.0, 0.0])
    """

    _keywords = ("pos_weight", "label_smoothing", "reduction")
    _compute = staticmethod(_logits_value_and_grad)

    def __init__(
        self, *, pos_weight: Any = None, label_smoothing: float = 0.0, reduction: str = "mean"
    ) -> None:
        self.pos_weight = check_nonnegative(pos_weight, "pos_weight")
        self.label_smoothing = check_label_smoothing(label_smoothing)
        self.reduction = check_reduction(reduction)

    def value_and_grad(
        self, pred: Any, targets: Any, *, weight: Any = None, mask: Any = None, out: Any = None
    ) -> tuple[float | np.ndarray, np.ndarray]:
        """:meth:`Loss.value_and_grad`, with the gradient written straight into ``out``.

        The kernel writes into a C-contiguous ``out`` directly; any other ``out`` receives a
        copy. Without ``out``, a gradient of 1 MiB or more is a view of a buffer this object
        recycles (see :mod:`bcekit.losses._buffers`): it is never written again while the
        caller, or any view or tensor made from it, still refers to it, and saves allocating
        and first touching a new array on every call.
        """
        return _logits_value_and_grad(
            pred, targets, weight=weight, pos_weight=self.pos_weight,
            label_smoothing=self.label_smoothing, mask=mask, reduction=self.reduction,
            need_grad=True, out=out, pool=self._pool(),
        )  # fmt: skip


class BinaryCrossEntropy(Loss):
    """:func:`binary_cross_entropy` (on probabilities) with its keywords fixed.

    Parameters
    ----------
    pos_weight : float or array-like, optional
        Weight of the positive term (scalar, per-class vector, or broadcasting array).
    label_smoothing : float, default 0.0
        ``s ∈ [0, 1)``; targets become ``y·(1 − s) + s/2``.
    reduction : {"mean", "weighted_mean", "sum", "none"}, default "mean"
    """

    _keywords = ("pos_weight", "label_smoothing", "reduction")
    _compute = staticmethod(_probs_value_and_grad)

    def __init__(
        self, *, pos_weight: Any = None, label_smoothing: float = 0.0, reduction: str = "mean"
    ) -> None:
        self.pos_weight = check_nonnegative(pos_weight, "pos_weight")
        self.label_smoothing = check_label_smoothing(label_smoothing)
        self.reduction = check_reduction(reduction)
