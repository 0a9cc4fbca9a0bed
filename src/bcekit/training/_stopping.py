"""Stopping and restoring: early stopping's count, the best weights, Ctrl-C, divergence.

After each epoch the monitored loss ``L`` (validation loss, else training loss) is offered
to :class:`BestWeights`: ``wait`` counts the epochs in a row with ``L > best − tol`` (early
stopping ends training when it reaches ``patience``), and a new best epoch
(:class:`~bcekit.training.history.BestSoFar`) keeps a copy of the weights when asked to.
Those weights go back into the model at the end of a ``fit`` with early stopping, on
interruption and on divergence.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

import numpy as np

from bcekit.training._numerics import finite
from bcekit.training.history import BestSoFar

__all__ = ["BestWeights", "SigintFlag", "keep_finite_weights", "load_epoch_start"]


class BestWeights:
    """The best epoch so far, the epochs since the last improvement, and the best weights.

    Parameters
    ----------
    tol : float
        Improvement below the best so far that resets ``wait``.
    keep : bool
        Keep a copy of the model's weights at each new best epoch (``restore_best``).

    Attributes
    ----------
    best : BestSoFar
        The lowest monitored loss and its epoch.
    wait : int
        Epochs in a row without an improvement of more than ``tol``.
    weights : dict of ndarray or None
        The best epoch's ``state_dict()`` (None unless ``keep`` and an epoch has ended).
    """

    def __init__(self, tol: float, keep: bool) -> None:
        self.tol, self.keep = tol, keep
        self.best = BestSoFar()
        self.wait = 0
        self.weights: dict[str, np.ndarray] | None = None

    def update(self, monitored: float, epoch: int, model: Any) -> None:
        """Count epoch ``epoch``'s monitored loss; copy the weights if it is the new best."""
        self.wait = self.wait + 1 if monitored > self.best.loss - self.tol else 0
        if self.best.offer(monitored, epoch) and self.keep:
            self.weights = model.state_dict()

    def restore_at_end(self, model: Any, epoch: int) -> None:
        """Put the best weights back unless the last epoch (``epoch``) was the best."""
        if self.keep and self.weights is not None and self.best.epoch != epoch:
            model.load_state_dict(self.weights)

    def load_into(self, model: Any) -> str | None:
        """Load the best weights if kept and say which they are; None if none are kept."""
        if self.keep and self.weights is not None:
            model.load_state_dict(self.weights)
            return f"the best weights (epoch {self.best.epoch})"
        return None


def load_epoch_start(model: Any, weights: dict[str, np.ndarray] | None, epoch: int) -> str:
    """Load ``weights``, saved at the start of the running epoch ``epoch``; say so."""
    if weights is not None:
        model.load_state_dict(weights)
    return f"the weights from the start of epoch {epoch}"


def keep_finite_weights(
    model: Any, params: Any, epoch_start: dict[str, np.ndarray] | None, epoch: int
) -> str:
    """Keep the model's weights if they are finite, else load those of the epoch's start."""
    if finite(p.value for p in params):
        return "its current weights"
    return load_epoch_start(model, epoch_start, epoch)


class SigintFlag:
    """Turns the first Ctrl-C into a flag so that training stops after the current batch.

    Active only in the main thread and when SIGINT has Python's default handler; a second
    Ctrl-C raises KeyboardInterrupt at once.
    """

    fired = False

    def __enter__(self) -> SigintFlag:
        self._previous = None
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        ):
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.fired:
            raise KeyboardInterrupt
        self.fired = True

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
