r"""One epoch of the loop: the optimiser steps over the batches, then the validation pass.

One optimiser step per batch:

.. code-block:: text

    logits = model.forward(X_b)
    value, dL/dlogits = loss.value_and_grad(logits, y_b, weight=w_b, mask=m_b)
    model.backward(dL/dlogits)  →  [clip to clip_norm]  →  optimizer.step()

Each result is checked to be finite where it appears (:class:`Diverged` names which). The
epoch's loss is :math:`\sum_b v_b D_b / \sum_b D_b` over its batches
(:func:`~bcekit.training._numerics.batch_share`), for training and validation alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from contextlib import AbstractContextManager, ExitStack, nullcontext
from typing import TYPE_CHECKING, Any

import numpy as np

from bcekit._threads import numba_blas_alone
from bcekit.nn._chain import runs_compiled_chain
from bcekit.optim.clipping import clip_grad_norm
from bcekit.training._batches import Data, epoch_order
from bcekit.training._numerics import (
    Diverged,
    batch_share,
    finite,
    finite_array,
    gradient_buffers,
)
from bcekit.training._stopping import SigintFlag

if TYPE_CHECKING:
    from bcekit.training.loop import Trainer

__all__ = ["blas_guard", "check_parts", "evaluate", "step_schedule", "train_epoch"]

_REDUCTIONS = ("mean", "weighted_mean")


def _require(obj: Any, what: str, names: Iterable[str]) -> None:
    missing = [name for name in names if not hasattr(obj, name)]
    if missing:
        raise TypeError(f"{what} must have {', '.join(missing)}; got {type(obj).__name__}")


def check_parts(model: Any, loss: Any, optimizer: Any) -> str:
    """Check that the model, loss and optimiser have what the steps call; the loss's
    reduction, which must be a mean for the batches to average into the epoch's loss."""
    _require(
        model,
        "model",
        ("forward", "backward", "parameters", "train", "eval", "state_dict", "load_state_dict"),
    )
    _require(loss, "loss", ("value_and_grad", "__call__"))
    _require(optimizer, "optimizer", ("params", "step", "lr", "state_dict", "load_state_dict"))
    reduction = getattr(loss, "reduction", "mean")
    if reduction not in _REDUCTIONS:
        raise ValueError(
            f"loss.reduction must be one of {_REDUCTIONS} for minibatch training; got "
            f"{reduction!r} (build the loss with reduction='weighted_mean')"
        )
    return reduction


def step_schedule(scheduler: Any, interval: str) -> Any:
    """``scheduler`` if it is a step schedule counting in ``interval`` units, else None."""
    s = scheduler
    return s if s is not None and s.interval == interval and hasattr(s, "lr_at") else None


def blas_guard(model: Any) -> AbstractContextManager[Any]:
    """:func:`~bcekit._threads.numba_blas_alone` while ``model``'s Dense chain runs compiled
    loops (SciPy's BLAS) between the loop's own NumPy calls; else nothing."""
    return numba_blas_alone() if runs_compiled_chain(model) else nullcontext()


def train_epoch(trainer: Trainer, data: Data, k: int, batch: int, sigint: SigintFlag) -> float:
    """The optimiser steps of epoch ``k``; returns the epoch's training loss.

    Advances ``trainer.global_step``, sets the learning rate of a per-batch schedule and
    calls the callbacks' ``on_batch_end``. From the first batch on which the model's Dense
    chain runs compiled loops (Numba may load during the epoch), :func:`blas_guard` holds.
    """
    model, optimizer = trainer.model, trainer.optimizer
    per_batch = step_schedule(trainer.scheduler, "batch")
    params = optimizer.params
    # Looked up once per epoch: what each step calls, the gradients it clears, the arrays it
    # checks.
    cleared = gradient_buffers(model.parameters(), params)
    grads, values = [p.grad for p in params], [p.value for p in params]
    forward, backward = model.forward, model.backward
    value_and_grad, step = trainer.loss.value_and_grad, optimizer.step
    clip_norm, callbacks = trainer.clip_norm, trainer._active
    total = norm = 0.0
    order = epoch_order(trainer._seed, k, data.n, trainer.shuffle)
    caller_errors = np.geterr()
    guarded = False
    # One error state for the epoch (entering one per batch costs 1.6 us a step): non-finite
    # results are detected explicitly; the callbacks run under the caller's own state.
    with ExitStack() as held, np.errstate(all="ignore"):
        for b, (xb, yb, wb, mb) in enumerate(data.batches(batch, order), start=1):
            if not guarded and runs_compiled_chain(model):
                held.enter_context(numba_blas_alone())
                guarded = True
            if per_batch is not None:
                optimizer.lr = per_batch.lr_at(trainer.global_step)
            for g in cleared:
                g.fill(0)
            logits = forward(xb)
            if not finite_array(logits):
                raise Diverged("model output", k, b)
            value, grad = value_and_grad(logits, yb, weight=wb, mask=mb)
            if not math.isfinite(value):
                raise Diverged("loss", k, b)
            backward(grad)
            if clip_norm is not None:
                ok = math.isfinite(clip_grad_norm(params, clip_norm))
            else:
                ok = finite(grads)
            if not ok:
                raise Diverged("gradient", k, b)
            step()
            trainer.global_step += 1
            if not finite(values):
                raise Diverged("weights", k, b)
            value = float(value)
            trainer._last_loss = value
            d = batch_share(trainer.reduction, yb, wb, mb)
            total += value * d
            norm += d
            if callbacks:
                logs = {"loss": value, "size": int(yb.shape[0])}
                with np.errstate(**caller_errors):
                    for cb in callbacks:
                        cb.on_batch_end(trainer, b, logs)
            if sigint.fired:
                raise KeyboardInterrupt
    return total / norm if norm > 0 else 0.0


def evaluate(trainer: Trainer, data: Data, k: int, batch: int) -> tuple[float, np.ndarray]:
    """The loss on validation data in eval mode under the loss's reduction, and a copy of
    the model's outputs on it (the batches' logits, in row order)."""
    model, loss, reduction = trainer.model, trainer.loss, trainer.reduction
    model.eval()
    with blas_guard(model):
        return _evaluate(model, loss, reduction, data, k, batch)


def _evaluate(
    model: Any, loss: Any, reduction: str, data: Data, k: int, batch: int
) -> tuple[float, np.ndarray]:
    total = norm = 0.0
    outputs: np.ndarray | None = None
    for start, (xb, yb, wb, mb) in zip(range(0, data.n, batch), data.batches(batch), strict=True):
        with np.errstate(all="ignore"):
            logits = model.forward(xb)
        if not finite_array(logits):
            raise Diverged("model output", k, None)
        if outputs is None:
            outputs = np.empty((data.n, *logits.shape[1:]), dtype=logits.dtype)
        outputs[start : start + len(logits)] = logits  # a copy: the model may reuse its output
        d = batch_share(reduction, yb, wb, mb)
        total += float(loss(logits, yb, weight=wb, mask=mb)) * d
        norm += d
    assert outputs is not None  # data has at least one row
    return (total / norm if norm > 0 else 0.0), outputs
