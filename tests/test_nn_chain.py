"""The chain's pass over Dense/ReLU layers agrees with the layer-by-layer pass: its compiled
steps to rounding, its NumPy steps (before Numba is loaded) bit for bit."""

from __future__ import annotations

import numba  # noqa: F401 - loaded, as the BCE kernels load it: the chain then applies
import numpy as np
import pytest

from bcekit.losses import BinaryCrossEntropyWithLogits
from bcekit.nn import (
    Dense,
    Dropout,
    ReLU,
    Sequential,
    Tanh,
    _chain,
    gradcheck_model,
    mlp,
    pack_parameters,
)

TOL = {np.float32: 2e-6, np.float64: 1e-13}


@pytest.fixture(params=["compiled", "numpy"])
def steps(request, monkeypatch):
    """Each test runs on the compiled steps and on the NumPy steps a process without Numba
    takes (the kernels' module is then not reached)."""
    if request.param == "numpy":
        monkeypatch.setattr(_chain, "_compiled_loops", lambda: None)
    return request.param


def _pair(dtype, activation, input_grad, n_out=1):
    """The same network twice: one with its compiled pass, one without."""
    nets = [
        mlp(7, [9, 5], n_out, activation, dtype=dtype, random_state=0, input_grad=input_grad)
        for _ in range(2)
    ]
    pack_parameters(nets[0])  # the estimators' layout, on the compiled side
    nets[1]._chain = None
    return nets


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("activation", "input_grad", "n_out"), [
    ("relu", False, 1), ("relu", True, 3), ("identity", True, 1),
])  # fmt: skip
def test_chain_pass_matches_the_layers(steps, dtype, activation, input_grad, n_out):
    rng = np.random.default_rng(0)
    compiled, layers = _pair(dtype, activation, input_grad, n_out)
    assert compiled._chain is not None
    x = rng.standard_normal((23, 7)).astype(dtype)
    x[0, :3] = 0.0  # ReLU kinks
    tol = 0.0 if steps == "numpy" else TOL[dtype]  # the NumPy steps do the layers' operations
    for _ in range(2):  # gradients accumulate over calls, as in the layers
        g = rng.standard_normal((23, n_out)).astype(dtype)
        z = compiled.forward(x)
        assert compiled._chain.ready()
        np.testing.assert_allclose(z, layers.forward(x), rtol=tol, atol=tol)
        gx, gx_layers = compiled.backward(g), layers.backward(g)
        if input_grad:
            np.testing.assert_allclose(gx, gx_layers, rtol=tol, atol=tol)
        else:
            assert gx is None and gx_layers is None
    for (name, a), (_, b) in zip(
        compiled.named_parameters(), layers.named_parameters(), strict=True
    ):
        assert a.grad.dtype == dtype and np.any(a.grad != 0), name
        np.testing.assert_allclose(a.grad, b.grad, rtol=tol, atol=tol, err_msg=name)


def test_chain_pass_gradients_by_finite_differences(steps):
    rng = np.random.default_rng(1)
    model = mlp(4, [6, 5], 1, dtype=np.float64, random_state=2)
    assert model._chain is not None and model._chain.applies(np.zeros((3, 4)))
    x = rng.standard_normal((9, 4))
    y = (rng.random((9, 1)) < 0.5).astype(float)
    assert gradcheck_model(model, BinaryCrossEntropyWithLogits(), x, y, check_params=True)


def test_other_inputs_and_layers_take_the_layer_path(steps):
    rng = np.random.default_rng(2)
    compiled, layers = _pair(np.float64, "relu", True)
    wide = rng.standard_normal((11, 14))
    x = wide[:, ::2]  # not C-contiguous
    assert not compiled._chain.applies(x)
    np.testing.assert_array_equal(compiled.forward(x), layers.forward(x))
    assert not compiled._chain.ready()
    g = rng.standard_normal((11, 1))
    np.testing.assert_array_equal(compiled.backward(g), layers.backward(g))
    assert mlp(3, [4], 1, "tanh")._chain is None
    assert mlp(3, [4], 1, "relu", dropout=0.5)._chain is None
    assert Sequential([Dense(3, 4), Tanh(), Dense(4, 1)])._chain is None
    assert Sequential([Dense(3, 4), ReLU(), Dropout(0.1), Dense(4, 1)])._chain is None
    assert Sequential([Dense(3, 4), ReLU()])._chain is None  # ends in an activation
    assert Sequential([Dense(3, 4), Dense(4, 1, input_grad=False)])._chain is None


def test_chain_pass_checks_the_gradient_shape_and_order(steps):
    model = mlp(3, [4], 1, random_state=0)
    with pytest.raises(RuntimeError, match="before forward"):
        model.backward(np.ones((5, 1)))
    model.forward(np.ones((5, 3)))
    with pytest.raises(ValueError, match="shape of the last output"):
        model.backward(np.ones((5, 2)))
    with pytest.raises(RuntimeError, match="before forward"):  # the ReLU's own pass did not run
        model.layers[1].backward(np.ones((5, 4)))


def test_nan_and_kinks_go_through_the_chain_as_through_the_layers(steps):
    """A NaN input stays NaN through the ReLU, and a hidden unit at exactly 0 passes no
    gradient, in the chain's steps as in the layers."""
    chain, layers = _pair(np.float64, "relu", True)
    for net in (chain, layers):
        first = net.layers[0]
        first.weight.value[:, 0] = 0.0  # unit 0: exactly 0 on every row (a kink)
        first.bias.value[0] = 0.0
    x = np.random.default_rng(3).standard_normal((6, 7))
    x[2, 4] = np.nan
    z_chain, z_layers = chain.forward(x), layers.forward(x)
    assert chain._chain.ready()
    assert np.isnan(z_chain[2]).all() and np.isfinite(np.delete(z_chain, 2, axis=0)).all()
    np.testing.assert_allclose(z_chain, z_layers, rtol=1e-13, atol=1e-13)
    g = np.ones((6, 1))
    np.testing.assert_allclose(chain.backward(g), layers.backward(g), rtol=1e-13, atol=1e-13)
    first = chain.layers[0]
    assert np.all(first.weight.grad[:, 0][np.isfinite(first.weight.grad[:, 0])] == 0.0)
    for (name, a), (_, b) in zip(chain.named_parameters(), layers.named_parameters(), strict=True):
        np.testing.assert_allclose(a.grad, b.grad, rtol=1e-13, atol=1e-13, err_msg=name)
