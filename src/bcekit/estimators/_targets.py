"""Targets → head and loss: the three kinds of target a BCE estimator is fitted on.

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
``(n, 1)``, so the binary and multi-label code paths are one. :func:`encode_targets` gives the
kind and the encoded targets, :func:`make_loss` the loss of that kind,
:mod:`bcekit.estimators._heads` the probabilities and labels of its logits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.utils._unique import attach_unique
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import column_or_1d

__all__ = [
    "BINARY",
    "KINDS",
    "MULTICLASS",
    "MULTILABEL",
    "Targets",
    "check_loss_options",
    "check_saved_classes",
    "encode_more_targets",
    "encode_targets",
    "make_loss",
]

BINARY, MULTICLASS, MULTILABEL = "binary", "multiclass", "multilabel-indicator"
#: The target kinds, as model files name them (``target_type_``).
KINDS = (BINARY, MULTICLASS, MULTILABEL)


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


def encode_more_targets(estimator: Any, y: Any, dtype: np.dtype, classes: Any) -> Targets:
    """Encode the targets of a ``partial_fit`` call: the first fixes the classes, later agree.

    ``classes`` (optional on the first call, when ``y`` shows every class) must equal the
    first call's on later calls, whose ``y`` must be of the kind the estimator was fitted on
    (``classes_`` and ``target_type_`` set; ``n_outputs_`` labels for multi-label targets).
    """
    first = not hasattr(estimator, "classes_")
    if classes is not None:
        classes = np.unique(classes)
        if not first and not np.array_equal(classes, estimator.classes_):
            raise ValueError(
                f"classes={classes.tolist()} differs from the classes of the first "
                f"partial_fit call {estimator.classes_.tolist()}"
            )
    if first:
        return encode_targets(y, dtype, classes=classes)
    kind = estimator.target_type_
    known = np.arange(estimator.n_outputs_) if kind == MULTILABEL else estimator.classes_
    targets = encode_targets(y, dtype, classes=known)
    if targets.kind != kind:
        raise ValueError(f"y is {targets.kind} but the model was fitted on {kind} targets")
    return targets


def _labels(y: np.ndarray) -> np.ndarray:
    """The sorted distinct labels of ``y``: those :func:`attach_unique` found, if it ran."""
    metadata = getattr(y.dtype, "metadata", None)
    if metadata is not None and "unique" in metadata:
        return metadata["unique"]
    return np.unique(y)


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
