"""Where the row blocks of a distributed sum live, and how a call shares them out.

Two small rules, kept apart from Dask so that they can be tested on their own:
:func:`assign` picks a worker for every block so that each worker holds bytes in
proportion to its threads, moving as few blocks as it can; :func:`shares` deals one
worker's blocks into one share per thread, by bytes.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def assign(sizes: list[int], holders: list[Any], threads: dict[Any, int]) -> list[Any]:
    """A worker for each block, so that each worker's bytes follow its share of the threads.

    Parameters
    ----------
    sizes : list of int
        Bytes of each block.
    holders : list
        The worker holding each block now (None when unknown).
    threads : dict
        Threads of each worker (at least one worker).

    Returns
    -------
    list
        The target worker of each block. With ``S`` bytes in all and ``T`` threads, worker
        ``v`` with ``t_v`` threads should hold about ``S·t_v/T``. The largest blocks are
        placed first; a block stays with its holder while the holder's load plus half the
        block stays within that share, else it goes to the worker with the least load per
        thread after taking it.

    Raises
    ------
    ValueError
        ``threads`` is empty or ``holders`` does not have one entry per block.
    """
    if not threads:
        raise ValueError("threads must name at least one worker; got none")
    if len(holders) != len(sizes):
        raise ValueError(
            f"holders must have one entry per block ({len(sizes)}); got {len(holders)}"
        )
    total, all_threads = sum(sizes), sum(threads.values())
    share = {w: total * t / all_threads for w, t in threads.items()}
    load = dict.fromkeys(threads, 0)
    target: list[Any] = [None] * len(sizes)
    for i in sorted(range(len(sizes)), key=lambda i: (-sizes[i], i)):
        holder = holders[i]
        if holder in load and load[holder] + sizes[i] / 2 <= share[holder]:
            worker = holder
        else:
            worker = min(threads, key=lambda w: ((load[w] + sizes[i]) / threads[w], str(w)))
        target[i] = worker
        load[worker] += sizes[i]
    return target


def shares(indices: list[int], sizes: list[int], parts: int) -> list[list[int]]:
    """``indices`` dealt into at most ``parts`` non-empty lists of about equal bytes.

    The largest blocks go first, each to the lightest list so far; each list comes back in
    increasing order.
    """
    groups: list[list[int]] = [[] for _ in range(min(parts, len(indices)))]
    weight = [0] * len(groups)
    for i in sorted(indices, key=lambda i: (-sizes[i], i)):
        lightest = weight.index(min(weight))
        groups[lightest].append(i)
        weight[lightest] += sizes[i]
    return [sorted(group) for group in groups]


def block_nbytes(arrays: list[Any]) -> list[int]:
    """Bytes of each row block of aligned dask arrays (None entries count nothing)."""
    present = [a for a in arrays if a is not None]
    sizes = [0] * present[0].numblocks[0]
    for a in present:
        per_row = int(np.prod(a.shape[1:], dtype=np.int64)) * a.dtype.itemsize
        for i, rows in enumerate(a.chunks[0]):
            sizes[i] += int(rows) * per_row
    return sizes
