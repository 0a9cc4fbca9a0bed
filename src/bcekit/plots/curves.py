"""Loss curves: training and validation loss per epoch, as a scikit-learn style Display."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Real
from typing import TYPE_CHECKING, Any, Self

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes

_TRAIN_KEYS = ("train_loss", "loss")
_VALIDATION_KEYS = ("val_loss", "validation_loss")


def _first_key(record: Mapping[str, Any], keys: Sequence[str]) -> str | None:
    return next((k for k in keys if k in record), None)


def _series(values: Any, what: str) -> np.ndarray | None:
    if values is None:
        return None
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{what} must be a 1-D sequence of losses; got shape {arr.shape}")
    return arr


def _from_records(records: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray | None]:
    """Split per-epoch records into a training series and, if recorded, a validation series."""
    train_key = _first_key(records[0], _TRAIN_KEYS)
    if train_key is None:
        raise ValueError(
            f"history records must have one of the keys {_TRAIN_KEYS}; "
            f"got keys {sorted(records[0])}"
        )
    val_key = _first_key(records[0], _VALIDATION_KEYS)
    train = np.array([r[train_key] for r in records], dtype=np.float64)
    if val_key is None:
        return train, None
    val = np.array([np.nan if r.get(val_key) is None else r[val_key] for r in records])
    return train, (None if np.isnan(val).all() else val)


def _from_history(history: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """Accept per-epoch records, a mapping of series, or an object holding either."""
    if isinstance(history, Mapping):
        train_key = _first_key(history, _TRAIN_KEYS)
        if train_key is None:
            raise ValueError(
                f"history must have one of the keys {_TRAIN_KEYS}; got keys {sorted(history)}"
            )
        val_key = _first_key(history, _VALIDATION_KEYS)
        return (
            _series(history[train_key], "training loss"),
            _series(history[val_key], "validation loss") if val_key else None,
        )
    if hasattr(history, "records"):
        history = history.records
    elif hasattr(history, "epochs") and not callable(history.epochs):
        history = history.epochs
    records = list(history)
    if not records:
        raise ValueError("history is empty: no epoch has been recorded")
    if isinstance(records[0], Real):
        return _series(records, "training loss"), None
    if not isinstance(records[0], Mapping):
        raise TypeError(
            "history must be a sequence of per-epoch dicts or numbers, or a dict of loss "
            f"series; got a sequence of {type(records[0]).__name__}"
        )
    return _from_records(records)


class LossCurveDisplay:
    """Training (and validation) loss against epoch.

    Build it with :meth:`from_estimator` or :meth:`from_history`, which also plot it, or
    construct it from the series and call :meth:`plot`.

    Parameters
    ----------
    train_loss : array-like of shape (n_epochs,)
        Mean training loss of each epoch.
    validation_loss : array-like of shape (n_epochs,), optional
        Validation loss of each epoch; NaN where an epoch was not evaluated.
    name : str, optional
        Label for the legend.

    Attributes
    ----------
    line_ : matplotlib.lines.Line2D
        The training-loss curve.
    validation_line_ : matplotlib.lines.Line2D or None
        The validation-loss curve, if there is one.
    ax_ : matplotlib.axes.Axes
        Axes holding the curves.
    figure_ : matplotlib.figure.Figure
        Figure holding the axes.

    Examples
    --------
    >>> from bcekit.plots import LossCurveDisplay
    >>> disp = LossCurveDisplay.from_history(
    ...     [{"train_loss": 0.69, "val_loss": 0.70}, {"train_loss": 0.41, "val_loss": 0.45}]
    ... )  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        train_loss: Any,
        validation_loss: Any = None,
        name: str | None = None,
    ) -> None:
        self.train_loss = _series(train_loss, "train_loss")
        self.validation_loss = _series(validation_loss, "validation_loss")
        if self.train_loss is None or self.train_loss.size == 0:
            raise ValueError("train_loss must hold at least one epoch")
        if self.validation_loss is not None and self.validation_loss.shape != self.train_loss.shape:
            raise ValueError(
                "validation_loss must have one value per epoch like train_loss; got "
                f"{self.validation_loss.size} values for {self.train_loss.size} epochs"
            )
        self.name = name

    @classmethod
    def from_history(
        cls, history: Any, *, name: str | None = None, ax: Axes | None = None, **kwargs: Any
    ) -> LossCurveDisplay:
        """Plot the losses recorded in a training history.

        Parameters
        ----------
        history : sequence of dict, sequence of float, dict of sequences, or History
            Per-epoch records with a ``"train_loss"`` (or ``"loss"``) entry and optionally
            ``"val_loss"`` (or ``"validation_loss"``); or the training loss per epoch; or
            one series per key; or an object with such records in ``.records`` or
            ``.epochs``.
        name : str, optional
            Legend label.
        ax : matplotlib Axes, optional
            Axes to draw on; a new figure is made otherwise.
        **kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        LossCurveDisplay
        """
        train, val = _from_history(history)
        return cls(train_loss=train, validation_loss=val, name=name).plot(ax=ax, **kwargs)

    @classmethod
    def from_estimator(
        cls, estimator: Any, *, name: str | None = None, ax: Axes | None = None, **kwargs: Any
    ) -> LossCurveDisplay:
        """Plot the loss curve of a fitted estimator.

        Reads ``estimator.history_`` when present, else ``loss_curve_`` with the optional
        ``validation_loss_curve_``.

        Parameters
        ----------
        estimator : fitted estimator
        name : str, optional
            Legend label; defaults to the estimator's class name.
        ax : matplotlib Axes, optional
        **kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        LossCurveDisplay

        Raises
        ------
        ValueError
            The estimator recorded no loss per epoch.
        """
        name = type(estimator).__name__ if name is None else name
        history = getattr(estimator, "history_", None)
        if history is not None and len(history) > 0:
            train, val = _from_history(history)
        elif getattr(estimator, "loss_curve_", None) is not None:
            train = _series(estimator.loss_curve_, "loss_curve_")
            val = _series(getattr(estimator, "validation_loss_curve_", None), "validation")
        else:
            raise ValueError(
                f"{name} has no loss history (history_ or loss_curve_); fit it with an "
                "iterative solver first"
            )
        return cls(train_loss=train, validation_loss=val, name=name).plot(ax=ax, **kwargs)

    def plot(self, ax: Axes | None = None, *, name: str | None = None, **kwargs: Any) -> Self:
        """Draw the curves.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Axes to draw on; a new figure is made otherwise.
        name : str, optional
            Legend label, overriding the one given at construction.
        **kwargs
            Line properties for both curves (the validation curve is dashed).

        Returns
        -------
        LossCurveDisplay
            ``self``, with ``line_``, ``validation_line_``, ``ax_`` and ``figure_`` set.
        """
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots()
        name = self.name if name is None else name
        prefix = f"{name}: " if name else ""
        epochs = np.arange(1, self.train_loss.size + 1)
        (self.line_,) = ax.plot(epochs, self.train_loss, label=f"{prefix}train", **kwargs)
        self.validation_line_ = None
        if self.validation_loss is not None:
            style = {"color": self.line_.get_color(), **kwargs, "linestyle": "--"}
            (self.validation_line_,) = ax.plot(
                epochs, self.validation_loss, label=f"{prefix}validation", **style
            )
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.legend(loc="upper right")
        self.ax_ = ax
        self.figure_ = ax.figure
        return self
