"""Logistic regression's data term over row blocks held by Dask workers.

``LogisticRegression`` minimises ``½‖w‖² + C·Σᵢ sᵢ·ℓ(xᵢ·w + b, yᵢ)`` with L-BFGS on the
client. The sum over rows is the only part that touches the data, so on dask input it becomes
one distributed pass per L-BFGS evaluation:

1. the row blocks of ``X``, ``y`` and ``sample_weight`` are persisted on the workers once;
2. each call sends the parameters to the workers (one message to each), every block
   computes its partial ``(Σ sℓ, ∂/∂w, ∂/∂b)`` with the fused in-memory kernel, each worker
   adds those of its blocks, and the client adds the workers'
   (:class:`bcekit.distributed._graph.BlockSum`).
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import numpy as np

from bcekit.distributed._compat import require_dask
from bcekit.distributed._graph import BlockSum, one_thread, params_nbytes, ship


def _is_frame(obj: Any) -> bool:
    return hasattr(obj, "to_dask_array")


def _frames_to_arrays(objs: list[Any]) -> list[Any]:
    """Dask DataFrames and Series become dask arrays with known row counts per block.

    The partition lengths of all frames are counted in one computation, so frames that come
    from the same source read it once.
    """
    import dask

    frames = [obj for obj in objs if _is_frame(obj)]
    if not frames:
        return objs
    lengths = dask.compute(*[frame.map_partitions(len) for frame in frames])
    counted = iter(lengths)
    with warnings.catch_warnings():
        # String labels become object arrays, which is what the label encoding expects.
        warnings.filterwarnings("ignore", message=".*converting pandas extension dtypes")
        return [
            obj.to_dask_array(lengths=tuple(int(n) for n in next(counted)))
            if _is_frame(obj)
            else obj
            for obj in objs
        ]


def as_row_blocks(X: Any, *columns: Any) -> tuple[Any, ...]:
    """Return ``X`` as a dask array chunked by rows only, and each column aligned with it.

    Parameters
    ----------
    X : dask array or dask DataFrame, shape (n_samples, n_features)
        A DataFrame's partitions become the row blocks (their lengths are counted once).
    *columns : dask array, dask Series, array-like or None
        ``y``, ``sample_weight``...: rechunked to ``X``'s row blocks; None stays None.

    Returns
    -------
    tuple
        ``(X, *columns)`` as dask arrays.

    Raises
    ------
    ValueError
        ``X`` is not 2-D, or a column does not have ``X``'s number of rows.
    """
    da = require_dask()
    X, *columns = _frames_to_arrays([X, *columns])
    X = da.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D for dask input; got shape {X.shape}")
    X = X.rechunk({1: -1})
    aligned = []
    for column in columns:
        if column is None:
            aligned.append(None)
            continue
        column = da.asarray(column)
        if column.shape[0] != X.shape[0]:
            raise ValueError(
                f"y and sample_weight must have X's {X.shape[0]} rows for dask input; "
                f"got {column.shape[0]}"
            )
        whole = {axis: -1 for axis in range(1, column.ndim)}
        aligned.append(column.rechunk({0: X.chunks[0], **whole}))
    return (X, *aligned)


class DistributedLogisticObjective:
    """``(coef, intercept) -> (Σ sℓ, ∂/∂coef, ∂/∂intercept)`` over persisted dask row blocks.

    Parameters
    ----------
    X : dask array or dask DataFrame, shape (n_samples, n_features)
    y : array-like of values in [0, 1], shape (n_samples,)
    sample_weight : array-like, shape (n_samples,), optional
    positive_label : object, optional
        When given, ``y`` holds class labels and the target of a row is 1 where its label
        equals ``positive_label``, else 0 (encoded once per block, where it is held).
    pos_weight, label_smoothing, fit_intercept
        As in :func:`bcekit.losses.linear.logistic_objective`.

    Attributes
    ----------
    shape : tuple
        ``X``'s shape.
    dtype : numpy dtype
        ``X``'s dtype: the per-block arithmetic runs in it, the sums in float64.
    n_calls : int
        Evaluations so far.

    Notes
    -----
    The data are persisted at construction and each worker's share of the blocks is handed
    to a holder there; a call is one message to each holder and its reply. The parameters
    travel inside the message when they are small, and are broadcast to every worker once
    per call when they are large (:func:`bcekit.distributed._graph.ship`). A worker lost
    mid-fit costs a recomputation of its blocks from their sources (the later calls run as
    tasks); the sums stay exact.
    """

    def __init__(
        self,
        X: Any,
        y: Any,
        sample_weight: Any = None,
        *,
        positive_label: Any = None,
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
        encode = None
        if positive_label is not None:
            encode = functools.partial(_encode_labels, positive=positive_label, dtype=X.dtype)
        self._sum = BlockSum([X, y, sample_weight], prepare=encode)
        self._options = {
            "pos_weight": pos_weight,
            "label_smoothing": label_smoothing,
            "fit_intercept": fit_intercept,
        }
        self.n_calls = 0

    def __call__(self, coef: np.ndarray, intercept: float) -> tuple[float, np.ndarray, float]:
        """The data term and its gradient at ``(coef, intercept)``, in one distributed pass."""
        coef = np.asarray(coef, dtype=self.dtype)
        params = ship((coef, float(intercept)), params_nbytes(coef))
        value, grad_coef, grad_intercept = self._sum(_block_objective, params, self._options)
        self.n_calls += 1
        return float(value), np.asarray(grad_coef, dtype=np.float64), float(grad_intercept)


def _encode_labels(X, y, sample_weight, *, positive: Any, dtype: Any) -> tuple:
    """A block with its labels ``y`` as targets: 1 where they equal ``positive``, else 0."""
    return X, (y == positive).astype(dtype), sample_weight


def _block_objective(X, y, sample_weight, index, params, options) -> tuple:
    """One block's ``(Σ sℓ, ∂/∂w, ∂/∂b)`` (on a worker; ``index`` is unused)."""
    from bcekit.losses.linear import logistic_objective

    coef, intercept = params
    with one_thread():
        return logistic_objective(X, y, coef, intercept, sample_weight=sample_weight, **options)
