"""The solvers of :class:`~bcekit.estimators.logistic.LogisticRegression`.

Full batch: :class:`LinearObjective` is the smooth part of the scaled objective over the flat
parameter vector (in memory, or with a one-pass data term: :func:`fused_binary_term`, or the
Dask one); :func:`lbfgs` and :func:`proximal_gd` minimise it, the second with the L1 part as a
proximal step, and :func:`iteration_recorder` keeps one ``history_`` record per iteration;
:func:`solver_threads` keeps BLAS to one thread while a one-pass term works. Minibatch:
:func:`fit_minibatch` trains a Dense layer with :class:`bcekit.training.Trainer`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import numpy as np
from scipy.optimize import minimize
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from bcekit._threads import blas_single_threaded
from bcekit.estimators._fitting import FIT_DEPTH
from bcekit.estimators._targets import Targets
from bcekit.estimators._training import BatchObjective, DenseInput
from bcekit.estimators._weights import row_weights, weight_total
from bcekit.nn import Dense
from bcekit.optim import SGD, Adam
from bcekit.training import Callback, LastEpochState, Trainer

__all__ = [
    "LinearObjective",
    "fit_minibatch",
    "fused_binary_term",
    "iteration_recorder",
    "lbfgs",
    "proximal_gd",
    "solver_threads",
]

#: ``(X_val, encoded y_val, loss weights or None)``.
Validation = tuple[Any, np.ndarray, np.ndarray | None]


class LinearObjective:
    r"""Smooth part of the scaled objective and its gradient over the flat parameter vector.

    .. math::

        f(θ) = \frac{1}{S} \sum_{i} w_i\, ℓ(x_i W^\top + b,\ y_i) + \frac{λ}{2} \lVert W\rVert^2,
        \qquad ∇_W f = \frac{1}{S} G^\top X + λ W,\quad ∇_b f = \frac{1}{S} \sum_i G_i

    with ``G = ∂(Σ w ℓ)/∂Z`` from the loss. ``θ`` is ``W.ravel()`` followed by ``b`` when the
    intercept is fitted; the arithmetic runs in the data's dtype, θ and the gradient are
    float64 (what scipy's L-BFGS works in).
    """

    def __init__(
        self,
        X: Any,
        targets: Targets,
        weights: np.ndarray,
        loss: Any,
        *,
        fit_intercept: bool,
        l2: float,
        total_weight: float,
        fused: Any = None,
    ) -> None:
        self.X = X
        self.targets = targets
        self.weights = row_weights(weights, targets)
        self.loss = loss
        self.fit_intercept = fit_intercept
        self.l2 = l2
        self.total_weight = total_weight
        self.scale = 1.0 / total_weight
        self.fused = fused
        self.n_out = targets.n_outputs
        self.n_features = X.shape[1]
        self.dtype = X.dtype

    @property
    def size(self) -> int:
        return self.n_out * (self.n_features + int(self.fit_intercept))

    def unpack(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(W, b)`` of shapes ``(n_out, n_features)`` and ``(n_out,)`` from ``θ``."""
        n_coef = self.n_out * self.n_features
        W = theta[:n_coef].reshape(self.n_out, self.n_features)
        b = theta[n_coef:] if self.fit_intercept else np.zeros(self.n_out, dtype=theta.dtype)
        return W, b

    def pack(self, W: np.ndarray, b: np.ndarray) -> np.ndarray:
        parts = [np.ravel(W)] + ([np.ravel(b)] if self.fit_intercept else [])
        return np.concatenate(parts).astype(np.float64)

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        W, b = self.unpack(theta)
        Wd = W.astype(self.dtype, copy=False)
        if self.fused is not None:
            value, gW, gb = self.fused(Wd, b.astype(self.dtype, copy=False))
            gW = np.asarray(gW, dtype=np.float64).reshape(W.shape)
            gb = np.asarray(gb, dtype=np.float64).reshape(-1)
        else:
            Z = self.X @ Wd.T
            if self.fit_intercept:
                Z += b.astype(self.dtype)
            value, G = self.loss.value_and_grad(Z, self.targets.encoded, weight=self.weights)
            gW = np.asarray((self.X.T @ G).T, dtype=np.float64)
            gb = G.sum(axis=0, dtype=np.float64)
        value = float(value) * self.scale
        gW *= self.scale
        if self.l2:
            value += 0.5 * self.l2 * float(np.dot(theta[: W.size], theta[: W.size]))
            gW += self.l2 * W
        if not self.fit_intercept:
            return value, gW.ravel()
        return value, np.concatenate([gW.ravel(), gb * self.scale])


def fused_binary_term(
    X: Any,
    targets: Targets,
    weights: np.ndarray,
    pos_weight: Any,
    *,
    label_smoothing: float,
    fit_intercept: bool,
) -> Callable[[np.ndarray, np.ndarray], tuple[float, np.ndarray, np.ndarray]]:
    """The one-pass value+gradient of :mod:`bcekit.losses.linear` for binary BCE.

    ``term(W, b) -> (Σ sℓ, ∂/∂W, ∂/∂b)``, the data term :class:`LinearObjective` takes.
    """
    from bcekit.losses.linear import logistic_objective

    y = targets.encoded.ravel()
    sw = weights.ravel()
    pw = 1.0 if pos_weight is None else float(np.ravel(pos_weight)[0])

    def term(W: np.ndarray, b: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        return logistic_objective(
            X,
            y,
            W.ravel(),
            b[0],
            sample_weight=sw,
            pos_weight=pw,
            label_smoothing=label_smoothing,
            fit_intercept=fit_intercept,
        )

    return term


def iteration_recorder(
    objective: LinearObjective,
    val: Validation | None,
    val_loss: BatchObjective | None,
    records: list[dict[str, Any]],
) -> Callable[[np.ndarray, float], None]:
    """``record(θ, value)`` for the full-batch solvers: appends one ``history_`` record.

    ``val_loss`` (given with ``val``) is what the Trainer reports for "sgd"/"adam": the
    weighted mean loss on the validation data at ``θ``, without the penalty.
    """

    def record(theta: np.ndarray, value: float) -> None:
        entry = {"epoch": len(records) + 1, "train_loss": float(value)}
        if val_loss is not None:
            X_val, y_val, w_val = val
            W, b = objective.unpack(theta)
            Z = np.asarray(X_val @ W.T.astype(X_val.dtype)) + b.astype(X_val.dtype)
            entry["val_loss"] = val_loss(Z, y_val, weight=w_val)
        records.append(entry)

    return record


def fit_minibatch(
    model: Any,
    X: Any,
    targets: Targets,
    weights: np.ndarray,
    pos_weight: Any,
    start: tuple[np.ndarray, np.ndarray],
    val: Validation | None,
    callbacks: Sequence[Callback],
    resume_from: Mapping[str, Any] | None,
) -> tuple[np.ndarray, np.ndarray, Any, dict[str, Any] | None]:
    """Minibatch SGD / Adam from ``start = (W0, b0)`` on each batch's share of the objective.

    Per batch: the weighted mean row loss plus ``(λ/2)‖W‖²`` with the full-batch solvers'
    ``λ = (1 − l1_ratio)/(C·S)``, an unbiased estimate of their objective. Returns ``(W, b,
    History, state)``, the state being that of the last completed epoch (``training_state``).
    """
    W0, b0 = start
    layer = Dense(X.shape[1], targets.n_outputs, dtype=X.dtype, input_grad=False)
    layer.weight.value[...] = W0.T
    layer.bias.value[...] = b0
    l2 = model._l2(weight_total(weights))
    n = X.shape[0]
    batch = min(256, n) if model.batch_size == "auto" else model.batch_size
    loss = BatchObjective(
        model._loss(targets.kind, pos_weight, "sum"),
        [layer.weight],
        l2,
        per_batch=False,
        planned_batches=model.max_iter * -(-n // batch),
        label_targets=True,
    )
    params = [layer.weight, layer.bias] if model.fit_intercept else [layer.weight]
    optimizer = (Adam if model.solver == "adam" else SGD)(params, model.learning_rate)
    recorder = LastEpochState()
    trainer = Trainer(
        DenseInput(layer),
        loss,
        optimizer,
        batch_size=batch,
        max_epochs=model.max_iter,
        random_state=int(check_random_state(model.random_state).randint(2**31 - 1)),
        early_stopping=True,
        patience=model.n_iter_no_change,
        tol=model.tol,
        restore_best=val is not None,
        callbacks=[*callbacks, recorder],
        verbose=int(model.verbose),
    )
    history = trainer.fit(
        X,
        targets.encoded,
        sample_weight=row_weights(weights, targets),
        validation_data=val,
        resume_from=resume_from,
    )
    if not history.stopped_early and not history.interrupted:
        warnings.warn(
            f"{model.solver} ran max_iter={model.max_iter} epochs without the loss settling "
            f"(tol={model.tol}); increase max_iter or adjust learning_rate",
            ConvergenceWarning,
            stacklevel=FIT_DEPTH + 1,
        )
    W = layer.weight.value.T.astype(np.float64)
    return W, layer.bias.value.astype(np.float64), history, recorder.state


def solver_threads(objective: LinearObjective) -> AbstractContextManager[Any]:
    """One BLAS thread while a one-pass data term (Numba threads, or dask) does the work.

    The solver's own BLAS calls are tiny, but they wake the BLAS thread pool, whose threads
    then spin for a while on the cores the next evaluation needs: with two cores this
    tripled the time of each evaluation. Without a one-pass term, BLAS does the products
    and keeps its threads.
    """
    if objective.fused is None:
        return nullcontext()
    return blas_single_threaded()


LBFGS_HISTORY = 30
"""Steps L-BFGS-B remembers (scipy's and scikit-learn's default is 10). A longer history
models the curvature better and saves whole passes over ``X``: on scikit-learn's
``make_classification(200_000, 100, n_informative=40)`` 37 evaluations instead of 72 to the
same stopping rule; on the unscaled breast-cancer data 290 iterations instead of 4,753."""

LBFGS_HISTORY_BYTES = 128 << 20
"""Memory the history may take (``2 m`` vectors of float64); wide problems keep fewer steps,
never fewer than scipy's 10."""


def lbfgs_history(size: int) -> int:
    """The history length for ``size`` unknowns: :data:`LBFGS_HISTORY` while its ``2 m``
    vectors fit in :data:`LBFGS_HISTORY_BYTES`, else as many as fit, at least 10."""
    return max(10, min(LBFGS_HISTORY, LBFGS_HISTORY_BYTES // (16 * max(size, 1))))


def lbfgs(
    objective: LinearObjective,
    theta0: np.ndarray,
    max_iter: int,
    tol: float,
    record: Callable[[np.ndarray, float], None],
) -> tuple[np.ndarray, int]:
    """scipy's L-BFGS-B with scikit-learn's stopping rule (``gtol=tol``, ``maxls=50``) and a
    history of :func:`lbfgs_history` steps.

    ``record(θ, f(θ))`` is called after each iteration (scipy's callback).
    """
    result = minimize(
        objective,
        theta0,
        method="L-BFGS-B",
        jac=True,
        callback=lambda intermediate_result: record(intermediate_result.x, intermediate_result.fun),
        options={
            "maxiter": max_iter,
            "maxls": 50,
            "gtol": tol,
            "ftol": 64 * np.finfo(float).eps,
            "maxcor": lbfgs_history(theta0.size),
        },
    )
    if result.status != 0:
        warnings.warn(
            f"lbfgs stopped before converging ({result.message}) after {result.nit} "
            "iterations; increase max_iter or scale the data",
            ConvergenceWarning,
            stacklevel=FIT_DEPTH + 2,
        )
    return result.x, int(result.nit)


def proximal_gd(
    objective: LinearObjective,
    theta: np.ndarray,
    l1: float,
    max_iter: int,
    tol: float,
    record: Callable[[np.ndarray, float], None],
) -> tuple[np.ndarray, int]:
    """Gradient descent with a backtracking step; a proximal step for the L1 part.

    Each iteration takes ``θ⁺ = prox_{η·l1‖·‖₁}(θ − η∇f(θ))`` (the prox soft-thresholds the
    coefficients, never the intercept; with ``l1 = 0`` it is the identity) and halves ``η``
    until ``f(θ⁺) ≤ f(θ) + ∇f(θ)·(θ⁺ − θ) + ‖θ⁺ − θ‖²/(2η)``. Stops when
    ``‖(θ − prox(θ − η∇f))/η‖∞ ≤ tol``. ``record(θ, f(θ) + l1‖W‖₁)`` is called after each
    iteration.
    """
    n_coef = objective.n_out * objective.n_features

    def prox(v: np.ndarray, step: float) -> np.ndarray:
        if l1 == 0:
            return v
        out = v.copy()
        w = out[:n_coef]
        np.copyto(w, np.sign(w) * np.maximum(np.abs(w) - step * l1, 0.0))
        return out

    def penalty(v: np.ndarray) -> float:
        return l1 * float(np.abs(v[:n_coef]).sum())

    f, g = objective(theta)
    step = 1.0
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007
        while True:
            candidate = prox(theta - step * g, step)
            d = candidate - theta
            f_new, g_new = objective(candidate)
            if f_new <= f + float(g @ d) + float(d @ d) / (2 * step) or step < 1e-30:
                break
            step *= 0.5
        theta, f, g = candidate, f_new, g_new
        record(theta, f + penalty(theta))
        if np.max(np.abs(theta - prox(theta - step * g, step))) / step <= tol:
            break
        step *= 2.0
    else:
        warnings.warn(
            f"gd did not reach tol={tol} in {max_iter} iterations; increase max_iter",
            ConvergenceWarning,
            stacklevel=FIT_DEPTH + 2,
        )
    return theta, n_iter
