"""What every BCE estimator shares, in one import: targets, weights, validation, objective, heads.

Each piece lives in its own module; this one gathers them for the estimators
(``LogisticRegression``, ``MLPClassifier``, ``AnomalyClassifier``, ``SegmentationNet`` and the
Dask path) and holds the parameter constraints they share.

============================================  ===============================================
module                                        job
============================================  ===============================================
:mod:`~bcekit.estimators._targets`            target kinds, encoding, the loss of each kind
:mod:`~bcekit.estimators._weights`            class/sample/pos weights, per-row shaping
:mod:`~bcekit.estimators._validation`         fit inputs; given or held-out validation data
:mod:`~bcekit.estimators._training`           batch objective, model adapter, training_state
:mod:`~bcekit.estimators._heads`              decision_function, probabilities and labels
============================================  ===============================================
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

from sklearn.utils._param_validation import Interval, StrOptions

from bcekit.estimators._heads import BCEClassifierMixin, labels, probabilities
from bcekit.estimators._targets import (
    BINARY,
    KINDS,
    MULTICLASS,
    MULTILABEL,
    Targets,
    check_loss_options,
    check_saved_classes,
    encode_more_targets,
    encode_targets,
    make_loss,
)
from bcekit.estimators._training import (
    BatchObjective,
    DenseInput,
    TrainingStateMixin,
    kept_training_state,
)
from bcekit.estimators._validation import (
    FIT_INPUT_CHECKS,
    fit_inputs,
    split_validation,
    validation_set,
)
from bcekit.estimators._weights import (
    loss_weights,
    refuse_balanced,
    resolve_pos_weight,
    resolve_weights,
    row_weights,
    weight_total,
)

__all__ = [
    "BINARY",
    "FIT_INPUT_CHECKS",
    "KINDS",
    "MULTICLASS",
    "MULTILABEL",
    "SHARED_CONSTRAINTS",
    "BCEClassifierMixin",
    "BatchObjective",
    "DenseInput",
    "Targets",
    "TrainingStateMixin",
    "check_loss_options",
    "check_saved_classes",
    "encode_more_targets",
    "encode_targets",
    "fit_inputs",
    "kept_training_state",
    "labels",
    "loss_weights",
    "make_loss",
    "probabilities",
    "refuse_balanced",
    "resolve_pos_weight",
    "resolve_weights",
    "row_weights",
    "split_validation",
    "validation_set",
    "weight_total",
]

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
