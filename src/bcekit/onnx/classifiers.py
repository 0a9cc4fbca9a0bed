"""The tabular classifiers, one entry point: nodes from features to ``label`` and
``probabilities``, and the types and shapes of those outputs.

Shared by :func:`bcekit.onnx.to_onnx` and the skl2onnx converters. ``probabilities`` take
the dtype of the input, whatever the model computes in (skl2onnx's convention).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

from bcekit.estimators._targets import MULTILABEL
from bcekit.estimators.anomaly import AnomalyClassifier
from bcekit.estimators.logistic import LogisticRegression
from bcekit.estimators.mlp import MLPClassifier
from bcekit.onnx.anomaly import anomaly_log_odds
from bcekit.onnx.graph import Graph
from bcekit.onnx.heads import class_labels, emit_head
from bcekit.onnx.linear import logistic_logits
from bcekit.onnx.mlp import mlp_logits

#: The classifiers :func:`emit_classifier` converts.
TABULAR = (LogisticRegression, MLPClassifier, AnomalyClassifier)


def check_tabular(model: Any) -> None:
    """Raise ``ValueError`` unless ``model`` is one of :data:`TABULAR`."""
    if not isinstance(model, TABULAR):
        names = ", ".join(cls.__name__ for cls in TABULAR)
        raise ValueError(
            f"model must be a fitted bcekit {names} or SegmentationNet; got {type(model).__name__}"
        )


def compute_dtype(model: Any) -> np.dtype:
    """The float dtype a fitted tabular classifier computes in (its weights' dtype)."""
    check_tabular(model)
    check_is_fitted(model)
    if isinstance(model, AnomalyClassifier):
        return compute_dtype(model.base_estimator_)
    if isinstance(model, MLPClassifier):
        return np.dtype(model.network_.dtype)
    return np.asarray(model.coef_).dtype


def target_kind(model: Any) -> str:
    """``"binary"``, ``"multiclass"`` or ``"multilabel-indicator"``."""
    return "binary" if isinstance(model, AnomalyClassifier) else model.target_type_


def output_spec(model: Any, classes: Any = None) -> tuple[np.dtype, list[Any], list[Any]]:
    """``(label dtype, label shape, probabilities shape)``; ``"N"`` stands for the rows.

    The label dtype is int64 or object (strings); see :func:`bcekit.onnx.heads.class_labels`.
    """
    kind = target_kind(model)
    classes = model.classes_ if classes is None else classes
    width = 2 if kind == "binary" else len(classes)
    if kind == MULTILABEL:
        return np.dtype(np.int64), ["N", width], ["N", width]
    return class_labels(classes).dtype, ["N"], ["N", width]


def emit_classifier(
    g: Graph,
    model: Any,
    x: str,
    dtype: np.dtype,
    *,
    label: str,
    probabilities: str,
    classes: Any = None,
) -> None:
    """Nodes from the features ``x`` (``(N, n_features_in_)`` of ``dtype``) to both outputs.

    Parameters
    ----------
    g : Graph
    model : LogisticRegression, MLPClassifier or AnomalyClassifier
        Fitted.
    x : str
        The input's name.
    dtype : numpy dtype
        float32 or float64: the input's dtype, and that of ``probabilities``.
    label, probabilities : str
        Names of the outputs.
    classes : array-like, optional
        Labels to write instead of ``model.classes_`` (same length).
    """
    check_tabular(model)
    anomaly = isinstance(model, AnomalyClassifier)
    if anomaly:
        check_is_fitted(model, "threshold_log_odds_")
    base = model.base_estimator_ if anomaly else model
    logits = mlp_logits if isinstance(base, MLPClassifier) else logistic_logits
    z, z_dtype = logits(g, base, x, dtype)
    threshold = 0.0
    if anomaly:  # the base model's logit, calibrated, against the tuned threshold
        z, z_dtype = anomaly_log_odds(g, model, z, z_dtype), np.dtype(np.float64)
        threshold = float(model.threshold_log_odds_)
    emit_head(
        g,
        z,
        target_kind(model),
        model.classes_ if classes is None else classes,
        dtype=z_dtype,
        out_dtype=dtype,
        label=label,
        probabilities=probabilities,
        threshold=threshold,
    )
