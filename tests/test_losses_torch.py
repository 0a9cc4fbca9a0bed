"""The losses on torch tensors, against torch's own losses and autograd.

bcekit gives its own gradient (no autograd); it must equal what autograd gives for torch's
loss of the same formula, for finite logits, and stay finite at ±inf, where torch's loss is
NaN. The focal loss is compared with torchvision's ``sigmoid_focal_loss`` formula, written
here so that torchvision is not needed. Every test runs twice: CPU tensors as a user passes
them (NumPy views through the fused path) and on the portable path that tensors needing a
gradient, or living on a GPU, take.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (bench extra)")
F = torch.nn.functional

from bcekit.losses import (  # noqa: E402
    BinaryCrossEntropyWithLogits,
    SigmoidFocalLoss,
    _namespace,
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_value_and_grad,
    sigmoid_focal_loss_value_and_grad,
    softmax_cross_entropy_value_and_grad,
)

TOL = {torch.float64: 1e-12, torch.float32: 2e-6}


@pytest.fixture(autouse=True, params=["numpy views", "portable"])
def path(request, monkeypatch):
    """Which path CPU tensors take: NumPy views of them, or the portable implementation."""
    if request.param == "portable":
        monkeypatch.setattr(_namespace, "_cpu_view", lambda value: None)
    return request.param


def _batch(dtype, shape=(32, 3), seed=0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(shape, generator=g, dtype=dtype) * 4
    y = (torch.rand(shape, generator=g) < 0.4).to(dtype)
    w = torch.rand(shape, generator=g, dtype=dtype) + 0.5
    return z, y, w


def _autograd(loss_fn, z):
    z = z.clone().requires_grad_(True)
    value = loss_fn(z)
    value.backward()
    return value.detach(), z.grad


def _close(got, expected, dtype):
    assert isinstance(got, torch.Tensor) and got.dtype == expected.dtype
    assert got.shape == expected.shape
    scale = float(expected.abs().max()) if expected.numel() else 1.0
    torch.testing.assert_close(got, expected, rtol=TOL[dtype], atol=TOL[dtype] * scale)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(
    "options",
    [{}, {"reduction": "sum"}, {"reduction": "none"}, {"pos_weight": 2.5}, {"weight": True},
     {"pos_weight": "per class"}],
    ids=["mean", "sum", "none", "pos_weight", "weight", "pos_weight_per_class"],
)  # fmt: skip
def test_bce_with_logits_equals_torch(options, dtype):
    z, y, w = _batch(dtype)
    ours, theirs = dict(options), dict(options)
    if options.get("pos_weight") == "per class":
        ours["pos_weight"] = theirs["pos_weight"] = torch.tensor([0.5, 1.0, 3.0], dtype=dtype)
    elif "pos_weight" in options:
        theirs["pos_weight"] = torch.tensor(options["pos_weight"], dtype=dtype)
    if options.get("weight"):
        ours["weight"] = theirs["weight"] = w
    value, grad = binary_cross_entropy_with_logits_value_and_grad(z, y, **ours)
    reduce = (lambda v: v.sum()) if options.get("reduction") == "none" else (lambda v: v)
    expected_value, expected_grad = _autograd(
        lambda t: reduce(F.binary_cross_entropy_with_logits(t, y, **theirs)), z
    )
    _close(grad, expected_grad, dtype)
    if options.get("reduction") == "none":
        _close(value, F.binary_cross_entropy_with_logits(z, y, reduction="none"), dtype)
    else:
        assert value.shape == ()
        _close(value, expected_value, dtype)


def test_the_issue_example_returns_a_tensor_equal_to_torch():
    z, y, _ = _batch(torch.float32)
    value = binary_cross_entropy_with_logits(z, y)
    assert isinstance(value, torch.Tensor) and value.device == z.device
    torch.testing.assert_close(value, F.binary_cross_entropy_with_logits(z, y))
    loss = BinaryCrossEntropyWithLogits(reduction="sum")
    torch.testing.assert_close(
        loss(z, y), F.binary_cross_entropy_with_logits(z, y, reduction="sum")
    )


def test_infinite_logits_stay_finite_where_torch_gives_nan():
    z = torch.tensor([float("inf"), -float("inf"), 3.0, float("inf")], dtype=torch.float64)
    y = torch.tensor([1.0, 0.0, 1.0, 0.5], dtype=torch.float64)
    theirs = F.binary_cross_entropy_with_logits(z, y, reduction="none")
    assert torch.isnan(theirs[:2]).all()
    value, grad = binary_cross_entropy_with_logits_value_and_grad(z, y, reduction="none")
    assert value[0] == 0.0 and value[1] == 0.0 and value[3] == float("inf")
    torch.testing.assert_close(value[2], theirs[2])
    assert torch.isfinite(grad).all()
    assert grad.tolist()[:2] == [0.0, 0.0] and grad[3] == 0.5
    mean, mean_grad = binary_cross_entropy_with_logits_value_and_grad(z[:3], y[:3])
    assert torch.isfinite(mean) and torch.isfinite(mean_grad).all()


def _torchvision_focal(z, y, alpha, gamma, reduction):
    """torchvision.ops.sigmoid_focal_loss, as its documentation defines it."""
    p = torch.sigmoid(z)
    ce = F.binary_cross_entropy_with_logits(z, y, reduction="none")
    p_t = p * y + (1 - p) * (1 - y)
    loss = ce * ((1 - p_t) ** gamma)
    if alpha >= 0:
        loss = (alpha * y + (1 - alpha) * (1 - y)) * loss
    return loss.mean() if reduction == "mean" else loss.sum()


FOCAL = [(0.25, 2.0, "mean"), (-1, 1.5, "sum"), (0.5, 0.0, "mean")]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(("alpha", "gamma", "reduction"), FOCAL)
def test_focal_equals_torchvisions_formula(alpha, gamma, reduction, dtype):
    z, y, _ = _batch(dtype, seed=1)
    z = z.clamp(-15, 15)  # the plain formula loses accuracy where p_t rounds to 1
    keywords = {"gamma": gamma, "alpha": None if alpha < 0 else alpha, "reduction": reduction}
    value, grad = sigmoid_focal_loss_value_and_grad(z, y, **keywords)
    expected_value, expected_grad = _autograd(
        lambda t: _torchvision_focal(t, y, alpha, gamma, reduction), z
    )
    _close(value, expected_value, dtype)
    _close(grad, expected_grad, dtype)
    torch.testing.assert_close(SigmoidFocalLoss(**keywords)(z, y), value)


def test_softmax_equals_torch_cross_entropy():
    z, _, _ = _batch(torch.float64, (16, 5))
    ids = torch.arange(16) % 5
    value, grad = softmax_cross_entropy_value_and_grad(z, ids, label_smoothing=0.1)
    expected_value, expected_grad = _autograd(
        lambda t: F.cross_entropy(t, ids, label_smoothing=0.1), z
    )
    _close(value, expected_value, torch.float64)
    _close(grad, expected_grad, torch.float64)


def test_torch_input_matches_numpy_input():
    z, y, w = _batch(torch.float64)
    value, grad = binary_cross_entropy_with_logits_value_and_grad(
        z, y, weight=w, label_smoothing=0.1
    )
    np_value, np_grad = binary_cross_entropy_with_logits_value_and_grad(
        z.numpy(), y.numpy(), weight=w.numpy(), label_smoothing=0.1
    )
    assert float(value) == pytest.approx(np_value, rel=1e-12)
    np.testing.assert_allclose(grad.numpy(), np_grad, rtol=1e-12, atol=1e-15)
    with pytest.raises(TypeError, match=r"logits and targets come from different array libraries"):
        binary_cross_entropy_with_logits(z, y.numpy())


bce = binary_cross_entropy_with_logits


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda z, y, meta: bce(z, meta(y)), "targets"),
        (lambda z, y, meta: bce(z, y, weight=meta(y)), "weight"),
        (lambda z, y, meta: bce(z, y, pos_weight=meta(y)), "pos_weight"),
        (lambda z, y, meta: bce(z, y, mask=meta(y > 0)), "mask"),
        (lambda z, y, meta: SigmoidFocalLoss()(z, meta(y)), "targets"),
        (lambda z, y, meta: softmax_cross_entropy_value_and_grad(z, meta(y)), "targets"),
    ],
    ids=["targets", "weight", "pos_weight", "mask", "focal", "softmax"],
)  # fmt: skip
def test_an_operand_on_another_device_is_named(call, name):
    """A tensor on another device than the logits (here torch's ``meta`` device, which every
    build has) is refused by name, before torch's own device error."""
    z, y, _ = _batch(torch.float32)
    with pytest.raises(
        ValueError, match=rf"^{name} must be on the device of logits \(cpu\); got an array on meta"
    ):
        call(z, y, lambda t: t.to("meta"))


def test_cpu_tensors_get_the_fused_path_bits_back_as_tensors_sharing_memory(path):
    """On the NumPy-view path a CPU tensor gets exactly what its NumPy array gets, as tensors
    (a reduced value as a 0-d tensor of the working dtype); the gradient shares the memory of
    the array the NumPy path returned."""
    if path != "numpy views":
        pytest.skip("the portable path computes with torch's operations")
    for dtype in (torch.float32, torch.float64):
        z, y, w = _batch(dtype, shape=(300, 7), seed=3)
        z[0, 0], z[1, 1] = float("inf"), -float("inf")
        loss = BinaryCrossEntropyWithLogits(pos_weight=1.5, label_smoothing=0.05)
        value, grad = loss.value_and_grad(z, y, weight=w)
        np_value, np_grad = loss.value_and_grad(z.numpy(), y.numpy(), weight=w.numpy())
        assert isinstance(value, torch.Tensor) and value.shape == () and value.dtype == dtype
        assert float(value) == float(np_value)
        assert isinstance(grad, torch.Tensor) and grad.dtype == dtype
        np.testing.assert_array_equal(grad.numpy(), np_grad)
        per_element = binary_cross_entropy_with_logits(z, y, reduction="none")
        np.testing.assert_array_equal(
            per_element.numpy(),
            binary_cross_entropy_with_logits(z.numpy(), y.numpy(), reduction="none"),
        )


def test_tensors_that_need_a_gradient_take_the_portable_path_with_the_same_result():
    z, y, _ = _batch(torch.float64, seed=4)
    leaf = z.clone().requires_grad_(True)
    with torch.no_grad():
        value, grad = binary_cross_entropy_with_logits_value_and_grad(leaf, y)
    plain_value, plain_grad = binary_cross_entropy_with_logits_value_and_grad(z, y)
    _close(value, plain_value, torch.float64)
    _close(grad, plain_grad, torch.float64)
    with pytest.raises(TypeError, match="out is for NumPy input only"):
        BinaryCrossEntropyWithLogits().value_and_grad(z, y, out=np.empty(z.shape))


def test_a_number_for_the_predictions_beside_tensors_answers_in_torch():
    value, grad = binary_cross_entropy_with_logits_value_and_grad(0.3, torch.tensor(1.0))
    np_value, np_grad = binary_cross_entropy_with_logits_value_and_grad(0.3, 1.0)
    assert isinstance(value, torch.Tensor) and isinstance(grad, torch.Tensor)
    assert float(value) == pytest.approx(float(np_value), rel=1e-6)
    assert float(grad.reshape(-1)[0]) == pytest.approx(float(np.ravel(np_grad)[0]), rel=1e-6)


def test_keyword_predictions_take_the_same_path():
    z, y, w = _batch(torch.float32, seed=5)
    by_position = binary_cross_entropy_with_logits_value_and_grad(z, y, weight=w)
    by_keyword = binary_cross_entropy_with_logits_value_and_grad(logits=z, targets=y, weight=w)
    assert torch.equal(by_position[0], by_keyword[0]) and torch.equal(by_position[1], by_keyword[1])
