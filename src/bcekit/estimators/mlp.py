"""Multilayer perceptron classifier: :mod:`bcekit.nn` layers trained by :mod:`bcekit.training`.

The network returns logits; binary targets train one sigmoid output with BCE (or focal loss),
multi-label targets one sigmoid per label, and 3+ classes a softmax output with cross-entropy.
Early stopping watches the validation *loss* (not accuracy) and restores the best weights.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import validate_data

from bcekit.estimators._base import (
    FIT_INPUT_CHECKS,
    SHARED_CONSTRAINTS,
    BCEClassifierMixin,
    Targets,
    TrainingStateMixin,
    check_loss_options,
    encode_more_targets,
    loss_weights,
    refuse_balanced,
    resolve_pos_weight,
    resolve_weights,
    split_validation,
)
from bcekit.estimators._dask import DaskPredictMixin, fit_mlp
from bcekit.estimators._files import restore_mlp
from bcekit.estimators._fitting import FIT_DEPTH, BCEFitMixin, FitData
from bcekit.estimators._mlp_training import MLPTraining
from bcekit.training import LastEpochState

__all__ = ["MLPClassifier"]

_PREDICT_CHUNK = 8192  # rows densified at a time when predicting from sparse input


class MLPClassifier(
    MLPTraining,
    DaskPredictMixin,
    TrainingStateMixin,
    BCEFitMixin,
    BCEClassifierMixin,
    BaseEstimator,
):
    """Multilayer perceptron trained with binary cross-entropy (softmax CE for 3+ classes).

    Parameters
    ----------
    hidden_layer_sizes : int or tuple of int, default=(64,)
        Width of each hidden layer.
    activation : str, default="relu"
        Hidden activation: "relu", "leaky_relu", "tanh", "logistic" (= "sigmoid"), "gelu",
        "identity".
    solver : {"adam", "sgd"}, default="adam"
        Optimiser (:class:`bcekit.optim.Adam` or :class:`bcekit.optim.SGD`).
    alpha : float, default=1e-4
        L2 penalty on the weight matrices (not the biases), scaled as in scikit-learn: each
        batch adds ``α/(2·Σ_batch s_i) · Σ‖W‖²`` to its weighted mean loss. (The loss of
        a multi-label row is the sum over its labels, as in scikit-learn.)
    batch_size : int or "auto", default="auto"
        Rows per step; "auto" is ``min(200, n_samples)``.
    learning_rate : {"constant", "cosine", "plateau"}, default="constant"
        Step-size schedule over epochs: constant, cosine annealing from
        ``learning_rate_init`` to 0 over ``max_iter`` epochs, or divided by 5 once the
        monitored loss has not improved by a fraction ``tol`` for more than 2 epochs.
    learning_rate_init : float, default=1e-3
        Initial step size.
    max_iter : int, default=200
        Maximum number of epochs.
    tol : float, default=1e-4
        Improvement of the monitored loss below which an epoch does not count as progress.
    n_iter_no_change : int, default=10
        Epochs without progress before training stops. Without validation data the training
        loss is monitored (training stops, the last weights are kept); with validation data
        the validation loss is, and the weights of the best epoch are restored.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified) and stop on its
        loss. Passing ``X_val``/``y_val`` to :meth:`fit` does the same on that data.
    validation_fraction : float in (0, 1), default=0.1
        Share of the training data held out when ``early_stopping`` is True.
    momentum : float, default=0.9
        Momentum of "sgd".
    nesterovs_momentum : bool, default=True
        Nesterov momentum for "sgd".
    beta_1, beta_2 : float, default=0.9, 0.999
        Adam's decay rates.
    epsilon : float, default=1e-8
        Adam's ε.
    shuffle : bool, default=True
        Shuffle the rows every epoch.
    loss : {"bce", "focal"}, default="bce"
        ``"focal"``: sigmoid focal loss (binary and multi-label targets).
    gamma : float, default=2.0
        Focal loss γ.
    focal_alpha : float in [0, 1] or None, default=None
        Focal loss α (named so because ``alpha`` is the L2 penalty, as in scikit-learn).
    pos_weight : float, array-like, "balanced" or None, default=None
        Weight of the positive term of BCE; "balanced" is ``n_negative / n_positive``.
    label_smoothing : float in [0, 1), default=0.0
        Targets become ``y(1 − s) + s/2`` (``s/K`` for K classes).
    class_weight : dict, list of dict, "balanced" or None, default=None
        Class weights multiplied into ``sample_weight`` (scikit-learn semantics).
    dropout : float in [0, 1), default=0.0
        Dropout after each hidden activation.
    random_state : int, RandomState or None, default=None
        Seeds the weights, the validation split and the shuffling.
    verbose : int, default=0
        > 0 shows a progress bar (on a terminal).
    warm_start : bool, default=False
        :meth:`fit` continues from the current weights when the architecture matches.
    dask_strategy : {"data_parallel", "partitions"}, default="data_parallel"
        How :meth:`fit` trains on dask input (see Notes). ``"data_parallel"``: synchronous
        data-parallel minibatch steps, each row block computing the gradient of its share
        of the batch on its worker, the optimiser stepping on the client.
        ``"partitions"``: the row blocks come to the client one at a time, in a random order
        each epoch, and each is trained on like a :meth:`partial_fit` call (constant
        ``learning_rate_init``).

    Attributes
    ----------
    classes_ : ndarray
        Class labels (``arange(n_labels)`` for multi-label ``y``).
    target_type_ : str
        ``"binary"``, ``"multiclass"`` or ``"multilabel-indicator"``.
    n_outputs_ : int
        Number of logits (1 for binary targets).
    network_ : bcekit.nn.Sequential
        The trained network; ``coefs_`` and ``intercepts_`` list its weights and biases.
    n_iter_ : int
        Epochs run.
    loss_curve_ : list of float
        Training loss (with the L2 penalty) per epoch.
    validation_loss_curve_ : list of float or None
        Validation loss per epoch (None without validation data).
    validation_scores_ : list of float or None
        Validation accuracy per epoch (None without validation data).
    best_loss_ : float
        Lowest monitored loss: the validation loss when there is validation data, else the
        training loss.
    history_ : list of dict
        Per-epoch records (``epoch``, ``train_loss``, ``val_loss``, ``val_accuracy``, ``lr``,
        ``time``), JSON-ready.
    n_features_in_ : int
    feature_names_in_ : ndarray of str

    Notes
    -----
    With minibatches, a sample weight of 2 is not exactly a repeated row (the batches differ);
    with a single batch per epoch it is.

    On dask input (binary or multiclass ``y``; no validation data or early stopping) the
    ``"data_parallel"`` strategy minimises the same per-batch objective as in memory, with
    each batch drawn as an equal share of every row block
    (:class:`bcekit.distributed.DataParallelGradient`). With ``batch_size`` at least the
    number of rows it is full-batch training and takes the same steps as in-memory training
    with that batch size, up to rounding; with smaller batches the batches are sampled
    differently, so the result differs as two shuffles differ. Each step is one round trip to
    the workers: prefer batches of thousands of rows. Predictions on dask input are lazy dask
    arrays.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **SHARED_CONSTRAINTS,
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [
            StrOptions({"relu", "leaky_relu", "tanh", "logistic", "sigmoid", "gelu", "identity"})
        ],
        "solver": [StrOptions({"adam", "sgd"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "cosine", "plateau"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "nesterovs_momentum": ["boolean"],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "shuffle": ["boolean"],
        "focal_alpha": [Interval(Real, 0, 1, closed="both"), None],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "verbose": ["verbose"],
        "dask_strategy": [StrOptions({"data_parallel", "partitions"})],
    }
    _fit_dask = fit_mlp  # fit on dask input

    def __init__(
        self,
        hidden_layer_sizes: Any = (64,),
        activation: str = "relu",
        *,
        solver: str = "adam",
        alpha: float = 1e-4,
        batch_size: int | str = "auto",
        learning_rate: str = "constant",
        learning_rate_init: float = 1e-3,
        max_iter: int = 200,
        tol: float = 1e-4,
        n_iter_no_change: int = 10,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        momentum: float = 0.9,
        nesterovs_momentum: bool = True,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        shuffle: bool = True,
        loss: str = "bce",
        gamma: float = 2.0,
        focal_alpha: float | None = None,
        pos_weight: Any = None,
        label_smoothing: float = 0.0,
        class_weight: Any = None,
        dropout: float = 0.0,
        random_state: Any = None,
        verbose: int = 0,
        warm_start: bool = False,
        dask_strategy: str = "data_parallel",
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.shuffle = shuffle
        self.loss = loss
        self.gamma = gamma
        self.focal_alpha = focal_alpha
        self.pos_weight = pos_weight
        self.label_smoothing = label_smoothing
        self.class_weight = class_weight
        self.dropout = dropout
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.dask_strategy = dask_strategy

    def _fit_arrays(self, data: FitData) -> MLPClassifier:
        """Fit on checked in-memory data: up to ``max_iter`` epochs."""
        X, targets, weights, validation, callbacks, resume_from = data
        rng = check_random_state(self.random_state)
        train, val = split_validation(
            self, X, targets, weights, validation,
            holdout=self.validation_fraction if self.early_stopping else None, rng=rng,
        )  # fmt: skip
        train_targets = Targets(targets.kind, targets.classes, train[1])
        pos_weight = resolve_pos_weight(self.pos_weight, train_targets, train[2])
        if not (self.warm_start and self._fits_network(X, targets)):
            self._init_network(X, targets, rng)
        recorder = LastEpochState()
        trainer = self._make_trainer(
            pos_weight,
            len(train[1]),
            rng,
            validation=val is not None,
            schedule=True,
            callbacks=[*callbacks, recorder],
        )
        history = trainer.fit(
            train[0],
            train[1],
            sample_weight=train[2],
            validation_data=val,
            resume_from=resume_from,
        )
        return self._finish_fit(history, recorder.state, stacklevel=FIT_DEPTH + 1)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(
        self, X: Any, y: Any, classes: Any = None, sample_weight: Any = None
    ) -> MLPClassifier:
        """Train one epoch over ``X`` at the constant rate ``learning_rate_init``.

        Continues the current network, epoch count and ``history_`` (from :meth:`fit`, a
        loaded model or earlier calls); the optimiser state carries over from one
        ``partial_fit`` call to the next. The "balanced" weightings need the whole data set
        and are refused here.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
        classes : array-like, optional
            All the classes, needed on the first call when ``y`` does not show every class;
            later calls must agree with the first.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self
        """
        first = not hasattr(self, "classes_")
        X, y = validate_data(self, X, y, reset=first, **FIT_INPUT_CHECKS)
        targets = encode_more_targets(self, y, X.dtype, classes)
        check_loss_options(targets.kind, self.loss, self.pos_weight, len(targets.classes))
        refuse_balanced(self)
        weights = resolve_weights(
            sample_weight, X, targets, self.class_weight, require_two_classes=False
        )
        self._partial_epoch(
            X, targets, loss_weights(weights, targets),
            lambda: resolve_pos_weight(self.pos_weight, targets, weights),
            check_random_state(self.random_state), first=first,
        )  # fmt: skip
        return self

    def _logits(self, X: Any) -> np.ndarray:
        """The network's output, shape (n_samples, n_outputs); sparse rows densified in chunks."""
        net = self.network_
        net.eval()
        if not sp.issparse(X):
            return net.forward(X)
        return np.concatenate(
            [
                net.forward(X[i : i + _PREDICT_CHUNK].toarray())
                for i in range(0, X.shape[0], _PREDICT_CHUNK)
            ]
        )

    @property
    def coefs_(self) -> list[np.ndarray]:
        """Weight matrices, ``coefs_[i]`` of shape ``(fan_in, fan_out)`` (as in scikit-learn)."""
        return [p.value for name, p in self.network_.named_parameters() if name.endswith("weight")]

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Bias vectors, one per layer."""
        return [p.value for name, p in self.network_.named_parameters() if name.endswith("bias")]

    # --- model files (bcekit.io) ------------------------------------------------------------

    def _state_arrays(self) -> dict[str, np.ndarray]:
        return self.network_.state_dict()

    def _state_meta(self) -> dict[str, Any]:
        return {"target_type_": self.target_type_, "n_outputs_": self.n_outputs_}

    @classmethod
    def _from_state(
        cls, params: dict[str, Any], arrays: dict[str, np.ndarray], meta: dict[str, Any]
    ) -> MLPClassifier:
        model = cls(**params)
        model._validate_params()
        return restore_mlp(model, arrays, meta)
