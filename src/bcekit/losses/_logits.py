r"""BCE on logits for NumPy input: the fused Numba kernel, or NumPy ufuncs where it does not apply.

:func:`logits_value_and_grad` is the computation behind
:func:`bcekit.losses.binary_cross_entropy_with_logits` and its twins for NumPy input. The
kernel (:mod:`bcekit.losses._kernels`) takes every input but a ``pos_weight`` that varies
across elements; the NumPy path (:func:`bcekit.losses._elementwise.bce_logits_elementwise`)
takes that one. Both give the same value and gradient to rounding.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from bcekit.losses._base import ValueAndGrad, scalar_as_1d
from bcekit.losses._buffers import GradientPool
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
    check_out,
    check_reduction,
    deferred_binary_inputs,
    targets_within,
)

_SMALLEST_NORMAL = {np.dtype(t): float(np.finfo(t).tiny) for t in (np.float32, np.float64)}
_SUBNORMAL_SCALE = 2.0**100
"""Brings subnormal weights of either float type into the normal range without overflow."""


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


def logits_value_and_grad(
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
    """The definition of BCE on logits (:func:`bcekit.losses.binary_cross_entropy_with_logits`)
    for NumPy array-likes: check every argument, then compute.

    ``out`` (checked here) receives the gradient; without it a new gradient comes from
    ``pool`` when one is given.
    """
    reduction = check_reduction(reduction)
    s = check_label_smoothing(label_smoothing)
    checks = {
        "name": "logits", "allow_inf": True, "find_inf": False, "weight": weight,
        "pos_weight": pos_weight, "mask": mask, "reduction": reduction,
    }  # fmt: skip
    # The common case's values are checked by the kernel on its way, saving two passes over
    # memory (a failed check may leave ``out`` partly written).
    inp = deferred_binary_inputs(logits, targets, **checks)
    if inp is not None:
        from bcekit.losses import _kernels

        if inp.pred.size >= _kernels.FUSED_MIN_SIZE:
            if out is not None:
                check_out(out, inp.pred.shape, inp.pred.dtype, logits, targets, pos_weight)
            pw = 1.0 if pos_weight is None else float(pos_weight)
            return _fused_value_and_grad(
                _kernels, inp, pw, s, reduction, need_grad, out, pool,
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
