"""Save and load the state of a training run (``Trainer.state()``) to resume it exactly.

A training state is a nested dict of JSON values and NumPy arrays: the model and best-model
weights, the optimiser's step count and moment buffers, the schedule, the History and the
early-stopping counters. It is stored in a folder as two files, never pickle:

``state.safetensors``
    Every array, named by its path in the dict (``model/0.weight``, ``optimizer/0.m``).
``state.json``
    Everything else, with each array replaced by ``{"$tensor": name}``, plus the format
    version, the name, dtype and shape of every array and the SHA-256 of the weights file.

Loading checks all of it, as :func:`bcekit.io.load` does for model files (regular files only,
bounded in size, see :mod:`bcekit.io.verified`): a file that is missing, corrupt, truncated,
edited, inconsistent or written by a newer format raises
:class:`~bcekit.io.ModelFileError` (or :class:`FileNotFoundError`) before anything is returned.
Arrays come back with the dtype and shape they were saved with, tuples as tuples, and every
float bit for bit.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from bcekit.io.codec import decode_value, encode_value, hashable
from bcekit.io.reading import ModelFileError
from bcekit.io.verified import FileFormat, read_verified, write_verified

__all__ = ["STATE_FILES", "load_training_state", "save_training_state", "state_paths"]

FORMAT_NAME = "bcekit-training-state"
FORMAT_VERSION = 1
STATE_FILES = ("state.safetensors", "state.json")
_REQUIRED_KEYS = ("format", "format_version", "state", "arrays", "sha256")
_FORMAT = FileFormat(
    FORMAT_NAME, FORMAT_VERSION, _REQUIRED_KEYS, "training-state", "resume from it", 1
)
_TENSOR = "$tensor"


def state_paths(directory: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The ``(weights, metadata)`` paths of the training state stored in ``directory``."""
    directory = Path(directory)
    return directory / STATE_FILES[0], directory / STATE_FILES[1]


def save_training_state(
    state: Mapping[str, Any], directory: str | os.PathLike[str]
) -> tuple[Path, Path]:
    """Write a training state to ``directory/state.safetensors`` and ``directory/state.json``.

    Both files are written atomically, the JSON (which holds the SHA-256 of the weights)
    last; a ``directory`` that does not exist yet is created, complete or not at all.

    Parameters
    ----------
    state : mapping
        A :meth:`bcekit.training.Trainer.state` (or any dict with string keys whose leaves
        are numeric or bool ndarrays, None, bool, int, float, str, lists, tuples and dicts).
    directory : str or os.PathLike
        The folder to write into; its parent must exist.

    Returns
    -------
    (weights_path, metadata_path) : tuple of pathlib.Path

    Raises
    ------
    TypeError
        ``state`` is not a mapping with string keys, or holds a value neither JSON nor a
        numeric array can store.
    """
    if not isinstance(state, Mapping) or not all(isinstance(k, str) for k in state):
        raise TypeError(
            f"state must be a dict with str keys, as Trainer.state() returns; got {state!r:.80}"
        )
    arrays: dict[str, np.ndarray] = {}
    body = _split(state, "", arrays)
    weights_path, meta_path = state_paths(directory)
    write_verified(weights_path, meta_path, arrays, {"state": body}, _FORMAT)
    return weights_path, meta_path


def load_training_state(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a training state written by :func:`save_training_state`.

    Parameters
    ----------
    directory : str or os.PathLike
        The folder given to :func:`save_training_state`.

    Returns
    -------
    dict
        The state as it was saved, ready for ``Trainer.fit(..., resume_from=state)``.

    Raises
    ------
    FileNotFoundError
        If either file is missing.
    ModelFileError
        If the files are corrupt, truncated, edited, inconsistent with each other, or were
        written by a newer format version.
    """
    weights_path, meta_path = state_paths(directory)
    document, arrays = read_verified(weights_path, meta_path, _FORMAT)
    used: set[str] = set()
    try:
        state = _join(document["state"], arrays, used)
    except (KeyError, ValueError, TypeError, ArithmeticError) as exc:
        raise ModelFileError(f"{meta_path}: inconsistent training state: {exc}") from exc
    if not isinstance(state, dict) or used != set(arrays):
        raise ModelFileError(
            f"{meta_path}: inconsistent training state: it must be a JSON object that uses "
            f"every array of {weights_path} once; unused: {sorted(set(arrays) - used)}"
        )
    return state


def _split(value: Any, path: str, arrays: dict[str, np.ndarray]) -> Any:
    """The JSON form of ``value``; its arrays move to ``arrays`` under names from ``path``."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise TypeError(
                f"array {path!r} must be numeric or bool to be saved; got {value.dtype}"
            )
        name, n = path or "array", 1
        while name in arrays:
            n += 1
            name = f"{path}#{n}"
        arrays[name] = np.require(value, requirements="C")  # keeps 0-d arrays 0-d
        return {_TENSOR: name}
    prefix = f"{path}/" if path else ""
    if isinstance(value, Mapping):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: _split(v, prefix + k, arrays) for k, v in value.items()}
        return {
            "$items": [
                [encode_value(k, "training state keys"), _split(v, f"{prefix}{k}", arrays)]
                for k, v in value.items()
            ]
        }
    if isinstance(value, list | tuple):
        items = [_split(v, f"{prefix}{i}", arrays) for i, v in enumerate(value)]
        return {"$tuple": items} if isinstance(value, tuple) else items
    return encode_value(value, f"training state {path!r}")


def _join(value: Any, arrays: Mapping[str, np.ndarray], used: set[str]) -> Any:
    """Invert :func:`_split`: rebuild the value, taking each ``{"$tensor": name}`` once."""
    if isinstance(value, list):
        return [_join(v, arrays, used) for v in value]
    if not isinstance(value, dict):
        return value
    if _TENSOR in value:
        name = value[_TENSOR]
        if not isinstance(name, str) or name not in arrays or name in used:
            raise ValueError(f"{{'$tensor': {name!r}}} names no unused array")
        used.add(name)
        return arrays[name]
    if "$tuple" in value:
        return tuple(_join(v, arrays, used) for v in value["$tuple"])
    if "$items" in value:
        return {hashable(decode_value(k)): _join(v, arrays, used) for k, v in value["$items"]}
    if "$float" in value or "$array" in value:
        return decode_value(value)
    return {k: _join(v, arrays, used) for k, v in value.items()}
