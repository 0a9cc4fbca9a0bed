"""Callbacks: hooks into the training loop, and a checkpoint hook built on them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bcekit.training.history import History

if TYPE_CHECKING:
    from bcekit.training.loop import Trainer

__all__ = ["Callback", "Checkpoint", "LastEpochState"]


class Callback:
    """Base class: override the hooks you need; each receives the running :class:`Trainer`.

    Order within an epoch: ``on_epoch_begin`` → (one ``on_batch_end`` per optimiser step) →
    validation → ``on_epoch_end``. To stop training, return True from :meth:`on_epoch_end`
    or raise :class:`~bcekit.training.StopTraining` from any hook; either ends training
    like early stopping does (``history.stopped_early``).
    """

    def on_train_begin(self, trainer: Trainer) -> None:
        """Called once before the first epoch of ``fit`` (or of each ``fit_epoch``)."""

    def on_epoch_begin(self, trainer: Trainer, epoch: int) -> None:
        """Called before epoch ``epoch`` (counted from 1)."""

    def on_batch_end(self, trainer: Trainer, batch: int, logs: dict[str, Any]) -> None:
        """Called after each optimiser step; ``logs`` has ``"loss"`` and ``"size"`` of the batch."""

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> bool | None:
        """Called after an epoch, with its History record.

        Keys added to ``logs`` become part of the record (keep them JSON-ready). At this
        point ``trainer.state()`` describes the end of this epoch, and with validation data
        ``trainer.validation_logits`` holds the model's outputs on it (compute validation
        metrics from those rather than running the model again). Return True to stop.
        """
        return None

    def on_train_end(self, trainer: Trainer, history: History) -> None:
        """Called once when training ends, however it ends (also before an error is raised)."""


class Checkpoint(Callback):
    """Hand ``trainer.state()`` to ``save`` at the end of epochs.

    The state holds the model and best-model weights, the optimiser and schedule state, the
    History records, the epoch count and the early-stopping counters; see
    :meth:`Trainer.state`. ``Trainer.fit(..., resume_from=state)`` continues from it exactly.

    Parameters
    ----------
    save : callable
        ``save(state: dict) -> None``, e.g. writing arrays with safetensors and the rest as JSON.
    best_only : bool, default True
        Save only when the epoch is the new :attr:`Trainer.best_epoch` (lowest monitored loss:
        validation loss when there is validation data, training loss otherwise); False saves
        after every epoch.
    """

    def __init__(self, save: Callable[[dict[str, Any]], None], *, best_only: bool = True) -> None:
        if not callable(save):
            raise TypeError(f"save must be callable; got {type(save).__name__}")
        self.save = save
        self.best_only = bool(best_only)

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> bool | None:
        if not self.best_only or trainer.best_epoch == epoch:
            self.save(trainer.state())
        return None


class LastEpochState(Callback):
    """Keeps ``trainer.state()`` as of the start of training and the end of each epoch.

    Such a state lies between epochs, so ``Trainer.fit(resume_from=state)`` continues from
    it exactly, even when training was later interrupted in the middle of an epoch.

    The History's records are append-only, so each epoch keeps the state without them plus
    the number of records, and :attr:`state` copies that many when read: the cost per epoch
    does not grow with the number of epochs.
    """

    def __init__(self) -> None:
        self._kept: dict[str, Any] | None = None
        self._history = History()
        self._epochs = 0

    @property
    def state(self) -> dict[str, Any] | None:
        """The latest state kept (None before training starts)."""
        if self._kept is None:
            return None
        records = History(self._history.records[: self._epochs]).to_dicts()
        return {**self._kept, "history": records}

    def _keep(self, trainer: Trainer) -> None:
        self._history, self._epochs = trainer.history, len(trainer.history)
        self._kept = trainer.state(include_history=False)

    def on_train_begin(self, trainer: Trainer) -> None:
        self._keep(trainer)

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        self._keep(trainer)
