"""The estimators on Dask input: one pass for the targets, then distributed fitting.

``LogisticRegression.fit`` and ``MLPClassifier.fit`` hand dask arrays (or a dask DataFrame
and Series) to this module; Dask is imported only then. Both start the same way, with
:func:`bcekit.estimators._dask_data.prepare`: the row blocks persisted on the workers, one
pass for the classes, weights and checks, the targets encoded block by block.

- LogisticRegression (binary ``y``, ``loss="bce"``, solvers "lbfgs"/"gd"): the estimator's
  own objective, regularisation and solver, with the data term from
  :class:`bcekit.distributed.DistributedLogisticObjective`; the result equals the in-memory
  fit up to rounding.
- MLPClassifier (binary or multiclass ``y``): ``dask_strategy="data_parallel"`` takes
  synchronous data-parallel minibatch steps (:class:`bcekit.distributed.DataParallelGradient`,
  optimiser on the client); ``"partitions"`` streams one row block at a time to the client
  and trains an epoch on it with the estimator's Trainer.

Predictions (:class:`DaskPredictMixin`, :func:`map_rows`) are lazy dask arrays computed block
by block with the fitted estimator itself.
"""

from __future__ import annotations

import math
import time
import uuid
from typing import Any

import numpy as np
from sklearn.utils import check_random_state

from bcekit.distributed._compat import is_dask_collection
from bcekit.estimators._base import BINARY, MULTICLASS, check_loss_options
from bcekit.estimators._dask_data import DaskData, feature_names, prepare

__all__ = ["DaskPredictMixin", "dask_input", "fit_logistic", "fit_mlp", "map_rows"]


def dask_input(*objs: Any) -> bool:
    """Whether any of ``objs`` is a dask collection (never imports Dask)."""
    return any(is_dask_collection(obj) for obj in objs)


# --- prediction ------------------------------------------------------------------------------


def _rows(block: np.ndarray, names: list[str] | None) -> Any:
    """A block as the estimator takes it: a pandas DataFrame when ``X`` had column names."""
    if names is None:
        return block
    import pandas as pd

    return pd.DataFrame(block, columns=names, copy=False)


def _apply_block(block: np.ndarray, model: Any, method: str, names: list[str] | None) -> Any:
    return getattr(model, method)(_rows(block, names))


def map_rows(model: Any, X: Any, method: str) -> Any:
    """``model.<method>`` applied to every row block of dask ``X``: a lazy dask array.

    Parameters
    ----------
    model : fitted estimator
    X : dask array or dask DataFrame, shape (n_samples, n_features)
        A DataFrame's partitions are the blocks (their row counts stay unknown: the result
        has unknown chunk sizes, as ``DataFrame.to_dask_array()`` has).
    method : str
        ``"decision_function"``, ``"predict"``, ``"predict_proba"`` or ``"predict_log_proba"``.

    Returns
    -------
    dask array
        Rows chunked like ``X``; the columns of the method's output in one chunk.

    Raises
    ------
    ValueError
        ``X`` is not 2-D or has another number of features than the model was fitted on.
    """
    import dask

    from bcekit.distributed import require_dask

    da = require_dask()
    model._check_fitted()
    names = feature_names(X)
    if hasattr(X, "to_dask_array"):
        X = X.to_dask_array()
    X = da.asarray(X)
    n_features = getattr(model, "n_features_in_", None)
    if X.ndim != 2 or X.shape[1] != n_features:
        raise ValueError(
            f"X must have shape (n_samples, {n_features}) as in fit for dask input; "
            f"got shape {X.shape}"
        )
    X = X.rechunk({1: -1})
    probe_dtype = X.dtype if X.dtype.kind == "f" else np.float64
    probe = np.asarray(_apply_block(np.zeros((1, n_features), probe_dtype), model, method, names))
    shipped = dask.delayed(model, name=f"{type(model).__name__}-{uuid.uuid4().hex}")
    meta = np.empty((0,) * probe.ndim, dtype=probe.dtype)
    if probe.ndim == 1:
        return X.map_blocks(
            _apply_block, shipped, method, names, drop_axis=1, meta=meta, dtype=probe.dtype
        )
    return X.map_blocks(
        _apply_block,
        shipped,
        method,
        names,
        chunks=(X.chunks[0], probe.shape[1:]),
        meta=meta,
        dtype=probe.dtype,
    )


class DaskPredictMixin:
    """``predict``, ``predict_proba`` and ``predict_log_proba`` that stay lazy on dask input.

    Placed before :class:`~bcekit.estimators._base.BCEClassifierMixin`; in-memory input goes
    to it unchanged. The estimator's own ``decision_function`` calls :func:`map_rows` on
    dask input.
    """

    def predict(self, X: Any) -> Any:
        return map_rows(self, X, "predict") if dask_input(X) else super().predict(X)

    def predict_proba(self, X: Any) -> Any:
        return map_rows(self, X, "predict_proba") if dask_input(X) else super().predict_proba(X)

    def predict_log_proba(self, X: Any) -> Any:
        if dask_input(X):
            return map_rows(self, X, "predict_log_proba")
        return super().predict_log_proba(X)


# --- LogisticRegression ----------------------------------------------------------------------


def fit_logistic(model: Any, X: Any, y: Any, weights: Any, validation: Any, loop: bool) -> Any:
    """``LogisticRegression.fit`` on dask input: its full-batch solver, distributed data term.

    ``validation`` is ``(X_val, y_val, sample_weight_val)``; ``loop`` tells that ``callbacks``
    or ``resume_from`` were given: they belong to the minibatch solvers, which dask input does
    not offer.
    """
    from bcekit.distributed import DistributedLogisticObjective
    from bcekit.estimators._base import validation_set

    if model.loss != "bce" or model.solver not in ("lbfgs", "gd") or loop:
        raise ValueError(
            "dask input supports loss='bce' with solver='lbfgs' or 'gd' (no callbacks or "
            f"resume_from); got loss={model.loss!r}, solver={model.solver!r}"
        )
    if model.l1_ratio > 0 and model.solver != "gd":
        raise ValueError(
            f"l1_ratio > 0 requires solver='gd' (proximal gradient); got solver={model.solver!r}"
        )
    data = prepare(model, X, y, weights, kinds=(BINARY,), supported="binary y")
    targets = data.targets
    pos_weight = 1.0 if data.pos_weight is None else float(data.pos_weight)
    # The objective encodes the labels (y == the second class) once per block, where it is held.
    distributed = DistributedLogisticObjective(
        data.X,
        data.labels,
        None if data.weights is None else data.weights[:, 0],
        positive_label=targets.classes[1],
        pos_weight=pos_weight,
        label_smoothing=model.label_smoothing,
        fit_intercept=model.fit_intercept,
    )

    def data_term(W: np.ndarray, b: np.ndarray) -> tuple[float, np.ndarray, float]:
        return distributed(W.ravel(), b[0])

    val = validation_set(model, data.X, targets, *validation)
    objective = model._objective(
        data.X,
        targets,
        data.weights,
        data.pos_weight,
        data_term=data_term,
        total_weight=data.total_weight,
    )
    W0, b0 = model._initial_params(targets, data.X.shape[1])
    W, b, n_iter, history = model._fit_full_batch(objective, W0, b0, val, data.pos_weight)
    return model._set_solution(W, b, targets, data.X.dtype, n_iter, history)


# --- MLPClassifier ---------------------------------------------------------------------------


def fit_mlp(model: Any, X: Any, y: Any, weights: Any, validation: Any, loop: bool) -> Any:
    """``MLPClassifier.fit`` on dask input, by ``model.dask_strategy``.

    Dask input offers neither validation (``validation``, ``(X_val, y_val, sample_weight_val)``,
    or ``early_stopping``) nor ``resume_from`` (``loop`` tells it, or ``callbacks``, was given).
    """
    if model.early_stopping or validation[0] is not None or validation[1] is not None or loop:
        raise ValueError(
            "dask input trains on all of X without validation data, early stopping on it, "
            "callbacks or resume_from; pass early_stopping=False and no "
            "X_val/y_val/callbacks/resume_from"
        )
    from bcekit.estimators._fitting import FIT_DEPTH  # it imports this module

    data = prepare(model, X, y, weights, kinds=(BINARY, MULTICLASS), supported="1-D class labels")
    targets = data.targets
    check_loss_options(targets.kind, model.loss, model.pos_weight, len(targets.classes))
    rng = check_random_state(model.random_state)
    if not (model.warm_start and model._fits_network(data.X, targets)):
        model._init_network(data.X, targets, rng)
    data_parallel = model.dask_strategy == "data_parallel"
    trainer = model._make_trainer(
        data.pos_weight, data.X.shape[0], rng, validation=False, schedule=data_parallel
    )
    seed = int(rng.randint(np.iinfo(np.int32).max))
    if data_parallel:
        history = _train_data_parallel(model, trainer, data, seed)
    else:
        history = _train_partitions(trainer, data, seed)
    return model._finish_fit(history, None, stacklevel=FIT_DEPTH + 1)


class _Plateau:
    """The Trainer's stopping rule on the training loss: ``patience`` epochs without a gain
    of more than ``tol`` over the best so far."""

    def __init__(self, patience: int, tol: float) -> None:
        self.patience, self.tol = patience, tol
        self.best, self.wait = math.inf, 0

    def update(self, loss: float) -> None:
        self.wait = self.wait + 1 if loss > self.best - self.tol else 0
        self.best = min(self.best, loss)

    @property
    def stop(self) -> bool:
        return self.wait >= self.patience


def _train_data_parallel(model: Any, trainer: Any, data: DaskData, seed: int) -> Any:
    """Synchronous data-parallel minibatch epochs; the optimiser steps on the client.

    Each step: the workers return the minibatch's ``(Σ sℓ, ∂/∂θ, Σ s)``; the client divides
    by ``Σ s``, adds the L2 penalty as :class:`~bcekit.estimators._base.BatchObjective` does
    (``α/Σ s · W`` to each weight matrix's gradient) and steps the optimiser.
    """
    from bcekit.distributed import DataParallelGradient
    from bcekit.optim import ReduceLROnPlateau
    from bcekit.training import History, TrainingDivergedError

    objective, optimizer, scheduler = trainer.loss, trainer.optimizer, trainer.scheduler
    (flat,) = optimizer.params
    gradient = DataParallelGradient(
        model.network_,
        data.X,
        data.targets.encoded,
        data.weights,
        loss=objective.loss,
        seed=seed,
    )
    n = gradient.n_samples
    n_steps = -(-n // min(trainer.batch_size, n))
    if scheduler is not None:
        scheduler.bind(optimizer.lr)
    history, plateau = History(), _Plateau(trainer.patience, trainer.tol)
    for epoch in range(1, trainer.max_epochs + 1):
        if plateau.stop:
            history.stopped_early = True
            break
        started, start_weights = time.perf_counter(), flat.value.copy()
        if scheduler is not None and hasattr(scheduler, "lr_at"):
            optimizer.lr = scheduler.lr_at(epoch - 1)
        total = norm = 0.0
        for step in range(n_steps):
            value, grad, weight = gradient(flat.value, epoch=epoch, step=step, n_steps=n_steps)
            if weight == 0:
                continue
            np.copyto(flat.grad, grad / weight, casting="same_kind")
            value /= weight
            strength = objective.alpha / weight
            for W in objective.matrices:
                W.grad += strength * W.value
                value += 0.5 * strength * float(np.vdot(W.value, W.value))
            optimizer.step()
            if not (math.isfinite(value) and np.isfinite(flat.value).all()):
                np.copyto(flat.value, start_weights)
                raise TrainingDivergedError(
                    epoch=epoch,
                    batch=step + 1,
                    quantity="loss" if not math.isfinite(value) else "weights",
                    last_loss=history.train_loss[-1] if len(history) else None,
                    lr=optimizer.lr,
                    restored=f"the weights from the start of epoch {epoch}",
                )
            total += value * weight
            norm += weight
        loss = total / norm if norm > 0 else 0.0
        history.append(
            {"epoch": epoch, "train_loss": loss, "lr": optimizer.lr,
             "time": time.perf_counter() - started}
        )  # fmt: skip
        if isinstance(scheduler, ReduceLROnPlateau):
            optimizer.lr = scheduler.step(loss)
        plateau.update(loss)
    return history


def _train_partitions(trainer: Any, data: DaskData, seed: int) -> Any:
    """Epochs that visit the row blocks in a seeded random order, one block on the client
    at a time, each trained as one ``Trainer.fit_epoch`` (the optimiser state carries over).

    An epoch's ``train_loss`` is the weighted mean of its blocks' losses.
    """
    import dask

    from bcekit.training import History

    X, encoded, weights = data.X, data.targets.encoded, data.weights
    n_blocks = X.numblocks[0]
    row_blocks = [X.blocks[i] for i in range(n_blocks)]
    history, plateau = History(), _Plateau(trainer.patience, trainer.tol)
    for epoch in range(1, trainer.max_epochs + 1):
        if plateau.stop:
            history.stopped_early = True
            break
        started = time.perf_counter()
        total = norm = 0.0
        for i in np.random.default_rng([seed, epoch]).permutation(n_blocks):
            wb = None if weights is None else weights.blocks[i]
            Xb, yb, wb = dask.compute(row_blocks[i], encoded.blocks[i], wb)
            if len(Xb) == 0:
                continue
            visit = trainer.fit_epoch(Xb, yb, sample_weight=wb)
            if visit.interrupted:
                history.interrupted = True
                return history
            share = len(Xb) if wb is None else float(np.sum(wb, dtype=np.float64))
            total += visit.train_loss[-1] * share
            norm += share
        loss = total / norm if norm > 0 else 0.0
        history.append(
            {"epoch": epoch, "train_loss": loss, "lr": trainer.optimizer.lr,
             "time": time.perf_counter() - started}
        )  # fmt: skip
        plateau.update(loss)
    return history
