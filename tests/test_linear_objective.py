"""Tests of bcekit.losses.linear.logistic_objective: value and gradient of the linear model.

Oracles: a direct NumPy formula, central finite differences in float64, scikit-learn's
``log_loss`` and its ``LogisticRegression`` fit (same optimum under L-BFGS).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
import scipy.sparse as sp

from bcekit.losses import _kernels
from bcekit.losses.linear import logistic_objective


def _problem(n, d, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(dtype)
    w_true = rng.standard_normal(d)
    y = (rng.random(n) < 1 / (1 + np.exp(-(X @ w_true + 0.4)))).astype(np.float64)
    coef = 0.5 * rng.standard_normal(d)
    sw = rng.exponential(size=n)
    sw[rng.random(n) < 0.05] = 0.0
    return X, y, coef, sw


def _reference(X, y, coef, b, sw, pw, s):
    X = np.asarray(X, dtype=np.float64)
    z = X @ coef + b
    y_s = y * (1 - s) + s / 2
    sw = np.ones_like(z) if sw is None else sw
    loss = pw * y_s * np.logaddexp(0, -z) + (1 - y_s) * np.logaddexp(0, z)
    sig = 1 / (1 + np.exp(-z))
    r = sw * ((1 - y_s) * sig - pw * y_s * (1 - sig))
    return float(np.sum(sw * loss)), X.T @ r, float(r.sum())


LAYOUTS = {
    "dense-C": lambda X: np.ascontiguousarray(X),
    "dense-F": lambda X: np.asfortranarray(X),
    "csr": lambda X: sp.csr_matrix(X),
    "csc": lambda X: sp.csc_matrix(X),
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("n, d", [(50, 3), (3000, 40)])  # serial and parallel paths
@pytest.mark.parametrize("weighted", [False, True])
def test_matches_numpy_formula(layout, n, d, weighted):
    X, y, coef, sw = _problem(n, d, seed=n + d)
    sw = sw if weighted else None
    value, grad, grad_b = logistic_objective(
        LAYOUTS[layout](X), y, coef, -0.3, sample_weight=sw, pos_weight=1.8, label_smoothing=0.1
    )
    ref_value, ref_grad, ref_b = _reference(X, y, coef, -0.3, sw, 1.8, 0.1)
    assert value == pytest.approx(ref_value, rel=1e-12)
    assert grad.dtype == np.float64 and grad.shape == (d,)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-10, atol=1e-10 * np.abs(ref_grad).max())
    assert grad_b == pytest.approx(ref_b, rel=1e-10, abs=1e-10)


def test_parallel_path_is_taken_and_agrees():
    X, y, coef, sw = _problem(5000, 30, seed=4)
    assert X.size >= _kernels._PARALLEL_MIN_SIZE
    value, grad, grad_b = logistic_objective(X, y, coef, 0.1, sample_weight=sw)
    g = np.zeros(30)
    serial_value, serial_b = _kernels._logistic_rows(
        X, y, sw, coef, 0.1, 1.0, 0.0, 1.0, 0.0, 0, X.shape[0], g
    )
    assert value == pytest.approx(serial_value, rel=1e-13)
    np.testing.assert_allclose(grad, g, rtol=1e-12, atol=1e-12 * np.abs(g).max())
    assert grad_b == pytest.approx(serial_b, rel=1e-12)


def test_float32_input_is_accumulated_in_float64():
    X, y, coef, sw = _problem(4000, 20, seed=5)
    X32 = X.astype(np.float32)
    value, grad, grad_b = logistic_objective(X32, y, coef, 0.2, sample_weight=sw)
    ref_value, ref_grad, ref_b = _reference(
        X32, y, coef.astype(np.float32).astype(np.float64), 0.2, sw.astype(np.float32), 1.0, 0.0
    )
    assert grad.dtype == np.float64
    assert value == pytest.approx(ref_value, rel=2e-6)
    np.testing.assert_allclose(grad, ref_grad, rtol=2e-5, atol=2e-5 * np.abs(ref_grad).max())
    assert grad_b == pytest.approx(ref_b, rel=2e-5)


def test_gradient_matches_central_differences():
    X, y, coef, sw = _problem(400, 6, seed=6)
    y = np.clip(y * 0.8 + 0.1 * np.random.default_rng(0).random(y.size), 0, 1)  # soft targets
    kwargs = {"sample_weight": sw, "pos_weight": 2.5, "label_smoothing": 0.05}
    b = 0.3
    _, grad, grad_b = logistic_objective(X, y, coef, b, **kwargs)
    h = 1e-6
    numeric = np.empty_like(coef)
    for k in range(coef.size):
        step = np.zeros_like(coef)
        step[k] = h
        plus = logistic_objective(X, y, coef + step, b, **kwargs)[0]
        minus = logistic_objective(X, y, coef - step, b, **kwargs)[0]
        numeric[k] = (plus - minus) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6)
    plus = logistic_objective(X, y, coef, b + h, **kwargs)[0]
    minus = logistic_objective(X, y, coef, b - h, **kwargs)[0]
    assert grad_b == pytest.approx((plus - minus) / (2 * h), rel=1e-6)


def test_value_matches_sklearn_log_loss():
    from scipy.special import expit
    from sklearn.metrics import log_loss

    X, y, coef, sw = _problem(2000, 8, seed=7)
    value, _, _ = logistic_objective(X, y, coef, 0.5, sample_weight=sw)
    expected = log_loss(y, expit(X @ coef + 0.5), sample_weight=sw, normalize=False)
    assert value == pytest.approx(expected, rel=1e-9)


def test_fit_intercept_false_keeps_offset_and_zero_derivative():
    X, y, coef, _ = _problem(100, 4, seed=8)
    value, grad, grad_b = logistic_objective(X, y, coef, 0.7, fit_intercept=False)
    ref_value, ref_grad, _ = _reference(X, y, coef, 0.7, None, 1.0, 0.0)
    assert grad_b == 0.0
    assert value == pytest.approx(ref_value, rel=1e-12)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-10)


def test_lbfgs_reaches_sklearn_optimum():
    from sklearn.linear_model import LogisticRegression

    X, y, _, _ = _problem(3000, 10, seed=9)

    def fun(theta):
        value, grad, grad_b = logistic_objective(X, y, theta[:-1], theta[-1])
        w = theta[:-1]
        return value + 0.5 * w @ w, np.append(grad + w, grad_b)

    res = scipy.optimize.minimize(fun, np.zeros(11), jac=True, method="L-BFGS-B", tol=1e-12)
    clf = LogisticRegression(C=1.0, tol=1e-10, max_iter=1000).fit(X, y)
    np.testing.assert_allclose(res.x[:-1], clf.coef_.ravel(), rtol=1e-5, atol=1e-6)
    assert res.x[-1] == pytest.approx(clf.intercept_[0], rel=1e-5, abs=1e-6)


def test_integer_features_are_promoted():
    X, y, coef, _ = _problem(60, 3, seed=10)
    Xi = np.round(X * 3).astype(np.int64)
    value, grad, _ = logistic_objective(Xi, y, coef, 0.0)
    ref_value, ref_grad, _ = _reference(Xi.astype(np.float64), y, coef, 0.0, None, 1.0, 0.0)
    assert value == pytest.approx(ref_value, rel=1e-12)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-10)


def test_bad_inputs_are_rejected():
    X, y, coef, sw = _problem(20, 3)
    with pytest.raises(ValueError, match=r"y must have shape \(20,\); got \(19,\)"):
        logistic_objective(X, y[:-1], coef, 0.0)
    with pytest.raises(ValueError, match=r"coef must have shape \(3,\)"):
        logistic_objective(X, y, np.zeros(4), 0.0)
    with pytest.raises(ValueError, match=r"y must lie in \[0, 1\]"):
        logistic_objective(X, y * 2, coef, 0.0)
    with pytest.raises(ValueError, match="sample_weight must be finite and >= 0"):
        logistic_objective(X, y, coef, 0.0, sample_weight=-sw)
    with pytest.raises(ValueError, match="X must be 2-D"):
        logistic_objective(X[0], y, coef, 0.0)
    with pytest.raises(ValueError, match="pos_weight must be finite and >= 0"):
        logistic_objective(X, y, coef, 0.0, pos_weight=-1)
    with pytest.raises(ValueError, match=r"label_smoothing must lie in \[0, 1\)"):
        logistic_objective(X, y, coef, 0.0, label_smoothing=1.0)
    X_nan = X.copy()
    X_nan[3, 1] = np.nan
    with pytest.raises(ValueError, match="the objective is NaN"):
        logistic_objective(X_nan, y, coef, 0.0)
