"""Model files and safe file writing.

:func:`save` / :func:`load` store a fitted estimator as safetensors weights plus JSON
metadata (never pickle); :func:`atomic_write` and :func:`atomic_directory` create files and
folders that appear complete or not at all.
"""

from bcekit.io.atomic import atomic_directory, atomic_write
from bcekit.io.model_files import (
    FORMAT_VERSION,
    ModelFileError,
    load,
    model_paths,
    register_estimator,
    save,
)

__all__ = [
    "FORMAT_VERSION",
    "ModelFileError",
    "atomic_directory",
    "atomic_write",
    "load",
    "model_paths",
    "register_estimator",
    "save",
]
