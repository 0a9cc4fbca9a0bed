"""A Dask client for a run: the scheduler the user names, or a LocalCluster on this machine.

The LocalCluster listens on loopback only (its HTTP endpoints too, on a free port) and has one
single-threaded worker process per usable core: the per-block kernels are the unit of
parallelism.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any


class SchedulerUnreachable(ConnectionError):
    """The Dask scheduler at the given address did not answer."""


def local_workers() -> int:
    """Usable cores of this process: the size of the default LocalCluster."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@contextlib.contextmanager
def connect(address: str | None = None) -> Iterator[Any]:
    """A ``dask.distributed.Client`` for the duration of the block, made the default one.

    Parameters
    ----------
    address : str, optional
        Scheduler address (``"tcp://host:8786"``). None starts a LocalCluster on loopback
        with :func:`local_workers` single-threaded worker processes, closed at the end.

    Yields
    ------
    distributed.Client

    Raises
    ------
    SchedulerUnreachable
        The scheduler cannot be reached within Dask's connect timeout
        (``distributed.comm.timeouts.connect``, 30 s unless configured).
    ImportError
        ``dask.distributed`` is not installed.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ImportError(
            "a Dask cluster needs the optional dependency dask.distributed; install it with "
            "`pip install 'bcekit[dask]'`"
        ) from exc
    with contextlib.ExitStack() as stack:
        if address is None:
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=local_workers(),
                    threads_per_worker=1,
                    host="127.0.0.1",
                    dashboard_address="127.0.0.1:0",
                    silence_logs=logging.ERROR,
                )
            )
            client = stack.enter_context(Client(cluster))
        else:
            try:
                client = stack.enter_context(Client(address))
            except (OSError, TimeoutError, ValueError) as exc:
                raise SchedulerUnreachable(
                    f"cannot reach a Dask scheduler there ({exc}); start one with "
                    "`dask scheduler` and workers with `dask worker ADDRESS`"
                ) from None
        yield client
