"""What the estimators hand :class:`bcekit.training.Trainer`: the batch objective and the model.

:class:`BatchObjective` is the loss the Trainer minimises on each batch (data term plus L2
penalty, with a one-kernel path for binary BCE); :class:`DenseInput` lets a model take scipy
sparse rows; :class:`TrainingStateMixin` gives the estimators ``training_state()``, what the
last minibatch ``fit`` kept to resume from.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, log_expit

from bcekit.losses._elementwise import smooth_targets

__all__ = [
    "BatchObjective",
    "DenseInput",
    "TrainingStateMixin",
    "kept_training_state",
    "kernels_pay",
]


class BatchObjective:
    r"""What the estimators minimise on each batch, as :class:`bcekit.training.Trainer` takes it.

    .. math:: \frac{1}{\sum_i s_i} \sum_i s_i \sum_j ℓ_{ij}
              \;+\; \frac{λ}{2} \sum_k \lVert W_k \rVert^2,
        \qquad λ = \begin{cases} α / \sum_i s_i & \text{per\_batch} \\
                                 α & \text{otherwise} \end{cases}

    the weighted mean over rows of each row's loss summed over its labels (scikit-learn's
    convention for multi-label targets; a binary or softmax row has one term), plus an L2
    penalty on the weight matrices :math:`W_k` (not the biases). ``per_batch`` is
    scikit-learn's MLP scaling; a constant ``λ = 1/(C·S)`` gives logistic regression's
    objective. Element weights ``(n, n_labels)`` count for their row by their mean.

    :meth:`value_and_grad` returns the value and ``∂/∂logits`` and adds the penalty's
    gradient ``λ·W_k`` straight into each ``W_k.grad`` (the Trainer zeroes the gradients
    before the forward pass and the layers' backward adds to them). Calling the object gives
    the data term alone: what the Trainer reports as the validation loss.

    Parameters
    ----------
    loss : loss object
        A :mod:`bcekit.losses` class built with ``reduction="sum"``.
    matrices : list of Parameter
        The penalised weights.
    alpha : float
        α above.
    per_batch : bool
        Divide α by the batch's total weight.
    planned_batches : int, default 0
        The most batches the fit will run (epochs × batches per epoch), for
        :func:`kernels_pay`: a long fit loads the compiled kernels from its first batch.
    label_targets : bool, default False
        Every target is exactly 0 or 1 (encoded class labels), which lets the ufunc path
        compute BCE from one ``log_expit`` and one ``expit`` (:meth:`_ufunc_label_bce`).
    """

    reduction = "weighted_mean"

    def __init__(
        self,
        loss: Any,
        matrices: list[Any],
        alpha: float,
        *,
        per_batch: bool,
        planned_batches: int = 0,
        label_targets: bool = False,
    ) -> None:
        self.loss = loss
        self.matrices = matrices
        self.alpha = float(alpha)
        self.per_batch = per_batch
        self.planned_batches = int(planned_batches)
        self.label_targets = bool(label_targets)
        self._bce = _uniform_bce(loss)
        self._kernels: tuple[Any, Any] | None = None  # imported on first use (Numba)

    @staticmethod
    def _row_total(logits: np.ndarray, weight: np.ndarray | None, mask: Any) -> float:
        if mask is not None:
            raise ValueError("mask is not used by the estimators' objective; got a mask")
        if weight is None:
            return float(len(logits))
        return float(np.sum(weight, dtype=np.float64)) * len(weight) / weight.size

    def __call__(self, logits: Any, targets: Any, *, weight: Any = None, mask: Any = None) -> float:
        total = self._row_total(logits, weight, mask)
        return float(self.loss(logits, targets, weight=weight)) / total if total else 0.0

    def value_and_grad(
        self, logits: Any, targets: Any, *, weight: Any = None, mask: Any = None
    ) -> tuple[float, np.ndarray]:
        total = self._row_total(logits, weight, mask)
        if total == 0:
            return 0.0, np.zeros_like(logits)
        fused = self._fused_bce(logits, targets, weight, total)
        if fused is None:
            value, grad = self.loss.value_and_grad(logits, targets, weight=weight)
            grad /= total
            value = float(value) / total
        else:
            value, grad = fused
        if not self.alpha:
            return value, grad
        strength = self.alpha / total if self.per_batch else self.alpha
        squares = 0.0
        for w in self.matrices:
            v, g = w.value, w.grad
            if self._kernels is not None and v.flags.c_contiguous and g.flags.c_contiguous:
                # Numba is loaded (the kernel ran): one pass instead of three.
                add_l2 = self._kernels[1]
                squares += add_l2(g.reshape(-1), v.reshape(-1), v.dtype.type(strength))
            else:
                g += strength * v
                squares += float(np.vdot(v, v))
        return value + 0.5 * strength * squares, grad

    def _fused_bce(
        self, logits: Any, targets: Any, weight: Any, total: float
    ) -> tuple[float, np.ndarray] | None:
        """BCE value and scaled gradient from one kernel call (or a few ufuncs until the kernels
        pay, :func:`kernels_pay`), or None where it does not apply.

        It applies to what the estimators' Trainer passes for binary BCE: arrays of one
        dtype and shape, C-contiguous, with targets in [0, 1] and valid weights checked
        once when ``fit`` began and logits checked finite by the Trainer, so the loss's
        per-call validation is skipped. The kernel scales the gradient by ``1/total``.
        """
        if self._bce is None or not _NORMAL_TOTAL[0] < total < _NORMAL_TOTAL[1]:
            return None
        if not (_plain_array(logits, logits) and _plain_array(targets, logits)):
            return None
        if weight is not None and not _plain_array(weight, logits):
            return None
        if self._kernels is None:
            if not kernels_pay(logits.size, self.planned_batches):
                return self._ufunc_bce(logits, targets, weight, total)
            from bcekit.losses._kernels import bce_with_logits_fused
            from bcekit.optim._kernels import add_l2_gradient

            self._kernels = (bce_with_logits_fused, add_l2_gradient)
        pos_weight, label_smoothing = self._bce
        grad = np.empty_like(logits)
        value = self._kernels[0](
            logits.reshape(-1),
            targets.reshape(-1),
            None if weight is None else weight.reshape(-1),
            grad.reshape(-1),
            pos_weight,
            label_smoothing,
            1.0 / total,
        )
        return value / total, grad

    def _ufunc_bce(
        self, logits: np.ndarray, targets: np.ndarray, weight: np.ndarray | None, total: float
    ) -> tuple[float, np.ndarray]:
        r"""What the kernel returns, from a few ufuncs: for batches too small to pay Numba's
        start-up.

        .. math:: ℓ = -\bigl(pw\,y \log σ(z) + (1 - y) \log σ(-z)\bigr), \qquad
                  ∂ℓ/∂z = (1 - y)\,σ(z) - pw\,y\,σ(-z)

        with smoothed targets :math:`y`; both terms of each are computed from
        :func:`scipy.special.log_expit` and :func:`scipy.special.expit`, which keep full
        relative accuracy in both tails, and the sum is accumulated in float64.
        """
        pos_weight, label_smoothing = self._bce
        if self.label_targets and pos_weight == 1.0 and label_smoothing == 0.0:
            return self._ufunc_label_bce(logits, targets, weight, total)
        dtype = logits.dtype.type
        y = smooth_targets(targets, label_smoothing, 2)
        pw_y = y if pos_weight == 1.0 else y * dtype(pos_weight)
        one_minus_y = 1.0 - y
        flipped = np.negative(logits)
        loss = log_expit(flipped)
        loss *= one_minus_y
        term = log_expit(logits)
        term *= pw_y
        loss += term
        grad = expit(logits)
        grad *= one_minus_y
        term = expit(flipped, out=term)
        term *= pw_y
        grad -= term
        if weight is not None:
            loss *= weight
            grad *= weight
        grad *= dtype(1.0 / total)
        return -float(loss.sum(dtype=np.float64)) / total, grad

    @staticmethod
    def _ufunc_label_bce(
        logits: np.ndarray, targets: np.ndarray, weight: np.ndarray | None, total: float
    ) -> tuple[float, np.ndarray]:
        r""":meth:`_ufunc_bce` for targets that are all 0 or 1, with neither ``pos_weight``
        nor smoothing: half the ufunc calls, the same bits.

        .. math:: σ_i = 1 - 2 y_i = ±1, \qquad ℓ = -\log σ(-σ_i z), \qquad
                  ∂ℓ/∂z = σ_i\,σ(σ_i z)

        the one term of :meth:`_ufunc_bce` whose factor is 1 (the other is multiplied by 0
        there and, every logit being finite, adds exactly 0).
        """
        dtype = logits.dtype.type
        sign = np.multiply(targets, dtype(-2.0))
        sign += dtype(1.0)
        flipped = np.multiply(sign, logits)  # z where y = 0, -z where y = 1
        grad = expit(flipped)
        grad *= sign
        loss = log_expit(np.negative(flipped, out=flipped))
        if weight is not None:
            loss *= weight
            grad *= weight
        grad *= dtype(1.0 / total)
        return -float(loss.sum(dtype=np.float64)) / total, grad


def kernels_pay(size: int, planned_batches: int = 0) -> bool:
    """Whether a batch of ``size`` elements runs on the compiled kernels, loading Numba.

    Numba's start-up (importing it and loading its cached kernels) takes about 0.75 s here:
    what the ufuncs' extra cost comes to over ~10,000 small batches of a minibatch fit. So the
    kernels run once Numba is loaded, for a batch of :data:`LOAD_MIN_SIZE` elements or more,
    and once the small batches a process has run on the ufuncs, plus the ``planned_batches``
    of the current fit, reach :data:`UFUNC_BATCHES`. A fit that long loads them from its first
    batch; short fits run on ufuncs until they have cost about as much as the start-up, so a
    process never pays much more than twice the better of the two choices (the ski-rental
    rule). The optimiser and the layers switch to their compiled loops when Numba is loaded.
    """
    global _ufunc_batches_run
    if (
        "numba" in sys.modules
        or size >= LOAD_MIN_SIZE
        or _ufunc_batches_run + planned_batches >= UFUNC_BATCHES
    ):
        return True
    _ufunc_batches_run += 1
    return False


LOAD_MIN_SIZE = 1 << 16
UFUNC_BATCHES = 10_000
_ufunc_batches_run = 0
_NORMAL_TOTAL = (2.0**-60, 2.0**60)  # batch weights whose reciprocal scales without overflow


def _plain_array(a: Any, like: np.ndarray) -> bool:
    """Whether ``a`` is a C-contiguous ndarray of the dtype and shape of ``like``."""
    return (
        type(a) is np.ndarray
        and a.dtype == like.dtype
        and a.shape == like.shape
        and a.flags.c_contiguous
    )


def _uniform_bce(loss: Any) -> tuple[float, float] | None:
    """``(pos_weight, label_smoothing)`` of a summed BCE-with-logits with one ``pos_weight``."""
    from bcekit.losses import BinaryCrossEntropyWithLogits

    if type(loss) is not BinaryCrossEntropyWithLogits or loss.reduction != "sum":
        return None
    pos_weight = 1.0 if loss.pos_weight is None else np.asarray(loss.pos_weight, dtype=float)
    if isinstance(pos_weight, np.ndarray):
        if pos_weight.size != 1:
            return None
        pos_weight = float(pos_weight.item())
    return pos_weight, float(loss.label_smoothing)


class DenseInput:
    """Wrap a model so that it takes scipy sparse rows, densified one batch at a time.

    Forwards every other method the Trainer uses to the wrapped model.
    """

    def __init__(self, model: Any) -> None:
        self.model = model

    def forward(self, x: Any) -> np.ndarray:
        sparse = type(x) is not np.ndarray and sp.issparse(x)  # the type test is the quick one
        return self.model.forward(x.toarray() if sparse else x)

    def backward(self, grad_out: np.ndarray) -> Any:
        return self.model.backward(grad_out)

    def __getattr__(self, name: str) -> Any:
        if name == "model":
            raise AttributeError(name)
        return getattr(self.model, name)


def kept_training_state(estimator: Any) -> dict[str, Any]:
    """The training state an estimator's last minibatch ``fit`` kept (see ``training_state``)."""
    state = getattr(estimator, "_training_state", None)
    if state is None:
        raise ValueError(
            f"this {type(estimator).__name__} holds no training state: fit() with a minibatch "
            "solver keeps one; a loaded model or a full-batch solver has none"
        )
    return state


class TrainingStateMixin:
    """``training_state()`` of an estimator whose minibatch ``fit`` keeps ``_training_state``."""

    def training_state(self) -> dict[str, Any]:
        """The state of the last minibatch :meth:`fit` at the end of its last completed epoch.

        A :meth:`bcekit.training.Trainer.state` (weights, optimiser moments, History,
        early-stopping counters, shuffling seed) that ``fit(..., resume_from=state)`` continues
        from exactly; save it with :func:`bcekit.io.save_training_state`. After an interrupted
        fit (Ctrl-C) it is the state before the epoch that was cut short, which a resumed fit
        runs again from its start; before the first epoch completes, it is the starting state.

        Returns
        -------
        dict

        Raises
        ------
        ValueError
            No minibatch :meth:`fit` ran on this instance (a loaded model keeps none, nor
            does a full-batch solver: LogisticRegression's "lbfgs" and "gd").
        """
        return kept_training_state(self)
