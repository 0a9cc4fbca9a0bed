"""The one pass over dask training data that every distributed fit starts with.

:func:`prepare` persists the row blocks on the workers, and one pass over them returns, per
block, the class labels present with their summed sample weights, and whether ``X`` and
``sample_weight`` are finite (and the weights non-negative). From those totals the client
derives exactly what the in-memory path computes from the whole arrays: the classes,
``class_weight`` (scikit-learn's ``compute_class_weight``, given one row per class weighted by
that class's total), ``pos_weight="balanced"`` and the total weight ``S``. Labels and weights
are then encoded block by block, lazily.

What the workers run on each block lives in :mod:`bcekit.distributed._blocks`, which
imports NumPy only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets

from bcekit.distributed._blocks import block_summary, encode_block, weight_block
from bcekit.distributed._graph import per_block
from bcekit.estimators._base import BINARY, MULTICLASS, Targets, resolve_pos_weight

__all__ = ["DaskData", "feature_names", "prepare"]


def feature_names(X: Any) -> list[str] | None:
    """A dask DataFrame's column names when they are all strings, else None."""
    columns = getattr(X, "columns", None)
    if columns is None or not all(isinstance(c, str) for c in columns):
        return None
    return list(columns)


def _merge_summaries(parts: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """All classes (sorted) and the summed sample weight of each."""
    classes = np.unique(np.concatenate([p["labels"] for p in parts]))
    totals = np.zeros(len(classes))
    for p in parts:
        np.add.at(totals, np.searchsorted(classes, p["labels"]), p["totals"])
    return classes, totals


@dataclass
class DaskData:
    """Training data on the workers, encoded as the estimators' losses take it.

    Attributes
    ----------
    X : dask array, persisted
    targets : Targets
        ``encoded`` is a lazy dask array: float ``(n, 1)`` for binary, int64 ``(n,)`` class
        ids for multiclass targets.
    weights : dask array or None
        Loss weights (``sample_weight`` times class weights): ``(n, 1)`` binary, ``(n,)``
        multiclass; None when all are one.
    pos_weight : float or None
    total_weight : float
        ``S = Σ weights``.
    labels : dask array, persisted
        The class labels as given, ``(n,)``, chunked like ``X``.
    """

    X: Any
    targets: Targets
    weights: Any
    pos_weight: float | None
    total_weight: float
    labels: Any


def prepare(
    model: Any,
    X: Any,
    y: Any,
    sample_weight: Any,
    *,
    kinds: tuple[str, ...],
    supported: str,
) -> DaskData:
    """Persist the blocks, run the one summary pass and encode targets and weights.

    Sets ``n_features_in_`` (and ``feature_names_in_`` for a DataFrame with string column
    names) on ``model``. ``kinds`` are the target kinds allowed; ``supported`` names them in
    the error for another kind.

    Raises
    ------
    ValueError
        No rows, not 1-D class labels, a kind of target outside ``kinds``, non-finite ``X``,
        negative or non-finite weights, fewer than 2 classes (with positive weight).
    TypeError
        ``X`` does not hold numbers.
    """
    import dask

    from bcekit.distributed import as_row_blocks

    names = feature_names(X)
    X, y, sample_weight = as_row_blocks(X, y, sample_weight)
    if y.ndim != 1:
        raise ValueError(
            f"y must be 1-D class labels for dask input ({supported}); got shape {y.shape}"
        )
    if X.shape[0] == 0:
        raise ValueError(f"X must have at least one row; got shape {X.shape}")
    if sample_weight is not None and sample_weight.ndim != 1:
        raise ValueError(
            f"sample_weight must be 1-D for dask input; got shape {sample_weight.shape}"
        )
    if X.dtype.kind in "biu":
        X = X.astype(np.float64)
    elif X.dtype.kind != "f":
        raise TypeError(f"X must hold numbers for dask input; got dtype {X.dtype}")
    X, y, sample_weight = dask.persist(X, y, sample_weight)
    parts = per_block(block_summary, [X, y, sample_weight])
    if not all(p["X_finite"] for p in parts):
        raise ValueError("X must be finite for dask input; it contains NaN or infinity")
    if not all(p["weights_ok"] for p in parts):
        raise ValueError("sample_weight must be finite and >= 0 for dask input")
    classes, totals = _merge_summaries(list(parts))
    check_classification_targets(classes)
    kind = _target_kind(classes, kinds, supported)
    per_class = _class_weights(model.class_weight, classes, totals)
    weighted = totals * per_class
    if np.count_nonzero(weighted > 0) < 2:
        raise ValueError(
            "sample_weight and class_weight leave fewer than 2 classes with a positive total "
            f"weight (classes kept: {classes[weighted > 0].tolist()}); a classifier needs at "
            "least 2"
        )
    encoded = y.map_blocks(
        encode_block,
        classes,
        kind == BINARY,
        X.dtype,
        dtype=X.dtype if kind == BINARY else np.int64,
        chunks=(y.chunks[0], (1,)) if kind == BINARY else y.chunks,
        new_axis=1 if kind == BINARY else None,
    )
    weights = None
    if sample_weight is not None or model.class_weight is not None:
        weights = y.map_blocks(
            weight_block, sample_weight, classes, per_class, X.dtype, dtype=X.dtype
        )
        if kind == BINARY:
            weights = weights[:, None]
    targets = Targets(kind, classes, encoded)
    model.n_features_in_ = X.shape[1]
    if names is not None:
        model.feature_names_in_ = np.asarray(names, dtype=object)
    elif hasattr(model, "feature_names_in_"):
        del model.feature_names_in_
    pos_weight = _pos_weight(model, targets, weighted)
    return DaskData(X, targets, weights, pos_weight, float(weighted.sum()), y)


def _target_kind(classes: np.ndarray, kinds: tuple[str, ...], supported: str) -> str:
    if len(classes) < 2:
        raise ValueError(
            "y must contain at least 2 classes to train a classifier; "
            f"got only one class: {classes[0]!r}"
        )
    kind = BINARY if len(classes) == 2 else MULTICLASS
    if kind not in kinds:
        raise ValueError(
            f"dask input supports {supported}; y has {len(classes)} classes: fit in memory for them"
        )
    return kind


def _class_weights(class_weight: Any, classes: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """``compute_class_weight`` from per-class totals: one row per class, weighted by them."""
    if class_weight is None:
        return np.ones(len(classes))
    if isinstance(class_weight, list):
        raise ValueError(
            "class_weight as a list of dicts is for multi-label y, which dask input does not "
            "support; use a dict {label: weight} or 'balanced'"
        )
    return compute_class_weight(class_weight, classes=classes, y=classes, sample_weight=totals)


def _pos_weight(model: Any, targets: Targets, weighted: np.ndarray) -> float | None:
    """``resolve_pos_weight`` on one row per class carrying that class's total weight."""
    if targets.kind == BINARY:
        stand_in = Targets(BINARY, targets.classes, np.array([[0.0], [1.0]]))
        return resolve_pos_weight(model.pos_weight, stand_in, weighted.reshape(-1, 1))
    return resolve_pos_weight(model.pos_weight, Targets(MULTICLASS, targets.classes, None), None)
