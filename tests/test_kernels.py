"""Accuracy and agreement tests for the fused BCE-with-logits kernels.

Oracles: an mpmath evaluation at 40 significant digits (per-element accuracy over the whole
logit range), a direct NumPy formula (weights, pos_weight, smoothing, reductions), central
finite differences of the kernel's own loss, and PyTorch when it is installed.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bcekit.losses import _compiled as K
from bcekit.losses._kernels import (
    FUSED_MIN_SIZE,
    bce_with_logits_elementwise,
    bce_with_logits_fused,
)

PARALLEL_N = K._PARALLEL_MIN_SIZE + 3 * K._LANES + 5  # odd size on the parallel path


# ---------------------------------------------------------------------------------------------
# Reference values at high precision
# ---------------------------------------------------------------------------------------------
def _mp_reference(z: float, y: float, pw: float, s: float) -> tuple[float, float, float]:
    """Exact loss, gradient and gradient scale (sum of the two gradient terms' magnitudes)."""
    with mpmath.workdps(40):
        y_s = mpmath.mpf(y) * (1 - mpmath.mpf(s)) + mpmath.mpf(s) / 2
        c1 = mpmath.mpf(pw) * y_s  # weight of softplus(-z)
        c0 = 1 - y_s  # weight of softplus(z)
        if math.isinf(z):
            coef = c0 if z > 0 else c1
            loss = math.inf if coef > 0 else 0.0
            grad = float(c0) if z > 0 else float(-c1)
            return loss, grad, abs(grad)
        zm = mpmath.mpf(z)
        loss = c1 * mpmath.log1p(mpmath.exp(-zm)) + c0 * mpmath.log1p(mpmath.exp(zm))
        sig_pos = 1 / (1 + mpmath.exp(-zm))
        sig_neg = 1 / (1 + mpmath.exp(zm))
        grad = c0 * sig_pos - c1 * sig_neg
        return float(loss), float(grad), float(c0 * sig_pos + c1 * sig_neg)


def _sweep_logits() -> np.ndarray:
    mags = np.logspace(-8, 4, 97)
    return np.concatenate([[0.0, np.inf, -np.inf], mags, -mags, [708.5, 745.0, -710.0]])


SWEEP_CASES = [
    # (targets, pos_weight, label_smoothing)
    ((0.0, 1.0), 1.0, 0.0),
    ((0.0, 1.0), 3.5, 0.0),
    ((0.0, 1.0), 0.0, 0.0),
    ((0.3, 0.5, 0.999), 1.0, 0.0),
    ((0.0, 1.0, 0.25), 2.0, 0.1),
    ((1.0,), 1.0, 1e-6),
]


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-14), (np.float32, 1e-6)])
@pytest.mark.parametrize("targets, pos_weight, smoothing", SWEEP_CASES)
def test_elementwise_accuracy_against_mpmath(dtype, rtol, targets, pos_weight, smoothing):
    zs = _sweep_logits()
    z = np.repeat(zs, len(targets)).astype(dtype)
    y = np.tile(np.asarray(targets), len(zs)).astype(dtype)
    loss = np.empty_like(z)
    grad = np.empty_like(z)
    bce_with_logits_elementwise(z, y, None, loss, grad, pos_weight, smoothing, 1.0)

    ref = np.array(
        [
            _mp_reference(float(a), float(b), pos_weight, smoothing)
            for a, b in zip(z, y, strict=True)
        ]
    )
    ref_loss, ref_grad, grad_scale = ref.T
    # Below the smallest normal number relative precision is lost by the format itself.
    tiny = 16 * float(np.finfo(dtype).smallest_subnormal)

    finite = np.isfinite(ref_loss)
    assert np.array_equal(np.isinf(loss), ~finite)
    assert not np.isnan(loss).any() and not np.isnan(grad).any()
    loss_err = np.abs(loss[finite] - ref_loss[finite])
    assert np.all(loss_err <= rtol * np.abs(ref_loss[finite]) + tiny), loss_err.max()
    # The gradient is a difference of two terms: its error is relative to their magnitudes
    # (an exact relative error where one term vanishes, e.g. for hard targets).
    grad_err = np.abs(grad - ref_grad)
    assert np.all(grad_err <= rtol * grad_scale + tiny), grad_err.max()


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-14), (np.float32, 1e-6)])
def test_hard_target_gradient_is_relatively_exact(dtype, rtol):
    # sigma(z) - 1 for y = 1 must not cancel: at z = 40 it is -4.2e-18, far below eps.
    z = np.array([5.0, 20.0, 40.0, 80.0, -30.0], dtype=dtype)
    y = np.array([1.0, 1.0, 1.0, 1.0, 0.0], dtype=dtype)
    grad = np.empty_like(z)
    bce_with_logits_fused(z, y, None, grad, 1.0, 0.0, 1.0)
    ref = np.array(
        [_mp_reference(float(a), float(b), 1.0, 0.0)[1] for a, b in zip(z, y, strict=True)]
    )
    assert np.all(ref != 0)
    np.testing.assert_allclose(grad, ref, rtol=rtol)


def test_infinite_logits_give_limits():
    z = np.array([np.inf, -np.inf, np.inf, -np.inf, np.inf])
    y = np.array([1.0, 0.0, 0.0, 1.0, 0.5])
    loss = np.empty(5)
    grad = np.empty(5)
    bce_with_logits_elementwise(z, y, None, loss, grad, 2.0, 0.0, 1.0)
    np.testing.assert_array_equal(loss, [0.0, 0.0, np.inf, np.inf, np.inf])
    np.testing.assert_array_equal(grad, [0.0, 0.0, 1.0, -2.0, 0.5])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_nan_logits_propagate(dtype):
    # Callers validate inputs; a NaN that slips through must not turn into a finite number.
    z = np.array([np.nan, 0.5, np.nan, np.nan], dtype=dtype)
    y = np.array([0.0, 1.0, 1.0, 0.5], dtype=dtype)
    loss = np.empty_like(z)
    grad = np.empty_like(z)
    bce_with_logits_elementwise(z, y, None, loss, grad, 1.0, 0.0, 1.0)
    assert np.array_equal(np.isnan(loss), np.isnan(z))
    assert np.array_equal(np.isnan(grad), np.isnan(z))
    assert math.isnan(bce_with_logits_fused(z, y, None, None, 1.0, 0.0, 1.0))


# ---------------------------------------------------------------------------------------------
# Agreement with a direct NumPy formula
# ---------------------------------------------------------------------------------------------
def _numpy_reference(z, y, w, pw, s, scale):
    z = z.astype(np.float64)
    y_s = y.astype(np.float64) * (1 - s) + s / 2
    w = np.ones_like(z) if w is None else w.astype(np.float64)
    loss = pw * y_s * np.logaddexp(0.0, -z) + (1 - y_s) * np.logaddexp(0.0, z)
    sig = 1.0 / (1.0 + np.exp(-z))
    grad = (1 - y_s) * sig - pw * y_s * (1 - sig)
    return w * loss, scale * w * grad


def _random_problem(rng, n, dtype, soft=True):
    z = (rng.standard_normal(n) * 6).astype(dtype)
    y = (rng.random(n) if soft else (rng.random(n) < 0.3)).astype(dtype)
    w = rng.exponential(size=n).astype(dtype)
    w[rng.random(n) < 0.1] = 0
    return z, y, w


@pytest.mark.parametrize("n", [1, 257, PARALLEL_N])
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 2e-5)])
@pytest.mark.parametrize("weighted", [False, True])
def test_fused_matches_numpy(n, dtype, rtol, weighted):
    rng = np.random.default_rng(n)
    z, y, w = _random_problem(rng, n, dtype)
    w = w if weighted else None
    pw, s, scale = 2.5, 0.05, 1.0 / n
    ref_loss, ref_grad = _numpy_reference(z, y, w, pw, s, scale)

    grad = np.full_like(z, np.nan)
    value = bce_with_logits_fused(z, y, w, grad, pw, s, scale)
    assert isinstance(value, float)
    np.testing.assert_allclose(value, ref_loss.sum(), rtol=rtol)
    assert grad.dtype == dtype
    atol = rtol * np.abs(ref_grad).max()
    np.testing.assert_allclose(grad, ref_grad, rtol=rtol, atol=atol)

    assert bce_with_logits_fused(z, y, w, None, pw, s, scale) == pytest.approx(value, rel=1e-15)


@pytest.mark.parametrize("n", [300, PARALLEL_N])
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 2e-5)])
def test_elementwise_matches_numpy(n, dtype, rtol):
    rng = np.random.default_rng(7)
    z, y, w = _random_problem(rng, n, dtype, soft=False)
    ref_loss, ref_grad = _numpy_reference(z, y, w, 0.7, 0.0, 3.0)
    loss = np.full_like(z, np.nan)
    grad = np.full_like(z, np.nan)
    bce_with_logits_elementwise(z, y, w, loss, grad, 0.7, 0.0, 3.0)
    np.testing.assert_allclose(loss, ref_loss, rtol=rtol, atol=1e-30)
    np.testing.assert_allclose(grad, ref_grad, rtol=rtol, atol=rtol * np.abs(ref_grad).max())
    loss_only = np.empty_like(z)
    bce_with_logits_elementwise(z, y, w, loss_only, None, 0.7, 0.0, 3.0)
    np.testing.assert_array_equal(loss_only, loss)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 700),
    double=st.booleans(),
    pw=st.floats(0.0, 10.0),
    s=st.floats(0.0, 0.99),
    scale=st.floats(-4.0, 4.0).filter(lambda v: abs(v) > 1e-3),
    seed=st.integers(0, 2**32 - 1),
)
def test_fused_matches_numpy_property(n, double, pw, s, scale, seed):
    dtype = np.float64 if double else np.float32
    rtol = 1e-12 if double else 2e-5
    z, y, w = _random_problem(np.random.default_rng(seed), n, dtype)
    ref_loss, ref_grad = _numpy_reference(z, y, w, np.float64(dtype(pw)), s, scale)
    grad = np.empty_like(z)
    value = bce_with_logits_fused(z, y, w, grad, pw, s, scale)
    assert value == pytest.approx(ref_loss.sum(), rel=rtol, abs=1e-300)
    np.testing.assert_allclose(grad, ref_grad, rtol=rtol, atol=rtol * abs(scale) * 10.0)


def test_zero_weight_removes_infinite_loss():
    z = np.array([np.inf, -np.inf, 1.0])
    y = np.array([0.0, 1.0, 1.0])
    w = np.array([0.0, 0.0, 2.0])
    grad = np.empty(3)
    value = bce_with_logits_fused(z, y, w, grad, 1.0, 0.0, 1.0)
    assert value == pytest.approx(2.0 * math.log1p(math.exp(-1.0)), rel=1e-15)
    assert grad[0] == 0.0 and grad[1] == 0.0
    loss = np.empty(3)
    bce_with_logits_elementwise(z, y, w, loss, None, 1.0, 0.0, 1.0)
    assert loss[0] == 0.0 and loss[1] == 0.0


def test_float32_sum_is_accumulated_in_float64():
    rng = np.random.default_rng(3)
    n = PARALLEL_N * 4
    z = rng.standard_normal(n).astype(np.float32) + 3.0
    y = np.zeros(n, np.float32)
    per_element = np.empty_like(z)
    bce_with_logits_elementwise(z, y, None, per_element, None, 1.0, 0.0, 1.0)
    exact = math.fsum(per_element.astype(np.float64))
    value = bce_with_logits_fused(z, y, None, None, 1.0, 0.0, 1.0)
    # A float32 running sum of 2.7e5 terms would be off by ~1e-4 relative.
    assert value == pytest.approx(exact, rel=1e-12)


# ---------------------------------------------------------------------------------------------
# An element's result does not depend on where it sits in memory
# ---------------------------------------------------------------------------------------------
LAYOUT_N = 3 * K._LANES + 5  # whole vector iterations and a tail


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("pw, s, weighted", [(1.0, 0.0, False), (2.5, 0.1, True)])
@pytest.mark.parametrize("with_grad", [False, True])
def test_an_element_alone_gives_the_bits_it_gives_in_an_array(dtype, pw, s, weighted, with_grad):
    # Alone, an element goes through the loop's scalar tail; in an array, through its vector body.
    z, y, w = _random_problem(np.random.default_rng(5), LAYOUT_N, dtype)
    w = w if weighted else None
    loss, grad = np.empty_like(z), (np.empty_like(z) if with_grad else None)
    bce_with_logits_elementwise(z, y, w, loss, grad, pw, s, 1.0)
    for i in range(LAYOUT_N):
        one_loss, one_grad = np.empty(1, dtype), (np.empty(1, dtype) if with_grad else None)
        one_w = None if w is None else w[i : i + 1]
        bce_with_logits_elementwise(
            z[i : i + 1], y[i : i + 1], one_w, one_loss, one_grad, pw, s, 1.0
        )
        assert one_loss.tobytes() == loss[i : i + 1].tobytes(), f"loss of element {i}"
        if with_grad:
            assert one_grad.tobytes() == grad[i : i + 1].tobytes(), f"gradient of element {i}"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("soft", [False, True])
def test_default_constants_loop_gives_the_general_loops_bits(dtype, weighted, soft):
    # pos_weight 1 without smoothing runs a loop compiled without the four constants; the
    # general loop, given the constants those defaults fold to, must give the same bits.
    rng = np.random.default_rng(8)
    z, y, w = _random_problem(rng, LAYOUT_N, dtype, soft=soft)
    z[:6] = [0.0, -0.0, np.inf, -np.inf, 90.0, -90.0]
    y[:6] = [-0.0, 1.0, 0.0, 1.0, 0.0, 1.0]
    w = w if weighted else None
    f = np.dtype(dtype).type
    general = (f(1.0), f(0.0), f(1.0), f(0.0))
    assert K.fold_constants(f, 1.0, 0.0) == (None, None, None, None)
    assert K.fold_constants(f, 1.0, 0.1) != (None, None, None, None)
    results = []
    for constants in ((None, None, None, None), general):
        loss, grad = np.empty_like(z), np.empty_like(z)
        bits = y.view(np.uint64 if dtype == np.float64 else np.uint32)
        total, top = K._span(z, y, bits, w, loss, grad, *constants, f(0.5), 0, LAYOUT_N)
        results.append((loss.tobytes(), grad.tobytes(), total, top))
    assert results[0] == results[1]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("gap", [0, 5, 19])
def test_outputs_next_to_the_inputs_give_the_same_bits(dtype, gap):
    # Outputs a few bytes after the logits can make LLVM's run-time overlap check send the
    # whole loop through its scalar copy. Short arrays, as many as it takes to meet elements
    # that the two copies would round apart.
    rng = np.random.default_rng(6)
    for n in [12] * 40 + [LAYOUT_N]:
        z, y, w = _random_problem(rng, n, dtype)
        loss, grad = np.empty_like(z), np.empty_like(z)
        bce_with_logits_elementwise(z, y, w, loss, grad, 2.5, 0.1, 0.5)
        block = np.empty(3 * n + 2 * gap, dtype)
        near_z, near_loss = block[:n], block[n + gap : 2 * n + gap]
        near_grad = block[2 * n + 2 * gap :]
        near_z[:] = z
        bce_with_logits_elementwise(near_z, y, w, near_loss, near_grad, 2.5, 0.1, 0.5)
        assert near_loss.tobytes() == loss.tobytes()
        assert near_grad.tobytes() == grad.tobytes()


# ---------------------------------------------------------------------------------------------
# Gradient checks
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("pw, s", [(1.0, 0.0), (3.0, 0.2)])
def test_gradient_matches_central_differences(pw, s):
    rng = np.random.default_rng(11)
    z = np.concatenate([rng.uniform(-12, 12, 200), [-1e-3, 0.0, 1e-3]])
    y = rng.random(z.size)
    h = 1e-5

    def losses(x):
        out = np.empty_like(x)
        bce_with_logits_elementwise(x, y, None, out, None, pw, s, 1.0)
        return out

    numeric = (losses(z + h) - losses(z - h)) / (2 * h)
    grad = np.empty_like(z)
    bce_with_logits_fused(z, y, None, grad, pw, s, 1.0)
    np.testing.assert_allclose(grad, numeric, rtol=1e-7, atol=1e-9)


def test_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    z, y, w = _random_problem(rng, 5000, np.float64)
    zt = torch.tensor(z, requires_grad=True)
    ref = torch.nn.functional.binary_cross_entropy_with_logits(
        zt,
        torch.tensor(y),
        weight=torch.tensor(w),
        pos_weight=torch.tensor(1.7, dtype=torch.float64),
        reduction="sum",
    )
    ref.backward()
    grad = np.empty_like(z)
    value = bce_with_logits_fused(z, y, w, grad, 1.7, 0.0, 1.0)
    assert value == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(grad, zt.grad.numpy(), rtol=1e-10, atol=1e-15)


# ---------------------------------------------------------------------------------------------
# Argument checks
# ---------------------------------------------------------------------------------------------
def test_bad_arguments_are_rejected():
    z = np.zeros(4)
    g = np.empty(4)
    with pytest.raises(TypeError, match="targets must have dtype float64"):
        bce_with_logits_fused(z, z.astype(np.float32), None, g, 1.0, 0.0, 1.0)
    with pytest.raises(TypeError, match="logits must have dtype float32 or float64"):
        bce_with_logits_fused(z.astype(np.int64), z, None, g, 1.0, 0.0, 1.0)
    with pytest.raises(TypeError, match=r"logits must be a numpy\.ndarray"):
        bce_with_logits_fused([0.0], z, None, g, 1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="grad_out must have length 4; got 3"):
        bce_with_logits_fused(z, z, None, np.empty(3), 1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="weight must be a 1-D C-contiguous array"):
        bce_with_logits_fused(z, z, np.zeros(8)[::2], g, 1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match=r"label_smoothing must lie in \[0, 1\); got 1.0"):
        bce_with_logits_fused(z, z, None, g, 1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match=r"pos_weight must be finite and >= 0; got -1\.0"):
        bce_with_logits_fused(z, z, None, g, -1.0, 0.0, 1.0)
    with pytest.raises(TypeError, match=r"loss_out must be a numpy\.ndarray"):
        bce_with_logits_elementwise(z, z, None, None, g, 1.0, 0.0, 1.0)


def test_fused_min_size_is_a_positive_int():
    assert isinstance(FUSED_MIN_SIZE, int) and FUSED_MIN_SIZE >= 1
