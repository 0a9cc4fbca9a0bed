"""MaxPool2D, Upsample2D, Concatenate and UNet: values, finite-difference gradients, PyTorch.

Every test runs with the compiled window loops (Numba loaded) and with NumPy's reductions.
"""

from __future__ import annotations

import re

import numba  # noqa: F401 - loaded, so that the compiled window loops apply
import numpy as np
import pytest

from bcekit.nn import pool, upsample
from bcekit.nn.conv import Conv2D
from bcekit.nn.gradcheck import gradcheck
from bcekit.nn.merge import Concatenate
from bcekit.nn.pool import MaxPool2D
from bcekit.nn.unet import UNet
from bcekit.nn.upsample import Upsample2D, bilinear_matrix


@pytest.fixture(autouse=True, params=["compiled", "numpy"])
def window_passes(request, monkeypatch):
    """The max-pooling and nearest-upsampling passes a test runs on."""
    if request.param == "numpy":
        for module in (pool, upsample):
            monkeypatch.setattr(module, "window_loops_apply", lambda x: False)
    return request.param


def distinct(shape, seed=0):
    """Random values with no ties (a permutation, scaled), so max pooling is differentiable."""
    rng = np.random.default_rng(seed)
    return rng.permutation(int(np.prod(shape))).reshape(shape) / 7.0 - 3.0


# --- MaxPool2D ------------------------------------------------------------------------------


def test_maxpool_forward_is_the_block_maximum():
    x = distinct((2, 6, 4, 3))
    out = MaxPool2D(2).forward(x)
    assert out.shape == (2, 3, 2, 3)
    assert out[1, 2, 1, 0] == x[1, 4:6, 2:4, 0].max()
    np.testing.assert_array_equal(out, x.reshape(2, 3, 2, 2, 2, 3).max(axis=(2, 4)))


@pytest.mark.parametrize("shape", [(2, 4, 6, 2), (1, 5, 7, 3)])
def test_maxpool_gradcheck(shape):
    assert gradcheck(MaxPool2D(2), distinct(shape, seed=1))


def test_maxpool_ties_route_to_the_first_maximum_only():
    pool = MaxPool2D(2)
    x = np.ones((1, 2, 2, 1))
    pool.forward(x)
    grad = pool.backward(np.full((1, 1, 1, 1), 5.0))
    np.testing.assert_array_equal(grad[0, :, :, 0], [[5.0, 0.0], [0.0, 0.0]])


def test_maxpool_window_with_a_nan_gives_nan_and_routes_no_gradient(window_passes):
    x = distinct((1, 4, 4, 2))
    x[0, 1, 0, 1] = np.nan
    layer = MaxPool2D(2)
    assert pool.window_loops_apply(x) == (window_passes == "compiled")
    out = layer.forward(x)
    assert np.isnan(out[0, 0, 0, 1]) and np.isfinite(np.delete(out.ravel(), 1)).all()
    grad = layer.backward(np.ones_like(out))
    assert grad[0, :2, :2, 1].sum() == 0.0 and grad.sum() == out.size - 1


def test_maxpool_drops_the_remainder_rows_and_columns():
    pool = MaxPool2D(2)
    x = distinct((1, 5, 5, 1))
    out = pool.forward(x)
    assert out.shape == (1, 2, 2, 1)
    grad = pool.backward(np.ones_like(out))
    assert not grad[:, 4, :].any() and not grad[:, :, 4].any()
    assert grad.sum() == 4


def test_maxpool_matches_torch():
    torch = pytest.importorskip("torch")
    x = distinct((2, 6, 8, 3), seed=4)
    g = np.random.default_rng(5).normal(size=(2, 3, 4, 3))
    pool = MaxPool2D(2)
    out = pool.forward(x)
    grad = pool.backward(g)
    xt = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    yt = torch.nn.functional.max_pool2d(xt, 2)
    yt.backward(torch.tensor(g.transpose(0, 3, 1, 2)))
    np.testing.assert_array_equal(out, yt.detach().numpy().transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(grad, xt.grad.numpy().transpose(0, 2, 3, 1))


def test_maxpool_bad_input():
    with pytest.raises(ValueError, match="at least 2×2"):
        MaxPool2D(2).forward(np.zeros((1, 1, 4, 1)))
    with pytest.raises(ValueError, match="pool_size"):
        MaxPool2D(0)


# --- Upsample2D -----------------------------------------------------------------------------


def test_nearest_repeats_each_pixel():
    x = np.arange(8.0).reshape(1, 2, 2, 2)
    out = Upsample2D(2).forward(x)
    assert out.shape == (1, 4, 4, 2)
    np.testing.assert_array_equal(out[0, 2:4, 0:2, 1], np.full((2, 2), x[0, 1, 0, 1]))


def test_bilinear_matrix_by_hand():
    # size 2, scale 2: sample points u = -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1).
    expected = np.array([[1.0, 0.0], [0.75, 0.25], [0.25, 0.75], [0.0, 1.0]])
    np.testing.assert_allclose(bilinear_matrix(2, 2), expected)
    np.testing.assert_allclose(bilinear_matrix(7, 3).sum(axis=1), 1.0)


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
@pytest.mark.parametrize("scale", [2, 3])
def test_upsample_gradcheck(mode, scale):
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 2))
    assert gradcheck(Upsample2D(scale, mode), x)


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_upsample_matches_torch(mode):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).normal(size=(2, 3, 5, 4))
    g = np.random.default_rng(2).normal(size=(2, 6, 10, 4))
    layer = Upsample2D(2, mode)
    out = layer.forward(x)
    grad = layer.backward(g)
    xt = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    extra = {} if mode == "nearest" else {"align_corners": False}
    yt = torch.nn.functional.interpolate(xt, scale_factor=2, mode=mode, **extra)
    yt.backward(torch.tensor(g.transpose(0, 3, 1, 2)))
    np.testing.assert_allclose(out, yt.detach().numpy().transpose(0, 2, 3, 1), atol=1e-12)
    np.testing.assert_allclose(grad, xt.grad.numpy().transpose(0, 2, 3, 1), atol=1e-12)


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_upsample_backward_of_a_concatenation_slice(mode, window_passes):
    # Concatenate.backward hands each input a strided slice of its gradient: it gets the
    # same bits as the same gradient contiguous, on the compiled loop where that applies.
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 3, 4, 2)).astype(np.float32)
    layer, concat = Upsample2D(2, mode), Concatenate()
    concat.forward(rng.normal(size=(2, 6, 8, 3)).astype(np.float32), layer.forward(x))
    _, g = concat.backward(rng.normal(size=(2, 6, 8, 5)).astype(np.float32))
    assert not g.flags.c_contiguous
    expected = layer.backward(np.ascontiguousarray(g))
    np.testing.assert_array_equal(layer.backward(g), expected)
    if mode == "nearest":  # each input pixel gets its 2×2 block, by the compiled loop if loaded
        sums = g.reshape(2, 3, 2, 4, 2, 2).sum(axis=(2, 4))
        np.testing.assert_allclose(expected, sums, rtol=1e-6)
        assert upsample.window_loops_apply(np.ascontiguousarray(g)) == (window_passes == "compiled")


def test_upsample_keeps_float32():
    layer = Upsample2D(2, "bilinear")
    out = layer.forward(np.ones((1, 2, 2, 1), np.float32))
    assert out.dtype == np.float32
    assert layer.backward(out).dtype == np.float32


def test_upsample_bad_arguments():
    with pytest.raises(ValueError, match="mode must be one of"):
        Upsample2D(2, "bicubic")
    with pytest.raises(ValueError, match="scale must be a positive integer"):
        Upsample2D(0)


# --- Concatenate ----------------------------------------------------------------------------


def test_concatenate_forward_and_backward_split():
    a, b = np.ones((1, 2, 2, 3)), np.zeros((1, 2, 2, 2))
    join = Concatenate()
    out = join(a, b)
    assert out.shape == (1, 2, 2, 5)
    g = np.arange(20.0).reshape(1, 2, 2, 5)
    ga, gb = join.backward(g)
    np.testing.assert_array_equal(ga, g[..., :3])
    np.testing.assert_array_equal(gb, g[..., 3:])


def test_concatenate_gradcheck():
    rng = np.random.default_rng(0)
    r = rng.normal(size=(2, 3, 3, 5))

    def f(a, b):
        join = Concatenate()
        out = join.forward(a, b)
        return float(np.sum(out * r)), join.backward(r)

    assert gradcheck(f, (rng.normal(size=(2, 3, 3, 2)), rng.normal(size=(2, 3, 3, 3))))


def test_concatenate_shape_mismatch():
    with pytest.raises(ValueError, match="agree on all axes but the last"):
        Concatenate().forward(np.ones((1, 2, 2, 1)), np.ones((1, 4, 4, 1)))
    with pytest.raises(ValueError, match="at least 2 inputs"):
        Concatenate().forward(np.ones((1, 2, 2, 1)))


# --- UNet ---------------------------------------------------------------------------------


def small_unet(upsample="nearest", depth=2, **kwargs):
    net = UNet(2, depth, 2, upsample=upsample, random_state=0, dtype=np.float64, **kwargs)
    rng = np.random.default_rng(7)
    for name, p in net.named_parameters():  # biases away from 0 keep ReLUs off their kinks
        if name.endswith("bias"):
            p.value[:] = rng.normal(0.0, 0.5, p.value.shape)
    return net


@pytest.mark.parametrize("upsample", ["nearest", "bilinear"])
def test_unet_gradcheck(upsample):
    net = small_unet(upsample)
    x = np.random.default_rng(1).normal(size=(2, 8, 8, 2))
    assert gradcheck(net, x)


def test_unet_depth_one_gradcheck_and_no_input_grad():
    x = np.random.default_rng(2).normal(size=(1, 6, 4, 2))
    assert gradcheck(small_unet(depth=1), x)
    net = small_unet(depth=1, input_grad=False)
    out = net.forward(x)
    assert net.backward(np.ones_like(out)) is None
    assert any(p.grad.any() for p in net.parameters())


def test_unet_shapes_names_and_state_dict_round_trip():
    net = UNet(3, depth=3, base_width=4, random_state=0)
    out = net.forward(np.zeros((2, 16, 24, 3), np.float32))
    assert out.shape == (2, 16, 24, 1) and out.dtype == np.float32
    names = [name for name, _ in net.named_parameters()]
    assert names[:2] == ["enc0.0.weight", "enc0.0.bias"]
    assert names[-2:] == ["head.weight", "head.bias"]
    assert net.params == {} and len(names) == 2 * (4 * 3 + 2 + 1)
    assert net.decoders[0].layers[0].params["weight"].value.shape == (3, 3, 8 + 4, 4)

    other = UNet(3, depth=3, base_width=4, random_state=1)
    x = np.random.default_rng(0).random((1, 8, 8, 3), dtype=np.float32)
    assert not np.allclose(other.forward(x), net.forward(x))
    other.load_state_dict(net.state_dict())
    np.testing.assert_array_equal(other.forward(x), net.forward(x))


def test_unet_same_seed_same_weights():
    a, b = (UNet(1, 2, 4, random_state=3) for _ in range(2))
    for (_, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        np.testing.assert_array_equal(pa.value, pb.value)


def test_unet_bad_input():
    net = UNet(1, depth=2, base_width=2)
    with pytest.raises(ValueError, match="multiples of 2\\*\\*depth = 4"):
        net.forward(np.zeros((1, 6, 8, 1)))
    with pytest.raises(ValueError, match="must have 1 channels"):
        net.forward(np.zeros((1, 8, 8, 2)))
    with pytest.raises(ValueError, match="depth must be a positive integer"):
        UNet(1, depth=0)
    with pytest.raises(ValueError, match="upsample must be one of"):
        UNet(1, upsample="cubic")


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda: MaxPool2D(True), "pool_size must be a positive integer; got True"),
        (lambda: Upsample2D(True), "scale must be a positive integer; got True"),
        (lambda: Conv2D(1, True), "out_channels must be a positive integer; got True"),
        (lambda: Conv2D(1, 2, dtype=np.float16), "dtype must be float32 or float64"),
        (lambda: UNet(1, depth=True), "depth must be a positive integer; got True"),
    ],
)
def test_layer_arguments_are_checked_alike(make, fragment):
    with pytest.raises(ValueError, match=re.escape(fragment)):
        make()


def test_maxpool_backward_needs_a_training_forward():
    pool = MaxPool2D(2).eval()
    pool.forward(distinct((1, 4, 4, 1)))
    with pytest.raises(RuntimeError, match="training mode"):
        pool.backward(np.ones((1, 2, 2, 1)))
