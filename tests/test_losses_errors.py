"""Every kind of bad input gives a ValueError that names the argument and what was expected."""

from __future__ import annotations

import numpy as np
import pytest

from bcekit.losses import (
    BinaryCrossEntropy,
    BinaryCrossEntropyWithLogits,
    SigmoidFocalLoss,
    SoftmaxCrossEntropy,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    sigmoid_focal_loss,
    softmax_cross_entropy,
)

Z = np.array([[0.5, -1.0, 2.0], [0.0, 3.0, -0.5]])
P = np.array([[0.5, 0.1, 0.9], [0.2, 0.7, 0.3]])
Y = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])

# (function, its predictions, the name they go by in messages)
BINARY = [
    pytest.param(binary_cross_entropy_with_logits, Z, "logits", id="bce_logits"),
    pytest.param(binary_cross_entropy, P, "probs", id="bce_probs"),
    pytest.param(sigmoid_focal_loss, Z, "logits", id="focal"),
]


def _nan_at(a):
    a = np.array(a, dtype=float)
    a.flat[1] = np.nan
    return a


def _inf_at(a):
    a = np.array(a, dtype=float)
    a.flat[1] = np.inf
    return a


@pytest.mark.parametrize(("loss", "x", "name"), BINARY)
class TestBinaryLosses:
    def test_shapes_that_do_not_broadcast(self, loss, x, name):
        with pytest.raises(ValueError, match=r"targets must broadcast to the shape of .* \(2, 3\)"):
            loss(x, np.ones(4))
        with pytest.raises(ValueError, match="targets must broadcast"):
            loss(x[:, :1], Y)  # would silently broadcast the predictions up to (2, 3)
        with pytest.raises(ValueError, match=r"weight must broadcast .*got shape \(2,\)"):
            loss(x, Y, weight=[1.0, 2.0])
        with pytest.raises(ValueError, match="mask must broadcast"):
            loss(x, Y, mask=np.ones((3, 3), dtype=bool))

    def test_nan_anywhere(self, loss, x, name):
        with pytest.raises(ValueError, match=f"{name} must not contain NaN; got 1 NaN"):
            loss(_nan_at(x), Y)
        with pytest.raises(ValueError, match="targets must not contain NaN"):
            loss(x, _nan_at(Y))
        with pytest.raises(ValueError, match="weight must not contain NaN"):
            loss(x, Y, weight=_nan_at(np.ones(3)))

    def test_infinity_outside_the_logits(self, loss, x, name):
        with pytest.raises(ValueError, match="targets must be finite"):
            loss(x, _inf_at(Y))
        with pytest.raises(ValueError, match="weight must be finite"):
            loss(x, Y, weight=_inf_at(np.ones(3)))

    def test_targets_outside_unit_interval(self, loss, x, name):
        with pytest.raises(
            ValueError, match=r"targets must lie in \[0, 1\]; got values in \[-0.5, 1\]"
        ):
            loss(x, [[-0.5, 1.0, 0.0], [0.0, 1.0, 0.0]])
        with pytest.raises(
            ValueError, match=r"targets must lie in \[0, 1\]; got values in \[0, 2\]"
        ):
            loss(x, 2 * Y)

    def test_negative_weights(self, loss, x, name):
        with pytest.raises(ValueError, match=r"weight must be >= 0; got values in \[-1, 1\]"):
            loss(x, Y, weight=[1.0, -1.0, 1.0])

    @pytest.mark.parametrize("reduction", ["mean", "weighted_mean"])
    def test_empty_input_with_a_mean(self, loss, x, name, reduction):
        with pytest.raises(
            ValueError, match=f"{name} must not be empty with reduction='{reduction}'"
        ):
            loss(np.zeros((0, 3)), np.zeros((0, 3)), reduction=reduction)

    @pytest.mark.parametrize("reduction", ["avg", "MEAN", None, 1])
    def test_unknown_reduction(self, loss, x, name, reduction):
        with pytest.raises(ValueError, match="reduction must be one of 'mean', 'weighted_mean'"):
            loss(x, Y, reduction=reduction)

    @pytest.mark.parametrize("s", [-0.1, 1.0, 1.5, float("nan"), "0.1", True])
    def test_label_smoothing_outside_zero_one(self, loss, x, name, s):
        with pytest.raises(ValueError, match="label_smoothing must"):
            loss(x, Y, label_smoothing=s)

    @pytest.mark.parametrize(
        "bad", [np.array([1 + 2j, 0.5]), np.array(["a", "b"]), np.array([None, 1.0]), "text"]
    )
    def test_non_numeric_dtypes(self, loss, x, name, bad):
        with pytest.raises(ValueError, match=f"{name} must have a real numeric dtype"):
            loss(bad, [1.0, 0.0])
        with pytest.raises(ValueError, match="targets must have a real numeric dtype"):
            loss(x[0, :2], bad)

    def test_ragged_input(self, loss, x, name):
        with pytest.raises(ValueError, match=f"{name} must be an array-like of numbers"):
            loss([[0.5, 0.5], [0.5]], [1.0, 0.0])

    def test_mask_not_boolean(self, loss, x, name):
        with pytest.raises(ValueError, match=r"mask must be a boolean array.*got dtype int64"):
            loss(x, Y, mask=np.ones((2, 3), dtype=np.int64))


def test_probabilities_outside_unit_interval_or_infinite():
    with pytest.raises(ValueError, match=r"probs must lie in \[0, 1\]; got values in \[0.1, 1.5\]"):
        binary_cross_entropy([0.1, 1.5], [1.0, 0.0])
    with pytest.raises(ValueError, match="probs must be finite"):
        binary_cross_entropy([0.1, np.inf], [1.0, 0.0])


@pytest.mark.parametrize("loss", [binary_cross_entropy_with_logits, binary_cross_entropy])
def test_pos_weight(loss):
    x = P
    with pytest.raises(ValueError, match=r"pos_weight must be >= 0; got values in \[-2, -2\]"):
        loss(x, Y, pos_weight=-2.0)
    with pytest.raises(ValueError, match="pos_weight must not contain NaN"):
        loss(x, Y, pos_weight=[1.0, np.nan, 1.0])
    with pytest.raises(ValueError, match="pos_weight must be finite"):
        loss(x, Y, pos_weight=np.inf)
    with pytest.raises(ValueError, match=r"pos_weight must broadcast .*got shape \(2,\)"):
        loss(x, Y, pos_weight=[1.0, 2.0])


def test_infinite_logits_are_allowed():
    z = np.array([np.inf, -np.inf])
    assert binary_cross_entropy_with_logits(z, [1.0, 0.0]) == 0.0
    assert sigmoid_focal_loss(z, [1.0, 0.0]) == 0.0


@pytest.mark.parametrize("gamma", [-0.5, np.inf, np.nan, "2", None])
def test_focal_gamma(gamma):
    with pytest.raises(ValueError, match="gamma must"):
        sigmoid_focal_loss(Z, Y, gamma=gamma)
    with pytest.raises(ValueError, match="gamma must"):
        SigmoidFocalLoss(gamma=gamma)


@pytest.mark.parametrize("alpha", [-0.1, 1.1, np.nan])
def test_focal_alpha(alpha):
    with pytest.raises(ValueError, match=r"alpha must lie in \[0, 1\]"):
        sigmoid_focal_loss(Z, Y, alpha=alpha)
    with pytest.raises(ValueError, match=r"alpha must lie in \[0, 1\]"):
        SigmoidFocalLoss(alpha=alpha)


def test_classes_check_their_keywords_when_built():
    with pytest.raises(ValueError, match="label_smoothing must"):
        BinaryCrossEntropyWithLogits(label_smoothing=1.0)
    with pytest.raises(ValueError, match="reduction must be one of"):
        BinaryCrossEntropy(reduction="avg")
    with pytest.raises(ValueError, match="pos_weight must be >= 0"):
        BinaryCrossEntropyWithLogits(pos_weight=[1.0, -1.0])
    with pytest.raises(ValueError, match="axis must be an integer"):
        SoftmaxCrossEntropy(axis=1.0)
    with pytest.raises(ValueError, match="reduction must be one of"):
        SoftmaxCrossEntropy(reduction="total")


class TestSoftmax:
    ids = np.array([0, 2])

    def test_class_ids_out_of_range(self):
        with pytest.raises(
            ValueError, match=r"targets must be class ids in \[0, 3\); got values in \[0, 3\]"
        ):
            softmax_cross_entropy(Z, [0, 3])
        with pytest.raises(
            ValueError, match=r"targets must be class ids in \[0, 3\); got values in \[-1, 0\]"
        ):
            softmax_cross_entropy(Z, [-1, 0])

    def test_class_ids_not_integer(self):
        with pytest.raises(ValueError, match=r"targets must have an integer dtype .*got float64"):
            softmax_cross_entropy(Z, [0.0, 2.0])

    def test_targets_of_the_wrong_shape(self):
        with pytest.raises(
            ValueError,
            match=r"targets must be class ids of shape \(2,\) or probability rows of shape "
            r"\(2, 3\); got shape \(3,\)",
        ):
            softmax_cross_entropy(Z, [0, 1, 2])

    def test_probability_rows(self):
        with pytest.raises(
            ValueError, match=r"targets must have rows summing to 1 .*got a row off by 0.5"
        ):
            softmax_cross_entropy(Z, [[0.5, 0.0, 0.0], [0.0, 0.0, 1.0]])
        with pytest.raises(ValueError, match=r"targets must lie in \[0, 1\]"):
            softmax_cross_entropy(Z, [[1.5, -0.5, 0.0], [0.0, 0.0, 1.0]])
        with pytest.raises(ValueError, match="targets must not contain NaN"):
            softmax_cross_entropy(Z, [[np.nan, 0.5, 0.5], [0.0, 0.0, 1.0]])

    def test_axis(self):
        with pytest.raises(ValueError, match=r"axis must lie in \[-2, 2\) for 2-d logits; got 2"):
            softmax_cross_entropy(Z, self.ids, axis=2)
        with pytest.raises(ValueError, match="axis must be an integer; got 'last'"):
            softmax_cross_entropy(Z, self.ids, axis="last")

    def test_logits(self):
        with pytest.raises(ValueError, match="logits must have at least one dimension"):
            softmax_cross_entropy(1.0, 0)
        with pytest.raises(ValueError, match="logits must have at least one class along axis 1"):
            softmax_cross_entropy(np.zeros((2, 0)), self.ids)
        with pytest.raises(ValueError, match="logits must not contain NaN"):
            softmax_cross_entropy(_nan_at(Z), self.ids)
        with pytest.raises(ValueError, match="logits must have a real numeric dtype"):
            softmax_cross_entropy(Z.astype(complex), self.ids)
        with pytest.raises(ValueError, match=r"logits must not be empty with reduction='mean'"):
            softmax_cross_entropy(np.zeros((0, 3)), np.zeros(0, dtype=int))

    def test_weight_mask_and_knobs(self):
        with pytest.raises(
            ValueError, match=r"weight must broadcast to the shape of row losses \(2,\)"
        ):
            softmax_cross_entropy(Z, self.ids, weight=np.ones(3))
        with pytest.raises(ValueError, match="weight must be >= 0"):
            softmax_cross_entropy(Z, self.ids, weight=[1.0, -1.0])
        with pytest.raises(ValueError, match="mask must be a boolean array"):
            softmax_cross_entropy(Z, self.ids, mask=[1, 0])
        with pytest.raises(ValueError, match="label_smoothing must"):
            softmax_cross_entropy(Z, self.ids, label_smoothing=1.0)
        with pytest.raises(ValueError, match="reduction must be one of"):
            softmax_cross_entropy(Z, self.ids, reduction="avg")


def _large(dtype, n=(1 << 17) + 3):
    rng = np.random.default_rng(5)
    return rng.normal(0.0, 3.0, n).astype(dtype), (rng.random(n) < 0.5).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "none"])
class TestChecksOnTheKernelsWay:
    """Plain float inputs are checked by the fused pass itself; the errors stay the same."""

    def test_nan_logits_last(self, dtype, reduction):
        z, y = _large(dtype)
        z[-1] = np.nan
        loss = BinaryCrossEntropyWithLogits(reduction=reduction)
        with pytest.raises(ValueError, match="logits must not contain NaN; got 1 NaN values"):
            loss.value_and_grad(z, y)
        with pytest.raises(ValueError, match="logits must not contain NaN"):
            loss(z, y)

    @pytest.mark.parametrize("bad", [1.5, -0.25, np.inf, -np.inf, np.nan, 1.0000001])
    def test_targets_out_of_range_last(self, dtype, reduction, bad):
        z, y = _large(dtype)
        y[-1] = bad
        if dtype == np.float32 and bad == 1.0000001:
            y[-1] = np.nextafter(np.float32(1.0), np.float32(2.0))
        with pytest.raises(ValueError, match="targets must"):
            binary_cross_entropy_with_logits(z, y, reduction=reduction, pos_weight=2.0)

    def test_logits_are_named_before_targets(self, dtype, reduction):
        z, y = _large(dtype)
        z[0] = np.nan
        y[-1] = 2.0
        with pytest.raises(ValueError, match="logits must not contain NaN"):
            binary_cross_entropy_with_logits(z, y, reduction=reduction)

    def test_negative_zero_and_infinite_logits_pass(self, dtype, reduction):
        z, y = _large(dtype)
        y[:2] = -0.0
        z[:2] = [np.inf, -np.inf]
        value = binary_cross_entropy_with_logits(z, y, reduction=reduction)
        assert np.max(value) == np.inf  # +inf logit with target 0: the limit, not an error
