"""scikit-learn's estimator checks, every one of them, on both estimators.

No check is marked as an expected failure. The checks that scikit-learn itself skips here
depend on the environment only: ``SCIPY_ARRAY_API`` is not set.
"""

from __future__ import annotations

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from bcekit.estimators import LogisticRegression, MLPClassifier

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@parametrize_with_checks([LogisticRegression(), MLPClassifier(random_state=0)])
def test_sklearn_compatible(estimator, check):
    check(estimator)
