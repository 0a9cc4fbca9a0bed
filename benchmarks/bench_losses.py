"""BCE-with-logits value + gradient: bcekit's fused kernel against NumPy, PyTorch and memcpy.

Three tables:

1. 10^7 elements in float32 and float64, mean reduction, hard 0/1 targets: the fused kernel
   writing into a reused buffer, the public ``BinaryCrossEntropyWithLogits().value_and_grad``,
   a naive NumPy ``log(sigmoid)`` formula, PyTorch forward + backward (2 threads) and
   ``np.copyto`` as the bandwidth yardstick. GB/s counts ``3 n itemsize`` bytes (read logits
   and targets, write the gradient); ``np.copyto`` moves ``2 n itemsize``.
2. Time of the first call in a fresh process with a cold and with a warm Numba cache.
3. Small sizes: the fused kernel against a stable NumPy implementation, the measurement
   behind ``bcekit.losses._kernels.FUSED_MIN_SIZE``.

The 2-thread contenders need both cores at once; see ``benchmarks/__main__.py`` on the OpenMP
wait policy of a shared machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np
from rich.console import Group

from benchmarks._common import compare, stable_numpy_bce, table

TARGETS = {"float32": (8.0, 50.0), "float64": (4.0, None)}  # (x faster than torch, % of copy)


def _naive_numpy(z: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    with np.errstate(all="ignore"):
        p = 1.0 / (1.0 + np.exp(-z))
        value = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
        return float(value), (p - y) / z.size


def _contenders(z: np.ndarray, y: np.ndarray) -> dict[str, Callable[[], float]]:
    """Closures that compute the mean loss and its gradient; each returns the loss."""
    from bcekit.losses._kernels import bce_with_logits_fused

    n = z.size
    grad = np.empty_like(z)
    fns: dict[str, Callable[[], float]] = {
        "bcekit fused (buffer reused)": lambda: (
            bce_with_logits_fused(z, y, None, grad, 1.0, 0.0, 1.0 / n) / n
        )
    }
    try:
        from bcekit.losses import BinaryCrossEntropyWithLogits
    except ImportError:
        pass
    else:
        loss = BinaryCrossEntropyWithLogits()
        fns["bcekit BinaryCrossEntropyWithLogits"] = lambda: float(loss.value_and_grad(z, y)[0])
    fns["naive NumPy log(sigmoid)"] = lambda: _naive_numpy(z, y)[0]
    torch_fn = _torch_contender(z, y)
    if torch_fn is not None:
        fns["torch fwd+bwd (2 threads)"] = torch_fn
    return fns


def _torch_contender(z: np.ndarray, y: np.ndarray) -> Callable[[], float] | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(2)
    zt = torch.from_numpy(z).requires_grad_(True)
    yt = torch.from_numpy(y)

    def step() -> float:
        zt.grad = None
        value = torch.nn.functional.binary_cross_entropy_with_logits(zt, yt)
        value.backward()
        return float(value.item())

    return step


def _throughput_rows(dtype: str, n: int, repeat: int) -> list[list[Any]]:
    rng = np.random.default_rng(0)
    z = (3.0 * rng.standard_normal(n)).astype(dtype)
    y = (rng.random(n) < 0.5).astype(dtype)
    fns = _contenders(z, y)
    src = np.ones(n, dtype=dtype)
    dst = np.empty_like(src)
    fns["np.copyto (bandwidth)"] = lambda: np.copyto(dst, src)
    values = {name: fn() for name, fn in fns.items()}
    times = compare(fns, repeat=repeat, pause=0.05)

    itemsize = np.dtype(dtype).itemsize
    copy_gbs = 2 * n * itemsize / times["np.copyto (bandwidth)"].best / 1e9
    torch_t = times.get("torch fwd+bwd (2 threads)")
    rows = []
    for name, t in times.items():
        is_copy = name.startswith("np.copyto")
        gbs = (2 if is_copy else 3) * n * itemsize / t.best / 1e9
        speedup = None if torch_t is None else f"{torch_t.best / t.best:.1f}x"
        loss = None if is_copy else f"{values[name]:.9g}"
        rows.append([name, 1e9 * t.best / n, gbs, speedup, f"{100 * gbs / copy_gbs:.0f}%", loss])
    return rows


def _verdict(dtype: str, rows: list[list[Any]]) -> str:
    fused = rows[0]
    want_speedup, want_copy = TARGETS[dtype]
    parts = []
    if fused[3] is not None:
        ok = float(fused[3][:-1]) >= want_speedup
        parts.append(f">= {want_speedup:g}x torch: {'met' if ok else 'NOT met'}")
    if want_copy is not None:
        ok = float(fused[4][:-1]) >= want_copy
        parts.append(f">= {want_copy:g}% of copy bandwidth: {'met' if ok else 'NOT met'}")
    return f"{dtype} targets: " + "; ".join(parts)


_FIRST_CALL = """
import json, time
import numpy as np
t0 = time.perf_counter()
from bcekit.losses._kernels import bce_with_logits_fused, _PARALLEL_MIN_SIZE
out = {"import": time.perf_counter() - t0}
for dtype in ("float64", "float32"):
    for label, n in (("serial", 1000), ("parallel", _PARALLEL_MIN_SIZE)):
        z = np.zeros(n, dtype)
        t0 = time.perf_counter()
        bce_with_logits_fused(z, z, None, np.empty_like(z), 1.0, 0.0, 1.0)
        out[f"{dtype} {label}"] = time.perf_counter() - t0
print(json.dumps(out))
"""


def _first_call_times() -> tuple[dict[str, float], dict[str, float]]:
    """Seconds of the first calls in fresh processes sharing a new, then warm, Numba cache."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        runs = [
            subprocess.run(
                [sys.executable, "-c", _FIRST_CALL],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            for _ in range(2)
        ]
    cold, warm = (json.loads(r.stdout.strip().splitlines()[-1]) for r in runs)
    return cold, warm


def _crossover_rows(dtype: str, sizes: tuple[int, ...]) -> list[list[Any]]:
    from bcekit.losses._kernels import bce_with_logits_fused

    rng = np.random.default_rng(1)
    rows = []
    for n in sizes:
        z = rng.standard_normal(n).astype(dtype)
        y = rng.random(n).astype(dtype)
        grad = np.empty_like(z)
        t = compare(
            {
                "fused": lambda z=z, y=y, g=grad: bce_with_logits_fused(z, y, None, g, 1, 0, 1),
                "numpy": lambda z=z, y=y: stable_numpy_bce(z, y),
            },
            repeat=max(3, min(200, 2_000_000 // max(n, 1))),
        )
        fused, numpy = t["fused"].median, t["numpy"].median
        rows.append([f"{dtype} n={n:,}", 1e6 * fused, 1e6 * numpy, f"{numpy / fused:.1f}x"])
    return rows


def run(n: int = 10**7, repeat: int = 7) -> Group:
    """Run the three measurements and return their tables."""
    from bcekit.losses._kernels import FUSED_MIN_SIZE

    columns = ["method", "ns/element", "GB/s", "vs torch", "% of copy", "mean loss"]
    tables = []
    for dtype in ("float32", "float64"):
        rows = _throughput_rows(dtype, n, repeat)
        tables.append(
            table(
                f"BCE with logits, value + gradient, n = {n:,} {dtype}",
                columns,
                rows,
                caption=_verdict(dtype, rows),
            )
        )

    cold, warm = _first_call_times()
    tables.append(
        table(
            "First call in a fresh process (import, then compile or load from cache), seconds",
            ["step", "cold cache", "warm cache"],
            [[k, cold[k], warm[k]] for k in cold],
        )
    )

    sizes = (1, 16, 256, 4096, 65536)
    rows = _crossover_rows("float64", sizes) + _crossover_rows("float32", sizes)
    tables.append(
        table(
            "Small arrays: fused kernel vs stable NumPy (median us per value + gradient)",
            ["size", "fused us", "NumPy us", "NumPy / fused"],
            rows,
            caption=f"FUSED_MIN_SIZE = {FUSED_MIN_SIZE}",
        )
    )
    return Group(*tables)
