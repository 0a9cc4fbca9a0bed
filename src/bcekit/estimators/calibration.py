"""Calibration of a binary model's scores: Platt's sigmoid or isotonic regression, as numbers.

:func:`fit_calibration` fits a map around a frozen model with
:class:`sklearn.calibration.CalibratedClassifierCV` and returns it as plain arrays (so a model
file can hold it); :func:`apply_calibration` evaluates it on logits; :func:`choose_calibration`
picks the map :class:`~bcekit.estimators.anomaly.AnomalyClassifier` keeps.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy.special import expit, logit
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import brier_score_loss, log_loss
from sklearn.model_selection import StratifiedKFold, cross_val_predict

__all__ = [
    "CALIBRATION_METHODS",
    "EPS",
    "apply_calibration",
    "choose_calibration",
    "fit_calibration",
]

CALIBRATION_METHODS = ("sigmoid", "isotonic")

#: Probabilities are clipped to [EPS, 1 - EPS] before taking log-odds (isotonic maps reach 0, 1).
EPS = 1e-15
# "auto" calibration compares out-of-fold predictions: it needs this many of each class.
_MIN_PER_CLASS_AUTO = 10
_FROZEN_WEIGHT_WARNING = ".*does not appear to accept sample_weight.*"


def fit_calibration(
    model: Any, X: np.ndarray, y: np.ndarray, method: str, sample_weight: np.ndarray | None
) -> np.ndarray:
    """Fit Platt or isotonic calibration of a fitted binary ``model`` on ``(X, y)``.

    The map is fitted by :class:`sklearn.calibration.CalibratedClassifierCV` around the
    frozen model (its ``decision_function``), and returned as plain numbers so that
    :func:`apply_calibration` can evaluate it and the model can be saved as arrays.

    Returns
    -------
    ndarray
        ``[a, b]`` for ``"sigmoid"`` (``p = 1 / (1 + exp(a·s + b))``), or a ``(2, k)`` array
        of isotonic knots ``[s_knots, p_knots]`` for ``"isotonic"``.
    """
    calibrated = CalibratedClassifierCV(FrozenEstimator(model), method=method, cv=2)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_FROZEN_WEIGHT_WARNING, category=UserWarning)
        calibrated.fit(X, y, sample_weight=sample_weight)
    calibrator = calibrated.calibrated_classifiers_[0].calibrators[0]
    if method == "sigmoid":
        return np.array([calibrator.a_, calibrator.b_], dtype=np.float64)
    return np.vstack([calibrator.X_thresholds_, calibrator.y_thresholds_]).astype(np.float64)


def apply_calibration(scores: np.ndarray, method: str | None, params: np.ndarray) -> np.ndarray:
    """Calibrated log-odds of raw ``scores`` (logits) under a map from :func:`fit_calibration`.

    ``None``: the scores themselves. ``"sigmoid"``: ``−(a·s + b)``, the log-odds of Platt's
    ``p = 1 / (1 + exp(a·s + b))``. ``"isotonic"``: ``logit(p)`` of the piecewise-linear
    interpolation between the knots, constant beyond the end knots (scikit-learn's
    ``out_of_bounds="clip"``), with ``p`` clipped to ``[1e-15, 1 − 1e-15]``.
    """
    if method is None:
        return scores
    if method == "sigmoid":
        a, b = params
        return -(a * scores + b)
    p = np.interp(scores, params[0], params[1])
    return logit(np.clip(p, EPS, 1.0 - EPS))


def choose_calibration(
    model: Any,
    method: str | None,
    X: np.ndarray,
    y01: np.ndarray,
    sw: np.ndarray | None,
    raw: np.ndarray,
    seed: int,
) -> tuple[str | None, np.ndarray]:
    """The calibration kept for the fitted ``model`` and its map, fitted on ``(X, y01)``.

    ``method`` is ``"sigmoid"``, ``"isotonic"``, None, or ``"auto"``: the out-of-fold
    (5-fold) comparison of both maps with none, on log loss and Brier score, when each class
    has at least 10 samples (none otherwise). A fixed method with fewer than 2 samples of a
    class is dropped with a warning. ``raw`` holds the model's logits on ``X``.
    """
    counts = np.bincount(y01, minlength=2).min()
    if method == "auto":
        method = None
        if counts >= _MIN_PER_CLASS_AUTO:
            method = _best_calibration(model, X, y01, sw, raw, seed)
    elif method is not None and counts < 2:
        warnings.warn(
            f"calibration={method!r} needs at least 2 samples of each class in the "
            f"validation split; got {counts}. predict_proba is left uncalibrated",
            UserWarning,
            stacklevel=3,
        )
        method = None
    if method is None:
        return None, np.empty(0)
    return method, fit_calibration(model, X, y01, method, sw)


def _best_calibration(
    model: Any,
    X: np.ndarray,
    y01: np.ndarray,
    sw: np.ndarray | None,
    raw: np.ndarray,
    seed: int,
) -> str | None:
    """Out-of-fold comparison of sigmoid, isotonic and no calibration."""
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    params = None if sw is None else {"sample_weight": sw}

    def losses(p: np.ndarray) -> tuple[float, float]:
        return (
            float(log_loss(y01, p, sample_weight=sw, labels=[0, 1])),
            float(brier_score_loss(y01, p, sample_weight=sw, labels=[0, 1])),
        )

    best, (best_log, best_brier) = None, losses(expit(raw))
    for method in CALIBRATION_METHODS:
        calibrated = CalibratedClassifierCV(FrozenEstimator(model), method=method, cv=2)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_FROZEN_WEIGHT_WARNING, category=UserWarning)
            p = cross_val_predict(
                calibrated, X, y01, cv=folds, method="predict_proba", params=params
            )[:, 1]
        log, brier = losses(p)
        if log < best_log and brier <= best_brier:
            best, best_log, best_brier = method, log, brier
    return best
