"""One epoch of a 50→64→1 ReLU MLP: bcekit.nn vs torch (CPU, 2 threads) vs scikit-learn.

Adam (lr 1e-3), batch 256, BCE with logits, shuffled minibatches, on 100k×50 rows in
float32 and in float64. Each contender trains a fresh model for one warm-up epoch and
then ``repeat`` timed epochs; the table gives seconds per epoch and the ratios to torch and
to scikit-learn measured in the same run, plus the mean training loss of the last epoch as
a check that all three do comparable work. scikit-learn runs with ``alpha=0`` so that all
three minimise the same unregularised loss.

bcekit runs as a training loop would: ``mlp(..., input_grad=False)`` (no gradient for the
data), the parameters packed into one buffer (:func:`bcekit.nn.pack_parameters`) so that
``bcekit.optim.Adam`` makes one update per step, and
``bcekit.losses.BinaryCrossEntropyWithLogits`` for the loss.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from rich.table import Table

from bcekit.losses import BinaryCrossEntropyWithLogits
from bcekit.nn import mlp, pack_parameters
from bcekit.optim import Adam
from benchmarks._common import compare, console, table

N_FEATURES, N_HIDDEN, BATCH, LR = 50, 64, 256, 1e-3


def make_data(n_samples: int, dtype: Any, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian features and labels from a noisy linear rule (learnable, not separable)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_samples, N_FEATURES))
    w = rng.standard_normal(N_FEATURES) / math.sqrt(N_FEATURES)
    y = (x @ w + 0.5 * rng.standard_normal(n_samples) > 0).astype(dtype)
    return x.astype(dtype), y


def epoch_bcekit(x: np.ndarray, y: np.ndarray, seed: int = 0) -> Callable[[], float]:
    """A closure that runs one epoch of bcekit training and returns the mean batch loss."""
    model = mlp(N_FEATURES, [N_HIDDEN], 1, dtype=x.dtype, random_state=seed, input_grad=False)
    opt = Adam([pack_parameters(model)], lr=LR)
    loss = BinaryCrossEntropyWithLogits()
    rng = np.random.default_rng(seed)
    y2 = y.reshape(-1, 1)

    def epoch() -> float:
        perm = rng.permutation(len(x))
        total = 0.0
        for start in range(0, len(x), BATCH):
            idx = perm[start : start + BATCH]
            opt.zero_grad()
            value, grad = loss.value_and_grad(model.forward(x[idx]), y2[idx])
            model.backward(grad)
            opt.step()
            total += value * len(idx)
        return total / len(x)

    return epoch


def epoch_torch(x: np.ndarray, y: np.ndarray, seed: int = 0) -> Callable[[], float]:
    """The same epoch in torch: nn.Sequential, default Adam, BCEWithLogitsLoss."""
    import torch

    torch.set_num_threads(2)
    torch.manual_seed(seed)
    dtype = torch.float32 if x.dtype == np.float32 else torch.float64
    model = torch.nn.Sequential(
        torch.nn.Linear(N_FEATURES, N_HIDDEN), torch.nn.ReLU(), torch.nn.Linear(N_HIDDEN, 1)
    ).to(dtype)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.reshape(-1, 1))
    gen = torch.Generator().manual_seed(seed)

    def epoch() -> float:
        perm = torch.randperm(len(x), generator=gen)
        total = 0.0
        for start in range(0, len(x), BATCH):
            idx = perm[start : start + BATCH]
            opt.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        return total / len(x)

    return epoch


def epoch_sklearn(x: np.ndarray, y: np.ndarray, seed: int = 0) -> Callable[[], float]:
    """scikit-learn's MLPClassifier fitted for one epoch (max_iter=1) from scratch."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    labels = y.astype(np.int64)

    def epoch() -> float:
        clf = MLPClassifier(
            hidden_layer_sizes=(N_HIDDEN,),
            solver="adam",
            batch_size=BATCH,
            max_iter=1,
            learning_rate_init=LR,
            alpha=0.0,
            random_state=seed,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(x, labels)
        return float(clf.loss_)

    return epoch


CONTENDERS: dict[str, Callable[..., Callable[[], float]]] = {
    "bcekit": epoch_bcekit,
    "torch": epoch_torch,
    "sklearn": epoch_sklearn,
}


def _recording(
    losses: dict[str, float], name: str, epoch: Callable[[], float]
) -> Callable[[], None]:
    """``epoch`` as a no-argument call that stores its training loss under ``name``."""

    def call() -> None:
        losses[name] = epoch()

    return call


def run(
    n_samples: int = 100_000, repeat: int = 5, dtypes: tuple[str, ...] = ("float32", "float64")
) -> Table:
    """Time one epoch per contender and dtype; a table with seconds and ratios.

    The contenders' epochs are interleaved (:func:`benchmarks._common.compare`), so load on
    a shared machine hits them alike; ratios use the medians of the same run.
    """
    rows = []
    for dtype in dtypes:
        x, y = make_data(n_samples, dtype)
        losses: dict[str, float] = {}
        calls = {name: _recording(losses, name, make(x, y)) for name, make in CONTENDERS.items()}
        timings = compare(calls, repeat=repeat)
        torch_s, sklearn_s = timings["torch"].median, timings["sklearn"].median
        for name, t in timings.items():
            rows.append(
                (
                    f"{dtype} {name}",
                    t.best,
                    t.median,
                    t.median / torch_s,
                    t.median / sklearn_s,
                    losses[name],
                )
            )
    return table(
        f"MLP {N_FEATURES}→{N_HIDDEN}→1 ReLU, Adam, batch {BATCH}: one epoch of {n_samples:,} rows",
        ["contender", "best s", "median s", "÷ torch", "÷ sklearn", "train loss"],
        rows,
        caption="targets: bcekit ≤ 1.0× torch and ≤ 0.5× sklearn (medians of one run)",
    )


if __name__ == "__main__":
    console.print(run())
