"""Multilayer perceptron classifier: :mod:`bcekit.nn` layers trained by :mod:`bcekit.training`.

The network returns logits; binary targets train one sigmoid output with BCE (or focal loss),
multi-label targets one sigmoid per label, and 3+ classes a softmax output with cross-entropy.
Early stopping watches the validation *loss* (not accuracy) and restores the best weights.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
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
    loss_weights,
    make_loss,
    resolve_pos_weight,
    resolve_weights,
    validation_set,
)
from bcekit.estimators._dask import DaskPredictMixin, dask_input, fit_mlp, map_rows
from bcekit.nn import Sequential, mlp, pack_parameters
from bcekit.nn.sequential import mlp_shapes
from bcekit.optim import SGD, Adam, ReduceLROnPlateau, WarmupCosineLR
from bcekit.training import Callback, History, LastEpochState, Trainer

__all__ = ["MLPClassifier"]

_PREDICT_CHUNK = 8192  # rows densified at a time when predicting from sparse input


class MLPClassifier(DaskPredictMixin, BCEClassifierMixin, BaseEstimator):
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

    # --- public API ------------------------------------------------------------------------

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
    ) -> MLPClassifier:
        """Train the network for up to ``max_iter`` epochs.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; float32 trains in float32.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a 0/1 indicator matrix for multi-label classification.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights: each batch minimises ``Σ s_i ℓ_i / Σ s_i``.
        X_val, y_val : validation data, optional
            Stop on the loss on this data (instead of a split of ``X``) and restore the
            weights of the best epoch.
        sample_weight_val : array-like of shape (n_val_samples,), default=None
            Weights of the validation rows.
        callbacks : sequence of bcekit.training.Callback, default=()
            Hooks into the training loop, run after the estimator's own and before the
            training state of the epoch is kept (one that raises in ``on_epoch_end`` leaves
            that of the epoch before).
        resume_from : dict, optional
            A :meth:`training_state` (e.g. read back with
            :func:`bcekit.io.load_training_state`) to continue from: training runs from the
            epoch after it up to ``max_iter`` and ends exactly as the run it came from would
            have, given the same data and parameters. ``history_`` then holds every epoch.

        Returns
        -------
        self
        """
        if dask_input(X, y, sample_weight):
            return fit_mlp(
                self, X, y, sample_weight,
                validation=self.early_stopping or X_val is not None or y_val is not None,
                resume=bool(callbacks) or resume_from is not None,
            )  # fmt: skip
        X, y = validate_data(
            self, X, y, accept_sparse="csr", dtype=[np.float64, np.float32], multi_output=True
        )
        targets = encode_targets(y, X.dtype)
        check_loss_options(targets.kind, self.loss, self.pos_weight, len(targets.classes))
        weights = resolve_weights(sample_weight, X, targets, self.class_weight)
        rng = check_random_state(self.random_state)
        train, val = self._split(X, targets, weights, X_val, y_val, sample_weight_val, rng)
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
        self._training_state = recorder.state
        self._record(history.to_dicts())
        self._partial_trainer = None
        if not history.stopped_early and not history.interrupted and self.n_iter_ >= self.max_iter:
            warnings.warn(
                f"Stochastic optimizer: maximum iterations ({self.max_iter}) reached and the "
                "optimization hasn't converged yet; increase max_iter or learning_rate_init",
                ConvergenceWarning,
                stacklevel=3,
            )
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(
        self, X: Any, y: Any, classes: Any = None, sample_weight: Any = None
    ) -> MLPClassifier:
        """Train one epoch over ``X`` at the constant rate ``learning_rate_init``.

        Continues the current network, epoch count and ``history_`` (from :meth:`fit`, a
        loaded model or earlier calls); the optimiser state carries over from one
        ``partial_fit`` call to the next. The "balanced"
        weightings need the whole data set and are refused here.

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
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse="csr",
            dtype=[np.float64, np.float32],
            multi_output=True,
            reset=first,
        )
        if classes is not None:
            classes = np.unique(classes)
            if not first and not np.array_equal(classes, self.classes_):
                raise ValueError(
                    f"classes={classes.tolist()} differs from the classes of the first "
                    f"partial_fit call {self.classes_.tolist()}"
                )
        known = None if first else self.classes_
        if known is not None and self.target_type_ == MULTILABEL:
            known = np.arange(self.n_outputs_)
        targets = encode_targets(y, X.dtype, classes=classes if first else known)
        if not first and targets.kind != self.target_type_:
            raise ValueError(
                f"y is {targets.kind} but the model was fitted on {self.target_type_} targets"
            )
        check_loss_options(targets.kind, self.loss, self.pos_weight, len(targets.classes))
        for name in ("class_weight", "pos_weight"):
            if isinstance(getattr(self, name), str):
                raise ValueError(
                    f"{name}='balanced' needs the whole data set, which partial_fit does not "
                    f"see: pass {name} computed beforehand"
                )
        weights = resolve_weights(
            sample_weight, X, targets, self.class_weight, require_two_classes=False
        )
        rng = check_random_state(self.random_state)
        if first:
            self._init_network(X, targets, rng)
        if getattr(self, "_partial_trainer", None) is None:
            pos_weight = resolve_pos_weight(self.pos_weight, targets, weights)
            self._partial_trainer = self._make_trainer(
                pos_weight, len(targets.encoded), rng, validation=False, schedule=False
            )
            if not first:  # continue the epoch count and records of fit or a loaded model
                self._partial_trainer.history = History.from_dicts(self.history_)
                self._partial_trainer.epoch = len(self.history_)
        history = self._partial_trainer.fit_epoch(
            X, targets.encoded, sample_weight=loss_weights(weights, targets)
        )
        self._record(history.to_dicts())
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """Logits: shape (n_samples,) for binary targets, else (n_samples, n_outputs).

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
        net = self.network_
        net.eval()
        if sp.issparse(X):
            Z = np.concatenate(
                [
                    net.forward(X[i : i + _PREDICT_CHUNK].toarray())
                    for i in range(0, X.shape[0], _PREDICT_CHUNK)
                ]
            )
        else:
            Z = net.forward(X)
        return Z.ravel() if self.target_type_ == BINARY else Z

    @property
    def coefs_(self) -> list[np.ndarray]:
        """Weight matrices, ``coefs_[i]`` of shape ``(fan_in, fan_out)`` (as in scikit-learn)."""
        return [p.value for name, p in self.network_.named_parameters() if name.endswith("weight")]

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Bias vectors, one per layer."""
        return [p.value for name, p in self.network_.named_parameters() if name.endswith("bias")]

    def training_state(self) -> dict[str, Any]:
        """The state of the last :meth:`fit` at the end of its last completed epoch.

        A :meth:`bcekit.training.Trainer.state` (weights, optimiser moments, History,
        early-stopping counters, shuffling seed) that ``fit(..., resume_from=state)`` continues
        from exactly; save it with :func:`bcekit.io.save_training_state`. After an interrupted
        fit (Ctrl-C) it is the state before the epoch that was cut short, which a resumed fit
        runs again from its start; before the first epoch completes, it is the starting state.

        Returns
        -------
        dict

        Raises
        ------
        ValueError
            No :meth:`fit` has run on this instance (a loaded model keeps none).
        """
        return kept_training_state(self)

    # --- fitting helpers -------------------------------------------------------------------

    def _hidden_sizes(self) -> list[int]:
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, Integral) else list(sizes)
        if not all(isinstance(h, Integral) and h >= 1 for h in sizes):
            raise ValueError(
                f"hidden_layer_sizes must hold positive integers; got {self.hidden_layer_sizes!r}"
            )
        return [int(h) for h in sizes]

    def _build_network(
        self, n_features: int, n_outputs: int, dtype: Any, random_state: Any
    ) -> Sequential:
        return mlp(
            n_features,
            self._hidden_sizes(),
            n_outputs,
            self.activation,
            self.dropout,
            dtype=dtype,
            random_state=random_state,
            input_grad=False,
        )

    def _init_network(self, X: Any, targets: Targets, rng: np.random.RandomState) -> None:
        self.network_ = self._build_network(X.shape[1], targets.n_outputs, X.dtype, rng)
        self.classes_ = targets.classes
        self.target_type_ = targets.kind
        self.n_outputs_ = targets.n_outputs
        self._partial_trainer = None

    def _fits_network(self, X: Any, targets: Targets) -> bool:
        """Whether the current network can continue training on this data (warm start).

        The layers (sizes, activation, dropout, dtype) must be those the current parameters
        would build, and the targets of the same kind and classes.
        """
        if not hasattr(self, "network_"):
            return False
        wanted = self._build_network(X.shape[1], targets.n_outputs, X.dtype, random_state=0)
        return (
            self.target_type_ == targets.kind
            and np.array_equal(self.classes_, targets.classes)
            and repr(wanted) == repr(self.network_)
        )

    def _split(
        self,
        X: Any,
        targets: Targets,
        weights: np.ndarray,
        X_val: Any,
        y_val: Any,
        sample_weight_val: Any,
        rng: np.random.RandomState,
    ) -> tuple[tuple[Any, np.ndarray, np.ndarray | None], tuple[Any, np.ndarray, Any] | None]:
        """``(X, y, w)`` to train on and the validation tuple (or None), loss-ready."""
        given = validation_set(self, X, targets, X_val, y_val, sample_weight_val)
        if given is not None:
            return (X, targets.encoded, loss_weights(weights, targets)), given
        if not self.early_stopping:
            return (X, targets.encoded, loss_weights(weights, targets)), None
        n_val = int(np.ceil(self.validation_fraction * X.shape[0]))
        if n_val < 2 or X.shape[0] - n_val < 2:
            raise ValueError(
                f"validation_fraction={self.validation_fraction} of {X.shape[0]} samples "
                "leaves too few samples to train or to validate on; increase "
                "'validation_fraction' or pass X_val/y_val"
            )
        stratify = None if targets.kind == MULTILABEL else targets.encoded.ravel()
        try:  # stratified unless a class has too few members to be split
            idx_train, idx_val = train_test_split(
                np.arange(X.shape[0]), test_size=n_val, random_state=rng, stratify=stratify
            )
        except ValueError:
            idx_train, idx_val = train_test_split(
                np.arange(X.shape[0]), test_size=n_val, random_state=rng
            )
        Y, W = targets.encoded, loss_weights(weights, targets)
        W_train, W_val = (None, None) if W is None else (W[idx_train], W[idx_val])
        return (X[idx_train], Y[idx_train], W_train), (X[idx_val], Y[idx_val], W_val)

    def _make_trainer(
        self,
        pos_weight: Any,
        n_samples: int,
        rng: np.random.RandomState,
        *,
        validation: bool,
        schedule: bool,
        callbacks: Sequence[Callback] = (),
    ) -> Trainer:
        """A Trainer over the network; ``schedule`` False trains at a constant rate.

        ``callbacks`` run after the validation-accuracy one (so they see its key).
        """
        net = self.network_
        matrices = [p for name, p in net.named_parameters() if name.endswith("weight")]
        params = [pack_parameters(net)]
        if self.solver == "adam":
            optimizer = Adam(
                params, self.learning_rate_init, betas=(self.beta_1, self.beta_2), eps=self.epsilon
            )
        else:
            optimizer = SGD(
                params,
                self.learning_rate_init,
                momentum=self.momentum,
                nesterov=self.nesterovs_momentum and self.momentum > 0,
            )
        loss = make_loss(
            self.target_type_,
            loss=self.loss,
            gamma=self.gamma,
            alpha=self.focal_alpha,
            pos_weight=pos_weight,
            label_smoothing=self.label_smoothing,
            reduction="sum",
        )
        scheduler = None
        if schedule and self.learning_rate == "cosine" and self.max_iter > 1:
            scheduler = WarmupCosineLR(0, self.max_iter, interval="epoch")
        elif schedule and self.learning_rate == "plateau":
            scheduler = ReduceLROnPlateau(factor=0.2, patience=2, threshold=self.tol)
        batch = min(200, n_samples) if self.batch_size == "auto" else self.batch_size
        own = [_ValidationAccuracy(self.target_type_)] if validation else []
        return Trainer(
            DenseInput(net),
            BatchObjective(loss, matrices, self.alpha, per_batch=True),
            optimizer,
            batch_size=batch,
            max_epochs=self.max_iter,
            shuffle=self.shuffle,
            random_state=int(rng.randint(np.iinfo(np.int32).max)),
            early_stopping=True,
            patience=self.n_iter_no_change,
            tol=self.tol,
            restore_best=validation,
            scheduler=scheduler,
            callbacks=[*own, *callbacks],
            verbose=int(self.verbose),
        )

    def _record(self, records: list[dict[str, Any]]) -> None:
        """Set the curves and ``history_`` from the per-epoch records."""
        if not all(isinstance(r, dict) and "train_loss" in r for r in records):
            raise ValueError("history records must be dicts with a 'train_loss'")
        validated = any("val_loss" in r for r in records)
        self.history_ = records
        self.n_iter_ = len(records)
        self.loss_curve_ = [r["train_loss"] for r in records]
        # Epochs without validation (partial_fit after fit) hold None in the validation curves.
        self.validation_loss_curve_ = [r.get("val_loss") for r in records] if validated else None
        self.validation_scores_ = [r.get("val_accuracy") for r in records] if validated else None
        monitored = self.validation_loss_curve_ if validated else self.loss_curve_
        values = [v for v in monitored if v is not None]
        self.best_loss_ = float(min(values)) if values else None

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
        kind = meta["extra"]["target_type_"]
        n_outputs = int(meta["extra"]["n_outputs_"])
        check_saved_classes(kind, meta["classes_"])
        n_classes = len(meta["classes_"])
        expected = {BINARY: 1, MULTICLASS: n_classes, MULTILABEL: n_classes}.get(kind)
        if expected != n_outputs:
            raise ValueError(
                f"n_outputs_={n_outputs} does not fit {kind!r} targets with {n_classes} classes"
            )
        dtypes = {a.dtype for a in arrays.values()}
        if len(dtypes) != 1:
            raise ValueError(f"network arrays must share one dtype; got {sorted(map(str, dtypes))}")
        shapes = mlp_shapes(meta["n_features_in_"], model._hidden_sizes(), n_outputs, model.dropout)
        if shapes != {k: a.shape for k, a in arrays.items()}:  # checked before allocating
            raise ValueError(
                f"the weights do not have the shapes {shapes!r:.200} the parameters give"
            )
        model.network_ = model._build_network(
            meta["n_features_in_"], n_outputs, dtypes.pop(), random_state=0
        )
        model.network_.load_state_dict(arrays)
        model.target_type_, model.n_outputs_ = kind, n_outputs
        model._partial_trainer = None
        model._record(meta["history_"] or [])
        return model


class _ValidationAccuracy(Callback):
    """Adds ``val_accuracy`` (sample-weighted; exact match for multi-label) to each record."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        X, y, w, _ = trainer.validation_data
        trainer.model.eval()
        z = trainer.model.forward(X)
        if self.kind == MULTICLASS:
            correct = np.argmax(z, axis=1) == y
        else:
            correct = np.all((z > 0) == (y > 0.5), axis=1)
        row_w = np.ones(len(correct)) if w is None else np.mean(w.reshape(len(correct), -1), axis=1)
        logs["val_accuracy"] = float(np.average(correct, weights=row_w))
