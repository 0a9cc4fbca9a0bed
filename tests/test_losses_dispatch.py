"""Which path a loss call takes: NumPy's fused definitions or the portable Array API twins.

The portable twins also run on NumPy arrays through ``array_api_compat.numpy`` (what the
benchmarks compare with the fused path); Dask arrays go through the same dispatch and stay
lazy; ``bcekit.losses`` does not import ``bcekit.distributed``.
"""

from __future__ import annotations

import subprocess
import sys

import array_api_strict as xps
import numpy as np
import pytest

from bcekit import losses
from bcekit.losses import _namespace, _portable_checks, binary, focal, segmentation, softmax

RNG = np.random.default_rng(5)


def test_importing_the_losses_does_not_import_distributed():
    code = (
        "import sys, bcekit.losses; "
        "print(sorted(m for m in sys.modules if m.startswith(('bcekit.distributed', 'dask'))))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert run.stdout.strip() == "[]"


def test_numpy_calls_skip_the_namespace_look_up(monkeypatch):
    def refuse(arguments):
        raise AssertionError("namespace_of called for plain NumPy input")

    monkeypatch.setattr(_namespace, "namespace_of", refuse)
    z = RNG.normal(size=(8, 2))
    y = (z > 0).astype(np.float64)
    value, grad = losses.BinaryCrossEntropyWithLogits(pos_weight=2.0).value_and_grad(z, y, out=None)
    assert np.isfinite(value) and grad.shape == z.shape
    assert np.isfinite(losses.sigmoid_focal_loss(z, y, weight=np.ones(2), mask=z > -1))


DEFINITIONS = [
    (binary._with_logits, {"pos_weight": 1.5, "label_smoothing": 0.1}),
    (binary._with_probs, {"reduction": "sum"}),
    (focal._focal, {"gamma": 1.5, "alpha": 0.25}),
    (softmax._softmax, {"label_smoothing": 0.2}),
    (segmentation._pixel_bce, {"ignore_value": None}),
    (segmentation._soft_dice, {"ignore_value": None}),
    (segmentation._bce_dice, {"ignore_value": None}),
]


@pytest.mark.parametrize(("definition", "keywords"), DEFINITIONS,
                         ids=[d.__name__ for d, _ in DEFINITIONS])  # fmt: skip
def test_portable_twins_on_numpy_equal_the_numpy_definitions(definition, keywords):
    from array_api_compat import numpy as xp

    z = RNG.normal(0.0, 3.0, (4, 3, 5))
    if definition is softmax._softmax:
        targets = RNG.integers(0, 5, (4, 3))
    else:
        targets = (RNG.random(z.shape) < 0.4).astype(np.float64)
    pred = 1.0 / (1.0 + np.exp(-z)) if definition is binary._with_probs else z
    expected = definition(pred, targets, need_grad=True, **keywords)
    value, grad = definition.portable(xp, pred, targets, need_grad=True, **keywords)
    assert np.shape(value) == () and grad.shape == z.shape
    np.testing.assert_allclose(value, expected[0], rtol=1e-12)
    np.testing.assert_allclose(grad, expected[1], rtol=1e-12, atol=1e-15)


def test_one_call_brings_its_checks_to_the_host_once(monkeypatch):
    calls = []
    original = _portable_checks.host_floats

    def counted(xp, *scalars):
        calls.append(len(scalars))
        return original(xp, *scalars)

    monkeypatch.setattr(_portable_checks, "host_floats", counted)
    z = xps.asarray(RNG.normal(size=(6, 3)))
    y = xps.asarray((RNG.random((6, 3)) < 0.5).astype(np.float64))
    w = xps.asarray(RNG.random((6, 3)))
    losses.binary_cross_entropy_with_logits_value_and_grad(
        z, y, weight=w, pos_weight=xps.asarray([1.0, 2.0, 0.5])
    )
    assert calls == [8]  # minimum and maximum of logits, targets, weight and pos_weight


def test_dask_arrays_take_the_portable_path_and_stay_lazy():
    da = pytest.importorskip("dask.array")
    z = RNG.normal(0.0, 3.0, (600, 3))
    y = (RNG.random(z.shape) < 0.3).astype(np.float64)
    w = RNG.random(z.shape)
    chunked = da.from_array(z, chunks=(100, 3)), da.from_array(y, chunks=(100, 3))
    value, grad = losses.binary_cross_entropy_with_logits_value_and_grad(
        *chunked, weight=w, reduction="weighted_mean"
    )
    assert hasattr(value, "dask") and hasattr(grad, "dask")
    expected = losses.binary_cross_entropy_with_logits_value_and_grad(
        z, y, weight=w, reduction="weighted_mean"
    )
    np.testing.assert_allclose(value.compute(), expected[0], rtol=1e-12)
    np.testing.assert_allclose(grad.compute(), expected[1], rtol=1e-12, atol=1e-300)
    with pytest.raises(ValueError, match="targets must lie in"):
        losses.binary_cross_entropy_with_logits(chunked[0], 2 * chunked[1])


def test_numbers_numpy_scalars_included_go_with_any_library():
    z = RNG.normal(size=(5, 2))
    y = (RNG.random((5, 2)) < 0.5).astype(np.float64)
    expected = losses.binary_cross_entropy_with_logits(z, y, pos_weight=2.0, weight=0.5)
    for pos_weight in (2, 2.0, np.float64(2.0), np.float32(2.0), np.int64(2)):
        value = losses.binary_cross_entropy_with_logits(
            xps.asarray(z), xps.asarray(y), pos_weight=pos_weight, weight=np.float32(0.5)
        )
        assert float(value) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(TypeError, match="logits and weight come from different array libraries"):
        losses.binary_cross_entropy_with_logits(xps.asarray(z), xps.asarray(y), weight=np.ones(2))
