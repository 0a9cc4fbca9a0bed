"""One epoch of a 50→64→1 ReLU MLP: bcekit.nn vs torch (CPU, 2 threads) vs scikit-learn.

Adam (lr 1e-3), batch 256, BCE with logits, shuffled minibatches, on 100k×50 rows in
float32 and in float64. Each contender trains a fresh model for one warm-up epoch and
then ``repeats`` timed epochs; the table gives the median seconds per epoch and the ratio
to torch measured in the same run, plus the mean training loss of the last epoch as a
check that all three do the same work.
"""

from __future__ import annotations

import math
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.special import expit

from bcekit.nn import mlp, pack_parameters

N_FEATURES, N_HIDDEN, BATCH, LR = 50, 64, 256, 1e-3


def make_data(n_samples: int, dtype: Any, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian features and labels from a noisy linear rule (learnable, not separable)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_samples, N_FEATURES))
    w = rng.standard_normal(N_FEATURES) / math.sqrt(N_FEATURES)
    y = (x @ w + 0.5 * rng.standard_normal(n_samples) > 0).astype(dtype)
    return x.astype(dtype), y


def _bcekit_loss() -> Any:
    """bcekit's BCE-with-logits loss when the losses package provides it, else a local one."""
    try:
        from bcekit.losses import BinaryCrossEntropyWithLogits
    except ImportError:
        return _LocalBCEWithLogits()
    return BinaryCrossEntropyWithLogits()


class _LocalBCEWithLogits:
    """Mean BCE on logits: ``max(z, 0) − z·y + log1p(e^{−|z|})``; gradient ``(σ(z) − y)/N``."""

    def value_and_grad(self, z: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        value = np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))
        grad = expit(z)
        grad -= y
        grad *= 1.0 / z.size
        return float(value), grad


def _bcekit_adam(params: list[Any]) -> Any:
    from bcekit.optim import Adam

    return Adam(params, lr=LR)


def epoch_bcekit(x: np.ndarray, y: np.ndarray, seed: int = 0) -> Callable[[], float]:
    """A closure that runs one epoch of bcekit training and returns the mean batch loss."""
    model = mlp(N_FEATURES, [N_HIDDEN], 1, dtype=x.dtype, random_state=seed, input_grad=False)
    opt = _bcekit_adam([pack_parameters(model)])
    loss = _bcekit_loss()
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
            hidden_layer_sizes=(N_HIDDEN,), solver="adam", batch_size=BATCH, max_iter=1,
            learning_rate_init=LR, alpha=0.0, random_state=seed,
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


def run(
    n_samples: int = 100_000, repeats: int = 3, dtypes: tuple[str, ...] = ("float32", "float64")
) -> list[dict[str, Any]]:
    """Time one epoch per contender and dtype; rows with seconds and the ratio to torch.

    Epochs of the contenders are interleaved (one of each per repeat) so that load on a
    shared machine affects them alike.
    """
    rows = []
    for dtype in dtypes:
        x, y = make_data(n_samples, dtype)
        epochs = {name: make(x, y) for name, make in CONTENDERS.items()}
        times: dict[str, list[float]] = {name: [] for name in epochs}
        losses: dict[str, float] = {}
        for name, epoch in epochs.items():
            epoch()  # warm-up: compilation, allocator, thread pools
        for _ in range(repeats):
            for name, epoch in epochs.items():
                t0 = time.perf_counter()
                losses[name] = epoch()
                times[name].append(time.perf_counter() - t0)
        anchor = statistics.median(times["torch"])
        for name in epochs:
            seconds = statistics.median(times[name])
            rows.append({
                "case": f"mlp 50-64-1 epoch {dtype}", "impl": name, "seconds": seconds,
                "vs_torch": seconds / anchor, "train_loss": losses[name],
            })
    return rows


def format_rows(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of :func:`run`'s rows."""
    lines = [f"{'case':<28} {'impl':<8} {'s/epoch':>8} {'÷ torch':>8} {'train loss':>10}"]
    lines += [
        f"{r['case']:<28} {r['impl']:<8} {r['seconds']:8.3f} {r['vs_torch']:8.2f} "
        f"{r['train_loss']:10.4f}"
        for r in rows
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(format_rows(run()))
