"""The same losses and gradients over Dask collections (optional extra ``bcekit[dask]``).

BCE's value and gradient are sums over rows, so they map onto chunked arrays: each row block
computes its partial sums with the in-memory kernels and Dask adds the partials in a tree.

- :func:`binary_cross_entropy_with_logits` and :func:`value_and_grad`: lazy losses over dask
  arrays (nothing is computed until ``.compute()``).
- :class:`DistributedLogisticObjective`: the data term of logistic regression over persisted
  row blocks, one distributed pass per call; ``LogisticRegression.fit`` drives it with L-BFGS
  on the client when given dask input.
- :class:`DataParallelGradient`: a network's minibatch gradient, each row block computing its
  share on the workers; ``MLPClassifier.fit`` steps its optimiser on the client with it.
- :func:`read_parquet_table` and :func:`connect`: what ``bcekit train`` uses on a Parquet
  directory: Dask reading and preprocessing, and a Client (a given scheduler, or a
  LocalCluster on loopback).

Dask is imported only when these names are used: importing this package (or
:mod:`bcekit.distributed._compat`) does not import it.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "DataParallelGradient": "bcekit.distributed.data_parallel",
    "DistributedLogisticObjective": "bcekit.distributed.logistic",
    "as_row_blocks": "bcekit.distributed.logistic",
    "binary_cross_entropy_with_logits": "bcekit.distributed.losses",
    "connect": "bcekit.distributed.cluster",
    "is_dask_collection": "bcekit.distributed._compat",
    "read_parquet_table": "bcekit.distributed.tables",
    "require_dask": "bcekit.distributed._compat",
    "value_and_grad": "bcekit.distributed.losses",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'bcekit.distributed' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
