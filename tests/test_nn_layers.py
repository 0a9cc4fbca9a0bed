"""Layers and activations: gradients by finite differences, values by independent formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bcekit.nn import (
    GELU,
    Dense,
    Dropout,
    Flatten,
    LeakyReLU,
    ReLU,
    Sigmoid,
    Tanh,
    get_activation,
    gradcheck,
)

RNG = np.random.default_rng(1234)


def away_from_zero(shape, margin=0.05, seed=0):
    """Normal values pushed at least ``margin`` away from the kink at 0."""
    x = np.random.default_rng(seed).standard_normal(shape)
    return x + np.where(x >= 0, margin, -margin)


# --- gradients ------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 1), (4, 3), (7, 5), (2, 3, 4)])
@pytest.mark.parametrize(
    "make",
    [Tanh, Sigmoid, GELU, lambda: get_activation("identity"), ReLU, lambda: LeakyReLU(0.1)],
    ids=["tanh", "sigmoid", "gelu", "identity", "relu", "leaky_relu"],
)
def test_activation_gradients(make, shape):
    assert gradcheck(make(), away_from_zero(shape, seed=len(shape)))


@pytest.mark.parametrize(
    "layer",
    [ReLU(inplace=True), LeakyReLU(0.2, inplace=True), Tanh(inplace=True), Sigmoid(inplace=True)],
)
def test_inplace_activation_gradients(layer):
    assert gradcheck(layer, away_from_zero((5, 4)))


@pytest.mark.parametrize("n,i,o", [(1, 1, 1), (5, 3, 2), (8, 6, 4)])
def test_dense_gradients(n, i, o):
    layer = Dense(i, o, random_state=n)
    layer.bias.value[:] = RNG.standard_normal(o)
    assert gradcheck(layer, RNG.standard_normal((n, i)))


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 6), i=st.integers(1, 5), o=st.integers(1, 5), seed=st.integers(0, 99))
def test_dense_gradients_any_shape(n, i, o, seed):
    layer = Dense(i, o, init="glorot", random_state=seed)
    assert gradcheck(layer, np.random.default_rng(seed).standard_normal((n, i)))


def test_flatten_gradients_and_shapes():
    layer = Flatten()
    x = RNG.standard_normal((3, 2, 4))
    assert layer.forward(x).shape == (3, 8)
    assert layer.backward(np.ones((3, 8))).shape == (3, 2, 4)
    assert gradcheck(layer, x)


def test_dropout_gradient_with_fixed_mask():
    drop = Dropout(0.4, random_state=3)

    class FixedMask(Dropout):
        """Replays one mask on every forward pass (a fresh generator with the same seed)."""

        def forward(self, x):
            self.rng = np.random.default_rng(7)
            return super().forward(x)

    fixed = FixedMask(0.4)
    x = RNG.standard_normal((6, 5))
    assert gradcheck(fixed, x)
    y = fixed.forward(x)
    assert np.any(y == 0) and np.any(y != 0)  # the mask really drops something
    assert drop.training


# --- values ---------------------------------------------------------------------------


def test_activation_values_match_formulas():
    x = np.linspace(-5, 5, 41)
    np.testing.assert_array_equal(ReLU().forward(x), np.where(x > 0, x, 0.0))
    np.testing.assert_allclose(LeakyReLU(0.2).forward(x), np.where(x > 0, x, 0.2 * x))
    np.testing.assert_allclose(Tanh().forward(x), np.tanh(x))
    np.testing.assert_allclose(Sigmoid().forward(x), 1 / (1 + np.exp(-x)), rtol=1e-15)
    erfc = np.vectorize(math.erfc)  # Φ(x) = erfc(−x/√2)/2, no cancellation for x < 0
    np.testing.assert_allclose(GELU().forward(x), x * 0.5 * erfc(-x / math.sqrt(2)), rtol=1e-14)
    np.testing.assert_array_equal(get_activation("identity").forward(x), x)


def test_sigmoid_and_gelu_are_stable_at_extremes():
    x = np.array([-1e4, -800.0, -np.inf, 800.0, 1e4, np.inf])
    with np.errstate(all="raise"):
        s = Sigmoid()
        np.testing.assert_array_equal(s.forward(x), [0, 0, 0, 1, 1, 1])
        assert np.all(np.isfinite(s.backward(np.ones(6))))
    g = GELU()
    np.testing.assert_array_equal(g.forward(x), [0, 0, 0, 800, 1e4, np.inf])
    np.testing.assert_array_equal(g.backward(np.ones(6)), [0, 0, 0, 1, 1, 1])


@pytest.mark.parametrize("shape", [(8, 5), (700, 300)])  # cache-sized and larger inputs
def test_relu_small_and_large_inputs(shape):
    x = RNG.standard_normal(shape)
    relu = ReLU()
    np.testing.assert_array_equal(relu.forward(x), np.where(x > 0, x, 0.0))
    np.testing.assert_array_equal(relu.backward(np.ones(shape)), (x > 0).astype(float))


def test_relu_handles_infinities_and_kink():
    r = ReLU()
    np.testing.assert_array_equal(r.forward(np.array([-np.inf, 0.0, np.inf])), [0, 0, np.inf])
    np.testing.assert_array_equal(r.backward(np.ones(3)), [0, 0, 1])


def test_activations_against_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = RNG.standard_normal((6, 5))
    g = RNG.standard_normal((6, 5))
    cases = {
        "relu": (ReLU(), F.relu),
        "tanh": (Tanh(), torch.tanh),
        "sigmoid": (Sigmoid(), torch.sigmoid),
        "gelu": (GELU(), F.gelu),
        "leaky_relu": (LeakyReLU(0.3), lambda t: F.leaky_relu(t, 0.3)),
    }
    for name, (ours, theirs) in cases.items():
        xt = torch.tensor(x, requires_grad=True)
        yt = theirs(xt)
        yt.backward(torch.tensor(g))
        np.testing.assert_allclose(ours.forward(x), yt.detach().numpy(), rtol=1e-12, err_msg=name)
        np.testing.assert_allclose(
            ours.backward(g), xt.grad.numpy(), rtol=1e-12, atol=1e-15, err_msg=name
        )


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "tanh", "sigmoid"])
def test_inplace_matches_out_of_place(name):
    x = RNG.standard_normal((4, 3))
    g = RNG.standard_normal((4, 3))
    a, b = get_activation(name), get_activation(name, inplace=True)
    ya = a.forward(x.copy())
    xb = x.copy()
    yb = b.forward(xb)
    assert yb is xb  # written into its input
    np.testing.assert_array_equal(ya, yb)
    np.testing.assert_array_equal(a.backward(g.copy()), b.backward(g.copy()))


def test_out_of_place_activations_leave_inputs_alone():
    x = RNG.standard_normal((4, 3))
    g = RNG.standard_normal((4, 3))
    for name in ["relu", "leaky_relu", "tanh", "sigmoid", "gelu", "identity"]:
        xc, gc = x.copy(), g.copy()
        layer = get_activation(name)
        layer.forward(xc)
        layer.backward(gc)
        np.testing.assert_array_equal(xc, x)
        np.testing.assert_array_equal(gc, g)


@pytest.mark.parametrize("i,o", [(3, 2), (1, 4), (4, 1), (1, 1)])  # inner size 1: outer products
def test_dense_forward_is_affine_and_accumulates(i, o):
    layer = Dense(i, o, random_state=0)
    layer.bias.value[:] = RNG.standard_normal(o)
    x = RNG.standard_normal((5, i))
    np.testing.assert_allclose(layer.forward(x), x @ layer.weight.value + layer.bias.value)
    g = RNG.standard_normal((5, o))
    np.testing.assert_allclose(layer.backward(g), g @ layer.weight.value.T)
    layer.backward(g)
    np.testing.assert_allclose(layer.weight.grad, 2 * x.T @ g)
    np.testing.assert_allclose(layer.bias.grad, 2 * g.sum(axis=0))
    layer.zero_grad()
    assert not layer.weight.grad.any() and not layer.bias.grad.any()


def test_dense_batch_size_may_change():
    layer = Dense(3, 2, random_state=0)
    for n in (5, 2, 5):
        x = RNG.standard_normal((n, 3))
        layer.zero_grad()
        layer.forward(x)
        layer.backward(np.ones((n, 2)))
        np.testing.assert_allclose(layer.bias.grad, [n, n])


def test_dense_without_input_grad():
    layer = Dense(3, 2, random_state=0, input_grad=False)
    x = RNG.standard_normal((4, 3))
    layer.forward(x)
    assert layer.backward(np.ones((4, 2))) is None
    np.testing.assert_allclose(layer.weight.grad, x.T @ np.ones((4, 2)))


# --- dtypes ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "tanh", "sigmoid", "gelu", "identity"])
def test_activations_keep_float32(name):
    x = RNG.standard_normal((4, 3)).astype(np.float32)
    layer = get_activation(name)
    assert layer.forward(x).dtype == np.float32
    assert layer.backward(np.ones_like(x)).dtype == np.float32


def test_activations_promote_integers_to_float64():
    y = ReLU().forward(np.array([[-1, 2]]))
    assert y.dtype == np.float64


def test_dense_casts_input_to_its_dtype():
    layer = Dense(3, 2, dtype=np.float32, random_state=0)
    y = layer.forward(RNG.standard_normal((4, 3)))  # float64 in
    assert y.dtype == np.float32
    assert layer.backward(np.ones((4, 2))).dtype == np.float32
    assert layer.weight.grad.dtype == np.float32 and layer.bias.grad.dtype == np.float32


# --- dropout --------------------------------------------------------------------------


def test_dropout_eval_is_identity():
    drop = Dropout(0.5, random_state=0).eval()
    x = RNG.standard_normal((10, 10))
    assert drop.forward(x) is x
    g = RNG.standard_normal((10, 10))
    assert drop.backward(g) is g


def test_dropout_train_keeps_expectation():
    p = 0.3
    drop = Dropout(p, random_state=0)
    x = np.full((400, 500), 2.0)
    y = drop.forward(x)
    kept = y != 0
    assert abs(1 - kept.mean() - p) < 0.005  # 200k Bernoulli draws: sd 0.001
    np.testing.assert_allclose(y[kept], 2.0 / (1 - p))
    assert abs(y.mean() - 2.0) < 0.02
    g = np.ones_like(x)
    np.testing.assert_array_equal(drop.backward(g) != 0, kept)


def test_dropout_new_mask_each_pass_and_seeded():
    x = np.ones((20, 20))
    a, b = Dropout(0.5, random_state=1), Dropout(0.5, random_state=1)
    first = a.forward(x)
    np.testing.assert_array_equal(first, b.forward(x))
    assert not np.array_equal(first, a.forward(x))


def test_dropout_zero_p_and_float32():
    x = RNG.standard_normal((3, 3)).astype(np.float32)
    assert Dropout(0.0).forward(x) is x
    assert Dropout(0.5, random_state=0).forward(x).dtype == np.float32


# --- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5, float("nan")])
def test_dropout_rejects_bad_p(p):
    with pytest.raises(ValueError, match="p must be a float in \\[0, 1\\)"):
        Dropout(p)


def test_dropout_rejects_non_number():
    with pytest.raises(TypeError, match="p must be a float"):
        Dropout("0.5")


def test_dense_rejects_bad_arguments():
    with pytest.raises(ValueError, match="in_features must be a positive integer"):
        Dense(0, 3)
    with pytest.raises(ValueError, match="out_features must be a positive integer"):
        Dense(3, 2.5)
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        Dense(3, 2, dtype=np.int32)
    with pytest.raises(ValueError, match="init must be 'auto' or one of"):
        Dense(3, 2, init="orthogonal")
    with pytest.raises(ValueError, match="activation_hint must be None or one of"):
        Dense(3, 2, activation_hint="swish")


def test_dense_rejects_bad_input_shape():
    layer = Dense(3, 2)
    with pytest.raises(ValueError, match=r"x must have shape \(n_samples, 3\); got \(4, 5\)"):
        layer.forward(np.zeros((4, 5)))
    with pytest.raises(ValueError, match="x must have shape"):
        layer.forward(np.zeros(3))


def test_backward_checks_order_and_shape():
    for layer in [Dense(3, 2), ReLU(), Dropout(0.5), Flatten(), GELU()]:
        with pytest.raises(RuntimeError, match="backward\\(\\) called before forward\\(\\)"):
            layer.backward(np.zeros((4, 2)))
    layer = Dense(3, 2)
    layer.forward(np.zeros((4, 3)))
    with pytest.raises(
        ValueError, match=r"grad_out must have the shape of the last output \(4, 2\)"
    ):
        layer.backward(np.zeros(4))
    act = ReLU()
    act.forward(np.zeros((4, 1)))
    with pytest.raises(ValueError, match="grad_out must have the shape"):
        act.backward(np.zeros(4))  # would broadcast to (4, 4) silently


def test_activation_lookup_errors():
    with pytest.raises(ValueError, match="activation must be one of"):
        get_activation("softplus")
    with pytest.raises(ValueError, match="negative_slope must be a finite number"):
        LeakyReLU(float("nan"))
