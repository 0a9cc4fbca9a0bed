r"""Learning-rate schedules: small objects that say what the learning rate should be.

Two kinds, both driven by :class:`bcekit.training.Trainer`:

* **Step schedules** (:class:`ConstantLR`, :class:`StepLR`, :class:`ExponentialLR`,
  :class:`WarmupCosineLR`) are functions of a counter: ``lr_at(step)`` is the rate for the
  update after ``step`` completed units, where the unit is the schedule's ``interval``:
  ``"epoch"`` (the Trainer sets the rate at the start of each epoch) or ``"batch"`` (before
  each optimiser step). Epoch is the default of the decays, batch that of the warm-up cosine.
* **Metric schedules** (:class:`ReduceLROnPlateau`) react to a monitored loss:
  ``step(metric)`` is called once per epoch, after validation, and returns the new rate.

Every schedule starts from ``base_lr``; when it is None the Trainer fills it in with
``bind(optimizer.lr)`` at the start of training. ``state_dict`` / ``load_state_dict`` carry
what is needed to resume (JSON scalars only).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from bcekit._checks import check_integer
from bcekit.optim.base import check_real

__all__ = [
    "ConstantLR",
    "ExponentialLR",
    "ReduceLROnPlateau",
    "Schedule",
    "StepLR",
    "WarmupCosineLR",
]

_INTERVALS = ("epoch", "batch")


class Schedule:
    """Base class of all schedules: the base rate, the interval and the state dict.

    Parameters
    ----------
    base_lr : float or None
        The starting learning rate; None to take the optimiser's at :meth:`bind`.
    interval : {"epoch", "batch"}
        The unit the schedule counts in.
    """

    def __init__(self, *, base_lr: float | None = None, interval: str = "epoch") -> None:
        if interval not in _INTERVALS:
            raise ValueError(f"interval must be one of {_INTERVALS}; got {interval!r}")
        self.interval = interval
        self.base_lr = None if base_lr is None else check_real("base_lr", base_lr, low=0.0)

    def bind(self, lr: float) -> None:
        """Set ``base_lr`` to ``lr`` if it was not given (later calls change nothing)."""
        if self.base_lr is None:
            self.base_lr = check_real("lr", lr, low=0.0)

    def _base(self) -> float:
        if self.base_lr is None:
            raise RuntimeError(
                f"{type(self).__name__} has no base_lr: pass base_lr= or call bind(lr) first"
            )
        return self.base_lr

    def state_dict(self) -> dict[str, Any]:
        """JSON-ready state: the base rate (and whatever a subclass tracks)."""
        return {"type": type(self).__name__, "base_lr": self.base_lr}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore the state saved by :meth:`state_dict`."""
        kind = state.get("type", type(self).__name__)
        if kind != type(self).__name__:
            raise ValueError(f"state is for a {kind} schedule, not {type(self).__name__}")
        base = state["base_lr"]
        self.base_lr = None if base is None else check_real("base_lr", base, low=0.0)


class _StepSchedule(Schedule):
    """A schedule that is a function of the count of completed epochs or batches."""

    def lr_at(self, step: int) -> float:
        """The learning rate after ``step`` completed units (``step >= 0``)."""
        return self._lr(check_integer(step, "step"), self._base())

    def _lr(self, step: int, base: float) -> float:
        raise NotImplementedError


class ConstantLR(_StepSchedule):
    r"""The same rate throughout: :math:`\eta_s = \eta_0`.

    Parameters
    ----------
    base_lr : float, optional
    interval : {"epoch", "batch"}, default "epoch"
    """

    def _lr(self, step: int, base: float) -> float:
        return base


class StepLR(_StepSchedule):
    r"""Decay by ``gamma`` every ``step_size`` units.

    .. math:: \eta_s = \eta_0\,\gamma^{\lfloor s / k \rfloor}

    Parameters
    ----------
    step_size : int
        :math:`k \ge 1`, units between decays.
    gamma : float, default 0.1
        Multiplicative factor :math:`\gamma > 0`.
    base_lr : float, optional
    interval : {"epoch", "batch"}, default "epoch"
    """

    def __init__(
        self,
        step_size: int,
        gamma: float = 0.1,
        *,
        base_lr: float | None = None,
        interval: str = "epoch",
    ) -> None:
        self.step_size = check_integer(step_size, "step_size", minimum=1)
        self.gamma = check_real("gamma", gamma, low=0.0, low_open=True)
        super().__init__(base_lr=base_lr, interval=interval)

    def _lr(self, step: int, base: float) -> float:
        return base * self.gamma ** (step // self.step_size)


class ExponentialLR(_StepSchedule):
    r"""Decay by ``gamma`` every unit: :math:`\eta_s = \eta_0\,\gamma^s`.

    Parameters
    ----------
    gamma : float
        Multiplicative factor :math:`\gamma > 0`.
    base_lr : float, optional
    interval : {"epoch", "batch"}, default "epoch"
    """

    def __init__(
        self, gamma: float, *, base_lr: float | None = None, interval: str = "epoch"
    ) -> None:
        self.gamma = check_real("gamma", gamma, low=0.0, low_open=True)
        super().__init__(base_lr=base_lr, interval=interval)

    def _lr(self, step: int, base: float) -> float:
        return base * self.gamma**step


class WarmupCosineLR(_StepSchedule):
    r"""Linear warm-up to ``base_lr``, then cosine annealing down to ``min_lr``.

    With :math:`W` warm-up steps and :math:`T` total steps,

    .. math::

        \eta_s = \begin{cases}
            \eta_0\,(s + 1) / W & s < W \\
            \eta_{min} + \tfrac12 (\eta_0 - \eta_{min})
                \bigl(1 + \cos(\pi\, \tfrac{s - W}{T - W})\bigr) & W \le s < T \\
            \eta_{min} & s \ge T
        \end{cases}

    so the first update already uses :math:`\eta_0 / W` and the rate peaks at :math:`\eta_0`
    on update :math:`W + 1`.

    Parameters
    ----------
    warmup_steps : int
        :math:`W \ge 0`.
    total_steps : int
        :math:`T > W`, where the cosine reaches ``min_lr``.
    min_lr : float, default 0
        :math:`0 \le \eta_{min} \le \eta_0`.
    base_lr : float, optional
    interval : {"epoch", "batch"}, default "batch"
    """

    def __init__(
        self,
        warmup_steps: int,
        total_steps: int,
        *,
        min_lr: float = 0.0,
        base_lr: float | None = None,
        interval: str = "batch",
    ) -> None:
        warmup_steps = check_integer(warmup_steps, "warmup_steps")
        total_steps = check_integer(total_steps, "total_steps")
        if total_steps <= warmup_steps:
            raise ValueError(
                f"total_steps must be greater than warmup_steps ({warmup_steps}); got {total_steps}"
            )
        self.warmup_steps, self.total_steps = warmup_steps, total_steps
        self.min_lr = check_real("min_lr", min_lr, low=0.0)
        super().__init__(base_lr=base_lr, interval=interval)
        self._check_min_lr()

    def bind(self, lr: float) -> None:
        super().bind(lr)
        self._check_min_lr()

    def _check_min_lr(self) -> None:
        if self.base_lr is not None and self.min_lr > self.base_lr:
            raise ValueError(
                f"min_lr must not exceed base_lr ({self.base_lr:g}); got {self.min_lr:g}"
            )

    def _lr(self, step: int, base: float) -> float:
        if step < self.warmup_steps:
            return base * (step + 1) / self.warmup_steps
        progress = min(1.0, (step - self.warmup_steps) / (self.total_steps - self.warmup_steps))
        return self.min_lr + 0.5 * (base - self.min_lr) * (1.0 + math.cos(math.pi * progress))


class ReduceLROnPlateau(Schedule):
    r"""Multiply the rate by ``factor`` when the monitored loss stops improving.

    Called once per epoch with the monitored loss :math:`m` (the Trainer passes the validation
    loss, or the training loss without validation data). An epoch improves on the best loss
    :math:`m^*` when :math:`m < m^* (1 - \text{threshold})`; after more than ``patience``
    epochs in a row without improvement the rate becomes
    :math:`\max(\eta \cdot \text{factor}, \eta_{min})` and the count restarts. These are
    PyTorch's ``ReduceLROnPlateau`` rules (mode ``"min"``, relative threshold, no cooldown).

    Parameters
    ----------
    factor : float, default 0.1
        In (0, 1).
    patience : int, default 10
        Epochs without improvement tolerated before reducing.
    min_lr : float, default 0
        Lower bound :math:`\eta_{min} \ge 0`.
    threshold : float, default 1e-4
        Relative improvement needed, :math:`\ge 0`.
    base_lr : float, optional

    Attributes
    ----------
    lr : float or None
        The current rate (``base_lr`` until the first reduction).
    best : float
        Best loss seen so far.
    num_bad_epochs : int
        Epochs since the last improvement.
    """

    def __init__(
        self,
        factor: float = 0.1,
        patience: int = 10,
        min_lr: float = 0.0,
        threshold: float = 1e-4,
        *,
        base_lr: float | None = None,
    ) -> None:
        self.factor = check_real("factor", factor, low=0.0, high=1.0, low_open=True, high_open=True)
        self.patience = check_integer(patience, "patience")
        self.min_lr = check_real("min_lr", min_lr, low=0.0)
        self.threshold = check_real("threshold", threshold, low=0.0)
        super().__init__(base_lr=base_lr, interval="epoch")
        self.lr = self.base_lr
        self.best = math.inf
        self.num_bad_epochs = 0

    def bind(self, lr: float) -> None:
        super().bind(lr)
        if self.lr is None:
            self.lr = self.base_lr

    def step(self, metric: float) -> float:
        """Record one epoch's monitored loss and return the learning rate for the next epoch."""
        metric = check_real("metric", metric)
        lr = self._base() if self.lr is None else self.lr
        if metric < self.best * (1.0 - self.threshold):
            self.best = metric
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.num_bad_epochs > self.patience:
            lr = max(lr * self.factor, self.min_lr)
            self.num_bad_epochs = 0
        self.lr = lr
        return lr

    def state_dict(self) -> dict[str, Any]:
        best = None if math.isinf(self.best) else self.best
        return {
            **super().state_dict(),
            "lr": self.lr,
            "best": best,
            "num_bad_epochs": self.num_bad_epochs,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.lr = None if state["lr"] is None else check_real("lr", state["lr"], low=0.0)
        self.best = math.inf if state["best"] is None else check_real("best", state["best"])
        self.num_bad_epochs = int(state["num_bad_epochs"])
