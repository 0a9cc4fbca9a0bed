"""The training loop shared by the estimators and the command line.

:class:`Trainer` runs minibatch gradient descent on a model, a loss and an optimiser, with
validation, early stopping, learning-rate schedules, gradient clipping, callbacks
(:class:`Callback`, :class:`Checkpoint`, :class:`LastEpochState`), a progress bar,
resumable state and ``fit_epoch`` for ``partial_fit``. It returns a :class:`History` of
per-epoch records.
"""

from bcekit.training.callbacks import Callback, Checkpoint, LastEpochState
from bcekit.training.errors import StopTraining, TrainingDivergedError, TrainingInterrupted
from bcekit.training.history import History
from bcekit.training.loop import Trainer
from bcekit.training.progress import ProgressBar, progress_visible

__all__ = [
    "Callback",
    "Checkpoint",
    "History",
    "LastEpochState",
    "ProgressBar",
    "StopTraining",
    "Trainer",
    "TrainingDivergedError",
    "TrainingInterrupted",
    "progress_visible",
]
