"""AnomalyClassifier through bcekit.io.save / load: same predictions, inconsistencies refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning

from bcekit import io
from bcekit.estimators.anomaly import AnomalyClassifier

pytestmark = pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)


@pytest.fixture(scope="module")
def data():
    return make_classification(2000, n_features=6, weights=[0.94], random_state=5)


@pytest.mark.parametrize(
    "params",
    [
        {"hidden_layer_sizes": (16,), "max_iter": 40},
        {"base": "logistic", "calibration": "isotonic"},
        {"base": "logistic", "calibration": None, "imbalance": "both"},
    ],
    ids=["mlp-auto", "logistic-isotonic", "logistic-focal-uncalibrated"],
)
def test_round_trip(data, tmp_path, params):
    X, y = data
    labels = np.array(["normal", "rocket"])[y]
    model = AnomalyClassifier(random_state=0, **params).fit(X, labels)
    io.save(model, tmp_path / "model")
    loaded = io.load(tmp_path / "model")
    assert type(loaded.base_estimator_) is type(model.base_estimator_)
    assert loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(loaded.classes_, model.classes_)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded.decision_function(X), model.decision_function(X))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert loaded.threshold_ == model.threshold_
    assert loaded.calibration_ == model.calibration_
    assert loaded.imbalance_scores_ == model.imbalance_scores_
    assert loaded.validation_operating_point_ == model.validation_operating_point_


def test_inconsistent_calibration_is_refused(data, tmp_path):
    X, y = data
    model = AnomalyClassifier(base="logistic", calibration="sigmoid", random_state=0).fit(X, y)
    _, meta_path = io.save(model, tmp_path / "model")
    document = json.loads(meta_path.read_text())
    document["extra"]["calibration_"] = "isotonic"  # the stored map is Platt's [a, b]
    meta_path.write_text(json.dumps(document))
    with pytest.raises(io.ModelFileError, match="calibration_params_"):
        io.load(tmp_path / "model")
