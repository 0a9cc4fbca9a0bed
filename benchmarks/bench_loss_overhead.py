"""What the public BCE-with-logits API costs on top of the bare fused kernel.

Three tables, each timed round-robin against anchors measured in the same run:

1. A training batch (256 rows, one output): ``BinaryCrossEntropyWithLogits().value_and_grad``
   with ``reduction="mean"`` and with ``"weighted_mean"`` and per-row weights, against the
   bare kernel writing into a reused buffer and a plain stable NumPy loss; microseconds per
   call.
2. Sizes 10^2 to 10^6: the public ``value_and_grad`` on the kernel path and, with
   ``_kernels.FUSED_MIN_SIZE`` raised above the size, on the NumPy path: the check behind
   that threshold.
3. 10^7 elements: the public call without ``out=`` (its gradient recycled by the loss object
   once released) and with ``out=`` a reused buffer, and the bare kernel with a new and with
   a reused buffer; milliseconds per call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from rich.console import Group

from benchmarks._common import compare, stable_numpy_bce, table


def _batch(dtype: str, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = (3.0 * rng.standard_normal((n, 1))).astype(dtype)
    y = (rng.random((n, 1)) < 0.5).astype(dtype)
    w = rng.uniform(0.5, 2.0, (n, 1)).astype(dtype)
    return z, y, w


def _batch_rows(dtype: str, repeat: int, calls: int) -> list[list[Any]]:
    from bcekit.losses import BinaryCrossEntropyWithLogits, _kernels

    z, y, w = _batch(dtype, 256)
    buffer = np.empty_like(z)
    flat = (z.reshape(-1), y.reshape(-1), w.reshape(-1), buffer.reshape(-1))
    rows = []
    for reduction, weight in (("mean", None), ("weighted_mean", w)):
        loss = BinaryCrossEntropyWithLogits(reduction=reduction)
        kernel_w = None if weight is None else flat[2]
        scale = 1.0 / (z.size if weight is None else float(weight.sum(dtype=np.float64)))

        def repeated(fn: Callable[[], Any]) -> Callable[[], None]:
            def run() -> None:
                for _ in range(calls):
                    fn()

            return run

        fns = {
            "bare kernel, buffer reused": repeated(
                lambda kw=kernel_w, s=scale: _kernels.bce_with_logits_fused(
                    flat[0], flat[1], kw, flat[3], 1.0, 0.0, s
                )
            ),
            "value_and_grad": repeated(
                lambda lo=loss, wt=weight: lo.value_and_grad(z, y, weight=wt)
            ),
            "value_and_grad(out=)": repeated(
                lambda lo=loss, wt=weight: lo.value_and_grad(z, y, weight=wt, out=buffer)
            ),
            "plain NumPy, unchecked": repeated(lambda wt=weight: stable_numpy_bce(z, y, wt)),
        }
        times = compare(fns, repeat=repeat)
        anchor = times["bare kernel, buffer reused"].best
        for name, t in times.items():
            us = 1e6 * t.best / calls
            rows.append([f"{dtype} {reduction}", name, us, f"{t.best / anchor:.2f}x"])
    return rows


def _size_rows(dtype: str, sizes: tuple[int, ...]) -> list[list[Any]]:
    from bcekit.losses import BinaryCrossEntropyWithLogits, _kernels

    loss = BinaryCrossEntropyWithLogits()
    default = _kernels.FUSED_MIN_SIZE
    rows = []
    for n in sizes:
        z, y, _ = _batch(dtype, n, seed=1)

        def numpy_path(z: np.ndarray = z, y: np.ndarray = y) -> None:
            _kernels.FUSED_MIN_SIZE = z.size + 1
            try:
                loss.value_and_grad(z, y)
            finally:
                _kernels.FUSED_MIN_SIZE = default

        t = compare(
            {"kernel": lambda z=z, y=y: loss.value_and_grad(z, y), "numpy": numpy_path},
            repeat=max(5, min(300, 3_000_000 // n)),
        )
        kernel, numpy = t["kernel"].best, t["numpy"].best
        rows.append([f"{dtype} n={n:,}", 1e6 * kernel, 1e6 * numpy, f"{numpy / kernel:.1f}x"])
    return rows


def _large_rows(dtype: str, n: int, repeat: int) -> list[list[Any]]:
    from bcekit.losses import BinaryCrossEntropyWithLogits, _kernels

    rng = np.random.default_rng(2)
    z = (3.0 * rng.standard_normal(n)).astype(dtype)
    y = (rng.random(n) < 0.5).astype(dtype)
    buffer = np.empty_like(z)
    loss = BinaryCrossEntropyWithLogits()
    fns = {
        "bare kernel, buffer reused": lambda: _kernels.bce_with_logits_fused(
            z, y, None, buffer, 1.0, 0.0, 1.0 / n
        ),
        "bare kernel, new gradient": lambda: _kernels.bce_with_logits_fused(
            z, y, None, np.empty_like(z), 1.0, 0.0, 1.0 / n
        ),
        "value_and_grad": lambda: loss.value_and_grad(z, y),
        "value_and_grad(out=)": lambda: loss.value_and_grad(z, y, out=buffer),
    }
    times = compare(fns, repeat=repeat, pause=0.05)
    anchor = times["bare kernel, buffer reused"].best
    return [
        [f"{dtype} n={n:,}", name, 1e3 * t.best, f"{t.best / anchor:.2f}x"]
        for name, t in times.items()
    ]


def run(repeat: int = 15, calls: int = 200) -> Group:
    """Run the three measurements and return their tables."""
    columns = ["case", "method", "us/call", "÷ bare kernel"]
    batch = _batch_rows("float32", repeat, calls) + _batch_rows("float64", repeat, calls)
    sizes = (100, 1000, 10_000, 100_000, 1_000_000)
    by_size = _size_rows("float32", sizes) + _size_rows("float64", sizes)
    large = _large_rows("float32", 10**7, 7) + _large_rows("float64", 10**7, 7)
    return Group(
        table("Training batch, 256 x 1: value and gradient (best of rounds)", columns, batch),
        table(
            "BinaryCrossEntropyWithLogits().value_and_grad: kernel path vs NumPy path (best us)",
            ["size", "kernel us", "NumPy us", "NumPy / kernel"],
            by_size,
        ),
        table(
            "10^7 elements, mean: where the public call spends its time (best of rounds)",
            ["case", "method", "ms/call", "÷ bare kernel"],
            large,
        ),
    )
