"""The estimators' batch objective: its one-kernel BCE path agrees with the loss object's."""

from __future__ import annotations

import numpy as np
import pytest

from bcekit.estimators._base import BatchObjective
from bcekit.nn.base import Parameter


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(("pos_weight", "label_smoothing"), [(None, 0.0), (2.5, 0.1)])
def test_fused_path_matches_the_loss_object(
    monkeypatch, bce_batch_objective, dtype, weighted, pos_weight, label_smoothing
):
    rng = np.random.default_rng(0)
    n = 300
    z = (rng.standard_normal((n, 1)) * 4).astype(dtype)
    z[:3] = [[40.0], [-40.0], [0.0]]
    y = rng.integers(0, 2, (n, 1)).astype(dtype)
    w = rng.uniform(0.0, 3.0, (n, 1)).astype(dtype) if weighted else None
    objective = bce_batch_objective(pos_weight, label_smoothing)
    assert objective._fused_bce(z, y, w, objective._row_total(z, w, None)) is not None
    value, grad = objective.value_and_grad(z, y, weight=w)
    monkeypatch.setattr(BatchObjective, "_fused_bce", lambda *args: None)
    value_ref, grad_ref = objective.value_and_grad(z, y, weight=w)
    tol = 1e-6 if dtype == np.float32 else 1e-13
    assert value == pytest.approx(value_ref, rel=tol)
    assert grad.dtype == dtype and grad.shape == z.shape
    np.testing.assert_allclose(
        grad, grad_ref, rtol=4 * tol, atol=tol * float(np.abs(grad_ref).max())
    )


def test_fused_path_keeps_the_penalty(bce_batch_objective):
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
