"""Extreme inputs: accuracy against mpmath over a sweep of logits, huge and infinite logits."""

from __future__ import annotations

import numpy as np
import pytest

from bcekit.losses import (
    binary_cross_entropy_value_and_grad,
    binary_cross_entropy_with_logits_value_and_grad,
    sigmoid_focal_loss_value_and_grad,
    softmax_cross_entropy_value_and_grad,
)

mpmath = pytest.importorskip("mpmath")
pytestmark = pytest.mark.filterwarnings("error")

SWEEP = np.concatenate([-np.logspace(-8, 4, 121), [0.0], np.logspace(-8, 4, 121)])
# Per-element relative error allowed for the value (and, for hard targets, the gradient).
VALUE_RTOL = {np.float64: 1e-14, np.float32: 1e-6}


def _mp_log_sigmoid(z):
    return -mpmath.log1p(mpmath.exp(-z))


def _mp_sigmoid(z):
    return 1 / (1 + mpmath.exp(-z))


def reference_bce(z, y, pos_weight):
    """Loss and derivative at the exact values of the floats z and y, with 50 digits."""
    with mpmath.workdps(50):
        z, y, pw = mpmath.mpf(float(z)), mpmath.mpf(float(y)), mpmath.mpf(pos_weight)
        loss = -(pw * y * _mp_log_sigmoid(z) + (1 - y) * _mp_log_sigmoid(-z))
        grad = (1 - y) * _mp_sigmoid(z) - pw * y * _mp_sigmoid(-z)
        return float(loss), float(grad)


def reference_focal(z, y, gamma):
    with mpmath.workdps(50):
        z, y = mpmath.mpf(float(z)), mpmath.mpf(float(y))
        ce = -(y * _mp_log_sigmoid(z) + (1 - y) * _mp_log_sigmoid(-z))
        q = y * _mp_sigmoid(-z) + (1 - y) * _mp_sigmoid(z)
        return float(q**gamma * ce)


def assert_close_where_representable(got, expected, dtype, rtol):
    """Relative error where the exact value is a normal number of ``dtype``, else absolute."""
    tiny = np.finfo(dtype).tiny
    normal = np.abs(expected) >= tiny
    rel = np.abs(got[normal].astype(np.float64) - expected[normal]) / np.abs(expected[normal])
    assert rel.max(initial=0.0) <= rtol, f"max relative error {rel.max():.3g}"
    assert np.all(np.abs(got[~normal].astype(np.float64) - expected[~normal]) <= tiny)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("target", [0.0, 1.0, 0.25, 0.7])
@pytest.mark.parametrize("pos_weight", [1.0, 3.0])
def test_bce_with_logits_matches_mpmath(dtype, target, pos_weight):
    z = SWEEP.astype(dtype)
    y = np.full_like(z, target)
    value, grad = binary_cross_entropy_with_logits_value_and_grad(
        z, y, pos_weight=pos_weight, reduction="none"
    )
    exact = np.array([reference_bce(a, b, pos_weight) for a, b in zip(z, y, strict=True)])
    assert_close_where_representable(value, exact[:, 0], dtype, VALUE_RTOL[dtype])
    if target in (0.0, 1.0):
        assert_close_where_representable(grad, exact[:, 1], dtype, 4 * VALUE_RTOL[dtype])
    else:
        # Soft targets: σ(z) − y cancels near its zero; bound the error by the terms' size.
        scale = (1 - y) + pos_weight * y
        assert np.all(np.abs(grad - exact[:, 1]) <= 4 * np.finfo(dtype).eps * scale)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("target", [0.0, 1.0, 0.3])
@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_focal_matches_mpmath(dtype, target, gamma):
    z = SWEEP.astype(dtype)
    y = np.full_like(z, target)
    value, _ = sigmoid_focal_loss_value_and_grad(z, y, gamma=gamma, reduction="none")
    exact = np.array([reference_focal(a, b, gamma) for a, b in zip(z, y, strict=True)])
    assert_close_where_representable(value, exact, dtype, VALUE_RTOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bce_with_logits_at_huge_and_infinite_logits(dtype):
    z = np.array([1e4, -1e4, 1e4, -1e4, np.inf, -np.inf, np.inf, -np.inf, np.inf, -np.inf], dtype)
    y = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.4, 0.4], dtype)
    pw = 2.0
    value, grad = binary_cross_entropy_with_logits_value_and_grad(
        z, y, pos_weight=pw, reduction="none"
    )
    assert value.dtype == grad.dtype == dtype
    np.testing.assert_array_equal(
        value, [0, 0, 1e4, pw * 1e4, 0, 0, np.inf, np.inf, np.inf, np.inf]
    )
    # ∂ℓ/∂z → (1 − y) at +inf and −pw·y at −inf.
    np.testing.assert_allclose(grad, [0, 0, 1, -pw, 0, 0, 1, -pw, 0.6, -pw * 0.4], rtol=1e-6)
    for reduction in ("mean", "sum", "weighted_mean"):
        total, grad = binary_cross_entropy_with_logits_value_and_grad(z, y, reduction=reduction)
        assert total == np.inf and np.all(np.isfinite(grad))
    total, grad = binary_cross_entropy_with_logits_value_and_grad(z[[0, 1, 4, 5]], y[[0, 1, 4, 5]])
    assert total == 0.0 and np.all(grad == 0.0)


def test_probability_path_at_the_edges():
    p = np.array([0.0, 1.0, 1e-40, 1.0 - 2.0**-53, 5e-324])
    y = np.array([1.0, 0.0, 1.0, 0.0, 0.5])
    value, grad = binary_cross_entropy_value_and_grad(p, y, reduction="none")
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(grad))
    np.testing.assert_allclose(value[:2], 100.0)  # log clamped at −100
    np.testing.assert_allclose(value[2], -np.log(1e-40))  # still above the clamp
    np.testing.assert_allclose(value[3], -np.log1p(-(1.0 - 2.0**-53)))


def test_softmax_with_huge_logits():
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [1e30, 1e30, -1e30]])
    value, grad = softmax_cross_entropy_value_and_grad(z, [1, 2, 0], reduction="none")
    np.testing.assert_allclose(value, [2e4, 0.0, np.log(2)])
    np.testing.assert_allclose(grad, [[1, -1, 0], [0, 0, 0], [-0.5, 0.5, 0]], atol=1e-300)
