"""ONNX export of LogisticRegression and MLPClassifier, run by ONNX Runtime on held-out rows.

Breast cancer (binary), digits (10 classes) and a multi-label set made from digits (even,
at least 5, prime). ONNX Runtime's probabilities must equal ``predict_proba`` to 1e-5 and its
labels equal ``predict`` wherever the decision is not within 1e-5 of its threshold.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from bcekit import LogisticRegression, MLPClassifier, io
from onnx_support import ATOL, DEFAULT_OPSET, MIN_OPSET, onnx, session, to_onnx

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

ACTIVATIONS = ["relu", "leaky_relu", "tanh", "logistic", "gelu", "identity"]


def clear_decisions(proba, kind):
    """Where the decision is farther than ATOL from its threshold (rows, or cells)."""
    if kind == "multilabel":
        return np.abs(proba - 0.5) > ATOL
    top2 = np.sort(proba, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0] > ATOL


def check_against_ort(model, X, kind):
    """Run the export on ``X``; assert the outputs match; return the largest difference."""
    label, proba = session(to_onnx(model, X[:1])).run(["label", "probabilities"], {"X": X})
    expected = model.predict_proba(X)
    assert proba.dtype == X.dtype and proba.shape == expected.shape
    np.testing.assert_allclose(proba, expected, rtol=0, atol=ATOL)
    clear = clear_decisions(expected, kind)
    assert clear.mean() > 0.9  # the comparison below covers nearly every decision
    np.testing.assert_array_equal(label[clear], model.predict(X)[clear])
    return float(np.max(np.abs(proba - expected)))


def _split(X, y):
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


@pytest.fixture(scope="module")
def datasets():
    bc = _split(*load_breast_cancer(return_X_y=True))
    Xd, yd = load_digits(return_X_y=True)
    digits = _split(Xd, yd)
    labels = np.column_stack([yd % 2 == 0, yd >= 5, np.isin(yd, [2, 3, 5, 7])]).astype(int)
    return {"binary": bc, "multiclass": digits, "multilabel": _split(Xd, labels)}


def _fit(model, data, dtype):
    X_train, X_test, y_train, _ = data
    return model.fit(X_train.astype(dtype), y_train), X_test.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel"])
def test_logistic_regression(datasets, kind, dtype):
    model, X = _fit(LogisticRegression(max_iter=50), datasets[kind], dtype)
    check_against_ort(model, X, kind)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_mlp_every_activation(datasets, activation, dtype):
    mlp = MLPClassifier((12, 6), activation, max_iter=20, dropout=0.2, random_state=0)
    model, X = _fit(mlp, datasets["binary"], dtype)
    check_against_ort(model, X, "binary")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["multiclass", "multilabel"])
def test_mlp_softmax_and_multilabel_heads(datasets, kind, dtype):
    mlp = MLPClassifier((16,), max_iter=15, dropout=0.1, random_state=0)
    model, X = _fit(mlp, datasets[kind], dtype)
    check_against_ort(model, X, kind)


def test_dropout_leaves_no_node(datasets):
    mlp = MLPClassifier((8,), dropout=0.5, max_iter=3, random_state=0)
    model, _ = _fit(mlp, datasets["binary"], np.float32)
    ops = {node.op_type for node in to_onnx(model).graph.node}
    assert "Dropout" not in ops and {"MatMul", "Relu"} <= ops


def test_a_float32_model_takes_float64_input(datasets):
    mlp = MLPClassifier((8,), max_iter=5, random_state=0)
    model, X = _fit(mlp, datasets["binary"], np.float32)
    X64 = X.astype(np.float64)
    proto = to_onnx(model, X64[:1])
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    _, proba = session(proto).run(None, {"X": X64})
    np.testing.assert_allclose(proba, model.predict_proba(X64), rtol=0, atol=ATOL)


def test_string_labels_come_out_as_strings(datasets):
    X_train, X_test, y_train, _ = datasets["binary"]
    names = np.array(["malignant", "benign"])
    model = LogisticRegression().fit(X_train, names[y_train])
    label, _ = session(to_onnx(model)).run(None, {"X": X_test})
    np.testing.assert_array_equal(label, model.predict(X_test))


@pytest.mark.parametrize(
    "model",
    [LogisticRegression(max_iter=30), MLPClassifier((8,), "tanh", max_iter=5, random_state=0)],
    ids=["logistic", "mlp"],
)
def test_saved_and_loaded_model_exports_identically(datasets, model, tmp_path):
    model, _ = _fit(model, datasets["multiclass"], np.float32)
    io.save(model, tmp_path / "model")
    loaded = io.load(tmp_path / "model")
    assert to_onnx(loaded).SerializeToString() == to_onnx(model).SerializeToString()


def test_default_and_oldest_opsets_run(datasets):
    mlp = MLPClassifier((8,), "gelu", max_iter=5, random_state=0)
    model, X = _fit(mlp, datasets["multiclass"], np.float64)
    for opset in (MIN_OPSET, None):
        proto = to_onnx(model, opset=opset)
        assert proto.opset_import[0].version == (opset or DEFAULT_OPSET)
        _, proba = session(proto).run(None, {"X": X})
        np.testing.assert_allclose(proba, model.predict_proba(X), rtol=0, atol=ATOL)


def test_bad_arguments_are_refused(datasets):
    model, X = _fit(LogisticRegression(), datasets["binary"], np.float64)
    with pytest.raises(ValueError, match=r"X_sample must have shape \(n_rows, 30\)"):
        to_onnx(model, X[:, :5])
    with pytest.raises(ValueError, match="opset must lie in"):
        to_onnx(model, opset=MIN_OPSET - 1)
    with pytest.raises(ValueError, match="model must be a fitted bcekit"):
        to_onnx(StandardScaler().fit(X))
    with pytest.raises(NotFittedError):
        to_onnx(MLPClassifier())
    # integer samples give a float64 input, as the estimators convert integers to float64
    inputs = to_onnx(model, X[:1].round().astype(np.int64)).graph.input
    assert inputs[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
