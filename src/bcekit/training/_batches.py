"""Batching for the Trainer: the checked arrays, the order rows are visited in, the batches.

Epoch ``k`` visits the rows in the order ``default_rng([seed, k]).permutation(n)`` (or in
order without shuffling) and cuts it into consecutive batches of ``batch`` rows, the last one
holding the remainder. The order depends only on the seed and ``k``, which is what makes a
resumed run shuffle as the uninterrupted one did.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from bcekit.training._numerics import finite_array

__all__ = ["Data", "as_data", "as_validation", "batch_rows", "epoch_order", "seed_from"]


@dataclass(frozen=True)
class Data:
    """Validated training or validation arrays; rows are the first axis of each."""

    X: Any  # ndarray or scipy CSR matrix
    y: np.ndarray
    weight: np.ndarray | None
    mask: np.ndarray | None

    @property
    def n(self) -> int:
        return self.X.shape[0]

    def take(self, rows: slice | np.ndarray) -> tuple[Any, np.ndarray, Any, Any]:
        """The rows ``rows`` of each array: views for a slice, copies for row numbers.

        Row numbers of an ndarray are taken by its ``take`` method, about twice as fast as
        ``a[rows]`` on row blocks.
        """
        X, y, w, m = self.X, self.y, self.weight, self.mask
        if type(rows) is slice:
            return X[rows], y[rows], None if w is None else w[rows], None if m is None else m[rows]
        return (
            X.take(rows, axis=0) if type(X) is np.ndarray else X[rows],
            y.take(rows, axis=0),
            None if w is None else w.take(rows, axis=0),
            None if m is None else m.take(rows, axis=0),
        )

    def batches(
        self, batch: int, order: np.ndarray | None = None
    ) -> Iterator[tuple[Any, np.ndarray, Any, Any]]:
        """The arrays of each batch of ``batch`` rows, in ``order`` (None: as stored)."""
        for start in range(0, self.n, batch):
            rows = slice(start, start + batch) if order is None else order[start : start + batch]
            yield self.take(rows)


def batch_rows(batch_size: int | None, n: int) -> int:
    """Rows per batch: ``batch_size``, or all ``n`` rows for None or a larger size."""
    return n if batch_size is None else min(batch_size, n)


def epoch_order(seed: int, epoch: int, n: int, shuffle: bool) -> np.ndarray | None:
    """The row order of epoch ``epoch``; None (rows as stored) without shuffling."""
    return np.random.default_rng([seed, epoch]).permutation(n) if shuffle else None


def as_data(prefix: str, X: Any, y: Any, sample_weight: Any, mask: Any) -> Data:
    """Check the arrays of one data set; names in messages start with ``prefix``."""
    if sp.issparse(X):
        X = X.tocsr()
        values = X.data
    else:
        X = np.asarray(X)
        values = X
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{prefix}X must hold numbers; got dtype {X.dtype}")
    if X.ndim < 1 or X.shape[0] == 0:
        raise ValueError(f"{prefix}X must have at least one row; got shape {X.shape}")
    if values.dtype.kind == "f" and not finite_array(values):
        raise ValueError(f"{prefix}X must be finite; it contains NaN or infinity")
    n = X.shape[0]
    y = np.asarray(y)
    if y.ndim < 1 or y.shape[0] != n:
        raise ValueError(f"{prefix}y must have one entry per row of X ({n}); got shape {y.shape}")
    weight = None
    if sample_weight is not None:
        weight = _as_weight(prefix, sample_weight, n, X.dtype, y.ndim)
    if mask is not None:
        mask = np.asarray(mask)
        if mask.dtype != np.bool_:
            raise TypeError(f"{prefix}mask must be boolean (True = counted); got {mask.dtype}")
        if mask.ndim < 1 or mask.shape[0] != n:
            raise ValueError(
                f"{prefix}mask must have one entry per row of X ({n}); got shape {mask.shape}"
            )
    return Data(X, y, weight, mask)


def _as_weight(prefix: str, sample_weight: Any, n: int, x_dtype: np.dtype, y_ndim: int) -> Any:
    """Checked sample weights in X's float dtype (float64 for integer X), broadcasting to y."""
    weight = np.asarray(sample_weight)
    if weight.dtype.kind not in "biuf":
        raise TypeError(f"{prefix}sample_weight must hold numbers; got dtype {weight.dtype}")
    if weight.ndim < 1 or weight.shape[0] != n:
        raise ValueError(
            f"{prefix}sample_weight must have one entry per row of X ({n}); "
            f"got shape {weight.shape}"
        )
    weight = weight.astype(x_dtype if x_dtype.kind == "f" else np.float64, copy=False)
    if not np.isfinite(weight).all() or weight.min() < 0:
        raise ValueError(
            f"{prefix}sample_weight must be finite and >= 0; got values in "
            f"[{weight.min():g}, {weight.max():g}]"
        )
    if not weight.any():
        raise ValueError(f"{prefix}sample_weight must not be all zero")
    if weight.ndim == 1 and y_ndim > 1:  # one weight per row, broadcast over the outputs
        weight = weight.reshape((n,) + (1,) * (y_ndim - 1))
    return weight


def as_validation(validation_data: Any) -> Data | None:
    """The checked ``(X_val, y_val[, sample_weight_val[, mask_val]])``, or None."""
    if validation_data is None:
        return None
    if not isinstance(validation_data, Sequence) or not 2 <= len(validation_data) <= 4:
        raise ValueError(
            "validation_data must be a tuple (X_val, y_val[, sample_weight_val[, mask_val]]); "
            f"got {type(validation_data).__name__}"
        )
    X, y, w, m = (*validation_data, None, None)[:4]
    return as_data("validation ", X, y, w, m)


def seed_from(random_state: Any) -> int:
    """A non-negative integer seed from None, an int, a Generator or a RandomState."""
    if random_state is None:
        return int(np.random.default_rng().integers(2**63))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**63))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**63 - 1, dtype=np.int64))
    if isinstance(random_state, int | np.integer) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(f"random_state must be >= 0; got {random_state}")
        return int(random_state)
    raise TypeError(
        "random_state must be None, an int, a numpy Generator or RandomState; "
        f"got {type(random_state).__name__}"
    )
