"""The compiled pass over Dense/ReLU chains agrees with the layer-by-layer pass."""

from __future__ import annotations

import numba  # noqa: F401 - loaded, as the BCE kernels load it: the chain then applies
import numpy as np
import pytest

from bcekit.losses import BinaryCrossEntropyWithLogits
from bcekit.nn import Dense, Dropout, ReLU, Sequential, Tanh, gradcheck_model, mlp, pack_parameters

TOL = {np.float32: 2e-6, np.float64: 1e-13}


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
def test_compiled_pass_matches_the_layers(dtype, activation, input_grad, n_out):
    rng = np.random.default_rng(0)
    compiled, layers = _pair(dtype, activation, input_grad, n_out)
    assert compiled._chain is not None
    x = rng.standard_normal((23, 7)).astype(dtype)
    x[0, :3] = 0.0  # ReLU kinks
    tol = TOL[dtype]
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


def test_compiled_pass_gradients_by_finite_differences():
    rng = np.random.default_rng(1)
    model = mlp(4, [6, 5], 1, dtype=np.float64, random_state=2)
    assert model._chain is not None and model._chain.applies(np.zeros((3, 4)))
    x = rng.standard_normal((9, 4))
    y = (rng.random((9, 1)) < 0.5).astype(float)
    assert gradcheck_model(model, BinaryCrossEntropyWithLogits(), x, y, check_params=True)


def test_other_inputs_and_layers_take_the_layer_path():
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


def test_compiled_pass_checks_the_gradient_shape_and_order():
    model = mlp(3, [4], 1, random_state=0)
    with pytest.raises(RuntimeError, match="before forward"):
        model.backward(np.ones((5, 1)))
    model.forward(np.ones((5, 3)))
    with pytest.raises(ValueError, match="shape of the last output"):
        model.backward(np.ones((5, 2)))
    with pytest.raises(RuntimeError, match="before forward"):  # the ReLU's own pass did not run
        model.layers[1].backward(np.ones((5, 4)))
