"""Model files: round trips give identical predictions; damaged or foreign files are refused."""

from __future__ import annotations

import hashlib
import json
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.numpy import load as st_load
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.preprocessing import StandardScaler

import bcekit
from bcekit.estimators import LogisticRegression, MLPClassifier
from bcekit.io import FORMAT_VERSION, ModelFileError, load, model_paths, register_estimator, save
from bcekit.io.codec import decode_value, encode_value
from model_file_support import forge_arrays, rewrite_json


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def fitted(cancer):
    X, y = cancer
    return LogisticRegression(C=np.inf, class_weight={0: 1.0, 1: 2.0}, max_iter=500).fit(X, y)


def _assert_same_predictions(a, b, X):
    np.testing.assert_array_equal(a.decision_function(X), b.decision_function(X))
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


def _quiet_fit(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


def test_logistic_round_trip(tmp_path, cancer, fitted):
    X, _ = cancer
    weights_path, meta_path = save(fitted, tmp_path / "clf")
    assert (weights_path.name, meta_path.name) == ("clf.safetensors", "clf.json")
    loaded = load(tmp_path / "clf")
    assert type(loaded) is LogisticRegression
    _assert_same_predictions(fitted, loaded, X)
    assert loaded.get_params() == fitted.get_params()
    assert loaded.get_params()["C"] == np.inf
    assert loaded.get_params()["class_weight"] == {0: 1.0, 1: 2.0}
    assert loaded.history_ == fitted.history_
    np.testing.assert_array_equal(loaded.n_iter_, fitted.n_iter_)
    assert loaded.n_features_in_ == 30


@pytest.mark.parametrize("kind", ["multiclass_strings", "multilabel", "float32"])
def test_logistic_round_trip_other_targets(tmp_path, kind):
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    if kind == "multiclass_strings":
        y = np.array(["barolo", "grignolino", "barbera"])[y]
    elif kind == "multilabel":
        y = np.column_stack([y == 0, y == 1, X[:, 0] > 0]).astype(int)
    else:
        X = X.astype(np.float32)
    model = LogisticRegression(max_iter=500).fit(X, y)
    save(model, tmp_path / "m")
    loaded = load(tmp_path / "m")
    _assert_same_predictions(model, loaded, X)
    np.testing.assert_array_equal(loaded.classes_, model.classes_)
    assert loaded.classes_.dtype == model.classes_.dtype
    assert loaded.coef_.dtype == model.coef_.dtype


def test_mlp_round_trip(tmp_path, cancer):
    X, y = cancer
    model = MLPClassifier((8, 4), early_stopping=True, max_iter=20, random_state=0)
    _quiet_fit(model, X, y)
    save(model, tmp_path / "net")
    loaded = load(tmp_path / "net")
    _assert_same_predictions(model, loaded, X)
    assert loaded.get_params()["hidden_layer_sizes"] == (8, 4)
    assert loaded.history_ == model.history_
    assert loaded.loss_curve_ == model.loss_curve_
    assert loaded.validation_scores_ == model.validation_scores_
    loaded.partial_fit(X, y)
    assert loaded.n_iter_ == model.n_iter_ + 1


def test_directory_form(tmp_path, cancer, fitted):
    X, _ = cancer
    weights_path, meta_path = save(fitted, f"{tmp_path}/model_dir/")
    assert weights_path == tmp_path / "model_dir" / "model.safetensors"
    assert meta_path == tmp_path / "model_dir" / "model.json"
    _assert_same_predictions(fitted, load(tmp_path / "model_dir"), X)
    existing = tmp_path / "existing"
    existing.mkdir()
    save(fitted, existing)
    assert sorted(p.name for p in existing.iterdir()) == ["model.json", "model.safetensors"]
    _assert_same_predictions(fitted, load(f"{existing}/"), X)


def test_path_with_suffix_names_the_same_pair(tmp_path):
    assert model_paths(tmp_path / "m.json") == model_paths(tmp_path / "m")
    assert model_paths(tmp_path / "m.safetensors") == model_paths(tmp_path / "m")
    assert model_paths(tmp_path / "m.v2")[1].name == "m.v2.json"


def test_metadata_contents(tmp_path, fitted):
    weights_path, meta_path = save(fitted, tmp_path / "clf")
    doc = json.loads(meta_path.read_text())
    assert doc["format"] == "bcekit-model"
    assert doc["format_version"] == FORMAT_VERSION
    assert doc["bcekit_version"] == bcekit.__version__
    assert doc["class"] == "LogisticRegression"
    assert doc["sha256"] == hashlib.sha256(weights_path.read_bytes()).hexdigest()
    assert doc["arrays"]["coef_"] == {"dtype": "<f8", "shape": [1, 30]}
    assert doc["n_features_in"] == 30
    arrays = st_load(weights_path.read_bytes())
    assert set(arrays) == {"coef_", "intercept_", "classes_"}
    np.testing.assert_array_equal(arrays["coef_"], fitted.coef_)


def test_feature_names_round_trip(tmp_path, cancer, fitted):
    X, y = cancer
    model = LogisticRegression().fit(X, y)
    model.feature_names_in_ = np.array([f"f{i}" for i in range(30)], dtype=object)
    save(model, tmp_path / "named")
    loaded = load(tmp_path / "named")
    np.testing.assert_array_equal(loaded.feature_names_in_, model.feature_names_in_)
    assert loaded.feature_names_in_.dtype == object


def test_save_refuses_unfitted_and_unregistered(tmp_path):
    with pytest.raises(NotFittedError):
        save(LogisticRegression(), tmp_path / "x")

    class Custom(LogisticRegression):
        pass

    with pytest.raises(TypeError, match="registered class"):
        save(Custom(), tmp_path / "x")


def test_save_refuses_parameters_json_cannot_hold(tmp_path, cancer):
    X, y = cancer
    model = LogisticRegression(random_state=np.random.RandomState(0)).fit(X, y)
    with pytest.raises(TypeError, match="random_state"):
        save(model, tmp_path / "x")
    assert list(tmp_path.iterdir()) == []


# --- damaged files ---------------------------------------------------------------------------


@pytest.fixture
def saved(tmp_path, fitted):
    weights_path, meta_path = save(fitted, tmp_path / "clf")
    return tmp_path / "clf", weights_path, meta_path


def test_flipped_byte_is_detected(saved):
    path, weights_path, _ = saved
    data = bytearray(weights_path.read_bytes())
    data[-3] ^= 0xFF
    weights_path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="SHA-256"):
        load(path)


def test_truncated_weights_are_detected(saved):
    path, weights_path, _ = saved
    weights_path.write_bytes(weights_path.read_bytes()[:40])
    with pytest.raises(ModelFileError, match="SHA-256"):
        load(path)


def test_truncated_weights_with_matching_hash_are_unreadable(saved):
    path, weights_path, meta_path = saved
    payload = weights_path.read_bytes()[:40]
    weights_path.write_bytes(payload)
    rewrite_json(meta_path, lambda d: d.update(sha256=hashlib.sha256(payload).hexdigest()))
    with pytest.raises(ModelFileError, match="not a readable safetensors file"):
        load(path)


@pytest.mark.parametrize("text", ["", "{", "[1, 2]", "\xff\xfe"])
def test_bad_json(saved, text):
    path, _, meta_path = saved
    meta_path.write_bytes(text.encode("latin-1"))
    with pytest.raises(ModelFileError):
        load(path)


def test_missing_keys(saved):
    path, _, meta_path = saved
    rewrite_json(meta_path, lambda d: d.pop("params"))
    with pytest.raises(ModelFileError, match="lacks the keys \\['params'\\]"):
        load(path)


def test_newer_format_version_says_so(saved):
    path, _, meta_path = saved
    rewrite_json(meta_path, lambda d: d.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(ModelFileError, match=r"format version 2.*upgrade bcekit"):
        load(path)


def test_unregistered_class_name_is_refused(saved):
    path, _, meta_path = saved
    rewrite_json(meta_path, lambda d: d.update({"class": "os.system"}))
    with pytest.raises(ModelFileError, match="not a registered estimator"):
        load(path)


def test_manifest_disagreement(saved):
    path, _, meta_path = saved
    rewrite_json(meta_path, lambda d: d["arrays"]["coef_"].update(shape=[30, 1]))
    with pytest.raises(ModelFileError, match="coef_"):
        load(path)


def test_wrong_shapes_even_when_consistently_forged(saved, fitted):
    path, weights_path, meta_path = saved
    arrays = {
        "coef_": np.zeros((1, 29)),
        "intercept_": fitted.intercept_,
        "classes_": fitted.classes_,
    }
    forge_arrays(weights_path, meta_path, arrays)
    with pytest.raises(ModelFileError, match="must have shapes"):
        load(path)


def test_missing_array_even_when_consistently_forged(saved, fitted):
    path, weights_path, meta_path = saved
    forge_arrays(weights_path, meta_path, {"coef_": fitted.coef_, "classes_": fitted.classes_})
    with pytest.raises(ModelFileError, match="intercept_"):
        load(path)


def test_edited_parameters_are_validated(saved):
    path, _, meta_path = saved
    rewrite_json(meta_path, lambda d: d["params"].update(no_such_param=1))
    with pytest.raises(ModelFileError, match="no_such_param"):
        load(path)


def test_mlp_wrong_network_shape_is_refused(tmp_path, cancer):
    X, y = cancer
    model = _quiet_fit(MLPClassifier((8,), max_iter=2, random_state=0), X, y)
    _, meta_path = save(model, tmp_path / "n")
    rewrite_json(meta_path, lambda d: d["params"].update(hidden_layer_sizes=[9]))
    with pytest.raises(ModelFileError, match="shape"):
        load(tmp_path / "n")


def test_missing_files(tmp_path, fitted):
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nothing")
    save(fitted, tmp_path / "half")
    (tmp_path / "half.safetensors").unlink()
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "half")


def test_register_estimator_requires_hooks():
    class NoHooks:
        pass

    with pytest.raises(TypeError, match="_state_arrays"):
        register_estimator(NoHooks)


# --- parameter encoding ----------------------------------------------------------------------

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**62), 2**62)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(st.text(max_size=5), inner, max_size=3)
        | st.dictionaries(st.integers(-5, 5), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None)
@given(_values)
def test_parameter_values_survive_strict_json(value):
    text = json.dumps(encode_value(value, "value"), allow_nan=False)
    decoded = decode_value(json.loads(text))
    assert decoded == value
    assert type(decoded) is type(value)
