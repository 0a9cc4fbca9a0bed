"""scikit-learn compatible classifiers trained with binary (or softmax) cross-entropy."""

from bcekit.estimators.anomaly import AnomalyClassifier
from bcekit.estimators.logistic import LogisticRegression
from bcekit.estimators.mlp import MLPClassifier
from bcekit.estimators.segmentation import SegmentationNet

__all__ = ["AnomalyClassifier", "LogisticRegression", "MLPClassifier", "SegmentationNet"]
