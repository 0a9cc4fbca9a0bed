"""The preprocessing of ``bcekit train`` (:class:`~bcekit.data.tables.TablePreprocessor`) as
graph inputs and nodes, so that an exported run takes the table's own columns.

Inputs: ``X``, float64 of shape ``(N, n)``, the numeric feature columns in the order of
``columns`` (``preprocess.json``), and one string tensor ``(N, 1)`` per one-hot encoded
column, named after the column. The nodes then do what
:meth:`~bcekit.data.tables.TablePreprocessor.transform` does:

- with ``impute``, a NaN in column :math:`j` becomes its fill value;
- a text column becomes one indicator per training category, ``value == category`` (a value
  not seen in training encodes as all zeros, as in bcekit);
- the features, in ``feature_names`` order, are standardised:
  :math:`x' = (x − μ) / σ`.

Booleans and integers go into ``X`` as numbers; without ``impute``, a NaN gives NaN
probabilities (bcekit refuses such rows).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx

from bcekit.onnx.graph import Graph, tensor_info

_F64 = np.dtype(np.float64)
#: ``Equal`` on strings arrived in opset 19.
STRING_EQUAL_OPSET = 19
NUMERIC_INPUT = "X"


def emit_preprocessing(
    g: Graph, pre: Any, reserved: tuple[str, ...]
) -> tuple[list[onnx.ValueInfoProto], str]:
    """Graph inputs and nodes for ``pre``; returns the inputs and the float64 features.

    Parameters
    ----------
    g : Graph
    pre : TablePreprocessor
    reserved : tuple of str
        Names the graph uses otherwise (its outputs), which no input may take.

    Raises
    ------
    ValueError
        A one-hot column named like another input or an output, or an opset below 19 for
        one-hot columns.
    """
    text = [c for c in pre.columns if c in pre.categories]
    numeric = [c for c in pre.columns if c not in pre.categories]
    clash = [c for c in text if c in (NUMERIC_INPUT, *reserved)]
    if clash:
        raise ValueError(
            f"one-hot columns {clash} would share a name with another input or output of the "
            "ONNX graph; rename the columns before training"
        )
    if text and g.opset < STRING_EQUAL_OPSET:
        raise ValueError(
            f"one-hot columns need opset >= {STRING_EQUAL_OPSET} (string Equal); "
            f"got opset={g.opset}"
        )
    inputs = []
    x = None
    if numeric:
        inputs.append(tensor_info(NUMERIC_INPUT, _F64, ["N", len(numeric)]))
        g.reserve(NUMERIC_INPUT)
        x = NUMERIC_INPUT
        if pre.impute is not None:
            fill = g.constant([pre.fill_values[c] for c in numeric], "fill_values", _F64)
            x = g.op("Where", [g.op("IsNaN", [x]), fill, x], hint="imputed")
    for name in text:
        inputs.append(tensor_info(name, np.str_, ["N", 1]))
        g.reserve(name)
    pieces, start, run = [], 0, 0
    for name in [*pre.columns, None]:  # None closes the last run of numeric columns
        if name is not None and name not in pre.categories:
            run += 1
            continue
        if run:
            pieces.append(_columns(g, x, start, start + run, len(numeric)))
            start, run = start + run, 0
        if name is not None:
            cats = g.constant(np.array(pre.categories[name], dtype=object), "categories")
            hits = g.op("Equal", [name, cats], hint="one_hot")
            pieces.append(g.op("Cast", [hits], to=onnx.TensorProto.DOUBLE))
    features = pieces[0] if len(pieces) == 1 else g.op("Concat", pieces, axis=1)
    centred = g.op("Sub", [features, g.constant(pre.mean, "mean", _F64)])
    return inputs, g.op("Div", [centred, g.constant(pre.scale, "scale", _F64)], hint="features")


def _columns(g: Graph, x: str, start: int, stop: int, width: int) -> str:
    """Columns ``start:stop`` of the ``(N, width)`` tensor ``x`` (``x`` itself if all)."""
    if start == 0 and stop == width:
        return x
    bounds = [g.constant([k], "bound", np.int64) for k in (start, stop)]
    return g.op("Slice", [x, *bounds, g.constant([1], "axis_1", np.int64)], hint="numeric")
