"""``AnomalyClassifier``: BCE training for a rare positive class.

The estimator trains a bcekit MLP (or logistic regression) on part of the data with the
class imbalance handled in the loss, then uses a stratified validation split for three
choices: which imbalance treatment (``imbalance="auto"``), how to calibrate the
probabilities, and where to put the decision threshold.
:func:`bcekit.estimators.anomaly_report.anomaly_report` evaluates a model on held-out data.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real
from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.metrics import average_precision_score
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from bcekit.estimators._files import anomaly_arrays, anomaly_meta, restore_anomaly
from bcekit.estimators._heads import labels, probabilities
from bcekit.estimators._targets import BINARY
from bcekit.estimators.calibration import CALIBRATION_METHODS, apply_calibration, choose_calibration
from bcekit.estimators.thresholds import OBJECTIVES, operating_point, tune_threshold

__all__ = ["AnomalyClassifier"]

IMBALANCE_MODES = ("balanced", "none", "focal", "both")


def _imbalance_params(
    mode: str, base: str, n_pos: float, n_neg: float, gamma: float
) -> dict[str, Any]:
    """Loss keywords of the base estimator for one imbalance treatment.

    ``"balanced"`` sets ``pos_weight = n_neg / n_pos``; ``"both"`` uses the focal loss with
    ``α = n_neg / (n_neg + n_pos)``, whose class weights ``α : (1 − α)`` have the same ratio.
    """
    if mode == "balanced":
        return {"pos_weight": n_neg / n_pos}
    if mode == "focal":
        return {"loss": "focal", "gamma": gamma}
    if mode == "both":
        # The MLP names the focal α "focal_alpha" (its "alpha" is the L2 penalty).
        alpha_name = "focal_alpha" if base == "mlp" else "alpha"
        return {"loss": "focal", "gamma": gamma, alpha_name: n_neg / (n_neg + n_pos)}
    return {}


class AnomalyClassifier(ClassifierMixin, BaseEstimator):
    """Binary classifier for a rare positive class (anomalies), trained with BCE.

    Fitting holds out a stratified ``validation_fraction`` of the data and trains the base
    model (``base``) on the rest, with the class imbalance handled in the loss. The
    validation split then decides, in order:

    1. the imbalance treatment, when ``imbalance="auto"``: each of ``"balanced"``,
       ``"none"``, ``"focal"``, ``"both"`` is trained and the one with the highest
       validation average precision is kept (``imbalance_scores_``);
    2. the calibration of ``predict_proba`` (Platt's sigmoid or isotonic regression,
       fitted by :class:`sklearn.calibration.CalibratedClassifierCV` on the validation
       split). ``"auto"`` compares out-of-fold (5-fold over the validation split) log loss
       and Brier score of each map with the uncalibrated model, and keeps a map only if it
       lowers both (the lower log loss wins);
    3. the decision threshold, optimising ``threshold_objective`` on the validation
       scores with :func:`bcekit.estimators.thresholds.tune_threshold`.

    The threshold is tuned with :func:`sklearn.metrics.precision_recall_curve` /
    :func:`~sklearn.metrics.roc_curve` on the one validation split rather than with
    :class:`sklearn.model_selection.TunedThresholdClassifierCV`: the same split already
    serves model selection and calibration, so a cross-validated tuner would refit the
    network once per fold for no gain, and the constrained objectives ("best precision
    with recall at least r") are a search over the curve, not a single scorer.

    The final model is the one trained on the training part; it is not refitted on all the
    data, since the calibration map and threshold belong to that model.

    ``pos_weight`` moves the probabilities far more than the ranking, which is why the
    default pairs it with calibration and a tuned threshold. A large weight (``n_neg /
    n_pos`` is 49 at 2% anomalies) can also cost an MLP some average precision when the
    anomalies are few; ``imbalance="auto"`` guards against that by comparing validation
    average precision.

    Parameters
    ----------
    base : {"mlp", "logistic"}, default="mlp"
        :class:`bcekit.MLPClassifier` or :class:`bcekit.LogisticRegression`.
    imbalance : {"balanced", "focal", "both", "none", "auto"}, default="balanced"
        ``"balanced"``: BCE with ``pos_weight = n_neg / n_pos``. ``"focal"``: focal loss
        with ``gamma=focal_gamma``. ``"both"``: focal loss with class weights in the
        ratio ``n_neg : n_pos``. ``"none"``: plain BCE. ``"auto"``: the best of the four by
        validation average precision. Counts use ``sample_weight``.
    focal_gamma : float >= 0, default=2.0
        Focusing parameter γ of the focal loss ``α_t (1 − p_t)^γ · CE``.
    threshold_objective : {"f1", "precision_at_recall", "recall_at_precision", "cost"}, \
default="f1"
        What the threshold optimises on the validation split: F1; precision subject to
        recall >= ``target_recall``; recall subject to precision >= ``target_precision``;
        or the expected cost ``cost_ratio · FN + FP``.
    target_recall, target_precision : float in (0, 1], default=None
        Required by the two constrained objectives.
    cost_ratio : float > 0, default=None
        Cost of a missed anomaly relative to a false alarm; required by ``"cost"``.
    calibration : {"auto", "sigmoid", "isotonic"} or None, default="auto"
        Calibration of ``predict_proba``; None leaves the base model's probabilities.
        ``"auto"`` needs at least 10 samples of each class in the validation split and
        otherwise keeps none.
    validation_fraction : float in (0, 1), default=0.25
        Share of the data held out (stratified) for the choices above. If either class
        has too few samples to be split, the training data is used and a warning issued.
    hidden_layer_sizes : tuple of int, default=(64,)
        Hidden layers of the MLP base.
    max_iter : int, default=200
        Epochs of the MLP base, or iterations of the logistic solver.
    base_params : dict, default=None
        Further keyword arguments of the base estimator (e.g. ``{"learning_rate_init":
        1e-3}``); they override those set here.
    random_state : int, RandomState or None, default=None
        Seeds the validation split and the base model.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        Class labels; ``classes_[1]`` is the anomaly (positive) class.
    base_estimator_ : estimator
        The fitted base model.
    n_iter_ : int
        Epochs (MLP) or solver iterations (logistic) the base model ran.
    imbalance_ : str
        The imbalance treatment used.
    imbalance_scores_ : dict
        Validation average precision of each treatment trained.
    calibration_ : {"sigmoid", "isotonic"} or None
        The calibration kept.
    calibration_params_ : ndarray
        The calibration map (see :func:`bcekit.estimators.calibration.fit_calibration`);
        empty when none.
    threshold_log_odds_ : float
        Decision threshold on the calibrated log-odds: ``predict`` flags
        ``decision_function(X) > 0``, i.e. log-odds above this value.
    threshold_ : float
        The same threshold as a probability: anomalies are ``predict_proba(X)[:, 1] >
        threshold_`` (up to rounding in the sigmoid).
    validation_operating_point_ : dict
        Precision, recall, F1 and confusion counts at the threshold on the validation split.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` has string column names.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> X, y = make_classification(2000, weights=[0.97], random_state=0)
    >>> clf = AnomalyClassifier(random_state=0).fit(X, y)  # doctest: +SKIP
    >>> clf.predict(X[:5]), clf.score(X, y)  # doctest: +SKIP
    """

    _parameter_constraints: dict = {  # noqa: RUF012
        "base": [StrOptions({"mlp", "logistic"})],
        "imbalance": [StrOptions({*IMBALANCE_MODES, "auto"})],
        "focal_gamma": [Interval(Real, 0, None, closed="left")],
        "threshold_objective": [StrOptions(set(OBJECTIVES))],
        "target_recall": [Interval(Real, 0, 1, closed="right"), None],
        "target_precision": [Interval(Real, 0, 1, closed="right"), None],
        "cost_ratio": [Interval(Real, 0, None, closed="neither"), None],
        "calibration": [StrOptions({"auto", *CALIBRATION_METHODS}), None],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "base_params": [dict, None],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        base: str = "mlp",
        imbalance: str = "balanced",
        focal_gamma: float = 2.0,
        threshold_objective: str = "f1",
        target_recall: float | None = None,
        target_precision: float | None = None,
        cost_ratio: float | None = None,
        calibration: str | None = "auto",
        validation_fraction: float = 0.25,
        hidden_layer_sizes: tuple[int, ...] = (64,),
        max_iter: int = 200,
        base_params: dict | None = None,
        random_state: Any = None,
    ) -> None:
        self.base = base
        self.imbalance = imbalance
        self.focal_gamma = focal_gamma
        self.threshold_objective = threshold_objective
        self.target_recall = target_recall
        self.target_precision = target_precision
        self.cost_ratio = cost_ratio
        self.calibration = calibration
        self.validation_fraction = validation_fraction
        self.hidden_layer_sizes = hidden_layer_sizes
        self.max_iter = max_iter
        self.base_params = base_params
        self.random_state = random_state

    # ------------------------------------------------------------------ fitting
    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> AnomalyClassifier:
        """Train the base model, then choose imbalance treatment, calibration and threshold.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Two classes; the larger label (``classes_[1]``) is the anomaly class.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the loss, of the class counts and of every validation metric.

        Returns
        -------
        self : AnomalyClassifier
        """
        self._check_objective_params()
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        y01 = self._encode_targets(y)
        sw = (
            None
            if sample_weight is None
            else _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        )
        if sw is not None and np.unique(y01[sw > 0]).size < 2:
            raise ValueError(
                "sample_weight must leave both classes with a positive total weight; only "
                f"class {self.classes_[y01[sw > 0][0]]!r} has one"
            )
        rng = check_random_state(self.random_state)
        train, val = self._split(y01, sw, rng)
        seed = int(rng.randint(np.iinfo(np.int32).max))

        def weights(idx: np.ndarray) -> np.ndarray | None:
            return None if sw is None else sw[idx]

        modes = IMBALANCE_MODES if self.imbalance == "auto" else (self.imbalance,)
        fitted, self.imbalance_scores_ = {}, {}
        for mode in modes:
            model = self._make_base(mode, y01[train], weights(train), seed)
            model.fit(X[train], y01[train], sample_weight=weights(train))
            fitted[mode] = model
            self.imbalance_scores_[mode] = float(
                average_precision_score(
                    y01[val], _raw_scores(model, X[val]), sample_weight=weights(val)
                )
            )
        self.imbalance_ = max(modes, key=lambda m: self.imbalance_scores_[m])
        self.base_estimator_ = fitted[self.imbalance_]
        self.n_iter_ = int(np.max(getattr(self.base_estimator_, "n_iter_", 0)))

        raw_val = _raw_scores(self.base_estimator_, X[val])
        self.calibration_, self.calibration_params_ = choose_calibration(
            self.base_estimator_, self.calibration, X[val], y01[val], weights(val), raw_val, seed
        )
        log_odds = apply_calibration(raw_val, self.calibration_, self.calibration_params_)
        choice = tune_threshold(
            y01[val],
            log_odds,
            self.threshold_objective,
            target_recall=self.target_recall,
            target_precision=self.target_precision,
            cost_ratio=self.cost_ratio,
            sample_weight=weights(val),
        )
        self.threshold_log_odds_ = choice.threshold
        self.threshold_ = float(expit(choice.threshold))
        self.validation_operating_point_ = operating_point(
            y01[val], (log_odds > choice.threshold).astype(np.int64), sample_weight=weights(val)
        )
        return self

    def _check_objective_params(self) -> None:
        needs = {
            "precision_at_recall": ("target_recall", self.target_recall),
            "recall_at_precision": ("target_precision", self.target_precision),
            "cost": ("cost_ratio", self.cost_ratio),
        }.get(self.threshold_objective)
        if needs is not None and needs[1] is None:
            raise ValueError(
                f"threshold_objective={self.threshold_objective!r} needs {needs[0]}; got None. "
                f"Pass e.g. AnomalyClassifier(threshold_objective={self.threshold_objective!r}, "
                f"{needs[0]}=...)"
            )

    def _encode_targets(self, y: np.ndarray) -> np.ndarray:
        """Set ``classes_`` and return y as 0/1 (1 = ``classes_[1]``)."""
        check_classification_targets(y)
        y_type = type_of_target(y, input_name="y")
        if y_type != "binary":
            raise ValueError(
                "Only binary classification is supported. The type of the target is "
                f"{y_type}; AnomalyClassifier needs y with two classes (normal, anomaly)."
            )
        self.classes_ = np.unique(y)
        if self.classes_.size != 2:
            raise ValueError(
                "y must contain two classes (normal and anomaly); got one class: "
                f"{self.classes_[0]!r}"
            )
        return (y == self.classes_[1]).astype(np.int64)

    def _split(
        self, y01: np.ndarray, sw: np.ndarray | None, rng: np.random.RandomState
    ) -> tuple[np.ndarray, np.ndarray]:
        """Stratified train/validation indices; all rows for both when a class is too rare."""
        everything = np.arange(y01.size)
        if np.bincount(y01, minlength=2).min() >= 2:
            try:
                train, val = train_test_split(
                    everything,
                    test_size=self.validation_fraction,
                    stratify=y01,
                    random_state=rng,
                )
            except ValueError:  # too few rows for a stratified split of this size
                train = val = None
            if train is not None and all(
                np.unique(y01[part] if sw is None else y01[part][sw[part] > 0]).size == 2
                for part in (train, val)
            ):
                return train, val
        warnings.warn(
            f"y has too few samples of a class ({np.bincount(y01, minlength=2).tolist()}) to "
            f"hold out validation_fraction={self.validation_fraction} with both classes; "
            "imbalance, calibration and threshold are chosen on the training data",
            UserWarning,
            stacklevel=3,
        )
        return everything, everything

    def _make_base(
        self, mode: str, y01: np.ndarray, sw: np.ndarray | None, seed: int
    ) -> BaseEstimator:
        w = np.ones(y01.size) if sw is None else sw
        n_pos, n_neg = float(w[y01 == 1].sum()), float(w[y01 == 0].sum())
        params: dict[str, Any] = {"max_iter": self.max_iter, "random_state": seed}
        params.update(_imbalance_params(mode, self.base, n_pos, n_neg, self.focal_gamma))
        if self.base == "mlp":
            params["hidden_layer_sizes"] = tuple(
                int(n) for n in np.atleast_1d(self.hidden_layer_sizes)
            )
        params.update(self.base_params or {})
        return _base_class(self.base)(**params)

    # --------------------------------------------------------------- prediction
    def _log_odds(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        raw = _raw_scores(self.base_estimator_, X)
        return apply_calibration(raw, self.calibration_, self.calibration_params_)

    def decision_function(self, X: Any) -> np.ndarray:
        """``logit(predict_proba(X)[:, 1]) − threshold_log_odds_``, shape ``(n_samples,)``.

        The calibrated log-odds of an anomaly minus the threshold's: positive means anomaly.
        """
        return self._log_odds(X) - self.threshold_log_odds_

    def predict_proba(self, X: Any) -> np.ndarray:
        """Calibrated class probabilities ``[P(normal), P(anomaly)]``, shape ``(n_samples, 2)``."""
        return probabilities(self._log_odds(X), BINARY)

    def predict(self, X: Any) -> np.ndarray:
        """Class labels ``(n_samples,)``: ``classes_[1]`` where ``decision_function(X) > 0``."""
        return labels(self.decision_function(X), BINARY, self.classes_)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Average precision of the anomaly scores (area under the precision–recall curve).

        :math:`AP = \\sum_n (R_n - R_{n-1}) P_n` over the thresholds of
        :func:`sklearn.metrics.average_precision_score`; independent of the threshold.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        float
        """
        scores = self.decision_function(X)
        y_pos = np.asarray(y) == self.classes_[1]
        return float(average_precision_score(y_pos, scores, sample_weight=sample_weight))

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    # --------------------------------------------------- model files (bcekit.io)
    def _state_arrays(self) -> dict[str, np.ndarray]:
        return anomaly_arrays(self)

    def _state_meta(self) -> dict[str, Any]:
        return anomaly_meta(self)

    @classmethod
    def _from_state(
        cls, params: dict[str, Any], arrays: dict[str, np.ndarray], meta: dict[str, Any]
    ) -> AnomalyClassifier:
        model = cls(**params)
        return restore_anomaly(model, arrays, meta, _base_class(model.base))


def _base_class(name: str) -> type:
    """The bcekit estimator class of a ``base`` name."""
    if name == "mlp":
        from bcekit.estimators.mlp import MLPClassifier

        return MLPClassifier
    if name == "logistic":
        from bcekit.estimators.logistic import LogisticRegression

        return LogisticRegression
    raise ValueError(f"base must be 'mlp' or 'logistic'; got {name!r}")


def _raw_scores(model: Any, X: np.ndarray) -> np.ndarray:
    """Logits of the positive class from a fitted bcekit binary estimator."""
    return np.asarray(model.decision_function(X), dtype=np.float64).ravel()
