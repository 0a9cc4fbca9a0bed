"""Logistic regression fits on 200k x 100 float64: fused one-pass objective vs scikit-learn.

Every contender minimises the same L2-regularised objective (C = 1, intercept not penalised),
written as scikit-learn's lbfgs solver writes it so that ``tol`` means the same thing:

    f(w, b) = (1/n) sum_i l(x_i . w + b, y_i) + ||w||^2 / (2 C n)

Rows: SciPy's L-BFGS-B driven by :func:`bcekit.losses.linear.logistic_objective`; the same
driver with a two-pass NumPy objective; ``sklearn.linear_model.LogisticRegression(solver=
"lbfgs", tol=1e-6)``; ``bcekit.LogisticRegression`` when the estimator exists. Columns: median
seconds per fit, L-BFGS iterations, final objective, time / scikit-learn's time, and the time
the fused driver needed to first reach scikit-learn's final objective.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.optimize

from benchmarks._common import compare, table

TOL = 1e-6
TARGET_RATIO = 0.7
FUSED = "scipy L-BFGS-B + bcekit fused objective"
NUMPY = "scipy L-BFGS-B + NumPy two-pass objective"
SKLEARN = "sklearn LogisticRegression(lbfgs)"
ESTIMATOR = "bcekit LogisticRegression(lbfgs)"


def make_data(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian features, labels drawn from a logistic model (not separable)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    w = rng.standard_normal(d) / np.sqrt(d) * 2.0
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-(X @ w + 0.25)))).astype(np.float64)
    return X, y


def _fused_objective(X: np.ndarray, y: np.ndarray, C: float) -> Callable:
    from bcekit.losses.linear import logistic_objective

    n = X.shape[0]

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w = theta[:-1]
        value, grad_w, grad_b = logistic_objective(X, y, w, theta[-1])
        grad = np.append(grad_w + w / C, grad_b) / n
        return (value + 0.5 * (w @ w) / C) / n, grad

    return fun


def _numpy_objective(X: np.ndarray, y: np.ndarray, C: float) -> Callable:
    n = X.shape[0]

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w = theta[:-1]
        z = X @ w + theta[-1]
        value = np.sum(np.logaddexp(0.0, z) - y * z)
        r = np.exp(z - np.logaddexp(0.0, z)) - y  # sigmoid(z) - y
        grad = np.append(X.T @ r + w / C, r.sum()) / n
        return (value + 0.5 * (w @ w) / C) / n, grad

    return fun


def _lbfgs(fun: Callable, d: int, trace: list | None = None) -> scipy.optimize.OptimizeResult:
    """SciPy's L-BFGS-B with scikit-learn's lbfgs settings (gtol = tol, ftol = 64 eps)."""
    t0 = time.perf_counter()

    def callback(intermediate_result: scipy.optimize.OptimizeResult) -> None:
        if trace is not None:
            trace.append((time.perf_counter() - t0, intermediate_result.fun))

    return scipy.optimize.minimize(
        fun,
        np.zeros(d + 1),
        jac=True,
        method="L-BFGS-B",
        callback=callback,
        options={"gtol": TOL, "ftol": 64 * np.finfo(float).eps, "maxiter": 1000},
    )


def _objective_at(X: np.ndarray, y: np.ndarray, C: float, w: np.ndarray, b: float) -> float:
    return float(_numpy_objective(X, y, C)(np.append(w, b))[0])


def run(n: int = 200_000, d: int = 100, repeat: int = 3) -> Any:
    """Fit every contender ``repeat`` times (interleaved) and tabulate the medians."""
    from sklearn.linear_model import LogisticRegression as SkLogisticRegression

    C = 1.0
    X, y = make_data(n, d)
    results: dict[str, tuple[float, int]] = {}  # row name -> (objective, iterations)

    traces: list[list[tuple[float, float]]] = []

    def fused() -> None:
        traces.append([])
        res = _lbfgs(_fused_objective(X, y, C), d, traces[-1])
        results[FUSED] = (res.fun, res.nit)

    def numpy_two_pass() -> None:
        res = _lbfgs(_numpy_objective(X, y, C), d)
        results[NUMPY] = (res.fun, res.nit)

    def sklearn() -> None:
        clf = SkLogisticRegression(solver="lbfgs", C=C, tol=TOL, max_iter=1000).fit(X, y)
        f = _objective_at(X, y, C, clf.coef_.ravel(), clf.intercept_[0])
        results[SKLEARN] = (f, int(clf.n_iter_[0]))

    fns = {FUSED: fused, NUMPY: numpy_two_pass, SKLEARN: sklearn}
    estimator = _bcekit_estimator(X, y, C, results)
    if estimator is not None:
        fns[ESTIMATOR] = estimator
    times = compare(fns, repeat=repeat, warmup=1, pause=0.05)

    # Time for the fused driver to first reach scikit-learn's final objective (timed runs only).
    target = results[SKLEARN][0]
    reach_times = [
        next((t for t, f in trace if f <= target * (1 + 1e-12)), np.inf)
        for trace in traces[-repeat:]
    ]
    reach = float(np.median(reach_times))

    sk_time = times[SKLEARN].median
    rows = []
    for name, t in times.items():
        f, nit = results[name]
        rows.append([name, t.median, nit, f"{f:.10f}", f"{t.median / sk_time:.2f}"])
    caption = (
        f"fused L-BFGS reached sklearn's objective {target:.10f} after a median "
        + (f"{reach:.3f} s ({reach / sk_time:.2f} x sklearn's time)" if reach < np.inf else "never")
        + f"; target <= {TARGET_RATIO} x sklearn"
    )
    return table(
        f"Logistic regression, {n:,} x {d} float64, C = {C}, tol = {TOL}",
        ["method", "seconds", "iterations", "objective", "/ sklearn"],
        rows,
        caption=caption,
    )


def _bcekit_estimator(
    X: np.ndarray, y: np.ndarray, C: float, results: dict[str, tuple[float, int]]
) -> Callable[[], None] | None:
    try:
        from bcekit.estimators import LogisticRegression
    except ImportError:
        return None

    def fit() -> None:
        clf = LogisticRegression(C=C, solver="lbfgs", tol=TOL, max_iter=1000).fit(X, y)
        f = _objective_at(X, y, C, np.ravel(clf.coef_), float(np.ravel(clf.intercept_)[0]))
        results[ESTIMATOR] = (f, int(np.ravel(clf.n_iter_)[0]))

    return fit
