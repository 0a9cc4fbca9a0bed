r"""The compiled half of :mod:`bcekit.losses._kernels`: per-element BCE and its loops, and the
launcher of the linear-logistic ones, :func:`logistic_dense`.

``exp`` and ``log1p`` are polynomials (``_exp_neg_f64``, ``_log1p_unit_f64`` and their float32
twins, each made for its float type by one factory) so that LLVM vectorises the loops; the C
library's scalar calls would cost about ten times more. float32 input is computed in float32
arithmetic; sums are accumulated in float64. A NaN logit gives a NaN loss and gradient. Large
arrays are split into blocks that run on all of Numba's threads. Besides its sum, :func:`_span`
returns the largest bit pattern of the targets read as unsigned integers (see
:mod:`bcekit.losses._kernels`).

Everything compiled lives in this one file because Numba's on-disk cache (``cache=True``) is
invalidated only by changes to the file that defines the cached function: a helper in another
file could change without the cached loops that inline it being compiled again.
"""

from __future__ import annotations

import numpy as np
from numba import get_num_threads, njit, prange, types
from numba.extending import intrinsic, overload

_PARALLEL_MIN_SIZE = 1 << 16
_BLOCK = 1 << 16  # elements per parallel task
_LANES = 256  # width of the float64 accumulator that keeps the reduction vectorisable

# The one floating-point licence: the sign of zero ("nsz"). Every fused multiply-add is written
# out with _fma below rather than left to LLVM ("contract"), and so is every division ("arcp"
# would let LLVM use a reciprocal): LLVM takes those licences differently in the vectorised loop
# and in its scalar copy (run for short tails, or when an output lies within a few hundred bytes
# of an input), and an element's loss would then depend on where it sits in memory. Re-association
# ("reassoc") would fold the Cody-Waite reduction below; infinities and NaN keep their IEEE
# meaning ("ninf", "nnan").
_FASTMATH = {"nsz"}
_JIT = {"error_model": "numpy", "fastmath": _FASTMATH}


@intrinsic
def _fma(typingctx, a, b, c):
    """``a * b + c`` rounded once (``llvm.fma``), for three floats of one type."""
    if not (isinstance(a, types.Float) and a == b == c):
        return None

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return a(a, b, c), codegen


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


_EXP_COEFFS = (  # exp(r) = 1 + r + r^2/2 + ..., highest degree first
    2.5110037605963777e-08,
    2.763263963904103e-07,
    2.755724091857897e-06,
    2.4801485482328494e-05,
    0.00019841269890047113,
    0.0013888888952314775,
    0.008333333333319601,
    0.0416666666664881,
    0.1666666666666668,
    0.5000000000000019,
    1.0,
    1.0,
)
_EXP_COEFFS_32 = tuple(
    np.float32(c)
    for c in (
        0.0013941108481958508,
        0.00837512593716383,
        0.04166635125875473,
        0.16666415333747864,
        0.5,
        1.0,
        1.0,
    )
)


def _horner(coeffs):
    """``x -> coeffs[0] x^n + ... + coeffs[n]`` by Horner's rule, as a chain of inline calls.

    A loop over the coefficients would be unrolled in some compiled variants and not in others,
    which would then round differently and not vectorise.
    """
    last = coeffs[-1]
    if len(coeffs) == 1:
        return njit(inline="always", **_JIT)(lambda x: last)
    rest = _horner(coeffs[:-1])
    return njit(inline="always", **_JIT)(lambda x: _fma(rest(x), x, last))


def _make_exp_neg(f, i, shift, arg_max, inv_ln2, ln2_hi, ln2_lo, rnd, c_bits, two_m, coeffs):
    """``exp(-a)`` for ``a >= 0`` (``inf`` allowed) in the float type ``f``, whose bits are the
    integer type ``i`` with the exponent ``shift`` bits up; the constants are in type ``f``."""

    poly = _horner(coeffs)

    def exp_neg(a):
        x = min(a, arg_max)
        kr = _fma(x, inv_ln2, rnd)
        k = kr - rnd
        r = _fma(k, ln2_lo, _fma(k, ln2_hi, -x))
        p = poly(r)
        k_bits = i(f(kr).view(i) << shift)
        bits = i(f(p).view(i) + c_bits - k_bits)
        return _fma(i(bits).view(f), two_m, x - x)  # x - x: NaN stays NaN

    return njit(inline="always", **_JIT)(exp_neg)


_exp_neg_f64 = _make_exp_neg(
    np.float64, np.int64, 52, _EXP_ARG_MAX, _INV_LN2, _LN2_HI, _LN2_LO, _ROUND, _C_BITS,
    _TWO_M512, _EXP_COEFFS,
)  # fmt: skip
_exp_neg_f32 = _make_exp_neg(
    np.float32, np.int32, 23, _EXP_ARG_MAX_32, _INV_LN2_32, _LN2_HI_32, _LN2_LO_32, _ROUND_32,
    _C_BITS_32, _TWO_M64_32, _EXP_COEFFS_32,
)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# log1p(e) for e in [0, 1].  With u = e (e < 1/2) or u = (e - 1)/2 (e >= 1/2, exact, adding
# ln 2 back), log1p(u) = 2 atanh(t) with t = u / (2 + u), |t| <= 1/5, and 2 atanh(t) / t is a
# polynomial in t^2 <= 1/25 (fit above).
# ---------------------------------------------------------------------------------------------
_LOG_COEFFS = (  # 2 atanh(t)/t = 2 + t^2 Q(t^2), highest degree first
    0.15113680893531198,
    0.15284232657100633,
    0.18184588603804439,
    0.22222183180681265,
    0.2857142883267973,
    0.3999999999934565,
    0.6666666666666693,
    2.0,
)
_LOG_COEFFS_32 = tuple(
    np.float32(c) for c in (0.29955604672431946, 0.3997901678085327, 0.6666671633720398, 2.0)
)


def _make_log1p_unit(half, two, ln2, zero, coeffs):
    """``log(1 + e)`` for ``e`` in [0, 1] in the float type of the constants."""

    poly = _horner(coeffs)

    def log1p_unit(e):
        big = e >= half
        u = _fma(e, half, -half) if big else e
        t = u / (two + u)
        q = poly(t * t)
        return _fma(t, q, ln2 if big else zero)

    return njit(inline="always", **_JIT)(log1p_unit)


_log1p_unit_f64 = _make_log1p_unit(0.5, 2.0, _LN2, 0.0, _LOG_COEFFS)
_log1p_unit_f32 = _make_log1p_unit(_HALF_32, _TWO_32, _LN2_32, _ZERO_32, _LOG_COEFFS_32)


# ---------------------------------------------------------------------------------------------
# One element: (loss, dloss/dz) from z, y and per-call constants
# pk = pw (1 - s), ph = pw s / 2, keep = 1 - s, half_s = s / 2, or all four None for pw = 1 and
# s = 0: then the factors are y and 1 - y themselves (what the two fused multiply-adds give for
# those constants, bit for bit), and the loop is compiled without them.
# ---------------------------------------------------------------------------------------------
def fold_constants(
    dtype: type, pos_weight: float, label_smoothing: float
) -> tuple[object, object, object, object]:
    """``(pk, ph, keep, half_s)`` in the float type ``dtype``, or four None for the defaults."""
    if pos_weight == 1.0 and label_smoothing == 0.0:
        return None, None, None, None
    keep = 1.0 - label_smoothing
    half_s = 0.5 * label_smoothing
    return dtype(pos_weight * keep), dtype(pos_weight * half_s), dtype(keep), dtype(half_s)


def _make_elem(one, zero, exp_neg, log1p_unit, plain):
    def elem(z, y, pk, ph, keep, half_s):
        a = abs(z)
        e = exp_neg(a)  # exp(-|z|)
        soft = log1p_unit(e)  # softplus(-|z|)
        sig = one / (one + e)  # sigmoid(|z|)
        esig = e * sig  # sigmoid(-|z|)
        if plain:  # a constant of the closure: LLVM folds the branch away
            c1 = y
            c0 = one - y
        else:
            c1 = _fma(y, pk, ph)  # pw * y'
            c0 = _fma(one - y, keep, half_s)  # 1 - y', without cancellation
        pos = z >= 0
        lin = (c0 if pos else c1) * a
        lin = lin if lin > zero else zero  # 0 * inf -> 0: the limit where the factor is 0
        loss = _fma(c0 + c1, soft, lin)
        grad = _fma(c0, sig if pos else esig, -(c1 * (esig if pos else sig)))
        return loss, grad

    return elem


_ELEM = {
    (bits, plain): _make_elem(one, zero, exp_neg, log1p_unit, plain)
    for bits, one, zero, exp_neg, log1p_unit in (
        (64, 1.0, 0.0, _exp_neg_f64, _log1p_unit_f64),
        (32, _ONE_32, _ZERO_32, _exp_neg_f32, _log1p_unit_f32),
    )
    for plain in (False, True)
}


def _bce_elem(z, y, pk, ph, keep, half_s):
    """Per-element loss and gradient (compiled per float type by the overload below)."""
    raise NotImplementedError("_bce_elem is only callable from compiled code")


@overload(_bce_elem, jit_options=_JIT, inline="always")
def _bce_elem_impl(z, y, pk, ph, keep, half_s):
    if isinstance(z, types.Float):
        return _ELEM[z.bitwidth, isinstance(pk, types.NoneType)]
    return None


@njit(inline="always", **_JIT)
def _weigh(w, i, loss, factor):
    """``(w_i loss, w_i factor)``, exactly 0 for the loss where ``w_i = 0`` (even if it is
    infinite); ``(loss, factor)`` where ``w`` is None."""
    if w is None:
        return loss, factor
    wi = w[i]
    return (wi * loss if wi != 0 else wi), factor * wi


# ---------------------------------------------------------------------------------------------
# Loops. ``w``, ``loss_out`` and ``grad_out`` may be None; Numba prunes those branches.
# ---------------------------------------------------------------------------------------------
@njit(cache=True, **_JIT)
def _span(z, y, y_bits, w, loss_out, grad_out, pk, ph, keep, half_s, scale, lo, hi):
    acc = np.zeros(_LANES)
    top = np.zeros(1, y_bits.dtype)[0]
    wl_lanes = np.empty(_LANES, z.dtype)
    for start in range(lo, hi, _LANES):
        m = min(_LANES, hi - start)
        for j in range(m):
            i = np.uintp(start + j)  # unsigned: no negative-index wraparound, contiguous loads
            loss, grad = _bce_elem(z[i], y[i], pk, ph, keep, half_s)
            wl, gs = _weigh(w, i, loss, scale)
            if loss_out is not None:
                loss_out[i] = wl
            if grad_out is not None:
                grad_out[i] = gs * grad
            wl_lanes[np.uintp(j)] = wl
            # A scalar running maximum, which LLVM vectorises as a reduction in this loop: 10-15 %
            # faster at 10^7 elements than a per-lane maximum in either loop.
            bits = y_bits[i]
            top = top if top > bits else bits
        # A separate loop, so that the float64 accumulation does not narrow the vector width of
        # the float32 loop above.
        for j in range(m):
            acc[np.uintp(j)] += wl_lanes[np.uintp(j)]
    return acc.sum(), top


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


@njit(cache=True, error_model="numpy", fastmath=_FASTMATH | {"reassoc", "contract"})
def _dot_row(x, w):
    """``x . w`` accumulated in float64 (re-association and contraction allowed: vectorised
    partial sums in an order fixed by the row length alone: the loop only reads)."""
    total = 0.0
    for k in range(x.shape[0]):
        total += x[np.uintp(k)] * w[np.uintp(k)]
    return total


@njit(cache=True, **_JIT)
def _axpy_row(g, r, x):
    """``g += r * x`` with ``g`` and ``r`` in float64."""
    for k in range(x.shape[0]):
        g[np.uintp(k)] = _fma(r, np.float64(x[np.uintp(k)]), g[np.uintp(k)])


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
            wl, r = _weigh(sw, i, loss, grad)
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
    consts = fold_constants(f, pos_weight, label_smoothing)
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
