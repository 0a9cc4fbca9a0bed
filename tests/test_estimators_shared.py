"""What the BCE estimators share (bcekit.estimators._base and the modules behind it)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.special import expit
from sklearn.exceptions import ConvergenceWarning

from bcekit import io
from bcekit.estimators import LogisticRegression, MLPClassifier
from bcekit.estimators._base import (
    BINARY,
    MULTICLASS,
    MULTILABEL,
    encode_more_targets,
    encode_targets,
    labels,
    loss_weights,
    probabilities,
    refuse_balanced,
    resolve_weights,
    row_weights,
    split_validation,
    weight_total,
)


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] + 0.3 * rng.normal(size=60) > 0).astype(int)
    return X, y


def _fit(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


# --- heads -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [BINARY, MULTICLASS, MULTILABEL])
def test_log_probabilities_are_the_logs_of_the_probabilities(kind):
    rng = np.random.default_rng(1)
    z = rng.normal(scale=5, size=(7,) if kind == BINARY else (7, 3))
    p = probabilities(z, kind)
    np.testing.assert_allclose(probabilities(z, kind, log=True), np.log(p), rtol=1e-12)
    if kind != MULTILABEL:
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)


def test_log_probabilities_stay_finite_where_probabilities_underflow():
    z = np.array([-800.0, 800.0])
    assert probabilities(z, BINARY)[0, 1] == 0.0
    log_p = probabilities(z, BINARY, log=True)
    np.testing.assert_allclose(log_p[:, 1], [-800.0, 0.0])


def test_labels_follow_the_sign_or_the_largest_logit():
    classes = np.array(["a", "b", "c"])
    assert labels(np.array([-1.0, 2.0]), BINARY, classes[:2]).tolist() == ["a", "b"]
    z = np.array([[0.0, 3.0, 1.0], [5.0, -1.0, 0.0]])
    assert labels(z, MULTICLASS, classes).tolist() == ["b", "a"]
    assert labels(z, MULTILABEL, classes).tolist() == [[0, 1, 1], [1, 0, 0]]
    np.testing.assert_array_equal(
        probabilities(z[:, 0], BINARY)[:, 1], expit(z[:, 0])
    )  # column 1 is σ(z)


# --- weights ---------------------------------------------------------------------------------


def test_row_weights_shape_for_each_kind():
    X = np.zeros((4, 2))
    for y, shape in (([0, 1, 0, 1], (4, 1)), ([0, 1, 2, 1], (4,))):
        targets = encode_targets(np.array(y), X.dtype)
        w = resolve_weights([1.0, 2.0, 3.0, 4.0], X, targets, None)
        assert row_weights(w, targets).shape == shape
        assert loss_weights(w, targets).shape == shape
        assert weight_total(w) == 10.0
        assert loss_weights(np.ones_like(w), targets) is None


def test_weight_total_counts_element_weights_by_their_row_mean():
    assert weight_total(np.array([[1.0, 3.0], [2.0, 2.0]])) == 4.0


def test_refuse_balanced_names_the_parameter():
    refuse_balanced(MLPClassifier(pos_weight=2.0))
    with pytest.raises(ValueError, match="class_weight='balanced'"):
        refuse_balanced(MLPClassifier(class_weight="balanced"))


# --- targets of partial_fit ------------------------------------------------------------------


def test_more_targets_must_agree_with_the_first_call(blobs):
    X, y = blobs
    model = MLPClassifier((4,), random_state=0).partial_fit(X, y)
    assert encode_more_targets(model, y[:5], X.dtype, None).kind == BINARY
    with pytest.raises(ValueError, match="differs from the classes"):
        encode_more_targets(model, y, X.dtype, [0, 1, 2])
    with pytest.raises(ValueError, match="not in classes"):
        encode_more_targets(model, y + 1, X.dtype, None)


# --- validation split ------------------------------------------------------------------------


def test_split_holds_out_a_stratified_share(blobs):
    X, y = blobs
    targets = encode_targets(y, X.dtype)
    weights = resolve_weights(None, X, targets, None)
    rng = np.random.RandomState(0)
    train, val = split_validation(
        MLPClassifier(), X, targets, weights, (None, None, None), holdout=0.25, rng=rng
    )
    assert len(val[0]) == 15 and len(train[0]) == 45
    assert train[2] is None and val[2] is None
    share = np.mean(y)
    assert abs(val[1].mean() - share) < 0.1 and abs(train[1].mean() - share) < 0.1
    rows = {tuple(r) for r in np.vstack([train[0], val[0]])}
    assert len(rows) == len(X)  # every row on exactly one side


def test_split_without_holdout_or_with_given_data(blobs):
    X, y = blobs
    model = _fit(MLPClassifier((4,), max_iter=1, random_state=0), X, y)
    targets = encode_targets(y, X.dtype)
    weights = resolve_weights(np.full(len(y), 2.0), X, targets, None)
    rng = np.random.RandomState(0)
    train, val = split_validation(model, X, targets, weights, (None,) * 3, holdout=None, rng=rng)
    assert val is None and train[0] is X and train[2].shape == (len(X), 1)
    given = (X[:10], y[:10], None)
    train, val = split_validation(model, X, targets, weights, given, holdout=0.5, rng=rng)
    assert len(train[0]) == len(X) and len(val[0]) == 10


def test_split_refuses_a_holdout_too_small_to_use(blobs):
    X, y = blobs
    targets = encode_targets(y[:6], X.dtype)
    weights = resolve_weights(None, X[:6], targets, None)
    with pytest.raises(ValueError, match="validation_fraction"):
        split_validation(
            MLPClassifier(), X[:6], targets, weights, (None,) * 3, holdout=0.1,
            rng=np.random.RandomState(0),
        )  # fmt: skip


# --- warm start compares the architecture ----------------------------------------------------


def test_warm_start_keeps_the_network_while_the_architecture_is_the_same(blobs):
    X, y = blobs
    model = _fit(MLPClassifier((5,), activation="logistic", max_iter=2, warm_start=True), X, y)
    network = model.network_
    model.set_params(activation="sigmoid", max_iter=1)  # the same layers under another name
    assert _fit(model, X, y).network_ is network
    model.set_params(hidden_layer_sizes=(6,))
    assert _fit(model, X, y).network_ is not network
    assert model.coefs_[0].shape == (3, 6)


@pytest.mark.parametrize(
    "change", [{"dropout": 0.2}, {"activation": "tanh"}, {"hidden_layer_sizes": (5, 2)}]
)
def test_warm_start_rebuilds_on_a_changed_architecture(blobs, change):
    X, y = blobs
    model = _fit(MLPClassifier((5,), max_iter=2, warm_start=True, random_state=0), X, y)
    network = model.network_
    model.set_params(**change)
    assert _fit(model, X, y).network_ is not network


def test_warm_start_rebuilds_for_another_dtype_or_feature_count(blobs):
    X, y = blobs
    model = _fit(MLPClassifier((5,), max_iter=2, warm_start=True, random_state=0), X, y)
    network = model.network_
    assert _fit(model, X.astype(np.float32), y).network_ is not network
    network = model.network_
    assert _fit(model, X[:, :2], y).network_ is not network


def test_a_loaded_model_warm_starts_from_its_weights(blobs, tmp_path):
    X, y = blobs
    model = _fit(MLPClassifier((5,), max_iter=3, random_state=0), X, y)
    io.save(model, tmp_path / "m")
    loaded = io.load(tmp_path / "m")
    loaded.set_params(warm_start=True, max_iter=1)
    before = loaded.network_
    _fit(loaded, X, y)
    assert loaded.network_ is before


@pytest.mark.parametrize(
    "model",
    [
        LogisticRegression(max_iter=2),
        LogisticRegression(solver="gd", max_iter=2),
        LogisticRegression(solver="adam", max_iter=2),
        MLPClassifier(hidden_layer_sizes=(4,), max_iter=2),
    ],
    ids=["lbfgs", "gd", "adam", "mlp"],
)
def test_a_convergence_warning_points_at_the_call_of_fit(blobs, model):
    X, y = blobs
    with pytest.warns(ConvergenceWarning) as caught:
        model.fit(X, y)
    assert {w.filename for w in caught if w.category is ConvergenceWarning} == {__file__}
