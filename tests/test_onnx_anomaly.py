"""ONNX export of AnomalyClassifier: calibration and tuned threshold inside the graph.

On Statlog Shuttle (when river, which ships it, is installed) for each calibration and base
model, and on breast cancer always. ``probabilities`` must equal ``predict_proba`` to 1e-5
and ``label`` equal ``predict`` wherever the anomaly probability is not within 1e-5 of
``threshold_``.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from bcekit import AnomalyClassifier, io
from onnx_support import ATOL, session, to_onnx

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
needs_river = pytest.mark.skipif(
    importlib.util.find_spec("river") is None,
    reason="river not installed (pip install river): it ships the Shuttle file",
)


def check_against_ort(model, X):
    label, proba = session(to_onnx(model, X[:1])).run(["label", "probabilities"], {"X": X})
    expected = model.predict_proba(X)
    assert proba.dtype == X.dtype
    np.testing.assert_allclose(proba, expected, rtol=0, atol=ATOL)
    clear = np.abs(expected[:, 1] - model.threshold_) > ATOL
    assert clear.mean() > 0.99
    predicted = model.predict(X)
    np.testing.assert_array_equal(label[clear], predicted[clear])
    assert len(np.unique(predicted)) == 2  # the threshold splits the rows: a real check


def _split(X, y, n_rows, seed=0):
    X, _, y, _ = train_test_split(X, y, train_size=n_rows, stratify=y, random_state=seed)
    X_train, X_test, y_train, _ = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=seed
    )
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train


@pytest.fixture(scope="module")
def shuttle():
    from bcekit.datasets import load_shuttle

    return _split(*load_shuttle(return_X_y=True), n_rows=6000)


@needs_river
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("base", ["mlp", "logistic"])
@pytest.mark.parametrize("calibration", ["sigmoid", "isotonic", None])
def test_shuttle(shuttle, calibration, base, dtype):
    X_train, X_test, y_train = shuttle
    model = AnomalyClassifier(
        base=base, calibration=calibration, hidden_layer_sizes=(16,), max_iter=15, random_state=0
    ).fit(X_train.astype(dtype), y_train)
    assert model.calibration_ == calibration
    check_against_ort(model, X_test.astype(dtype))


def test_breast_cancer_with_labels_and_isotonic_calibration(tmp_path):
    X, y = load_breast_cancer(return_X_y=True)
    names = np.array(["malignant", "benign"])
    X_train, X_test, y_train = _split(X, names[y], n_rows=560)
    model = AnomalyClassifier(
        calibration="isotonic", hidden_layer_sizes=(8,), max_iter=30, random_state=0
    ).fit(X_train, y_train)
    check_against_ort(model, X_test)
    io.save(model, tmp_path / "model")
    loaded = io.load(tmp_path / "model")
    assert to_onnx(loaded).SerializeToString() == to_onnx(model).SerializeToString()


def test_isotonic_interpolation_equals_numpy_everywhere():
    from bcekit.onnx.anomaly import _interp
    from bcekit.onnx.graph import DEFAULT_OPSET, Graph, tensor_info

    rng = np.random.default_rng(0)
    xp = np.sort(rng.normal(size=12))
    fp = np.sort(rng.uniform(size=12))
    fp[3:5] = fp[3]  # a plateau, as isotonic maps have
    s = np.concatenate([rng.normal(scale=2, size=500), xp, [xp[0] - 1, xp[-1] + 1]])
    g = Graph(DEFAULT_OPSET)
    g.reserve("s", "p")
    g.op("Identity", [_interp(g, "s", xp, fp)], output="p")
    proto = g.model(
        [tensor_info("s", np.float64, ["N", 1])], [tensor_info("p", np.float64, ["N", 1])],
        name="interp",
    )  # fmt: skip
    (p,) = session(proto).run(None, {"s": s[:, None]})
    np.testing.assert_allclose(p[:, 0], np.interp(s, xp, fp), rtol=0, atol=1e-15)
