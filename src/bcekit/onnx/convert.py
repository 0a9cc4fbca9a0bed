"""``to_onnx``: a fitted bcekit estimator as a standalone ONNX model."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx

from bcekit.estimators._targets import MULTILABEL
from bcekit.estimators.segmentation import SegmentationNet
from bcekit.onnx.classifiers import (
    check_tabular,
    compute_dtype,
    emit_classifier,
    output_spec,
    target_kind,
)
from bcekit.onnx.graph import Graph, check_opset, tensor_info
from bcekit.onnx.preprocess import emit_preprocessing
from bcekit.onnx.segmentation import emit_segmentation

LABEL = "label"
PROBABILITIES = "probabilities"
TABLE_INPUT = "X"
IMAGE_INPUT = "images"


def to_onnx(
    model: Any, X_sample: Any = None, *, opset: int | None = None, preprocessor: Any = None
) -> onnx.ModelProto:
    """Export a fitted bcekit estimator to ONNX.

    The graph computes what the estimator's ``predict`` and ``predict_proba`` compute, with
    two outputs named like skl2onnx's classifiers: ``label`` and ``probabilities``.

    - ``LogisticRegression``, ``MLPClassifier``: input ``X`` of shape ``(N, n_features_in_)``;
      ``label`` ``(N,)`` and ``probabilities`` ``(N, K)`` (``K = 2`` for binary targets);
      multi-label models give both as ``(N, L)``, ``label`` 0/1.
    - ``AnomalyClassifier``: as a binary model, with its calibration and tuned threshold.
    - ``SegmentationNet``: input ``images``, NHWC ``(N, H, W, C)``; ``label`` (uint8 0/1) and
      ``probabilities`` per pixel, ``(N, H, W)``.

    ``label`` holds the class labels (int64 or strings; see
    :func:`bcekit.onnx.heads.class_labels`); ``probabilities`` has the input's dtype.

    Parameters
    ----------
    model : LogisticRegression, MLPClassifier, AnomalyClassifier or SegmentationNet
        Fitted (or loaded with :func:`bcekit.io.load`).
    X_sample : array-like, optional
        A few input rows (images): only their dtype and width are used. float32 gives a
        float32 input, anything else a float64 one (images: float64 gives float64, anything
        else float32). Default: the dtype the model computes in.
    opset : int, optional
        ``ai.onnx`` opset, from :data:`bcekit.onnx.MIN_OPSET` (default
        :data:`bcekit.onnx.DEFAULT_OPSET`).
    preprocessor : bcekit.data.tables.TablePreprocessor, optional
        The preprocessing of a ``bcekit train`` run (``preprocess.json``), put in front of a
        binary model trained on its 0/1 codes: the inputs are then the table's columns (see
        :mod:`bcekit.onnx.preprocess`) and ``label`` holds the target's own values.

    Returns
    -------
    onnx.ModelProto

    Raises
    ------
    ValueError
        Not a bcekit estimator, not fitted, an ``X_sample`` of the wrong shape, an opset
        out of range, or a preprocessor the model does not fit.

    Examples
    --------
    >>> import onnxruntime as ort  # doctest: +SKIP
    >>> session = ort.InferenceSession(to_onnx(clf, X[:1]).SerializeToString())  # doctest: +SKIP
    >>> label, proba = session.run(["label", "probabilities"], {"X": X})  # doctest: +SKIP
    """
    g = Graph(check_opset(opset))
    g.reserve(LABEL, PROBABILITIES)
    if isinstance(model, SegmentationNet):
        if preprocessor is not None:
            raise ValueError("preprocessor applies to tabular models, not to a SegmentationNet")
        return _segmentation_model(g, model, X_sample)
    check_tabular(model)
    classes = None
    if preprocessor is None:
        dtype = _table_dtype(X_sample, model)
        inputs = [tensor_info(TABLE_INPUT, dtype, ["N", model.n_features_in_])]
        g.reserve(TABLE_INPUT)
        x = TABLE_INPUT
    else:
        if X_sample is not None:
            raise ValueError(
                "pass X_sample or preprocessor, not both: the preprocessor sets the inputs"
            )
        classes = _preprocessor_classes(model, preprocessor)
        inputs, x = emit_preprocessing(g, preprocessor, reserved=(LABEL, PROBABILITIES))
        dtype = np.dtype(np.float64)
    emit_classifier(g, model, x, dtype, label=LABEL, probabilities=PROBABILITIES, classes=classes)
    label_dtype, label_shape, proba_shape = output_spec(model, classes)
    outputs = [
        tensor_info(LABEL, label_dtype, label_shape),
        tensor_info(PROBABILITIES, dtype, proba_shape),
    ]
    return g.model(inputs, outputs, name=type(model).__name__, doc=_doc(model, inputs))


def _table_dtype(X_sample: Any, model: Any) -> np.dtype:
    if X_sample is None:
        return compute_dtype(model)
    sample = np.asarray(X_sample)
    n = model.n_features_in_
    if sample.ndim != 2 or sample.shape[1] != n:
        raise ValueError(f"X_sample must have shape (n_rows, {n}); got {sample.shape}")
    return np.dtype(np.float32 if sample.dtype == np.float32 else np.float64)


def _preprocessor_classes(model: Any, pre: Any) -> np.ndarray:
    """The target values of a run, checked against a binary model trained on 0/1 codes."""
    n = len(pre.feature_names)
    if target_kind(model) != "binary" or not np.array_equal(model.classes_, [0, 1]):
        raise ValueError(
            "preprocessor needs a binary model trained on its 0/1 target codes (as "
            f"'bcekit train' trains); the model's classes are {np.asarray(model.classes_).tolist()}"
        )
    if model.n_features_in_ != n:
        raise ValueError(
            f"preprocessor makes {n} features but the model takes {model.n_features_in_}"
        )
    return np.asarray(pre.classes)


def _segmentation_model(g: Graph, model: SegmentationNet, X_sample: Any) -> onnx.ModelProto:
    dtype = np.dtype(np.float32)
    if X_sample is not None:
        sample = np.asarray(X_sample)
        channels = sample.shape[3] if sample.ndim == 4 else 1
        if sample.ndim not in (3, 4) or channels != model.n_channels_in_:
            raise ValueError(
                f"X_sample must be images (n, H, W, {model.n_channels_in_}); got {sample.shape}"
            )
        if sample.dtype == np.float64:
            dtype = sample.dtype
    g.reserve(IMAGE_INPUT)
    emit_segmentation(g, model, IMAGE_INPUT, dtype, label=LABEL, probabilities=PROBABILITIES)
    inputs = [tensor_info(IMAGE_INPUT, dtype, ["N", "H", "W", model.n_channels_in_])]
    outputs = [
        tensor_info(LABEL, np.uint8, ["N", "H", "W"]),
        tensor_info(PROBABILITIES, dtype, ["N", "H", "W"]),
    ]
    return g.model(inputs, outputs, name="SegmentationNet", doc=_doc(model, inputs))


def _doc(model: Any, inputs: list[onnx.ValueInfoProto]) -> str:
    names = ", ".join(i.name for i in inputs)
    kind = "per-pixel" if isinstance(model, SegmentationNet) else target_kind(model)
    extra = " (0/1 per label)" if kind == MULTILABEL else ""
    return (
        f"bcekit {type(model).__name__} ({kind}); inputs: {names}; outputs: label{extra}, "
        "probabilities (as predict and predict_proba)"
    )
