"""scikit-learn's estimator checks, run on both estimators."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from bcekit.estimators import LogisticRegression, MLPClassifier


@parametrize_with_checks([LogisticRegression(), MLPClassifier(random_state=0)])
def test_sklearn_compatible(estimator, check):
    check(estimator)
