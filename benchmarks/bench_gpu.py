"""BCE with logits, value + gradient, on a GPU: bcekit's portable path against torch's own.

For 10^8 logits (float32 and float64) on the first CUDA device:

- ``BinaryCrossEntropyWithLogits().value_and_grad(z, y)`` on torch CUDA tensors and on CuPy
  arrays (the portable path: one library call per formula step, the checks' extrema brought
  to the host in one transfer);
- torch's ``binary_cross_entropy_with_logits`` forward + ``backward`` (autograd), the anchor;
- a device-to-device copy of the logits, for the bandwidth a pass can reach.

Each contender runs 3 times before timing, then the contenders take turns for 10 rounds; each
call is timed with CUDA events after a synchronisation, and the table gives medians. GB/s
counts the bytes a fused pass must move: logits and targets read, gradient written. Without a
GPU the benchmark says so and returns.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from benchmarks._common import table

N = 100_000_000
WARMUP, ROUNDS = 3, 10


def _cuda_torch() -> Any:
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


def _cupy() -> Any:
    try:
        import cupy
    except ImportError:
        return None
    return cupy


def _event_ms(torch: Any, call: Callable[[], Any]) -> float:
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    call()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end)


def _rows(torch: Any, dtype: Any) -> tuple[list[tuple[Any, ...]], float]:
    from bcekit.losses import BinaryCrossEntropyWithLogits

    F = torch.nn.functional
    g = torch.Generator(device="cuda").manual_seed(0)
    z = torch.randn(N, generator=g, device="cuda", dtype=dtype) * 4
    y = (torch.rand(N, generator=g, device="cuda") < 0.4).to(dtype)
    loss = BinaryCrossEntropyWithLogits()

    def torch_fwd_bwd() -> Any:
        leaf = z.detach().requires_grad_(True)
        value = F.binary_cross_entropy_with_logits(leaf, y)
        value.backward()
        return value.detach(), leaf.grad

    contenders: dict[str, Callable[[], Any]] = {
        "bcekit on torch CUDA tensors": lambda: loss.value_and_grad(z, y),
        "torch fwd+bwd (autograd)": torch_fwd_bwd,
        "device copy of the logits": lambda: z.clone(),
    }
    cupy = _cupy()
    if cupy is not None:
        zc, yc = cupy.from_dlpack(z), cupy.from_dlpack(y)
        contenders["bcekit on CuPy arrays"] = lambda: loss.value_and_grad(zc, yc)
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for call in contenders.values():
        for _ in range(WARMUP):
            _event_ms(torch, call)
    for _ in range(ROUNDS):
        for name, call in contenders.items():
            times[name].append(_event_ms(torch, call))
    ours_value, ours_grad = loss.value_and_grad(z, y)
    ref_value, ref_grad = torch_fwd_bwd()
    scale = float(ref_grad.abs().max())
    diff = max(
        abs(float(ours_value) - float(ref_value)) / abs(float(ref_value)),
        float((ours_grad - ref_grad).abs().max()) / scale,
    )
    anchor = statistics.median(times["torch fwd+bwd (autograd)"])
    moved = 3 * N * z.element_size()
    rows = []
    for name, ts in times.items():
        ms = statistics.median(ts)
        bytes_ = 2 * N * z.element_size() if name.startswith("device copy") else moved
        label = f"{str(dtype).split('.')[-1]} {name}"
        rows.append((label, ms, bytes_ / ms / 1e6, f"{anchor / ms:.1f}x"))
    return rows, diff


def run() -> Any:
    torch = _cuda_torch()
    if torch is None:
        return "gpu: no CUDA device seen by torch here; skipped"
    rows, diffs = [], []
    for dtype in (torch.float32, torch.float64):
        found, diff = _rows(torch, dtype)
        rows += found
        diffs.append(f"{str(dtype).split('.')[-1]} {diff:.1e}")
    name = torch.cuda.get_device_name(0)
    return table(
        f"BCE with logits, value + gradient, 10^8 elements on {name} (medians of {ROUNDS})",
        ["contender", "ms", "GB/s", "vs torch"],
        rows,
        caption=(
            "vs torch: torch fwd+bwd's median time over the row's; "
            f"largest relative difference from torch (value, gradient): {', '.join(diffs)}"
        ),
    )
