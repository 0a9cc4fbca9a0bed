"""Tests for bcekit.AnomalyClassifier: imbalance handling, calibration, threshold, API."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.special import expit
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.metrics import average_precision_score, log_loss, recall_score
from sklearn.model_selection import train_test_split
from sklearn.utils.estimator_checks import parametrize_with_checks

from bcekit.estimators.anomaly import AnomalyClassifier
from bcekit.estimators.calibration import apply_calibration, fit_calibration

pytestmark = pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)

# Small networks keep the scikit-learn API checks fast.
FAST = {"hidden_layer_sizes": (8,), "max_iter": 30}


def _imbalanced(n=6000, positive=0.02, seed=0, sep=1.5):
    X, y = make_classification(
        n_samples=n,
        n_features=10,
        n_informative=4,
        weights=[1 - positive],
        flip_y=0,
        class_sep=sep,
        random_state=seed,
    )
    return train_test_split(X, y, test_size=0.3, stratify=y, random_state=seed)


@pytest.fixture(scope="module")
def rare():
    return _imbalanced()


@pytest.fixture(scope="module")
def fitted(rare):
    X_train, _, y_train, _ = rare
    return AnomalyClassifier(random_state=0).fit(X_train, y_train)


# ------------------------------------------------------------------ the claim
def test_balanced_and_tuned_threshold_find_more_anomalies():
    """2% positives: pos_weight='balanced' + tuned threshold vs. unweighted BCE at 0.5.

    Both networks are trained on the same rows with the same seed; the unweighted one is
    used as trained (no calibration, threshold 0.5). A large test set (40,000 rows, ~800
    anomalies) keeps the measured differences well above sampling noise.
    """
    X, y = make_classification(
        n_samples=48_000,
        n_features=4,
        n_informative=2,
        n_redundant=0,
        n_clusters_per_class=1,
        weights=[0.98],
        flip_y=0,
        class_sep=0.3,
        random_state=2,
    )
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, train_size=8000, stratify=y, random_state=2
    )
    tuned = AnomalyClassifier(imbalance="balanced", random_state=0).fit(X_train, y_train)
    plain = AnomalyClassifier(imbalance="none", calibration=None, random_state=0)
    plain.fit(X_train, y_train)
    plain_proba = plain.base_estimator_.predict_proba(X_test)[:, 1]

    recall_tuned = recall_score(y_test, tuned.predict(X_test))
    recall_plain = recall_score(y_test, plain_proba > 0.5)
    assert recall_tuned >= recall_plain + 0.2, (recall_tuned, recall_plain)

    ap_tuned = average_precision_score(y_test, tuned.predict_proba(X_test)[:, 1])
    ap_plain = average_precision_score(y_test, plain_proba)
    assert ap_tuned >= ap_plain, (ap_tuned, ap_plain)


# --------------------------------------------------------------- the API
@parametrize_with_checks(
    [AnomalyClassifier(random_state=0)],
    expected_failed_checks=lambda est: {
        # scikit-learn marks its own threshold classifiers (TunedThresholdClassifierCV,
        # FixedThresholdClassifier) the same way: predict follows the tuned threshold, so
        # it is not argmax(predict_proba). test_predictions_agree_with_threshold covers it.
        "check_classifiers_train": "the decision threshold is tuned, not 0.5",
        "check_sample_weight_equivalence_on_dense_data": (
            "the stratified validation split depends on the rows, so repeating a row is "
            "not the same as doubling its weight"
        ),
    },
)
def test_sklearn_api(estimator, check):
    check(estimator)


def test_predictions_agree_with_threshold(fitted, rare):
    _, X_test, _, _ = rare
    proba = fitted.predict_proba(X_test)
    decision = fitted.decision_function(X_test)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(fitted.predict(X_test), (decision > 0).astype(int))
    # decision_function is the calibrated log-odds shifted by the threshold's.
    np.testing.assert_allclose(expit(decision + fitted.threshold_log_odds_), proba[:, 1])
    away = np.abs(proba[:, 1] - fitted.threshold_) > 1e-9
    np.testing.assert_array_equal(
        fitted.predict(X_test)[away], (proba[away, 1] > fitted.threshold_).astype(int)
    )


def test_score_is_average_precision(fitted, rare):
    _, X_test, _, y_test = rare
    expected = average_precision_score(y_test, fitted.predict_proba(X_test)[:, 1])
    assert fitted.score(X_test, y_test) == pytest.approx(expected)


def test_string_labels_and_positive_class():
    X_train, X_test, y_train, y_test = _imbalanced(n=3000, positive=0.05, seed=1)
    labels = np.array(["anomaly", "normal"])  # sorted: "normal" is classes_[1]
    clf = AnomalyClassifier(random_state=0, **FAST).fit(X_train, labels[1 - y_train])
    assert list(clf.classes_) == ["anomaly", "normal"]
    assert set(np.unique(clf.predict(X_test))) <= set(labels)
    # The positive class is classes_[1] = "normal", i.e. y == 0 here.
    assert clf.score(X_test, labels[1 - y_test]) == pytest.approx(
        average_precision_score(y_test == 0, clf.predict_proba(X_test)[:, 1])
    )


def test_validation_operating_point_meets_targets(rare):
    X_train, _, y_train, _ = rare
    clf = AnomalyClassifier(
        threshold_objective="precision_at_recall", target_recall=0.9, random_state=0, **FAST
    ).fit(X_train, y_train)
    assert clf.validation_operating_point_["recall"] >= 0.9

    clf = AnomalyClassifier(
        threshold_objective="recall_at_precision", target_precision=0.5, random_state=0, **FAST
    ).fit(X_train, y_train)
    assert clf.validation_operating_point_["precision"] >= 0.5


def test_cost_ratio_moves_the_threshold(rare):
    X_train, _, y_train, _ = rare
    cheap_misses = AnomalyClassifier(
        threshold_objective="cost", cost_ratio=1.0, random_state=0, **FAST
    ).fit(X_train, y_train)
    dear_misses = AnomalyClassifier(
        threshold_objective="cost", cost_ratio=200.0, random_state=0, **FAST
    ).fit(X_train, y_train)
    assert dear_misses.threshold_ < cheap_misses.threshold_
    assert (
        dear_misses.validation_operating_point_["recall"]
        >= cheap_misses.validation_operating_point_["recall"]
    )


def test_auto_imbalance_keeps_the_best_validation_ap(rare):
    X_train, _, y_train, _ = rare
    clf = AnomalyClassifier(imbalance="auto", random_state=0, **FAST).fit(X_train, y_train)
    assert set(clf.imbalance_scores_) == {"balanced", "none", "focal", "both"}
    assert clf.imbalance_scores_[clf.imbalance_] == max(clf.imbalance_scores_.values())


def test_calibration_improves_held_out_log_loss(rare):
    """pos_weight inflates probabilities; the kept calibration must undo it on new data."""
    X_train, X_test, y_train, y_test = rare
    raw = AnomalyClassifier(calibration=None, random_state=0).fit(X_train, y_train)
    auto = AnomalyClassifier(calibration="auto", random_state=0).fit(X_train, y_train)
    assert auto.calibration_ in ("sigmoid", "isotonic")
    assert log_loss(y_test, auto.predict_proba(X_test)[:, 1]) < log_loss(
        y_test, raw.predict_proba(X_test)[:, 1]
    )


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_calibration_map_matches_scikit_learn(method):
    X, y = make_classification(800, n_features=5, weights=[0.9], random_state=3)
    X_fit, X_cal, y_fit, y_cal = train_test_split(X, y, test_size=0.5, random_state=0)
    model = SkLogisticRegression().fit(X_fit, y_fit)
    weights = np.random.default_rng(0).uniform(0.5, 2.0, size=y_cal.size)
    params = fit_calibration(model, X_cal, y_cal, method, weights)

    reference = CalibratedClassifierCV(FrozenEstimator(model), method=method)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        reference.fit(X_cal, y_cal, sample_weight=weights)
    X_new = np.vstack([X, 10 * X[:5], -10 * X[:5]])  # include points beyond the knots
    expected = reference.predict_proba(X_new)[:, 1]
    got = expit(apply_calibration(model.decision_function(X_new), method, params))
    np.testing.assert_allclose(got, np.clip(expected, 1e-15, 1 - 1e-15), rtol=1e-12, atol=1e-15)


def test_unit_weights_equal_no_weights():
    X_train, X_test, y_train, _ = _imbalanced(n=2000, positive=0.05, seed=2)
    a = AnomalyClassifier(random_state=0, **FAST).fit(X_train, y_train)
    b = AnomalyClassifier(random_state=0, **FAST).fit(
        X_train, y_train, sample_weight=np.ones(y_train.size)
    )
    np.testing.assert_allclose(a.predict_proba(X_test), b.predict_proba(X_test))
    assert a.threshold_ == pytest.approx(b.threshold_)


def test_logistic_base(rare):
    X_train, X_test, y_train, y_test = rare
    clf = AnomalyClassifier(base="logistic", random_state=0).fit(X_train, y_train)
    assert type(clf.base_estimator_).__name__ == "LogisticRegression"
    assert 0.0 < clf.score(X_test, y_test) <= 1.0


# ------------------------------------------------------------------ bad input
def test_objective_without_its_target_is_rejected_before_training():
    X, y = make_classification(200, random_state=0)
    for objective, name in [
        ("precision_at_recall", "target_recall"),
        ("recall_at_precision", "target_precision"),
        ("cost", "cost_ratio"),
    ]:
        with pytest.raises(ValueError, match=name):
            AnomalyClassifier(threshold_objective=objective).fit(X, y)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"imbalance": "oversample"}, "'imbalance' parameter"),
        ({"calibration": "platt"}, "'calibration' parameter"),
        ({"validation_fraction": 1.0}, "'validation_fraction' parameter"),
        ({"target_recall": 1.5}, "'target_recall' parameter"),
        ({"cost_ratio": 0}, "'cost_ratio' parameter"),
    ],
)
def test_bad_parameters(params, match):
    X, y = make_classification(200, random_state=0)
    with pytest.raises(ValueError, match=match):
        AnomalyClassifier(**params).fit(X, y)


def test_targets_must_be_binary():
    X, y = make_classification(200, n_classes=3, n_informative=3, random_state=0)
    with pytest.raises(ValueError, match="Only binary classification"):
        AnomalyClassifier(**FAST).fit(X, y)
    with pytest.raises(ValueError, match="one class"):
        AnomalyClassifier(**FAST).fit(X[:10], np.zeros(10))


def test_too_few_anomalies_to_split_warns():
    X, y = make_classification(60, weights=[0.9], random_state=0)
    y[:] = 0
    y[:1] = 1
    with pytest.warns(UserWarning, match="too few samples of a class"):
        clf = AnomalyClassifier(random_state=0, **FAST).fit(X, y)
    assert clf.predict(X).shape == (60,)
