"""Save and load fitted estimators as safetensors weights plus JSON metadata, never pickle.

A model is a pair of files: ``<path>.safetensors`` with the numeric arrays and ``<path>.json``
with everything else; or, when ``path`` ends in ``/`` or names an existing directory,
``<path>/model.safetensors`` and ``<path>/model.json``.

The JSON document holds the format version, the bcekit version, the estimator's class name
and ``get_params()``, ``classes_``, ``n_features_in_``, ``feature_names_in_``, ``history_``,
the estimator's own extra metadata, the name/dtype/shape of every array, and the SHA-256 of
the weights file. Loading checks all of it before any array reaches an estimator: a file
that is corrupt, truncated, edited, inconsistent or written by a newer format raises
:class:`ModelFileError`. Only classes in the registry (see :func:`register_estimator`) can be
loaded; class names in the JSON are looked up there, never imported.

The estimator hooks
-------------------
A class that can be saved provides:

``_state_arrays(self) -> dict[str, numpy.ndarray]``
    The fitted numeric arrays (e.g. ``coef_`` and ``intercept_``, or a network's
    ``state_dict()``), any shapes, dtypes safetensors stores (floats, ints, bool). The
    names ``classes_`` and ``feature_names_in_`` are reserved: this module stores those.
``_state_meta(self) -> dict`` (optional)
    Other fitted attributes as plain values (str, int, float, bool, None, and lists,
    tuples and dicts of them), e.g. ``{"n_iter_": 12, "threshold_": 0.31}``.
``_from_state(cls, params, arrays, meta) -> estimator`` (classmethod)
    Rebuild the fitted estimator from ``params`` (the saved ``get_params()``), ``arrays``
    (exactly the names, shapes and dtypes saved) and ``meta``: a dict with ``classes_``,
    ``n_features_in_``, ``feature_names_in_`` and ``history_`` (each possibly None) and
    ``extra`` (what ``_state_meta`` returned). It must raise ``ValueError`` or ``KeyError``
    when the pieces do not fit together (e.g. a weight shape that disagrees with
    ``n_features_in_``); those become :class:`ModelFileError`.

After ``_from_state`` returns, this module sets ``classes_``, ``n_features_in_``,
``feature_names_in_`` and ``history_`` on the estimator (those that were saved).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bcekit.io.atomic import atomic_directory, atomic_write

__all__ = [
    "FORMAT_VERSION",
    "ModelFileError",
    "load",
    "model_paths",
    "register_estimator",
    "save",
]

FORMAT_NAME = "bcekit-model"
FORMAT_VERSION = 1
_DIR_STEM = "model"
_WEIGHTS_SUFFIX = ".safetensors"
_META_SUFFIX = ".json"
_RESERVED_ARRAYS = ("classes_", "feature_names_in_")
_REQUIRED_KEYS = (
    "format",
    "format_version",
    "class",
    "params",
    "arrays",
    "sha256",
    "classes",
    "n_features_in",
    "feature_names_in",
    "history",
    "extra",
)

# Estimator classes that may be loaded: class name -> defining module (imported on use).
_REGISTRY: dict[str, str] = {
    "LogisticRegression": "bcekit.estimators.logistic",
    "MLPClassifier": "bcekit.estimators.mlp",
    "SegmentationNet": "bcekit.estimators.segmentation",
    "AnomalyClassifier": "bcekit.estimators.anomaly",
}


class ModelFileError(ValueError):
    """A model (or training-state) file is corrupt, truncated, edited, inconsistent or from a
    newer format."""


def register_estimator(cls: type) -> type:
    """Allow :func:`load` to rebuild instances of ``cls`` (usable as a class decorator).

    ``cls`` must implement the hooks described in the module docstring; it is registered
    under its class name, which must not already name a different class.
    """
    for hook in ("_state_arrays", "_from_state"):
        if not callable(getattr(cls, hook, None)):
            raise TypeError(f"cls must define {hook}() to be saved and loaded; {cls!r} does not")
    name = cls.__name__
    module = _REGISTRY.get(name)
    if module is not None and module != cls.__module__:
        raise ValueError(f"an estimator named {name!r} is already registered from {module}")
    _REGISTRY[name] = cls.__module__
    return cls


def model_paths(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The ``(weights, metadata)`` file paths a model at ``path`` is stored in.

    A path ending in a separator, or naming an existing directory, means
    ``DIR/model.safetensors`` and ``DIR/model.json``; otherwise ``<path>.safetensors`` and
    ``<path>.json`` (a trailing ``.json`` or ``.safetensors`` on ``path`` is dropped first).
    """
    text = os.fspath(path)
    base = Path(text)
    if text.endswith(("/", os.sep)) or base.is_dir():
        base = base / _DIR_STEM
    else:
        for suffix in (_META_SUFFIX, _WEIGHTS_SUFFIX):
            if base.name.endswith(suffix) and len(base.name) > len(suffix):
                base = base.with_name(base.name[: -len(suffix)])
    return base.with_name(base.name + _WEIGHTS_SUFFIX), base.with_name(base.name + _META_SUFFIX)


def save(estimator: Any, path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write a fitted estimator to ``<path>.safetensors`` + ``<path>.json`` (or ``DIR/model.*``).

    Both files are written atomically; the JSON, which holds the SHA-256 of the weights,
    is written last.

    Parameters
    ----------
    estimator : estimator
        A fitted instance of a registered class.
    path : str or os.PathLike
        Where to write (see :func:`model_paths`). A directory path that does not exist yet
        is created.

    Returns
    -------
    (weights_path, metadata_path) : tuple of pathlib.Path
    """
    from sklearn.utils.validation import check_is_fitted

    name = type(estimator).__name__
    if _registered_class(name) is not type(estimator):
        raise TypeError(
            f"estimator must be an instance of a registered class {sorted(_REGISTRY)}; "
            f"got {type(estimator).__module__}.{name}"
        )
    check_is_fitted(estimator)
    arrays = {k: np.require(v, requirements="C") for k, v in estimator._state_arrays().items()}
    reserved = [k for k in _RESERVED_ARRAYS if k in arrays]
    if reserved:
        raise ValueError(f"_state_arrays() must not use the reserved names {reserved}")
    classes = getattr(estimator, "classes_", None)
    classes_doc = None
    if classes is not None:
        classes = np.asarray(classes)
        classes_doc = {"dtype": classes.dtype.str}
        if classes.dtype.kind in "biuf":
            arrays["classes_"] = np.ascontiguousarray(classes)
        else:
            classes_doc["values"] = _string_list(classes, "classes_")
    names = getattr(estimator, "feature_names_in_", None)
    for key, value in arrays.items():
        if value.dtype.kind not in "biuf":
            raise TypeError(f"array {key!r} must be numeric or bool to be saved; got {value.dtype}")
    n_features = getattr(estimator, "n_features_in_", None)
    history = getattr(estimator, "history_", None)
    state_meta = getattr(estimator, "_state_meta", None)
    body = {
        "class": name,
        "params": _encode(estimator.get_params(deep=False), "params"),
        "classes": classes_doc,
        "n_features_in": None if n_features is None else int(n_features),
        "feature_names_in": None if names is None else _string_list(names, "feature_names_in_"),
        "history": _encode(history, "history_"),
        "extra": _encode(state_meta() if callable(state_meta) else {}, "_state_meta()"),
    }
    weights_path, meta_path = model_paths(path)
    _write_verified(
        weights_path,
        meta_path,
        arrays,
        body,
        format_name=FORMAT_NAME,
        format_version=FORMAT_VERSION,
        indent=2,
    )
    return weights_path, meta_path


def _write_verified(
    weights_path: Path,
    meta_path: Path,
    arrays: dict[str, np.ndarray],
    body: dict[str, Any],
    *,
    format_name: str,
    format_version: int,
    indent: int,
) -> None:
    """Write ``arrays`` as safetensors and ``body`` as JSON, framed by the format name and
    version, the bcekit version, the array manifest and the SHA-256 of the weights.

    Both files are written atomically, the JSON last; a parent folder that does not exist
    yet is created, complete or not at all. :func:`_read_verified` reads them back.
    """
    from safetensors.numpy import save as st_save

    import bcekit

    payload = st_save(arrays)
    document = {
        "format": format_name,
        "format_version": format_version,
        "bcekit_version": bcekit.__version__,
        **body,
        "arrays": {k: {"dtype": v.dtype.str, "shape": list(v.shape)} for k, v in arrays.items()},
        "sha256": hashlib.sha256(payload).hexdigest(),
    }
    text = json.dumps(document, indent=indent, allow_nan=False) + "\n"
    directory = weights_path.parent
    if directory.exists():
        _write_pair(weights_path, meta_path, payload, text)
    else:
        with atomic_directory(directory) as tmp:
            _write_pair(tmp / weights_path.name, tmp / meta_path.name, payload, text)


def _write_pair(weights_path: Path, meta_path: Path, payload: bytes, text: str) -> None:
    with atomic_write(weights_path, "wb") as f:
        f.write(payload)
    with atomic_write(meta_path, "w") as f:
        f.write(text)


def load(path: str | os.PathLike[str]) -> Any:
    """Read a model written by :func:`save`.

    Parameters
    ----------
    path : str or os.PathLike
        The path given to :func:`save` (see :func:`model_paths`).

    Returns
    -------
    estimator
        The fitted estimator, of the class named in the file.

    Raises
    ------
    FileNotFoundError
        If either file is missing.
    ModelFileError
        If the files are corrupt, truncated, edited, inconsistent, name a class that is not
        registered, or were written by a newer format version.
    """
    weights_path, meta_path = model_paths(path)

    def check_class(document: dict[str, Any]) -> None:
        name = document["class"]
        if not isinstance(name, str) or name not in _REGISTRY:
            raise ModelFileError(
                f"{meta_path} names the class {name!r}, which is not a registered estimator "
                f"({sorted(_REGISTRY)})"
            )

    document, arrays = _read_verified(
        weights_path,
        meta_path,
        format_name=FORMAT_NAME,
        format_version=FORMAT_VERSION,
        required_keys=_REQUIRED_KEYS,
        kind="model",
        action="load it",
        check=check_class,
    )
    try:
        meta = {
            "classes_": _decode_classes(document["classes"], arrays),
            "n_features_in_": _optional_int(document["n_features_in"], "n_features_in"),
            "feature_names_in_": _decode_names(document["feature_names_in"]),
            "history_": _decode(document["history"]),
            "extra": _decode(document["extra"]),
        }
        params = _decode(document["params"])
        if not isinstance(params, dict) or not isinstance(meta["extra"], dict):
            raise ValueError("'params' and 'extra' must be JSON objects")
        state = {k: v for k, v in arrays.items() if k not in _RESERVED_ARRAYS}
        cls = _registered_class(document["class"])
        estimator = cls._from_state(params, state, meta)
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        if isinstance(exc, ModelFileError):
            raise
        raise ModelFileError(f"{meta_path}: inconsistent model state: {exc}") from exc
    for attr in ("classes_", "n_features_in_", "feature_names_in_", "history_"):
        if meta[attr] is not None:
            setattr(estimator, attr, meta[attr])
    return estimator


def _registered_class(name: str) -> type | None:
    module_name = _REGISTRY.get(name)
    if module_name is None:
        return None
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        return None
    return getattr(module, name, None)


def _read_document(meta_path: Path) -> dict[str, Any]:
    raw = meta_path.read_bytes()
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{meta_path} is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise ModelFileError(f"{meta_path} must hold a JSON object; got {type(document).__name__}")
    return document


def _read_verified(
    weights_path: Path,
    meta_path: Path,
    *,
    format_name: str,
    format_version: int,
    required_keys: tuple[str, ...],
    kind: str,
    action: str,
    check: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read and verify a pair written by :func:`_write_verified`: ``(document, arrays)``.

    Checks, in order: the JSON is an object of format ``format_name`` at a version this
    bcekit reads (else "upgrade bcekit to ``action``"), it has ``required_keys``, it passes
    ``check`` (called before the weights are read), the weights match its SHA-256, are
    readable safetensors, and hold exactly the arrays its manifest lists. ``kind`` names the
    file in messages ("model", "training-state"). Raises :class:`ModelFileError`, or
    :class:`FileNotFoundError` when a file is missing.
    """
    from safetensors.numpy import load as st_load

    import bcekit

    document = _read_document(meta_path)
    version = document.get("format_version")
    if document.get("format") != format_name or not isinstance(version, int):
        raise ModelFileError(f"{meta_path} is not a bcekit {kind} file")
    if version > format_version:
        raise ModelFileError(
            f"{meta_path} was written in {kind} format version {version} by bcekit "
            f"{document.get('bcekit_version', '?')}; this bcekit {bcekit.__version__} reads "
            f"{kind} format versions up to {format_version}: upgrade bcekit to {action}"
        )
    missing = [k for k in required_keys if k not in document]
    if missing:
        raise ModelFileError(f"{meta_path} lacks the keys {missing}")
    if check is not None:
        check(document)
    payload = weights_path.read_bytes()
    if hashlib.sha256(payload).hexdigest() != document["sha256"]:
        raise ModelFileError(
            f"{weights_path} does not match the SHA-256 recorded in {meta_path}: the arrays "
            "are corrupt or truncated, or one of the two files was changed after saving"
        )
    try:
        arrays = st_load(payload)
    except Exception as exc:
        raise ModelFileError(f"{weights_path} is not a readable safetensors file: {exc}") from exc
    _check_manifest(arrays, document["arrays"], weights_path)
    return document, arrays


def _check_manifest(arrays: dict[str, np.ndarray], manifest: Any, weights_path: Path) -> None:
    """The weights file must hold exactly the arrays, dtypes and shapes the JSON lists."""
    if not isinstance(manifest, dict):
        raise ModelFileError(f"'arrays' in the metadata of {weights_path} must be a JSON object")
    if set(arrays) != set(manifest):
        raise ModelFileError(
            f"{weights_path} holds arrays {sorted(arrays)} but the metadata lists "
            f"{sorted(manifest)}"
        )
    for key, spec in manifest.items():
        array = arrays[key]
        if (
            not isinstance(spec, dict)
            or spec.get("dtype") != array.dtype.str
            or spec.get("shape") != list(array.shape)
        ):
            raise ModelFileError(
                f"array {key!r} in {weights_path} has dtype {array.dtype.str} and shape "
                f"{list(array.shape)}; the metadata says {spec}"
            )


def _string_list(values: Any, what: str) -> list[str]:
    items = np.asarray(values).tolist()
    if not all(isinstance(v, str) for v in items):
        raise TypeError(f"{what} must hold numbers or strings to be saved; got {values!r}")
    return items


def _decode_classes(doc: Any, arrays: dict[str, np.ndarray]) -> np.ndarray | None:
    if doc is None:
        return None
    dtype = np.dtype(doc["dtype"])
    if dtype.kind in "biuf":
        classes = arrays["classes_"]
        if classes.dtype != dtype or classes.ndim != 1:
            raise ValueError(f"classes_ must be a 1-D {dtype} array; got {classes.dtype}")
        return classes
    values = doc["values"]
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ValueError("'classes' values must be a list of strings")
    if dtype.kind not in "OU":
        raise ValueError(f"string classes need a str or object dtype; got {dtype}")
    return np.array(values, dtype=dtype)


def _decode_names(names: Any) -> np.ndarray | None:
    if names is None:
        return None
    if not isinstance(names, list) or not all(isinstance(v, str) for v in names):
        raise ValueError("'feature_names_in' must be a list of strings")
    return np.array(names, dtype=object)


def _optional_int(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{what!r} must be a positive integer; got {value!r}")
    return value


# JSON encoding of parameter values: plain JSON where it is exact, tagged objects where it is
# not (tuples, non-finite floats, dicts with non-string keys, numpy arrays).
_SCALARS = (str, bool, int, type(None))


def _encode(value: Any, what: str) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, tuple):
        return {"$tuple": [_encode(v, what) for v in value]}
    if isinstance(value, list):
        return [_encode(v, what) for v in value]
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return {"$array": _encode(value.tolist(), what), "dtype": value.dtype.str}
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: _encode(v, what) for k, v in value.items()}
        return {"$items": [[_encode(k, what), _encode(v, what)] for k, v in value.items()]}
    raise TypeError(
        f"{what} holds a {type(value).__name__} ({value!r}), which a model file cannot store; "
        "use None, bool, int, float, str, or lists, tuples and dicts of them (e.g. an int "
        "random_state)"
    )


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "$float" in value:
        text = value["$float"]
        if text not in ("inf", "-inf", "nan"):
            raise ValueError(f"bad $float value {text!r}")
        return float(text)
    if "$tuple" in value:
        return tuple(_decode(v) for v in value["$tuple"])
    if "$array" in value:
        return np.asarray(_decode(value["$array"]), dtype=np.dtype(value["dtype"]))
    if "$items" in value:
        return {_hashable(_decode(k)): _decode(v) for k, v in value["$items"]}
    return {k: _decode(v) for k, v in value.items()}


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key
