"""BCE-with-logits value + gradient: the public calls and the fused kernel against PyTorch.

Every table measures what a user gets, the public call with default arguments, beside the
kernel row (the fused kernel writing into a preallocated buffer), with ratios to anchors
measured in the same process, interleaved round by round, as medians:

1. 10^7 elements in float32 and float64, mean reduction, hard 0/1 targets, each in a fresh
   process: its first public call (Numba start-up, first touch of every buffer), then the
   steady state of ``BinaryCrossEntropyWithLogits().value_and_grad(x, y)``, the functional
   ``binary_cross_entropy_with_logits_value_and_grad(x, y)``, the class with ``out=``, the
   value alone, the kernel, a naive NumPy formula, PyTorch forward + backward (2 threads) and
   ``np.copyto`` as the bandwidth yardstick. GB/s counts ``3 n itemsize`` bytes (read logits
   and targets, write the gradient); ``np.copyto`` moves ``2 n itemsize``.
2. The first public call in a fresh process with a cold and with a warm Numba cache, beside
   PyTorch's first forward + backward in the same process.
3. Small sizes: the public call, the kernel and a stable NumPy implementation, the
   measurement behind ``bcekit.losses._kernels.FUSED_MIN_SIZE``.
4. The Array API: the portable implementation on NumPy arrays (through
   ``array_api_compat.numpy``) against the fused path, and bcekit on torch CPU tensors against
   PyTorch forward + backward, at a tenth of the size of table 1.

The 2-thread contenders need both cores at once; see ``benchmarks/__main__.py`` on the OpenMP
wait policy of a shared machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Group

from benchmarks._common import child_environment, compare, stable_numpy_bce, table

PUBLIC = "loss.value_and_grad(x, y)"
FUNCTIONAL = "value_and_grad function (x, y)"
WITH_OUT = "loss.value_and_grad(x, y, out=)"
VALUE = "loss(x, y), value only"
KERNEL = "kernel, preallocated out="
TORCH = "torch fwd+bwd (2 threads)"
COPY = "np.copyto (bandwidth)"
# Row: (x faster than torch, % of copy bandwidth); None = no target.
TARGETS = {
    "float32": {PUBLIC: (12.0, 60.0), WITH_OUT: (15.0, None)},
    "float64": {PUBLIC: (4.0, None)},
}
_ROOT = Path(__file__).resolve().parent.parent
_LEGEND = (
    "loss = BinaryCrossEntropyWithLogits(); value_and_grad function = "
    "binary_cross_entropy_with_logits_value_and_grad; both with default arguments"
)


def _naive_numpy(z: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    with np.errstate(all="ignore"):
        p = 1.0 / (1.0 + np.exp(-z))
        value = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
        return float(value), (p - y) / z.size


def _torch_step(z: np.ndarray, y: np.ndarray) -> Callable[[], float] | None:
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


def _data(dtype: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    z = (3.0 * rng.standard_normal(n)).astype(dtype)
    return z, (rng.random(n) < 0.5).astype(dtype)


def _first(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def _throughput_worker(dtype: str, n: int, repeat: int) -> dict[str, Any]:
    """Run in a fresh process: the first public call, then every contender round-robin."""
    z, y = _data(dtype, n)
    t_import, _ = _first(lambda: __import__("bcekit.losses"))
    from bcekit.losses import (
        BinaryCrossEntropyWithLogits,
        _kernels,
        binary_cross_entropy_with_logits_value_and_grad,
    )

    loss = BinaryCrossEntropyWithLogits()
    t_first, _ = _first(lambda: loss.value_and_grad(z, y))
    grad, out = np.empty_like(z), np.empty_like(z)
    fns: dict[str, Callable[[], float]] = {
        PUBLIC: lambda: float(loss.value_and_grad(z, y)[0]),
        FUNCTIONAL: lambda: float(binary_cross_entropy_with_logits_value_and_grad(z, y)[0]),
        WITH_OUT: lambda: float(loss.value_and_grad(z, y, out=out)[0]),
        VALUE: lambda: float(loss(z, y)),
        KERNEL: lambda: _kernels.bce_with_logits_fused(z, y, None, grad, 1.0, 0.0, 1.0 / n) / n,
        "naive NumPy log(sigmoid)": lambda: _naive_numpy(z, y)[0],
    }
    torch_fn = _torch_step(z, y)
    if torch_fn is not None:
        fns[TORCH] = torch_fn
    src, dst = np.ones_like(z), np.empty_like(z)
    fns[COPY] = lambda: float(np.copyto(dst, src) or 0.0)
    values = {name: fn() for name, fn in fns.items()}
    times = compare(fns, repeat=repeat, pause=0.05)
    return {
        "first": {"import bcekit.losses": t_import, f"first {PUBLIC}": t_first},
        "median": {name: t.median for name, t in times.items()},
        "values": values,
    }


def _fresh(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run this module's worker ``args`` in a fresh interpreter; return its JSON answer.

    The interpreter gets the environment the benchmarks were started with
    (:func:`benchmarks._common.child_environment`), not the PASSIVE OpenMP wait policy of
    ``python -m benchmarks``: Numba's OpenMP threads then sleep between calls and a 10^7
    element pass took 6–9 ms instead of 4.6 ms (medians of 20, 2-core VM).
    """
    env = {**child_environment(), **(env or {})}
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_losses", *args],
        cwd=_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(run.stdout.strip().splitlines()[-1])


def _throughput_table(dtype: str, n: int, repeat: int) -> Any:
    got = _fresh("throughput", dtype, str(n), str(repeat))
    med, values = got["median"], got["values"]
    itemsize = np.dtype(dtype).itemsize
    copy_gbs = 2 * n * itemsize / med[COPY] / 1e9
    torch_t = med.get(TORCH)
    rows, verdicts = [], []
    for name, t in med.items():
        gbs = (2 if name == COPY else 3) * n * itemsize / t / 1e9
        speedup = None if torch_t is None else torch_t / t
        share = 100 * gbs / copy_gbs
        loss = None if name == COPY else f"{values[name]:.9g}"
        shown = None if speedup is None else f"{speedup:.1f}x"
        rows.append([name, 1e3 * t, 1e9 * t / n, gbs, shown, f"{share:.0f}%", loss])
        wanted = TARGETS[dtype].get(name, (None, None))
        for want, have, unit in zip(wanted, (speedup, share), ("x", "%"), strict=True):
            if want is not None and have is not None:
                ok = "met" if have >= want else "NOT met"
                verdicts.append(f"{name}: >= {want:g}{unit} ({have:.1f}{unit}) {ok}")
    first = ", ".join(f"{k} {v:.2f} s" for k, v in got["first"].items())
    return table(
        f"BCE with logits, value + gradient, n = {n:,} {dtype}, fresh process (medians)",
        ["method", "ms", "ns/element", "GB/s", "vs torch", "% of copy", "mean loss"],
        rows,
        caption="\n".join([_LEGEND, first, *verdicts]),
    )


def _first_call_worker(n: int) -> dict[str, float]:
    """Run in a fresh process: seconds of the first import and calls, torch's first step."""
    out = {}
    t, _ = _first(lambda: __import__("bcekit.losses"))
    out["import bcekit.losses"] = t
    from bcekit.losses import BinaryCrossEntropyWithLogits, _kernels

    for dtype in ("float32", "float64"):
        z, y = _data(dtype, n)
        small = z[:1000].copy(), y[:1000].copy()
        out[f"{dtype} public, 1000 elements"], _ = _first(
            lambda s=small: BinaryCrossEntropyWithLogits().value_and_grad(*s)
        )
        out[f"{dtype} public, {n:,} elements"], _ = _first(
            lambda z=z, y=y: BinaryCrossEntropyWithLogits().value_and_grad(z, y)
        )
        out[f"{dtype} kernel out=, {n:,} elements"], _ = _first(
            lambda z=z, y=y: _kernels.bce_with_logits_fused(z, y, None, np.ones_like(z), 1, 0, 1)
        )
        step = _torch_step(z, y)
        if step is not None:
            out[f"{dtype} torch fwd+bwd, {n:,} elements"], _ = _first(step)
    return out


def _crossover_rows(dtype: str, sizes: tuple[int, ...]) -> list[list[Any]]:
    from bcekit.losses import BinaryCrossEntropyWithLogits
    from bcekit.losses._kernels import bce_with_logits_fused

    rng = np.random.default_rng(1)
    loss = BinaryCrossEntropyWithLogits()
    rows = []
    for n in sizes:
        z = rng.standard_normal(n).astype(dtype)
        y = rng.random(n).astype(dtype)
        grad = np.empty_like(z)
        t = compare(
            {
                "public": lambda z=z, y=y: loss.value_and_grad(z, y),
                "fused": lambda z=z, y=y, g=grad: bce_with_logits_fused(z, y, None, g, 1, 0, 1),
                "numpy": lambda z=z, y=y: stable_numpy_bce(z, y),
            },
            repeat=max(3, min(200, 2_000_000 // max(n, 1))),
        )
        public, fused, numpy = t["public"].median, t["fused"].median, t["numpy"].median
        row = [f"{dtype} n={n:,}", 1e6 * public, 1e6 * fused, 1e6 * numpy]
        rows.append([*row, f"{numpy / fused:.1f}x", f"{numpy / public:.1f}x"])
    return rows


def _array_api_rows(dtype: str, n: int, repeat: int) -> list[list[Any]]:
    """The portable path on NumPy arrays against the fused one; on torch CPU tensors, the
    public call (NumPy views of the tensors through the fused path) and the portable path
    (what tensors needing a gradient or on a GPU take) against torch's own loss, all
    ``value_and_grad`` with default arguments."""
    from array_api_compat import numpy as np_namespace

    from bcekit.losses import BinaryCrossEntropyWithLogits
    from bcekit.losses.binary import _with_logits

    z, y = _data(dtype, n)
    loss = BinaryCrossEntropyWithLogits()
    numpy_fns = {
        "fused (the NumPy path)": lambda: loss.value_and_grad(z, y),
        "portable on NumPy arrays": lambda: _with_logits.portable(
            np_namespace, z, y, need_grad=True
        ),
    }
    groups = [("NumPy", numpy_fns)]
    torch_step = _torch_step(z, y)
    if torch_step is not None:
        import torch
        from array_api_compat import torch as torch_namespace

        zt, yt = torch.from_numpy(z), torch.from_numpy(y)
        groups.append(
            (
                "torch CPU",
                {
                    TORCH: torch_step,
                    "bcekit loss.value_and_grad on tensors": lambda: loss.value_and_grad(zt, yt),
                    "bcekit portable on tensors": lambda: _with_logits.portable(
                        torch_namespace, zt, yt, need_grad=True
                    ),
                },
            )
        )
    rows = []
    for library, fns in groups:
        times = compare(fns, repeat=repeat, pause=0.05)
        anchor = next(iter(times.values())).median
        for name, t in times.items():
            rows.append([f"{library} {dtype}", name, 1e3 * t.median, f"{t.median / anchor:.2f}x"])
    return rows


def run(n: int = 10**7, repeat: int = 9) -> Group:
    """Run the measurements and return their tables."""
    from bcekit.losses._kernels import FUSED_MIN_SIZE

    tables = [_throughput_table(dtype, n, repeat) for dtype in ("float32", "float64")]
    with tempfile.TemporaryDirectory() as cache:
        env = {"NUMBA_CACHE_DIR": cache}
        cold, warm = (_fresh("first", str(n), env=env) for _ in range(2))
    tables.append(
        table(
            "First calls in a fresh process (import, then compile or load from cache), seconds",
            ["step", "cold Numba cache", "warm Numba cache"],
            [[k, cold[k], warm[k]] for k in cold],
        )
    )
    sizes = (1, 16, 256, 4096, 65536)
    rows = _crossover_rows("float64", sizes) + _crossover_rows("float32", sizes)
    tables.append(
        table(
            "Small arrays: value + gradient, median us (public call with default arguments)",
            ["size", "public us", "kernel us", "NumPy us", "NumPy / kernel", "NumPy / public"],
            rows,
            caption=f"FUSED_MIN_SIZE = {FUSED_MIN_SIZE}",
        )
    )
    n_api = n // 10
    rows = _array_api_rows("float32", n_api, repeat) + _array_api_rows("float64", n_api, repeat)
    tables.append(
        table(
            f"Array API: value + gradient of {n_api:,} elements (medians)",
            ["input", "method", "ms", "÷ first row"],
            rows,
            caption="NumPy: portable vs fused (what the fast path is worth); "
            "torch CPU tensors: bcekit vs torch's own loss with autograd",
        )
    )
    return Group(*tables)


if __name__ == "__main__":  # the fresh-process workers of run()
    kind, *params = sys.argv[1:]
    if kind == "throughput":
        answer = _throughput_worker(params[0], int(params[1]), int(params[2]))
    else:
        answer = _first_call_worker(int(params[0]))
    print(json.dumps(answer))
