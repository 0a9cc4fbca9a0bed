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
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
from rich.console import Group
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.neural_network import MLPClassifier as SkMLPClassifier

from bcekit.estimators import LogisticRegression, MLPClassifier
from bcekit.estimators._base import encode_targets, resolve_weights
from benchmarks._common import compare, console, table
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
    weights = resolve_weights(None, X, targets, None, y)
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
    anchor = timings["sklearn lbfgs"].median
    rows = [
        (
            name,
            t.best,
            t.median,
            t.median / anchor,
            int(np.ravel(fitted[name].n_iter_)[0]),
            f"{objective_value(fitted[name], X, y, C):.12f}",
        )
        for name, t in timings.items()
    ]
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
    sk, torch_s = timings["sklearn MLPClassifier"].median, timings["torch loop"].median
    rows = [
        (name, t.best, t.median, t.median / sk, t.median / torch_s, losses[name])
        for name, t in timings.items()
    ]
    return table(
        f"MLPClassifier one epoch from scratch: {n_samples:,}×50 float32 → {N_HIDDEN} → 1, "
        f"Adam, batch {BATCH}",
        ["contender", "best s", "median s", "÷ sklearn", "÷ torch", "train loss"],
        rows,
        caption="the estimators include input validation and set-up; torch is a bare loop",
    )


def run(
    n_samples: int = 200_000, n_features: int = 100, mlp_samples: int = 100_000, repeat: int = 3
) -> Group:
    """Both tables (logistic regression, then the MLP epoch)."""
    return Group(_logistic_table(n_samples, n_features, repeat), _mlp_table(mlp_samples, repeat))


if __name__ == "__main__":
    console.print(run())
