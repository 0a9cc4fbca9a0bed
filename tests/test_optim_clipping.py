"""Global-norm gradient clipping."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bcekit.nn.base import Parameter
from bcekit.optim import clip_grad_norm, grad_norm


def params_with_grads(*grads, dtype=np.float64):
    out = []
    for g in grads:
        p = Parameter(np.zeros(np.shape(g), dtype=dtype))
        p.grad[...] = g
        out.append(p)
    return out


def test_norm_is_the_norm_of_all_gradients_joined():
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal((4, 3)), rng.standard_normal(5), rng.standard_normal(())]
    params = params_with_grads(*grads)
    joined = np.concatenate([np.ravel(g) for g in grads])
    assert grad_norm(params) == pytest.approx(np.linalg.norm(joined), rel=1e-14)


def test_clipping_rescales_to_max_norm_and_keeps_direction():
    params = params_with_grads([3.0, 0.0], [[4.0]])  # norm 5
    before = [p.grad.copy() for p in params]
    total = clip_grad_norm(params, 2.0)
    assert total == pytest.approx(5.0)
    assert grad_norm(params) == pytest.approx(2.0, rel=1e-14)
    for p, b in zip(params, before, strict=True):
        np.testing.assert_allclose(p.grad, b * 2.0 / 5.0, rtol=1e-15)


def test_below_the_limit_nothing_changes():
    params = params_with_grads([0.3, -0.4])
    assert clip_grad_norm(params, 1.0) == pytest.approx(0.5)
    np.testing.assert_array_equal(params[0].grad, [0.3, -0.4])


def test_non_finite_gradients_are_reported_and_left_alone():
    params = params_with_grads([1.0, np.nan], [2.0])
    assert math.isnan(clip_grad_norm(params, 1.0))
    assert params[1].grad[0] == 2.0
    assert math.isinf(grad_norm(params_with_grads([np.inf, 1.0])))


def test_float32_overflow_of_the_squares_still_gives_the_exact_norm():
    params = params_with_grads([3e30, 4e30], dtype=np.float32)  # squares overflow float32
    assert grad_norm(params) == pytest.approx(5e30, rel=1e-6)
    clip_grad_norm(params, 1.0)
    np.testing.assert_allclose(params[0].grad, [0.6, 0.8], rtol=1e-6)
    assert params[0].grad.dtype == np.float32


def test_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    grads = [rng.standard_normal((6, 2)) * 3, rng.standard_normal(4)]
    params = params_with_grads(*grads)
    tensors = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for t, g in zip(tensors, grads, strict=True):
        t.grad = torch.from_numpy(g.copy())
    theirs = torch.nn.utils.clip_grad_norm_(tensors, 1.5)
    assert clip_grad_norm(params, 1.5) == pytest.approx(float(theirs), rel=1e-12)
    for p, t in zip(params, tensors, strict=True):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-6)


def test_bad_max_norm():
    with pytest.raises(ValueError, match=r"max_norm must be a finite number in \(0, inf\)"):
        clip_grad_norm(params_with_grads([1.0]), 0.0)
