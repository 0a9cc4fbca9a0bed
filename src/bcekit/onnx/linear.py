"""Logits of a fitted :class:`bcekit.LogisticRegression`: :math:`z = x W^\\top + b`.

As ``decision_function`` computes them: the product in the input's dtype (the weights cast
to it), the intercept added in the wider of that dtype and the model's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

from bcekit.onnx.graph import Graph


def logistic_logits(g: Graph, model: Any, x: str, dtype: np.dtype) -> tuple[str, np.dtype]:
    """Nodes from the input ``x`` (``(N, n_features)`` of ``dtype``) to the logits ``(N, K)``.

    Returns
    -------
    (name, dtype)
        The logits and their dtype.
    """
    check_is_fitted(model, "coef_")
    weights = g.constant(np.asarray(model.coef_).T, "coef", dtype)
    z = g.op("MatMul", [x, weights])
    intercept = np.asarray(model.intercept_)
    wide = np.result_type(dtype, intercept.dtype)
    z = g.cast(z, wide, dtype)
    return g.op("Add", [z, g.constant(intercept, "intercept", wide)], hint="logits"), wide
