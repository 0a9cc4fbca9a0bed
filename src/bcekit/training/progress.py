"""A rich progress bar for the training loop, on stderr, shown only when asked for.

It appears when ``verbose > 0`` and stderr is a terminal, or always with ``verbose >= 2``;
otherwise the Trainer does not create it and nothing is printed.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, TextIO

from bcekit.training.callbacks import Callback

if TYPE_CHECKING:
    from bcekit.training.history import History
    from bcekit.training.loop import Trainer

__all__ = ["ProgressBar", "progress_visible"]


def progress_visible(verbose: int, stream: TextIO | None = None) -> bool:
    """Whether to show progress: ``verbose >= 2``, or ``verbose > 0`` on a terminal."""
    stream = sys.stderr if stream is None else stream
    if verbose >= 2:
        return True
    isatty = getattr(stream, "isatty", None)
    return verbose > 0 and callable(isatty) and bool(isatty())


class ProgressBar(Callback):
    """Two bars: epochs of this run (with the last epoch's losses) and batches of this epoch
    (with the running batch loss), each with elapsed time and ETA.

    Parameters
    ----------
    stream : text stream, optional
        Where to draw (default: ``sys.stderr`` at the start of training).
    force : bool, default False
        Draw even when ``stream`` is not a terminal.
    """

    def __init__(self, stream: TextIO | None = None, *, force: bool = False) -> None:
        self.stream = stream
        self.force = force
        self._progress: Any = None
        self._epochs: Any = None
        self._batches: Any = None

    def on_train_begin(self, trainer: Trainer) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        console = Console(
            file=sys.stderr if self.stream is None else self.stream,
            force_terminal=True if self.force else None,
        )
        self._progress = Progress(
            TextColumn("[bold]{task.description:>6}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        first = trainer.epoch  # epochs already done before this run
        self._epochs = self._progress.add_task(
            "epoch", total=trainer.epoch_target - first, loss="-"
        )
        self._batches = self._progress.add_task("batch", total=trainer.n_batches, loss="-")
        self._progress.start()

    def on_epoch_begin(self, trainer: Trainer, epoch: int) -> None:
        self._progress.reset(self._batches, total=trainer.n_batches, loss="-")

    def on_batch_end(self, trainer: Trainer, batch: int, logs: dict[str, Any]) -> None:
        self._progress.update(self._batches, advance=1, loss=f"{logs['loss']:.4g}")

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> bool | None:
        text = f"{logs['train_loss']:.4g}"
        if logs.get("val_loss") is not None:
            text += f", val {logs['val_loss']:.4g}"
        self._progress.update(self._epochs, advance=1, loss=text)
        return None

    def on_train_end(self, trainer: Trainer, history: History) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
