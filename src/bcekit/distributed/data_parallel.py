r"""Synchronous data-parallel minibatch gradients of a network over dask row blocks.

One optimiser step of minibatch training needs the gradient of the batch's summed loss. With
the rows spread over persisted dask blocks, the minibatch of step ``t`` of an epoch is the
union of one *share* per block: every epoch each block shuffles its own rows (seeded by
``(seed, epoch, block)``) and cuts them into ``n_steps`` nearly equal shares, so the batch of
step ``t`` holds about ``n / n_steps`` rows drawn from every block, and every row is used once
per epoch. Each block computes, on its worker,

.. math:: \Big(\sum_{i \in \text{share}} ℓ_i,\quad
          \frac{\partial}{\partial θ} \sum_{i \in \text{share}} ℓ_i,\quad
          \sum_{i \in \text{share}} s_i\Big)

(``ℓ`` weighted by ``s`` through the loss; the last term is the share's row weight, ``s``
averaged over a row's labels), and the three are added in a tree on the workers. The client
divides by the summed row weight and steps its optimiser; the next call ships the new
parameters. With ``n_steps = 1`` the sums run over all rows: the full-batch gradient, equal to
the in-memory one up to the order of the additions.

Dropout masks are drawn from a generator seeded by ``(seed, epoch, step, block)``.
"""

from __future__ import annotations

import copy
import threading
import uuid
from typing import Any

import numpy as np

from bcekit.distributed._graph import BlockSum, broadcast, one_thread, params_nbytes, ship
from bcekit.distributed.logistic import as_row_blocks

_LOCAL = threading.local()


class DataParallelGradient:
    """``(θ, epoch, step, n_steps) -> (Σ sℓ, ∂(Σ sℓ)/∂θ, Σ s)`` for one step's minibatch.

    Parameters
    ----------
    network : bcekit.nn.Layer
        The model (``forward``/``backward``/``zero_grad``/``train``); a copy is sent to every
        worker once. ``θ`` is the flat vector of :func:`bcekit.nn.pack_parameters` of it.
    X : dask array, shape (n_samples, n_features)
    y : dask array, shape (n_samples,) or (n_samples, n_outputs)
        Targets as ``loss`` takes them.
    sample_weight : dask array, shape (n_samples,) or (n_samples, n_outputs), optional
        Passed to ``loss`` as ``weight``.
    loss : loss object
        A :mod:`bcekit.losses` class built with ``reduction="sum"``.
    seed : int
        Seed of the per-epoch shuffling of each block and of the dropout masks.

    Attributes
    ----------
    n_samples : int
    n_calls : int
        Evaluations so far.
    """

    def __init__(
        self,
        network: Any,
        X: Any,
        y: Any,
        sample_weight: Any = None,
        *,
        loss: Any,
        seed: int,
    ) -> None:
        import dask

        if getattr(loss, "reduction", None) != "sum":
            raise ValueError(
                f"loss must be built with reduction='sum'; got {getattr(loss, 'reduction', None)!r}"
            )
        X, y, sample_weight = as_row_blocks(X, y, sample_weight)
        self._persisted = dask.persist(X, y, sample_weight)
        X, y, sample_weight = self._persisted
        self.n_samples = X.shape[0]
        self._sum = BlockSum([X, y, sample_weight])
        template = copy.deepcopy(network)
        template.zero_grad()
        self._network = broadcast((uuid.uuid4().hex, template))
        self._config = {"loss": loss, "seed": int(seed)}
        self.n_calls = 0

    def __call__(
        self, theta: np.ndarray, *, epoch: int, step: int, n_steps: int
    ) -> tuple[float, np.ndarray, float]:
        """Summed loss, its gradient (float64) and the summed row weight of one minibatch.

        Parameters
        ----------
        theta : ndarray
            The flat parameter vector.
        epoch : int
            Epoch number (seeds the shuffle of the rows within each block).
        step, n_steps : int
            The step ``0 <= step < n_steps`` of the epoch, and the steps per epoch.
        """
        if not 0 <= step < n_steps:
            raise ValueError(f"step must lie in [0, {n_steps}); got {step}")
        theta = ship(np.array(theta), params_nbytes(theta))
        where = (int(epoch), int(step), int(n_steps))
        value, grad, total = self._sum(_block_gradient, self._network, theta, self._config, where)
        self.n_calls += 1
        return float(value), np.asarray(grad, dtype=np.float64), float(total)


def _worker_network(shipped: tuple[str, Any]) -> tuple[Any, Any, list[Any]]:
    """This thread's copy of the network, its packed parameter and its dropout layers."""
    from bcekit.nn import Dropout, pack_parameters

    key, template = shipped
    if getattr(_LOCAL, "key", None) != key:
        network = copy.deepcopy(template)
        dropouts = [layer for layer in _layers(network) if isinstance(layer, Dropout)]
        _LOCAL.key, _LOCAL.entry = key, (network, pack_parameters(network), dropouts)
    return _LOCAL.entry


def _layers(layer: Any) -> list[Any]:
    """``layer`` and all its sub-layers, depth first."""
    return [layer, *(sub for _, child in layer.children() for sub in _layers(child))]


#: Shuffles kept per worker thread (one per block it serves, the latest epoch each).
_MAX_ORDERS = 64


def _order(n_rows: int, seed: int, epoch: int, index: int) -> np.ndarray:
    """The epoch's shuffle of the block's rows, drawn once per thread, block and epoch."""
    orders = _LOCAL.__dict__.setdefault("orders", {})
    key = (seed, index, n_rows)
    cached = orders.get(key)
    if cached is not None and cached[0] == epoch:
        return cached[1]
    order = np.random.default_rng([seed, epoch, index]).permutation(n_rows)
    if n_rows <= np.iinfo(np.int32).max:
        order = order.astype(np.int32)
    orders.pop(key, None)
    while len(orders) >= _MAX_ORDERS:
        del orders[next(iter(orders))]
    orders[key] = (epoch, order)
    return order


def _share(n_rows: int, seed: int, where: tuple[int, int, int], index: int) -> Any:
    """The rows of this block in step ``step`` of ``epoch``: all rows when there is one step."""
    epoch, step, n_steps = where
    if n_steps == 1:
        return slice(None)
    order = _order(n_rows, seed, epoch, index)
    start, stop = step * n_rows // n_steps, (step + 1) * n_rows // n_steps
    return np.sort(order[start:stop])


def _block_gradient(X, y, w, index, shipped, theta, config, where) -> tuple:
    """One block's ``(Σ sℓ, ∂/∂θ, Σ s)`` over its share of the minibatch (on a worker)."""
    network, flat, dropouts = _worker_network(shipped)
    rows = _share(X.shape[0], config["seed"], where, index)
    Xs, ys = X[rows], y[rows]
    ws = None if w is None else w[rows]
    for i, layer in enumerate(dropouts):
        layer.rng = np.random.default_rng([config["seed"], *where[:2], index, i])
    np.copyto(flat.value, theta)
    network.train()
    network.zero_grad()
    if Xs.shape[0] == 0:
        return 0.0, np.zeros(flat.grad.shape), 0.0
    with one_thread():
        value, grad = config["loss"].value_and_grad(network.forward(Xs), ys, weight=ws)
        network.backward(grad)
    total = len(Xs) if ws is None else float(np.sum(ws, dtype=np.float64)) * len(ws) / ws.size
    return float(value), flat.grad.astype(np.float64), float(total)
