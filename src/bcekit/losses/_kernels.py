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
float32 twins) so that LLVM vectorises the loop; the C library's scalar calls would cost about
ten times more. float32 input is computed in float32 arithmetic; sums are accumulated in
float64. A NaN logit gives a NaN loss and gradient. Large arrays are split into blocks that run
on all of Numba's threads.

On the way the kernels find the largest bit pattern of the targets read as unsigned integers:
those of non-negative floats sort like the floats, and every NaN, infinity and negative number
(−0 too) lies above the pattern of 1.0. With the NaN a NaN logit leaves in the sum, that lets a
caller check the targets and logits of the common case after the pass instead of in two passes
of their own before it.

The same per-element code drives :func:`logistic_dense`, the one-pass value and gradient of a
linear-logistic model behind :mod:`bcekit.losses.linear`.

Everything compiled lives in this one file because Numba's on-disk cache (``cache=True``) is
invalidated only by changes to the file that defines the cached function.
"""

from __future__ import annotations

import numpy as np
from numba import get_num_threads, njit, prange, types
from numba.extending import overload

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

_PARALLEL_MIN_SIZE = 1 << 16
_BLOCK = 1 << 16  # elements per parallel task
_LANES = 256  # width of the float64 accumulator that keeps the reduction vectorisable

# Floating-point licences that keep the error analysis valid: fused multiply-add, reciprocal
# instead of division, sign of zero. Re-association ("reassoc") is left out: it would fold the
# Cody-Waite reduction below; infinities and NaN must keep their IEEE meaning ("ninf", "nnan").
_FASTMATH = {"contract", "arcp", "nsz"}
_JIT = {"error_model": "numpy", "fastmath": _FASTMATH}

# ---------------------------------------------------------------------------------------------
# exp(-a) for a >= 0, inf included.  a = k ln2 - r with k = round(a / ln2) and |r| <= ln2/2, so
# exp(-a) = 2**-k * exp(r).  Adding 1.5 * 2**52 rounds a / ln2 to the integer k and leaves k in
# the low bits of the sum.  k ln2 is split into a high part with trailing zero bits (k * hi is
# exact) and a low part (Cody-Waite).  exp(r) is a polynomial; 2**-k is applied by subtracting
# k from the exponent bits after scaling by 2**C, then multiplying by 2**-C, so that results in
# the subnormal range are rounded once and underflow gradually.
#
# Polynomial coefficients: Chebyshev fits (mpmath.chebyfit) on the stated interval, rounded to
# the working precision.  Maximum relative error of the exact-coefficient polynomial:
#   exp(r), |r| <= ln2/2:        degree 11: 4.2e-18;   float32 degree 6: 2.5e-9
#   2 atanh(t)/t, t^2 <= 1/25:   2 + t^2 Q(t^2), Q of degree 6: 5.5e-17;  float32 degree 2: 9.5e-9
# ---------------------------------------------------------------------------------------------
_INV_LN2 = 1.4426950408889634
_LN2_HI = 0.6931471803691238  # 0x1.62e42fee00000p-1: 32 significant bits
_LN2_LO = 1.9082149292705877e-10
_LN2 = 0.6931471805599453
_ROUND = 6755399441055744.0  # 1.5 * 2**52
_EXP_ARG_MAX = 746.0  # exp(-746) rounds to 0
_C_BITS = np.int64(512 << 52)  # 2**512 as an exponent increment
_TWO_M512 = 2.0**-512

_INV_LN2_32 = np.float32(1.4426950408889634)
_LN2_HI_32 = np.float32(0.693359375)  # 0x1.63p-1: 9 significant bits
_LN2_LO_32 = np.float32(-2.12194440e-4)
_LN2_32 = np.float32(0.6931471805599453)
_ROUND_32 = np.float32(12582912.0)  # 1.5 * 2**23
_EXP_ARG_MAX_32 = np.float32(105.0)  # exp(-105) rounds to 0 in float32
_C_BITS_32 = np.int32(64 << 23)  # 2**64 as an exponent increment
_TWO_M64_32 = np.float32(2.0**-64)
_HALF_32 = np.float32(0.5)
_ONE_32 = np.float32(1.0)
_TWO_32 = np.float32(2.0)
_ZERO_32 = np.float32(0.0)


@njit(inline="always", **_JIT)
def _exp_neg_f64(a):
    """``exp(-a)`` for ``a >= 0`` (``inf`` allowed) in float64."""
    x = min(a, _EXP_ARG_MAX)
    kr = x * _INV_LN2 + _ROUND
    k = kr - _ROUND
    r = (k * _LN2_HI - x) + k * _LN2_LO
    p = 2.5110037605963777e-08
    p = p * r + 2.763263963904103e-07
    p = p * r + 2.755724091857897e-06
    p = p * r + 2.4801485482328494e-05
    p = p * r + 0.00019841269890047113
    p = p * r + 0.0013888888952314775
    p = p * r + 0.008333333333319601
    p = p * r + 0.0416666666664881
    p = p * r + 0.1666666666666668
    p = p * r + 0.5000000000000019
    p = p * r + 1.0
    p = p * r + 1.0
    bits = np.float64(p).view(np.int64) + _C_BITS - (np.float64(kr).view(np.int64) << 52)
    return np.int64(bits).view(np.float64) * _TWO_M512 + (x - x)  # x - x: NaN stays NaN


@njit(inline="always", **_JIT)
def _exp_neg_f32(a):
    """``exp(-a)`` for ``a >= 0`` (``inf`` allowed) in float32 arithmetic."""
    x = min(a, _EXP_ARG_MAX_32)
    kr = x * _INV_LN2_32 + _ROUND_32
    k = kr - _ROUND_32
    r = (k * _LN2_HI_32 - x) + k * _LN2_LO_32
    p = np.float32(0.0013941108481958508)
    p = p * r + np.float32(0.00837512593716383)
    p = p * r + np.float32(0.04166635125875473)
    p = p * r + np.float32(0.16666415333747864)
    p = p * r + _HALF_32
    p = p * r + _ONE_32
    p = p * r + _ONE_32
    k_bits = np.int32(np.float32(kr).view(np.int32) << 23)
    bits = np.int32(np.float32(p).view(np.int32) + _C_BITS_32 - k_bits)
    return np.int32(bits).view(np.float32) * _TWO_M64_32 + (x - x)  # x - x: NaN stays NaN


# ---------------------------------------------------------------------------------------------
# log1p(e) for e in [0, 1].  With u = e (e < 1/2) or u = (e - 1)/2 (e >= 1/2, exact, adding
# ln 2 back), log1p(u) = 2 atanh(t) with t = u / (2 + u), |t| <= 1/5, and 2 atanh(t) / t is a
# polynomial in t^2 <= 1/25 (fit above).
# ---------------------------------------------------------------------------------------------
@njit(inline="always", **_JIT)
def _log1p_unit_f64(e):
    """``log(1 + e)`` for ``e`` in [0, 1] in float64."""
    big = e >= 0.5
    u = e * 0.5 - 0.5 if big else e
    t = u / (2.0 + u)
    t2 = t * t
    q = 0.15113680893531198
    q = q * t2 + 0.15284232657100633
    q = q * t2 + 0.18184588603804439
    q = q * t2 + 0.22222183180681265
    q = q * t2 + 0.2857142883267973
    q = q * t2 + 0.3999999999934565
    q = q * t2 + 0.6666666666666693
    q = q * t2 + 2.0
    return t * q + (_LN2 if big else 0.0)


@njit(inline="always", **_JIT)
def _log1p_unit_f32(e):
    """``log(1 + e)`` for ``e`` in [0, 1] in float32 arithmetic."""
    big = e >= _HALF_32
    u = e * _HALF_32 - _HALF_32 if big else e
    t = u / (_TWO_32 + u)
    t2 = t * t
    q = np.float32(0.29955604672431946)
    q = q * t2 + np.float32(0.3997901678085327)
    q = q * t2 + np.float32(0.6666671633720398)
    q = q * t2 + _TWO_32
    return t * q + (_LN2_32 if big else _ZERO_32)


# ---------------------------------------------------------------------------------------------
# One element: (loss, dloss/dz) from z, y and per-call constants
# pk = pw (1 - s), ph = pw s / 2, keep = 1 - s, half_s = s / 2.
# ---------------------------------------------------------------------------------------------
def _make_elem(one, zero, exp_neg, log1p_unit):
    def elem(z, y, pk, ph, keep, half_s):
        a = abs(z)
        e = exp_neg(a)  # exp(-|z|)
        soft = log1p_unit(e)  # softplus(-|z|)
        sig = one / (one + e)  # sigmoid(|z|)
        esig = e * sig  # sigmoid(-|z|)
        c1 = y * pk + ph  # pw * y'
        c0 = (one - y) * keep + half_s  # 1 - y', without cancellation
        pos = z >= 0
        lin = (c0 if pos else c1) * a
        lin = lin if lin > zero else zero  # 0 * inf -> 0: the limit where the factor is 0
        loss = (c0 + c1) * soft + lin
        grad = c0 * (sig if pos else esig) - c1 * (esig if pos else sig)
        return loss, grad

    return elem


_ELEM = {
    64: _make_elem(1.0, 0.0, _exp_neg_f64, _log1p_unit_f64),
    32: _make_elem(_ONE_32, _ZERO_32, _exp_neg_f32, _log1p_unit_f32),
}


def _bce_elem(z, y, pk, ph, keep, half_s):
    """Per-element loss and gradient (compiled per float type by the overload below)."""
    raise NotImplementedError("_bce_elem is only callable from compiled code")


@overload(_bce_elem, jit_options=_JIT, inline="always")
def _bce_elem_impl(z, y, pk, ph, keep, half_s):
    if isinstance(z, types.Float):
        return _ELEM[z.bitwidth]
    return None


# ---------------------------------------------------------------------------------------------
# Loops. ``w``, ``loss_out`` and ``grad_out`` may be None; Numba prunes those branches.
# ---------------------------------------------------------------------------------------------
@njit(cache=True, **_JIT)
def _span(z, y, y_bits, w, loss_out, grad_out, pk, ph, keep, half_s, scale, lo, hi):
    acc = np.zeros(_LANES)
    top = np.zeros(_LANES, y_bits.dtype)
    wl_lanes = np.empty(_LANES, z.dtype)
    for start in range(lo, hi, _LANES):
        m = min(_LANES, hi - start)
        for j in range(m):
            i = np.uintp(start + j)  # unsigned: no negative-index wraparound, contiguous loads
            loss, grad = _bce_elem(z[i], y[i], pk, ph, keep, half_s)
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
            wl_lanes[np.uintp(j)] = wl
        # A separate loop, so that the float64 accumulation does not narrow the vector width of
        # the float32 loop above.
        for j in range(m):
            acc[np.uintp(j)] += wl_lanes[np.uintp(j)]
            top[np.uintp(j)] = max(top[np.uintp(j)], y_bits[np.uintp(start + j)])
    return acc.sum(), top.max()


@njit(cache=True, parallel=True, **_JIT)
def _run_parallel(z, y, y_bits, w, loss_out, grad_out, pk, ph, keep, half_s, scale):
    n = z.shape[0]
    nblocks = (n + _BLOCK - 1) // _BLOCK
    partial = np.empty(nblocks)
    tops = np.empty(nblocks, y_bits.dtype)
    for b in prange(nblocks):
        lo = b * _BLOCK
        hi = min(lo + _BLOCK, n)
        partial[b], tops[b] = _span(
            z, y, y_bits, w, loss_out, grad_out, pk, ph, keep, half_s, scale, lo, hi
        )
    return partial.sum(), tops.max()


# ---------------------------------------------------------------------------------------------
# Linear-logistic objective: one pass over the rows of a dense X.  Per tile of rows:
# z = X_tile w + b, the loss and r = s * dl/dz, then grad += X_tile^T r while the rows are still
# in L1.  Used by bcekit.losses.linear.
# ---------------------------------------------------------------------------------------------
_TILE = 16  # rows per tile


@njit(cache=True, error_model="numpy", fastmath=_FASTMATH | {"reassoc"})
def _dot_row(x, w):
    """``x . w`` accumulated in float64 (re-association allowed: vectorised partial sums)."""
    total = 0.0
    for k in range(x.shape[0]):
        total += x[np.uintp(k)] * w[np.uintp(k)]
    return total


@njit(cache=True, **_JIT)
def _axpy_row(g, r, x):
    """``g += r * x`` with ``g`` in float64."""
    for k in range(x.shape[0]):
        g[np.uintp(k)] += r * x[np.uintp(k)]


@njit(cache=True, **_JIT)
def _logistic_rows(X, y, sw, w, b, pk, ph, keep, half_s, lo, hi, g):
    """Rows ``lo:hi``: add ``X^T r`` to ``g``; return ``(sum s*l, sum r)``."""
    z_tile = np.empty(_TILE, X.dtype)
    r_tile = np.empty(_TILE)
    acc = np.zeros(_TILE)
    grad_b = 0.0
    for start in range(lo, hi, _TILE):
        m = min(_TILE, hi - start)
        for j in range(m):
            z_tile[j] = _dot_row(X[start + j], w) + b
        for j in range(m):
            i = np.uintp(start + j)
            loss, grad = _bce_elem(z_tile[np.uintp(j)], y[i], pk, ph, keep, half_s)
            if sw is None:
                wl = loss
                r = grad
            else:
                wi = sw[i]
                wl = wi * loss if wi != 0 else wi
                r = wi * grad
            acc[np.uintp(j)] += wl
            r_tile[np.uintp(j)] = r
        for j in range(m):
            _axpy_row(g, r_tile[j], X[start + j])
            grad_b += r_tile[j]
    return acc.sum(), grad_b


@njit(cache=True, parallel=True, **_JIT)
def _logistic_dense(X, y, sw, w, b, pk, ph, keep, half_s, parts):
    """Sum over ``parts`` contiguous row ranges, run in parallel, of :func:`_logistic_rows`."""
    n, d = X.shape
    g_parts = np.zeros((parts, d))
    v_parts = np.zeros(parts)
    b_parts = np.zeros(parts)
    for t in prange(parts):
        lo = t * n // parts
        hi = (t + 1) * n // parts
        v, gb = _logistic_rows(X, y, sw, w, b, pk, ph, keep, half_s, lo, hi, g_parts[t])
        v_parts[t] = v
        b_parts[t] = gb
    g = np.zeros(d)
    for t in range(parts):
        g += g_parts[t]
    return v_parts.sum(), g, b_parts.sum()


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
    logits, targets, weight, loss_out, grad_out, pos_weight, label_smoothing, scale, top_out
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
    keep = 1.0 - label_smoothing
    half_s = 0.5 * label_smoothing
    args = (
        z,
        targets,
        targets.view(bits),
        weight,
        loss_out,
        grad_out,
        f(pos_weight * keep),
        f(pos_weight * half_s),
        f(keep),
        f(half_s),
        f(scale),
    )
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
    args = (logits, targets, weight, None, grad_out, pos_weight, label_smoothing, grad_scale)
    return float(_launch(*args, targets_top))


def bce_with_logits_elementwise(
    logits: np.ndarray,
    targets: np.ndarray,
    weight: np.ndarray | None,
    loss_out: np.ndarray,
    grad_out: np.ndarray | None,
    pos_weight: float,
    label_smoothing: float,
    grad_scale: float,
    targets_top: np.ndarray | None = None,
) -> float:
    r"""Per-element weighted losses :math:`w_i \ell(z_i, y_i)` into ``loss_out``.

    Same arguments and arithmetic as :func:`bce_with_logits_fused`, plus ``loss_out``: a 1-D
    buffer of the logits' dtype and length that receives :math:`w_i\,\ell_i` (exactly 0 where
    :math:`w_i = 0`). ``grad_out``, when given, receives the scaled gradient as there. Returns
    the sum of ``loss_out`` accumulated in float64.
    """
    if loss_out is None:
        raise TypeError("loss_out must be a numpy.ndarray; got NoneType")
    args = (logits, targets, weight, loss_out, grad_out, pos_weight, label_smoothing, grad_scale)
    return float(_launch(*args, targets_top))


def logistic_dense(
    X: np.ndarray,
    y: np.ndarray,
    sample_weight: np.ndarray | None,
    coef: np.ndarray,
    intercept: float,
    pos_weight: float,
    label_smoothing: float,
) -> tuple[float, np.ndarray, float]:
    r"""One pass over a dense ``X``: :math:`\sum_i s_i \ell(x_i \cdot w + b, y_i)` and its gradient.

    ``X`` is 2-D C-contiguous float32/float64; ``y``, ``sample_weight`` (or None) and ``coef``
    are 1-D C-contiguous arrays of the same dtype; the arguments are not checked here (see
    :func:`bcekit.losses.linear.logistic_objective`). Returns the value, the gradient with
    respect to ``coef`` (float64) and with respect to ``intercept``, all accumulated in float64.
    Rows are split into one contiguous range per Numba thread when ``X`` is large.
    """
    f = X.dtype.type
    keep = 1.0 - label_smoothing
    half_s = 0.5 * label_smoothing
    consts = (f(pos_weight * keep), f(pos_weight * half_s), f(keep), f(half_s))
    n, d = X.shape
    threads = get_num_threads()
    if threads > 1 and n * max(d, 1) >= _PARALLEL_MIN_SIZE and n >= 2 * _TILE:
        value, grad, grad_b = _logistic_dense(
            X, y, sample_weight, coef, f(intercept), *consts, threads
        )
    else:
        grad = np.zeros(d)
        value, grad_b = _logistic_rows(X, y, sample_weight, coef, f(intercept), *consts, 0, n, grad)
    return float(value), grad, float(grad_b)
