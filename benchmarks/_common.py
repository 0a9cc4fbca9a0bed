"""Helpers shared by the ``bench_*.py`` modules: timing, the machine line, rich tables, and the
NumPy BCE reference.

A benchmark module defines ``run()`` returning a rich renderable (usually from :func:`table`)
or a string.
``python -m benchmarks`` runs them all; ``python -m benchmarks losses`` runs ``bench_losses``.

Timings on a shared machine are noisy: time the contenders of one row set with
:func:`compare`, which interleaves them so that load hits all of them alike, and report ratios
to an anchor measured in the same run.

What a user gets is timed by :func:`fresh_process`: each contender's public call runs in new
Python processes (imports, lazy compilation and thread-pool start-up included in the first
call), the processes of all contenders interleaved, medians over them.
"""

from __future__ import annotations

import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

__all__ = [
    "LOAD_KERNELS",
    "FreshCall",
    "FreshTiming",
    "Timing",
    "compare",
    "console",
    "fresh_process",
    "load_average",
    "machine_info",
    "stable_numpy_bce",
    "table",
]

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
    ratios are fairer than with one contender timed after another. The order is shuffled
    after every round (seeded, so runs repeat it): a call runs slower after some neighbours
    than after others (on the 2-core VM the fused kernel took 9 ms after the value-only call
    and 6 ms after the public call, in the same buffers), and a fixed order would charge that
    to one contender in every round.

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
    order = list(fns)
    shuffle = random.Random(0).shuffle
    for _ in range(repeat):
        for name in order:
            fn = fns[name]
            if pause:
                time.sleep(pause)
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
        shuffle(order)
    return {name: Timing(min(t), statistics.median(t)) for name, t in times.items()}


@dataclass(frozen=True)
class FreshCall:
    """A public call as a new process makes it: source code run by :func:`fresh_process`.

    Attributes
    ----------
    setup : str
        Statements run first, untimed: imports and the data (as a user's script would).
    call : str
        The timed statement, e.g. ``"model = LogisticRegression().fit(X, y)"``.
    also : mapping of str to str
        Further statements timed in the same process after the first call, round-robin with
        the later calls of ``call`` (e.g. the kernel behind the public call).
    report : str, optional
        An expression evaluated after the last call; its (JSON) value comes back, e.g. the
        final loss or the iteration count.
    """

    setup: str
    call: str
    also: Mapping[str, str] = field(default_factory=dict)
    report: str | None = None


LOAD_KERNELS = (
    "from bcekit.losses import BinaryCrossEntropyWithLogits\n"
    "BinaryCrossEntropyWithLogits().value_and_grad(np.zeros(1, np.float32), "
    "np.zeros(1, np.float32))\n"
)
"""Set-up statements (``np`` imported) of a process that already uses Numba: a BCE kernel call."""


@dataclass(frozen=True)
class FreshTiming:
    """Seconds of a :class:`FreshCall` over several processes (medians over the processes).

    ``first`` is the first call in a process; ``steady`` each process's median of the later
    calls; ``also`` the same for each extra statement; ``report`` the last process's value.
    """

    first: float
    steady: float
    also: dict[str, float]
    report: Any
    processes: int


_DRIVER = r"""
import json, statistics, sys, time
spec = json.loads(sys.stdin.read())
ns = {"__name__": "__fresh__"}
exec(compile(spec["setup"], "<setup>", "exec"), ns)
codes = {"call": compile(spec["call"], "<call>", "exec")}
codes.update({name: compile(code, name, "exec") for name, code in spec["also"].items()})
def timed(code):
    t0 = time.perf_counter()
    exec(code, ns)
    return time.perf_counter() - t0
first = timed(codes["call"])
later = {name: [] for name in codes}
for _ in range(spec["steady"]):
    for name, code in codes.items():
        later[name].append(timed(code))
report = eval(spec["report"], ns) if spec["report"] else None
out = {name: statistics.median(t) for name, t in later.items() if t}
print("\n" + json.dumps({"first": first, "later": out, "report": report}))
"""


# The OpenMP wait policy the benchmarks were started with, read before ``python -m benchmarks``
# sets its PASSIVE default for the in-process tables (``benchmarks.__main__`` imports this
# module first).
_STARTED_WAIT_POLICY = os.environ.get("OMP_WAIT_POLICY")


def child_environment() -> dict[str, str]:
    """The environment the benchmarks were started with, bcekit and the benchmarks importable.

    A fresh process measures what a user gets, so it does not inherit the PASSIVE OpenMP wait
    policy that ``python -m benchmarks`` sets for its own process unless asked to.
    """
    import bcekit

    paths = [str(Path(bcekit.__file__).resolve().parents[1]), str(Path(__file__).parents[1])]
    env = dict(os.environ)
    if _STARTED_WAIT_POLICY is None:
        env.pop("OMP_WAIT_POLICY", None)
    else:
        env["OMP_WAIT_POLICY"] = _STARTED_WAIT_POLICY
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def fresh_process(
    calls: Mapping[str, FreshCall],
    *,
    repeat: int = 3,
    steady: int = 2,
    timeout: float = 600.0,
) -> dict[str, FreshTiming]:
    """Time public calls as users make them: each in ``repeat`` new Python processes.

    Round ``r`` starts one process per contender, in order, so that load on a shared machine
    hits every contender alike. A process runs ``setup``, times the first ``call`` (lazy
    imports, Numba's start-up and loading of its on-disk cache, thread pools: all that a
    first call pays), then ``steady`` more rounds of ``call`` and each ``also`` statement.
    The child gets the environment the benchmarks were started with: ``OMP_WAIT_POLICY`` is
    what the user set, or unset (the OpenMP default), whatever this process uses.

    Parameters
    ----------
    calls : mapping of str to FreshCall
        The contenders.
    repeat : int, default=3
        Processes per contender (>= 1).
    steady : int, default=2
        Timed calls after the first one in each process (>= 1).
    timeout : float, default=600
        Seconds a process may take.

    Returns
    -------
    dict
        ``{name: FreshTiming}`` in the order of ``calls``.

    Raises
    ------
    RuntimeError
        A process failed; the message ends with its standard error.
    """
    if repeat < 1 or steady < 1:
        raise ValueError(f"repeat and steady must be >= 1; got {repeat} and {steady}")
    env = child_environment()
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in calls}
    for _ in range(repeat):
        for name, spec in calls.items():
            payload = {
                "setup": spec.setup,
                "call": spec.call,
                "also": dict(spec.also),
                "report": spec.report,
                "steady": steady,
            }
            done = subprocess.run(
                [sys.executable, "-c", _DRIVER],
                input=json.dumps(payload),
                capture_output=True,
                text=True,
                env=env,
                timeout=timeout,
                check=False,
            )
            if done.returncode != 0:
                raise RuntimeError(f"{name}: the timing process failed:\n{done.stderr[-2000:]}")
            runs[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {
        name: FreshTiming(
            first=statistics.median(r["first"] for r in results),
            steady=statistics.median(r["later"]["call"] for r in results),
            also={
                extra: statistics.median(r["later"][extra] for r in results)
                for extra in calls[name].also
            },
            report=results[-1]["report"],
            processes=len(results),
        )
        for name, results in runs.items()
    }


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
    started = _STARTED_WAIT_POLICY or "default"
    return (
        f"{_cpu_model()}, {cores} cores, {load}; Python {platform.python_version()}, "
        f"{versions}; OMP_WAIT_POLICY={policy} (fresh processes: {started})"
    )


def timing_rows(
    timings: Mapping[str, Timing],
    anchors: Sequence[str],
    extra: Callable[[str], Sequence[Any]] = lambda name: (),
) -> list[tuple[Any, ...]]:
    """One row per contender: its name, best and median seconds, its median divided by the
    median of each of ``anchors`` (contenders of the same ``timings``), then ``extra(name)``."""
    return [
        (name, t.best, t.median, *(t.median / timings[a].median for a in anchors), *extra(name))
        for name, t in timings.items()
    ]


def load_average() -> str:
    """The 1-minute load average, for a caption (other jobs on the machine slow every row)."""
    return f"load {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "load n/a"


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
