"""Classifier outputs from logits: the ``label`` and ``probabilities`` tensors.

The same formulas as :mod:`bcekit.estimators._heads`, on logits ``z`` of
shape ``(N, K)``:

- binary (``K = 1``): probabilities ``[σ(−z), σ(z)]`` of shape ``(N, 2)``; label
  ``classes[1]`` where ``z > t`` (``t = 0``; the anomaly model's threshold on its log-odds).
- multiclass: ``softmax(z)`` along the classes; label ``classes[argmax z]`` (the first
  maximum on ties, as NumPy).
- multi-label: ``σ(z)`` per label; label the 0/1 matrix ``z > 0`` as int64.

Class labels are written as int64 (integers, booleans, and floats that hold integers) or as
strings, like skl2onnx's classifiers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bcekit.estimators._targets import BINARY, MULTICLASS, MULTILABEL
from bcekit.onnx.graph import Graph, element_type


def class_labels(classes: Any) -> np.ndarray:
    """``classes`` as the int64 or string array the ``label`` output holds.

    Raises
    ------
    ValueError
        Labels that are neither integers (or integral floats) nor strings.
    """
    c = np.asarray(classes)
    if c.dtype.kind in "biu":
        return c.astype(np.int64)
    if c.dtype.kind == "f" and np.all(np.isfinite(c)) and np.array_equal(c, np.round(c)):
        return c.astype(np.int64)
    if c.dtype.kind in "UO" and all(isinstance(v, str) for v in c.tolist()):
        return c.astype(object)
    raise ValueError(
        f"classes must be integers or strings to be exported as ONNX labels; got {c.tolist()!r}"
    )


def finish(g: Graph, x: str, output: str, dtype: Any, current: Any) -> None:
    """Write ``x`` to the graph output ``output`` as ``dtype`` (a Cast or an Identity)."""
    if np.dtype(dtype) == np.dtype(current):
        g.op("Identity", [x], output=output)
    else:
        g.op("Cast", [x], output=output, to=element_type(dtype))


def emit_head(
    g: Graph,
    z: str,
    kind: str,
    classes: Any,
    *,
    dtype: Any,
    out_dtype: Any,
    label: str,
    probabilities: str,
    threshold: float = 0.0,
) -> None:
    """Nodes from the logits ``z`` (``(N, K)`` of ``dtype``) to the two outputs.

    Parameters
    ----------
    g : Graph
    z : str
        Logits, or for the binary kind any score compared with ``threshold``.
    kind : {"binary", "multiclass", "multilabel-indicator"}
    classes : array-like
        Class labels (see :func:`class_labels`); unused for multi-label.
    dtype, out_dtype : numpy dtypes
        The dtype of ``z`` and that of the ``probabilities`` output.
    label, probabilities : str
        Names of the outputs.
    threshold : float
        Binary decision threshold on ``z``.
    """
    if kind == MULTILABEL:
        positive = g.op("Greater", [z, g.constant(0, "zero", dtype)])
        g.op("Cast", [positive], output=label, to=element_type(np.int64))
        finish(g, g.op("Sigmoid", [z]), probabilities, out_dtype, dtype)
        return
    labels = g.constant(class_labels(classes), "classes")
    if kind == MULTICLASS:
        index = g.op("ArgMax", [z], axis=1, keepdims=0)
        g.op("Gather", [labels, index], output=label, axis=0)
        finish(g, g.op("Softmax", [z], axis=1), probabilities, out_dtype, dtype)
        return
    if kind != BINARY:
        raise ValueError(f"kind must be {BINARY!r}, {MULTICLASS!r} or {MULTILABEL!r}; got {kind!r}")
    above = g.op("Greater", [z, g.constant(threshold, "threshold", dtype)])
    index = g.op("Cast", [above], to=element_type(np.int64))
    index = g.op("Squeeze", [index, g.constant([1], "axis_1", np.int64)])
    g.op("Gather", [labels, index], output=label, axis=0)
    negative = g.op("Sigmoid", [g.op("Neg", [z])])
    both = g.op("Concat", [negative, g.op("Sigmoid", [z])], axis=1)
    finish(g, both, probabilities, out_dtype, dtype)
