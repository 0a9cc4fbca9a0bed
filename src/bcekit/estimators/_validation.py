"""The data of a fit, checked: training inputs, and validation data given or held out.

:func:`fit_inputs` checks ``X``, ``y`` and ``sample_weight`` and encodes the targets;
:func:`validation_set` checks given validation data against the training data;
:func:`split_validation` returns the training and validation triples ``(X, y, weights)`` a
:class:`bcekit.training.Trainer` takes, holding out a stratified share of the rows when asked.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import _check_sample_weight, validate_data

from bcekit.estimators._targets import MULTILABEL, Targets, check_loss_options, encode_targets
from bcekit.estimators._weights import loss_weights, resolve_weights

__all__ = ["FIT_INPUT_CHECKS", "fit_inputs", "split_validation", "validation_set"]

#: What ``validate_data`` checks the ``X`` and ``y`` of a fit for: float (CSR kept sparse), 2-D y.
FIT_INPUT_CHECKS: dict[str, Any] = {
    "accept_sparse": "csr",
    "dtype": [np.float64, np.float32],
    "multi_output": True,
}

#: ``(X, encoded y, loss weights or None)``, as the Trainer takes training and validation data.
Triple = tuple[Any, np.ndarray, np.ndarray | None]


def fit_inputs(
    estimator: Any, X: Any, y: Any, sample_weight: Any
) -> tuple[Any, Targets, np.ndarray]:
    """``(X, targets, weights)`` of an in-memory ``fit``: checked, encoded, weighted.

    ``X`` becomes float64 or float32 (CSR kept sparse); the targets are encoded by
    :func:`encode_targets` and checked against the estimator's ``loss`` and ``pos_weight``;
    the weights are :func:`resolve_weights` of ``sample_weight`` and its ``class_weight``.
    """
    X, y = validate_data(estimator, X, y, **FIT_INPUT_CHECKS)
    targets = encode_targets(y, X.dtype)
    check_loss_options(targets.kind, estimator.loss, estimator.pos_weight, len(targets.classes))
    return X, targets, resolve_weights(sample_weight, X, targets, estimator.class_weight)


def validation_set(
    estimator: Any,
    X: Any,
    targets: Targets,
    X_val: Any,
    y_val: Any,
    sample_weight_val: Any,
) -> Triple | None:
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


def split_validation(
    estimator: Any,
    X: Any,
    targets: Targets,
    weights: np.ndarray,
    validation: tuple[Any, Any, Any],
    *,
    holdout: float | None,
    rng: np.random.RandomState,
) -> tuple[Triple, Triple | None]:
    """The training triple and the validation triple (or None), loss-ready.

    Parameters
    ----------
    estimator : estimator
        Checks the validation data's features (``n_features_in_``, names).
    X, targets, weights : training data, encoded targets, :func:`resolve_weights` output
    validation : (X_val, y_val, sample_weight_val)
        Given validation data (all None: none given); it takes precedence over ``holdout``.
    holdout : float in (0, 1) or None
        Share of the rows to hold out (``ceil(holdout · n)`` of them), stratified by class
        unless a class has too few rows to be split (or ``y`` is multi-label); None holds out
        nothing.
    rng : RandomState
        Draws the held-out rows.

    Raises
    ------
    ValueError
        Given validation data that does not fit (:func:`validation_set`), or a ``holdout``
        that leaves fewer than 2 rows on a side.
    """
    train = (X, targets.encoded, loss_weights(weights, targets))
    given = validation_set(estimator, X, targets, *validation)
    if given is not None or holdout is None:
        return train, given
    n = X.shape[0]
    n_val = int(np.ceil(holdout * n))
    if n_val < 2 or n - n_val < 2:
        raise ValueError(
            f"validation_fraction={holdout} of {n} samples leaves too few samples to train "
            "or to validate on; increase 'validation_fraction' or pass X_val/y_val"
        )
    stratify = None if targets.kind == MULTILABEL else targets.encoded.ravel()
    rows = np.arange(n)
    try:  # stratified unless a class has too few members to be split
        idx_train, idx_val = train_test_split(
            rows, test_size=n_val, random_state=rng, stratify=stratify
        )
    except ValueError:
        idx_train, idx_val = train_test_split(rows, test_size=n_val, random_state=rng)
    Y, W = train[1], train[2]
    W_train, W_val = (None, None) if W is None else (W[idx_train], W[idx_val])
    return (X[idx_train], Y[idx_train], W_train), (X[idx_val], Y[idx_val], W_val)
