"""Model files, training-state files and safe file writing.

:func:`save` / :func:`load` store a fitted estimator as safetensors weights plus JSON
metadata (never pickle); :func:`save_training_state` / :func:`load_training_state` do the
same for a training run's ``Trainer.state()``, so that it can be resumed exactly;
:func:`atomic_write` and :func:`atomic_directory` create files and folders that appear
complete or not at all. Loading treats every file as if it came from a stranger (regular
files only, bounded in size, within the JSON parser's limits, plain dtypes, finite weights):
anything else raises :class:`ModelFileError`, a :class:`ValueError` that names the file.
"""

from bcekit.io.atomic import atomic_directory, atomic_write
from bcekit.io.model_files import (
    FORMAT_VERSION,
    load,
    model_paths,
    register_estimator,
    save,
)
from bcekit.io.reading import ModelFileError
from bcekit.io.training_state import load_training_state, save_training_state

__all__ = [
    "FORMAT_VERSION",
    "ModelFileError",
    "atomic_directory",
    "atomic_write",
    "load",
    "load_training_state",
    "model_paths",
    "register_estimator",
    "save",
    "save_training_state",
]
