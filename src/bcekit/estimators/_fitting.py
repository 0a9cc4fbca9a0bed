"""The one ``fit`` of the BCE classifiers: check the call, then hand it to the estimator.

:class:`BCEFitMixin.fit` is the public entry point of :class:`LogisticRegression` and
:class:`MLPClassifier`. Dask input goes to the estimator's ``_fit_dask`` (from
:mod:`bcekit.estimators._dask`) unchecked, since its checks run on the workers; in-memory
input is checked and encoded by :func:`fit_inputs` and goes to ``_fit_arrays``. Both receive
the validation data as one triple ``(X_val, y_val, sample_weight_val)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, Self

import numpy as np
from sklearn.base import _fit_context

from bcekit.estimators._dask import dask_input
from bcekit.estimators._targets import Targets
from bcekit.estimators._validation import fit_inputs
from bcekit.training import Callback

__all__ = ["FIT_DEPTH", "BCEFitMixin", "FitData"]

#: Stack frames from the user's call of ``fit`` to a warning raised directly in
#: ``_fit_arrays`` or ``_fit_dask``: the estimator's method, ``fit``, scikit-learn's
#: ``_fit_context`` wrapper. A helper they call adds one.
FIT_DEPTH = 4


class FitData(NamedTuple):
    """What ``_fit_arrays`` gets: the checked in-memory data and the rest of the call."""

    X: Any
    targets: Targets
    weights: np.ndarray
    validation: tuple[Any, Any, Any]
    callbacks: Sequence[Callback]
    resume_from: Mapping[str, Any] | None


class BCEFitMixin:
    """``fit`` for an estimator that implements ``_fit_arrays`` and ``_fit_dask``.

    ``_fit_arrays(data: FitData)`` takes checked in-memory data;
    ``_fit_dask(X, y, weights, validation, loop)`` takes dask input, with ``loop`` telling
    that ``callbacks`` or ``resume_from`` were given.
    """

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(
        self,
        X: Any,
        y: Any,
        sample_weight: Any = None,
        *,
        X_val: Any = None,
        y_val: Any = None,
        sample_weight_val: Any = None,
        callbacks: Sequence[Callback] = (),
        resume_from: Mapping[str, Any] | None = None,
    ) -> Self:
        """Fit the model (see the class docstring for what each solver does).

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array, dask DataFrame} of shape (n_samples, n_features)
            Training data; float32 trains in float32, CSR matrices are used as they are.
            Dask input (1-D class labels; see the class docstring for the solvers that take
            it) stays on the workers.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            Class labels, or a 0/1 indicator matrix for multi-label classification.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight per sample: each (batch) objective is ``Σ s_i ℓ_i / Σ s_i``.
            With full-batch training weight 2 is the same as repeating the row; with
            minibatches it is not exactly (the batches differ).
        X_val, y_val : validation data, optional
            Its loss is recorded in ``history_`` after every epoch or iteration. Solvers that
            train by epochs (MLPClassifier, LogisticRegression's "sgd" and "adam") also stop
            on it, instead of a split of ``X``, and restore the weights of the best epoch;
            "lbfgs" and "gd" only record it.
        sample_weight_val : array-like of shape (n_val_samples,), default=None
            Weights of the validation rows.
        callbacks : sequence of bcekit.training.Callback, default=()
            Epoch-trained solvers only: hooks into the training loop, run after the
            estimator's own and before the training state of the epoch is kept (one that
            raises in ``on_epoch_end`` leaves that of the epoch before).
        resume_from : dict, optional
            Epoch-trained solvers only: a :meth:`training_state` (e.g. read back with
            :func:`bcekit.io.load_training_state`) to continue from. Training runs from the
            epoch after it up to ``max_iter`` and ends exactly as the run it came from would
            have, given the same data and parameters; ``history_`` then holds every epoch.

        Returns
        -------
        self
        """
        validation = (X_val, y_val, sample_weight_val)
        if dask_input(X, y, sample_weight):
            loop = bool(callbacks) or resume_from is not None
            return self._fit_dask(X, y, sample_weight, validation, loop)
        X, targets, weights = fit_inputs(self, X, y, sample_weight)
        return self._fit_arrays(FitData(X, targets, weights, validation, callbacks, resume_from))
