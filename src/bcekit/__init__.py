"""bcekit: binary cross-entropy done right.

Stable BCE losses with their gradients, layers with explicit backpropagation,
optimisers, a training loop, and scikit-learn estimators built on them.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Public names and the module that defines each; imported on first use so that
# `import bcekit` (and `bcekit --help`) stays fast.
_LAZY = {
    "LogisticRegression": "bcekit.estimators",
    "MLPClassifier": "bcekit.estimators",
    "SegmentationNet": "bcekit.estimators",
    "AnomalyClassifier": "bcekit.estimators",
}
_SUBMODULES = {
    "losses",
    "nn",
    "optim",
    "training",
    "estimators",
    "io",
    "data",
    "datasets",
    "plots",
    "distributed",
    "onnx",
}

__all__ = ["__version__", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"bcekit.{name}")
    raise AttributeError(f"module 'bcekit' has no attribute {name!r}")
