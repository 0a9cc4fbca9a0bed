"""``value_and_grad(..., out=buffer)``: the gradient lands in the buffer, which is returned."""

from __future__ import annotations

import numpy as np
import pytest

from bcekit.losses import (
    BinaryCrossEntropy,
    BinaryCrossEntropyWithLogits,
    SigmoidFocalLoss,
    SoftmaxCrossEntropy,
    binary_cross_entropy_with_logits_value_and_grad,
)

RNG = np.random.default_rng(11)


def _batch(dtype=np.float64, shape=(64, 3)):
    z = RNG.normal(0.0, 3.0, shape).astype(dtype)
    y = (RNG.random(shape) < 0.4).astype(dtype)
    w = RNG.uniform(0.0, 2.0, shape).astype(dtype)
    return z, y, w


def _same_as_without_out(loss, pred, targets, **kw):
    value, grad = loss.value_and_grad(pred, targets, **kw)
    out = np.full(grad.shape, np.nan, grad.dtype)  # stale contents must all be overwritten
    value_out, grad_out = loss.value_and_grad(pred, targets, out=out, **kw)
    assert grad_out is out
    _assert_bitwise(value_out, value)
    _assert_bitwise(out, grad)
    return out


def _assert_bitwise(got, expected):
    """The same dtype, shape and bits (so −0.0 differs from 0.0, and NaN payloads count)."""
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert got.tobytes() == expected.tobytes()


LOGIT_CASES = {
    "mean": {},
    "weighted_mean": {"reduction": "weighted_mean", "weight": True},
    "sum with a mask": {"reduction": "sum", "mask": True},
    "none": {"reduction": "none"},
    "pos_weight per class (NumPy path)": {"pos_weight": [1.0, 2.0, 0.5]},
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", LOGIT_CASES)
def test_logits_loss_writes_into_out(case, dtype):
    z, y, w = _batch(dtype)
    config = dict(LOGIT_CASES[case])
    kw = {}
    if config.pop("weight", False):
        kw["weight"] = w
    if config.pop("mask", False):
        kw["mask"] = w > 0.5
    loss = BinaryCrossEntropyWithLogits(**config)
    out = _same_as_without_out(loss, z, y, **kw)
    assert out.dtype == dtype


def test_a_strided_out_receives_the_gradient_and_nothing_else():
    z, y, _ = _batch()
    loss = BinaryCrossEntropyWithLogits()
    _, grad = loss.value_and_grad(z, y)
    backing = np.full((64, 6), 7.0)
    out = backing[:, ::2]
    assert not out.flags.c_contiguous
    assert loss.value_and_grad(z, y, out=out)[1] is out
    np.testing.assert_array_equal(out, grad)
    assert np.all(backing[:, 1::2] == 7.0)


def test_scalar_prediction_with_a_0d_out():
    loss = BinaryCrossEntropyWithLogits()
    out = np.empty(())
    value, grad = loss.value_and_grad(np.float64(0.0), 1.0, out=out)
    assert grad is out
    assert value == pytest.approx(np.log(2.0))
    assert out[()] == pytest.approx(-0.5)  # σ(0) − 1


def test_one_buffer_serves_many_batches():
    loss = BinaryCrossEntropyWithLogits(reduction="sum")
    out = np.empty((64, 3), np.float32)
    for _ in range(3):
        z, y, _ = _batch(np.float32)
        _, grad = loss.value_and_grad(z, y, out=out)
        # σ(z) − y, by hand, in float64.
        expected = 1.0 / (1.0 + np.exp(-z.astype(np.float64))) - y
        np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    ("loss", "kind"),
    [
        (BinaryCrossEntropy(), "probs"),
        (SigmoidFocalLoss(gamma=1.5, alpha=0.25), "logits"),
        (SoftmaxCrossEntropy(label_smoothing=0.1), "classes"),
    ],
    ids=["bce_probs", "focal", "softmax"],
)
def test_other_losses_copy_into_out(loss, kind):
    z, y, _ = _batch()
    if kind == "probs":
        z = 1.0 / (1.0 + np.exp(-z))
    if kind == "classes":
        y = RNG.integers(0, 3, 64)
    _same_as_without_out(loss, z, y)


LOSSES = [
    BinaryCrossEntropyWithLogits(),
    BinaryCrossEntropyWithLogits(pos_weight=[1.0, 2.0, 3.0]),
    SigmoidFocalLoss(),
]


@pytest.mark.parametrize("loss", LOSSES, ids=["bce_logits", "bce_logits_numpy", "focal"])
class TestBadOut:
    def test_not_an_array(self, loss):
        z, y, _ = _batch()
        with pytest.raises(TypeError, match=r"out must be a numpy\.ndarray; got list"):
            loss.value_and_grad(z, y, out=z.tolist())

    def test_wrong_shape(self, loss):
        z, y, _ = _batch()
        with pytest.raises(ValueError, match=r"out must have the gradient's shape \(64, 3\)"):
            loss.value_and_grad(z, y, out=np.empty((3, 64)))

    def test_wrong_dtype(self, loss):
        z, y, _ = _batch(np.float32)
        with pytest.raises(ValueError, match=r"dtype float32; got shape .* and dtype float64"):
            loss.value_and_grad(z, y, out=np.empty((64, 3)))

    def test_float16_predictions_want_a_float32_buffer(self, loss):
        z, y, _ = _batch(np.float16)
        _, grad = loss.value_and_grad(z, y, out=np.empty((64, 3), np.float32))
        assert grad.dtype == np.float32
        with pytest.raises(ValueError, match="out must have"):
            loss.value_and_grad(z, y, out=np.empty((64, 3), np.float16))

    def test_read_only(self, loss):
        z, y, _ = _batch()
        out = np.empty_like(z)
        out.flags.writeable = False
        with pytest.raises(ValueError, match="out must be writeable"):
            loss.value_and_grad(z, y, out=out)

    def test_overlapping_an_input(self, loss):
        z, y, w = _batch()
        with pytest.raises(ValueError, match="out must not share memory with the inputs"):
            loss.value_and_grad(z, y, out=z)
        both = np.stack([y, np.empty_like(y)])
        with pytest.raises(ValueError, match="out must not share memory"):
            loss.value_and_grad(z, both[0], out=both[0])
        with pytest.raises(ValueError, match="out must not share memory"):
            loss.value_and_grad(z, y, weight=w, out=w)

    def test_a_failed_check_raises_and_out_is_usable_again(self, loss):
        z, y, _ = _batch()
        out = np.full_like(z, 3.0)
        bad = y.copy()
        bad[0, 0] = 2.0
        with pytest.raises(ValueError, match="targets must lie in"):
            loss.value_and_grad(z, bad, out=out)
        _, grad = loss.value_and_grad(z, y, out=out)
        assert grad is out
        np.testing.assert_array_equal(out, loss.value_and_grad(z, y)[1])


LARGE = (1 << 18) + 7  # over the pool's 1 MiB in float32 and on the kernel's parallel path


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "none", "weighted_mean"])
def test_large_gradient_with_and_without_out_is_bitwise_the_same(dtype, reduction):
    z = RNG.normal(0.0, 4.0, LARGE).astype(dtype)
    z[:3] = [np.inf, -np.inf, 0.0]
    y = (RNG.random(LARGE) < 0.3).astype(dtype)
    kw = {}
    if reduction == "weighted_mean":
        kw = {"weight": RNG.uniform(0.0, 2.0, LARGE).astype(dtype), "mask": z > -3.0}
    loss = BinaryCrossEntropyWithLogits(reduction=reduction)
    value, grad = loss.value_and_grad(z, y, **kw)
    out = np.full_like(z, np.nan)
    value_out, grad_out = loss.value_and_grad(z, y, out=out, **kw)
    assert grad_out is out
    _assert_bitwise(value_out, value)
    _assert_bitwise(out, grad)
    functional = binary_cross_entropy_with_logits_value_and_grad(z, y, reduction=reduction, **kw)
    _assert_bitwise(functional[0], value)
    _assert_bitwise(functional[1], grad)


def test_a_held_gradient_is_never_overwritten_by_later_calls():
    loss = BinaryCrossEntropyWithLogits()
    y = np.zeros(LARGE, np.float32)
    held = []
    for shift in range(4):  # more gradients held than the pool keeps
        z = np.full(LARGE, float(shift), np.float32)
        held.append((loss.value_and_grad(z, y)[1], z))
    view = held[0][0][::2]
    del held[0]
    loss.value_and_grad(np.full(LARGE, 9.0, np.float32), y)
    for grad, z in held:  # σ(z) − 0, scaled by 1/n
        np.testing.assert_allclose(grad * LARGE, 1.0 / (1.0 + np.exp(-z)), rtol=1e-6)
    np.testing.assert_allclose(view * LARGE, 0.5, rtol=1e-6)  # σ(0): a view keeps it too


def test_a_released_gradient_buffer_is_used_again():
    loss = BinaryCrossEntropyWithLogits()
    z = RNG.normal(0.0, 1.0, LARGE)
    y = (z > 0).astype(np.float64)
    first = loss.value_and_grad(z, y)[1]
    address = first.__array_interface__["data"][0]
    expected = first.copy()
    del first
    again = loss.value_and_grad(z, y)[1]
    assert again.__array_interface__["data"][0] == address
    np.testing.assert_array_equal(again, expected)


def _address(a):
    return a.__array_interface__["data"][0]


def test_the_function_recycles_a_released_gradient_and_keeps_held_ones():
    z = RNG.normal(0.0, 2.0, LARGE)
    y = (RNG.random(LARGE) < 0.5).astype(np.float64)
    expected = BinaryCrossEntropyWithLogits().value_and_grad(z, y)[1].copy()
    first = binary_cross_entropy_with_logits_value_and_grad(z, y)[1]
    second = binary_cross_entropy_with_logits_value_and_grad(-z, y)[1]  # first is still held
    assert not np.shares_memory(first, second)
    _assert_bitwise(first, expected)  # not overwritten by the second call
    address = _address(first)
    del first
    third = binary_cross_entropy_with_logits_value_and_grad(z, y)[1]
    assert _address(third) == address
    _assert_bitwise(third, expected)


def test_the_function_pools_no_buffer_above_its_limit(monkeypatch):
    from bcekit.losses import _buffers

    monkeypatch.setattr(_buffers, "_shared", [_buffers.GradientPool(max_bytes=3 << 19)])  # 1.5 MiB
    z = RNG.normal(0.0, 2.0, LARGE)  # 2 MiB of float64
    y = np.zeros_like(z)
    grad = binary_cross_entropy_with_logits_value_and_grad(z, y)[1]
    assert grad.base is None  # a new array of its own, not a view of a kept buffer
    assert _buffers.shared_pool()._slots == []
    small = binary_cross_entropy_with_logits_value_and_grad(z[: LARGE // 2], y[: LARGE // 2])[1]
    assert small.base is not None and len(_buffers.shared_pool()._slots) == 1


def test_copies_of_a_loss_do_not_carry_its_buffers():
    import copy

    loss = BinaryCrossEntropyWithLogits(pos_weight=2.0)
    z = RNG.normal(0.0, 1.0, LARGE)
    loss.value_and_grad(z, np.zeros_like(z))
    assert "_gradient_pool" in vars(loss)
    assert set(loss.__getstate__()) == {"pos_weight", "label_smoothing", "reduction"}
    twin = copy.deepcopy(loss)
    assert "_gradient_pool" not in vars(twin) and twin.pos_weight == 2.0


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda z, y: z.__setitem__(5, np.nan), "logits"),
        (lambda z, y: y.__setitem__(7, 2.0), "targets"),
    ],
)
def test_large_invalid_input_with_out_names_the_argument(damage, message):
    z = RNG.normal(0.0, 2.0, LARGE).astype(np.float32)
    y = (RNG.random(LARGE) < 0.5).astype(np.float32)
    damage(z, y)
    with pytest.raises(ValueError, match=message):
        BinaryCrossEntropyWithLogits().value_and_grad(z, y, out=np.empty_like(z))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_an_out_next_to_the_logits_gets_the_same_bits(dtype):
    # A buffer a few bytes after the logits sends the kernel through LLVM's scalar copy of its
    # loop (the run-time overlap check fails); the elements must not round differently there.
    loss = BinaryCrossEntropyWithLogits(reduction="none", pos_weight=2.5, label_smoothing=0.1)
    for _ in range(40):
        z, y, _ = _batch(dtype, (12,))
        value, grad = loss.value_and_grad(z, y)
        block = np.empty(2 * z.size, dtype)
        block[: z.size] = z
        value_out, grad_out = loss.value_and_grad(block[: z.size], y, out=block[z.size :])
        _assert_bitwise(value_out, value)
        _assert_bitwise(grad_out, grad)
