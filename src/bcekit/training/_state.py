"""The Trainer's state for resuming: what :meth:`Trainer.state` writes and ``load_state`` reads.

A state taken between epochs holds everything the next epoch depends on: the weights (and
the best weights), the optimiser's and schedule's state, the epoch and step counts, the seed
(the shuffle of epoch ``k`` is a function of the seed and ``k``), early stopping's counters,
the History and the model's random generators. Loading it and training on continues exactly
as the uninterrupted run did.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from bcekit._checks import check_integer
from bcekit.training.history import BestSoFar, History

if TYPE_CHECKING:
    from bcekit.training.loop import Trainer

__all__ = ["STATE_KEYS", "load_state", "random_streams", "state_of"]

STATE_KEYS = (
    "epoch",
    "global_step",
    "seed",
    "best_loss",
    "best_epoch",
    "wait",
    "history",
    "model",
    "best_model",
    "optimizer",
    "scheduler",
)


def random_streams(model: Any) -> dict[str, np.random.Generator]:
    """The model's random generators by layer name (:meth:`Layer.random_streams`; a
    duck-typed model without that method has none)."""
    streams = getattr(model, "random_streams", None)
    return {} if streams is None else streams()


def state_of(trainer: Trainer, include_history: bool) -> dict[str, Any]:
    """The dict :meth:`Trainer.state` documents."""
    stopping = trainer._stopping
    best = stopping.weights
    return {
        "epoch": trainer.epoch,
        "global_step": trainer.global_step,
        "seed": trainer._seed,
        "best_loss": None if math.isinf(stopping.best.loss) else stopping.best.loss,
        "best_epoch": stopping.best.epoch,
        "wait": stopping.wait,
        "history": trainer.history.to_dicts() if include_history else [],
        "model": trainer.model.state_dict(),
        "best_model": None if best is None else {k: v.copy() for k, v in best.items()},
        "optimizer": trainer.optimizer.state_dict(),
        "scheduler": None if trainer.scheduler is None else trainer.scheduler.state_dict(),
        "random_streams": {
            name: rng.bit_generator.state for name, rng in random_streams(trainer.model).items()
        },
    }


def load_state(trainer: Trainer, state: Mapping[str, Any]) -> None:
    """Check ``state`` and put it into ``trainer`` (after its ``_reset``) and its parts."""
    if not isinstance(state, Mapping):
        raise TypeError(f"state must be a dict from Trainer.state(); got {type(state).__name__}")
    missing = [k for k in STATE_KEYS if k not in state]
    if missing:
        raise ValueError(f"state is missing {missing}; pass a dict from Trainer.state()")
    if (state["scheduler"] is None) != (trainer.scheduler is None):
        raise ValueError(
            "state and Trainer disagree on the schedule: the state has "
            f"{'none' if state['scheduler'] is None else 'one'}, the Trainer "
            f"{'none' if trainer.scheduler is None else 'one'}"
        )
    trainer._reset()
    trainer.model.load_state_dict(state["model"])
    trainer.optimizer.load_state_dict(state["optimizer"])
    if trainer.scheduler is not None:
        trainer.scheduler.load_state_dict(state["scheduler"])
    trainer.epoch = check_integer(state["epoch"], "state['epoch']")
    trainer.global_step = check_integer(state["global_step"], "state['global_step']")
    trainer._seed = check_integer(state["seed"], "state['seed']")
    stopping = trainer._stopping
    stopping.wait = check_integer(state["wait"], "state['wait']")
    best_loss = state["best_loss"]
    stopping.best = BestSoFar(
        math.inf if best_loss is None else float(best_loss), state["best_epoch"]
    )
    best = state["best_model"]
    stopping.weights = None if best is None else {k: np.array(v) for k, v in best.items()}
    trainer.history = History.from_dicts(state["history"])
    _load_random_streams(trainer.model, state.get("random_streams", {}))


def _load_random_streams(model: Any, saved: Mapping[str, Any]) -> None:
    """Set the model's generators to ``saved`` states (a state without them keeps its own)."""
    streams = random_streams(model)
    unknown = sorted(set(saved) - set(streams))
    if unknown:
        raise ValueError(
            f"state['random_streams'] names layers the model has no generator in: {unknown}"
        )
    for name, bit_state in saved.items():
        try:
            streams[name].bit_generator.state = dict(bit_state)
        except (TypeError, ValueError, KeyError) as exc:
            raise ValueError(
                f"state['random_streams'][{name!r}] is not a state of a "
                f"{type(streams[name].bit_generator).__name__} generator: {exc}"
            ) from exc
