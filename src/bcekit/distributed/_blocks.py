"""What the workers run on the row blocks of dask training data before a fit.

The functions of the one summary pass (:func:`block_summary`: the labels present with their
summed weights, and the finiteness checks) and of the lazy encoding of the targets and
weights. They are sent to the workers by reference, so the module imports NumPy only: a
fresh worker does not import scikit-learn or the estimators to run them.

The per-block pass avoids sorting and temporaries where it can: integer-valued labels in a
small range are counted with one ``bincount``, and ``X`` is finite when its sum is (each
element is checked only when the sum is not).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["all_finite", "block_summary", "encode_block", "labels_and_totals", "weight_block"]

#: Integer labels spanning at most this many values are counted with ``bincount``.
COUNTED_SPAN = 1 << 16


def labels_and_totals(y: np.ndarray, w: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The labels present in ``y`` (sorted) and the summed weight of each.

    Integer-valued numbers within :data:`COUNTED_SPAN` of each other are counted in one
    ``bincount`` (no sort); other labels go through ``np.unique``.
    """
    if y.dtype.kind in "iuf" and y.size:
        low, high = y.min(), y.max()
        whole = y.dtype.kind != "f" or (
            math.isfinite(low) and math.isfinite(high) and bool(np.all(y == np.floor(y)))
        )
        if whole and int(high) - int(low) < COUNTED_SPAN:
            ids = (y - low).astype(np.intp).ravel()
            counts = np.bincount(ids)
            present = np.flatnonzero(counts)
            totals = counts if w is None else np.bincount(ids, weights=w.ravel())
            return (present + low).astype(y.dtype), totals[present].astype(np.float64)
    labels, ids = np.unique(y, return_inverse=True)
    totals = np.bincount(ids.ravel(), weights=w, minlength=len(labels)).astype(np.float64)
    return labels, totals


def all_finite(a: np.ndarray) -> bool:
    """Whether every element is finite: the sum is, or else each element is checked."""
    if a.dtype.kind != "f":
        return True
    with np.errstate(over="ignore", invalid="ignore"):
        total = float(np.sum(a))
    return math.isfinite(total) or bool(np.isfinite(a).all())


def block_summary(X: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> dict[str, Any]:
    """Labels present with their summed weights, and the finiteness checks, of one block."""
    labels, totals = labels_and_totals(y, w)
    weights_ok = w is None or w.size == 0 or bool(all_finite(w) and w.min() >= 0)
    return {
        "labels": labels,
        "totals": totals,
        "X_finite": all_finite(X),
        "weights_ok": weights_ok,
    }


def encode_block(y: np.ndarray, classes: np.ndarray, column: bool, dtype: Any) -> np.ndarray:
    """Class ids of a block's labels: a ``dtype`` column ``(n, 1)`` when ``column`` (binary
    targets), else int64 ``(n,)``."""
    ids = np.searchsorted(classes, y)
    return ids.astype(dtype).reshape(-1, 1) if column else ids.astype(np.int64)


def weight_block(
    y: np.ndarray, w: np.ndarray | None, classes: np.ndarray, per_class: np.ndarray, dtype: Any
) -> np.ndarray:
    """A block's loss weights: its class's weight, times ``w`` when given, in ``dtype``."""
    weights = per_class[np.searchsorted(classes, y)]
    if w is not None:
        weights = weights * w
    return weights.astype(dtype)
