"""gradcheck itself, and whole networks composed with losses."""

from __future__ import annotations

import numpy as np
import pytest

from bcekit.nn import (
    Dense,
    GradcheckError,
    Layer,
    Parameter,
    Sequential,
    Sigmoid,
    gradcheck,
    gradcheck_model,
    mlp,
    numerical_gradient,
)

RNG = np.random.default_rng(7)


class SumOfSquares:
    """``L = ½ Σ (pred − y)²``, ``∂L/∂pred = pred − y``."""

    def value_and_grad(self, pred, targets):
        diff = pred - targets
        return 0.5 * float(np.sum(diff * diff)), diff


class Scale(Layer):
    """``y = a·x`` with a deliberately wrong input or parameter gradient."""

    def __init__(self, wrong_input=False, wrong_param=False):
        super().__init__()
        self.a = Parameter(np.array([1.5]), "a")
        self.params = {"a": self.a}
        self.wrong_input, self.wrong_param = wrong_input, wrong_param

    def forward(self, x):
        self._x = x
        return self.a.value * x

    def backward(self, grad_out):
        self.a.grad += np.sum(grad_out * self._x) * (2.0 if self.wrong_param else 1.0)
        return grad_out * (self.a.value + (0.1 if self.wrong_input else 0.0))


def test_numerical_gradient_of_a_known_function():
    x = np.array([[0.3, -1.2], [2.0, 0.5]])
    grad = numerical_gradient(lambda: float(np.sum(np.sin(x) * x)), x)
    np.testing.assert_allclose(grad, np.cos(x) * x + np.sin(x), rtol=1e-8, atol=1e-9)
    np.testing.assert_array_equal(x, [[0.3, -1.2], [2.0, 0.5]])  # restored exactly


def test_correct_layer_passes():
    assert gradcheck(Scale(), RNG.standard_normal((3, 2)))


def test_wrong_input_gradient_is_reported():
    with pytest.raises(GradcheckError, match=r"input: 6/6 elements differ"):
        gradcheck(Scale(wrong_input=True), RNG.standard_normal((3, 2)))
    assert (
        gradcheck(Scale(wrong_input=True), RNG.standard_normal((3, 2)), raise_exception=False)
        is False
    )


def test_wrong_parameter_gradient_is_reported():
    with pytest.raises(GradcheckError, match=r"parameter 'a': 1/1 elements differ.*analytic"):
        gradcheck(Scale(wrong_param=True), RNG.standard_normal((3, 2)))
    # with check_params=False only the (correct) input gradient is checked
    assert gradcheck(Scale(wrong_param=True), RNG.standard_normal((3, 2)), check_params=False)


def test_nested_names_in_report():
    model = Sequential([Dense(2, 2, random_state=0), Scale(wrong_param=True)])
    with pytest.raises(GradcheckError, match=r"parameter '1.a'"):
        gradcheck(model, RNG.standard_normal((3, 2)))


def test_parameters_restored_after_check():
    model = mlp(3, [4], 1, activation="tanh", random_state=0)
    before = model.state_dict()
    x = RNG.standard_normal((5, 3))
    x_copy = x.copy()
    gradcheck(model, x)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])
    np.testing.assert_array_equal(x, x_copy)


def test_function_form():
    def f(z):
        return float(np.sum(np.exp(z))), np.exp(z)

    def f_wrong(z):
        return float(np.sum(np.exp(z))), np.exp(z) * 1.01

    def two(a, b):
        return float(np.sum(a * b)), (b, a)

    z = RNG.standard_normal(5)
    assert gradcheck(f, z)
    with pytest.raises(GradcheckError, match="input 0"):
        gradcheck(f_wrong, z)
    assert gradcheck(two, (RNG.standard_normal(3), RNG.standard_normal(3)))


def test_float32_model_and_bad_inputs_rejected():
    with pytest.raises(ValueError, match=r"gradcheck needs a float64 model; parameter '0\.weight'"):
        gradcheck(mlp(2, [2], 1, dtype=np.float32), np.ones((2, 2)))
    with pytest.raises(ValueError, match="inputs must be finite"):
        gradcheck(mlp(2, [2], 1), np.array([[np.nan, 1.0]]))
    with pytest.raises(TypeError, match="fn_or_model must be a Layer or a callable"):
        gradcheck(3, np.ones(2))


@pytest.mark.parametrize("activation", ["tanh", "relu", "gelu"])
def test_network_with_sum_of_squares(activation):
    model = mlp(4, [6, 5], 3, activation=activation, random_state=3)
    x, y = RNG.standard_normal((7, 4)), RNG.standard_normal((7, 3))
    assert gradcheck_model(model, SumOfSquares(), x, y)


# --- networks composed with bcekit.losses -----------------------------------------------


def _losses():
    losses = pytest.importorskip("bcekit.losses")
    if not hasattr(losses, "BinaryCrossEntropyWithLogits"):
        pytest.skip("bcekit.losses does not export its loss classes yet")
    return losses


def test_network_with_bce_with_logits():
    losses = _losses()
    model = mlp(4, [6], 1, activation="tanh", random_state=0)
    x = RNG.standard_normal((9, 4))
    y = (RNG.random((9, 1)) < 0.5).astype(float)
    assert gradcheck_model(model, losses.BinaryCrossEntropyWithLogits(), x, y)
    assert gradcheck_model(
        model, losses.BinaryCrossEntropyWithLogits(pos_weight=3.0, label_smoothing=0.1), x, y
    )


def test_multilabel_network_with_focal_loss():
    losses = _losses()
    model = mlp(4, [6], 3, activation="gelu", random_state=1)
    x = RNG.standard_normal((8, 4))
    y = (RNG.random((8, 3)) < 0.4).astype(float)
    assert gradcheck_model(model, losses.SigmoidFocalLoss(gamma=2.0, alpha=0.25), x, y)


def test_network_with_softmax_cross_entropy():
    losses = _losses()
    model = mlp(4, [6], 3, activation="tanh", random_state=2)
    x = RNG.standard_normal((8, 4))
    y = RNG.integers(0, 3, size=8)
    assert gradcheck_model(model, losses.SoftmaxCrossEntropy(), x, y)


def test_probability_network_with_bce():
    losses = _losses()
    model = Sequential([*mlp(4, [6], 1, activation="tanh", random_state=3).layers, Sigmoid()])
    x = RNG.standard_normal((8, 4))
    y = (RNG.random((8, 1)) < 0.5).astype(float)
    assert gradcheck_model(model, losses.BinaryCrossEntropy(), x, y)
