"""scikit-learn compatible classifiers trained with binary (or softmax) cross-entropy."""

from bcekit.estimators.logistic import LogisticRegression
from bcekit.estimators.mlp import MLPClassifier

__all__ = ["LogisticRegression", "MLPClassifier"]
