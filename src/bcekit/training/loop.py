r"""The training loop: minibatch descent with validation, early stopping, callbacks and resume.

:class:`Trainer` joins three duck-typed parts:

* a **model** with ``forward(X) -> logits``, ``backward(grad)`` (accumulating into the
  ``grad`` of its ``parameters()``, which are reset before each step), ``train()``/``eval()`` and
  ``state_dict()``/``load_state_dict()`` (any :class:`bcekit.nn.Layer`);
* a **loss** with ``value_and_grad(logits, targets, *, weight, mask) -> (value, grad)`` and
  ``loss(logits, targets, *, weight, mask) -> value``, whose ``reduction`` is ``"mean"`` or
  ``"weighted_mean"`` (the :mod:`bcekit.losses` classes);
* an **optimiser** from :mod:`bcekit.optim` (``params``, ``step()``, ``lr``, ``state_dict()``).

One optimiser step per batch:

.. code-block:: text

    logits = model.forward(X_b)
    value, dL/dlogits = loss.value_and_grad(logits, y_b, weight=w_b, mask=m_b)
    model.backward(dL/dlogits)  →  [clip to clip_norm]  →  optimizer.step()

How ``sample_weight`` enters: it is passed to the loss as ``weight`` for the rows of each
batch, so the batch objective is the loss's own reduction. With
``reduction="weighted_mean"`` (:math:`\sum w\ell / \sum w`, recommended) a weight of 2 is the
same as repeating the row, and scaling all weights changes nothing; with ``"mean"``
(:math:`\sum w\ell / n`) the weights also scale the step size. The epoch's ``train_loss`` is that
same reduction taken over all the epoch's batches.
"""

from __future__ import annotations

import math
import signal
import threading
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from bcekit.optim.clipping import clip_grad_norm
from bcekit.optim.optimizers import check_real
from bcekit.optim.schedules import ReduceLROnPlateau, Schedule
from bcekit.training.callbacks import Callback
from bcekit.training.errors import StopTraining, TrainingDivergedError, TrainingInterrupted
from bcekit.training.history import History
from bcekit.training.progress import ProgressBar, progress_visible

__all__ = ["Trainer"]

_REDUCTIONS = ("mean", "weighted_mean")
_STATE_KEYS = (
    "epoch",
    "global_step",
    "seed",
    "best_loss",
    "best_epoch",
    "wait",
    "history",
    "model",
    "best_model",
    "optimizer",
    "scheduler",
)


# --- inputs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Data:
    """Validated training or validation arrays; rows are the first axis of each."""

    X: Any  # ndarray or scipy CSR matrix
    y: np.ndarray
    weight: np.ndarray | None
    mask: np.ndarray | None

    @property
    def n(self) -> int:
        return self.X.shape[0]

    def take(self, rows: slice | np.ndarray) -> tuple[Any, np.ndarray, Any, Any]:
        """The rows ``rows`` of each array: views for a slice, copies for row numbers."""

        def pick(a: Any) -> Any:
            if a is None:
                return None
            if isinstance(rows, np.ndarray) and isinstance(a, np.ndarray):
                return np.take(a, rows, axis=0)  # about twice as fast as a[rows] on row blocks
            return a[rows]

        return pick(self.X), pick(self.y), pick(self.weight), pick(self.mask)


def _random_streams(model: Any) -> dict[str, np.random.Generator]:
    """The model's random generators by layer name (:meth:`Layer.random_streams`; a
    duck-typed model without that method has none)."""
    streams = getattr(model, "random_streams", None)
    return {} if streams is None else streams()


def _as_data(prefix: str, X: Any, y: Any, sample_weight: Any, mask: Any) -> _Data:
    """Check the arrays of one data set; names in messages start with ``prefix``."""
    if sp.issparse(X):
        X = X.tocsr()
        values = X.data
    else:
        X = np.asarray(X)
        values = X
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{prefix}X must hold numbers; got dtype {X.dtype}")
    if X.ndim < 1 or X.shape[0] == 0:
        raise ValueError(f"{prefix}X must have at least one row; got shape {X.shape}")
    if values.dtype.kind == "f" and not _finite_array(values):
        raise ValueError(f"{prefix}X must be finite; it contains NaN or infinity")
    n = X.shape[0]
    y = np.asarray(y)
    if y.ndim < 1 or y.shape[0] != n:
        raise ValueError(f"{prefix}y must have one entry per row of X ({n}); got shape {y.shape}")
    weight = None
    if sample_weight is not None:
        weight = np.asarray(sample_weight)
        if weight.dtype.kind not in "biuf":
            raise TypeError(f"{prefix}sample_weight must hold numbers; got dtype {weight.dtype}")
        if weight.ndim < 1 or weight.shape[0] != n:
            raise ValueError(
                f"{prefix}sample_weight must have one entry per row of X ({n}); "
                f"got shape {weight.shape}"
            )
        dtype = X.dtype if X.dtype.kind == "f" else np.float64
        weight = weight.astype(dtype, copy=False)
        if not np.isfinite(weight).all() or weight.min() < 0:
            raise ValueError(
                f"{prefix}sample_weight must be finite and >= 0; got values in "
                f"[{weight.min():g}, {weight.max():g}]"
            )
        if not weight.any():
            raise ValueError(f"{prefix}sample_weight must not be all zero")
        if weight.ndim == 1 and y.ndim > 1:  # one weight per row, broadcast over the outputs
            weight = weight.reshape((n,) + (1,) * (y.ndim - 1))
    if mask is not None:
        mask = np.asarray(mask)
        if mask.dtype != np.bool_:
            raise TypeError(f"{prefix}mask must be boolean (True = counted); got {mask.dtype}")
        if mask.ndim < 1 or mask.shape[0] != n:
            raise ValueError(
                f"{prefix}mask must have one entry per row of X ({n}); got shape {mask.shape}"
            )
    return _Data(X, y, weight, mask)


def _as_validation(validation_data: Any) -> _Data | None:
    if validation_data is None:
        return None
    if not isinstance(validation_data, Sequence) or not 2 <= len(validation_data) <= 4:
        raise ValueError(
            "validation_data must be a tuple (X_val, y_val[, sample_weight_val[, mask_val]]); "
            f"got {type(validation_data).__name__}"
        )
    X, y, w, m = (*validation_data, None, None)[:4]
    return _as_data("validation ", X, y, w, m)


def _seed_from(random_state: Any) -> int:
    """A non-negative integer seed from None, an int, a Generator or a RandomState."""
    if random_state is None:
        return int(np.random.default_rng().integers(2**63))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**63))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**63 - 1, dtype=np.int64))
    if isinstance(random_state, int | np.integer) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(f"random_state must be >= 0; got {random_state}")
        return int(random_state)
    raise TypeError(
        "random_state must be None, an int, a numpy Generator or RandomState; "
        f"got {type(random_state).__name__}"
    )


def _require(obj: Any, what: str, names: Iterable[str]) -> None:
    missing = [name for name in names if not hasattr(obj, name)]
    if missing:
        raise TypeError(f"{what} must have {', '.join(missing)}; got {type(obj).__name__}")


def _int_at_least(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"{name} must be an int >= {low}; got {value!r}")
    return int(value)


# --- numerics ------------------------------------------------------------------------------


def _finite_array(a: np.ndarray) -> bool:
    """Whether every element of ``a`` is finite.

    The sum of squares (one BLAS pass) is finite when every element is; only when it is not
    (a NaN or inf, or an overflow of huge finite values) are the elements checked one by one.
    """
    return math.isfinite(np.vdot(a, a)) or bool(np.isfinite(a).all())


def _finite(arrays: Iterable[np.ndarray]) -> bool:
    """Whether every element of every array is finite (see :func:`_finite_array`)."""
    return all(_finite_array(a) for a in arrays)


def _gradient_buffers(model_params: Iterable[Any], optimizer_params: Iterable[Any]) -> list:
    """The arrays to zero before a step so that every model gradient starts at 0.

    A gradient that is a view into an optimiser parameter's gradient (the flat buffer of
    :func:`bcekit.nn.pack_parameters`) is cleared with that whole buffer, once.
    """
    flat = {id(p.grad) for p in optimizer_params}
    buffers: dict[int, np.ndarray] = {}
    for p in model_params:
        g = p.grad
        if g.base is not None and id(g.base) in flat:
            g = g.base
        buffers[id(g)] = g
    return list(buffers.values())


def _denominator(reduction: str, rows: int, weight: Any, mask: Any) -> float:
    """The batch's share of the epoch mean: ``Σ mᵢwᵢ`` or the count of counted elements.

    Equal to the loss's own denominator up to a factor that is the same for every batch,
    which cancels in the epoch mean.
    """
    if reduction == "weighted_mean" and weight is not None:
        counted = weight if mask is None else np.where(mask, weight, 0)
        return float(np.sum(counted, dtype=np.float64))
    return float(rows if mask is None else np.count_nonzero(mask))


class _Diverged(Exception):
    def __init__(self, quantity: str, epoch: int, batch: int | None) -> None:
        super().__init__(quantity)
        self.quantity, self.epoch, self.batch = quantity, epoch, batch


class _SigintFlag:
    """Turns the first Ctrl-C into a flag so that training stops after the current batch.

    Active only in the main thread and when SIGINT has Python's default handler; a second
    Ctrl-C raises KeyboardInterrupt at once.
    """

    fired = False

    def __enter__(self) -> _SigintFlag:
        self._previous = None
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        ):
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.fired:
            raise KeyboardInterrupt
        self.fired = True

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


# --- the loop ------------------------------------------------------------------------------


class Trainer:
    r"""Train a model by minibatch gradient descent on a loss.

    Parameters
    ----------
    model : Layer-like
        ``forward``, ``backward``, ``parameters``, ``train``, ``eval``, ``state_dict``,
        ``load_state_dict``; it returns logits.
    loss : loss object
        ``value_and_grad`` and ``__call__``, with ``reduction`` ``"weighted_mean"`` or
        ``"mean"`` (see the module docstring for how ``sample_weight`` enters).
    optimizer : Optimizer
        Built over the model's parameters; its state persists across ``fit_epoch`` calls.
    batch_size : int or None, default 256
        Rows per optimiser step; None (or more than the rows) is full-batch descent. The last
        batch of an epoch holds the remainder.
    max_epochs : int, default 100
        Epochs run by :meth:`fit`.
    shuffle : bool, default True
        Visit the rows in a new random order each epoch. The order of epoch ``k`` depends only
        on the seed and ``k``, so runs with the same ``random_state`` are identical and a
        resumed run shuffles as the uninterrupted one would.
    random_state : None, int, Generator or RandomState
        Seed of the shuffling (drawn once, when the Trainer is built).
    early_stopping : bool, default False
        Stop when the monitored loss (the validation loss if ``validation_data`` is given,
        else the training loss) has failed for ``patience`` consecutive epochs to fall below
        the best so far minus ``tol``.
    patience : int, default 10
        Epochs without such an improvement before stopping (≥ 1).
    tol : float, default 1e-4
        Absolute improvement that counts (≥ 0).
    restore_best : bool, default True
        Keep a copy of the weights of the best epoch (lowest monitored loss) and put them
        back at the end of a ``fit`` with ``early_stopping`` (whether it stopped early or
        reached ``max_epochs``, as scikit-learn does), when training is interrupted and when
        it diverges.
    scheduler : Schedule, optional
        A step schedule sets ``optimizer.lr`` before each epoch or batch (its ``interval``)
        from the number of completed epochs or optimiser steps; :class:`ReduceLROnPlateau`
        is stepped with the monitored loss after each epoch. Bound to the optimiser's
        learning rate when it has no ``base_lr``.
    clip_norm : float, optional
        Clip the global gradient norm to this value before each step.
    callbacks : sequence of Callback
    verbose : int, default 0
        > 0 shows a progress bar on stderr when it is a terminal; ≥ 2 shows it always.

    Attributes
    ----------
    history : History
        Records of the epochs of the current run.
    epoch : int
        Epochs completed (the ``"epoch"`` of the last record).
    global_step : int
        Optimiser steps taken.
    n_batches : int
        Batches per epoch of the running ``fit`` (set when it starts).
    epoch_target : int
        The epoch the running call trains up to.
    validation_data : tuple or None
        The validation arrays of the running call (for callbacks).

    Notes
    -----
    A NaN or infinite model output, loss, gradient or weight stops training with
    :class:`TrainingDivergedError`; the model then holds the best weights (with
    ``restore_best``) or those from the start of the failing epoch. Ctrl-C (or a
    KeyboardInterrupt raised by a callback) ends training after the current batch: the best
    weights are restored, the completed epochs are kept in the History (``interrupted`` is
    True), a :class:`TrainingInterrupted` warning is issued and ``fit`` returns normally.
    After training the model is left in ``eval()`` mode.
    """

    def __init__(
        self,
        model: Any,
        loss: Any,
        optimizer: Any,
        *,
        batch_size: int | None = 256,
        max_epochs: int = 100,
        shuffle: bool = True,
        random_state: Any = None,
        early_stopping: bool = False,
        patience: int = 10,
        tol: float = 1e-4,
        restore_best: bool = True,
        scheduler: Schedule | None = None,
        clip_norm: float | None = None,
        callbacks: Sequence[Callback] = (),
        verbose: int = 0,
    ) -> None:
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
        if scheduler is not None and not isinstance(scheduler, Schedule):
            raise TypeError(
                f"scheduler must be a bcekit.optim Schedule; got {type(scheduler).__name__}"
            )
        callbacks = list(callbacks)
        for i, cb in enumerate(callbacks):
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks[{i}] must be a Callback; got {type(cb).__name__}")
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.reduction = reduction
        self.batch_size = None if batch_size is None else _int_at_least("batch_size", batch_size, 1)
        self.max_epochs = _int_at_least("max_epochs", max_epochs, 1)
        self.shuffle = bool(shuffle)
        self.early_stopping = bool(early_stopping)
        self.patience = _int_at_least("patience", patience, 1)
        self.tol = check_real("tol", tol, low=0.0)
        self.restore_best = bool(restore_best)
        self.scheduler = scheduler
        self.clip_norm = (
            None
            if clip_norm is None
            else check_real("clip_norm", clip_norm, low=0.0, low_open=True)
        )
        self.callbacks = callbacks
        self.verbose = _int_at_least("verbose", verbose, 0)
        self._seed = _seed_from(random_state)
        self._reset()

    def _reset(self) -> None:
        """Forget any previous run; the model, optimiser and schedule carry on as they are."""
        self.history = History()
        self.epoch = 0
        self.global_step = 0
        self._best_loss = math.inf
        self._best_epoch: int | None = None
        self._best_state: dict[str, np.ndarray] | None = None
        self._wait = 0
        self._last_loss: float | None = None
        self.n_batches = 0
        self.epoch_target = 0
        self.validation_data: tuple[Any, ...] | None = None
        self._active: list[Callback] = []
        self._epoch_start: dict[str, np.ndarray] | None = None

    # --- public entry points ---------------------------------------------------------------

    def fit(
        self,
        X: Any,
        y: Any,
        *,
        sample_weight: Any = None,
        mask: Any = None,
        validation_data: Any = None,
        resume_from: Mapping[str, Any] | None = None,
    ) -> History:
        """Train for up to ``max_epochs`` epochs (fewer with early stopping).

        Parameters
        ----------
        X : array-like or sparse matrix, shape (n_samples, ...)
        y : array-like, shape (n_samples, ...)
            Targets as the loss takes them.
        sample_weight : array-like, shape (n_samples,) or broadcasting to ``y``, optional
            Non-negative weights, passed to the loss as ``weight``.
        mask : bool array-like, shape (n_samples, ...), optional
            Elements the loss counts (True), e.g. to ignore unlabelled pixels.
        validation_data : tuple, optional
            ``(X_val, y_val[, sample_weight_val[, mask_val]])``, scored after every epoch in
            ``eval()`` mode.
        resume_from : dict, optional
            A :meth:`state` to continue from instead of starting afresh; training then runs
            from epoch ``state["epoch"] + 1`` to ``max_epochs``. For a state taken between
            epochs (as :class:`Checkpoint` does) this is exactly what the original run did,
            given the same data and configuration; the seed comes from the state, and the
            model's random streams (Dropout's masks) continue where they were.

        Returns
        -------
        History
            Also kept as ``self.history``.
        """
        train = _as_data("", X, y, sample_weight, mask)
        val = _as_validation(validation_data)
        if resume_from is None:
            self._reset()
        else:
            self.load_state(resume_from)
        return self._run(train, val, self.max_epochs, early_stopping=self.early_stopping)

    def fit_epoch(
        self,
        X: Any,
        y: Any,
        *,
        sample_weight: Any = None,
        mask: Any = None,
        validation_data: Any = None,
    ) -> History:
        """Train one more epoch, continuing the epoch count, History and optimiser state.

        For ``partial_fit``: each call is epoch ``self.epoch + 1`` on the data given.
        Early stopping does not apply (no epoch limit, nothing restored at the end).
        Arguments as in :meth:`fit`.
        """
        train = _as_data("", X, y, sample_weight, mask)
        val = _as_validation(validation_data)
        return self._run(train, val, self.epoch + 1, early_stopping=False)

    def state(self, *, include_history: bool = True) -> dict[str, Any]:
        """Everything needed to continue training exactly; see :meth:`fit` ``resume_from``.

        Parameters
        ----------
        include_history : bool, default True
            False leaves out the History records (``"history"`` is then an empty list), for
            callers that keep them another way.

        Returns
        -------
        dict
            JSON scalars ``"epoch"``, ``"global_step"``, ``"seed"``, ``"best_loss"``
            (None before the first epoch), ``"best_epoch"``, ``"wait"`` (epochs without
            improvement); ``"history"`` (:meth:`History.to_dicts`); ``"model"`` and
            ``"best_model"`` (name -> ndarray copies, ``best_model`` None unless
            ``restore_best``); ``"optimizer"`` (its :meth:`state_dict`: scalars and arrays);
            ``"scheduler"`` (JSON scalars, or None); ``"random_streams"`` (layer name ->
            ``bit_generator.state`` of each :meth:`Layer.random_streams` generator).
        """
        best = self._best_state
        return {
            "epoch": self.epoch,
            "global_step": self.global_step,
            "seed": self._seed,
            "best_loss": None if math.isinf(self._best_loss) else self._best_loss,
            "best_epoch": self._best_epoch,
            "wait": self._wait,
            "history": self.history.to_dicts() if include_history else [],
            "model": self.model.state_dict(),
            "best_model": None if best is None else {k: v.copy() for k, v in best.items()},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "random_streams": {
                name: rng.bit_generator.state for name, rng in _random_streams(self.model).items()
            },
        }

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state` into this Trainer, its model, optimiser and schedule."""
        if not isinstance(state, Mapping):
            raise TypeError(
                f"state must be a dict from Trainer.state(); got {type(state).__name__}"
            )
        missing = [k for k in _STATE_KEYS if k not in state]
        if missing:
            raise ValueError(f"state is missing {missing}; pass a dict from Trainer.state()")
        if (state["scheduler"] is None) != (self.scheduler is None):
            raise ValueError(
                "state and Trainer disagree on the schedule: the state has "
                f"{'none' if state['scheduler'] is None else 'one'}, the Trainer "
                f"{'none' if self.scheduler is None else 'one'}"
            )
        self._reset()
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.epoch = _int_at_least("state['epoch']", state["epoch"], 0)
        self.global_step = _int_at_least("state['global_step']", state["global_step"], 0)
        self._seed = _int_at_least("state['seed']", state["seed"], 0)
        self._wait = _int_at_least("state['wait']", state["wait"], 0)
        best_loss = state["best_loss"]
        self._best_loss = math.inf if best_loss is None else float(best_loss)
        self._best_epoch = state["best_epoch"]
        best = state["best_model"]
        self._best_state = None if best is None else {k: np.array(v) for k, v in best.items()}
        self.history = History.from_dicts(state["history"])
        self._load_random_streams(state.get("random_streams", {}))

    def _load_random_streams(self, saved: Mapping[str, Any]) -> None:
        """Set the model's generators to ``saved`` states (a state without them keeps its own)."""
        streams = _random_streams(self.model)
        unknown = sorted(set(saved) - set(streams))
        if unknown:
            raise ValueError(
                f"state['random_streams'] names layers the model has no generator in: {unknown}"
            )
        for name, bit_state in saved.items():
            try:
                streams[name].bit_generator.state = dict(bit_state)
            except (TypeError, ValueError, KeyError) as exc:
                raise ValueError(
                    f"state['random_streams'][{name!r}] is not a state of a "
                    f"{type(streams[name].bit_generator).__name__} generator: {exc}"
                ) from exc

    # --- the run ---------------------------------------------------------------------------

    def _run(
        self, train: _Data, val: _Data | None, target: int, *, early_stopping: bool
    ) -> History:
        batch = train.n if self.batch_size is None else min(self.batch_size, train.n)
        self.n_batches = -(-train.n // batch)
        self.epoch_target = target
        self.validation_data = None if val is None else (val.X, val.y, val.weight, val.mask)
        self.history.interrupted = self.history.stopped_early = False
        if self.scheduler is not None:
            self.scheduler.bind(self.optimizer.lr)
        callbacks = list(self.callbacks)
        if progress_visible(self.verbose):
            callbacks.append(ProgressBar(force=self.verbose >= 2))
        self._active = callbacks
        self._epoch_start = None
        error: TrainingDivergedError | None = None
        try:
            with _SigintFlag() as sigint:
                try:
                    for cb in callbacks:
                        cb.on_train_begin(self)
                    while self.epoch < target:
                        if early_stopping and self._wait >= self.patience:
                            self.history.stopped_early = True
                            break
                        if self._run_epoch(train, val, batch, sigint):
                            self.history.stopped_early = True
                            break
                except StopTraining:
                    self.history.stopped_early = True
                except KeyboardInterrupt:
                    self._interrupted()
                except _Diverged as d:
                    error = self._diverged(d)
                if error is None and not self.history.interrupted and early_stopping:
                    self._restore_best_at_end()
        finally:
            self.model.eval()
            for cb in callbacks:
                cb.on_train_end(self, self.history)
        if error is not None:
            raise error
        return self.history

    def _step_schedule(self, interval: str) -> Any:
        """The scheduler if it is a step schedule counting in ``interval`` units, else None."""
        s = self.scheduler
        return s if s is not None and s.interval == interval and hasattr(s, "lr_at") else None

    def _run_epoch(self, train: _Data, val: _Data | None, batch: int, sigint: _SigintFlag) -> bool:
        """One epoch, validation and bookkeeping; True if a callback asked to stop."""
        k = self.epoch + 1
        started = time.perf_counter()
        self._epoch_start = self.model.state_dict()
        per_epoch = self._step_schedule("epoch")
        if per_epoch is not None:
            self.optimizer.lr = per_epoch.lr_at(self.epoch)
        self.model.train()
        for cb in self._active:
            cb.on_epoch_begin(self, k)
        record: dict[str, Any] = {
            "epoch": k,
            "train_loss": self._train_epoch(train, k, batch, sigint),
        }
        lr = self.optimizer.lr
        if val is not None:
            record["val_loss"] = self._evaluate(val, k, batch)
        record["lr"] = lr
        record["time"] = time.perf_counter() - started
        self.history.append(record)
        monitored = record.get("val_loss", record["train_loss"])
        if isinstance(self.scheduler, ReduceLROnPlateau):
            self.optimizer.lr = self.scheduler.step(monitored)
        self._track_best(monitored, k)
        self.epoch = k
        stop = False
        for cb in self._active:
            stop = bool(cb.on_epoch_end(self, k, record)) or stop
        if sigint.fired:
            raise KeyboardInterrupt
        return stop

    def _train_epoch(self, data: _Data, k: int, batch: int, sigint: _SigintFlag) -> float:
        """The optimiser steps of epoch ``k``; returns the epoch's training loss."""
        order = np.random.default_rng([self._seed, k]).permutation(data.n) if self.shuffle else None
        per_batch = self._step_schedule("batch")
        params = self.optimizer.params
        # Looked up once per epoch: what each step calls and the gradients it clears.
        cleared = _gradient_buffers(self.model.parameters(), params)
        forward, backward = self.model.forward, self.model.backward
        value_and_grad, step = self.loss.value_and_grad, self.optimizer.step
        total = norm = 0.0
        for b, start in enumerate(range(0, data.n, batch), start=1):
            rows = slice(start, start + batch) if order is None else order[start : start + batch]
            xb, yb, wb, mb = data.take(rows)
            if per_batch is not None:
                self.optimizer.lr = per_batch.lr_at(self.global_step)
            for g in cleared:
                g.fill(0)
            with np.errstate(all="ignore"):  # non-finite results are detected explicitly
                logits = forward(xb)
                if not _finite_array(logits):
                    raise _Diverged("model output", k, b)
                value, grad = value_and_grad(logits, yb, weight=wb, mask=mb)
                if not math.isfinite(value):
                    raise _Diverged("loss", k, b)
                backward(grad)
                if self.clip_norm is not None:
                    finite = math.isfinite(clip_grad_norm(params, self.clip_norm))
                else:
                    finite = _finite(p.grad for p in params)
                if not finite:
                    raise _Diverged("gradient", k, b)
                step()
                self.global_step += 1
                if not _finite(p.value for p in params):
                    raise _Diverged("weights", k, b)
            value = float(value)
            self._last_loss = value
            d = _denominator(self.reduction, yb.shape[0], wb, mb)
            total += value * d
            norm += d
            if self._active:
                logs = {"loss": value, "size": int(yb.shape[0])}
                for cb in self._active:
                    cb.on_batch_end(self, b, logs)
            if sigint.fired:
                raise KeyboardInterrupt
        return total / norm if norm > 0 else 0.0

    def _evaluate(self, data: _Data, k: int, batch: int) -> float:
        """The loss on validation data in eval mode, under the loss's reduction."""
        self.model.eval()
        total = norm = 0.0
        for start in range(0, data.n, batch):
            xb, yb, wb, mb = data.take(slice(start, start + batch))
            with np.errstate(all="ignore"):
                logits = self.model.forward(xb)
            if not _finite([logits]):
                raise _Diverged("model output", k, None)
            d = _denominator(self.reduction, yb.shape[0], wb, mb)
            total += float(self.loss(logits, yb, weight=wb, mask=mb)) * d
            norm += d
        return total / norm if norm > 0 else 0.0

    # --- best weights, interruption, divergence ---------------------------------------------

    def _track_best(self, monitored: float, k: int) -> None:
        if monitored > self._best_loss - self.tol:
            self._wait += 1
        else:
            self._wait = 0
        if monitored < self._best_loss:
            self._best_loss, self._best_epoch = monitored, k
            if self.restore_best:
                self._best_state = self.model.state_dict()

    def _restore_best_at_end(self) -> None:
        if self.restore_best and self._best_state is not None and self._best_epoch != self.epoch:
            self.model.load_state_dict(self._best_state)

    def _load_best(self) -> str | None:
        """Load the best epoch's weights if kept; say so, or return None."""
        if self.restore_best and self._best_state is not None:
            self.model.load_state_dict(self._best_state)
            return f"the best weights (epoch {self._best_epoch})"
        return None

    def _load_epoch_start(self, k: int) -> str:
        """Load the weights saved at the start of epoch ``k`` (the running one); say so."""
        if self._epoch_start is not None:
            self.model.load_state_dict(self._epoch_start)
        return f"the weights from the start of epoch {k}"

    def _interrupted(self) -> None:
        kept = self._load_best()
        if kept is None:
            if _finite(p.value for p in self.optimizer.params):
                kept = "its current weights"
            else:
                kept = self._load_epoch_start(self.epoch + 1)
        self.history.interrupted = True
        warnings.warn(
            f"training interrupted; returning the {len(self.history)} completed epochs, "
            f"the model keeps {kept}",
            TrainingInterrupted,
            stacklevel=4,
        )

    def _diverged(self, d: _Diverged) -> TrainingDivergedError:
        kept = self._load_best() or self._load_epoch_start(d.epoch)
        error = TrainingDivergedError(
            epoch=d.epoch,
            batch=d.batch,
            quantity=d.quantity,
            last_loss=self._last_loss,
            lr=self.optimizer.lr,
            restored=kept,
        )
        error.history = self.history
        return error
