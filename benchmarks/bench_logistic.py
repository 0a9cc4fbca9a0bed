"""Logistic regression as users call it, beside the kernel it runs on, against scikit-learn.

The workload: ``LogisticRegression(C=1, tol=1e-6, max_iter=1000).fit(X, y)`` on
``make_classification(200_000, 100, n_informative=40, random_state=0)`` (float64), for
``bcekit.estimators.LogisticRegression`` and scikit-learn's (lbfgs). Both minimise

    f(w, b) = (1/n) sum_i l(x_i . w + b, y_i) + ||w||^2 / (2 C n)

with scikit-learn's stopping rule (bcekit's L-BFGS-B remembers 30 steps, scikit-learn's
10); the table gives each one's final ``f`` (evaluated by one NumPy function), so that a
faster fit is seen to reach the same result.

Every call runs in fresh processes (:func:`benchmarks._common.fresh_process`): the first fit
of a process (imports done; Numba's start-up, its on-disk cache and the thread pools are
part of it) and the later ones, medians over the processes, bcekit's and scikit-learn's
interleaved. The kernel row is measured in bcekit's processes: SciPy's L-BFGS-B on
:func:`bcekit.losses.linear.logistic_objective` (one fused pass over ``X`` per evaluation),
what the estimator adds nothing to.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.optimize

from benchmarks._common import FreshCall, fresh_process, load_average, table

C, TOL, MAX_ITER = 1.0, 1e-6, 1000
TARGET = 0.35  # bcekit's fit ÷ scikit-learn's, at equal or lower objective
N_SAMPLES, N_FEATURES, N_INFORMATIVE = 200_000, 100, 40

_SETUP = f"""
import warnings
from sklearn.datasets import make_classification
from benchmarks.bench_logistic import objective_value, kernel_fit
X, y = make_classification({N_SAMPLES}, {N_FEATURES}, n_informative={N_INFORMATIVE},
                           random_state=0)
"""
_CALL = f"model = LogisticRegression(C={C}, tol={TOL}, max_iter={MAX_ITER}).fit(X, y)"
_MODEL_REPORT = "objective_value(X, y, model.coef_.ravel(), model.intercept_[0])"


def objective_value(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float) -> float:
    """The objective above at ``(w, b)``, from NumPy (the referee of every row)."""
    z = X @ np.asarray(w, dtype=np.float64) + float(b)
    data = float(np.mean(np.logaddexp(0.0, z) - y * z))
    return data + 0.5 * float(w @ w) / (C * len(y))


def kernel_fit(
    X: np.ndarray, y: np.ndarray, *, C: float = C, tol: float = TOL, max_iter: int = MAX_ITER
) -> scipy.optimize.OptimizeResult:
    """SciPy's L-BFGS-B on the fused objective with scikit-learn's stopping rule and the
    estimator's history length (:func:`bcekit.estimators._logistic_solvers.lbfgs_history`).

    BLAS runs on one thread, as in the estimator: L-BFGS-B's small BLAS calls otherwise wake
    BLAS threads that spin on the cores the objective's Numba threads need.
    """
    from threadpoolctl import threadpool_limits

    from bcekit.estimators._logistic_solvers import lbfgs_history
    from bcekit.losses.linear import logistic_objective

    n, d = X.shape
    yf = np.asarray(y, dtype=np.float64)

    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w = theta[:-1]
        value, grad_w, grad_b = logistic_objective(X, yf, w, theta[-1])
        grad = np.append(grad_w + w / C, grad_b) / n
        return (value + 0.5 * (w @ w) / C) / n, grad

    options = {
        "gtol": tol,
        "ftol": 64 * np.finfo(float).eps,
        "maxiter": max_iter,
        "maxls": 50,
        "maxcor": lbfgs_history(d + 1),
    }
    with threadpool_limits(limits=1, user_api="blas"):
        return scipy.optimize.minimize(
            fun, np.zeros(d + 1), jac=True, method="L-BFGS-B", options=options
        )


def run(repeat: int = 3) -> Any:
    """Fit each contender in ``repeat`` fresh processes (first and second fit of each)."""
    calls = {
        "bcekit": FreshCall(
            setup=_SETUP + "from bcekit.estimators import LogisticRegression\n",
            call=_CALL,
            also={"kernel": "result = kernel_fit(X, y)"},
            report=f"[{_MODEL_REPORT}, int(model.n_iter_[0]), float(result.fun), int(result.nit)]",
        ),
        "sklearn": FreshCall(
            setup=_SETUP + "from sklearn.linear_model import LogisticRegression\n",
            call=_CALL,
            report=f"[{_MODEL_REPORT}, int(model.n_iter_[0])]",
        ),
    }
    t = fresh_process(calls, repeat=repeat, steady=1)
    ours, sk = t["bcekit"], t["sklearn"]
    f_ours, it_ours, f_kernel, it_kernel = ours.report
    f_sk, it_sk = sk.report
    ratio_first, ratio_steady = ours.first / sk.first, ours.steady / sk.steady
    rows = [
        ["bcekit LogisticRegression", ours.first, ours.steady, ratio_first, ratio_steady,
         it_ours, f"{f_ours:.10f}"],
        ["  its kernel (L-BFGS-B on the fused pass)", None, ours.also["kernel"], None,
         ours.also["kernel"] / sk.steady, it_kernel, f"{f_kernel:.10f}"],
        ["sklearn LogisticRegression", sk.first, sk.steady, 1.0, 1.0, it_sk,
         f"{f_sk:.10f}"],
    ]  # fmt: skip
    equal = f_ours <= f_sk * (1 + 1e-9)
    met = max(ratio_first, ratio_steady) <= TARGET and equal
    return table(
        f"LogisticRegression(C={C:g}, tol={TOL:g}, max_iter={MAX_ITER}).fit, "
        f"make_classification({N_SAMPLES:,}, {N_FEATURES}, n_informative={N_INFORMATIVE}) "
        "float64",
        ["fit", "1st s", "later s", "÷ sk 1st", "÷ sk later", "iters", "objective"],
        rows,
        caption=(
            f"fresh processes, medians of {repeat} each, interleaved ({load_average()} at the "
            f"end); target ≤ {TARGET}× sklearn, first and later call, at equal or lower "
            f"objective: {'met' if met else 'NOT met'}"
        ),
    )  # fmt: skip


if __name__ == "__main__":
    from benchmarks._common import console

    console.print(run())
