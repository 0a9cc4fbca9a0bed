"""End-to-end: the seeds' worked example, XOR by gradient descent, and torch as an oracle."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bcekit.losses import BinaryCrossEntropy, BinaryCrossEntropyWithLogits
from bcekit.nn import Dense, Sequential, Sigmoid, mlp

XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([[0.0], [1.0], [1.0], [0.0]])


def gd_step(model, lr):
    """Plain gradient descent: w ← w − η·∂L/∂w."""
    for p in model.parameters():
        p.value -= lr * p.grad


def test_worked_example_prediction_072_costs_033_and_one_step_moves_it_up():
    model = Sequential([Dense(1, 1, random_state=0), Sigmoid()])
    x, y = np.array([[1.0]]), np.array([[1.0]])
    dense = model[0]
    dense.weight.value[:] = 0.5
    dense.bias.value[:] = math.log(0.72 / 0.28) - 0.5  # σ(w·1 + b) = 0.72
    p = model.forward(x)
    assert p[0, 0] == pytest.approx(0.72, rel=1e-12)
    loss = BinaryCrossEntropy()
    value, grad = loss.value_and_grad(p, y)
    assert value == pytest.approx(-math.log(0.72), rel=1e-12)  # 0.3285...
    assert round(value, 2) == 0.33
    model.zero_grad()
    model.backward(grad)
    # chain rule by hand: ∂L/∂p = −1/p, ∂p/∂z = p(1 − p)  ⇒  ∂L/∂z = p − y = −0.28
    assert dense.weight.grad[0, 0] == pytest.approx(-0.28, rel=1e-10)
    assert dense.bias.grad[0] == pytest.approx(-0.28, rel=1e-10)
    gd_step(model, lr=0.5)
    p_new = model.forward(x)[0, 0]
    assert p_new > 0.72
    assert p_new == pytest.approx(1 / (1 + math.exp(-(math.log(0.72 / 0.28) + 2 * 0.5 * 0.28))))
    assert loss(model.forward(x), y) < value


@pytest.mark.parametrize("activation,seed", [("tanh", 0), ("relu", 1)])
def test_two_layer_net_solves_xor_with_gradient_descent(activation, seed):
    model = mlp(2, [8], 1, activation=activation, random_state=seed)
    loss = BinaryCrossEntropyWithLogits()
    first, _ = loss.value_and_grad(model.forward(XOR_X), XOR_Y)
    for _ in range(3000):
        model.zero_grad()
        value, grad = loss.value_and_grad(model.forward(XOR_X), XOR_Y)
        model.backward(grad)
        gd_step(model, lr=0.5)
    logits = model.forward(XOR_X)
    assert value < 0.05 < first
    np.testing.assert_array_equal(logits > 0, XOR_Y > 0.5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mlp_matches_torch(dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    model = mlp(5, [7, 4], 1, activation="relu", dtype=dtype, random_state=0)
    x = rng.standard_normal((16, 5)).astype(dtype)
    y = (rng.random((16, 1)) < 0.5).astype(dtype)

    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    linears = [torch.nn.Linear(d.in_features, d.out_features).to(tdtype) for d in model[::2]]
    with torch.no_grad():
        for lin, d in zip(linears, model[::2], strict=True):
            lin.weight.copy_(torch.from_numpy(d.weight.value.T.copy()))
            lin.bias.copy_(torch.from_numpy(d.bias.value.copy()))
    net = torch.nn.Sequential(linears[0], torch.nn.ReLU(), linears[1], torch.nn.ReLU(), linears[2])
    xt = torch.from_numpy(x).requires_grad_(True)
    out = net(xt)
    torch.nn.functional.binary_cross_entropy_with_logits(out, torch.from_numpy(y)).backward()

    model.zero_grad()
    logits = model.forward(x)
    _, grad = BinaryCrossEntropyWithLogits().value_and_grad(logits, y)
    grad_x = model.backward(grad)

    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-14}
    np.testing.assert_allclose(logits, out.detach().numpy(), **tol)
    np.testing.assert_allclose(grad_x, xt.grad.numpy(), **tol)
    for lin, d in zip(linears, model[::2], strict=True):
        np.testing.assert_allclose(d.weight.grad, lin.weight.grad.numpy().T, **tol)
        np.testing.assert_allclose(d.bias.grad, lin.bias.grad.numpy(), **tol)
