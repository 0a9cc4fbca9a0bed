"""Shared test fixtures."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

# Numba's on-disk cache is not safe for processes that compile at the same moment: two
# pytest-xdist workers filling one cold cache can leave an index entry pointing at the code
# of another signature (numba/numba#10128 describes the race). Each worker keeps its own.
if os.environ.get("PYTEST_XDIST_WORKER") and "NUMBA_CACHE_DIR" not in os.environ:
    _root = Path(__file__).resolve().parent.parent
    os.environ["NUMBA_CACHE_DIR"] = str(
        _root / ".pytest_cache" / f"numba-{os.environ['PYTEST_XDIST_WORKER']}"
    )

import numpy as np
import pytest

from bcekit.estimators._base import BatchObjective, make_loss


def _central_difference(
    f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-6
) -> np.ndarray:
    """∂f/∂x by central differences, one float64 element at a time."""
    x = np.array(x, dtype=np.float64)
    grad = np.empty_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        grad[i] = (f(up) - f(down)) / (2 * h)
    return grad


@pytest.fixture
def numeric_grad() -> Callable[..., np.ndarray]:
    """``numeric_grad(f, x, h=1e-6)``: central-difference gradient of a scalar ``f`` at ``x``."""
    return _central_difference


def _bce_batch_objective(pos_weight, label_smoothing, alpha=0.0, matrices=()):
    """The estimators' summed BCE objective with the given weighting, smoothing and L2 term."""
    loss = make_loss(
        "binary",
        loss="bce",
        gamma=2.0,
        alpha=None,
        pos_weight=pos_weight,
        label_smoothing=label_smoothing,
        reduction="sum",
    )
    return BatchObjective(loss, list(matrices), alpha, per_batch=True)


@pytest.fixture
def bce_batch_objective() -> Callable[..., object]:
    """``bce_batch_objective(pos_weight, label_smoothing, alpha=0.0, matrices=())``."""
    return _bce_batch_objective


@pytest.fixture(scope="module")
def dask_cluster():
    """A Dask LocalCluster on loopback for one test module: two single-threaded workers."""
    import logging

    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.ERROR,
    ) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def dask_client(dask_cluster):
    """A Client of :func:`dask_cluster`, the default one while the module's tests run."""
    distributed = pytest.importorskip("distributed")
    with distributed.Client(dask_cluster) as client:
        yield client
