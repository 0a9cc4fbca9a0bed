"""Logits → probabilities and labels, by the kind of target (the heads of the BCE estimators).

=====================  ======================================  ==============================
kind                   probabilities                           labels
=====================  ======================================  ==============================
``"binary"``           ``[σ(−z), σ(z)]`` of logits ``(n,)``    ``classes[z > 0]``
``"multiclass"``       ``softmax(z)``                          ``classes[argmax z]``
multi-label            ``σ(z)`` per label                      ``z > 0`` per label, as 0/1
=====================  ======================================  ==============================

``log=True`` gives the logarithms, computed from the logits without underflow
(``log σ(z) = −log(1 + e^{−z})``, ``log softmax``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit, log_expit, log_softmax, softmax
from sklearn.base import ClassifierMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from bcekit.estimators._targets import BINARY, MULTICLASS

__all__ = ["BCEClassifierMixin", "labels", "probabilities"]


def probabilities(z: np.ndarray, kind: str, *, log: bool = False) -> np.ndarray:
    """Class probabilities (or their logarithms) of logits ``z`` for targets of ``kind``."""
    sigmoid, normalise = (log_expit, log_softmax) if log else (expit, softmax)
    if kind == BINARY:
        return np.column_stack([sigmoid(-z), sigmoid(z)])
    if kind == MULTICLASS:
        return normalise(z, axis=1)
    return sigmoid(z)


def labels(z: np.ndarray, kind: str, classes: np.ndarray) -> np.ndarray:
    """Predicted labels of logits ``z``: the most probable class, or a 0/1 row per label."""
    if kind == BINARY:
        return classes[(z > 0).astype(np.intp)]
    if kind == MULTICLASS:
        return classes[np.argmax(z, axis=1)]
    return (z > 0).astype(np.int64)


class BCEClassifierMixin(ClassifierMixin):
    """``decision_function`` and the predictions from it, by the kind of target.

    The estimator sets ``classes_`` and ``target_type_`` when fitted and implements
    ``_logits(X) -> (n, n_outputs)`` on checked in-memory ``X``.
    """

    classes_: np.ndarray
    target_type_: str

    def decision_function(self, X: Any) -> Any:
        """Logits: shape (n_samples,) for binary targets, else (n_samples, n_outputs).

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array, dask DataFrame} of shape (n_samples, n_features)

        Returns
        -------
        ndarray, or a lazy dask array computed block by block for dask input
        """
        from bcekit.estimators._dask import dask_input, map_rows  # it imports this module

        if dask_input(X):
            return map_rows(self, X, "decision_function")
        self._check_fitted()
        X = validate_data(self, X, accept_sparse="csr", dtype=[np.float64, np.float32], reset=False)
        Z = self._logits(X)
        return Z.ravel() if self.target_type_ == BINARY else Z

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
        return probabilities(self.decision_function(X), self.target_type_)

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Logarithm of :meth:`predict_proba`, computed from the logits without underflow."""
        return probabilities(self.decision_function(X), self.target_type_, log=True)

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels: the most probable class, or a 0/1 row per label (multi-label).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_labels)
        """
        return labels(self.decision_function(X), self.target_type_, self.classes_)

    def _check_fitted(self) -> None:
        check_is_fitted(self, "classes_")

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        tags.input_tags.sparse = True
        return tags
