"""Save and load fitted estimators as safetensors weights plus JSON metadata, never pickle.

A model is a pair of files: ``<path>.safetensors`` with the numeric arrays and ``<path>.json``
with everything else; or, when ``path`` ends in ``/`` or names an existing directory,
``<path>/model.safetensors`` and ``<path>/model.json``.

The JSON document holds the format version, the bcekit version, the estimator's class name
and ``get_params()``, ``classes_``, ``n_features_in_``, ``feature_names_in_``, ``history_``,
the estimator's own extra metadata, the name/dtype/shape of every array, and the SHA-256 of
the weights file. Loading checks all of it before any array reaches an estimator, so that
a model file from a stranger can be opened safely (:mod:`bcekit.io.reading`,
:mod:`bcekit.io.verified`): both files must be regular files, the JSON at most 64 MiB, nested
at most 64 levels, with integers of at most 40 digits; the weights are read only within the
size the manifest gives and must match its SHA-256; ``$array`` values and the manifest take
plain numeric dtypes only; float weights must be finite; ``classes_`` must be distinct and
sorted. A file that is corrupt, truncated, edited, inconsistent, too large or written by a
newer format raises :class:`ModelFileError`. Only classes in the registry (see
:func:`register_estimator`) can be loaded; class names in the JSON are looked up there, never
imported. Each estimator's ``_from_state`` checks the sizes its parameters declare against
the arrays before it builds anything from them.

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

import importlib
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from bcekit.io.codec import decode_value, encode_value, plain_dtype
from bcekit.io.reading import ModelFileError
from bcekit.io.verified import FileFormat, read_verified, write_verified

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
_FORMAT = FileFormat(FORMAT_NAME, FORMAT_VERSION, _REQUIRED_KEYS, "model", "load it", 2)

# What rebuilding an estimator from a file that does not fit together raises.
_STATE_ERRORS = (KeyError, ValueError, TypeError, IndexError, AttributeError, ArithmeticError)
# A str dtype ("<U7": its width in characters) or the object dtype, for string classes.
_STRING_DTYPE = re.compile(r"[<>=|]?U(\d{1,9})|\|O")
# Most bytes string classes may take beyond what their longest value needs.
_WIDE_CLASSES = 2**20

# Estimator classes that may be loaded: class name -> defining module (imported on use).
_REGISTRY: dict[str, str] = {
    "LogisticRegression": "bcekit.estimators.logistic",
    "MLPClassifier": "bcekit.estimators.mlp",
    "SegmentationNet": "bcekit.estimators.segmentation",
    "AnomalyClassifier": "bcekit.estimators.anomaly",
}


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
        "params": encode_value(estimator.get_params(deep=False), "params"),
        "classes": classes_doc,
        "n_features_in": None if n_features is None else int(n_features),
        "feature_names_in": None if names is None else _string_list(names, "feature_names_in_"),
        "history": encode_value(history, "history_"),
        "extra": encode_value(state_meta() if callable(state_meta) else {}, "_state_meta()"),
    }
    weights_path, meta_path = model_paths(path)
    write_verified(weights_path, meta_path, arrays, body, _FORMAT)
    return weights_path, meta_path


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

    document, arrays = read_verified(weights_path, meta_path, _FORMAT, check=check_class)
    _check_finite(arrays, weights_path)
    try:
        meta = {
            "classes_": _decode_classes(document["classes"], arrays),
            "n_features_in_": _optional_int(document["n_features_in"], "n_features_in"),
            "feature_names_in_": _decode_names(document["feature_names_in"]),
            "history_": decode_value(document["history"]),
            "extra": decode_value(document["extra"]),
        }
        params = decode_value(document["params"])
        if not isinstance(params, dict) or not isinstance(meta["extra"], dict):
            raise ValueError("'params' and 'extra' must be JSON objects")
        state = {k: v for k, v in arrays.items() if k not in _RESERVED_ARRAYS}
        cls = _registered_class(document["class"])
        estimator = cls._from_state(params, state, meta)
    except ModelFileError:
        raise
    except _STATE_ERRORS as exc:
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


def _string_list(values: Any, what: str) -> list[str]:
    items = np.asarray(values).tolist()
    if not all(isinstance(v, str) for v in items):
        raise TypeError(f"{what} must hold numbers or strings to be saved; got {values!r}")
    return items


def _decode_classes(doc: Any, arrays: dict[str, np.ndarray]) -> np.ndarray | None:
    """``classes_`` from its JSON description: numbers are stored in the weights file, strings
    in the JSON (with a str dtype no wider than needed, or an object dtype)."""
    if doc is None:
        return None
    if not isinstance(doc, dict):
        raise ValueError("'classes' must be a JSON object or null")
    text = doc.get("dtype")
    if "values" not in doc:
        classes = arrays["classes_"]
        if classes.dtype != plain_dtype(text, "the dtype of classes_") or classes.ndim != 1:
            raise ValueError(f"classes_ must be a 1-D {text} array; got {classes.dtype}")
    else:
        values = doc["values"]
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ValueError("'classes' values must be a list of strings")
        match = _STRING_DTYPE.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            raise ValueError(f"string classes need a str or object dtype; got {text!r:.60}")
        longest = max(map(len, values), default=0)
        width = longest if match.group(1) is None else int(match.group(1))
        if width < longest or (width > longest and 4 * width * len(values) > _WIDE_CLASSES):
            raise ValueError(f"classes dtype {text} does not fit values of {longest} characters")
        classes = np.array(values, dtype=text)
    if len(classes) == 0 or (len(classes) > 1 and not np.all(classes[1:] > classes[:-1])):
        raise ValueError(
            f"classes_ must be distinct and sorted, as numpy.unique gives them; got "
            f"{classes.tolist()!r:.80}"
        )
    return classes


def _check_finite(arrays: dict[str, np.ndarray], weights_path: Path) -> None:
    """Refuse float weights holding NaN or ±inf: they would predict NaN without a word."""
    bad = [k for k, a in arrays.items() if a.dtype.kind == "f" and not np.isfinite(a).all()]
    if bad:
        raise ModelFileError(
            f"{weights_path}: the weights are not finite: {bad!r:.80} hold NaN or infinite values"
        )


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
