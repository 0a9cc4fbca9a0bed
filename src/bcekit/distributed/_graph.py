"""Graph helpers shared by the distributed objectives: tree sums and shipping parameters.

Both objectives evaluate one task per row block and add the per-block partials. The partials
are added in a tree on the workers (groups of :data:`SPLIT_EVERY`), so the client receives one
small result instead of one per block. The parameters of each evaluation travel inside the
task graph when they are small, and are broadcast to every worker once when they are large.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Partials added per task of the tree sum.
SPLIT_EVERY = 8

#: Parameter vectors up to this size (bytes) travel inside the graph; larger ones are scattered.
INLINE_BYTES = 1 << 16


def _add(*partials: tuple) -> tuple:
    """Element-wise sum of tuples of numbers or arrays."""
    return tuple(sum(parts) for parts in zip(*partials, strict=True))


def tree_sum(delayed_parts: list) -> Any:
    """Add delayed tuples in groups of :data:`SPLIT_EVERY`, level by level, on the workers."""
    from dask import delayed

    if not delayed_parts:
        raise ValueError("tree_sum needs at least one partial; got none")
    while len(delayed_parts) > 1:
        delayed_parts = [
            delayed(_add, pure=False)(*delayed_parts[i : i + SPLIT_EVERY])
            for i in range(0, len(delayed_parts), SPLIT_EVERY)
        ]
    return delayed_parts[0]


def ship(obj: Any, nbytes: int) -> Any:
    """``obj`` itself when it is small (``nbytes``), else :func:`broadcast` of it.

    Small parameter vectors cost less inside the task graph than a scatter round trip; large
    ones would be copied into every task, so they are sent to each worker once instead.
    """
    return obj if nbytes <= INLINE_BYTES else broadcast(obj)


def broadcast(obj: Any) -> Any:
    """A future of ``obj`` held by every worker of the active Client; ``obj`` without one."""
    client = active_client()
    if client is None:
        return obj
    (future,) = client.scatter([obj], broadcast=True, hash=False)
    return future


def active_client() -> Any:
    """The current ``dask.distributed`` Client, or None (no distributed, or no client)."""
    try:
        from distributed import get_client
    except ImportError:  # pragma: no cover - distributed ships with bcekit[dask]
        return None
    try:
        return get_client()
    except ValueError:
        return None


def params_nbytes(*arrays: Any) -> int:
    """Bytes of the arrays among ``arrays`` (scalars count nothing)."""
    return sum(np.asarray(a).nbytes for a in arrays if np.ndim(a))
