"""Building an ONNX graph node by node: unique names, constants, operators, the final model.

Every converter in :mod:`bcekit.onnx` writes through a :class:`Graph`: ``g.op("Relu", [x])``
adds a node and returns the name of its output, ``g.constant(array)`` adds an initializer.
:class:`Graph` collects them into a standalone model; the skl2onnx bridge subclasses it to
write into skl2onnx's container instead, so one converter serves both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import bcekit

#: Opset of :func:`bcekit.onnx.to_onnx` unless told otherwise: onnx >= 1.15 and
#: onnxruntime >= 1.17 both know it.
DEFAULT_OPSET = 20
#: Oldest opset the converters write (axes as inputs of Squeeze and ReduceSum, Softmax on
#: one axis, Resize without a region of interest).
MIN_OPSET = 13

_ELEMENT_TYPES = {
    np.dtype(np.float32): TensorProto.FLOAT,
    np.dtype(np.float64): TensorProto.DOUBLE,
    np.dtype(np.int64): TensorProto.INT64,
    np.dtype(np.uint8): TensorProto.UINT8,
    np.dtype(np.bool_): TensorProto.BOOL,
}


def element_type(dtype: Any) -> int:
    """The ONNX element type of a NumPy dtype (strings are ``STRING``)."""
    dt = np.dtype(dtype)
    if dt.kind in "UO":
        return TensorProto.STRING
    if dt not in _ELEMENT_TYPES:
        raise ValueError(f"dtype {dt} has no ONNX element type in bcekit.onnx")
    return _ELEMENT_TYPES[dt]


def check_opset(opset: Any) -> int:
    """``opset`` (None: :data:`DEFAULT_OPSET`) checked against what the converters write.

    Raises
    ------
    ValueError
        Not an integer between :data:`MIN_OPSET` and the newest opset onnx knows.
    """
    if opset is None:
        return DEFAULT_OPSET
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, int | np.integer):
        raise ValueError(f"opset must be an integer or None; got {opset!r}")
    if not MIN_OPSET <= opset <= newest:
        raise ValueError(f"opset must lie in [{MIN_OPSET}, {newest}]; got {opset}")
    return int(opset)


def tensor_info(name: str, dtype: Any, shape: Sequence[int | str | None]) -> onnx.ValueInfoProto:
    """A graph input or output: ``shape`` entries are sizes, symbolic names or None."""
    return helper.make_tensor_value_info(name, element_type(dtype), list(shape))


def _tensor(name: str, value: np.ndarray) -> TensorProto:
    if value.dtype.kind in "UO":
        data = [str(v).encode("utf-8") for v in value.ravel()]
        return helper.make_tensor(name, TensorProto.STRING, value.shape, data)
    return numpy_helper.from_array(value, name)


class Graph:
    """The nodes and initializers of one graph under construction.

    Parameters
    ----------
    opset : int
        The ``ai.onnx`` opset the nodes are written for (see :func:`check_opset`).
    """

    def __init__(self, opset: int) -> None:
        self.opset = int(opset)
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[TensorProto] = []
        self._taken: set[str] = set()

    def name(self, hint: str) -> str:
        """A name not used yet in this graph: ``hint``, else ``hint_1``, ``hint_2``, ..."""
        name, k = hint, 0
        while name in self._taken:
            k += 1
            name = f"{hint}_{k}"
        self._taken.add(name)
        return name

    def reserve(self, *names: str) -> None:
        """Mark names given from outside (graph inputs and outputs) as used."""
        self._taken.update(names)

    def constant(self, value: Any, hint: str = "const", dtype: Any = None) -> str:
        """Add ``value`` (array-like, cast to ``dtype`` if given) as an initializer."""
        array = np.asarray(value, dtype=dtype)
        name = self.name(hint)
        self._add_initializer(_tensor(name, array))
        return name

    def op(
        self,
        op_type: str,
        inputs: Sequence[str],
        *,
        hint: str | None = None,
        output: str | None = None,
        **attrs: Any,
    ) -> str:
        """Add one node with one output; returns the output's name.

        ``output`` names it (a graph output); otherwise a unique name from ``hint`` (default
        the lower-cased operator) is made. ``""`` in ``inputs`` leaves an optional input out.
        """
        out = output if output is not None else self.name(hint or op_type.lower())
        self._add_node(op_type, list(inputs), [out], attrs)
        return out

    def cast(self, x: str, dtype: Any, current: Any) -> str:
        """``x`` as ``dtype``: a Cast node, or ``x`` itself when it has that dtype already."""
        if np.dtype(dtype) == np.dtype(current):
            return x
        return self.op("Cast", [x], to=element_type(dtype))

    # The two hooks a subclass redirects (the skl2onnx bridge writes into its container).

    def _add_node(
        self, op_type: str, inputs: list[str], outputs: list[str], attrs: dict[str, Any]
    ) -> None:
        node_name = self.name(f"{op_type}_node")
        self.nodes.append(helper.make_node(op_type, inputs, outputs, name=node_name, **attrs))

    def _add_initializer(self, tensor: TensorProto) -> None:
        self.initializers.append(tensor)

    def model(
        self,
        inputs: Sequence[onnx.ValueInfoProto],
        outputs: Sequence[onnx.ValueInfoProto],
        *,
        name: str,
        doc: str = "",
    ) -> onnx.ModelProto:
        """The finished model, with the lowest IR version that carries this opset."""
        graph = helper.make_graph(
            self.nodes, name, list(inputs), list(outputs), self.initializers, doc_string=doc
        )
        opsets = [helper.make_opsetid("", self.opset)]
        model = helper.make_model(
            graph,
            opset_imports=opsets,
            producer_name="bcekit",
            producer_version=bcekit.__version__,
            ir_version=helper.find_min_ir_version_for(opsets),
        )
        return model
