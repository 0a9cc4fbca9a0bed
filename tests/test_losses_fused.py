"""The fused Numba kernel path of BCE-with-logits agrees with the NumPy path for every knob."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")

from bcekit.losses import (
    _kernels,
    binary_cross_entropy_with_logits_value_and_grad,
)
from bcekit.losses import binary as binary_module

N = 3000
RNG = np.random.default_rng(3)
TOLERANCE = {np.float64: 1e-12, np.float32: 1e-5}


def _inputs(dtype):
    z = RNG.normal(0.0, 4.0, N).astype(dtype)
    z[:4] = [1e4, -1e4, 80.0, -80.0]
    return z, RNG.uniform(0.0, 1.0, N).astype(dtype), RNG.uniform(0.0, 2.0, N).astype(dtype)


@pytest.fixture
def calls(monkeypatch):
    """Route every input through the kernel and count the kernel's calls."""
    made = []
    kernel = _kernels.bce_with_logits_fused

    def counting(*args):
        made.append(args)
        return kernel(*args)

    monkeypatch.setattr(binary_module, "_FUSED_MIN_SIZE", 1)
    monkeypatch.setattr(_kernels, "bce_with_logits_fused", counting)
    return made


def _numpy_path(monkeypatch, *args, **kw):
    with monkeypatch.context() as m:
        m.setattr(binary_module, "_FUSED_MIN_SIZE", np.iinfo(np.int64).max)
        return binary_cross_entropy_with_logits_value_and_grad(*args, **kw)


KNOBS = {
    "plain": lambda w: {},
    "weight": lambda w: {"weight": w},
    "pos_weight": lambda w: {"pos_weight": 2.5},
    "pos_weight_one_element": lambda w: {"pos_weight": [0.4]},
    "smoothing": lambda w: {"label_smoothing": 0.15},
    "everything": lambda w: {"weight": w, "pos_weight": 0.7, "label_smoothing": 0.3},
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("knob", KNOBS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "weighted_mean"])
def test_fused_agrees_with_numpy(dtype, knob, reduction, calls, monkeypatch):
    z, y, w = _inputs(dtype)
    kw = {**KNOBS[knob](w), "reduction": reduction}
    fused_value, fused_grad = binary_cross_entropy_with_logits_value_and_grad(z, y, **kw)
    assert len(calls) == 1
    numpy_value, numpy_grad = _numpy_path(monkeypatch, z, y, **kw)
    assert len(calls) == 1
    assert fused_grad.dtype == dtype and fused_grad.shape == z.shape
    rtol = TOLERANCE[dtype]
    assert fused_value == pytest.approx(numpy_value, rel=rtol)
    np.testing.assert_allclose(
        fused_grad, numpy_grad, rtol=rtol, atol=rtol * np.abs(numpy_grad).max()
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fused_value_only_and_infinities(dtype, calls, monkeypatch):
    z, y, _ = _inputs(dtype)
    z = z.reshape(30, 100)
    y = (y > 0.5).astype(dtype).reshape(30, 100)
    z[0, :2] = [np.inf, -np.inf]
    y[0, :2] = [1.0, 0.0]
    loss = binary_module.BinaryCrossEntropyWithLogits(pos_weight=1.5, reduction="sum")
    value = loss(z, y)
    assert len(calls) == 1 and calls[0][3] is None  # no gradient buffer was asked for
    numpy_value, _ = _numpy_path(monkeypatch, z, y, pos_weight=1.5, reduction="sum")
    assert value == pytest.approx(numpy_value, rel=TOLERANCE[dtype])
    _, grad = loss.value_and_grad(z, y)
    assert grad.shape == z.shape and np.all(np.isfinite(grad)) and np.all(grad[0, :2] == 0.0)


def test_all_zero_weights_give_zero_without_the_kernel(calls):
    z, y, _ = _inputs(np.float64)
    value, grad = binary_cross_entropy_with_logits_value_and_grad(
        z, y, weight=np.zeros(N), reduction="weighted_mean"
    )
    assert value == 0.0 and np.all(grad == 0.0)


@pytest.mark.parametrize(
    "case",
    ["mask", "vector_pos_weight", "broadcast_targets", "broadcast_weight", "strided", "none"],
)
def test_numpy_path_where_the_kernel_does_not_apply(case, calls):
    z = RNG.normal(size=(20, 3))
    y = RNG.uniform(size=(20, 3))
    kw = {
        "mask": {"mask": np.ones((20, 3), dtype=bool)},
        "vector_pos_weight": {"pos_weight": [1.0, 2.0, 3.0]},
        "broadcast_targets": {},
        "broadcast_weight": {"weight": np.ones((20, 1))},
        "strided": {},
        "none": {"reduction": "none"},
    }[case]
    if case == "broadcast_targets":
        y = y[0]
    if case == "strided":
        z, y = np.asfortranarray(z), np.asfortranarray(y)
    binary_cross_entropy_with_logits_value_and_grad(z, y, **kw)
    assert calls == []


def test_small_inputs_stay_on_the_numpy_path(monkeypatch):
    made = []
    monkeypatch.setattr(_kernels, "bce_with_logits_fused", lambda *a: made.append(a))
    n = binary_module._FUSED_MIN_SIZE - 1
    binary_cross_entropy_with_logits_value_and_grad(np.zeros(n), np.zeros(n))
    assert made == []
