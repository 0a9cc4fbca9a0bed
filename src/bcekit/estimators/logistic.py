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
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions

from bcekit.estimators._base import (
    BINARY,
    MULTICLASS,
    SHARED_CONSTRAINTS,
    BatchObjective,
    BCEClassifierMixin,
    Targets,
    TrainingStateMixin,
    make_loss,
    resolve_pos_weight,
    validation_set,
    weight_total,
)
from bcekit.estimators._dask import DaskPredictMixin, fit_logistic
from bcekit.estimators._files import restore_logistic
from bcekit.estimators._fitting import BCEFitMixin, FitData
from bcekit.estimators._logistic_solvers import (
    LinearObjective,
    fit_minibatch,
    fused_binary_term,
    iteration_recorder,
    lbfgs,
    proximal_gd,
    solver_threads,
)

__all__ = ["LogisticRegression"]


class LogisticRegression(
    DaskPredictMixin, TrainingStateMixin, BCEFitMixin, BCEClassifierMixin, BaseEstimator
):
    """Logistic regression with binary cross-entropy, softmax for several classes.

    Binary ``y`` trains one sigmoid with BCE (or focal loss); ``y`` with 3+ classes trains a
    multinomial (softmax cross-entropy) model; a 2-D 0/1 ``y`` trains one sigmoid per label
    (multi-label). See the module docstring for the objective.

    Dask input to :meth:`fit` (binary ``y``, ``loss="bce"``, "lbfgs" or "gd") stays on the
    workers: each evaluation of the objective is one distributed pass over the row blocks
    (:class:`bcekit.distributed.DistributedLogisticObjective`), and the solution equals the
    in-memory one up to rounding.

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
        ``"lbfgs"``: scipy's L-BFGS-B on the exact value and gradient, remembering 30 steps
        (scikit-learn's remembers 10; the longer history saves passes over ``X``, see
        :data:`~bcekit.estimators._logistic_solvers.LBFGS_HISTORY`). ``"gd"``: full-batch
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
    _fit_dask = fit_logistic  # fit on dask input

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

    def _fit_arrays(self, data: FitData) -> LogisticRegression:
        """Fit on checked in-memory data, by ``solver``."""
        X, targets, weights, validation, callbacks, resume_from = data
        if self.l1_ratio > 0 and self.solver != "gd":
            raise ValueError(
                f"l1_ratio > 0 requires solver='gd' (proximal gradient); got solver={self.solver!r}"
            )
        pos_weight = resolve_pos_weight(self.pos_weight, targets, weights)
        val = validation_set(self, X, targets, *validation)
        W0, b0 = self._initial_params(targets, X.shape[1])
        if self.solver in ("sgd", "adam"):
            W, b, trained, self._training_state = fit_minibatch(
                self, X, targets, weights, pos_weight, (W0, b0), val, callbacks, resume_from
            )
            n_iter, history = len(trained), trained.to_dicts()
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
        objective: LinearObjective,
        W0: np.ndarray,
        b0: np.ndarray,
        val: tuple[Any, np.ndarray, np.ndarray] | None,
        pos_weight: Any,
    ) -> tuple[np.ndarray, np.ndarray, int, list[dict[str, Any]]]:
        """Run "lbfgs" or "gd" on ``objective`` from ``(W0, b0)``; ``(W, b, n_iter, history)``."""
        self._training_state = None
        theta0 = objective.pack(W0, b0)
        history: list[dict[str, Any]] = []
        val_loss = None
        if val is not None:
            loss = self._loss(objective.targets.kind, pos_weight, "sum")
            val_loss = BatchObjective(loss, [], 0.0, per_batch=False)
        record = iteration_recorder(objective, val, val_loss, history)
        with solver_threads(objective):
            if self.solver == "lbfgs":
                theta, n_iter = lbfgs(objective, theta0, self.max_iter, self.tol, record)
            else:
                l1 = self.l1_ratio / (self.C * objective.total_weight)
                theta, n_iter = proximal_gd(objective, theta0, l1, self.max_iter, self.tol, record)
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

    def _logits(self, X: Any) -> np.ndarray:
        """``X Wᵀ + b``, shape (n_samples, n_outputs)."""
        return np.asarray(X @ self.coef_.T.astype(X.dtype, copy=False)) + self.intercept_

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
    ) -> LinearObjective:
        """The scaled, regularised objective.

        ``data_term(W, b) -> (Σ sℓ, ∂/∂W, ∂/∂b)`` replaces the in-memory data term; dask
        input passes the distributed one, with the total weight ``S`` it has counted.
        """
        total = weight_total(weights) if total_weight is None else total_weight
        return LinearObjective(
            X,
            targets,
            weights,
            self._loss(targets.kind, pos_weight, "sum"),
            fit_intercept=self.fit_intercept,
            l2=self._l2(total),
            total_weight=total,
            fused=data_term or self._fused_binary(X, targets, weights, pos_weight),
        )

    def _l2(self, total_weight: float) -> float:
        """λ = (1 − l1_ratio)/(C·S) of the scaled objective (0 for ``C = inf``)."""
        return 0.0 if math.isinf(self.C) else (1.0 - self.l1_ratio) / (self.C * total_weight)

    def _fused_binary(self, X: Any, targets: Targets, weights: np.ndarray, pos_weight: Any) -> Any:
        """The one-pass data term of :mod:`bcekit.losses.linear` where it applies, else None."""
        if targets.kind != BINARY or self.loss != "bce":
            return None
        return fused_binary_term(
            X, targets, weights, pos_weight,
            label_smoothing=self.label_smoothing, fit_intercept=self.fit_intercept,
        )  # fmt: skip

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
        return restore_logistic(model, arrays, meta)
