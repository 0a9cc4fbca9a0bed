"""Helpers shared by the ``bench_*.py`` modules: timing, the machine line, rich tables, and the
NumPy BCE reference.

A benchmark module defines ``run()`` returning a rich renderable (usually from :func:`table`)
or a string.
``python -m benchmarks`` runs them all; ``python -m benchmarks losses`` runs ``bench_losses``.

Timings on a shared machine are noisy: time the contenders of one row set with
:func:`compare`, which interleaves them so that load hits all of them alike, and report ratios
to an anchor measured in the same run.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

__all__ = ["Timing", "compare", "console", "machine_info", "stable_numpy_bce", "table"]

console = Console()


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds of repeated calls: the best and the median."""

    best: float
    median: float


def compare(
    fns: Mapping[str, Callable[[], Any]],
    *,
    repeat: int = 5,
    warmup: int = 1,
    pause: float = 0.0,
) -> dict[str, Timing]:
    """Time several callables round-robin (one call of each per round) after a warm-up.

    Interleaving spreads transient load from other processes over all contenders, so their
    ratios are fairer than with one contender timed after another.

    Parameters
    ----------
    fns : mapping of str to callable
        The contenders, called with no arguments.
    repeat : int, default=5
        Number of timed rounds (>= 1).
    warmup : int, default=1
        Untimed calls of each first (JIT compilation, first-touch of buffers, thread pools).
    pause : float, default=0.0
        Seconds to sleep before each timed call. OpenMP thread pools (Numba's, PyTorch's)
        busy-wait for a few milliseconds after a parallel region; on a small machine that
        steals the cores from the next contender unless the pool is left to go idle.

    Returns
    -------
    dict
        ``{name: Timing}`` in the order of ``fns``.
    """
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1; got {repeat}")
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            if pause:
                time.sleep(pause)
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: Timing(min(t), statistics.median(t)) for name, t in times.items()}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info() -> str:
    """One line: CPU model, usable cores, load, library versions, OpenMP wait policy."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = f"load {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "load n/a"
    versions = ", ".join(
        f"{d} {_version(d)}" for d in ("numpy", "numba", "scipy", "scikit-learn", "torch")
    )
    policy = os.environ.get("OMP_WAIT_POLICY", "default")
    return (
        f"{_cpu_model()}, {cores} cores, {load}; Python {platform.python_version()}, "
        f"{versions}; OMP_WAIT_POLICY={policy}"
    )


def table(
    title: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    caption: str | None = None,
) -> Table:
    """A rich table; floats get 3 significant digits (no exponent below 1e4), None is blank.

    The first column is left-aligned (labels), the others right-aligned (numbers).
    """
    t = Table(title=title, caption=caption, title_justify="left", caption_justify="left")
    for i, col in enumerate(columns):
        t.add_column(col, justify="left" if i == 0 else "right")
    for row in rows:
        t.add_row(*(_cell(v) for v in row))
    return t


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return str(value)


def stable_numpy_bce(
    z: np.ndarray, y: np.ndarray, w: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """Mean (weighted mean) BCE on logits and its gradient, from NumPy ufuncs, unchecked.

    The plain-NumPy reference the fused kernel is timed against.
    """
    sp_neg = np.logaddexp(0, -z)  # -log sigmoid(z)
    sp_pos = np.logaddexp(0, z)  # -log(1 - sigmoid(z))
    loss = y * sp_neg + (1 - y) * sp_pos
    grad = np.exp(-sp_neg) - y  # sigmoid(z) - y
    if w is None:
        return float(loss.mean()), grad / z.size
    total = w.sum()
    return float((w * loss).sum() / total), grad * (w / total)
