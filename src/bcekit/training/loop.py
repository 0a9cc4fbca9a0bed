r"""The training loop: minibatch descent with validation, early stopping, callbacks and resume.

:class:`Trainer` joins three duck-typed parts:

* a **model** with ``forward(X) -> logits``, ``backward(grad)`` (accumulating into the
  ``grad`` of its ``parameters()``, which are reset before each step), ``train()``/``eval()`` and
  ``state_dict()``/``load_state_dict()`` (any :class:`bcekit.nn.Layer`);
* a **loss** with ``value_and_grad(logits, targets, *, weight, mask) -> (value, grad)`` and
  ``loss(logits, targets, *, weight, mask) -> value``, whose ``reduction`` is ``"mean"`` or
  ``"weighted_mean"`` (the :mod:`bcekit.losses` classes);
* an **optimiser** from :mod:`bcekit.optim` (``params``, ``step()``, ``lr``, ``state_dict()``).

One optimiser step per batch (:mod:`bcekit.training._steps`): forward, loss and its gradient,
backward, clipping, step.

How ``sample_weight`` enters: it is passed to the loss as ``weight`` for the rows of each
batch, so the batch objective is the loss's own reduction. With
``reduction="weighted_mean"`` (:math:`\sum w\ell / \sum w`, recommended) a weight of 2 is the
same as repeating the row, and scaling all weights changes nothing; with ``"mean"``
(:math:`\sum w\ell / n`) the weights also scale the step size. The epoch's ``train_loss`` is that
same reduction taken over all the epoch's batches.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bcekit._checks import check_integer
from bcekit.optim.base import check_real
from bcekit.optim.schedules import ReduceLROnPlateau, Schedule
from bcekit.training import _state
from bcekit.training._batches import Data, as_data, as_validation, batch_rows, seed_from
from bcekit.training._numerics import Diverged
from bcekit.training._steps import check_parts, evaluate, step_schedule, train_epoch
from bcekit.training._stopping import (
    BestWeights,
    SigintFlag,
    keep_finite_weights,
    load_epoch_start,
)
from bcekit.training.callbacks import Callback
from bcekit.training.errors import StopTraining, TrainingDivergedError, TrainingInterrupted
from bcekit.training.history import History
from bcekit.training.progress import ProgressBar, progress_visible

__all__ = ["Trainer"]


class Trainer:
    r"""Train a model by minibatch gradient descent on a loss.

    Parameters
    ----------
    model : Layer-like
        ``forward``, ``backward``, ``parameters``, ``train``, ``eval``, ``state_dict``,
        ``load_state_dict``; it returns logits.
    loss : loss object
        ``value_and_grad`` and ``__call__``, with ``reduction`` ``"weighted_mean"`` or
        ``"mean"`` (see the module docstring for how ``sample_weight`` enters).
    optimizer : Optimizer
        Built over the model's parameters; its state persists across ``fit_epoch`` calls.
    batch_size : int or None, default 256
        Rows per optimiser step; None (or more than the rows) is full-batch descent. The last
        batch of an epoch holds the remainder.
    max_epochs : int, default 100
        Epochs run by :meth:`fit`.
    shuffle : bool, default True
        Visit the rows in a new random order each epoch. The order of epoch ``k`` depends only
        on the seed and ``k``, so runs with the same ``random_state`` are identical and a
        resumed run shuffles as the uninterrupted one would.
    random_state : None, int, Generator or RandomState
        Seed of the shuffling (drawn once, when the Trainer is built).
    early_stopping : bool, default False
        Stop when the monitored loss (the validation loss if ``validation_data`` is given,
        else the training loss) has failed for ``patience`` consecutive epochs to fall below
        the best so far minus ``tol``.
    patience : int, default 10
        Epochs without such an improvement before stopping (≥ 1).
    tol : float, default 1e-4
        Absolute improvement that counts (≥ 0).
    restore_best : bool, default True
        Keep a copy of the weights of the best epoch (lowest monitored loss) and put them
        back at the end of a ``fit`` with ``early_stopping`` (whether it stopped early or
        reached ``max_epochs``, as scikit-learn does), when training is interrupted and when
        it diverges.
    scheduler : Schedule, optional
        A step schedule sets ``optimizer.lr`` before each epoch or batch (its ``interval``)
        from the number of completed epochs or optimiser steps; :class:`ReduceLROnPlateau`
        is stepped with the monitored loss after each epoch. Bound to the optimiser's
        learning rate when it has no ``base_lr``.
    clip_norm : float, optional
        Clip the global gradient norm to this value before each step.
    callbacks : sequence of Callback
    verbose : int, default 0
        > 0 shows a progress bar on stderr when it is a terminal; ≥ 2 shows it always.

    Attributes
    ----------
    history : History
        Records of the epochs of the current run.
    epoch : int
        Epochs completed (the ``"epoch"`` of the last record).
    global_step : int
        Optimiser steps taken.
    n_batches : int
        Batches per epoch of the running ``fit`` (set when it starts).
    epoch_target : int
        The epoch the running call trains up to.
    validation_data : tuple or None
        The validation arrays of the running call (for callbacks).
    validation_logits : ndarray or None
        The model's outputs on the validation data from this epoch's validation pass (in
        ``eval()`` mode), for callbacks' metrics in ``on_epoch_end``: the validation data is
        run through the model once per epoch, by the Trainer.
    best_epoch : int or None
        The epoch with the lowest monitored loss so far (the first if tied); what
        :class:`Checkpoint` and ``restore_best`` go by.

    Notes
    -----
    A NaN or infinite model output, loss, gradient or weight stops training with
    :class:`TrainingDivergedError`; the model then holds the best weights (with
    ``restore_best``) or those from the start of the failing epoch. Ctrl-C (or a
    KeyboardInterrupt raised by a callback) ends training after the current batch: the best
    weights are restored, the completed epochs are kept in the History (``interrupted`` is
    True), a :class:`TrainingInterrupted` warning is issued and ``fit`` returns normally.
    After training the model is left in ``eval()`` mode.
    """

    def __init__(
        self,
        model: Any,
        loss: Any,
        optimizer: Any,
        *,
        batch_size: int | None = 256,
        max_epochs: int = 100,
        shuffle: bool = True,
        random_state: Any = None,
        early_stopping: bool = False,
        patience: int = 10,
        tol: float = 1e-4,
        restore_best: bool = True,
        scheduler: Schedule | None = None,
        clip_norm: float | None = None,
        callbacks: Sequence[Callback] = (),
        verbose: int = 0,
    ) -> None:
        reduction = check_parts(model, loss, optimizer)
        if scheduler is not None and not isinstance(scheduler, Schedule):
            raise TypeError(
                f"scheduler must be a bcekit.optim Schedule; got {type(scheduler).__name__}"
            )
        callbacks = list(callbacks)
        for i, cb in enumerate(callbacks):
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks[{i}] must be a Callback; got {type(cb).__name__}")
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.reduction = reduction
        self.batch_size = (
            None if batch_size is None else check_integer(batch_size, "batch_size", minimum=1)
        )
        self.max_epochs = check_integer(max_epochs, "max_epochs", minimum=1)
        self.shuffle = bool(shuffle)
        self.early_stopping = bool(early_stopping)
        self.patience = check_integer(patience, "patience", minimum=1)
        self.tol = check_real("tol", tol, low=0.0)
        self.restore_best = bool(restore_best)
        self.scheduler = scheduler
        if clip_norm is not None:
            clip_norm = check_real("clip_norm", clip_norm, low=0.0, low_open=True)
        self.clip_norm = clip_norm
        self.callbacks = callbacks
        self.verbose = check_integer(verbose, "verbose")
        self._seed = seed_from(random_state)
        self._reset()

    def _reset(self) -> None:
        """Forget any previous run; the model, optimiser and schedule carry on as they are."""
        self.history = History()
        self.epoch = 0
        self.global_step = 0
        self._stopping = BestWeights(self.tol, keep=self.restore_best)
        self._last_loss: float | None = None
        self.n_batches = 0
        self.epoch_target = 0
        self.validation_data: tuple[Any, ...] | None = None
        self.validation_logits: np.ndarray | None = None
        self._active: list[Callback] = []
        self._epoch_start: dict[str, np.ndarray] | None = None

    @property
    def best_epoch(self) -> int | None:
        """The epoch with the lowest monitored loss so far (None before the first)."""
        return self._stopping.best.epoch

    # --- public entry points ---------------------------------------------------------------

    def fit(
        self,
        X: Any,
        y: Any,
        *,
        sample_weight: Any = None,
        mask: Any = None,
        validation_data: Any = None,
        resume_from: Mapping[str, Any] | None = None,
    ) -> History:
        """Train for up to ``max_epochs`` epochs (fewer with early stopping).

        Parameters
        ----------
        X : array-like or sparse matrix, shape (n_samples, ...)
        y : array-like, shape (n_samples, ...)
            Targets as the loss takes them.
        sample_weight : array-like, shape (n_samples,) or broadcasting to ``y``, optional
            Non-negative weights, passed to the loss as ``weight``.
        mask : bool array-like, shape (n_samples, ...), optional
            Elements the loss counts (True), e.g. to ignore unlabelled pixels.
        validation_data : tuple, optional
            ``(X_val, y_val[, sample_weight_val[, mask_val]])``, scored after every epoch in
            ``eval()`` mode.
        resume_from : dict, optional
            A :meth:`state` to continue from instead of starting afresh; training then runs
            from epoch ``state["epoch"] + 1`` to ``max_epochs``. For a state taken between
            epochs (as :class:`Checkpoint` does) this is exactly what the original run did,
            given the same data and configuration; the seed comes from the state, and the
            model's random streams (Dropout's masks) continue where they were.

        Returns
        -------
        History
            Also kept as ``self.history``.
        """
        train = as_data("", X, y, sample_weight, mask)
        val = as_validation(validation_data)
        if resume_from is None:
            self._reset()
        else:
            self.load_state(resume_from)
        return self._run(train, val, self.max_epochs, early_stopping=self.early_stopping)

    def fit_epoch(
        self,
        X: Any,
        y: Any,
        *,
        sample_weight: Any = None,
        mask: Any = None,
        validation_data: Any = None,
    ) -> History:
        """Train one more epoch, continuing the epoch count, History and optimiser state.

        For ``partial_fit``: each call is epoch ``self.epoch + 1`` on the data given.
        Early stopping does not apply (no epoch limit, nothing restored at the end).
        Arguments as in :meth:`fit`.
        """
        train = as_data("", X, y, sample_weight, mask)
        val = as_validation(validation_data)
        return self._run(train, val, self.epoch + 1, early_stopping=False)

    def state(self, *, include_history: bool = True) -> dict[str, Any]:
        """Everything needed to continue training exactly; see :meth:`fit` ``resume_from``.

        Parameters
        ----------
        include_history : bool, default True
            False leaves out the History records (``"history"`` is then an empty list), for
            callers that keep them another way.

        Returns
        -------
        dict
            JSON scalars ``"epoch"``, ``"global_step"``, ``"seed"``, ``"best_loss"``
            (None before the first epoch), ``"best_epoch"``, ``"wait"`` (epochs without
            improvement); ``"history"`` (:meth:`History.to_dicts`); ``"model"`` and
            ``"best_model"`` (name -> ndarray copies, ``best_model`` None unless
            ``restore_best``); ``"optimizer"`` (its :meth:`state_dict`: scalars and arrays);
            ``"scheduler"`` (JSON scalars, or None); ``"random_streams"`` (layer name ->
            ``bit_generator.state`` of each :meth:`Layer.random_streams` generator).
        """
        return _state.state_of(self, include_history)

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state` into this Trainer, its model, optimiser and schedule."""
        _state.load_state(self, state)

    # --- the run ---------------------------------------------------------------------------

    def _run(self, train: Data, val: Data | None, target: int, *, early_stopping: bool) -> History:
        batch = batch_rows(self.batch_size, train.n)
        self.n_batches = -(-train.n // batch)
        self.epoch_target = target
        self.validation_data = None if val is None else (val.X, val.y, val.weight, val.mask)
        self.validation_logits = None
        self.history.interrupted = self.history.stopped_early = False
        self._stopping.tol, self._stopping.keep = self.tol, self.restore_best  # as set now
        if self.scheduler is not None:
            self.scheduler.bind(self.optimizer.lr)
        callbacks = list(self.callbacks)
        if progress_visible(self.verbose):
            callbacks.append(ProgressBar(force=self.verbose >= 2))
        self._active = callbacks
        self._epoch_start = None
        error: TrainingDivergedError | None = None
        try:
            with SigintFlag() as sigint:
                try:
                    for cb in callbacks:
                        cb.on_train_begin(self)
                    while self.epoch < target:
                        if early_stopping and self._stopping.wait >= self.patience:
                            self.history.stopped_early = True
                            break
                        if self._run_epoch(train, val, batch, sigint):
                            self.history.stopped_early = True
                            break
                except StopTraining:
                    self.history.stopped_early = True
                except KeyboardInterrupt:
                    self._interrupted()
                except Diverged as d:
                    error = self._diverged(d)
                if error is None and not self.history.interrupted and early_stopping:
                    self._stopping.restore_at_end(self.model, self.epoch)
        finally:
            self.model.eval()
            for cb in callbacks:
                cb.on_train_end(self, self.history)
        if error is not None:
            raise error
        return self.history

    def _run_epoch(self, train: Data, val: Data | None, batch: int, sigint: SigintFlag) -> bool:
        """One epoch, validation and bookkeeping; True if a callback asked to stop."""
        k = self.epoch + 1
        started = time.perf_counter()
        self._epoch_start = self.model.state_dict()
        per_epoch = step_schedule(self.scheduler, "epoch")
        if per_epoch is not None:
            self.optimizer.lr = per_epoch.lr_at(self.epoch)
        self.model.train()
        for cb in self._active:
            cb.on_epoch_begin(self, k)
        record: dict[str, Any] = {
            "epoch": k,
            "train_loss": train_epoch(self, train, k, batch, sigint),
        }
        lr = self.optimizer.lr
        if val is not None:
            record["val_loss"], self.validation_logits = evaluate(self, val, k, batch)
        record["lr"] = lr
        record["time"] = time.perf_counter() - started
        self.history.append(record)
        monitored = record.get("val_loss", record["train_loss"])
        if isinstance(self.scheduler, ReduceLROnPlateau):
            self.optimizer.lr = self.scheduler.step(monitored)
        self._stopping.update(monitored, k, self.model)
        self.epoch = k
        stop = False
        for cb in self._active:
            stop = bool(cb.on_epoch_end(self, k, record)) or stop
        if sigint.fired:
            raise KeyboardInterrupt
        return stop

    # --- interruption and divergence -------------------------------------------------------

    def _interrupted(self) -> None:
        kept = self._stopping.load_into(self.model)
        if kept is None:
            params, running = self.optimizer.params, self.epoch + 1
            kept = keep_finite_weights(self.model, params, self._epoch_start, running)
        self.history.interrupted = True
        warnings.warn(
            f"training interrupted; returning the {len(self.history)} completed epochs, "
            f"the model keeps {kept}",
            TrainingInterrupted,
            stacklevel=4,
        )

    def _diverged(self, d: Diverged) -> TrainingDivergedError:
        kept = self._stopping.load_into(self.model)
        if kept is None:
            kept = load_epoch_start(self.model, self._epoch_start, d.epoch)
        error = TrainingDivergedError(
            epoch=d.epoch,
            batch=d.batch,
            quantity=d.quantity,
            last_loss=self._last_loss,
            lr=self.optimizer.lr,
            restored=kept,
        )
        error.history = self.history
        return error
