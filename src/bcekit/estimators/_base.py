"""What the BCE estimators share: target encoding, weights, the loss, and prediction from logits.

Every estimator here predicts *logits* and turns them into classes and probabilities the same
way, by the kind of target it was fitted on (scikit-learn's ``type_of_target`` names):

==========================  ===========================  =====================  ==================
``target_type_``            loss                         ``decision_function``  ``predict_proba``
==========================  ===========================  =====================  ==================
``"binary"``                sigmoid + BCE (or focal)     ``(n,)``               ``(n, 2)``
``"multiclass"``            softmax cross-entropy        ``(n, n_classes)``     ``(n, n_classes)``
``"multilabel-indicator"``  one sigmoid + BCE per label  ``(n, n_labels)``      ``(n, n_labels)``
==========================  ===========================  =====================  ==================

Internally binary targets are handled as a single label: logits and targets have shape
``(n, 1)``, so the binary and multi-label code paths are one.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, log_expit, log_softmax, softmax
from sklearn.base import ClassifierMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils._unique import attach_unique
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

__all__ = [
    "BINARY",
    "MULTICLASS",
    "MULTILABEL",
    "SHARED_CONSTRAINTS",
    "BCEClassifierMixin",
    "BatchObjective",
    "DenseInput",
    "Targets",
    "check_loss_options",
    "check_saved_classes",
    "encode_targets",
    "make_loss",
    "resolve_pos_weight",
    "resolve_weights",
]

BINARY, MULTICLASS, MULTILABEL = "binary", "multiclass", "multilabel-indicator"

# Parameter constraints shared by the estimators (scikit-learn's declarative checks).
SHARED_CONSTRAINTS: dict[str, list[Any]] = {
    "loss": [StrOptions({"bce", "focal"})],
    "gamma": [Interval(Real, 0, None, closed="left")],
    "class_weight": [dict, list, StrOptions({"balanced"}), None],
    "pos_weight": [
        Interval(Real, 0, None, closed="neither"),
        StrOptions({"balanced"}),
        "array-like",
        None,
    ],
    "label_smoothing": [Interval(Real, 0, 1, closed="left")],
    "random_state": ["random_state"],
    "warm_start": ["boolean"],
    "batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
}


@dataclass(frozen=True)
class Targets:
    """Encoded training targets.

    Attributes
    ----------
    kind : str
        ``"binary"``, ``"multiclass"`` or ``"multilabel-indicator"``.
    classes : ndarray
        The class labels (``arange(n_labels)`` for multi-label targets).
    encoded : ndarray
        What the loss consumes: float ``(n, 1)`` in {0, 1} for binary targets, int64 class
        ids ``(n,)`` for multiclass, float ``(n, n_labels)`` for multi-label.
    """

    kind: str
    classes: np.ndarray
    encoded: np.ndarray

    @property
    def n_outputs(self) -> int:
        """Number of logits per sample."""
        return len(self.classes) if self.kind == MULTICLASS else self.encoded.shape[1]


def check_saved_classes(kind: Any, classes: Any) -> None:
    """Raise ValueError unless ``classes`` (read from a model file) fit targets of ``kind``.

    Binary targets have exactly two classes, multiclass three or more, multi-label
    ``0 … n_labels − 1`` (what :func:`encode_targets` gives each).
    """
    n = -1 if classes is None else len(classes)
    fits = {
        BINARY: n == 2,
        MULTICLASS: n >= 3,
        MULTILABEL: n >= 1 and np.array_equal(classes, np.arange(n)),
    }
    if not fits.get(kind, False):
        shown = None if classes is None else np.asarray(classes).tolist()
        raise ValueError(f"classes_ {shown!r:.80} do not fit {kind!r:.40} targets")


def encode_targets(y: Any, dtype: np.dtype, classes: np.ndarray | None = None) -> Targets:
    """Check classification targets and encode them for the loss.

    Parameters
    ----------
    y : array-like of shape (n_samples,) or (n_samples, n_labels)
        Class labels, or a 0/1 indicator matrix for multi-label targets.
    dtype : numpy dtype
        Float dtype of the encoded binary / multi-label targets (the data's dtype).
    classes : ndarray, optional
        Known classes (from an earlier ``fit``/``partial_fit`` or the ``classes``
        argument); labels outside them are an error. Default: the labels in ``y``.

    Returns
    -------
    Targets
    """
    if sp.issparse(y):
        y = y.toarray()
    y = attach_unique(y)  # the labels are found once; the checks below reuse them
    check_classification_targets(y)
    kind = type_of_target(y, input_name="y")
    if kind == MULTILABEL:
        y = np.asarray(y)
        n_labels = y.shape[1]
        if classes is not None and len(classes) != n_labels:
            raise ValueError(
                f"y has {n_labels} labels but the model was fitted with {len(classes)}"
            )
        return Targets(MULTILABEL, np.arange(n_labels), (y > 0).astype(dtype))
    y = column_or_1d(y, warn=True)
    if classes is None:
        classes = _labels(y)
    else:
        unseen = np.setdiff1d(_labels(y), classes)
        if unseen.size:
            raise ValueError(
                f"y contains labels {unseen.tolist()} not in classes {np.asarray(classes).tolist()}"
            )
    if len(classes) < 2:
        raise ValueError(
            "y must contain at least 2 classes to train a classifier; "
            f"got only one class: {classes[0]!r}"
        )
    if len(classes) == 2:
        return Targets(BINARY, classes, (y == classes[1]).astype(dtype).reshape(-1, 1))
    return Targets(MULTICLASS, classes, np.searchsorted(classes, y).astype(np.int64))


def _labels(y: np.ndarray) -> np.ndarray:
    """The sorted distinct labels of ``y``: those :func:`attach_unique` found, if it ran."""
    metadata = getattr(y.dtype, "metadata", None)
    if metadata is not None and "unique" in metadata:
        return metadata["unique"]
    return np.unique(y)


def resolve_weights(
    sample_weight: Any,
    X: Any,
    targets: Targets,
    class_weight: Any,
    *,
    require_two_classes: bool = True,
) -> np.ndarray:
    """Per-element loss weights: ``sample_weight`` times the class weight of each target.

    Parameters
    ----------
    sample_weight : array-like of shape (n_samples,) or None
        Non-negative weight of each row (None: all ones).
    X : array-like
        The training data (for the length and dtype).
    targets : Targets
        Encoded targets.
    class_weight : dict, list of dict, "balanced" or None
        scikit-learn semantics: ``{label: weight}`` or ``"balanced"``
        (``n_samples / (n_classes · count)``, counted with ``sample_weight``). For multi-label
        targets, a list with one ``{0: w0, 1: w1}`` dict per label, or ``"balanced"`` for
        each label separately.
    require_two_classes : bool, default=True
        Raise unless at least 2 classes keep a positive total weight (False for the
        batches of ``partial_fit``, which may hold one class).

    Returns
    -------
    ndarray of shape (n_samples, 1) or (n_samples, n_labels)
        Broadcasts against the loss targets (``(n_samples, n_labels)`` only when a multi-label
        ``class_weight`` is given).

    Raises
    ------
    ValueError
        On negative weights, or when fewer than 2 classes keep a positive total weight
        (with ``require_two_classes``).
    """
    dtype = X.dtype
    sw = _check_sample_weight(sample_weight, X, dtype=dtype, ensure_non_negative=True)
    if targets.kind == MULTILABEL:
        weights = sw.reshape(-1, 1)
        if class_weight is not None:
            weights = weights * _multilabel_class_weights(class_weight, targets.encoded, sw)
        return weights.astype(dtype, copy=False)
    ids = targets.encoded.ravel().astype(np.intp)
    if class_weight is not None:
        if isinstance(class_weight, list):
            raise ValueError(
                "class_weight as a list of dicts is for multi-label y; got a list for "
                f"{targets.kind} y: use a dict {{label: weight}} or 'balanced'"
            )
        per_class = compute_class_weight(
            class_weight, classes=targets.classes, y=targets.classes[ids], sample_weight=sw
        )
        sw = sw * per_class[ids].astype(dtype)
    if not require_two_classes:
        return sw.reshape(-1, 1)
    totals = np.bincount(ids, weights=sw, minlength=len(targets.classes))
    kept = targets.classes[totals > 0]
    if len(kept) < 2:
        raise ValueError(
            "sample_weight and class_weight leave fewer than 2 classes with a positive total "
            f"weight (classes kept: {kept.tolist()}); a classifier needs at least 2"
        )
    return sw.reshape(-1, 1)


def _multilabel_class_weights(class_weight: Any, Y: np.ndarray, sw: np.ndarray) -> np.ndarray:
    """Element weights ``(n, n_labels)`` from one class weighting per label column."""
    n_labels = Y.shape[1]
    if isinstance(class_weight, dict):
        raise ValueError(
            "class_weight for multi-label y must be 'balanced' or a list of one "
            f"{{0: w0, 1: w1}} dict per label ({n_labels}); got a dict"
        )
    if isinstance(class_weight, list) and len(class_weight) != n_labels:
        raise ValueError(
            f"class_weight must have one dict per label ({n_labels}); got {len(class_weight)}"
        )
    out = np.empty_like(Y)
    binary = np.array([0, 1])
    for j in range(n_labels):
        cw = class_weight if isinstance(class_weight, str) else class_weight[j]
        col = Y[:, j].astype(np.intp)
        present = np.unique(col)
        per_class = np.ones(2)
        per_class[present] = compute_class_weight(
            cw, classes=binary[present], y=col, sample_weight=sw
        )
        out[:, j] = per_class[col]
    return out


def resolve_pos_weight(
    pos_weight: Any, targets: Targets, weights: np.ndarray | None
) -> float | np.ndarray | None:
    """The positive-class weight of the BCE loss.

    ``"balanced"`` gives ``n_neg / n_pos`` per label (counted with ``weights``, rows of
    ``targets.encoded``; None counts each row once), so both classes carry the same total
    weight; a number applies to every label, an array gives one value per label.
    """
    if pos_weight is None:
        return None
    if targets.kind == MULTICLASS:
        raise ValueError(
            "pos_weight applies to binary and multi-label targets; y has "
            f"{len(targets.classes)} classes: use class_weight instead"
        )
    Y = targets.encoded
    n_outputs = Y.shape[1]
    if isinstance(pos_weight, str):
        w = np.ones(1) if weights is None else np.broadcast_to(weights, Y.shape)
        n_pos = np.sum(w * Y, axis=0, dtype=np.float64)
        n_neg = np.sum(w * (1 - Y), axis=0, dtype=np.float64)
        if np.any(n_pos == 0):
            raise ValueError("pos_weight='balanced' needs positive samples in every label of y")
        pw = n_neg / n_pos
        return float(pw[0]) if targets.kind == BINARY else pw
    pw = np.asarray(pos_weight, dtype=np.float64)
    if pw.ndim == 0:
        return float(pw)
    if pw.shape != (n_outputs,) or not np.all(np.isfinite(pw) & (pw > 0)):
        raise ValueError(
            f"pos_weight must be a positive number, 'balanced' or {n_outputs} positive "
            f"values (one per label); got an array of shape {pw.shape}"
        )
    return pw


def check_loss_options(kind: str, loss: str, pos_weight: Any, n_classes: int) -> None:
    """Reject option combinations that have no meaning for these targets."""
    if loss == "focal" and kind == MULTICLASS:
        raise ValueError(
            f"loss='focal' needs binary or multi-label y; y has {n_classes} classes: "
            "use loss='bce' (softmax cross-entropy)"
        )
    if loss == "focal" and pos_weight is not None:
        raise ValueError(
            "pos_weight applies to loss='bce'; with loss='focal' weight the classes with alpha"
        )


def make_loss(
    kind: str,
    *,
    loss: str,
    gamma: float,
    alpha: float | None,
    pos_weight: float | np.ndarray | None,
    label_smoothing: float,
    reduction: str = "sum",
) -> Any:
    """The configured loss object from :mod:`bcekit.losses` for this kind of target.

    Binary and multi-label targets get ``BinaryCrossEntropyWithLogits`` (or
    ``SigmoidFocalLoss`` for ``loss="focal"``); multiclass targets ``SoftmaxCrossEntropy``.
    Each has ``value_and_grad(logits, targets, *, weight) -> (value, ∂value/∂logits)``.
    """
    from bcekit import losses

    if kind == MULTICLASS:
        return losses.SoftmaxCrossEntropy(label_smoothing=label_smoothing, reduction=reduction)
    if loss == "focal":
        return losses.SigmoidFocalLoss(
            gamma=gamma, alpha=alpha, label_smoothing=label_smoothing, reduction=reduction
        )
    return losses.BinaryCrossEntropyWithLogits(
        pos_weight=pos_weight, label_smoothing=label_smoothing, reduction=reduction
    )


class BCEClassifierMixin(ClassifierMixin):
    """``predict``, ``predict_proba`` and ``predict_log_proba`` from ``decision_function``.

    The estimator sets ``classes_`` and ``target_type_`` when fitted and implements
    ``decision_function`` (logits).
    """

    classes_: np.ndarray
    target_type_: str

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities.

        ``σ(z)`` for binary (returned as ``[1 − σ(z), σ(z)]``, shape ``(n, 2)``) and
        multi-label targets, ``softmax(z)`` for multiclass.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes) or (n_samples, n_labels)
        """
        z = self.decision_function(X)
        if self.target_type_ == BINARY:
            return np.column_stack([expit(-z), expit(z)])
        if self.target_type_ == MULTICLASS:
            return softmax(z, axis=1)
        return expit(z)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Logarithm of :meth:`predict_proba`, computed from the logits without underflow."""
        z = self.decision_function(X)
        if self.target_type_ == BINARY:
            return np.column_stack([log_expit(-z), log_expit(z)])
        if self.target_type_ == MULTICLASS:
            return log_softmax(z, axis=1)
        return log_expit(z)

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels: the most probable class, or a 0/1 row per label (multi-label).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_labels)
        """
        z = self.decision_function(X)
        if self.target_type_ == BINARY:
            return self.classes_[(z > 0).astype(np.intp)]
        if self.target_type_ == MULTICLASS:
            return self.classes_[np.argmax(z, axis=1)]
        return (z > 0).astype(np.int64)

    def _check_fitted(self) -> None:
        check_is_fitted(self, "classes_")

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        tags.input_tags.sparse = True
        return tags


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
    """

    reduction = "weighted_mean"

    def __init__(self, loss: Any, matrices: list[Any], alpha: float, *, per_batch: bool) -> None:
        self.loss = loss
        self.matrices = matrices
        self.alpha = float(alpha)
        self.per_batch = per_batch
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
            if fused is not None and v.flags.c_contiguous and g.flags.c_contiguous:
                # Numba is loaded (the kernel just ran): one pass instead of three.
                add_l2 = self._kernels[1]
                squares += add_l2(g.reshape(-1), v.reshape(-1), v.dtype.type(strength))
            else:
                g += strength * v
                squares += float(np.vdot(v, v))
        return value + 0.5 * strength * squares, grad

    def _fused_bce(
        self, logits: Any, targets: Any, weight: Any, total: float
    ) -> tuple[float, np.ndarray] | None:
        """BCE value and scaled gradient from one kernel call, or None where it does not apply.

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


def loss_weights(weights: np.ndarray, targets: Targets) -> np.ndarray | None:
    """Weights that broadcast against the encoded targets (one per row for class ids).

    None when every weight is 1: the loss then skips the multiplications (same result).
    """
    if np.all(weights == 1):
        return None
    return weights.ravel() if targets.kind == MULTICLASS else weights


def validation_set(
    estimator: Any,
    X: Any,
    targets: Targets,
    X_val: Any,
    y_val: Any,
    sample_weight_val: Any,
) -> tuple[Any, np.ndarray, np.ndarray | None] | None:
    """``(X_val, encoded y_val, loss weights)`` checked against the training data, or None.

    Raises
    ------
    ValueError
        Only one of ``X_val``/``y_val`` given, a feature count or class that the training data
        does not have, or another kind of target.
    """
    if (X_val is None) != (y_val is None):
        raise ValueError("X_val and y_val must be given together")
    if X_val is None:
        return None
    X_val, y_val = validate_data(
        estimator,
        X_val,
        y_val,
        accept_sparse="csr",
        dtype=X.dtype,
        multi_output=True,
        reset=False,
    )
    val_targets = encode_targets(y_val, X.dtype, classes=targets.classes)
    if val_targets.kind != targets.kind:
        raise ValueError(f"y_val is {val_targets.kind} but y is {targets.kind}; they must match")
    w_val = _check_sample_weight(
        sample_weight_val, X_val, dtype=X.dtype, ensure_non_negative=True
    ).reshape(-1, 1)
    return X_val, val_targets.encoded, loss_weights(w_val, val_targets)


def kept_training_state(estimator: Any) -> dict[str, Any]:
    """The training state an estimator's last minibatch ``fit`` kept (see ``training_state``)."""
    state = getattr(estimator, "_training_state", None)
    if state is None:
        raise ValueError(
            f"this {type(estimator).__name__} holds no training state: fit() with a minibatch "
            "solver keeps one; a loaded model or a full-batch solver has none"
        )
    return state
