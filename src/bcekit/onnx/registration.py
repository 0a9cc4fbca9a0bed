"""skl2onnx converters for the tabular classifiers, so pipelines that hold them export.

:func:`register_skl2onnx` gives ``LogisticRegression``, ``MLPClassifier`` and
``AnomalyClassifier`` a shape calculator, a converter and a parser through
``skl2onnx.update_registered_converter``. The converter writes the same nodes as
:func:`bcekit.onnx.to_onnx` (through :class:`ContainerGraph`, a :class:`~bcekit.onnx.graph.Graph`
that writes into skl2onnx's container). Like skl2onnx's own classifiers, the outputs go
through ``ZipMap`` unless ``options={"zipmap": False}`` is passed; multi-label models (whose
labels are 0/1 matrices) and float64 inputs (``ZipMap`` takes float32 only) always give the
two tensors ``label`` and ``probabilities``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from onnx import TensorProto

from bcekit.estimators._targets import MULTILABEL
from bcekit.onnx.classifiers import TABULAR, emit_classifier, output_spec, target_kind
from bcekit.onnx.graph import MIN_OPSET, Graph

#: skl2onnx aliases, one per class: "Bcekit" + the class name.
ALIAS_PREFIX = "Bcekit"


class ContainerGraph(Graph):
    """A :class:`Graph` that adds its nodes and initializers to a skl2onnx container.

    Names come from the skl2onnx scope, so they never clash with the rest of the pipeline.
    """

    def __init__(self, scope: Any, container: Any) -> None:
        opset = container.target_opset
        if opset is not None and opset < MIN_OPSET:
            raise ValueError(f"bcekit converters need target_opset >= {MIN_OPSET}; got {opset}")
        super().__init__(opset or MIN_OPSET)
        self.scope, self.container = scope, container

    def name(self, hint: str) -> str:
        return self.scope.get_unique_variable_name(hint)

    def reserve(self, *names: str) -> None:
        """Nothing to do: the scope already knows every name it gave out."""

    def _add_node(
        self, op_type: str, inputs: list[str], outputs: list[str], attrs: dict[str, Any]
    ) -> None:
        node_name = self.scope.get_unique_operator_name(op_type)
        self.container.add_node(op_type, inputs, outputs, name=node_name, **attrs)

    def _add_initializer(self, tensor: TensorProto) -> None:
        dims = list(tensor.dims)
        if tensor.data_type == TensorProto.STRING:
            values = list(tensor.string_data)
            self.container.add_initializer(tensor.name, TensorProto.STRING, dims, values)
        else:
            self.container.add_initializer(tensor.name, tensor.data_type, dims, tensor)


def _input_dtype(variable: Any) -> np.dtype:
    from skl2onnx.common.data_types import FloatTensorType

    return np.dtype(np.float32 if isinstance(variable.type, FloatTensorType) else np.float64)


def _shapes(operator: Any) -> None:
    """skl2onnx shape calculator: the types and shapes of ``label`` and ``probabilities``."""
    from skl2onnx.common.data_types import (
        DoubleTensorType,
        FloatTensorType,
        Int64TensorType,
        StringTensorType,
    )
    from skl2onnx.common.utils import check_input_and_output_numbers

    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=2)
    model = operator.raw_operator
    n = operator.inputs[0].get_first_dimension()
    label_dtype, label_shape, proba_shape = output_spec(model)
    label_type = StringTensorType if label_dtype.kind == "O" else Int64TensorType
    float32 = _input_dtype(operator.inputs[0]) == np.float32
    proba_type = FloatTensorType if float32 else DoubleTensorType
    operator.outputs[0].type = label_type([n, *label_shape[1:]])
    operator.outputs[1].type = proba_type([n, *proba_shape[1:]])


def _convert(scope: Any, operator: Any, container: Any) -> None:
    """skl2onnx converter: the nodes of :func:`bcekit.onnx.classifiers.emit_classifier`."""
    g = ContainerGraph(scope, container)
    source = operator.inputs[0]
    dtype = _input_dtype(source)
    x = source.full_name
    if type(source.type).__name__ not in ("FloatTensorType", "DoubleTensorType"):
        x = g.op("Cast", [x], to=TensorProto.DOUBLE)
    label, probabilities = (v.full_name for v in operator.outputs)
    emit_classifier(g, operator.raw_operator, x, dtype, label=label, probabilities=probabilities)


def _parse(scope: Any, model: Any, inputs: Any, custom_parsers: Any = None) -> Any:
    """skl2onnx parser: a classifier's (ZipMap by option), or the two tensors for multi-label
    models and float64 inputs (``ZipMap`` takes float32 only)."""
    from skl2onnx._parse import _parse_sklearn_classifier, _parse_sklearn_simple_model

    if target_kind(model) == MULTILABEL or _input_dtype(inputs[0]) == np.float64:
        return _parse_sklearn_simple_model(scope, model, inputs, custom_parsers=custom_parsers)
    return _parse_sklearn_classifier(scope, model, inputs, custom_parsers=custom_parsers)


def register_skl2onnx(*, missing_ok: bool = False) -> bool:
    """Register the bcekit tabular classifiers with skl2onnx.

    Parameters
    ----------
    missing_ok : bool, default=False
        Return False instead of raising when skl2onnx is not installed.

    Returns
    -------
    bool
        Whether the converters are registered.

    Raises
    ------
    ImportError
        skl2onnx is not installed (and ``missing_ok`` is False).
    """
    try:
        from skl2onnx import update_registered_converter
    except ImportError as exc:
        if missing_ok:
            return False
        raise ImportError(
            "registering with skl2onnx needs skl2onnx; install the extra: "
            "pip install 'bcekit[onnx]'"
        ) from exc
    for cls in TABULAR:
        update_registered_converter(
            cls,
            ALIAS_PREFIX + cls.__name__,
            _shapes,
            _convert,
            parser=_parse,
            options={"zipmap": [True, False, "columns"], "nocl": [False]},
        )
    return True
