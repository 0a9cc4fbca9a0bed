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

``exp`` and ``log1p`` are polynomials (:func:`_exp_neg_f64`, :func:`_log1p_unit_f64` and their
float32 twins) so that LLVM vectorises the loop; the C library's scalar calls would cost ten
times more. float32 input is computed in float32 arithmetic; sums are accumulated in float64.
Large arrays are split into blocks that run on all of Numba's threads.

Everything compiled lives in this one file because Numba's on-disk cache (``cache=True``) is
invalidated only by changes to the file that defines the cached function.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, types
from numba.extending import overload

__all__ = [
    "FUSED_MIN_SIZE",
    "bce_with_logits_elementwise",
    "bce_with_logits_fused",
]

FUSED_MIN_SIZE = 4096
"""Array size from which :func:`bce_with_logits_fused` beats a NumPy implementation."""

_PARALLEL_MIN_SIZE = 1 << 16
_BLOCK = 1 << 16  # elements per parallel task
_LANES = 256  # width of the float64 accumulator that keeps the reduction vectorisable

# Floating-point licences that keep the error analysis valid: fused multiply-add, reciprocal
# instead of division, sign of zero. Re-association ("reassoc") is left out: it would fold the
# Cody-Waite reduction below; infinities and NaN must keep their IEEE meaning ("ninf", "nnan").
_FASTMATH = {"contract", "arcp", "nsz"}
_JIT = {"error_model": "numpy", "fastmath": _FASTMATH}

# ---------------------------------------------------------------------------------------------
# exp(-a) for a >= 0.  a = k ln2 - r with k = round(a / ln2), |r| <= ln2 / 2, so
# exp(-a) = 2**-k * exp(r); k ln2 is split in a high part with trailing zero bits (k * hi is
# exact) and a low part. exp(r) is its Taylor polynomial; 2**-k is built from exponent bits in two
# factors so that results in the subnormal range underflow gradually.
# ---------------------------------------------------------------------------------------------
_LN2_HI = 0.6931471803691238  # 0x1.62e42fee00000p-1
_LN2_LO = 1.9082149292705877e-10
_INV_LN2 = 1.4426950408889634
_EXP_ARG_MAX = 1400.0  # exp(-1400) underflows to 0 and k stays within two normal scale factors

_LN2_HI32 = np.float32(0.693359375)  # 0x1.63p-1
_LN2_LO32 = np.float32(-2.12194440e-4)
_INV_LN232 = np.float32(1.4426950408889634)
_EXP_ARG_MAX32 = np.float32(120.0)
_HALF32 = np.float32(0.5)
_ONE32 = np.float32(1.0)
_TWO32 = np.float32(2.0)
_LN232 = np.float32(0.6931471805599453)


@njit(inline="always", **_JIT)
def _exp_neg_f64(a):
    """``exp(-a)`` for ``a >= 0`` (``inf`` allowed) in float64; error below 1 ulp."""
    x = min(a, _EXP_ARG_MAX)
    k = np.floor(x * _INV_LN2 + 0.5)
    r = (k * _LN2_HI - x) + k * _LN2_LO
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    ki = np.int64(k)
    k1 = ki >> 1
    s1 = np.int64((1023 - k1) << 52).view(np.float64)
    s2 = np.int64((1023 - (ki - k1)) << 52).view(np.float64)
    return p * s1 * s2


@njit(inline="always", **_JIT)
def _exp_neg_f32(a):
    """``exp(-a)`` for ``a >= 0`` (``inf`` allowed) in float32 arithmetic."""
    x = min(a, _EXP_ARG_MAX32)
    k = np.floor(x * _INV_LN232 + _HALF32)
    r = (k * _LN2_HI32 - x) + k * _LN2_LO32
    p = np.float32(1.0 / 5040.0)
    p = p * r + np.float32(1.0 / 720.0)
    p = p * r + np.float32(1.0 / 120.0)
    p = p * r + np.float32(1.0 / 24.0)
    p = p * r + np.float32(1.0 / 6.0)
    p = p * r + _HALF32
    p = p * r + _ONE32
    p = p * r + _ONE32
    ki = np.int32(k)
    k1 = ki >> np.int32(1)
    s1 = np.int32((np.int32(127) - k1) << np.int32(23)).view(np.float32)
    s2 = np.int32((np.int32(127) - (ki - k1)) << np.int32(23)).view(np.float32)
    return p * s1 * s2


# ---------------------------------------------------------------------------------------------
# log1p(e) for e in [0, 1].  With u = e (e < 1/2) or u = (e - 1)/2 (e >= 1/2, exact by Sterbenz,
# adding ln 2 back), log1p(u) = 2 atanh(t) with t = u / (2 + u), |t| <= 1/5, and
# atanh(t) = t (1 + t^2/3 + t^4/5 + ...): a series in t^2 <= 1/25.
# ---------------------------------------------------------------------------------------------
_LN2 = 0.6931471805599453


@njit(inline="always", **_JIT)
def _log1p_unit_f64(e):
    """``log(1 + e)`` for ``e`` in [0, 1] in float64; error below 2 ulp."""
    big = e >= 0.5
    u = (e - 1.0) * 0.5 if big else e
    t = u / (2.0 + u)
    t2 = t * t
    q = 1.0 / 21.0
    q = q * t2 + 1.0 / 19.0
    q = q * t2 + 1.0 / 17.0
    q = q * t2 + 1.0 / 15.0
    q = q * t2 + 1.0 / 13.0
    q = q * t2 + 1.0 / 11.0
    q = q * t2 + 1.0 / 9.0
    q = q * t2 + 1.0 / 7.0
    q = q * t2 + 1.0 / 5.0
    q = q * t2 + 1.0 / 3.0
    tt = t + t
    lg = tt + tt * (t2 * q)
    return lg + _LN2 if big else lg


@njit(inline="always", **_JIT)
def _log1p_unit_f32(e):
    """``log(1 + e)`` for ``e`` in [0, 1] in float32 arithmetic."""
    big = e >= _HALF32
    u = (e - _ONE32) * _HALF32 if big else e
    t = u / (_TWO32 + u)
    t2 = t * t
    q = np.float32(1.0 / 11.0)
    q = q * t2 + np.float32(1.0 / 9.0)
    q = q * t2 + np.float32(1.0 / 7.0)
    q = q * t2 + np.float32(1.0 / 5.0)
    q = q * t2 + np.float32(1.0 / 3.0)
    tt = t + t
    lg = tt + tt * (t2 * q)
    return lg + _LN232 if big else lg


# ---------------------------------------------------------------------------------------------
# One element: (loss, dloss/dz) from z, y and the per-call constants pw, 1 - s, s / 2.
# ---------------------------------------------------------------------------------------------
def _make_elem(one, exp_neg, log1p_unit):
    def elem(z, y, pw, keep, half_s):
        a = abs(z)
        e = exp_neg(a)
        soft = log1p_unit(e)  # softplus(-|z|)
        sig = one / (one + e)  # sigmoid(|z|)
        c1 = pw * (y * keep + half_s)  # pw * y'
        c0 = (one - y) * keep + half_s  # 1 - y', without cancellation
        pos = z >= 0
        m = c0 if pos else c1
        lin = m * a if m != 0 else m  # the limit 0 when m = 0 and a = inf
        loss = (c0 + c1) * soft + lin
        p = one if pos else e
        q = e if pos else one
        return loss, sig * (c0 * p - c1 * q)

    return elem


_ELEM = {
    64: _make_elem(1.0, _exp_neg_f64, _log1p_unit_f64),
    32: _make_elem(_ONE32, _exp_neg_f32, _log1p_unit_f32),
}


def _bce_elem(z, y, pw, keep, half_s):
    """Per-element loss and gradient (compiled per float type by the overload below)."""
    raise NotImplementedError("_bce_elem is only callable from compiled code")


@overload(_bce_elem, jit_options=_JIT, inline="always")
def _bce_elem_impl(z, y, pw, keep, half_s):
    if isinstance(z, types.Float):
        return _ELEM[z.bitwidth]
    return None


# ---------------------------------------------------------------------------------------------
# Loops. ``w``, ``loss_out`` and ``grad_out`` may be None; Numba prunes those branches.
# ---------------------------------------------------------------------------------------------
@njit(cache=True, **_JIT)
def _span(z, y, w, loss_out, grad_out, pw, keep, half_s, scale, lo, hi):
    acc = np.zeros(_LANES)
    for start in range(lo, hi, _LANES):
        m = min(_LANES, hi - start)
        for j in range(m):
            i = np.uintp(start + j)  # unsigned: no negative-index wraparound, contiguous loads
            loss, grad = _bce_elem(z[i], y[i], pw, keep, half_s)
            if w is None:
                wl = loss
                gs = scale
            else:
                wi = w[i]
                wl = wi * loss if wi != 0 else wi
                gs = scale * wi
            if loss_out is not None:
                loss_out[i] = wl
            if grad_out is not None:
                grad_out[i] = gs * grad
            acc[np.uintp(j)] += wl
    return acc.sum()


@njit(cache=True, **_JIT)
def _run_serial(z, y, w, loss_out, grad_out, pw, keep, half_s, scale):
    return _span(z, y, w, loss_out, grad_out, pw, keep, half_s, scale, 0, z.shape[0])


@njit(cache=True, parallel=True, **_JIT)
def _run_parallel(z, y, w, loss_out, grad_out, pw, keep, half_s, scale):
    n = z.shape[0]
    nblocks = (n + _BLOCK - 1) // _BLOCK
    partial = np.empty(nblocks)
    for b in prange(nblocks):
        lo = b * _BLOCK
        hi = min(lo + _BLOCK, n)
        partial[b] = _span(z, y, w, loss_out, grad_out, pw, keep, half_s, scale, lo, hi)
    return partial.sum()


# ---------------------------------------------------------------------------------------------
# Python entry points.
# ---------------------------------------------------------------------------------------------
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


def _launch(logits, targets, weight, loss_out, grad_out, pos_weight, label_smoothing, scale):
    z = _check_array("logits", logits, None, None)
    n = z.shape[0]
    _check_array("targets", targets, z.dtype, n)
    for name, arr in (("weight", weight), ("loss_out", loss_out), ("grad_out", grad_out)):
        if arr is not None:
            _check_array(name, arr, z.dtype, n)
    pos_weight = float(pos_weight)
    label_smoothing = float(label_smoothing)
    if not 0.0 <= pos_weight < np.inf:
        raise ValueError(f"pos_weight must be finite and >= 0; got {pos_weight}")
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must lie in [0, 1); got {label_smoothing}")
    f = z.dtype.type
    run = _run_parallel if n >= _PARALLEL_MIN_SIZE else _run_serial
    return run(
        z,
        targets,
        weight,
        loss_out,
        grad_out,
        f(pos_weight),
        f(1.0 - label_smoothing),
        f(0.5 * label_smoothing),
        f(scale),
    )


def bce_with_logits_fused(
    logits: np.ndarray,
    targets: np.ndarray,
    weight: np.ndarray | None,
    grad_out: np.ndarray | None,
    pos_weight: float,
    label_smoothing: float,
    grad_scale: float,
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

    Returns
    -------
    float
        :math:`L`, accumulated in float64 whatever the input dtype.

    Raises
    ------
    TypeError
        If an array is not a float32/float64 ``numpy.ndarray`` of the logits' dtype.
    ValueError
        If an array is not 1-D and C-contiguous or has the wrong length, or if ``pos_weight``
        or ``label_smoothing`` is out of range.

    Notes
    -----
    Inputs are not scanned for NaN or for targets outside [0, 1]; callers validate them.
    """
    return float(
        _launch(logits, targets, weight, None, grad_out, pos_weight, label_smoothing, grad_scale)
    )


def bce_with_logits_elementwise(
    logits: np.ndarray,
    targets: np.ndarray,
    weight: np.ndarray | None,
    loss_out: np.ndarray,
    grad_out: np.ndarray | None,
    pos_weight: float,
    label_smoothing: float,
    grad_scale: float,
) -> None:
    r"""Per-element weighted losses :math:`w_i \ell(z_i, y_i)` into ``loss_out``.

    Same arguments and arithmetic as :func:`bce_with_logits_fused`, plus ``loss_out``: a 1-D
    buffer of the logits' dtype and length that receives :math:`w_i\,\ell_i` (exactly 0 where
    :math:`w_i = 0`). ``grad_out``, when given, receives the scaled gradient as there.
    """
    if loss_out is None:
        raise TypeError("loss_out must be a numpy.ndarray; got NoneType")
    _launch(logits, targets, weight, loss_out, grad_out, pos_weight, label_smoothing, grad_scale)
