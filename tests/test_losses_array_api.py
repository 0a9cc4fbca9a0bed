"""The losses on Array API arrays: array-api-strict runs the portable path against NumPy's.

Every public loss function, its ``*_value_and_grad`` twin and its class get the same inputs as
NumPy arrays and as array-api-strict arrays (a library that has nothing beyond the standard);
values and gradients must agree to 1e-12 (float64) / 1e-6 (float32) and come back as strict
arrays of the working dtype. Every error case raises the same exception with the same message.
"""

from __future__ import annotations

import ast
import math
from pathlib import Path

import array_api_strict as xps  # the test extra: this suite must run, never skip
import numpy as np
import pytest

from bcekit import losses
from bcekit.losses import segmentation as seg

RTOL = {np.float64: 1e-12, np.float32: 1e-6}
RNG = np.random.default_rng(21)


def to_xp(value):
    """NumPy arrays and lists as strict arrays; numbers and None as they are."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return xps.asarray(np.asarray(value))


def to_np(value):
    assert isinstance(value, xps._array_object.Array), type(value)
    return np.from_dlpack(value)


def _logits(dtype, shape=(6, 3), inf=False):
    z = RNG.normal(0.0, 3.0, shape).astype(dtype)
    if inf:
        z.flat[:4] = [np.inf, -np.inf, np.inf, -np.inf]
    return z


def _soft(dtype, shape=(6, 3)):
    return RNG.random(shape).astype(dtype)


def _weight(dtype, shape=(6, 3)):
    w = RNG.uniform(0.0, 2.0, shape).astype(dtype)
    w.flat[0] = 0.0
    return w


def _binary_cases():
    for name, loss, probs in (
        ("bce_logits", losses.binary_cross_entropy_with_logits, False),
        ("bce_probs", losses.binary_cross_entropy, True),
        ("focal", losses.sigmoid_focal_loss, False),
    ):
        knobs = {
            "plain": lambda d: {},
            "weight": lambda d: {"weight": _weight(d)},
            "mask": lambda d: {"mask": RNG.random((6, 3)) < 0.6},
            "weight_mask_sum": lambda d: {
                "weight": _weight(d), "mask": RNG.random((6, 3)) < 0.6, "reduction": "sum"
            },
            "weighted_mean": lambda d: {"weight": _weight(d), "reduction": "weighted_mean"},
            "none": lambda d: {"reduction": "none", "label_smoothing": 0.1},
            "smoothing": lambda d: {"label_smoothing": 0.3},
            "nothing_counted": lambda d: {"mask": np.zeros((6, 3), bool)},
        }  # fmt: skip
        if loss is not losses.sigmoid_focal_loss:
            knobs["pos_weight"] = lambda d: {"pos_weight": 2.5}
            knobs["pos_weight_per_class"] = lambda d: {"pos_weight": [0.5, 1.0, 3.0]}
        else:
            knobs["gamma_alpha"] = lambda d: {"gamma": 0.5, "alpha": 0.25}
            knobs["gamma_zero"] = lambda d: {"gamma": 0.0}
        for knob, keywords in knobs.items():
            yield name, knob, loss, probs, keywords


BINARY = list(_binary_cases())


def _inputs(probs, dtype, knob):
    z = _logits(dtype, inf=not probs and knob in ("plain", "none", "weight"))
    pred = 1.0 / (1.0 + np.exp(-z)) if probs else z
    targets = (RNG.random(z.shape) < 0.4).astype(dtype) if knob != "smoothing" else _soft(dtype)
    return pred.astype(dtype), targets


def _twin(func):
    module = __import__(func.__module__, fromlist=["_"])
    return getattr(module, f"{func.__name__}_value_and_grad")


def _assert_same(portable, reference, dtype):
    value, grad = portable
    ref_value, ref_grad = reference
    rtol = RTOL[dtype]
    assert value.dtype == (xps.float32 if dtype == np.float32 else xps.float64)
    np.testing.assert_allclose(to_np(value), ref_value, rtol=rtol, atol=0)
    if grad is not None:
        assert grad.dtype == value.dtype and grad.shape == np.shape(ref_grad)
        atol = rtol * max(float(np.max(np.abs(ref_grad), initial=0.0)), 1e-300)
        np.testing.assert_allclose(to_np(grad), ref_grad, rtol=rtol, atol=atol)
        assert np.all(np.isfinite(to_np(grad)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("name", "knob", "loss", "probs", "keywords"), BINARY,
                         ids=[f"{c[0]}-{c[1]}" for c in BINARY])  # fmt: skip
def test_binary_losses_match_numpy(name, knob, loss, probs, keywords, dtype):
    pred, targets = _inputs(probs, dtype, knob)
    kw = keywords(dtype)
    reference = _twin(loss)(pred, targets, **kw)
    portable = _twin(loss)(to_xp(pred), to_xp(targets), **{k: to_xp(v) for k, v in kw.items()})
    _assert_same(portable, reference, dtype)
    value = loss(to_xp(pred), to_xp(targets), **{k: to_xp(v) for k, v in kw.items()})
    np.testing.assert_array_equal(to_np(value), to_np(portable[0]))


CLASSES = [
    (losses.BinaryCrossEntropyWithLogits(pos_weight=1.5, label_smoothing=0.05), False),
    (losses.BinaryCrossEntropy(reduction="sum"), True),
    (losses.SigmoidFocalLoss(gamma=1.5, alpha=0.75, reduction="weighted_mean"), False),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("loss", "probs"), CLASSES, ids=["bce_logits", "bce_probs", "focal"])
def test_classes_match_numpy(loss, probs, dtype):
    pred, targets = _inputs(probs, dtype, "weight")
    w = _weight(dtype)
    reference = loss.value_and_grad(pred, targets, weight=w)
    portable = loss.value_and_grad(to_xp(pred), to_xp(targets), weight=to_xp(w))
    _assert_same(portable, reference, dtype)
    np.testing.assert_array_equal(to_np(loss(to_xp(pred), to_xp(targets), weight=to_xp(w))),
                                  to_np(portable[0]))  # fmt: skip


SOFTMAX = {
    "ids": lambda z: ({"targets": RNG.integers(0, 4, 5)}),
    "ids_smoothed_weighted": lambda z: {
        "targets": RNG.integers(0, 4, 5), "label_smoothing": 0.2, "weight": RNG.random(5),
        "reduction": "weighted_mean",
    },
    "rows_axis0": lambda z: {"targets": np.eye(4)[RNG.integers(0, 4, 5)].T, "axis": 0},
    "rows_masked_none": lambda z: {
        "targets": RNG.dirichlet(np.ones(4), 5), "mask": RNG.random(5) < 0.7, "reduction": "none"
    },
    "inf_rows": lambda z: {"targets": RNG.integers(0, 4, 5), "reduction": "sum"},
}  # fmt: skip


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", SOFTMAX)
def test_softmax_matches_numpy(case, dtype):
    z = _logits(dtype, (5, 4))
    if case == "inf_rows":
        z[0, 1] = np.inf
        z[1, :] = -np.inf
    kw = SOFTMAX[case](z)
    if kw.get("axis") == 0:
        z = np.ascontiguousarray(z.T)
    targets = kw.pop("targets")
    if targets.dtype.kind == "f":
        targets = targets.astype(dtype)
    if "weight" in kw:
        kw["weight"] = kw["weight"].astype(dtype)
    reference = losses.softmax_cross_entropy_value_and_grad(z, targets, **kw)
    portable = losses.softmax_cross_entropy_value_and_grad(
        to_xp(z), to_xp(targets), **{k: to_xp(v) for k, v in kw.items()}
    )
    _assert_same(portable, reference, dtype)
    loss = losses.SoftmaxCrossEntropy(**{k: v for k, v in kw.items() if k in ("axis", "reduction")})
    np.testing.assert_allclose(to_np(loss(to_xp(z), to_xp(targets))), loss(z, targets),
                               rtol=RTOL[dtype])  # fmt: skip


def _segmentation_batch(dtype):
    z = _logits(dtype, (3, 5, 4))
    t = (RNG.random((3, 5, 4)) > 0.6).astype(np.uint8)
    t[0, 0, :] = 255
    return z, t


SEGMENTATION = [
    (seg.pixel_bce_with_logits, {"pos_weight": 2.0}),
    (seg.pixel_bce_with_logits, {"reduction": "sum", "weight": True}),
    (seg.soft_dice_loss, {}),
    (seg.soft_dice_loss, {"reduction": "none", "smooth": 0.0, "weight": True}),
    (seg.bce_dice_loss, {"dice_weight": 0.5, "mask": True}),
    (seg.bce_dice_loss, {"ignore_value": None, "pos_weight": 0.5}),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("loss", "keywords"), SEGMENTATION,
                         ids=[f.__name__ for f, _ in SEGMENTATION])  # fmt: skip
def test_segmentation_losses_match_numpy(loss, keywords, dtype):
    z, t = _segmentation_batch(dtype)
    kw = dict(keywords)
    if kw.pop("weight", False):
        kw["weight"] = _weight(dtype, z.shape)
    if kw.pop("mask", False):
        kw["mask"] = RNG.random(z.shape) < 0.8
    if kw.get("ignore_value", 255) is None:
        t = np.minimum(t, 1)
    reference = _twin(loss)(z, t, **kw)
    portable = _twin(loss)(to_xp(z), to_xp(t), **{k: to_xp(v) for k, v in kw.items()})
    _assert_same(portable, reference, dtype)


def test_infinite_logits_give_finite_gradients_and_the_limits():
    z = xps.asarray([np.inf, -np.inf, np.inf, -np.inf, 0.0])
    y = xps.asarray([1.0, 0.0, 0.0, 1.0, 0.5])
    loss, grad = losses.binary_cross_entropy_with_logits_value_and_grad(z, y, reduction="none")
    np.testing.assert_array_equal(to_np(loss)[:4], [0.0, 0.0, np.inf, np.inf])
    np.testing.assert_array_equal(to_np(grad), [0.0, 0.0, 1.0, -1.0, 0.0])
    value, grad = losses.sigmoid_focal_loss_value_and_grad(z[:2], y[:2])
    assert float(value) == 0.0 and np.all(np.isfinite(to_np(grad)))


def test_results_keep_the_input_dtype_and_a_zero_d_value():
    z = xps.asarray([[0.5, -1.0]], dtype=xps.float32)
    value, grad = losses.binary_cross_entropy_with_logits_value_and_grad(z, 1.0)
    assert value.shape == () and value.dtype == xps.float32 and grad.dtype == xps.float32
    ints = losses.binary_cross_entropy_with_logits(xps.asarray([1, 0]), xps.asarray([True, False]))
    assert ints.dtype == xps.float64


# --- errors ----------------------------------------------------------------------------------
Z = np.array([[0.5, -1.0, 2.0], [0.0, 3.0, -0.5]])
P = np.array([[0.5, 0.1, 0.9], [0.2, 0.7, 0.3]])
Y = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
NAN = np.array([[np.nan, 0.5, 0.5], [0.0, 0.0, 1.0]])
INF = np.array([[np.inf, 0.0, 1.0], [0.0, 1.0, 0.0]])


def _binary_errors(loss, x):
    return [
        (loss, (x, np.ones(4)), {}),
        (loss, (x[:, :1], Y), {}),
        (loss, (x, Y), {"weight": [1.0, 2.0]}),
        (loss, (x, Y), {"mask": np.ones((3, 3), bool)}),
        (loss, (np.where(Y > 0, np.nan, x), Y), {}),
        (loss, (x, NAN), {}),
        (loss, (x, Y), {"weight": [1.0, np.nan, 1.0]}),
        (loss, (x, INF), {}),
        (loss, (x, Y), {"weight": [1.0, np.inf, 1.0]}),
        (loss, (x, [[-0.5, 1.0, 0.0], [0.0, 1.0, 0.0]]), {}),
        (loss, (x, 2 * Y), {}),
        (loss, (x, Y), {"weight": [1.0, -1.0, 1.0]}),
        (loss, (np.zeros((0, 3)), np.zeros((0, 3))), {"reduction": "mean"}),
        (loss, (np.zeros((0, 3)), np.zeros((0, 3))), {"reduction": "weighted_mean"}),
        (loss, (x, Y), {"reduction": "avg"}),
        (loss, (x, Y), {"label_smoothing": 1.0}),
        (loss, (x.astype(complex), Y), {}),
        (loss, (x, Y.astype(complex)), {}),
        (loss, (x, Y), {"mask": np.ones((2, 3), np.int64)}),
        (loss, (x, 2.0), {}),
    ]


ERRORS = [
    *_binary_errors(losses.binary_cross_entropy_with_logits, Z),
    *_binary_errors(losses.binary_cross_entropy, P),
    *_binary_errors(losses.sigmoid_focal_loss, Z),
    (losses.binary_cross_entropy, ([0.1, 1.5], [1.0, 0.0]), {}),
    (losses.binary_cross_entropy, ([0.1, np.inf], [1.0, 0.0]), {}),
    (losses.binary_cross_entropy_with_logits, (P, Y), {"pos_weight": -2.0}),
    (losses.binary_cross_entropy_with_logits, (P, Y), {"pos_weight": [1.0, np.nan, 1.0]}),
    (losses.binary_cross_entropy_with_logits, (P, Y), {"pos_weight": np.inf}),
    (losses.binary_cross_entropy, (P, Y), {"pos_weight": [1.0, 2.0]}),
    (losses.sigmoid_focal_loss, (Z, Y), {"gamma": -0.5}),
    (losses.sigmoid_focal_loss, (Z, Y), {"alpha": 1.1}),
    (losses.softmax_cross_entropy, (Z, [0, 3]), {}),
    (losses.softmax_cross_entropy, (Z, [-1, 0]), {}),
    (losses.softmax_cross_entropy, (Z, [0.0, 2.0]), {}),
    (losses.softmax_cross_entropy, (Z, [0, 1, 2]), {}),
    (losses.softmax_cross_entropy, (Z, [[0.5, 0.0, 0.0], [0.0, 0.0, 1.0]]), {}),
    (losses.softmax_cross_entropy, (Z, [[1.5, -0.5, 0.0], [0.0, 0.0, 1.0]]), {}),
    (losses.softmax_cross_entropy, (Z, NAN), {}),
    (losses.softmax_cross_entropy, (Z, [0, 2]), {"axis": 2}),
    (losses.softmax_cross_entropy, (Z, [0, 2]), {"axis": "last"}),
    (losses.softmax_cross_entropy, (np.float64(1.0), 0), {}),
    (losses.softmax_cross_entropy, (np.zeros((2, 0)), [0, 2]), {}),
    (losses.softmax_cross_entropy, (NAN, [0, 2]), {}),
    (losses.softmax_cross_entropy, (Z.astype(complex), [0, 2]), {}),
    (losses.softmax_cross_entropy, (np.zeros((0, 3)), np.zeros(0, int)), {}),
    (losses.softmax_cross_entropy, (Z, [0, 2]), {"weight": np.ones(3)}),
    (losses.softmax_cross_entropy, (Z, [0, 2]), {"weight": [1.0, -1.0]}),
    (losses.softmax_cross_entropy, (Z, [0, 2]), {"mask": [1, 0]}),
    (losses.softmax_cross_entropy, (Z, [0, 2]), {"reduction": "avg"}),
    (seg.soft_dice_loss, (Z[None], np.full((1, 2, 3), 7)), {}),
    (seg.soft_dice_loss, (Z[None], Y[None]), {"ignore_value": 1}),
    (seg.soft_dice_loss, (NAN[None], Y[None]), {}),
    (seg.soft_dice_loss, (np.zeros(4), np.zeros(4)), {}),
    (seg.soft_dice_loss, (Z[None], Y[None]), {"reduction": "weighted_mean"}),
    (seg.soft_dice_loss, (Z[None], np.full((1, 2, 4), 255)), {}),
    (seg.bce_dice_loss, (Z[None], Y[None, :, :2]), {}),
    (seg.bce_dice_loss, (Z[None], Y[None]), {"pos_weight": -1.0}),
    (seg.bce_dice_loss, (Z[None], Y[None]), {"dice_weight": -0.5}),
    (seg.pixel_bce_with_logits, (Z[None], Y[None]), {"mask": np.ones((1, 2, 3))}),
]


def _error_of(func, args, kwargs):
    try:
        func(*args, **kwargs)
    except (TypeError, ValueError) as exc:
        return type(exc), str(exc)
    raise AssertionError(f"{func.__name__} raised nothing")


ERROR_IDS = [f"{f.__name__}-{i}" for i, (f, _, _) in enumerate(ERRORS)]


@pytest.mark.parametrize(("func", "args", "kwargs"), ERRORS, ids=ERROR_IDS)
def test_every_error_is_the_same_on_the_portable_path(func, args, kwargs):
    expected = _error_of(func, args, kwargs)
    portable_args = tuple(to_xp(a) for a in args)
    portable_kwargs = {k: to_xp(v) for k, v in kwargs.items()}
    assert _error_of(func, portable_args, portable_kwargs) == expected
    assert _error_of(_twin(func), portable_args, portable_kwargs) == expected


def test_mixed_libraries_name_both_arguments():
    z, y = xps.asarray(Z), Y
    message = r"logits and targets come from different array libraries \(array_api_strict.Array and"
    with pytest.raises(TypeError, match=message + r" numpy.ndarray\)"):
        losses.binary_cross_entropy_with_logits(z, y)
    with pytest.raises(
        TypeError, match=r"probs and weight come from different array libraries \(numpy"
    ):
        losses.binary_cross_entropy(P, Y, weight=xps.asarray(np.ones(3)))
    with pytest.raises(
        TypeError, match=r"logits and targets .*\(array_api_strict.Array and list\)"
    ):
        losses.sigmoid_focal_loss(z, Y.tolist())
    with pytest.raises(TypeError, match="out is for NumPy input only"):
        losses.BinaryCrossEntropyWithLogits().value_and_grad(
            z, xps.asarray(Y), out=np.empty((2, 3))
        )


def test_a_class_checks_an_array_keyword_in_its_namespace():
    loss = losses.BinaryCrossEntropyWithLogits(pos_weight=xps.asarray([1.0, 2.0, 3.0]))
    value = loss(xps.asarray(Z), xps.asarray(Y))
    expected = losses.binary_cross_entropy_with_logits(Z, Y, pos_weight=[1.0, 2.0, 3.0])
    assert float(value) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match=r"pos_weight must be >= 0; got values in \[-1, 1\]"):
        losses.BinaryCrossEntropyWithLogits(pos_weight=xps.asarray([1.0, -1.0]))


def test_no_large_array_is_copied_to_the_host(monkeypatch):
    array = xps._array_object.Array
    for name in ("__array__", "__dlpack__"):
        original = getattr(array, name)

        def guarded(self, *args, _original=original, **kwargs):
            assert math.prod(self.shape) <= 8, "a large array was brought to the host"
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(array, name, guarded)
    z = xps.asarray(_logits(np.float64, (64, 8)))
    y = xps.asarray((RNG.random((64, 8)) < 0.5).astype(np.float64))
    losses.binary_cross_entropy_with_logits_value_and_grad(z, y, weight=y + 1.0)
    losses.softmax_cross_entropy_value_and_grad(z, xps.asarray(RNG.integers(0, 8, 64)))
    seg.bce_dice_loss_value_and_grad(xps.reshape(z, (4, 16, 8)), xps.reshape(y, (4, 16, 8)))


def test_losses_import_nothing_from_distributed():
    package = Path(losses.__file__).parent
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("bcekit.distributed"), path.name
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("bcekit.distributed") for a in node.names)
