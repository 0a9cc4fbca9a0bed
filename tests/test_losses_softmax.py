"""Softmax cross-entropy: gradients, the two-class identity, infinities, torch's cross_entropy."""

from __future__ import annotations

import numpy as np
import pytest

from bcekit.losses import (
    SoftmaxCrossEntropy,
    binary_cross_entropy_with_logits_value_and_grad,
    softmax_cross_entropy,
    softmax_cross_entropy_value_and_grad,
)
from losses_support import REDUCTIONS

pytestmark = pytest.mark.filterwarnings("error")

RNG = np.random.default_rng(5)
N_ROWS, N_CLASSES = 4, 3
LOGITS = RNG.normal(0.0, 2.0, (N_ROWS, N_CLASSES))
IDS = np.array([0, 2, 1, 2])
PROB_ROWS = RNG.dirichlet(np.ones(N_CLASSES), N_ROWS)
TARGETS = {"ids": IDS, "rows": PROB_ROWS}
WEIGHT = RNG.uniform(0.0, 2.0, N_ROWS)
MASK = np.array([True, False, True, True])
KNOBS = {
    "plain": {},
    "weight": {"weight": WEIGHT},
    "smoothing": {"label_smoothing": 0.1},
    "mask": {"mask": MASK},
    "everything": {"weight": WEIGHT, "label_smoothing": 0.3, "mask": MASK},
}


def reference_rows(z, target_rows, s):
    """−Σ_k y_k log softmax(z)_k with y smoothed, written out."""
    y = target_rows * (1 - s) + s / z.shape[-1]
    log_softmax = z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))
    return -np.sum(y * log_softmax, axis=-1)


@pytest.mark.parametrize("target_kind", TARGETS)
@pytest.mark.parametrize("knob", KNOBS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("axis", [-1, 0])
def test_gradient_matches_central_differences(target_kind, knob, reduction, axis, numeric_grad):
    y = TARGETS[target_kind]
    z = LOGITS if axis == -1 else LOGITS.T
    y = y.T if (axis == 0 and target_kind == "rows") else y
    kw = {**KNOBS[knob], "reduction": reduction, "axis": axis}
    value, grad = softmax_cross_entropy_value_and_grad(z, y, **kw)
    expected = numeric_grad(lambda v: float(np.sum(softmax_cross_entropy(v, y, **kw))), z)
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-9)
    assert grad.shape == z.shape
    np.testing.assert_array_equal(value, softmax_cross_entropy(z, y, **kw))


@pytest.mark.parametrize("target_kind", TARGETS)
@pytest.mark.parametrize("s", [0.0, 0.25])
def test_value_matches_written_out_formula(target_kind, s):
    rows = np.eye(N_CLASSES)[IDS] if target_kind == "ids" else PROB_ROWS
    got = softmax_cross_entropy(LOGITS, TARGETS[target_kind], label_smoothing=s, reduction="none")
    np.testing.assert_allclose(got, reference_rows(LOGITS, rows, s), rtol=1e-13)


def test_class_ids_equal_one_hot_rows():
    one_hot = np.eye(N_CLASSES)[IDS]
    for kw in ({}, {"label_smoothing": 0.2, "weight": WEIGHT, "mask": MASK}):
        ids = softmax_cross_entropy_value_and_grad(LOGITS, IDS, **kw)
        rows = softmax_cross_entropy_value_and_grad(LOGITS, one_hot, **kw)
        np.testing.assert_allclose(ids[0], rows[0], rtol=1e-14)
        np.testing.assert_allclose(ids[1], rows[1], rtol=1e-14, atol=1e-16)


@pytest.mark.parametrize("knob", KNOBS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_two_classes_equal_bce_on_the_logit_difference(knob, reduction):
    z = RNG.normal(0.0, 3.0, (N_ROWS, 2))
    ids = np.array([1, 0, 0, 1])
    kw = {**KNOBS[knob], "reduction": reduction}
    value, grad = softmax_cross_entropy_value_and_grad(z, ids, **kw)
    bce_value, bce_grad = binary_cross_entropy_with_logits_value_and_grad(
        z[:, 1] - z[:, 0], ids.astype(float), **kw
    )
    np.testing.assert_allclose(value, bce_value, rtol=1e-13, atol=1e-16)
    # ∂/∂z₁ of a function of z₁ − z₀ is the BCE gradient, and ∂/∂z₀ its negative.
    np.testing.assert_allclose(grad[:, 1], bce_grad, rtol=1e-12, atol=1e-16)
    np.testing.assert_allclose(grad[:, 0], -bce_grad, rtol=1e-12, atol=1e-16)


def test_float32_agrees_with_float64():
    z32 = LOGITS.astype(np.float32)
    kw = {"label_smoothing": 0.1, "weight": WEIGHT, "reduction": "none"}
    v32, g32 = softmax_cross_entropy_value_and_grad(z32, IDS, **kw)
    v64, g64 = softmax_cross_entropy_value_and_grad(z32.astype(np.float64), IDS, **kw)
    assert v32.dtype == g32.dtype == np.float32
    np.testing.assert_allclose(v32, v64, rtol=2e-6)
    np.testing.assert_allclose(g32, g64, rtol=2e-6, atol=1e-7)


def test_one_row_and_higher_dimensions():
    value, grad = softmax_cross_entropy_value_and_grad(LOGITS[1], 2, reduction="none")
    assert value.shape == () and grad.shape == (N_CLASSES,)
    assert value == pytest.approx(reference_rows(LOGITS[1:2], np.eye(3)[[2]], 0.0)[0])
    # A (batch, classes, height, width) segmentation map with the class axis 1.
    z = RNG.normal(size=(2, 3, 4, 5))
    ids = RNG.integers(0, 3, (2, 4, 5))
    value, grad = softmax_cross_entropy_value_and_grad(z, ids, axis=1, reduction="none")
    assert value.shape == (2, 4, 5) and grad.shape == z.shape
    moved = np.moveaxis(z, 1, -1).reshape(-1, 3)
    np.testing.assert_allclose(
        value.ravel(), reference_rows(moved, np.eye(3)[ids.ravel()], 0.0), rtol=1e-13
    )


def test_infinite_logits():
    z = np.array(
        [
            [1.0, np.inf, np.inf],  # the +inf classes share the probability
            [-np.inf, -np.inf, -np.inf],  # the limit of equal logits: uniform
            [0.0, -np.inf, 1.0],  # a class that can never be predicted
            [0.0, -np.inf, 1.0],
        ]
    )
    ids = np.array([1, 0, 0, 1])
    value, grad = softmax_cross_entropy_value_and_grad(z, ids, reduction="none")
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(value, [np.log(2), np.log(3), np.log1p(np.e), np.inf])
    np.testing.assert_allclose(grad[0], [0.0, -0.5, 0.5])
    np.testing.assert_allclose(grad[1], [-2 / 3, 1 / 3, 1 / 3])
    rows = np.array([[0.0, 0.5, 0.5], [1, 0, 0], [0.5, 0.0, 0.5], [0, 1, 0]])
    value = softmax_cross_entropy(z, rows, reduction="none")
    np.testing.assert_allclose(value[:3], [np.log(2), np.log(3), np.log1p(np.e) - 0.5])
    assert value[3] == np.inf
    # Smoothing puts mass on the impossible class: infinite; a mask removes it.
    assert softmax_cross_entropy(z[2:3], [0], label_smoothing=0.1) == np.inf
    assert softmax_cross_entropy(z, ids, mask=[True, True, True, False]) == pytest.approx(
        np.mean([np.log(2), np.log(3), np.log1p(np.e)])
    )


def test_rows_not_summing_to_one_exactly_keep_an_exact_gradient(numeric_grad):
    rows = PROB_ROWS * (1 + 1e-10)
    _, grad = softmax_cross_entropy_value_and_grad(LOGITS, rows, reduction="sum")
    expected = numeric_grad(lambda v: softmax_cross_entropy(v, rows, reduction="sum"), LOGITS)
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-9)


def test_class_matches_function():
    loss = SoftmaxCrossEntropy(label_smoothing=0.1, reduction="weighted_mean", axis=0)
    value, grad = loss.value_and_grad(LOGITS.T, IDS, weight=WEIGHT)
    expected = softmax_cross_entropy_value_and_grad(
        LOGITS.T, IDS, weight=WEIGHT, label_smoothing=0.1, reduction="weighted_mean", axis=0
    )
    assert value == expected[0] == loss(LOGITS.T, IDS, weight=WEIGHT)
    np.testing.assert_array_equal(grad, expected[1])
    assert "axis=0" in repr(loss)


class TestTorchOracle:
    torch = pytest.importorskip("torch")

    @pytest.mark.parametrize("target_kind", TARGETS)
    @pytest.mark.parametrize("s", [0.0, 0.1, 0.5])
    @pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
    def test_cross_entropy(self, target_kind, s, reduction):
        y = TARGETS[target_kind]
        zt = self.torch.tensor(LOGITS, requires_grad=True)
        value_t = self.torch.nn.functional.cross_entropy(
            zt, self.torch.tensor(y), label_smoothing=s, reduction=reduction
        )
        value_t.sum().backward()
        value, grad = softmax_cross_entropy_value_and_grad(
            LOGITS, y, label_smoothing=s, reduction=reduction
        )
        np.testing.assert_allclose(value, value_t.detach().numpy(), rtol=1e-13)
        np.testing.assert_allclose(grad, zt.grad.numpy(), rtol=1e-12, atol=1e-16)
