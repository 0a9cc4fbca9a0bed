"""How an :class:`~bcekit.estimators.mlp.MLPClassifier` builds its network and its Trainer.

:class:`MLPTraining` holds the estimator's fitting machinery (``fit``, ``partial_fit`` and the
Dask path call it): :meth:`~MLPTraining._fits_network` compares the :func:`architecture` the
parameters describe (sizes, activation, dropout, dtype) with the one the current network was
built with; :meth:`~MLPTraining._make_trainer` sets up the optimiser, the learning-rate
schedule, the batch objective and the validation-accuracy callback; :func:`curves` turns the
Trainer's per-epoch records into the fitted curves.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from numbers import Integral
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from bcekit.estimators._targets import MULTICLASS, Targets, make_loss
from bcekit.estimators._training import BatchObjective, DenseInput
from bcekit.nn import mlp, pack_parameters
from bcekit.nn.activations import ACTIVATIONS
from bcekit.optim import SGD, Adam, ReduceLROnPlateau, WarmupCosineLR
from bcekit.training import Callback, History, Trainer

__all__ = ["MLPTraining", "architecture", "curves", "hidden_sizes"]


def hidden_sizes(model: Any) -> list[int]:
    """``hidden_layer_sizes`` as a list of positive ints (an int is one layer)."""
    sizes = model.hidden_layer_sizes
    sizes = [sizes] if isinstance(sizes, Integral) else list(sizes)
    if not all(isinstance(h, Integral) and h >= 1 for h in sizes):
        raise ValueError(
            f"hidden_layer_sizes must hold positive integers; got {model.hidden_layer_sizes!r}"
        )
    return [int(h) for h in sizes]


def architecture(model: Any, n_features: int, n_outputs: int, dtype: Any) -> tuple[Any, ...]:
    """The layers ``model``'s parameters describe: equal tuples build the same network.

    ``(n_features, hidden sizes, n_outputs, activation layer class, dropout, dtype)``; the
    class makes aliases (``"logistic"`` and ``"sigmoid"``) one activation.
    """
    return (
        int(n_features),
        tuple(hidden_sizes(model)),
        int(n_outputs),
        ACTIVATIONS.get(model.activation),
        float(model.dropout),
        np.dtype(dtype),
    )


def curves(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The fitted attributes that the per-epoch ``records`` give, by name.

    ``history_``, ``n_iter_``, ``loss_curve_``, the validation curves (None without
    validation; epochs without it, such as ``partial_fit`` after ``fit``, hold None) and
    ``best_loss_``: the lowest validation loss, else the lowest training loss.
    """
    if not all(isinstance(r, dict) and "train_loss" in r for r in records):
        raise ValueError("history records must be dicts with a 'train_loss'")
    validated = any("val_loss" in r for r in records)
    loss_curve = [r["train_loss"] for r in records]
    val_curve = [r.get("val_loss") for r in records] if validated else None
    values = [v for v in (val_curve if validated else loss_curve) if v is not None]
    return {
        "history_": records,
        "n_iter_": len(records),
        "loss_curve_": loss_curve,
        "validation_loss_curve_": val_curve,
        "validation_scores_": [r.get("val_accuracy") for r in records] if validated else None,
        "best_loss_": float(min(values)) if values else None,
    }


class MLPTraining:
    """The network and Trainer of an MLP estimator, from its parameters (a mixin).

    Sets ``network_``, ``classes_``, ``target_type_``, ``n_outputs_``, the curves and
    ``history_``; reads the estimator's parameters.
    """

    def _hidden_sizes(self) -> list[int]:
        return hidden_sizes(self)

    def _set_network(self, n_features: int, n_outputs: int, dtype: Any, random_state: Any) -> None:
        """Build ``network_`` anew and remember the architecture it was built with."""
        self.network_ = mlp(
            n_features,
            hidden_sizes(self),
            n_outputs,
            self.activation,
            self.dropout,
            dtype=dtype,
            random_state=random_state,
            input_grad=False,
        )
        self._architecture = architecture(self, n_features, n_outputs, dtype)

    def _init_network(self, X: Any, targets: Targets, rng: np.random.RandomState) -> None:
        self._set_network(X.shape[1], targets.n_outputs, X.dtype, rng)
        self.classes_ = targets.classes
        self.target_type_ = targets.kind
        self.n_outputs_ = targets.n_outputs
        self._partial_trainer = None

    def _fits_network(self, X: Any, targets: Targets) -> bool:
        """Whether the current network can continue training on this data (warm start).

        The architecture (sizes, activation, dropout, dtype) the parameters give for this
        data must be the one the network was built with, and the targets of the same kind
        and classes.
        """
        built = getattr(self, "_architecture", None)
        if not hasattr(self, "network_") or built is None:
            return False
        wanted = architecture(self, X.shape[1], targets.n_outputs, X.dtype)
        return (
            self.target_type_ == targets.kind
            and np.array_equal(self.classes_, targets.classes)
            and wanted == built
        )

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
        """A Trainer over ``network_``; ``schedule`` False trains at a constant rate.

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
            BatchObjective(
                loss,
                matrices,
                self.alpha,
                per_batch=True,
                planned_batches=self.max_iter * -(-n_samples // batch),
                label_targets=True,
            ),
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
        for name, value in curves(records).items():
            setattr(self, name, value)

    def _finish_fit(
        self, history: History, training_state: dict[str, Any] | None, *, stacklevel: int
    ) -> Any:
        """Keep what a ``fit`` trained (in memory or on dask input); warn if it did not settle.

        ``stacklevel`` points the ConvergenceWarning at the caller of ``fit``.
        """
        self._training_state = training_state
        self._record(history.to_dicts())
        self._partial_trainer = None
        if not history.stopped_early and not history.interrupted and self.n_iter_ >= self.max_iter:
            warnings.warn(
                f"Stochastic optimizer: maximum iterations ({self.max_iter}) reached and the "
                "optimization hasn't converged yet; increase max_iter or learning_rate_init",
                ConvergenceWarning,
                stacklevel=stacklevel,
            )
        return self

    def _partial_epoch(
        self,
        X: Any,
        targets: Targets,
        weights: np.ndarray | None,
        pos_weight: Callable[[], Any],
        rng: np.random.RandomState,
        *,
        first: bool,
    ) -> None:
        """One ``partial_fit`` epoch; the Trainer (and the optimiser state) carries over.

        ``pos_weight()`` is called only when a new Trainer is made.
        """
        if first:
            self._init_network(X, targets, rng)
        if getattr(self, "_partial_trainer", None) is None:
            self._partial_trainer = self._make_trainer(
                pos_weight(), len(targets.encoded), rng, validation=False, schedule=False
            )
            if not first:  # continue the epoch count and records of fit or a loaded model
                self._partial_trainer.history = History.from_dicts(self.history_)
                self._partial_trainer.epoch = len(self.history_)
        history = self._partial_trainer.fit_epoch(X, targets.encoded, sample_weight=weights)
        self._record(history.to_dicts())


class _ValidationAccuracy(Callback):
    """Adds ``val_accuracy`` (sample-weighted; exact match for multi-label) to each record."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        _, y, w, _ = trainer.validation_data
        z = trainer.validation_logits  # the Trainer's own validation pass, not a second one
        if self.kind == MULTICLASS:
            correct = np.argmax(z, axis=1) == y
        else:
            correct = np.all((z > 0) == (y > 0.5), axis=1)
        row_w = np.ones(len(correct)) if w is None else np.mean(w.reshape(len(correct), -1), axis=1)
        logs["val_accuracy"] = float(np.average(correct, weights=row_w))
