"""Binary cross-entropy on probabilities and on logits: gradients, reductions, oracles."""

from __future__ import annotations

import numpy as np
import pytest

from bcekit import losses
from bcekit.losses import (
    binary_cross_entropy,
    binary_cross_entropy_value_and_grad,
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_value_and_grad,
)
from losses_support import REDUCTIONS, soft_and_hard_targets

pytestmark = pytest.mark.filterwarnings("error")

RNG = np.random.default_rng(20240611)
SHAPE = (4, 3)
LOGITS = RNG.normal(0.0, 2.0, SHAPE)
PROBS = RNG.uniform(0.05, 0.95, SHAPE)
TARGETS = soft_and_hard_targets(RNG, SHAPE)
WEIGHT = RNG.uniform(0.0, 2.0, SHAPE)
WEIGHT[0, 0] = 0.0
MASK = RNG.uniform(size=SHAPE) < 0.7
KNOBS = {
    "plain": {},
    "weight": {"weight": WEIGHT},
    "row_weight": {"weight": RNG.uniform(0.5, 2.0, (SHAPE[0], 1))},
    "pos_weight_scalar": {"pos_weight": 2.5},
    "pos_weight_vector": {"pos_weight": [0.5, 1.0, 3.0]},
    "pos_weight_full": {"pos_weight": RNG.uniform(0.2, 3.0, SHAPE)},
    "smoothing": {"label_smoothing": 0.1},
    "mask": {"mask": MASK},
    "column_mask": {"mask": np.array([True, False, True])},
    "everything": {
        "weight": WEIGHT,
        "pos_weight": [2.0, 0.5, 1.5],
        "label_smoothing": 0.2,
        "mask": MASK,
    },
}
PATHS = {
    "logits": (binary_cross_entropy_with_logits, binary_cross_entropy_with_logits_value_and_grad),
    "probs": (binary_cross_entropy, binary_cross_entropy_value_and_grad),
}
PREDICTIONS = {"logits": LOGITS, "probs": PROBS}


def reference_elementwise(p, y, pos_weight=1.0, label_smoothing=0.0):
    """−[pw·y·log p + (1−y)·log(1−p)] written out, for p away from 0 and 1."""
    y = y * (1 - label_smoothing) + label_smoothing / 2
    return -(pos_weight * y * np.log(p) + (1 - y) * np.log(1 - p))


def reference_reduced(per_element, weight, mask, reduction):
    w = np.broadcast_to(1.0 if weight is None else weight, per_element.shape)
    m = np.broadcast_to(True if mask is None else mask, per_element.shape)
    weighted = np.where(m, w * per_element, 0.0)
    if reduction == "none":
        return weighted
    if reduction == "sum":
        return weighted.sum()
    if reduction == "mean":
        return weighted.sum() / m.sum()
    return weighted.sum() / np.where(m, w, 0.0).sum()


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("target_kind", TARGETS)
@pytest.mark.parametrize("knob", KNOBS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradient_matches_central_differences(path, target_kind, knob, reduction, numeric_grad):
    value_fn, value_and_grad = PATHS[path]
    x, y, kw = PREDICTIONS[path], TARGETS[target_kind], {**KNOBS[knob], "reduction": reduction}
    value, grad = value_and_grad(x, y, **kw)
    expected = numeric_grad(lambda v: float(np.sum(value_fn(v, y, **kw))), x)
    np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-9)
    assert grad.shape == x.shape and grad.dtype == np.float64
    np.testing.assert_array_equal(value, value_fn(x, y, **kw))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("knob", KNOBS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_value_matches_written_out_formula(path, knob, reduction):
    value_fn, _ = PATHS[path]
    kw = KNOBS[knob]
    y = TARGETS["soft"]
    p = PROBS if path == "probs" else 1.0 / (1.0 + np.exp(-LOGITS))
    per_element = reference_elementwise(
        p, y, np.asarray(kw.get("pos_weight", 1.0)), kw.get("label_smoothing", 0.0)
    )
    expected = reference_reduced(per_element, kw.get("weight"), kw.get("mask"), reduction)
    got = value_fn(PREDICTIONS[path], y, **kw, reduction=reduction)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("knob", ["plain", "weight", "pos_weight_vector", "everything"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_float32_agrees_with_float64(path, knob, reduction):
    _, value_and_grad = PATHS[path]
    x, y, kw = PREDICTIONS[path], TARGETS["soft"], {**KNOBS[knob], "reduction": reduction}
    v64, _ = value_and_grad(x.astype(np.float64), y, **kw)
    v32, g32 = value_and_grad(x.astype(np.float32), y.astype(np.float32), **kw)
    assert g32.dtype == np.float32
    # The float32 inputs are rounded copies: compare against float64 on those same values.
    v64r, g64r = value_and_grad(x.astype(np.float32).astype(np.float64), y.astype(np.float32), **kw)
    np.testing.assert_allclose(v32, v64r, rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(g32, g64r, rtol=2e-6, atol=1e-7 * np.max(np.abs(g64r)))
    np.testing.assert_allclose(v64r, v64, rtol=1e-5)


@pytest.mark.parametrize("path", PATHS)
def test_dtypes(path):
    value_fn, value_and_grad = PATHS[path]
    x = PREDICTIONS[path]
    value, grad = value_and_grad(x.astype(np.float32), TARGETS["hard"])
    assert type(value) is float and grad.dtype == np.float32
    assert value_fn(x.astype(np.float32), TARGETS["hard"], reduction="none").dtype == np.float32
    ints = np.array([[0, 1], [1, 1]])
    value, grad = value_and_grad(ints, ints.astype(bool))
    assert grad.dtype == np.float64
    assert value == pytest.approx(value_fn(ints.astype(np.float64), ints.astype(np.float64)))


@pytest.mark.parametrize("path", PATHS)
def test_inputs_are_not_modified(path):
    _, value_and_grad = PATHS[path]
    x, y, w = PREDICTIONS[path].copy(), TARGETS["soft"].copy(), WEIGHT.copy()
    _, grad = value_and_grad(x, y, weight=w, label_smoothing=0.1, reduction="none")
    grad += 1.0
    np.testing.assert_array_equal(x, PREDICTIONS[path])
    np.testing.assert_array_equal(y, TARGETS["soft"])
    np.testing.assert_array_equal(w, WEIGHT)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nothing_counted_gives_zero(path, reduction):
    value_fn, value_and_grad = PATHS[path]
    nothing = np.zeros(SHAPE, dtype=bool)
    value, grad = value_and_grad(
        PREDICTIONS[path], TARGETS["soft"], mask=nothing, reduction=reduction
    )
    assert np.all(np.asarray(value) == 0.0)
    assert np.all(grad == 0.0)
    zero_weight = np.zeros(SHAPE)
    value = value_fn(PREDICTIONS[path], TARGETS["soft"], weight=zero_weight, reduction=reduction)
    assert np.all(np.asarray(value) == 0.0)


def test_masked_elements_are_zero_with_reduction_none():
    value, grad = binary_cross_entropy_with_logits_value_and_grad(
        LOGITS, TARGETS["soft"], mask=MASK, reduction="none"
    )
    assert np.all(value[~MASK] == 0.0) and np.all(value[MASK] > 0.0)
    assert np.all(grad[~MASK] == 0.0) and np.all(grad[MASK] != 0.0)


def test_zero_weight_cancels_an_infinite_loss():
    z = np.array([-np.inf, 1.0])
    y = np.array([1.0, 1.0])
    assert binary_cross_entropy_with_logits(z, y, reduction="sum") == np.inf
    value = binary_cross_entropy_with_logits(z, y, weight=[0.0, 1.0], reduction="sum")
    assert value == pytest.approx(np.log1p(np.exp(-1.0)))
    value = binary_cross_entropy_with_logits(z, y, mask=[False, True], reduction="none")
    assert value[0] == 0.0


def test_empty_input_with_sum_and_none():
    empty = np.zeros((0, 3))
    assert binary_cross_entropy_with_logits(empty, empty, reduction="sum") == 0.0
    assert binary_cross_entropy(empty, empty, reduction="none").shape == (0, 3)


def test_scalar_inputs():
    value, grad = binary_cross_entropy_with_logits_value_and_grad(2.0, 1.0)
    assert value == pytest.approx(np.log1p(np.exp(-2.0)))
    assert grad.shape == () and grad == pytest.approx(1 / (1 + np.exp(-2.0)) - 1.0)
    value = binary_cross_entropy(0.25, 0.0, reduction="none")
    assert value.shape == () and value == pytest.approx(-np.log(0.75))


# Worked examples: -ln(p) for y = 1, -ln(1 - p) for y = 0, to the digits shown.
WORKED = [(0.9, 0.105, 3), (0.1, 2.302, 3), (0.72, 0.33, 2)]


@pytest.mark.parametrize(("p", "expected", "digits"), WORKED)
def test_worked_examples(p, expected, digits):
    tolerance = 10.0**-digits
    logit = np.log(p / (1 - p))
    assert binary_cross_entropy(p, 1.0) == pytest.approx(expected, abs=tolerance)
    assert binary_cross_entropy(1 - p, 0.0) == pytest.approx(expected, abs=tolerance)
    assert binary_cross_entropy_with_logits(logit, 1.0) == pytest.approx(expected, abs=tolerance)
    assert binary_cross_entropy_with_logits(-logit, 0.0) == pytest.approx(expected, abs=tolerance)


def test_probability_path_at_zero_and_one():
    p = np.array([0.0, 1.0, 0.0, 1.0])
    y = np.array([1.0, 0.0, 0.0, 1.0])
    value, grad = binary_cross_entropy_value_and_grad(p, y, reduction="none")
    np.testing.assert_array_equal(value, [100.0, 100.0, 0.0, 0.0])
    assert np.all(np.isfinite(grad))
    eps = float(np.float32(1e-12))
    np.testing.assert_allclose(grad, [-1 / eps, 1 / eps, 0.0, 0.0], rtol=1e-15)


def test_pos_weight_multiplies_only_the_positive_term():
    z = np.array([1.5, -0.5])
    plain = binary_cross_entropy_with_logits(z, [1.0, 0.0], reduction="none")
    weighted = binary_cross_entropy_with_logits(z, [1.0, 0.0], pos_weight=3.0, reduction="none")
    np.testing.assert_allclose(weighted, [3.0 * plain[0], plain[1]], rtol=1e-15)


def test_classes_match_functions():
    kw = {"pos_weight": [1.0, 2.0, 0.5], "label_smoothing": 0.05, "reduction": "weighted_mean"}
    loss = losses.BinaryCrossEntropyWithLogits(**kw)
    y = TARGETS["soft"]
    value, grad = loss.value_and_grad(LOGITS, y, weight=WEIGHT, mask=MASK)
    expected = binary_cross_entropy_with_logits_value_and_grad(
        LOGITS, y, weight=WEIGHT, mask=MASK, **kw
    )
    assert value == expected[0] == loss(LOGITS, y, weight=WEIGHT, mask=MASK)
    np.testing.assert_array_equal(grad, expected[1])
    probs_loss = losses.BinaryCrossEntropy(**kw)
    expected = binary_cross_entropy_value_and_grad(PROBS, y, **kw)
    assert probs_loss(PROBS, y) == expected[0]
    np.testing.assert_array_equal(probs_loss.value_and_grad(PROBS, y)[1], expected[1])
    assert "label_smoothing=0.05" in repr(loss)


class TestTorchOracle:
    torch = pytest.importorskip("torch")
    F = torch.nn.functional

    def _grad_of(self, fn, x, *args, **kw):
        t = self.torch.tensor(x, requires_grad=True)
        value = fn(t, *args, **kw)
        value.backward(self.torch.ones_like(value))
        return value.detach().numpy(), t.grad.numpy()

    @pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
    @pytest.mark.parametrize("knob", ["plain", "weight", "row_weight", "pos_weight_vector",
                                      "pos_weight_full", "pos_weight_scalar"])  # fmt: skip
    def test_logits(self, reduction, knob):
        kw = KNOBS[knob]
        y = TARGETS["soft"]
        extra = {}
        if "weight" in kw:
            extra["weight"] = self.torch.tensor(np.asarray(kw["weight"]))
        if "pos_weight" in kw:
            extra["pos_weight"] = self.torch.tensor(np.asarray(kw["pos_weight"], dtype=float))
        value_t, grad_t = self._grad_of(
            self.F.binary_cross_entropy_with_logits, LOGITS, self.torch.tensor(y),
            reduction=reduction, **extra,
        )  # fmt: skip
        value, grad = binary_cross_entropy_with_logits_value_and_grad(
            LOGITS, y, reduction=reduction, **kw
        )
        np.testing.assert_allclose(value, value_t, rtol=1e-13)
        np.testing.assert_allclose(grad, grad_t, rtol=1e-12, atol=1e-16)

    @pytest.mark.parametrize("dtype", [np.float64, np.float32])
    @pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
    def test_probabilities_including_zero_and_one(self, dtype, reduction):
        p = PROBS.astype(dtype)
        p[0, :2] = [0.0, 1.0]
        p[1, :2] = [1.0, 0.0]
        y = TARGETS["hard"].astype(dtype)
        y[0, :2] = [1.0, 0.0]
        y[1, :2] = [1.0, 0.0]
        w = WEIGHT.astype(dtype)
        value_t, grad_t = self._grad_of(
            self.F.binary_cross_entropy, p, self.torch.tensor(y),
            weight=self.torch.tensor(w), reduction=reduction,
        )  # fmt: skip
        value, grad = binary_cross_entropy_value_and_grad(p, y, weight=w, reduction=reduction)
        rtol = 1e-13 if dtype == np.float64 else 1e-6
        np.testing.assert_allclose(value, value_t, rtol=rtol)
        np.testing.assert_allclose(grad, grad_t, rtol=rtol)
        assert grad.dtype == dtype
