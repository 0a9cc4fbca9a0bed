"""The same losses and gradients over Dask collections (optional extra ``bcekit[dask]``).

BCE's value and gradient are sums over rows, so they map onto chunked arrays: each chunk
computes its partial sums with the in-memory kernels and Dask adds the partials in a tree.

- :func:`binary_cross_entropy_with_logits` and :func:`value_and_grad`: lazy losses over dask
  arrays (nothing is computed until ``.compute()``).
- :class:`DistributedLogisticObjective`: the data term of logistic regression over persisted
  row blocks, evaluated in one distributed pass per call; ``LogisticRegression.fit`` drives it
  with L-BFGS on the client when given dask input.
"""

from bcekit.distributed._compat import is_dask_collection, require_dask
from bcekit.distributed.logistic import DistributedLogisticObjective, as_row_blocks
from bcekit.distributed.losses import binary_cross_entropy_with_logits, value_and_grad

__all__ = [
    "DistributedLogisticObjective",
    "as_row_blocks",
    "binary_cross_entropy_with_logits",
    "is_dask_collection",
    "require_dask",
    "value_and_grad",
]
