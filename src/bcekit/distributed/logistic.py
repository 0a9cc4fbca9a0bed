"""Logistic regression's data term over row blocks held by Dask workers.

``LogisticRegression`` minimises ``½‖w‖² + C·Σᵢ sᵢ·ℓ(xᵢ·w + b, yᵢ)`` with L-BFGS on the
client. The sum over rows is the only part that touches the data, so on dask input it becomes
one distributed pass per L-BFGS evaluation:

1. the row blocks of ``X``, ``y`` and ``sample_weight`` are persisted on the workers once;
2. each call broadcasts the parameters, every block computes its partial
   ``(Σ sℓ, ∂/∂w, ∂/∂b)`` with the fused in-memory kernel, and the partials are added in a
   tree on the workers, so only one small vector comes back to the client.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bcekit.distributed._compat import require_dask


_SPLIT_EVERY = 8


def as_row_blocks(X: Any, *columns: Any) -> tuple[Any, ...]:
    """Return ``X`` as a dask array chunked by rows only, and each column aligned with it.

    ``X`` may be a dask array or a dask DataFrame (its partitions become row blocks; their
    lengths are computed once). ``columns`` (``y``, ``sample_weight``) may be dask or NumPy
    arrays, or None.
    """
    da = require_dask()
    if hasattr(X, "to_dask_array"):
        X = X.to_dask_array(lengths=True)
    X = da.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D for dask input; got shape {X.shape}")
    X = X.rechunk({1: -1})
    aligned = []
    for column in columns:
        if column is None:
            aligned.append(None)
            continue
        if hasattr(column, "to_dask_array"):
            column = column.to_dask_array(lengths=True)
        column = da.asarray(column)
        if column.shape[0] != X.shape[0]:
            raise ValueError(
                f"y and sample_weight need X's {X.shape[0]} rows for dask input; "
                f"got {column.shape[0]}"
            )
        aligned.append(column.rechunk({0: X.chunks[0]}))
    return (X, *aligned)


def _add(*partials: tuple) -> tuple:
    return tuple(sum(parts) for parts in zip(*partials, strict=True))


def _tree_sum(delayed_parts: list) -> Any:
    """Add delayed ``(value, grad_w, grad_b)`` tuples pairwise-by-groups, on the workers."""
    from dask import delayed

    while len(delayed_parts) > 1:
        delayed_parts = [
            delayed(_add)(*delayed_parts[i : i + _SPLIT_EVERY])
            for i in range(0, len(delayed_parts), _SPLIT_EVERY)
        ]
    return delayed_parts[0]


class DistributedLogisticObjective:
    """``(coef, intercept) -> (Σ sℓ, ∂/∂coef, ∂/∂intercept)`` over persisted dask row blocks.

    Parameters
    ----------
    X : dask array or dask DataFrame, shape (n_samples, n_features)
    y : array-like of 0/1, shape (n_samples,)
    sample_weight : array-like, shape (n_samples,), optional
    pos_weight, label_smoothing, fit_intercept
        As in :func:`bcekit.losses.linear.logistic_objective`.

    Notes
    -----
    The data are persisted at construction; with a ``dask.distributed.Client`` active, the
    parameters are broadcast to every worker once per call (``Client.scatter``). A worker lost
    mid-fit costs a recomputation of its blocks from their sources; the sums stay exact.
    """

    def __init__(
        self,
        X: Any,
        y: Any,
        sample_weight: Any = None,
        *,
        pos_weight: float = 1.0,
        label_smoothing: float = 0.0,
        fit_intercept: bool = True,
    ) -> None:
        import dask

        X, y, sample_weight = as_row_blocks(X, y, sample_weight)
        # Holding the persisted collections keeps their blocks alive on the workers.
        self._persisted = dask.persist(X, y, sample_weight)
        X, y, sample_weight = self._persisted
        self.shape = X.shape
        self.dtype = X.dtype
        self._blocks = list(
            zip(
                X.to_delayed().ravel(),
                y.to_delayed().ravel(),
                [None] * X.numblocks[0]
                if sample_weight is None
                else sample_weight.to_delayed().ravel(),
                strict=True,
            )
        )
        self._options = {
            "pos_weight": pos_weight,
            "label_smoothing": label_smoothing,
            "fit_intercept": fit_intercept,
        }
        self.n_calls = 0

    def __call__(self, coef: np.ndarray, intercept: float) -> tuple[float, np.ndarray, float]:
        from dask import delayed

        params = _broadcast((np.asarray(coef, dtype=self.dtype), float(intercept)))
        partials = [
            delayed(_block_objective)(Xb, yb, sb, params, self._options)
            for Xb, yb, sb in self._blocks
        ]
        value, grad_coef, grad_intercept = _tree_sum(partials).compute()
        self.n_calls += 1
        return float(value), np.asarray(grad_coef), float(grad_intercept)


def _block_objective(X, y, sample_weight, params, options) -> tuple:
    from bcekit.losses.linear import logistic_objective

    coef, intercept = params
    return logistic_objective(X, y, coef, intercept, sample_weight=sample_weight, **options)


def _broadcast(params: tuple) -> Any:
    """Ship the parameters to every worker once per evaluation when a Client is active."""
    try:
        from distributed import get_client

        client = get_client()
    except (ImportError, ValueError):
        return params
    (future,) = client.scatter([params], broadcast=True, hash=False)
    return future
