"""History: what happened in each epoch of training, as JSON-ready records."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

__all__ = ["BestSoFar", "History"]


def _jsonable(value: Any) -> Any:
    """Plain Python scalars and lists for NumPy values; anything else is returned unchanged."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


class BestSoFar:
    """The lowest loss seen so far and its epoch: the one definition of the best epoch.

    An epoch becomes the best when its loss is strictly below every earlier one, so the first
    of tied minima wins and a NaN never does. The Trainer offers each monitored loss as the
    epoch ends (:attr:`Trainer.best_epoch`); :attr:`History.best_epoch` replays its records.

    Parameters
    ----------
    loss : float, default inf
    epoch : int or None, default None
        Where to start from, e.g. a saved training state.
    """

    def __init__(self, loss: float = math.inf, epoch: int | None = None) -> None:
        self.loss, self.epoch = loss, epoch

    def offer(self, loss: float, epoch: int) -> bool:
        """Count epoch ``epoch``'s ``loss``; True if it is the new best."""
        if loss < self.loss:
            self.loss, self.epoch = loss, epoch
            return True
        return False


class History:
    """Per-epoch training records.

    Each record is a dict with ``"epoch"`` (counted from 1, across :meth:`Trainer.fit_epoch`
    calls), ``"train_loss"`` (the epoch's loss under the training loss's reduction, over every
    batch, so the sample-weighted mean with ``reduction="weighted_mean"``), ``"val_loss"`` (when
    validation data was given), ``"lr"`` (the learning rate of the epoch's last batch),
    ``"time"`` (seconds, validation included) and whatever callbacks added.

    Parameters
    ----------
    records : iterable of dict, optional

    Attributes
    ----------
    records : list of dict
    interrupted : bool
        Training was interrupted (Ctrl-C) and returned early.
    stopped_early : bool
        Early stopping or a callback ended training before ``max_epochs``.
    """

    def __init__(self, records: Iterable[Mapping[str, Any]] = ()) -> None:
        self.records: list[dict[str, Any]] = [dict(r) for r in records]
        self.interrupted = False
        self.stopped_early = False

    def append(self, record: dict[str, Any]) -> None:
        """Add one epoch's record (kept by reference, so callbacks can still add to it)."""
        self.records.append(record)

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records)

    def __getitem__(self, key: str) -> list[Any]:
        """The series of one field, None for epochs that did not record it."""
        return [r.get(key) for r in self.records]

    @property
    def train_loss(self) -> list[float]:
        return self["train_loss"]

    @property
    def val_loss(self) -> list[float | None]:
        return self["val_loss"]

    @property
    def lr(self) -> list[float]:
        return self["lr"]

    @property
    def monitor(self) -> str:
        """The monitored loss: ``"val_loss"`` if any epoch has one, else ``"train_loss"``."""
        has_val = any(r.get("val_loss") is not None for r in self.records)
        return "val_loss" if has_val else "train_loss"

    @property
    def best_epoch(self) -> int | None:
        """The epoch with the lowest monitored loss (the first if tied, see :class:`BestSoFar`);
        None when no epoch has a finite one."""
        key = self.monitor
        best = BestSoFar()
        for r in self.records:
            if r.get(key) is not None:
                best.offer(r[key], r["epoch"])
        return best.epoch

    def to_dicts(self) -> list[dict[str, Any]]:
        """The records as new dicts of plain Python values (``json.dumps`` accepts them)."""
        return [{k: _jsonable(v) for k, v in r.items()} for r in self.records]

    @classmethod
    def from_dicts(cls, records: Iterable[Mapping[str, Any]]) -> History:
        """Rebuild a History from :meth:`to_dicts` output (e.g. after a JSON round trip)."""
        records = list(records)
        for i, r in enumerate(records):
            if not isinstance(r, Mapping) or "epoch" not in r:
                raise ValueError(f"records[{i}] must be a dict with an 'epoch' key; got {r!r}")
        return cls(records)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, History) and self.to_dicts() == other.to_dicts()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"History({len(self)} epochs, best_epoch={self.best_epoch})"
