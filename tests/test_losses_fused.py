"""The fused Numba kernel path of BCE-with-logits agrees with the NumPy path for every knob."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")

from bcekit.losses import (
    BinaryCrossEntropyWithLogits,
    _kernels,
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_value_and_grad,
)

N = 3000
RNG = np.random.default_rng(3)
TOLERANCE = {np.float64: 1e-12, np.float32: 1e-5}


def _inputs(dtype, n=N):
    z = RNG.normal(0.0, 4.0, n).astype(dtype)
    z[:4] = [1e4, -1e4, 80.0, -80.0]
    return z, RNG.uniform(0.0, 1.0, n).astype(dtype), RNG.uniform(0.0, 2.0, n).astype(dtype)


@pytest.fixture
def calls(monkeypatch):
    """Send every input the kernel takes to it, and record which kernel ran with what."""
    made = []
    for name in ("bce_with_logits_fused", "bce_with_logits_elementwise"):
        kernel = getattr(_kernels, name)

        def counting(*args, kernel=kernel, name=name):
            made.append((name, args))
            return kernel(*args)

        monkeypatch.setattr(_kernels, name, counting)
    monkeypatch.setattr(_kernels, "FUSED_MIN_SIZE", 1)
    return made


def _numpy_path(monkeypatch, *args, **kw):
    with monkeypatch.context() as m:
        m.setattr(_kernels, "FUSED_MIN_SIZE", np.iinfo(np.int64).max)
        return binary_cross_entropy_with_logits_value_and_grad(*args, **kw)


def _assert_agree(fused, numpy, dtype):
    rtol = TOLERANCE[dtype]
    np.testing.assert_allclose(fused[0], numpy[0], rtol=rtol, atol=0.0)
    assert fused[1].dtype == numpy[1].dtype and fused[1].shape == numpy[1].shape
    np.testing.assert_allclose(fused[1], numpy[1], rtol=rtol, atol=rtol * np.abs(numpy[1]).max())


KNOBS = {
    "plain": lambda w: {},
    "weight": lambda w: {"weight": w},
    "pos_weight": lambda w: {"pos_weight": 2.5},
    "pos_weight_one_element": lambda w: {"pos_weight": [0.4]},
    "smoothing": lambda w: {"label_smoothing": 0.15},
    "mask": lambda w: {"mask": w > 0.5},
    "everything": lambda w: {
        "weight": w,
        "pos_weight": 0.7,
        "label_smoothing": 0.3,
        "mask": w < 1.5,
    },
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("knob", KNOBS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "weighted_mean", "none"])
def test_fused_agrees_with_numpy(dtype, knob, reduction, calls, monkeypatch):
    z, y, w = _inputs(dtype)
    kw = {**KNOBS[knob](w), "reduction": reduction}
    fused = binary_cross_entropy_with_logits_value_and_grad(z, y, **kw)
    kernel = "bce_with_logits_elementwise" if reduction == "none" else "bce_with_logits_fused"
    assert [name for name, _ in calls] == [kernel]
    numpy = _numpy_path(monkeypatch, z, y, **kw)
    assert len(calls) == 1
    if reduction == "none":
        assert fused[0].dtype == dtype and fused[0].shape == z.shape
    _assert_agree(fused, numpy, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_elementwise_losses_are_zero_where_masked_or_unweighted(dtype, calls):
    z, y, w = _inputs(dtype)
    z[4:6] = [np.inf, -np.inf]
    y[4:6] = [0.0, 1.0]  # infinite losses, removed below by a zero weight and by the mask
    w[4] = 0.0
    mask = np.ones(N, dtype=bool)
    mask[5] = False
    loss, grad = binary_cross_entropy_with_logits_value_and_grad(
        z, y, weight=w, mask=mask, reduction="none"
    )
    assert len(calls) == 1
    assert loss[4] == 0.0 and loss[5] == 0.0 and grad[4] == 0.0 and grad[5] == 0.0
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(grad))


LAYOUTS = ["broadcast_targets", "broadcast_weight", "broadcast_mask", "fortran", "strided", "0-d"]


def _layout(case, dtype):
    z = RNG.normal(0.0, 3.0, (40, 3)).astype(dtype)
    y = RNG.uniform(size=(40, 3)).astype(dtype)
    kw = {}
    if case == "broadcast_targets":
        y = y[0]
    elif case == "broadcast_weight":
        kw["weight"] = RNG.uniform(size=(40, 1)).astype(dtype)
    elif case == "broadcast_mask":
        kw["mask"] = np.array([True, False, True])
    elif case == "fortran":
        z, y = np.asfortranarray(z), y.copy(order="F")
    elif case == "strided":
        z, y = z[::2, ::2], y[::2, ::2]
    elif case == "0-d":
        z, y = z[0, 0], y[0, 0]
    return z, y, kw


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", LAYOUTS)
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_kernel_takes_any_layout(case, reduction, dtype, calls, monkeypatch):
    z, y, kw = _layout(case, dtype)
    kw["reduction"] = reduction
    fused = binary_cross_entropy_with_logits_value_and_grad(z, y, **kw)
    assert len(calls) == 1
    numpy = _numpy_path(monkeypatch, z, y, **kw)
    if case == "0-d":
        assert fused[1].shape == () and np.shape(fused[0]) == ()
    _assert_agree(fused, numpy, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fused_value_only_and_infinities(dtype, calls, monkeypatch):
    z, y, _ = _inputs(dtype)
    z = z.reshape(30, 100)
    y = (y > 0.5).astype(dtype).reshape(30, 100)
    z[0, :2] = [np.inf, -np.inf]
    y[0, :2] = [1.0, 0.0]
    loss = BinaryCrossEntropyWithLogits(pos_weight=1.5, reduction="sum")
    value = loss(z, y)
    assert len(calls) == 1 and calls[0][1][3] is None  # no gradient buffer was asked for
    numpy_value, _ = _numpy_path(monkeypatch, z, y, pos_weight=1.5, reduction="sum")
    assert value == pytest.approx(numpy_value, rel=TOLERANCE[dtype])
    _, grad = loss.value_and_grad(z, y)
    assert grad.shape == z.shape and np.all(np.isfinite(grad)) and np.all(grad[0, :2] == 0.0)


@pytest.mark.parametrize("reduction", ["weighted_mean", "mean"])
def test_nothing_counted_gives_zero(reduction, calls):
    z, y, _ = _inputs(np.float64)
    kw = {"weight": np.zeros(N)} if reduction == "weighted_mean" else {"mask": np.zeros(N, bool)}
    z[0] = np.inf  # an infinite loss that counts nowhere
    value, grad = binary_cross_entropy_with_logits_value_and_grad(z, y, reduction=reduction, **kw)
    assert len(calls) == 1
    assert value == 0.0 and np.all(grad == 0.0)


def test_subnormal_weights_keep_the_gradient_finite(calls, monkeypatch):
    """``1/Σw`` overflows float32 here; the gradient must still be ``w ∂ℓ / Σw``."""
    z, y, _ = _inputs(np.float32, 50)
    w = np.full(50, 1e-41, dtype=np.float32)
    w[::3] = 0.0
    kw = {"weight": w, "reduction": "weighted_mean"}
    fused = binary_cross_entropy_with_logits_value_and_grad(z, y, **kw)
    assert len(calls) == 1
    numpy = _numpy_path(monkeypatch, z, y, **kw)
    assert np.all(np.isfinite(fused[1])) and np.all(fused[1][::3] == 0.0)
    np.testing.assert_allclose(fused[0], numpy[0], rtol=1e-5)
    np.testing.assert_allclose(fused[1], numpy[1], rtol=1e-5, atol=0.0)


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_a_pos_weight_that_varies_uses_numpy(reduction, calls):
    z = RNG.normal(size=(20, 3))
    y = RNG.uniform(size=(20, 3))
    pw = np.array([1.0, 2.0, 3.0])
    value, grad = binary_cross_entropy_with_logits_value_and_grad(
        z, y, pos_weight=pw, reduction=reduction
    )
    assert calls == []
    # ℓ = (1 − y)·softplus(z) + pw·y·softplus(−z), by hand.
    per_element = (1 - y) * np.logaddexp(0, z) + pw * y * np.logaddexp(0, -z)
    expected = per_element if reduction == "none" else per_element.mean()
    np.testing.assert_allclose(value, expected, rtol=1e-12)
    assert grad.shape == z.shape


def test_the_size_threshold_is_the_kernel_module_s(monkeypatch):
    made = []
    kernel = _kernels.bce_with_logits_fused
    monkeypatch.setattr(_kernels, "bce_with_logits_fused", lambda *a: made.append(a) or kernel(*a))
    z, y, _ = _inputs(np.float64, 256)
    monkeypatch.setattr(_kernels, "FUSED_MIN_SIZE", 257)
    binary_cross_entropy_with_logits(z, y)
    assert made == []
    monkeypatch.setattr(_kernels, "FUSED_MIN_SIZE", 256)
    binary_cross_entropy_with_logits(z, y)
    assert len(made) == 1


def test_empty_input_with_a_sum_is_zero(calls):
    value, grad = binary_cross_entropy_with_logits_value_and_grad(
        np.zeros(0), np.zeros(0), reduction="sum"
    )
    assert value == 0.0 and grad.shape == (0,)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_arrays_large_enough_for_the_parallel_kernel(dtype, calls, monkeypatch):
    z, y, w = _inputs(dtype, 1 << 17)
    kw = {"weight": w, "mask": w > 0.2, "pos_weight": 1.3, "reduction": "weighted_mean"}
    fused = binary_cross_entropy_with_logits_value_and_grad(z, y, **kw)
    assert len(calls) == 1
    _assert_agree(fused, _numpy_path(monkeypatch, z, y, **kw), dtype)
