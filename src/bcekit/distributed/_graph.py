"""How the distributed objectives evaluate a sum over row blocks, and ship parameters.

An objective is called many times over the same persisted blocks, so what a call costs
besides the arithmetic matters. :class:`BlockSum` settles what does not change from call to
call when it is built:

- **placement**: the blocks are spread over the workers in proportion to their threads, by
  bytes, moving as few as it can (:func:`bcekit.distributed._placement.assign`), and the
  arrays of one block (``X``, ``y``, ``sample_weight``) are put on one worker, so that no call
  moves data between workers;
- **shares**: each worker's blocks are dealt into one share per thread, by bytes;
- **holders**: each share is handed to a Dask actor on its worker (:class:`_Holder`), which
  keeps references to its blocks' arrays.

A call is then one message to each holder, carrying the function and the parameters, and
its reply (through the scheduler, which relays it: the client needs no connection to the
workers). Each holder adds the partials of its blocks on one of its worker's task threads;
the client adds the holders' few partials. The task graph is not involved: no graph to send
and order, no task state to keep, no gather after the tasks end. Measured on 5M x 20 float64
rows over two single-threaded workers (two cores, load about 11): a median 0.50 s per call,
against 0.75 s as one task per share and 0.56 s in process.

If a holder cannot be reached (its worker has gone), the sum falls back to tasks for this
call and the later ones: one task per share, pinned to its worker but free to run on
another, and one gather of the partials (added in a tree on the workers when there are more
than :data:`SPLIT_EVERY`). Dask then recomputes the blocks it lost from their sources, and
the sum stays exact, only less balanced. Without a distributed Client, one delayed task per
block is added in a tree (:func:`tree_sum`) on the local scheduler.

A pass made once, like the estimators' summary of the labels and checks of every block,
goes through :func:`per_block` instead: one task per worker over the blocks it holds.

The parameters of each call travel inside the message when they are small and are
broadcast to every worker once when they are large (:func:`ship`); a holder reads a
broadcast value from its worker's memory. Block functions run the Numba kernels on one
thread (:func:`one_thread`): each worker thread runs one share, so more would oversubscribe
the cores.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np

from bcekit.distributed._placement import assign, block_nbytes, shares

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


def _blocks_of(array: Any) -> list[Any]:
    """The keys of a dask array's blocks along rows (one column block)."""
    rows = array.__dask_keys__()
    return [row[0] if isinstance(row, list) else row for row in rows]


def _row_blocks(client: Any, arrays: list[Any]) -> list[tuple]:
    """The arrays of each row block, one tuple per block (None for a missing operand): the
    blocks' futures, every one of them finished, with a distributed ``client``; their delayed
    objects without one."""
    n_blocks = next(a for a in arrays if a is not None).numblocks[0]
    if client is None:
        columns = [[None] * n_blocks if a is None else list(a.to_delayed().ravel()) for a in arrays]
        return list(zip(*columns, strict=True))
    from distributed import wait

    futures = {f.key: f for a in arrays if a is not None for f in client.futures_of(a)}
    wait(list(futures.values()))  # so that every block has a known holder
    columns = [
        [None] * n_blocks if a is None else [futures[k] for k in _blocks_of(a)] for a in arrays
    ]
    return list(zip(*columns, strict=True))


def _group_sum(
    func: Callable, blocks: list[tuple], indices: list[int], args: tuple, prepare: Any = None
) -> tuple:
    """``Σ func(*block, index, *args)`` over the blocks of one task (on a worker), each block
    passed through ``prepare`` first when it is given."""
    if prepare is not None:
        blocks = [prepare(*block) for block in blocks]
    return _add(*(func(*block, index, *args) for block, index in zip(blocks, indices, strict=True)))


def _block_call(func: Callable, prepare: Any, block: tuple, index: int, args: tuple) -> tuple:
    """``func(*prepare(*block), index, *args)`` (``prepare`` None: the block as it is)."""
    return func(*(block if prepare is None else prepare(*block)), index, *args)


def _each(func: Callable, blocks: list[tuple]) -> list[Any]:
    """``[func(*block) for block in blocks]`` (one task on a worker)."""
    return [func(*block) for block in blocks]


def per_block(func: Callable, arrays: list[Any]) -> list[Any]:
    """``func(*block)`` of every row block of ``arrays``, in block order, computed now.

    With a distributed Client the arrays must be persisted; each worker runs one task over
    the blocks it holds (the blocks' other arrays come to it if they are elsewhere): a pass
    over 20 blocks of 250k x 20 float64 rows on two workers took 84-102 ms this way against
    106-145 ms as one task per block, whose overhead was most of it. Without a Client, one
    delayed task per block on the local scheduler. A None in ``arrays`` reaches ``func`` as None.
    """
    import dask

    client = active_client()
    blocks = _row_blocks(client, arrays)
    if client is None:
        return list(dask.compute(*[dask.delayed(func, pure=False)(*b) for b in blocks]))
    first = [next(f for f in block if f is not None) for block in blocks]
    holders = client.who_has(first)
    by_worker: dict[Any, list[int]] = defaultdict(list)
    for index, future in enumerate(first):
        by_worker[(holders.get(future.key) or [None])[0]].append(index)
    tasks = [
        client.submit(
            _each,
            func,
            [blocks[i] for i in indices],
            workers=None if worker is None else [worker],
            allow_other_workers=True,
            pure=False,
        )
        for worker, indices in by_worker.items()
    ]
    results: list[Any] = [None] * len(blocks)
    for indices, values in zip(by_worker.values(), client.gather(tasks), strict=True):
        for index, value in zip(indices, values, strict=True):
            results[index] = value
    return results


def _same(block: Any) -> Any:
    """A block's data under a new key, on the worker the task runs on."""
    return block


class _Stored(NamedTuple):
    """A value broadcast to every worker, named by its key, for a holder to read there."""

    key: Any


class _Holder:
    """A Dask actor: one share of row blocks, kept on its worker, summed over on request.

    Built on the worker as a task whose arguments are the blocks' futures, so it holds the
    worker's own arrays (no copy), or what ``prepare`` makes of them, once. :meth:`sum` runs
    :func:`_group_sum` on one of the worker's task threads, leaving the worker's event loop
    free.
    """

    def __init__(self, blocks: list[tuple], indices: list[int], prepare: Any = None) -> None:
        from distributed import get_worker

        self._worker = get_worker()
        if prepare is not None:
            blocks = [prepare(*block) for block in blocks]
        self._blocks, self._indices = blocks, indices

    async def sum(self, func: Callable, args: tuple) -> tuple | None:
        """``Σ func(*block, index, *args)`` over the share; None when a broadcast value in
        ``args`` is not in this worker's memory (the client then falls back to tasks)."""
        import asyncio

        data = self._worker.data
        if any(isinstance(a, _Stored) and a.key not in data for a in args):
            return None
        args = tuple(data[a.key] if isinstance(a, _Stored) else a for a in args)
        executor = self._worker.executors["default"]
        return await asyncio.get_running_loop().run_in_executor(
            executor, _group_sum, func, self._blocks, self._indices, args
        )


class BlockSum:
    """``Σ_b func(X_b, y_b, ..., b, *args)`` over aligned, persisted row blocks.

    Parameters
    ----------
    arrays : list of dask arrays or None
        Persisted, chunked alike along rows (one chunk across columns); a None stands for a
        missing operand and reaches ``func`` as None.
    prepare : callable, optional
        ``prepare(*block) -> block``: what ``func`` receives instead of a block's arrays (an
        encoding of its labels, say). A holder runs it once per block and keeps the result;
        the fallback paths run it on every call.

    Attributes
    ----------
    plan : list of (worker address, list of int)
        With a distributed Client: the worker and the block indices of each share (one
        holder, or one task of a call once the sum has fallen back to tasks).

    Notes
    -----
    ``func`` returns a tuple of numbers or arrays; the partials are added element-wise.
    The holders hold references to their blocks' arrays until this object is released.
    """

    def __init__(self, arrays: list[Any], prepare: Callable | None = None) -> None:
        self._client = active_client()
        self._prepare = prepare
        self._pending: list[Any] = []
        self._holders: list[tuple[Any, Any]] = []
        self.plan: list[tuple[str, list[int]]] = []
        self._blocks = _row_blocks(self._client, arrays)
        if self._client is None:
            return
        self._place(block_nbytes(arrays))
        self._hold()

    def _place(self, sizes: list[int]) -> None:
        """Put the arrays of every block on its target worker and set :attr:`plan`."""
        from distributed import wait

        client = self._client
        threads = client.nthreads()
        holders = client.who_has([f for block in self._blocks for f in block if f is not None])
        first = [next(f for f in block if f is not None) for block in self._blocks]
        current = [(holders.get(f.key) or [None])[0] for f in first]
        target = assign(sizes, current, threads)
        moved = []
        for index, worker in enumerate(target):
            placed = []
            for future in self._blocks[index]:
                if future is not None and worker not in holders.get(future.key, ()):
                    future = client.submit(
                        _same, future, workers=[worker], allow_other_workers=True, pure=False
                    )
                    moved.append(future)
                placed.append(future)
            self._blocks[index] = tuple(placed)
        wait(moved)
        by_worker: dict[str, list[int]] = defaultdict(list)
        for index, worker in enumerate(target):
            by_worker[worker].append(index)
        self.plan = [
            (worker, share)
            for worker, indices in by_worker.items()
            for share in shares(indices, sizes, threads[worker])
        ]

    def _hold(self) -> None:
        """Start one :class:`_Holder` per share of :attr:`plan`, on its worker."""
        from distributed import wait

        futures = [
            self._client.submit(
                _Holder,
                [self._blocks[i] for i in share],
                share,
                self._prepare,
                actor=True,
                workers=[worker],
                allow_other_workers=True,
                pure=False,
            )
            for worker, share in self.plan
        ]
        wait(futures)
        self._holders = [(future, future.result()) for future in futures]

    def _held_sum(self, func: Callable, args: tuple) -> tuple | None:
        """The sum from the holders: one message each; None when one cannot answer."""
        from distributed import Future

        sent = tuple(_Stored(a.key) if isinstance(a, Future) else a for a in args)
        try:
            if any(future.status != "finished" for future, _ in self._holders):
                return None
            calls = [holder.sum(func, sent) for _, holder in self._holders]
            partials = [call.result() for call in calls]
        except (OSError, RuntimeError):  # the holder's worker has gone (or is going)
            return None
        if any(p is None for p in partials):
            return None
        return _add(*partials)

    def __call__(self, func: Callable, *args: Any) -> tuple:
        """The sum, computed now."""
        if self._holders:
            total = self._held_sum(func, args)
            if total is not None:
                return total
            self._holders = []  # tasks from now on
        if self._client is None:
            from dask import delayed

            parts = [
                delayed(_block_call, pure=False)(func, self._prepare, block, index, args)
                for index, block in enumerate(self._blocks)
            ]
            return tree_sum(parts).compute()
        client = self._client
        partials = [
            client.submit(
                _group_sum,
                func,
                [self._blocks[i] for i in share],
                share,
                args,
                self._prepare,
                pure=False,
                workers=[worker],
                allow_other_workers=True,
            )
            for worker, share in self.plan
        ]
        while len(partials) > SPLIT_EVERY:
            partials = [
                client.submit(_add, *partials[i : i + SPLIT_EVERY], pure=False)
                for i in range(0, len(partials), SPLIT_EVERY)
            ]
        # The previous call's futures go now, behind this call's tasks.
        self._pending = partials
        return _add(*client.gather(partials))


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


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run Numba's parallel kernels on the calling thread only, for the block."""
    import numba

    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(previous)
