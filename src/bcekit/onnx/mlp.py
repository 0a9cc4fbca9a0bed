"""Logits of a fitted :class:`bcekit.MLPClassifier`: its network, layer by layer, in eval mode.

The input is cast once to the network's dtype, as :class:`bcekit.nn.Sequential` does; dropout
layers vanish (the identity at inference). See :mod:`bcekit.onnx.layers` for each layer.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

from bcekit.onnx.graph import Graph
from bcekit.onnx.layers import emit_layer


def mlp_logits(g: Graph, model: Any, x: str, dtype: np.dtype) -> tuple[str, np.dtype]:
    """Nodes from the input ``x`` (``(N, n_features)`` of ``dtype``) to the logits ``(N, K)``.

    Returns
    -------
    (name, dtype)
        The logits and their dtype (the network's).
    """
    check_is_fitted(model, "network_")
    network = model.network_
    net_dtype = np.dtype(network.dtype)
    return emit_layer(g, network, g.cast(x, net_dtype, dtype), net_dtype), net_dtype
