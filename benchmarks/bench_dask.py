"""Dask LocalCluster (2 single-threaded workers, loopback) against the same work in process.

Two workloads, each with its data generated on the workers (never shipped from the client)
and the same data generated in this process:

1. BCE with logits over 10^8 float64 elements (``reduction="mean"``, value only): the lazy
   :func:`bcekit.distributed.binary_cross_entropy_with_logits` over 5M-element chunks
   against the fused in-process :func:`bcekit.losses.binary_cross_entropy_with_logits`
   (Numba, 2 threads).
2. ``LogisticRegression().fit`` (the defaults: L-BFGS) on 5M x 20 float64 rows (20 blocks of
   250k rows): dask input against a NumPy array, in five rounds of five interleaved fits
   of each after one untimed fit of each (the first fit in this process, reported in the
   caption).
3. The same fit as a user's script makes it: in a fresh Python process (and, for dask
   input, a fresh LocalCluster whose workers generate the data), the first and the second
   call, one process of each (:func:`benchmarks._common.fresh_process`).

Columns: median and best seconds (for the fresh processes: the first and the second call),
the cluster's overhead over in-process and the agreement of the results. The BCE overhead
is ``t_cluster/t_process − 1`` of the medians (of the bests in brackets); the
LogisticRegression overhead is that of each round (of its medians), reported as the median
and the worst of the five (each round is listed in the caption); the fresh processes', that
of the first call (of the second in brackets).
The caption gives the peak resident memory of each worker process and of this process.
The BCE contenders are timed round-robin (:func:`benchmarks._common.compare`).
"""

from __future__ import annotations

import logging
import os
import resource
import statistics
import time
from typing import Any

import numpy as np

from benchmarks._common import FreshCall, compare, fresh_process, table

N_BCE = 10**8
BCE_CHUNK = 5 * 10**6
N_ROWS, N_FEATURES, BLOCK_ROWS = 5 * 10**6, 20, 250_000
SHAPES = [(BLOCK_ROWS, N_FEATURES), (BLOCK_ROWS,)]
#: Timed rounds of the LogisticRegression row; each round's figure is the median of
#: CALLS_PER_ROUND interleaved fits in process and on the cluster (one fit takes about 0.5 s,
#: and one fit alone varies by 10-40 % on a shared 2-core machine: with three fits a round the
#: rounds of one run spread from -14 % to +25 %).
ROUNDS, CALLS_PER_ROUND = 5, 5


def _peak_rss_mib() -> float:
    """Peak resident memory of the calling process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _bce_block(index: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([0, index])
    z = rng.normal(scale=4.0, size=BCE_CHUNK)
    return z, (rng.random(BCE_CHUNK) < 0.3).astype(np.float64)


def _logistic_block(index: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([1, index])
    X = rng.normal(size=(BLOCK_ROWS, N_FEATURES))
    w = np.linspace(-1.0, 1.0, N_FEATURES)
    y = (rng.random(BLOCK_ROWS) < 1 / (1 + np.exp(-(X @ w + 0.25)))).astype(np.float64)
    return X, y


def _on_workers(client: Any, block: Any, n_blocks: int, shapes: list[tuple]) -> list[Any]:
    """Dask arrays whose blocks ``block(i)`` generates on the workers (persisted)."""
    import dask
    import dask.array as da
    from distributed import wait

    parts = [dask.delayed(block, pure=True)(i) for i in range(n_blocks)]
    arrays = [
        da.concatenate([da.from_delayed(p[k], shape, dtype=np.float64) for p in parts])
        for k, shape in enumerate(shapes)
    ]
    arrays = client.persist(arrays)
    wait(arrays)
    return arrays


def _in_process(block: Any, n_blocks: int) -> list[np.ndarray]:
    parts = [block(i) for i in range(n_blocks)]
    return [np.concatenate([p[k] for p in parts]) for k in range(len(parts[0]))]


def _overhead(cluster: Any, process: Any) -> str:
    """The cluster's extra time over in-process, of the medians and (in brackets) the bests."""
    median = 100 * (cluster.median / process.median - 1)
    best = 100 * (cluster.best / process.best - 1)
    return f"{median:+.0f}% ({best:+.0f}%)"


def _bce_rows(client: Any) -> list[list[Any]]:
    from bcekit.distributed import binary_cross_entropy_with_logits as lazy_bce
    from bcekit.losses import binary_cross_entropy_with_logits

    n_blocks = N_BCE // BCE_CHUNK
    zd, yd = _on_workers(client, _bce_block, n_blocks, [(BCE_CHUNK,), (BCE_CHUNK,)])
    z, y = _in_process(_bce_block, n_blocks)
    values = {}

    def cluster() -> None:
        values["cluster"] = float(lazy_bce(zd, yd).compute())

    def process() -> None:
        values["process"] = float(binary_cross_entropy_with_logits(z, y))

    t = compare({"process": process, "cluster": cluster}, repeat=5, warmup=1, pause=0.05)
    agree = abs(values["cluster"] - values["process"]) / abs(values["process"])
    label = "BCE 1e8 f64"
    return [
        [f"{label}, in process", t["process"].median, t["process"].best, None, None],
        [
            f"{label}, LocalCluster",
            t["cluster"].median,
            t["cluster"].best,
            _overhead(t["cluster"], t["process"]),
            f"value rel. diff {agree:.1e}",
        ],
    ]


def _paired_rounds(
    process: Any, cluster: Any, rounds: int, calls: int, pause: float = 0.05
) -> tuple[list[float], list[float], tuple[float, float]]:
    """Per round, the median seconds of ``calls`` interleaved calls of each, for ``rounds``
    rounds (after one untimed call of each, whose seconds are returned last: the first fit in
    this process and on these workers)."""
    first = []
    for fn in (process, cluster):
        t0 = time.perf_counter()
        fn()
        first.append(time.perf_counter() - t0)
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(rounds):
        round_times: tuple[list[float], list[float]] = ([], [])
        for _ in range(calls):
            for fn, kept in zip((process, cluster), round_times, strict=True):
                time.sleep(pause)
                t0 = time.perf_counter()
                fn()
                kept.append(time.perf_counter() - t0)
        for kept, measured in zip(times, round_times, strict=True):
            kept.append(statistics.median(measured))
    return times[0], times[1], (first[0], first[1])


def _logistic_rows(client: Any) -> tuple[list[list[Any]], str]:
    """``LogisticRegression().fit`` (the defaults) on dask input and on NumPy arrays, in
    :data:`ROUNDS` rounds; the overhead of each round is its median cluster time over its
    median in-process time, minus 1."""
    from bcekit import LogisticRegression

    n_blocks = N_ROWS // BLOCK_ROWS
    Xd, yd = _on_workers(client, _logistic_block, n_blocks, SHAPES)
    X, y = _in_process(_logistic_block, n_blocks)
    fits = {}

    def cluster() -> None:
        fits["cluster"] = LogisticRegression().fit(Xd, yd)

    def process() -> None:
        fits["process"] = LogisticRegression().fit(X, y)

    in_process, on_cluster, first = _paired_rounds(process, cluster, ROUNDS, CALLS_PER_ROUND)
    overheads = [100 * (c / p - 1) for c, p in zip(on_cluster, in_process, strict=True)]
    a, b = fits["cluster"], fits["process"]
    agree = np.max(np.abs(a.coef_ - b.coef_)) / np.max(np.abs(b.coef_))
    label = f"LogisticRegression().fit 5M x {N_FEATURES}"
    overhead = f"{statistics.median(overheads):+.0f}% (worst {max(overheads):+.0f}%)"
    rows = [
        [f"{label}, in process", statistics.median(in_process), min(in_process), None,
         f"{b.n_iter_[0]} iterations"],
        [f"{label}, LocalCluster", statistics.median(on_cluster), min(on_cluster), overhead,
         f"{a.n_iter_[0]} iterations, coef rel. diff {agree:.1e}"],
    ]  # fmt: skip
    note = (
        f"LogisticRegression: {ROUNDS} rounds of {CALLS_PER_ROUND} interleaved fits; overhead "
        "per round "
        f"{', '.join(f'{o:+.0f}%' for o in overheads)}; first fit {first[0]:.2f} s in "
        f"process, {first[1]:.2f} s on the cluster."
    )
    return rows, note


def local_cluster() -> Any:
    """The LocalCluster of the comparison: 2 single-threaded worker processes on loopback."""
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )


_FRESH_SETUP = (
    "from bcekit import LogisticRegression\n"
    "from benchmarks.bench_dask import BLOCK_ROWS, N_ROWS, SHAPES, _logistic_block\n"
)
_FRESH_CLUSTER = (
    "from distributed import Client\n"
    "from benchmarks.bench_dask import _on_workers, local_cluster\n"
    "client = Client(local_cluster())\n"
    "X, y = _on_workers(client, _logistic_block, N_ROWS // BLOCK_ROWS, SHAPES)\n"
)
_FRESH_PROCESS = (
    "from benchmarks.bench_dask import _in_process\n"
    "X, y = _in_process(_logistic_block, N_ROWS // BLOCK_ROWS)\n"
)


def _fresh_rows() -> list[list[Any]]:
    """``LogisticRegression().fit`` in a fresh process on NumPy arrays and on dask arrays."""
    call, report = "model = LogisticRegression().fit(X, y)", "model.coef_.tolist()"
    t = fresh_process(
        {
            "process": FreshCall(_FRESH_SETUP + _FRESH_PROCESS, call, report=report),
            "cluster": FreshCall(_FRESH_SETUP + _FRESH_CLUSTER, call, report=report),
        },
        repeat=1,
        steady=1,
    )
    process, cluster = t["process"], t["cluster"]
    a, b = np.asarray(cluster.report), np.asarray(process.report)
    first = 100 * (cluster.first / process.first - 1)
    later = 100 * (cluster.steady / process.steady - 1)
    label = f"fresh process: LogisticRegression().fit 5M x {N_FEATURES}, 1st (2nd) call"
    return [
        [f"{label}, in process", process.first, process.steady, None, None],
        [f"{label}, LocalCluster", cluster.first, cluster.steady, f"{first:+.0f}% ({later:+.0f}%)",
         f"coef rel. diff {np.max(np.abs(a - b)) / np.max(np.abs(b)):.1e}"],
    ]  # fmt: skip


def run() -> Any:
    """The three workloads (the first two on one LocalCluster); a rich table."""
    from distributed import Client

    with local_cluster() as cluster, Client(cluster) as client:
        rows = _bce_rows(client)
        logistic, note = _logistic_rows(client)
        rows += logistic
        workers = client.run(_peak_rss_mib)
    rows += _fresh_rows()
    peaks = ", ".join(f"{mib:,.0f}" for mib in workers.values())
    caption = (
        f"Peak RSS (MiB): workers {peaks}; this process {_peak_rss_mib():,.0f}. "
        "Overhead: cluster time over in-process time, minus 1: BCE, of the medians (of the "
        f"bests); {note} Load average at the end: {os.getloadavg()[0]:.1f}."
    )
    return table(
        "Dask LocalCluster (2 workers x 1 thread) vs in process",
        ["workload", "median (1st) s", "best (2nd) s", "overhead", "check"],
        rows,
        caption=caption,
    )
