"""skl2onnx exports scikit-learn pipelines that end in a bcekit classifier.

``import bcekit.onnx`` registers the converters; ``skl2onnx.to_onnx(pipeline, X[:1])`` then
converts ``StandardScaler`` with skl2onnx's converter and the bcekit model with ours.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from bcekit import AnomalyClassifier, LogisticRegression, MLPClassifier

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
ort = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
skl2onnx = pytest.importorskip("skl2onnx", reason="the onnx extra is not installed")
import bcekit.onnx  # noqa: E402, F401  (registers the converters)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
ATOL = 1e-5


def run(pipeline, X, options=None):
    proto = skl2onnx.to_onnx(pipeline, X[:1], options=options)
    onnx.checker.check_model(proto, full_check=True)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(
        proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    label, proba = session.run(None, {session.get_inputs()[0].name: X})
    if not isinstance(proba, np.ndarray):  # ZipMap: one {class: probability} per row
        classes = pipeline.classes_
        proba = np.array([[row[c] for c in classes] for row in proba])
    return label, proba


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return X[:400], X[400:], np.array(["malignant", "benign"])[y[:400]]


@pytest.mark.parametrize("zipmap", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scaler_and_mlp(cancer, dtype, zipmap):
    X_train, X_test, y_train = (a.astype(dtype) if a.dtype.kind == "f" else a for a in cancer)
    pipe = make_pipeline(StandardScaler(), MLPClassifier((8,), max_iter=20, random_state=0))
    pipe.fit(X_train, y_train)
    label, proba = run(pipe, X_test, options=None if zipmap else {"zipmap": False})
    np.testing.assert_allclose(proba, pipe.predict_proba(X_test), rtol=0, atol=ATOL)
    clear = np.abs(pipe.predict_proba(X_test)[:, 1] - 0.5) > ATOL
    np.testing.assert_array_equal(label[clear], pipe.predict(X_test)[clear])
    assert set(label) == {"malignant", "benign"}


@pytest.mark.parametrize("multilabel", [False, True], ids=["multiclass", "multilabel"])
def test_scaler_and_logistic_regression(multilabel):
    X, y = load_digits(return_X_y=True)
    target = np.column_stack([y % 2 == 0, y >= 5]).astype(int) if multilabel else y
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=40)).fit(
        X[:1200], target[:1200]
    )
    label, proba = run(pipe, X[1200:], options={"zipmap": False})
    expected = pipe.predict_proba(X[1200:])
    np.testing.assert_allclose(proba, expected, rtol=0, atol=ATOL)
    np.testing.assert_array_equal(label, pipe.predict(X[1200:]))


def test_scaler_and_anomaly_classifier(cancer):
    X_train, X_test, y_train = cancer
    model = AnomalyClassifier(base="logistic", calibration="sigmoid", random_state=0)
    pipe = make_pipeline(StandardScaler(), model).fit(X_train, y_train)
    label, proba = run(pipe, X_test)
    expected = pipe.predict_proba(X_test)
    np.testing.assert_allclose(proba, expected, rtol=0, atol=ATOL)
    clear = np.abs(expected[:, 1] - model.threshold_) > ATOL
    np.testing.assert_array_equal(label[clear], pipe.predict(X_test)[clear])
