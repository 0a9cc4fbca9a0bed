"""BatchNorm: normalised output, running statistics, finite-difference gradients, PyTorch.

Every test runs on both training passes: the compiled loops (Numba loaded) and NumPy's.
"""

from __future__ import annotations

import numba  # noqa: F401 - loaded, so that the compiled passes apply
import numpy as np
import pytest

from bcekit.nn import BatchNorm, Conv2D, Dense, ReLU, Sequential, normalization
from bcekit.nn.gradcheck import gradcheck


@pytest.fixture(autouse=True, params=["compiled", "numpy"])
def passes(request, monkeypatch):
    """The training passes a test runs on."""
    if request.param == "numpy":
        monkeypatch.setattr(normalization, "_compiled_applies", lambda a: False)
    return request.param


def batch(shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(2.0, 3.0, size=shape)


def randomised(layer, seed=1):
    """γ and β away from their initial ones and zeros, so the gradient checks see them."""
    rng = np.random.default_rng(seed)
    layer.weight.value[:] = rng.uniform(0.5, 2.0, layer.num_features)
    layer.bias.value[:] = rng.normal(size=layer.num_features)
    return layer


@pytest.mark.parametrize("shape", [(7, 3), (2, 4, 5, 3)])
def test_training_output_has_zero_mean_and_unit_variance_per_feature(shape):
    x = batch(shape)
    y = BatchNorm(3, dtype=np.float64).forward(x)
    axes = tuple(range(len(shape) - 1))
    np.testing.assert_allclose(y.mean(axis=axes), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=axes), 1.0, rtol=1e-5)  # ε = 1e-5 shrinks it slightly


def test_running_statistics_follow_the_momentum_rule():
    x = batch((10, 2))
    layer = BatchNorm(2, momentum=0.25, dtype=np.float64)
    layer.forward(x)
    layer.forward(x)
    mean, unbiased = x.mean(axis=0), x.var(axis=0, ddof=1)
    np.testing.assert_allclose(layer.buffers["running_mean"], (1 - 0.75**2) * mean)
    np.testing.assert_allclose(layer.buffers["running_var"], 0.75**2 + (1 - 0.75**2) * unbiased)


def test_eval_mode_uses_the_running_statistics_and_leaves_them_alone():
    layer = randomised(BatchNorm(3, dtype=np.float64))
    layer.buffers["running_mean"][:] = [1.0, -2.0, 0.5]
    layer.buffers["running_var"][:] = [4.0, 0.25, 1.0]
    layer.eval()
    x = batch((5, 3))
    y = layer.forward(x)
    expected = (x - [1.0, -2.0, 0.5]) / np.sqrt(np.array([4.0, 0.25, 1.0]) + 1e-5)
    np.testing.assert_allclose(y, expected * layer.weight.value + layer.bias.value)
    np.testing.assert_array_equal(layer.buffers["running_mean"], [1.0, -2.0, 0.5])


@pytest.mark.parametrize("shape", [(6, 3), (2, 3, 4, 3)])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_gradcheck(shape, mode):
    layer = randomised(BatchNorm(3, dtype=np.float64))
    if mode == "eval":
        layer.buffers["running_var"][:] = [0.5, 2.0, 1.5]
        layer.eval()
    assert gradcheck(layer, batch(shape, seed=2))


def test_gradcheck_of_a_conv_batchnorm_relu_block():
    rng = np.random.default_rng(3)
    model = Sequential(
        [
            Conv2D(2, 4, 3, random_state=rng, dtype=np.float64),
            randomised(BatchNorm(4, dtype=np.float64)),
            ReLU(),
            Conv2D(4, 1, 1, random_state=rng, dtype=np.float64),
        ]
    )
    assert gradcheck(model, batch((2, 5, 5, 2), seed=4), rtol=1e-4)


def test_float32_stays_float32():
    layer = BatchNorm(3)
    y = layer.forward(batch((4, 3)).astype(np.float32))
    assert y.dtype == np.float32
    assert layer.backward(np.ones_like(y)).dtype == np.float32
    assert layer.buffers["running_var"].dtype == np.float32


def test_state_dict_carries_the_running_statistics():
    model = Sequential([Dense(3, 4, random_state=0), BatchNorm(4, dtype=np.float64), ReLU()])
    model.forward(batch((8, 3)))
    state = model.state_dict()
    assert {"1.running_mean", "1.running_var", "1.weight", "1.bias"} <= set(state)
    other = Sequential([Dense(3, 4, random_state=9), BatchNorm(4, dtype=np.float64), ReLU()])
    other.load_state_dict(state)
    other.eval(), model.eval()
    x = batch((5, 3), seed=7)
    np.testing.assert_array_equal(other.forward(x), model.forward(x))
    assert [p.name for p in other.parameters()] == ["weight", "bias", "weight", "bias"]
    with pytest.raises(ValueError, match=r"missing \['1.running_var'\]"):
        other.load_state_dict({k: v for k, v in state.items() if k != "1.running_var"})


@pytest.mark.parametrize(
    ("kwargs", "x_shape", "fragment"),
    [
        ({"num_features": 0}, (2, 3), "num_features must be a positive integer"),
        ({"num_features": 3, "momentum": 0.0}, (2, 3), "momentum must lie in \\(0, 1\\]"),
        ({"num_features": 3, "eps": 0.0}, (2, 3), "eps must be > 0"),
        ({"num_features": 3}, (2, 4), "x must have shape \\(..., 3\\)"),
        ({"num_features": 3}, (1, 3), "at least 2 values per feature"),
    ],
)
def test_bad_arguments(kwargs, x_shape, fragment):
    with pytest.raises(ValueError, match=fragment):
        BatchNorm(**kwargs).forward(np.ones(x_shape))


def test_matches_torch():
    torch = pytest.importorskip("torch")
    x, g = batch((3, 4, 5, 2), seed=5), batch((3, 4, 5, 2), seed=6)
    layer = randomised(BatchNorm(2, momentum=0.2, dtype=np.float64))
    reference = torch.nn.BatchNorm2d(2, momentum=0.2, dtype=torch.float64)
    with torch.no_grad():
        reference.weight.copy_(torch.from_numpy(layer.weight.value))
        reference.bias.copy_(torch.from_numpy(layer.bias.value))
    xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).requires_grad_(True)
    out = reference(xt)
    out.backward(torch.from_numpy(g.transpose(0, 3, 1, 2).copy()))
    y = layer.forward(x)
    dx = layer.backward(g)
    np.testing.assert_allclose(y, out.detach().numpy().transpose(0, 2, 3, 1), rtol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy().transpose(0, 2, 3, 1), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(layer.weight.grad, reference.weight.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(layer.bias.grad, reference.bias.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(layer.buffers["running_mean"], reference.running_mean.numpy())
    np.testing.assert_allclose(layer.buffers["running_var"], reference.running_var.numpy())
    layer.eval(), reference.eval()
    np.testing.assert_allclose(
        layer.forward(x), reference(xt).detach().numpy().transpose(0, 2, 3, 1), rtol=1e-12
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "shape",
    # The loops read wide rows of about 32 values (32 // C pixels) and the pixels left over one
    # at a time: only left-overs, only wide rows, both, one channel, more than 32 channels.
    [(9, 3), (4, 12, 12, 8), (23, 3), (7, 5, 5, 1), (6, 40)],
)
def test_compiled_and_numpy_passes_agree(monkeypatch, passes, dtype, shape):
    x = batch(shape).astype(dtype)
    g = batch(shape, seed=3).astype(dtype)
    compiled_too = normalization._compiled_applies(x)
    assert compiled_too == (passes == "compiled")
    results = []
    for use in (lambda a: True, lambda a: False):
        monkeypatch.setattr(normalization, "_compiled_applies", use)
        layer = randomised(BatchNorm(shape[-1], dtype=dtype))
        y = layer.forward(x)
        grad_in = layer.backward(g)
        results.append([y, grad_in, layer.weight.grad, layer.bias.grad,
                        *layer.buffers.values()])  # fmt: skip
    # float64 sums agree to rounding; float32's NumPy sums accumulate in float32 (the loops'
    # in float64), an error of about M·ε relative.
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for ours, numpy_pass in zip(*results, strict=True):
        assert ours.dtype == dtype
        np.testing.assert_allclose(ours, numpy_pass, rtol=tol, atol=tol * np.abs(numpy_pass).max())


def test_non_contiguous_input_takes_the_numpy_pass(passes):
    x = batch((10, 6))[:, ::2]
    assert not normalization._compiled_applies(x)
    y = BatchNorm(3, dtype=np.float64).forward(x)
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(4, 12, 12, 8), (23, 3), (7, 5, 5, 1)])
def test_a_batchnorm_relu_pair_in_sequential_gives_the_bits_of_the_two_layers(passes, dtype, shape):
    x = batch(shape).astype(dtype)
    g = batch(shape, seed=3).astype(dtype)
    g.reshape(-1)[::7] = 0.0
    results = []
    for pair in (False, True):
        norm, relu = randomised(BatchNorm(shape[-1], dtype=dtype)), ReLU()
        if pair:
            model = Sequential([norm, relu])
            y, grad_in = model.forward(x), model.backward(g)
            assert model._fused == ({0} if passes == "compiled" else set())
        else:
            y = relu.forward(norm.forward(x))
            grad_in = norm.backward(relu.backward(g))
        results.append([y, grad_in, norm.weight.grad, norm.bias.grad, *norm.buffers.values()])
    assert (results[0][0] == 0).any() and (results[0][0] > 0).any()  # both sides of the kink
    for fused, separate in zip(*results, strict=True):
        assert fused.dtype == dtype
        np.testing.assert_array_equal(fused, separate)


def test_the_pair_runs_as_two_layers_in_eval_mode_and_the_relu_alone_needs_its_forward(passes):
    norm, relu = randomised(BatchNorm(3, dtype=np.float64)), ReLU()
    model = Sequential([norm, relu])
    x = batch((8, 3))
    model.forward(x)
    if passes == "compiled":
        with pytest.raises(RuntimeError, match="forward"):
            relu.backward(np.ones((8, 3)))  # the fused pass left the ReLU without its own
    model.eval()
    assert norm.forward_relu(x) is None
    y = model.forward(x)
    assert model._fused == set()
    np.testing.assert_array_equal(y, np.maximum(norm.forward(x), 0.0))
