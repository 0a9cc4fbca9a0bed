"""What the training loop raises or warns when training cannot go on as asked."""

from __future__ import annotations

__all__ = ["StopTraining", "TrainingDivergedError", "TrainingInterrupted"]


class StopTraining(Exception):
    """Raised by a callback to end training after the current batch, as a normal stop."""


class TrainingInterrupted(UserWarning):
    """Warned when training was interrupted (Ctrl-C) and returned what it had so far."""


class TrainingDivergedError(RuntimeError):
    """The loss, the model output, a gradient or a weight became NaN or infinite.

    The model is left with finite weights (the best epoch's, or those at the start of the
    failing epoch) when the error is raised.

    Parameters
    ----------
    epoch : int
        The epoch it happened in, counted from 1.
    batch : int or None
        The batch, counted from 1; None when it happened during validation.
    quantity : str
        What stopped being finite: ``"loss"``, ``"model output"``, ``"gradient"`` or
        ``"weights"``.
    last_loss : float or None
        The last finite batch loss, None if there was none.
    lr : float
        The learning rate in use.
    restored : str
        Which weights the model was given back.

    Attributes
    ----------
    epoch, batch, quantity, last_loss, lr
        As given.
    history : History or None
        The epochs completed before the failure (set by the Trainer).
    """

    def __init__(
        self,
        *,
        epoch: int,
        batch: int | None,
        quantity: str,
        last_loss: float | None,
        lr: float,
        restored: str,
    ) -> None:
        last = "none yet" if last_loss is None else f"{last_loss:.6g}"
        where = "validation" if batch is None else f"batch {batch}"
        super().__init__(
            f"training diverged at epoch {epoch}, {where}: the {quantity} is NaN or "
            f"infinite (last finite loss: {last}). Lower the learning rate (lr={lr:g}) or clip "
            f"gradients (clip_norm=1.0, say); the model keeps {restored}."
        )
        self.epoch, self.batch, self.quantity = epoch, batch, quantity
        self.last_loss, self.lr = last_loss, lr
        self.history = None
