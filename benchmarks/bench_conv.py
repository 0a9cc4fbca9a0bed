"""One training step of a small conv net: bcekit.nn (im2col + BLAS) vs torch (CPU, 2 threads).

A batch of 16 single-channel 64×64 images goes through conv3×3(1→16) + ReLU,
conv3×3(16→16) + ReLU, conv1×1(16→1) and per-pixel BCE with logits, forward and backward,
in float32. Both sides skip the gradient with respect to the data (bcekit's
``input_grad=False`` on the first convolution; torch's input does not require grad). The
table gives milliseconds per step, the ratio to torch measured in the same run (the
contenders are interleaved), and the largest difference between the two sides' weight
gradients relative to the largest gradient, as a check that both do the same work.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from rich.table import Table

from bcekit.losses import BinaryCrossEntropyWithLogits
from bcekit.nn import Conv2D, ReLU, Sequential
from benchmarks._common import compare, console, table

BATCH, SIZE, WIDTH = 16, 64, 16


def make_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Images in [0, 1) and random 0/1 masks, NHWC float32."""
    rng = np.random.default_rng(seed)
    x = rng.random((BATCH, SIZE, SIZE, 1), dtype=np.float32)
    y = (rng.random((BATCH, SIZE, SIZE, 1)) > 0.5).astype(np.float32)
    return x, y


def bcekit_net(seed: int = 0) -> Sequential:
    return Sequential(
        [
            Conv2D(1, WIDTH, 3, random_state=seed, input_grad=False),
            ReLU(),
            Conv2D(WIDTH, WIDTH, 3, random_state=seed + 1),
            ReLU(),
            Conv2D(WIDTH, 1, 1, random_state=seed + 2),
        ]
    )


def step_bcekit(net: Sequential, x: np.ndarray, y: np.ndarray) -> Callable[[], float]:
    loss = BinaryCrossEntropyWithLogits()

    def step() -> float:
        net.zero_grad()
        value, grad = loss.value_and_grad(net.forward(x), y)
        net.backward(grad)
        return float(value)

    return step


def step_torch(net: Sequential, x: np.ndarray, y: np.ndarray) -> tuple[Callable[[], float], list]:
    """The same step in torch (NCHW), starting from ``net``'s weights; also its conv layers."""
    import torch

    torch.set_num_threads(2)
    convs = [layer for layer in net.layers if isinstance(layer, Conv2D)]
    tconvs = [
        torch.nn.Conv2d(c.in_channels, c.out_channels, c.kernel_size, padding=c.kernel_size // 2)
        for c in convs
    ]
    with torch.no_grad():
        for c, t in zip(convs, tconvs, strict=True):
            t.weight.copy_(torch.from_numpy(c.params["weight"].value.transpose(3, 2, 0, 1).copy()))
            t.bias.copy_(torch.from_numpy(c.params["bias"].value))
    xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    yt = torch.from_numpy(y.transpose(0, 3, 1, 2).copy())
    model = torch.nn.Sequential(tconvs[0], torch.nn.ReLU(), tconvs[1], torch.nn.ReLU(), tconvs[2])

    def step() -> float:
        for p in model.parameters():
            p.grad = None
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(xt), yt)
        loss.backward()
        return float(loss.item())

    return step, tconvs


def gradient_difference(net: Sequential, tconvs: list) -> float:
    """max |bcekit ∂L/∂W − torch ∂L/∂W| over all weights, ÷ max |torch ∂L/∂W|."""
    convs = [layer for layer in net.layers if isinstance(layer, Conv2D)]
    diff = scale = 0.0
    for c, t in zip(convs, tconvs, strict=True):
        expected = t.weight.grad.numpy().transpose(2, 3, 1, 0)
        diff = max(diff, float(np.abs(c.params["weight"].grad - expected).max()))
        scale = max(scale, float(np.abs(expected).max()))
    return diff / scale


def run(repeat: int = 30) -> Table:
    """Time the step for both contenders, interleaved; a table with ms and the ratio to torch."""
    x, y = make_data()
    net = bcekit_net()
    ours = step_bcekit(net, x, y)
    theirs, tconvs = step_torch(net, x, y)
    timings = compare({"bcekit": ours, "torch": theirs}, repeat=repeat, warmup=3, pause=0.005)
    ours(), theirs()
    rel = gradient_difference(net, tconvs)
    torch_ms = timings["torch"].median * 1e3
    rows = [
        (
            name,
            t.best * 1e3,
            t.median * 1e3,
            t.median * 1e3 / torch_ms,
            rel if name == "bcekit" else None,
        )
        for name, t in timings.items()
    ]
    return table(
        f"Conv step, {BATCH}×{SIZE}×{SIZE}×1 float32: conv3×3(1→{WIDTH}), "
        f"conv3×3({WIDTH}→{WIDTH}), conv1×1, BCE; forward + backward",
        ["contender", "best ms", "median ms", "÷ torch", "grad rel diff"],
        rows,
        caption="target: bcekit ≤ 2× torch (medians of one run, interleaved)",
    )


if __name__ == "__main__":
    console.print(run())
