"""Weights of the loss: class and sample weights per element, ``pos_weight``, row shaping.

:func:`resolve_weights` multiplies ``sample_weight`` by each target's class weight (scikit-learn
semantics, one weighting per label for multi-label targets); :func:`resolve_pos_weight` gives
BCE's positive-class weight; :func:`row_weights` and :func:`loss_weights` shape the weights the
way the loss of each target kind takes them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.validation import _check_sample_weight

from bcekit.estimators._targets import BINARY, MULTICLASS, MULTILABEL, Targets

__all__ = [
    "loss_weights",
    "refuse_balanced",
    "resolve_pos_weight",
    "resolve_weights",
    "row_weights",
    "weight_total",
]


def resolve_weights(
    sample_weight: Any,
    X: Any,
    targets: Targets,
    class_weight: Any,
    *,
    require_two_classes: bool = True,
) -> np.ndarray:
    """Per-element loss weights: ``sample_weight`` times the class weight of each target.

    Parameters
    ----------
    sample_weight : array-like of shape (n_samples,) or None
        Non-negative weight of each row (None: all ones).
    X : array-like
        The training data (for the length and dtype).
    targets : Targets
        Encoded targets.
    class_weight : dict, list of dict, "balanced" or None
        scikit-learn semantics: ``{label: weight}`` or ``"balanced"``
        (``n_samples / (n_classes · count)``, counted with ``sample_weight``). For multi-label
        targets, a list with one ``{0: w0, 1: w1}`` dict per label, or ``"balanced"`` for
        each label separately.
    require_two_classes : bool, default=True
        Raise unless at least 2 classes keep a positive total weight (False for the
        batches of ``partial_fit``, which may hold one class).

    Returns
    -------
    ndarray of shape (n_samples, 1) or (n_samples, n_labels)
        Broadcasts against the loss targets (``(n_samples, n_labels)`` only when a multi-label
        ``class_weight`` is given).

    Raises
    ------
    ValueError
        On negative weights, or when fewer than 2 classes keep a positive total weight
        (with ``require_two_classes``).
    """
    dtype = X.dtype
    sw = _check_sample_weight(sample_weight, X, dtype=dtype, ensure_non_negative=True)
    if targets.kind == MULTILABEL:
        weights = sw.reshape(-1, 1)
        if class_weight is not None:
            weights = weights * _multilabel_class_weights(class_weight, targets.encoded, sw)
        return weights.astype(dtype, copy=False)
    ids = targets.encoded.ravel().astype(np.intp)
    if class_weight is not None:
        if isinstance(class_weight, list):
            raise ValueError(
                "class_weight as a list of dicts is for multi-label y; got a list for "
                f"{targets.kind} y: use a dict {{label: weight}} or 'balanced'"
            )
        per_class = compute_class_weight(
            class_weight, classes=targets.classes, y=targets.classes[ids], sample_weight=sw
        )
        sw = sw * per_class[ids].astype(dtype)
    if not require_two_classes:
        return sw.reshape(-1, 1)
    totals = np.bincount(ids, weights=sw, minlength=len(targets.classes))
    kept = targets.classes[totals > 0]
    if len(kept) < 2:
        raise ValueError(
            "sample_weight and class_weight leave fewer than 2 classes with a positive total "
            f"weight (classes kept: {kept.tolist()}); a classifier needs at least 2"
        )
    return sw.reshape(-1, 1)


def _multilabel_class_weights(class_weight: Any, Y: np.ndarray, sw: np.ndarray) -> np.ndarray:
    """Element weights ``(n, n_labels)`` from one class weighting per label column."""
    n_labels = Y.shape[1]
    if isinstance(class_weight, dict):
        raise ValueError(
            "class_weight for multi-label y must be 'balanced' or a list of one "
            f"{{0: w0, 1: w1}} dict per label ({n_labels}); got a dict"
        )
    if isinstance(class_weight, list) and len(class_weight) != n_labels:
        raise ValueError(
            f"class_weight must have one dict per label ({n_labels}); got {len(class_weight)}"
        )
    out = np.empty_like(Y)
    binary = np.array([0, 1])
    for j in range(n_labels):
        cw = class_weight if isinstance(class_weight, str) else class_weight[j]
        col = Y[:, j].astype(np.intp)
        present = np.unique(col)
        per_class = np.ones(2)
        per_class[present] = compute_class_weight(
            cw, classes=binary[present], y=col, sample_weight=sw
        )
        out[:, j] = per_class[col]
    return out


def resolve_pos_weight(
    pos_weight: Any, targets: Targets, weights: np.ndarray | None
) -> float | np.ndarray | None:
    """The positive-class weight of the BCE loss.

    ``"balanced"`` gives ``n_neg / n_pos`` per label (counted with ``weights``, rows of
    ``targets.encoded``; None counts each row once), so both classes carry the same total
    weight; a number applies to every label, an array gives one value per label.
    """
    if pos_weight is None:
        return None
    if targets.kind == MULTICLASS:
        raise ValueError(
            "pos_weight applies to binary and multi-label targets; y has "
            f"{len(targets.classes)} classes: use class_weight instead"
        )
    Y = targets.encoded
    n_outputs = Y.shape[1]
    if isinstance(pos_weight, str):
        w = np.ones(1) if weights is None else np.broadcast_to(weights, Y.shape)
        n_pos = np.sum(w * Y, axis=0, dtype=np.float64)
        n_neg = np.sum(w * (1 - Y), axis=0, dtype=np.float64)
        if np.any(n_pos == 0):
            raise ValueError("pos_weight='balanced' needs positive samples in every label of y")
        pw = n_neg / n_pos
        return float(pw[0]) if targets.kind == BINARY else pw
    pw = np.asarray(pos_weight, dtype=np.float64)
    if pw.ndim == 0:
        return float(pw)
    if pw.shape != (n_outputs,) or not np.all(np.isfinite(pw) & (pw > 0)):
        raise ValueError(
            f"pos_weight must be a positive number, 'balanced' or {n_outputs} positive "
            f"values (one per label); got an array of shape {pw.shape}"
        )
    return pw


def refuse_balanced(estimator: Any) -> None:
    """Raise ValueError if ``class_weight`` or ``pos_weight`` is "balanced" (``partial_fit``).

    Balancing counts the whole data set, which one ``partial_fit`` batch is not.
    """
    for name in ("class_weight", "pos_weight"):
        if isinstance(getattr(estimator, name, None), str):
            raise ValueError(
                f"{name}='balanced' needs the whole data set, which partial_fit does not "
                f"see: pass {name} computed beforehand"
            )


def row_weights(weights: np.ndarray, targets: Targets) -> np.ndarray:
    """``weights`` from :func:`resolve_weights` shaped to broadcast against the encoded targets.

    Class ids (multiclass) take one weight per row, ``(n,)``; binary and multi-label targets
    keep ``(n, 1)`` or ``(n, n_labels)``.
    """
    return weights.ravel() if targets.kind == MULTICLASS else weights


def loss_weights(weights: np.ndarray, targets: Targets) -> np.ndarray | None:
    """:func:`row_weights`, or None when every weight is 1.

    The loss then skips the multiplications (same result).
    """
    if np.all(weights == 1):
        return None
    return row_weights(weights, targets)


def weight_total(weights: np.ndarray) -> float:
    """``S = Σ_i s_i``, the total weight of the rows; element weights count by their row mean."""
    return float(weights.sum(axis=0, dtype=np.float64).mean())
