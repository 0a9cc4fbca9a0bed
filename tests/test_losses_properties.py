"""Properties that hold for every input: hypothesis searches for counter-examples."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from bcekit.losses import (
    binary_cross_entropy,
    binary_cross_entropy_value_and_grad,
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_value_and_grad,
    sigmoid_focal_loss_value_and_grad,
    softmax_cross_entropy,
    softmax_cross_entropy_value_and_grad,
)

pytestmark = pytest.mark.filterwarnings("error")
settings.register_profile("losses", max_examples=40, deadline=None)
PROFILE = settings.get_profile("losses")

sizes = st.integers(1, 12)
any_logit = st.floats(allow_nan=False)  # includes ±inf and huge values
moderate_logit = st.floats(-30.0, 30.0)
unit = st.floats(0.0, 1.0)
smoothing = st.sampled_from([0.0, 0.1, 0.5])
pos_weights = st.one_of(st.none(), st.floats(0.0, 10.0))


@st.composite
def binary_batch(draw, logits=moderate_logit, hard=False):
    n = draw(sizes)
    z = draw(hnp.arrays(np.float64, n, elements=logits))
    y = draw(hnp.arrays(np.float64, n, elements=st.sampled_from([0.0, 1.0]) if hard else unit))
    return z, y


@PROFILE
@given(binary_batch(logits=any_logit), pos_weights, smoothing, st.floats(0.0, 5.0))
def test_losses_are_non_negative_and_gradients_finite(batch, pw, s, gamma):
    z, y = batch
    for value, grad in (
        binary_cross_entropy_with_logits_value_and_grad(
            z, y, pos_weight=pw, label_smoothing=s, reduction="none"
        ),
        sigmoid_focal_loss_value_and_grad(z, y, gamma=gamma, label_smoothing=s, reduction="none"),
    ):
        assert np.all(value >= 0.0)  # also false for NaN
        assert np.all(np.isfinite(grad))
    p = 1.0 / (1.0 + np.exp(-np.clip(z, -700, 700)))
    value, grad = binary_cross_entropy_value_and_grad(p, y, pos_weight=pw, reduction="none")
    assert np.all(value >= 0.0) and np.all(np.isfinite(grad))


@PROFILE
@given(binary_batch(hard=True), pos_weights)
def test_perfect_predictions_cost_nothing(batch, pw):
    _, y = batch
    value, grad = binary_cross_entropy_value_and_grad(y, y, pos_weight=pw, reduction="none")
    assert np.all(value == 0.0) and np.all(grad == 0.0)
    z = np.where(y == 1.0, np.inf, -np.inf)
    value, grad = binary_cross_entropy_with_logits_value_and_grad(
        z, y, pos_weight=pw, reduction="none"
    )
    assert np.all(value == 0.0) and np.all(grad == 0.0)
    value, grad = sigmoid_focal_loss_value_and_grad(z, y, reduction="none")
    assert np.all(value == 0.0) and np.all(grad == 0.0)


def _second_difference(f, h):
    return f(-h) + f(h) - 2.0 * f(0.0)


@PROFILE
@given(binary_batch(), pos_weights, smoothing, st.floats(1e-3, 5.0))
def test_bce_is_convex_in_the_logit(batch, pw, s, h):
    z, y = batch

    def f(shift):
        return binary_cross_entropy_with_logits(
            z + shift, y, pos_weight=pw, label_smoothing=s, reduction="none"
        )

    size = np.abs(f(-h)) + np.abs(f(h)) + 2 * np.abs(f(0.0))
    assert np.all(_second_difference(f, h) >= -1e-14 * (1.0 + size))


@PROFILE
@given(
    hnp.arrays(np.float64, st.tuples(sizes, st.integers(2, 5)), elements=moderate_logit),
    st.data(),
    st.floats(1e-3, 5.0),
)
def test_softmax_ce_is_convex_along_any_direction(z, data, h):
    ids = data.draw(hnp.arrays(np.int64, z.shape[0], elements=st.integers(0, z.shape[1] - 1)))
    direction = data.draw(hnp.arrays(np.float64, z.shape, elements=st.floats(-1.0, 1.0)))

    def f(shift):
        return softmax_cross_entropy(z + shift * direction, ids, reduction="none")

    size = np.abs(f(-h)) + np.abs(f(h)) + 2 * np.abs(f(0.0))
    assert np.all(_second_difference(f, h) >= -1e-13 * (1.0 + size))


@PROFILE
@given(binary_batch(logits=st.floats(-15.0, 15.0)), pos_weights, smoothing)
def test_logits_path_equals_probability_path_on_the_sigmoid(batch, pw, s):
    z, y = batch
    p = 1.0 / (1.0 + np.exp(-z))
    kw = {"pos_weight": pw, "label_smoothing": s, "reduction": "none"}
    from_logits, grad_z = binary_cross_entropy_with_logits_value_and_grad(z, y, **kw)
    from_probs, grad_p = binary_cross_entropy_value_and_grad(p, y, **kw)
    np.testing.assert_allclose(from_logits, from_probs, rtol=1e-8, atol=1e-12)
    # Chain rule: ∂ℓ/∂z = ∂ℓ/∂p · p(1 − p).
    np.testing.assert_allclose(grad_z, grad_p * p * (1 - p), rtol=1e-6, atol=1e-12)


@PROFILE
@given(binary_batch(logits=any_logit), smoothing, st.sampled_from(["mean", "sum", "none"]))
def test_pos_weight_one_is_no_pos_weight(batch, s, reduction):
    z, y = batch
    kw = {"label_smoothing": s, "reduction": reduction}
    with_one = binary_cross_entropy_with_logits_value_and_grad(z, y, pos_weight=1.0, **kw)
    without = binary_cross_entropy_with_logits_value_and_grad(z, y, **kw)
    np.testing.assert_array_equal(with_one[0], without[0])
    np.testing.assert_array_equal(with_one[1], without[1])


@PROFILE
@given(binary_batch(), st.data(), pos_weights, smoothing)
def test_mask_is_subsetting(batch, data, pw, s):
    z, y = batch
    mask = data.draw(hnp.arrays(np.bool_, z.shape).filter(np.any))
    w = data.draw(hnp.arrays(np.float64, z.shape, elements=st.floats(0.1, 3.0)))
    for reduction in ("mean", "weighted_mean", "sum"):
        kw = {"weight": w, "pos_weight": pw, "label_smoothing": s, "reduction": reduction}
        masked = binary_cross_entropy_with_logits_value_and_grad(z, y, mask=mask, **kw)
        kw["weight"] = w[mask]
        subset = binary_cross_entropy_with_logits_value_and_grad(z[mask], y[mask], **kw)
        np.testing.assert_allclose(masked[0], subset[0], rtol=1e-12)
        np.testing.assert_allclose(masked[1][mask], subset[1], rtol=1e-12)
        assert np.all(masked[1][~mask] == 0.0)


@PROFILE
@given(binary_batch(hard=True), st.data())
def test_weighted_mean_is_sklearn_log_loss(batch, data):
    from sklearn.metrics import log_loss

    _, y = batch
    p = data.draw(hnp.arrays(np.float64, y.shape, elements=st.floats(1e-3, 1 - 1e-3)))
    w = data.draw(hnp.arrays(np.float64, y.shape, elements=st.floats(0.0, 10.0)).filter(np.any))
    ours = binary_cross_entropy(p, y, weight=w, reduction="weighted_mean")
    assert ours == pytest.approx(log_loss(y, p, sample_weight=w, labels=[0, 1]), rel=1e-10)


@PROFILE
@given(binary_batch(logits=any_logit), smoothing, st.sampled_from(["mean", "sum", "none"]))
def test_focal_with_gamma_zero_and_no_alpha_is_bce(batch, s, reduction):
    z, y = batch
    kw = {"label_smoothing": s, "reduction": reduction}
    focal = sigmoid_focal_loss_value_and_grad(z, y, gamma=0.0, alpha=None, **kw)
    bce = binary_cross_entropy_with_logits_value_and_grad(z, y, **kw)
    # Two implementations (NumPy for focal, the fused kernel for BCE): equal to a few ulp.
    np.testing.assert_allclose(focal[0], bce[0], rtol=1e-13, atol=0.0)
    # The gradient sigmoid(z) - y cancels when both are near 0.5: a few ulp of 1 (the size of
    # its terms) is the bound there, scaled by 1/N like the gradient under "mean".
    ulps = 4 * np.finfo(np.float64).eps / (z.size if reduction == "mean" else 1)
    np.testing.assert_allclose(focal[1], bce[1], rtol=1e-13, atol=ulps)


@PROFILE
@given(
    hnp.arrays(
        np.float32, st.tuples(sizes, st.integers(1, 4)), elements=st.floats(-20, 20, width=32)
    ),
    st.data(),
)
def test_float32_stays_float32(z, data):
    y = data.draw(hnp.arrays(np.float32, z.shape, elements=st.floats(0, 1, width=32)))
    for value_and_grad in (
        binary_cross_entropy_with_logits_value_and_grad,
        sigmoid_focal_loss_value_and_grad,
    ):
        value, grad = value_and_grad(z, y)
        assert isinstance(value, float) and grad.dtype == np.float32
    value, grad = softmax_cross_entropy_value_and_grad(z, np.zeros(z.shape[0], dtype=np.int64))
    assert isinstance(value, float) and grad.dtype == np.float32
