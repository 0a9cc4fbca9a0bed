"""Logistic regression: a linear model trained with binary (or softmax) cross-entropy.

The objective follows scikit-learn's convention, so the same ``C`` reaches scikit-learn's
optimum::

    C · Σ_i s_i ℓ(x_i Wᵀ + b, y_i)  +  l1_ratio · ‖W‖₁  +  (1 − l1_ratio)/2 · ‖W‖²

(the intercept ``b`` is not penalised; ``C = inf`` means no penalty). The solvers minimise it
divided by ``C · S`` with ``S = Σ_i s_i``, i.e. the weighted mean loss plus a scaled penalty,
so that ``tol`` means the same as in scikit-learn.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from functools import cache
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from scipy.optimize import minimize
from sklearn.base import BaseEstimator, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import validate_data

from bcekit.estimators._base import (
    BINARY,
    MULTICLASS,
    MULTILABEL,
    SHARED_CONSTRAINTS,
    BatchObjective,
    BCEClassifierMixin,
    DenseInput,
    Targets,
    check_loss_options,
    check_saved_classes,
    encode_targets,
    kept_training_state,
    make_loss,
    resolve_pos_weight,
    resolve_weights,
    validation_set,
)
from bcekit.estimators._dask import DaskPredictMixin, dask_input, fit_logistic, map_rows
from bcekit.nn import Dense
from bcekit.optim import SGD, Adam
from bcekit.training import Callback, LastEpochState, Trainer

__all__ = ["LogisticRegression"]


class _Objective:
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
        self.weights = weights.ravel() if targets.kind == MULTICLASS else weights
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


class LogisticRegression(DaskPredictMixin, BCEClassifierMixin, BaseEstimator):
    """Logistic regression with binary cross-entropy, softmax for several classes.

    Binary ``y`` trains one sigmoid with BCE (or focal loss); ``y`` with 3+ classes trains a
    multinomial (softmax cross-entropy) model; a 2-D 0/1 ``y`` trains one sigmoid per label
    (multi-label). See the module docstring for the objective.

    Parameters
    ----------
    C : float, default=1.0
        Inverse regularisation strength (as in scikit-learn); ``np.inf`` disables it.
    l1_ratio : float in [0, 1], default=0.0
        Elastic-net mixing: 0 is pure L2, 1 pure L1. Values above 0 need ``solver="gd"``,
        which then runs proximal gradient descent.
    fit_intercept : bool, default=True
        Whether to fit an (unpenalised) intercept.
    solver : {"lbfgs", "gd", "sgd", "adam"}, default="lbfgs"
        ``"lbfgs"``: scipy's L-BFGS-B on the exact value and gradient. ``"gd"``: full-batch
        gradient descent ``w ← w − η∇f`` whose step ``η`` is found by backtracking until
        ``f(w⁺) ≤ f(w) + ∇f·(w⁺ − w) + ‖w⁺ − w‖²/(2η)`` (Armijo with c = 1/2), doubled
        again after each accepted step. ``"sgd"`` / ``"adam"``: minibatch optimisation
        with :mod:`bcekit.optim` through :class:`bcekit.training.Trainer`.
    max_iter : int, default=100
        Iterations for "lbfgs"/"gd", epochs for "sgd"/"adam".
    tol : float, default=1e-4
        "lbfgs"/"gd" stop once the largest absolute gradient entry (for ``l1_ratio > 0``:
        of the proximal gradient mapping) is at most ``tol``; "sgd"/"adam" stop when the
        epoch loss improves by less than ``tol`` for ``n_iter_no_change`` epochs.
    class_weight : dict, list of dict, "balanced" or None, default=None
        Weights of the classes, multiplied into ``sample_weight`` (scikit-learn semantics).
        For multi-label ``y``: ``"balanced"`` per label or one ``{0: w, 1: w}`` dict per label.
    pos_weight : float, array-like, "balanced" or None, default=None
        Weight of the positive term of BCE (binary and multi-label ``y``):
        ``ℓ = −[pw·y·log σ(z) + (1 − y)·log(1 − σ(z))]``. ``"balanced"`` is
        ``n_negative / n_positive`` (per label).
    label_smoothing : float in [0, 1), default=0.0
        Targets become ``y(1 − s) + s/2`` (``y(1 − s) + s/K`` for K classes).
    loss : {"bce", "focal"}, default="bce"
        ``"focal"``: sigmoid focal loss ``α_t (1 − p_t)^γ · CE`` (binary and multi-label).
    gamma : float, default=2.0
        Focusing parameter γ of the focal loss.
    alpha : float in [0, 1] or None, default=None
        Class balance α of the focal loss (None: no balancing).
    learning_rate : float, default=0.01
        Step size of the "sgd" and "adam" solvers.
    batch_size : int or "auto", default="auto"
        Minibatch size of "sgd"/"adam" ("auto": ``min(256, n_samples)``).
    n_iter_no_change : int, default=5
        Patience (epochs) of "sgd"/"adam".
    random_state : int, RandomState or None, default=None
        Seeds the minibatch shuffling of "sgd"/"adam".
    verbose : int, default=0
        "sgd"/"adam": > 0 shows the Trainer's progress bar (epochs and batches, with the
        losses) on a terminal, ≥ 2 always. "lbfgs"/"gd" print nothing: each iteration is
        one pass over the data and is recorded in ``history_``.
    warm_start : bool, default=False
        Start from the previous solution when the shapes agree.

    Attributes
    ----------
    coef_ : ndarray of shape (1, n_features), (n_classes, n_features) or (n_labels, n_features)
        Weights, in the dtype of the training data (float32 stays float32).
    intercept_ : ndarray of shape (1,), (n_classes,) or (n_labels,)
        Intercepts (multinomial intercepts are centred to sum to zero).
    classes_ : ndarray
        Class labels (``arange(n_labels)`` for multi-label ``y``).
    target_type_ : str
        ``"binary"``, ``"multiclass"`` or ``"multilabel-indicator"``.
    n_iter_ : ndarray of shape (1,)
        Iterations (epochs) run.
    history_ : list of dict
        One JSON-ready record per iteration ("lbfgs"/"gd") or epoch ("sgd"/"adam"), as
        :class:`MLPClassifier` keeps them: ``"epoch"`` (counted from 1), ``"train_loss"``
        (the scaled objective after the iteration, with its penalty; for "sgd"/"adam" the
        epoch's mean batch objective), ``"val_loss"`` when ``X_val`` is given (the weighted
        mean loss on it, no penalty), and for "sgd"/"adam" also ``"lr"`` and ``"time"``.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Set when ``X`` has string column names.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **SHARED_CONSTRAINTS,
        "C": [Interval(Real, 0, None, closed="right")],
        "l1_ratio": [Interval(Real, 0, 1, closed="both")],
        "fit_intercept": ["boolean"],
        "solver": [StrOptions({"lbfgs", "gd", "sgd", "adam"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "alpha": [Interval(Real, 0, 1, closed="both"), None],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        C: float = 1.0,
        l1_ratio: float = 0.0,
        fit_intercept: bool = True,
        solver: str = "lbfgs",
        max_iter: int = 100,
        tol: float = 1e-4,
        class_weight: Any = None,
        pos_weight: Any = None,
        label_smoothing: float = 0.0,
        loss: str = "bce",
        gamma: float = 2.0,
        alpha: float | None = None,
        learning_rate: float = 0.01,
        batch_size: int | str = "auto",
        n_iter_no_change: int = 5,
        random_state: Any = None,
        verbose: int = 0,
        warm_start: bool = False,
    ) -> None:
        self.C = C
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.class_weight = class_weight
        self.pos_weight = pos_weight
        self.label_smoothing = label_smoothing
        self.loss = loss
        self.gamma = gamma
        self.alpha = alpha
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(
        self,
        X: Any,
        y: Any,
        sample_weight: Any = None,
        *,
        X_val: Any = None,
        y_val: Any = None,
        sample_weight_val: Any = None,
        callbacks: Sequence[Callback] = (),
        resume_from: Mapping[str, Any] | None = None,
    ) -> LogisticRegression:
        """Fit the model.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array, dask DataFrame} of shape (n_samples, n_features)
            Training data; float32 is kept as float32, CSR matrices are used as they are.
            Dask input (binary ``y``, ``loss="bce"``, "lbfgs" or "gd") stays on the workers:
            each evaluation of the objective is one distributed pass over the row blocks
            (:class:`bcekit.distributed.DistributedLogisticObjective`), and the solution
            equals the in-memory one up to rounding.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a 0/1 indicator matrix for multi-label classification.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight per sample; weight 2 is the same as repeating the row.
        X_val, y_val : validation data, optional
            Its loss is recorded in ``history_`` after every iteration or epoch. "lbfgs" and
            "gd" only record it; "sgd"/"adam" also stop on it (``n_iter_no_change``) and keep
            the weights of the epoch where it was lowest, as :class:`MLPClassifier` does.
        sample_weight_val : array-like of shape (n_val_samples,), default=None
            Weights of the validation rows.
        callbacks : sequence of bcekit.training.Callback, default=()
            "sgd"/"adam" only: hooks into the training loop.
        resume_from : dict, optional
            "sgd"/"adam" only: a :meth:`training_state` to continue from exactly (see
            :meth:`MLPClassifier.fit`).

        Returns
        -------
        self
        """
        if dask_input(X, y, sample_weight):
            return fit_logistic(
                self, X, y, sample_weight, X_val=X_val, y_val=y_val,
                sample_weight_val=sample_weight_val,
                minibatch_options=bool(callbacks) or resume_from is not None,
            )  # fmt: skip
        X, y = validate_data(
            self, X, y, accept_sparse="csr", dtype=[np.float64, np.float32], multi_output=True
        )
        targets = encode_targets(y, X.dtype)
        check_loss_options(targets.kind, self.loss, self.pos_weight, len(targets.classes))
        if self.l1_ratio > 0 and self.solver != "gd":
            raise ValueError(
                f"l1_ratio > 0 requires solver='gd' (proximal gradient); got solver={self.solver!r}"
            )
        weights = resolve_weights(sample_weight, X, targets, self.class_weight)
        pos_weight = resolve_pos_weight(self.pos_weight, targets, weights)
        val = validation_set(self, X, targets, X_val, y_val, sample_weight_val)
        W0, b0 = self._initial_params(targets, X.shape[1])
        if self.solver in ("sgd", "adam"):
            W, b, n_iter, history = self._fit_minibatch(
                X, targets, weights, pos_weight, W0, b0, val, callbacks, resume_from
            )
        else:
            if callbacks or resume_from is not None:
                raise ValueError(
                    "callbacks and resume_from apply to the minibatch solvers 'sgd' and "
                    f"'adam'; got solver={self.solver!r}"
                )
            objective = self._objective(X, targets, weights, pos_weight)
            W, b, n_iter, history = self._fit_full_batch(objective, W0, b0, val, pos_weight)
        return self._set_solution(W, b, targets, X.dtype, n_iter, history)

    def _fit_full_batch(
        self,
        objective: _Objective,
        W0: np.ndarray,
        b0: np.ndarray,
        val: tuple[Any, np.ndarray, np.ndarray] | None,
        pos_weight: Any,
    ) -> tuple[np.ndarray, np.ndarray, int, list[dict[str, Any]]]:
        """Run "lbfgs" or "gd" on ``objective`` from ``(W0, b0)``; ``(W, b, n_iter, history)``."""
        self._training_state = None
        theta0 = objective.pack(W0, b0)
        history: list[dict[str, Any]] = []
        record = self._iteration_recorder(objective, val, pos_weight, history)
        with _solver_threads(objective):
            if self.solver == "lbfgs":
                theta, n_iter = _lbfgs(objective, theta0, self.max_iter, self.tol, record)
            else:
                l1 = self.l1_ratio / (self.C * objective.total_weight)
                theta, n_iter = _proximal_gd(objective, theta0, l1, self.max_iter, self.tol, record)
        W, b = objective.unpack(theta)
        return W, b, n_iter, history

    def _set_solution(
        self,
        W: np.ndarray,
        b: np.ndarray,
        targets: Targets,
        dtype: np.dtype,
        n_iter: int,
        history: list[dict[str, Any]],
    ) -> LogisticRegression:
        """Store the fitted attributes (multinomial intercepts centred to sum to zero)."""
        if targets.kind == MULTICLASS and self.fit_intercept:
            b = b - b.mean()
        self.coef_ = np.ascontiguousarray(W, dtype=dtype)
        self.intercept_ = np.asarray(b, dtype=dtype).copy()
        self.classes_ = targets.classes
        self.target_type_ = targets.kind
        self.n_iter_ = np.array([n_iter], dtype=np.int32)
        self.history_ = history
        return self

    def training_state(self) -> dict[str, Any]:
        """The state of the last "sgd"/"adam" :meth:`fit` at the end of its last completed epoch.

        See :meth:`MLPClassifier.training_state`: ``fit(..., resume_from=state)`` continues
        from it exactly, also after an interrupted fit.

        Returns
        -------
        dict

        Raises
        ------
        ValueError
            The last :meth:`fit` used "lbfgs" or "gd", or none ran on this instance.
        """
        return kept_training_state(self)

    def decision_function(self, X: Any) -> np.ndarray:
        """Logits ``X Wᵀ + b``: shape (n_samples,) for binary, else (n_samples, n_outputs).

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array, dask DataFrame} of shape (n_samples, n_features)

        Returns
        -------
        ndarray, or a lazy dask array computed block by block for dask input
        """
        if dask_input(X):
            return map_rows(self, X, "decision_function")
        self._check_fitted()
        X = validate_data(self, X, accept_sparse="csr", dtype=[np.float64, np.float32], reset=False)
        Z = np.asarray(X @ self.coef_.T.astype(X.dtype, copy=False)) + self.intercept_
        return Z.ravel() if self.target_type_ == BINARY else Z

    # --- fitting helpers ---------------------------------------------------------------

    def _initial_params(self, targets: Targets, n_features: int) -> tuple[np.ndarray, np.ndarray]:
        shape = (targets.n_outputs, n_features)
        if (
            self.warm_start
            and hasattr(self, "coef_")
            and self.coef_.shape == shape
            and self.target_type_ == targets.kind
        ):
            return self.coef_.astype(np.float64), self.intercept_.astype(np.float64)
        return np.zeros(shape), np.zeros(shape[0])

    def _loss(self, kind: str, pos_weight: Any, reduction: str) -> Any:
        return make_loss(
            kind,
            loss=self.loss,
            gamma=self.gamma,
            alpha=self.alpha,
            pos_weight=pos_weight,
            label_smoothing=self.label_smoothing,
            reduction=reduction,
        )

    def _objective(
        self,
        X: Any,
        targets: Targets,
        weights: Any,
        pos_weight: Any,
        *,
        data_term: Any = None,
        total_weight: float | None = None,
    ) -> _Objective:
        """The scaled, regularised objective.

        ``data_term(W, b) -> (Σ sℓ, ∂/∂W, ∂/∂b)`` replaces the in-memory data term; dask
        input passes the distributed one, with the total weight ``S`` it has counted.
        """
        total = total_weight
        if total is None:
            total = float(weights.sum(axis=0, dtype=np.float64).mean())
        l2 = 0.0 if math.isinf(self.C) else (1.0 - self.l1_ratio) / (self.C * total)
        return _Objective(
            X,
            targets,
            weights,
            self._loss(targets.kind, pos_weight, "sum"),
            fit_intercept=self.fit_intercept,
            l2=l2,
            total_weight=total,
            fused=data_term or self._fused_binary(X, targets, weights, pos_weight),
        )

    def _fused_binary(self, X: Any, targets: Targets, weights: np.ndarray, pos_weight: Any) -> Any:
        """The one-pass value+gradient of :mod:`bcekit.losses.linear` where it applies."""
        if targets.kind != BINARY or self.loss != "bce":
            return None
        from bcekit.losses.linear import logistic_objective

        y = targets.encoded.ravel()
        sw = weights.ravel()
        pw = 1.0 if pos_weight is None else float(np.ravel(pos_weight)[0])

        def fused(W: np.ndarray, b: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
            return logistic_objective(
                X,
                y,
                W.ravel(),
                b[0],
                sample_weight=sw,
                pos_weight=pw,
                label_smoothing=self.label_smoothing,
                fit_intercept=self.fit_intercept,
            )

        return fused

    def _iteration_recorder(
        self,
        objective: _Objective,
        val: tuple[Any, np.ndarray, np.ndarray] | None,
        pos_weight: Any,
        records: list[dict[str, Any]],
    ) -> Callable[[np.ndarray, float], None]:
        """``record(θ, value)`` for the full-batch solvers: appends one ``history_`` record.

        ``val_loss`` is what the Trainer reports for "sgd"/"adam": the weighted mean loss on
        the validation data at ``θ``, without the penalty.
        """
        data_term = None
        if val is not None:
            loss = self._loss(objective.targets.kind, pos_weight, "sum")
            data_term = BatchObjective(loss, [], 0.0, per_batch=False)

        def record(theta: np.ndarray, value: float) -> None:
            entry = {"epoch": len(records) + 1, "train_loss": float(value)}
            if data_term is not None:
                X_val, y_val, w_val = val
                W, b = objective.unpack(theta)
                Z = np.asarray(X_val @ W.T.astype(X_val.dtype)) + b.astype(X_val.dtype)
                entry["val_loss"] = data_term(Z, y_val, weight=w_val)
            records.append(entry)

        return record

    def _fit_minibatch(
        self,
        X: Any,
        targets: Targets,
        weights: np.ndarray,
        pos_weight: Any,
        W0: np.ndarray,
        b0: np.ndarray,
        val: tuple[Any, np.ndarray, np.ndarray] | None,
        callbacks: Sequence[Callback],
        resume_from: Mapping[str, Any] | None,
    ) -> tuple[np.ndarray, np.ndarray, int, list[dict[str, Any]]]:
        """Minibatch SGD / Adam on each batch's share of the objective, via the Trainer.

        Per batch: the weighted mean row loss plus ``(λ/2)‖W‖²`` with the full-batch
        solvers' ``λ = (1 − l1_ratio)/(C·S)``, an unbiased estimate of their objective.
        Keeps the state of the last completed epoch for :meth:`training_state`.
        """
        layer = Dense(X.shape[1], targets.n_outputs, dtype=X.dtype, input_grad=False)
        layer.weight.value[...] = W0.T
        layer.bias.value[...] = b0
        total = float(weights.sum(axis=0, dtype=np.float64).mean())
        l2 = 0.0 if math.isinf(self.C) else (1.0 - self.l1_ratio) / (self.C * total)
        loss = BatchObjective(
            self._loss(targets.kind, pos_weight, "sum"),
            [layer.weight],
            l2,
            per_batch=False,
        )
        params = [layer.weight, layer.bias] if self.fit_intercept else [layer.weight]
        if self.solver == "adam":
            optimizer = Adam(params, self.learning_rate)
        else:
            optimizer = SGD(params, self.learning_rate)
        n = X.shape[0]
        recorder = LastEpochState()
        trainer = Trainer(
            DenseInput(layer),
            loss,
            optimizer,
            batch_size=min(256, n) if self.batch_size == "auto" else self.batch_size,
            max_epochs=self.max_iter,
            random_state=int(check_random_state(self.random_state).randint(2**31 - 1)),
            early_stopping=True,
            patience=self.n_iter_no_change,
            tol=self.tol,
            restore_best=val is not None,
            callbacks=[*callbacks, recorder],
            verbose=int(self.verbose),
        )
        sw = weights.ravel() if targets.kind == MULTICLASS else weights
        history = trainer.fit(
            X, targets.encoded, sample_weight=sw, validation_data=val, resume_from=resume_from
        )
        self._training_state = recorder.state
        if not history.stopped_early and not history.interrupted:
            warnings.warn(
                f"{self.solver} ran max_iter={self.max_iter} epochs without the loss settling "
                f"(tol={self.tol}); increase max_iter or adjust learning_rate",
                ConvergenceWarning,
                stacklevel=4,
            )
        W = layer.weight.value.T.astype(np.float64)
        return W, layer.bias.value.astype(np.float64), len(history), history.to_dicts()

    # --- model files (bcekit.io) ----------------------------------------------------------

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return {"coef_": self.coef_, "intercept_": self.intercept_}

    def _state_meta(self) -> dict[str, Any]:
        return {"target_type_": self.target_type_, "n_iter_": self.n_iter_.tolist()}

    @classmethod
    def _from_state(
        cls, params: dict[str, Any], arrays: dict[str, np.ndarray], meta: dict[str, Any]
    ) -> LogisticRegression:
        model = cls(**params)
        model._validate_params()
        coef, intercept = arrays["coef_"], arrays["intercept_"]
        kind = meta["extra"]["target_type_"]
        if kind not in (BINARY, MULTICLASS, MULTILABEL):
            raise ValueError(f"unknown target_type_ {kind!r}")
        classes = meta["classes_"]
        check_saved_classes(kind, classes)
        n_out = 1 if kind == BINARY else len(classes)
        expected = (n_out, meta["n_features_in_"])
        if coef.shape != expected or intercept.shape != (n_out,):
            raise ValueError(
                f"coef_ {coef.shape} and intercept_ {intercept.shape} must have shapes "
                f"{expected} and ({n_out},) for {kind} targets with {len(classes)} classes"
            )
        if coef.dtype != intercept.dtype or coef.dtype.kind != "f":
            raise ValueError(
                f"coef_ and intercept_ must share one float dtype; got {coef.dtype} and "
                f"{intercept.dtype}"
            )
        model.coef_, model.intercept_ = coef, intercept
        model.target_type_ = kind
        model.n_iter_ = np.asarray(meta["extra"]["n_iter_"], dtype=np.int32)
        return model


def _solver_threads(objective: _Objective) -> AbstractContextManager[Any]:
    """One BLAS thread while a one-pass data term (Numba threads, or dask) does the work.

    The solver's own BLAS calls are tiny, but they wake the BLAS thread pool, whose threads
    then spin for a while on the cores the next evaluation needs: with two cores this
    tripled the time of each evaluation. Without a one-pass term, BLAS does the products
    and keeps its threads.
    """
    if objective.fused is None:
        return nullcontext()
    return _thread_pools().limit(limits=1, user_api="blas")


@cache
def _thread_pools() -> Any:
    """The process's thread pools, inspected once (about 10 ms each time otherwise)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _lbfgs(
    objective: _Objective,
    theta0: np.ndarray,
    max_iter: int,
    tol: float,
    record: Callable[[np.ndarray, float], None],
) -> tuple[np.ndarray, int]:
    """scipy's L-BFGS-B with scikit-learn's settings (``gtol=tol``, ``maxls=50``).

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
        },
    )
    if result.status != 0:
        warnings.warn(
            f"lbfgs stopped before converging ({result.message}) after {result.nit} "
            "iterations; increase max_iter or scale the data",
            ConvergenceWarning,
            stacklevel=4,
        )
    return result.x, int(result.nit)


def _proximal_gd(
    objective: _Objective,
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
            stacklevel=4,
        )
    return theta, n_iter
