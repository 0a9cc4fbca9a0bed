"""The estimators' batch objective: its kernel and ufunc BCE paths agree with the loss object's."""

from __future__ import annotations

import subprocess
import sys

import numba  # noqa: F401 - loaded, as in a process that has run a BCE kernel
import numpy as np
import pytest

from bcekit.estimators import _training
from bcekit.estimators._base import BatchObjective
from bcekit.nn.base import Parameter


@pytest.fixture(params=["kernel", "ufuncs"])
def bce_path(request, monkeypatch):
    """Each test runs once on the compiled kernel and once on the ufuncs."""
    if request.param == "ufuncs":
        monkeypatch.setattr(_training, "kernels_pay", lambda size, planned_batches=0: False)
    return request.param


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(("pos_weight", "label_smoothing"), [(None, 0.0), (2.5, 0.1)])
def test_fused_path_matches_the_loss_object(
    monkeypatch, bce_path, bce_batch_objective, dtype, weighted, pos_weight, label_smoothing
):
    rng = np.random.default_rng(0)
    n = 300
    z = (rng.standard_normal((n, 1)) * 4).astype(dtype)
    z[:3] = [[40.0], [-40.0], [0.0]]
    y = rng.integers(0, 2, (n, 1)).astype(dtype)
    w = rng.uniform(0.0, 3.0, (n, 1)).astype(dtype) if weighted else None
    objective = bce_batch_objective(pos_weight, label_smoothing)
    assert objective._fused_bce(z, y, w, objective._row_total(z, w, None)) is not None
    assert (objective._kernels is None) == (bce_path == "ufuncs")
    value, grad = objective.value_and_grad(z, y, weight=w)
    monkeypatch.setattr(BatchObjective, "_fused_bce", lambda *args: None)
    value_ref, grad_ref = objective.value_and_grad(z, y, weight=w)
    tol = 1e-6 if dtype == np.float32 else 1e-13
    assert value == pytest.approx(value_ref, rel=tol)
    assert grad.dtype == dtype and grad.shape == z.shape
    np.testing.assert_allclose(
        grad, grad_ref, rtol=4 * tol, atol=tol * float(np.abs(grad_ref).max())
    )


def test_fused_path_keeps_the_penalty(bce_path, bce_batch_objective):
    rng = np.random.default_rng(1)
    weight = Parameter(rng.standard_normal((4, 3)))
    objective = bce_batch_objective(None, 0.0, alpha=0.5, matrices=[weight])
    z, y = rng.standard_normal((10, 1)), rng.integers(0, 2, (10, 1)).astype(float)
    value, _ = objective.value_and_grad(z, y)
    data = float(np.mean(np.logaddexp(0, z) - y * z))
    assert value == pytest.approx(data + 0.5 * 0.5 / 10 * float((weight.value**2).sum()), rel=1e-12)
    np.testing.assert_allclose(weight.grad, 0.5 / 10 * weight.value, rtol=1e-15)


def test_other_inputs_take_the_loss_object(bce_batch_objective):
    objective = bce_batch_objective(np.array([1.0, 2.0]), 0.0)
    z = np.zeros((5, 2))
    assert objective._bce is None  # a pos_weight per label
    plain = bce_batch_objective(None, 0.0)
    assert plain._fused_bce(z[:, :1], np.zeros((5, 1), np.float32), None, 5.0) is None
    assert plain._fused_bce(z[:, :1], np.zeros((5, 1)), None, 1e-300) is None
    strided = np.zeros((10, 1))[::2]
    assert plain._fused_bce(strided, np.zeros((5, 1)), None, 5.0) is None
    assert plain._fused_bce(np.zeros((5, 1)), np.zeros((5, 1)), None, 5.0) is not None


def test_the_kernels_load_for_large_batches_long_fits_or_after_many_small_batches(monkeypatch):
    assert _training.kernels_pay(1)  # Numba is loaded here
    monkeypatch.delitem(sys.modules, "numba")  # as in a fresh process (restored afterwards)
    monkeypatch.setattr(_training, "UFUNC_BATCHES", 3)
    monkeypatch.setattr(_training, "_ufunc_batches_run", 0)
    assert _training.kernels_pay(_training.LOAD_MIN_SIZE)
    assert _training.kernels_pay(100, planned_batches=3)  # a fit this long loads them at once
    assert [_training.kernels_pay(100, planned_batches=1) for _ in range(3)] == [False] * 2 + [True]
    assert [_training.kernels_pay(100) for _ in range(5)] == [False] + [True] * 4


_FRESH_FIT = """
import sys
import numpy as np
from bcekit.estimators import MLPClassifier
rng = np.random.default_rng(0)
X = rng.standard_normal((600, 5))
y = (X[:, 0] + 0.5 * rng.standard_normal(600) > 0).astype(int)
model = MLPClassifier((8,), batch_size=50, max_iter=4, early_stopping=False, random_state=0)
model.fit(X, y)
print("numba" in sys.modules, *model.loss_curve_)
"""


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_short_fit_in_a_fresh_process_runs_without_numba_and_agrees():
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", _FRESH_FIT],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout.split()  # fmt: skip
    assert out[0] == "False"  # nothing loaded Numba
    namespace: dict = {}
    exec(_FRESH_FIT.replace("print(", "result = ("), namespace)
    loaded, *curve = namespace["result"]
    assert loaded  # this process fitted on the compiled kernels
    np.testing.assert_allclose([float(v) for v in out[1:]], curve, rtol=1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True])
def test_the_label_path_gives_the_bits_of_the_general_ufunc_path(
    monkeypatch, bce_batch_objective, dtype, weighted
):
    monkeypatch.setattr(_training, "kernels_pay", lambda size, planned_batches=0: False)
    rng = np.random.default_rng(2)
    n = 257
    z = (rng.standard_normal((n, 1)) * 6).astype(dtype)
    z[:6] = [[90.0], [-90.0], [0.0], [-0.0], [17.0], [-17.0]]
    y = rng.integers(0, 2, (n, 1)).astype(dtype)
    y[:6] = [[1.0], [1.0], [0.0], [1.0], [0.0], [1.0]]
    w = rng.uniform(0.0, 3.0, (n, 1)).astype(dtype) if weighted else None
    objective = bce_batch_objective(None, 0.0)
    value, grad = objective.value_and_grad(z, y, weight=w)
    objective.label_targets = True
    label_value, label_grad = objective.value_and_grad(z, y, weight=w)
    assert objective._kernels is None  # both ran on the ufuncs
    assert label_value == value
    assert label_grad.dtype == dtype
    np.testing.assert_array_equal(label_grad, grad)


def test_the_label_path_is_left_for_pos_weight_and_smoothing(monkeypatch, bce_batch_objective):
    monkeypatch.setattr(_training, "kernels_pay", lambda size, planned_batches=0: False)
    monkeypatch.setattr(
        BatchObjective, "_ufunc_label_bce", lambda *args: pytest.fail("label path taken")
    )
    z, y = np.linspace(-3.0, 3.0, 8).reshape(-1, 1), np.ones((8, 1))
    for pos_weight, label_smoothing in ((2.0, 0.0), (None, 0.1)):
        objective = bce_batch_objective(pos_weight, label_smoothing)
        value, grad = objective.value_and_grad(z, y)
        objective.label_targets = True
        label_value, label_grad = objective.value_and_grad(z, y)
        assert label_value == value
        np.testing.assert_array_equal(label_grad, grad)
