"""The estimators against scikit-learn (and a torch loop): time to the same result.

* ``LogisticRegression`` (lbfgs, C=1) on 200k×100 float64 to ``tol=1e-6`` against
  scikit-learn's ``LogisticRegression`` (lbfgs, same ``C`` and ``tol``). Both minimise the
  same objective; the table shows each one's final objective value (evaluated by one
  function), so equal time means equal result.
* ``MLPClassifier`` fitted for one epoch from scratch (100k×50 float32, (64,), Adam,
  batch 256, ``alpha=0``) against scikit-learn's ``MLPClassifier`` doing the same and the
  hand-written torch loop of :mod:`benchmarks.bench_mlp`.

Contenders of one table are interleaved (:func:`benchmarks._common.compare`); ratios use the
medians of the same run.

A first table shows both estimators as users call them, **default arguments**:
``LogisticRegression().fit(X, y)`` on the data above and ``MLPClassifier().fit(X, y)`` on 2,000
rows of the MLP data (it runs its 200 epochs; larger data would keep this module from its time
budget), each against scikit-learn's estimator with its defaults, in fresh processes
(:func:`benchmarks._common.fresh_process`: the first fit of a process and a later one, medians,
contenders interleaved). Beside each sits what the estimator runs on, timed in bcekit's
processes: SciPy's L-BFGS-B on the fused objective with the same settings, and the bare
training loop of :mod:`benchmarks.bench_mlp` for as many epochs as the estimator ran. The MLP
runs on ufuncs in a fresh process (Numba's start-up would cost more than the fit); its
"Numba loaded first" processes have called a BCE kernel in their set-up, fit on the compiled
loops and time the engine.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
from rich.console import Group
from rich.table import Table
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.neural_network import MLPClassifier as SkMLPClassifier

from bcekit.estimators import LogisticRegression, MLPClassifier
from bcekit.estimators._base import encode_targets, resolve_weights
from benchmarks._common import (
    LOAD_KERNELS,
    FreshCall,
    compare,
    console,
    fresh_process,
    load_average,
    table,
    timing_rows,
)
from benchmarks.bench_mlp import BATCH, N_HIDDEN, epoch_torch
from benchmarks.bench_mlp import make_data as make_mlp_data


def make_linear_data(
    n_samples: int, n_features: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Correlated Gaussian features, labels from a noisy linear rule (not separable)."""
    rng = np.random.default_rng(seed)
    mixing = rng.standard_normal((n_features, n_features)) / math.sqrt(n_features)
    X = rng.standard_normal((n_samples, n_features)) @ (np.eye(n_features) + 0.3 * mixing)
    w = rng.standard_normal(n_features) / math.sqrt(n_features)
    y = (X @ w + rng.logistic(size=n_samples) > 0).astype(np.int64)
    return X, y


def objective_value(model: object, X: np.ndarray, y: np.ndarray, C: float) -> float:
    """The scaled objective (mean log loss + ‖w‖²/(2·C·n)) at a fitted model's coefficients."""
    reference = LogisticRegression(C=C)
    targets = encode_targets(y, X.dtype)
    weights = resolve_weights(None, X, targets, None)
    objective = reference._objective(X, targets, weights, None)
    theta = objective.pack(np.asarray(model.coef_, float), np.asarray(model.intercept_, float))
    return objective(theta)[0]


def _logistic_table(n_samples: int, n_features: int, repeat: int) -> object:
    X, y = make_linear_data(n_samples, n_features)
    C, tol = 1.0, 1e-6
    fitted: dict[str, object] = {}

    def fit(name: str, make: Callable[[], object]) -> Callable[[], None]:
        def call() -> None:
            fitted[name] = make().fit(X, y)

        return call

    calls = {
        "sklearn lbfgs": fit("sklearn lbfgs", lambda: SkLogisticRegression(C=C, tol=tol)),
        "bcekit lbfgs": fit("bcekit lbfgs", lambda: LogisticRegression(C=C, tol=tol)),
    }
    timings = compare(calls, repeat=repeat)
    rows = timing_rows(
        timings,
        ["sklearn lbfgs"],
        lambda name: (
            int(np.ravel(fitted[name].n_iter_)[0]),
            f"{objective_value(fitted[name], X, y, C):.12f}",
        ),
    )
    return table(
        f"LogisticRegression, {n_samples:,}×{n_features} float64, C={C}, tol={tol}",
        ["contender", "best s", "median s", "÷ sklearn", "iterations", "objective"],
        rows,
        caption="target: bcekit ≤ 0.7× sklearn at the same objective (medians of one run)",
    )


def _mlp_table(n_samples: int, repeat: int) -> object:
    x, y = make_mlp_data(n_samples, "float32")
    labels = y.astype(np.int64)
    losses: dict[str, float] = {}

    def one_epoch(name: str, cls: type, **options: object) -> Callable[[], None]:
        def call() -> None:
            model = cls(
                hidden_layer_sizes=(N_HIDDEN,),
                solver="adam",
                batch_size=BATCH,
                max_iter=1,
                alpha=0.0,
                random_state=0,
                **options,
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(x, labels)
            losses[name] = float(model.loss_curve_[-1])

        return call

    torch_epoch = epoch_torch(x, y)

    def torch_call() -> None:
        losses["torch loop"] = torch_epoch()

    calls = {
        "sklearn MLPClassifier": one_epoch("sklearn MLPClassifier", SkMLPClassifier),
        "bcekit MLPClassifier": one_epoch("bcekit MLPClassifier", MLPClassifier),
        "torch loop": torch_call,
    }
    timings = compare(calls, repeat=repeat, pause=0.1)
    rows = timing_rows(timings, ["sklearn MLPClassifier", "torch loop"], lambda n: (losses[n],))
    return table(
        f"MLPClassifier one epoch from scratch: {n_samples:,}×50 float32 → {N_HIDDEN} → 1, "
        f"Adam, batch {BATCH}",
        ["contender", "best s", "median s", "÷ sklearn", "÷ torch", "train loss"],
        rows,
        caption="the estimators include input validation and set-up; torch is a bare loop",
    )


_FRESH_SETUP = """
import warnings
warnings.simplefilter("ignore")  # ConvergenceWarning at the default max_iter
import numpy as np
from benchmarks.bench_estimators import make_linear_data
from benchmarks.bench_logistic import kernel_fit, objective_value
from benchmarks.bench_mlp import epoch_bcekit, make_data
X, y = make_linear_data({n}, {d})
x, labels = make_data({n_mlp}, "float32")
labels = labels.astype(np.int64)
"""
_LR = "model = LogisticRegression().fit(X, y)"
_LR_REPORT = "objective_value(X, y, model.coef_.ravel(), model.intercept_[0])"
_MLP = "model = MLPClassifier().fit(x, labels)"
_ENGINE = (
    "epoch = epoch_bcekit(x, labels.astype(np.float32), batch=min(200, len(x)))\n"
    "for _ in range(model.n_iter_):\n    last = epoch()\n"
)


def _defaults_table(n_samples: int, n_features: int, mlp_samples: int, repeat: int) -> Table:
    """Both estimators with default arguments in fresh processes, with their kernels."""
    setup = _FRESH_SETUP.format(n=n_samples, d=n_features, n_mlp=mlp_samples)
    ours = "from bcekit.estimators import LogisticRegression, MLPClassifier\n"
    theirs = "from sklearn.linear_model import LogisticRegression\n"
    theirs += "from sklearn.neural_network import MLPClassifier\n"
    calls = {
        "lr bcekit": FreshCall(
            setup + ours, _LR, {"kernel": "result = kernel_fit(X, y, tol=1e-4, max_iter=100)"},
            f"[{_LR_REPORT}, int(model.n_iter_[0]), float(result.fun), int(result.nit)]",
        ),
        "lr sklearn": FreshCall(
            setup + theirs, _LR, report=f"[{_LR_REPORT}, int(model.n_iter_[0])]"
        ),
        "mlp bcekit": FreshCall(
            setup + ours, _MLP, report="[float(model.loss_curve_[-1]), int(model.n_iter_)]"
        ),
        "mlp bcekit compiled": FreshCall(
            setup + LOAD_KERNELS + ours, _MLP, {"engine": _ENGINE},
            "[float(model.loss_curve_[-1]), int(model.n_iter_), float(last)]",
        ),
        "mlp sklearn": FreshCall(
            setup + theirs, _MLP, report="[float(model.loss_curve_[-1]), int(model.n_iter_)]"
        ),
    }  # fmt: skip
    t = fresh_process(calls, repeat=repeat, steady=1)
    rows = []
    for kind, name, extra in (
        ("lr", "LogisticRegression", "kernel"),
        ("mlp", "MLPClassifier", "engine"),
    ):
        ours_t, sk = t[f"{kind} bcekit"], t[f"{kind} sklearn"]
        loss, iters = ours_t.report[0], ours_t.report[1]
        rows.append([f"bcekit {name}()", ours_t.first, ours_t.steady, ours_t.first / sk.first,
                     ours_t.steady / sk.steady, iters, f"{loss:.6f}"])  # fmt: skip
        if kind == "lr":
            inner, extra_loss, extra_iters = ours_t, ours_t.report[2], ours_t.report[3]
        else:  # the engine runs where Numba is loaded (a fresh process fits on ufuncs)
            inner = t["mlp bcekit compiled"]
            extra_loss, extra_iters = inner.report[2], inner.report[1]
            rows.append(["  Numba loaded first", inner.first, inner.steady,
                         inner.first / sk.first, inner.steady / sk.steady, inner.report[1],
                         f"{inner.report[0]:.6f}"])  # fmt: skip
        rows += [
            [f"  its {extra}", None, inner.also[extra], None, inner.also[extra] / sk.steady,
             extra_iters, f"{extra_loss:.6f}"],
            [f"sklearn {name}()", sk.first, sk.steady, 1.0, 1.0, sk.report[1],
             f"{sk.report[0]:.6f}"],
        ]  # fmt: skip
    return table(
        f"Default arguments: LogisticRegression().fit on {n_samples:,}×{n_features} float64, "
        f"MLPClassifier().fit on {mlp_samples:,}×50 float32",
        ["fit", "1st s", "later s", "÷ sk 1st", "÷ sk later", "iters", "loss"],
        rows,
        caption=(
            f"fresh processes, medians of {repeat} each, interleaved ({load_average()} at the "
            "end); loss: the objective (logistic) or the last training loss (MLP, with its L2 "
            "penalty; the engine's has none)"
        ),
    )  # fmt: skip


def run(
    n_samples: int = 200_000,
    n_features: int = 100,
    mlp_samples: int = 100_000,
    repeat: int = 3,
    default_mlp_samples: int = 2_000,
) -> Group:
    """The default-argument table, then logistic regression and the MLP epoch in-process."""
    return Group(
        _defaults_table(n_samples, n_features, default_mlp_samples, repeat),
        _logistic_table(n_samples, n_features, repeat),
        _mlp_table(mlp_samples, repeat),
    )


if __name__ == "__main__":
    console.print(run())
