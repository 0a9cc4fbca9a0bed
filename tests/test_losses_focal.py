"""Sigmoid focal loss: gradients for every γ and α, identities, the torch formula, extremes."""

from __future__ import annotations

import numpy as np
import pytest

from bcekit.losses import (
    SigmoidFocalLoss,
    binary_cross_entropy_with_logits_value_and_grad,
    sigmoid_focal_loss,
    sigmoid_focal_loss_value_and_grad,
)
from losses_support import REDUCTIONS, soft_and_hard_targets

pytestmark = pytest.mark.filterwarnings("error")

RNG = np.random.default_rng(99)
SHAPE = (3, 4)
LOGITS = RNG.normal(0.0, 2.5, SHAPE)
TARGETS = soft_and_hard_targets(RNG, SHAPE)
WEIGHT = RNG.uniform(0.0, 2.0, SHAPE)
MASK = RNG.uniform(size=SHAPE) < 0.7
KNOBS = {
    "plain": {},
    "weight": {"weight": WEIGHT},
    "smoothing": {"label_smoothing": 0.1},
    "mask": {"mask": MASK},
    "everything": {"weight": WEIGHT, "label_smoothing": 0.2, "mask": MASK},
}


def reference_focal(z, y, gamma, alpha):
    """α_t (1 − p_t)^γ · CE written out with p = σ(z), for moderate logits."""
    p = 1.0 / (1.0 + np.exp(-z))
    ce = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    p_t = p * y + (1 - p) * (1 - y)
    alpha_t = 1.0 if alpha is None else alpha * y + (1 - alpha) * (1 - y)
    return alpha_t * (1 - p_t) ** gamma * ce


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("alpha", [None, 0.25])
@pytest.mark.parametrize("target_kind", TARGETS)
@pytest.mark.parametrize("knob", KNOBS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradient_matches_central_differences(
    gamma, alpha, target_kind, knob, reduction, numeric_grad
):
    y = TARGETS[target_kind]
    kw = {**KNOBS[knob], "gamma": gamma, "alpha": alpha, "reduction": reduction}
    value, grad = sigmoid_focal_loss_value_and_grad(LOGITS, y, **kw)
    expected = numeric_grad(lambda v: float(np.sum(sigmoid_focal_loss(v, y, **kw))), LOGITS)
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(value, sigmoid_focal_loss(LOGITS, y, **kw))


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 3.7])
@pytest.mark.parametrize("alpha", [None, 0.0, 0.25, 1.0])
def test_value_matches_written_out_formula(gamma, alpha):
    y = TARGETS["soft"]
    got = sigmoid_focal_loss(LOGITS, y, gamma=gamma, alpha=alpha, reduction="none")
    np.testing.assert_allclose(got, reference_focal(LOGITS, y, gamma, alpha), rtol=1e-12)


@pytest.mark.parametrize("knob", KNOBS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gamma_zero_without_alpha_is_bce(knob, reduction):
    y = TARGETS["soft"]
    kw = {**KNOBS[knob], "reduction": reduction}
    focal = sigmoid_focal_loss_value_and_grad(LOGITS, y, gamma=0.0, alpha=None, **kw)
    bce = binary_cross_entropy_with_logits_value_and_grad(LOGITS, y, **kw)
    np.testing.assert_allclose(focal[0], bce[0], rtol=1e-15)
    np.testing.assert_allclose(focal[1], bce[1], rtol=1e-15)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_float32_agrees_with_float64(gamma):
    z32 = LOGITS.astype(np.float32)
    y32 = TARGETS["soft"].astype(np.float32)
    kw = {"gamma": gamma, "alpha": 0.25, "weight": WEIGHT, "reduction": "none"}
    v32, g32 = sigmoid_focal_loss_value_and_grad(z32, y32, **kw)
    v64, g64 = sigmoid_focal_loss_value_and_grad(z32.astype(np.float64), y32, **kw)
    assert v32.dtype == g32.dtype == np.float32
    np.testing.assert_allclose(v32, v64, rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(g32, g64, rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("gamma", [0.0, 0.25, 0.5, 0.99, 1.0, 2.0, 5.0])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_finite_for_huge_and_infinite_logits(gamma, dtype):
    z = np.array([1e4, -1e4, 1e4, -1e4, 50.0, -50.0, np.inf, -np.inf, np.inf, -np.inf], dtype)
    y = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0], dtype)
    value, grad = sigmoid_focal_loss_value_and_grad(z, y, gamma=gamma, reduction="none")
    assert np.all(np.isfinite(grad))
    # p_t → 1: loss and gradient vanish; p_t → 0: CE = |z|, (1 − p_t)^γ = 1, ∂ℓ/∂z = ±1.
    np.testing.assert_array_equal(value[[0, 1, 6, 7]], 0.0)
    np.testing.assert_allclose(value[[4, 5]], 0.0, atol=2e-22)
    np.testing.assert_allclose(value[[2, 3]], 1e4, rtol=1e-6)
    np.testing.assert_array_equal(value[[8, 9]], np.inf)
    np.testing.assert_allclose(grad[[0, 1, 6, 7]], 0.0, atol=0.0)
    np.testing.assert_allclose(grad[[2, 3, 8, 9]], [1.0, -1.0, 1.0, -1.0], rtol=1e-6)


def test_small_gamma_gradient_stays_finite_as_p_t_approaches_one(numeric_grad):
    # (1 − p_t)^(γ−1) alone would overflow here; the product with σ(z)σ(−z) does not.
    z = np.array([20.0, 35.0, 300.0, -300.0])
    y = np.array([1.0, 1.0, 1.0, 0.0])
    _, grad = sigmoid_focal_loss_value_and_grad(z, y, gamma=0.3, reduction="none")
    assert np.all(np.isfinite(grad))
    # Derivative of e^{-γz}·e^{-z} ≈ -(1+γ)·e^{-(1+γ)z} for large z with y = 1.
    np.testing.assert_allclose(grad[:2], -1.3 * np.exp(-1.3 * z[:2]), rtol=1e-6)
    expected = numeric_grad(
        lambda v: float(np.sum(sigmoid_focal_loss(v, y[:1], gamma=0.3, reduction="none"))),
        z[:1],
        h=1e-3,
    )
    np.testing.assert_allclose(grad[:1], expected, rtol=1e-5)


def test_soft_targets_at_infinity():
    value, grad = sigmoid_focal_loss_value_and_grad(
        [np.inf, -np.inf], [0.3, 0.3], gamma=2.0, alpha=0.25, reduction="none"
    )
    np.testing.assert_array_equal(value, [np.inf, np.inf])
    # Limits: α_t (1 − p_t)^γ (σ(z) − y) with p_t = y at +inf and 1 − y at −inf.
    alpha_t = 0.25 * 0.3 + 0.75 * 0.7
    np.testing.assert_allclose(grad, [alpha_t * 0.7**2 * 0.7, -alpha_t * 0.3**2 * 0.3])


def test_class_matches_function():
    loss = SigmoidFocalLoss(gamma=1.5, alpha=0.3, label_smoothing=0.1, reduction="sum")
    y = TARGETS["hard"]
    value, grad = loss.value_and_grad(LOGITS, y, weight=WEIGHT, mask=MASK)
    expected = sigmoid_focal_loss_value_and_grad(
        LOGITS, y, gamma=1.5, alpha=0.3, label_smoothing=0.1, reduction="sum",
        weight=WEIGHT, mask=MASK,
    )  # fmt: skip
    assert value == expected[0] == loss(LOGITS, y, weight=WEIGHT, mask=MASK)
    np.testing.assert_array_equal(grad, expected[1])
    assert repr(loss).startswith("SigmoidFocalLoss(gamma=1.5, alpha=0.3")


class TestTorchOracle:
    torch = pytest.importorskip("torch")

    def torch_focal(self, z, y, gamma, alpha):
        """The focal-loss formula as torchvision writes it, with autograd for the gradient."""
        F = self.torch.nn.functional
        p = self.torch.sigmoid(z)
        ce = F.binary_cross_entropy_with_logits(z, y, reduction="none")
        p_t = p * y + (1 - p) * (1 - y)
        loss = ce * (1 - p_t) ** gamma
        if alpha is not None:
            loss = (alpha * y + (1 - alpha) * (1 - y)) * loss
        return loss

    @pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
    @pytest.mark.parametrize("alpha", [None, 0.25])
    @pytest.mark.parametrize("target_kind", TARGETS)
    def test_values_and_gradients(self, gamma, alpha, target_kind):
        y = TARGETS[target_kind]
        zt = self.torch.tensor(LOGITS, requires_grad=True)
        value_t = self.torch_focal(zt, self.torch.tensor(y), gamma, alpha)
        value_t.mean().backward()
        value, grad = sigmoid_focal_loss_value_and_grad(LOGITS, y, gamma=gamma, alpha=alpha)
        np.testing.assert_allclose(value, value_t.mean().item(), rtol=1e-12)
        np.testing.assert_allclose(grad, zt.grad.numpy(), rtol=1e-10, atol=1e-15)
