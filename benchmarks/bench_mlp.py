"""A 50→64→1 ReLU MLP on 100k×50 rows: bcekit vs torch (CPU, 2 threads) vs scikit-learn.

Two tables. **As users call it**: ``MLPClassifier((64,), solver="adam", batch_size=256,
max_iter=3, early_stopping=False).fit(X, y)`` on float32 data, whole fit (validation and
set-up included), against scikit-learn's ``MLPClassifier`` with the same arguments and the
same three epochs written as a torch loop (model built inside the timed call). Each runs in
fresh processes (:func:`benchmarks._common.fresh_process`, interleaved): the first fit of a
process and a later one, medians. A fresh process fits on NumPy's ufuncs (Numba's start-up
would cost more than the fit, see :func:`bcekit.estimators._training.kernels_pay`); the
"Numba loaded first" processes call a BCE kernel in their set-up, as a process that already
uses Numba has, and fit on the compiled loops; bcekit's engine row (the loop below, three
epochs) is timed in those. The torch processes run with ``OMP_WAIT_POLICY=PASSIVE`` unless the
environment sets it: on a loaded machine torch's spinning OpenMP threads otherwise stall it.

**The engine**: one epoch, Adam (lr 1e-3), batch 256, BCE with logits, shuffled
minibatches, float32 and float64, in this process, contenders interleaved
(:func:`benchmarks._common.compare`); seconds per epoch, ratios to torch and scikit-learn
(``alpha=0`` so that all three minimise the same loss) and the last epoch's mean loss as a
check that all three do comparable work. bcekit runs as a training loop would:
``mlp(..., input_grad=False)``, the parameters packed into one buffer
(:func:`bcekit.nn.pack_parameters`) so that ``bcekit.optim.Adam`` makes one update per step,
and ``bcekit.losses.BinaryCrossEntropyWithLogits`` for the loss.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from rich.console import Group
from rich.table import Table

from bcekit.losses import BinaryCrossEntropyWithLogits
from bcekit.nn import mlp, pack_parameters
from bcekit.optim import Adam
from benchmarks._common import (
    LOAD_KERNELS,
    FreshCall,
    compare,
    console,
    fresh_process,
    load_average,
    table,
    timing_rows,
)

N_FEATURES, N_HIDDEN, BATCH, LR = 50, 64, 256, 1e-3
EPOCHS = 3  # of the fresh-process fit
TARGET_TORCH, TARGET_SKLEARN = 0.25, 0.3  # MLPClassifier.fit ÷ the anchors' time


def make_data(n_samples: int, dtype: Any, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian features and labels from a noisy linear rule (learnable, not separable)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_samples, N_FEATURES))
    w = rng.standard_normal(N_FEATURES) / math.sqrt(N_FEATURES)
    y = (x @ w + 0.5 * rng.standard_normal(n_samples) > 0).astype(dtype)
    return x.astype(dtype), y


def epoch_bcekit(
    x: np.ndarray, y: np.ndarray, seed: int = 0, batch: int = BATCH
) -> Callable[[], float]:
    """A closure that runs one epoch of bcekit training and returns the mean batch loss."""
    model = mlp(N_FEATURES, [N_HIDDEN], 1, dtype=x.dtype, random_state=seed, input_grad=False)
    opt = Adam([pack_parameters(model)], lr=LR)
    loss = BinaryCrossEntropyWithLogits()
    rng = np.random.default_rng(seed)
    y2 = y.reshape(-1, 1)

    def epoch() -> float:
        perm = rng.permutation(len(x))
        total = 0.0
        for start in range(0, len(x), batch):
            idx = perm[start : start + batch]
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


def _engine_table(n_samples: int, repeat: int, dtypes: tuple[str, ...]) -> Table:
    """One epoch per contender and dtype, interleaved in this process."""
    rows: list[tuple[object, ...]] = []
    losses: dict[str, float] = {}
    for dtype in dtypes:
        x, y = make_data(n_samples, dtype)
        calls = {
            f"{dtype} {name}": _recording(losses, f"{dtype} {name}", make(x, y))
            for name, make in CONTENDERS.items()
        }
        timings = compare(calls, repeat=repeat)
        rows += timing_rows(timings, [f"{dtype} torch", f"{dtype} sklearn"], lambda n: (losses[n],))
    return table(
        f"MLP engine {N_FEATURES}→{N_HIDDEN}→1 ReLU, Adam, batch {BATCH}: one epoch of "
        f"{n_samples:,} rows",
        ["contender", "best s", "median s", "÷ torch", "÷ sklearn", "train loss"],
        rows,
        caption="targets: bcekit ≤ 1.0× torch and ≤ 0.5× sklearn (medians of one run)",
    )


_SETUP = """
import warnings
warnings.simplefilter("ignore")  # scikit-learn's and bcekit's ConvergenceWarning after 3 epochs
import numpy as np
from benchmarks.bench_mlp import make_data, epoch_bcekit, epoch_torch
x, y = make_data({n}, "float32")
labels = y.astype(np.int64)
"""
# The torch anchor's OpenMP threads yield instead of spinning (as in the in-process tables of
# ``python -m benchmarks``): spinning on a loaded 2-core machine made its loop 100x slower.
_PASSIVE = 'import os\nos.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")\n'
_ESTIMATOR = (
    "model = MLPClassifier(({hidden},), solver='adam', batch_size={batch}, max_iter={epochs}, "
    "early_stopping=False).fit(x, labels)"
)


def _fit_table(n_samples: int, repeat: int) -> Table:
    """The whole ``MLPClassifier.fit`` in fresh processes, with torch and scikit-learn."""
    setup = _SETUP.format(n=n_samples)
    fit = _ESTIMATOR.format(hidden=N_HIDDEN, batch=BATCH, epochs=EPOCHS)
    loops = f"epoch = {{}}(x, y)\nfor _ in range({EPOCHS}):\n    last = epoch()\n"
    calls = {
        "bcekit": FreshCall(
            setup=setup + "from bcekit.estimators import MLPClassifier\n",
            call=fit,
            report="float(model.loss_curve_[-1])",
        ),
        "bcekit compiled": FreshCall(
            setup=setup + LOAD_KERNELS + "from bcekit.estimators import MLPClassifier\n",
            call=fit,
            also={"engine": loops.format("epoch_bcekit")},
            report="[float(model.loss_curve_[-1]), float(last)]",
        ),
        "torch": FreshCall(
            setup=_PASSIVE + setup + "import torch\n",
            call=loops.format("epoch_torch"),
            report="float(last)",
        ),
        "sklearn": FreshCall(
            setup=setup + "from sklearn.neural_network import MLPClassifier\n",
            call=fit,
            report="float(model.loss_curve_[-1])",
        ),
    }
    t = fresh_process(calls, repeat=repeat, steady=1)
    ours, compiled, torch_t, sk = t["bcekit"], t["bcekit compiled"], t["torch"], t["sklearn"]
    compiled_loss, engine_loss = compiled.report

    def ratios(first: float | None, later: float) -> list[Any]:
        firsts = [None, None] if first is None else [first / torch_t.first, first / sk.first]
        return [*firsts, later / torch_t.steady, later / sk.steady]

    rows = [
        ["bcekit MLPClassifier", ours.first, ours.steady, *ratios(ours.first, ours.steady),
         ours.report],
        ["  Numba loaded first", compiled.first, compiled.steady,
         *ratios(compiled.first, compiled.steady), compiled_loss],
        ["  its engine (loop below)", None, compiled.also["engine"],
         *ratios(None, compiled.also["engine"]), engine_loss],
        ["torch loop", torch_t.first, torch_t.steady, *ratios(torch_t.first, torch_t.steady),
         torch_t.report],
        ["sklearn MLPClassifier", sk.first, sk.steady, *ratios(sk.first, sk.steady), sk.report],
    ]  # fmt: skip
    worst = rows[0][3:7]
    met = max(worst[0], worst[2]) <= TARGET_TORCH and max(worst[1], worst[3]) <= TARGET_SKLEARN
    return table(
        f"MLPClassifier(({N_HIDDEN},), adam, batch {BATCH}, {EPOCHS} epochs).fit, "
        f"{n_samples:,}×{N_FEATURES} float32",
        ["fit", "1st s", "later s", "÷ torch 1st", "÷ sk 1st", "÷ torch later", "÷ sk later",
         "loss"],
        rows,
        caption=(
            f"fresh processes, medians of {repeat} each, interleaved ({load_average()} at the "
            f"end); torch with OMP_WAIT_POLICY=PASSIVE unless set; engine loss: alpha=0, the "
            f"estimators' alpha=1e-4; target ≤ {TARGET_TORCH}× "
            f"torch and ≤ {TARGET_SKLEARN}× sklearn, first and later fit: "
            + ("met" if met else "NOT met")
        ),
    )  # fmt: skip


def run(
    n_samples: int = 100_000, repeat: int = 3, dtypes: tuple[str, ...] = ("float32", "float64")
) -> Group:
    """The fresh-process fit table, then the in-process engine table."""
    return Group(_fit_table(n_samples, repeat), _engine_table(n_samples, repeat, dtypes))


if __name__ == "__main__":
    console.print(run())
