r"""Fused Numba kernels for binary cross-entropy on logits: value and gradient in one pass.

For a logit :math:`z`, a target :math:`y \in [0, 1]`, label smoothing :math:`s` and a
positive-class weight :math:`p_w`, with the smoothed target :math:`y' = y(1 - s) + s/2`:

.. math::

    \ell(z, y) = p_w\, y' \operatorname{softplus}(-z) + (1 - y') \operatorname{softplus}(z),
    \qquad
    \frac{\partial \ell}{\partial z} = (1 - y')\,\sigma(z) - p_w\, y'\, \sigma(-z).

Both are evaluated from :math:`a = |z|` only through :math:`e = e^{-a} \in [0, 1]`:

.. math::

    \operatorname{softplus}(\pm z) = \log(1 + e) + \max(\pm z, 0), \qquad
    \sigma(|z|) = \frac{1}{1 + e}, \quad \sigma(-|z|) = \frac{e}{1 + e},

so the loss is a sum of non-negative terms and each term of the gradient is a product: neither
cancels, which keeps every element accurate to a few units in the last place for any finite
:math:`z`, and the limits at :math:`z = \pm\infty` come out exactly (never ``0 * inf``). When
:math:`p_w = 1` the gradient is :math:`\sigma(z) - y'`.

The loops themselves, with polynomial ``exp`` and ``log1p`` that LLVM vectorises, live in
:mod:`bcekit.losses._compiled`; this module checks the arguments and launches them, serially
or in parallel blocks. float32 input is computed in float32 arithmetic; sums are accumulated
in float64. A NaN logit gives a NaN loss and gradient.

On the way the kernels find the largest bit pattern of the targets read as unsigned integers:
those of non-negative floats sort like the floats, and every NaN, infinity and negative number
(−0 too) lies above the pattern of 1.0. With the NaN a NaN logit leaves in the sum, that lets a
caller check the targets and logits of the common case after the pass instead of in two passes
of their own before it.

The same per-element code drives :func:`logistic_dense`, the one-pass value and gradient of a
linear-logistic model behind :mod:`bcekit.losses.linear`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bcekit.losses._compiled import (
    _PARALLEL_MIN_SIZE,
    _logistic_rows,  # noqa: F401 - the tests of bcekit.losses.linear call it from here
    _run_parallel,
    _span,
    fold_constants,
    logistic_dense,
)

__all__ = [
    "FUSED_MIN_SIZE",
    "bce_with_logits_elementwise",
    "bce_with_logits_fused",
    "check_constants",
    "logistic_dense",
]

FUSED_MIN_SIZE = 1
"""Array size from which :func:`bce_with_logits_fused` beats a stable NumPy implementation.

Measured (``python -m benchmarks losses``): a call costs about 3.5 us plus 1-2 ns per element,
a NumPy ufunc chain about 9 us plus 10-30 ns per element, so the kernel is faster from a
single element on. Reasons to keep NumPy for small inputs are elsewhere: inputs the kernel does
not take (masks, broadcast ``pos_weight``, strided arrays) and Numba's one-time start-up in a
process (about 0.3 s with a warm cache, seconds to compile with a cold one)."""


def _check_array(name: str, x: object, dtype: np.dtype | None, n: int | None) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray; got {type(x).__name__}")
    if x.dtype not in (np.float32, np.float64) or (dtype is not None and x.dtype != dtype):
        want = dtype if dtype is not None else "float32 or float64"
        raise TypeError(f"{name} must have dtype {want}; got {x.dtype}")
    if x.ndim != 1 or not x.flags.c_contiguous:
        raise ValueError(f"{name} must be a 1-D C-contiguous array; got shape {x.shape}")
    if n is not None and x.shape[0] != n:
        raise ValueError(f"{name} must have length {n}; got {x.shape[0]}")
    return x


def check_constants(pos_weight: float, label_smoothing: float) -> tuple[float, float]:
    """``pos_weight`` (finite, >= 0) and ``label_smoothing`` (in [0, 1)) as floats, checked."""
    pos_weight = float(pos_weight)
    label_smoothing = float(label_smoothing)
    if not 0.0 <= pos_weight < np.inf:
        raise ValueError(f"pos_weight must be finite and >= 0; got {pos_weight}")
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must lie in [0, 1); got {label_smoothing}")
    return pos_weight, label_smoothing


_UNSIGNED = {np.dtype(np.float32): np.dtype(np.uint32), np.dtype(np.float64): np.dtype(np.uint64)}


def _launch(
    logits, targets, weight, loss_out, grad_out, pos_weight, label_smoothing, scale, top_out=None
):
    """Check the arguments, fold the per-call constants, run serially or in parallel blocks."""
    z = _check_array("logits", logits, None, None)
    n = z.shape[0]
    _check_array("targets", targets, z.dtype, n)
    bits = _UNSIGNED[z.dtype]
    if top_out is not None and (
        not isinstance(top_out, np.ndarray) or top_out.shape != (1,) or top_out.dtype != bits
    ):
        raise ValueError(f"targets_top must be an array of one {bits}")
    for name, arr in (("weight", weight), ("loss_out", loss_out), ("grad_out", grad_out)):
        if arr is not None:
            _check_array(name, arr, z.dtype, n)
    pos_weight, label_smoothing = check_constants(pos_weight, label_smoothing)
    f = z.dtype.type
    constants = fold_constants(f, pos_weight, label_smoothing)
    args = (z, targets, targets.view(bits), weight, loss_out, grad_out, *constants, f(scale))
    if n >= _PARALLEL_MIN_SIZE:
        total, top = _run_parallel(*args)
    else:
        total, top = _span(*args, 0, n)  # the same compiled loop the parallel blocks run
    if top_out is not None:
        top_out[0] = top
    return total


def bce_with_logits_fused(
    logits: np.ndarray,
    targets: np.ndarray,
    weight: np.ndarray | None,
    grad_out: np.ndarray | None,
    pos_weight: float,
    label_smoothing: float,
    grad_scale: float,
    targets_top: np.ndarray | None = None,
) -> float:
    r"""Sum of weighted BCE-with-logits losses and, optionally, their scaled gradient.

    Computes, in one pass over memory,

    .. math::

        L = \sum_i w_i\, \ell(z_i, y_i), \qquad
        g_i = c\, w_i\, \frac{\partial \ell}{\partial z}(z_i, y_i),

    with :math:`\ell` as in the module docstring.

    Parameters
    ----------
    logits : numpy.ndarray
        1-D C-contiguous float32 or float64 array of logits; ``+-inf`` allowed.
    targets : numpy.ndarray
        Targets in [0, 1], same dtype and length as ``logits``.
    weight : numpy.ndarray or None
        Non-negative per-element weights, same dtype and length, or None for all ones. A zero
        weight contributes exactly 0, even where the loss is infinite.
    grad_out : numpy.ndarray or None
        Output buffer for :math:`g`, same dtype and length; None computes the value only.
    pos_weight : float
        Weight :math:`p_w \ge 0` of the positive term.
    label_smoothing : float
        :math:`s \in [0, 1)`; targets become :math:`y(1 - s) + s/2`.
    grad_scale : float
        Factor :math:`c` applied to the gradient (e.g. ``1/n`` for a mean).
    targets_top : numpy.ndarray, optional
        One-element ``uint32`` (float32 input) or ``uint64`` array that receives the largest
        bit pattern of the targets read as unsigned integers (see the module docstring).

    Returns
    -------
    float
        :math:`L`, accumulated in float64 whatever the input dtype.

    Raises
    ------
    TypeError
        If an array is not a float32/float64 ``numpy.ndarray`` of the logits' dtype.
    ValueError
        If an array is not 1-D and C-contiguous or has the wrong length, if ``pos_weight``
        or ``label_smoothing`` is out of range, or if ``targets_top`` is not as described.

    Notes
    -----
    Inputs are not scanned for NaN or for targets outside [0, 1]; callers validate them.
    """
    constants = (pos_weight, label_smoothing, grad_scale, targets_top)
    return float(_launch(logits, targets, weight, None, grad_out, *constants))


def bce_with_logits_elementwise(
    logits: np.ndarray,
    targets: np.ndarray,
    weight: np.ndarray | None,
    loss_out: np.ndarray,
    grad_out: np.ndarray | None,
    *constants: Any,
) -> float:
    r"""Per-element weighted losses :math:`w_i \ell(z_i, y_i)` into ``loss_out``.

    Same arguments and arithmetic as :func:`bce_with_logits_fused`, plus ``loss_out``: a 1-D
    buffer of the logits' dtype and length that receives :math:`w_i\,\ell_i` (exactly 0 where
    :math:`w_i = 0`). ``grad_out``, when given, receives the scaled gradient as there;
    ``constants`` are ``pos_weight, label_smoothing, grad_scale`` and optionally
    ``targets_top``. Returns the sum of ``loss_out`` accumulated in float64.
    """
    if loss_out is None:
        raise TypeError("loss_out must be a numpy.ndarray; got NoneType")
    return float(_launch(logits, targets, weight, loss_out, grad_out, *constants))
