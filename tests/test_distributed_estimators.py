"""LogisticRegression and MLPClassifier on dask input, against the same fits in memory.

A real ``LocalCluster`` on loopback (two single-threaded worker processes). The in-memory
estimators are the oracle: the dask paths promise their objective, their weights and their
steps, so results must agree up to the order of floating-point additions.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from bcekit import LogisticRegression, MLPClassifier  # noqa: E402
from bcekit.distributed import DataParallelGradient  # noqa: E402
from bcekit.estimators._base import make_loss  # noqa: E402
from bcekit.nn import mlp, pack_parameters  # noqa: E402


def logistic_data(n, d, *, seed=0, classes=2):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    logits = X @ rng.normal(size=(d, classes)) + rng.normal(size=classes)
    y = np.argmax(logits + rng.gumbel(size=logits.shape), axis=1)
    return X, y, rng.random(n) + 0.5


def chunked(*arrays, rows):
    return [None if a is None else da.from_array(a, chunks=(rows, *a.shape[1:])) for a in arrays]


def relative_difference(a, b):
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


# --------------------------------------------------------------------------- LogisticRegression


def labels_block(X, seed, block_info=None):
    rng = np.random.default_rng([seed, block_info[0]["chunk-location"][0]])
    logits = X @ np.linspace(-1, 1, X.shape[1]) + 0.2
    return (rng.random(len(X)) < 1 / (1 + np.exp(-logits))).astype(np.int64)


def test_logistic_on_400k_rows_equals_the_in_memory_fit(dask_client):
    Xd = da.random.default_rng(1).normal(size=(400_000, 20), chunks=(50_000, 20))
    yd = Xd.map_blocks(labels_block, 1, drop_axis=1, dtype=np.int64)
    Xd, yd = dask_client.persist([Xd, yd])  # generated on the workers
    X, y = dask_client.compute([Xd, yd], sync=True)
    expected = LogisticRegression(C=0.5, tol=1e-8).fit(X, y)
    model = LogisticRegression(C=0.5, tol=1e-8).fit(Xd, yd)
    assert relative_difference(model.coef_, expected.coef_) <= 1e-6
    assert relative_difference(model.intercept_, expected.intercept_) <= 1e-6
    assert model.coef_.dtype == np.float64 and model.n_features_in_ == 20
    assert [r["epoch"] for r in model.history_] == list(range(1, model.n_iter_[0] + 1))


WEIGHTINGS = {
    "sample_weight": ({}, True),
    "class_weight balanced": ({"class_weight": "balanced"}, True),
    "class_weight dict, pos_weight, smoothing": (
        {"class_weight": {"b": 0.5, "a": 2.0}, "pos_weight": 1.7, "label_smoothing": 0.1},
        False,
    ),
    "pos_weight balanced, no intercept": (
        {"pos_weight": "balanced", "fit_intercept": False},
        True,
    ),
    "gd with l1": ({"solver": "gd", "l1_ratio": 0.5, "C": 0.05, "max_iter": 40}, True),
}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("case", sorted(WEIGHTINGS))
def test_logistic_weightings_equal_the_in_memory_fit(dask_client, case):
    params, weighted = WEIGHTINGS[case]
    X, y, sw = logistic_data(12_000, 5, seed=2)
    labels = np.array(["a", "b"])[y]
    sw = sw if weighted else None
    expected = LogisticRegression(tol=1e-9, **params).fit(X, labels, sample_weight=sw)
    Xd, yd, swd = chunked(X, labels, sw, rows=2_500)
    model = LogisticRegression(tol=1e-9, **params).fit(Xd, yd, sample_weight=swd)
    np.testing.assert_allclose(model.coef_, expected.coef_, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(model.intercept_, expected.intercept_, rtol=1e-6, atol=1e-9)
    assert list(model.classes_) == ["a", "b"]


def test_logistic_records_the_loss_on_in_memory_validation_data(dask_client):
    X, y, _ = logistic_data(6_000, 4, seed=11)
    fit = {"X_val": X[:500] + 0.1, "y_val": y[:500]}
    expected = LogisticRegression().fit(X, y, **fit)
    model = LogisticRegression().fit(*chunked(X, y, rows=1_500), **fit)
    got = [r["val_loss"] for r in model.history_]
    np.testing.assert_allclose(got, [r["val_loss"] for r in expected.history_], rtol=1e-9)


def test_the_estimators_do_not_import_dask_for_in_memory_data():
    code = (
        "import sys, numpy as np, bcekit, bcekit.distributed\n"
        "bcekit.LogisticRegression().fit(np.eye(4), [0, 1, 0, 1])\n"
        "bcekit.MLPClassifier(max_iter=2).fit(np.eye(4), [0, 1, 0, 1])\n"
        "assert not any(m.split('.')[0] in ('dask', 'distributed') for m in sys.modules)\n"
    )
    subprocess.run([sys.executable, "-W", "ignore", "-c", code], check=True)


def test_logistic_keeps_float32_and_predicts_lazily(dask_client):
    X, y, _ = logistic_data(9_000, 4, seed=3)
    X = X.astype(np.float32)
    labels = np.array([-1, 1])[y]
    expected = LogisticRegression().fit(X, labels)
    Xd, yd = chunked(X, labels, rows=2_000)
    model = LogisticRegression().fit(Xd, yd)
    assert model.coef_.dtype == np.float32
    np.testing.assert_allclose(model.coef_, expected.coef_, rtol=1e-4)

    proba = model.predict_proba(Xd)
    assert isinstance(proba, da.Array) and proba.shape == (9_000, 2)
    assert proba.chunks[0] == Xd.chunks[0]
    np.testing.assert_allclose(proba.compute(), model.predict_proba(X), rtol=1e-6)
    for method in ("decision_function", "predict_log_proba"):
        lazy = getattr(model, method)(Xd)
        assert isinstance(lazy, da.Array)
        np.testing.assert_allclose(lazy.compute(), getattr(model, method)(X), rtol=1e-6)
    labels_out = model.predict(Xd)
    assert isinstance(labels_out, da.Array) and labels_out.dtype == labels.dtype
    np.testing.assert_array_equal(labels_out.compute(), model.predict(X))


def test_logistic_on_a_dask_dataframe_equals_the_in_memory_fit(dask_client):
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    X, y, sw = logistic_data(6_000, 3, seed=5)
    frame = pd.DataFrame(X, columns=["alpha", "beta", "gamma"])
    frame["label"], frame["weight"] = np.array(["no", "yes"])[y], sw
    ddf = dd.from_pandas(frame, npartitions=4)
    features = ["alpha", "beta", "gamma"]
    expected = LogisticRegression(tol=1e-8).fit(
        frame[features], frame["label"], sample_weight=frame["weight"]
    )
    model = LogisticRegression(tol=1e-8).fit(
        ddf[features], ddf["label"], sample_weight=ddf["weight"]
    )
    assert relative_difference(model.coef_, expected.coef_) <= 1e-6
    assert list(model.feature_names_in_) == features
    assert list(model.classes_) == ["no", "yes"]
    proba = model.predict_proba(ddf[features])
    assert isinstance(proba, da.Array) and proba.shape[1] == 2
    np.testing.assert_allclose(proba.compute(), expected.predict_proba(frame[features]), rtol=1e-5)
    np.testing.assert_array_equal(
        model.predict(ddf[features]).compute(), expected.predict(frame[features])
    )


@pytest.mark.parametrize(
    ("params", "change", "fragment"),
    [
        ({}, "three classes", "supports binary y; y has 3 classes"),
        ({"loss": "focal"}, None, "loss='bce'"),
        ({"solver": "adam"}, None, "solver='lbfgs' or 'gd'"),
        ({}, "nan", "X must be finite"),
        ({}, "negative weight", "sample_weight must be finite and >= 0"),
        ({}, "2-D y", "y must be 1-D class labels"),
        ({}, "short y", "must have X's 600 rows"),
        ({"class_weight": {"a": 1.0, "b": 0.0}}, None, "fewer than 2 classes"),
    ],
)
def test_logistic_refuses_what_dask_input_cannot_do(dask_client, params, change, fragment):
    X, y, sw = logistic_data(600, 3, seed=4, classes=3 if change == "three classes" else 2)
    labels = np.array(["a", "b", "c"])[y]
    if change == "nan":
        X[17, 1] = np.nan
    if change == "negative weight":
        sw[5] = -1.0
    if change == "2-D y":
        labels = np.column_stack([y, y])
    if change == "short y":
        labels = labels[:-1]
    Xd, yd, swd = chunked(X, labels, sw, rows=200)
    with pytest.raises(ValueError, match=fragment):
        LogisticRegression(**params).fit(Xd, yd, sample_weight=swd)


def test_predictions_check_the_feature_count(dask_client):
    X, y, _ = logistic_data(600, 3, seed=5)
    model = LogisticRegression().fit(*chunked(X, y, rows=200))
    with pytest.raises(ValueError, match=r"shape \(n_samples, 3\)"):
        model.predict_proba(da.from_array(X[:, :2], chunks=(200, 2)))


# --------------------------------------------------------------------------- MLPClassifier


def network_and_loss(n_features, n_outputs, kind, seed=0):
    net = mlp(n_features, [6], n_outputs, "tanh", 0.0, dtype=np.float64, random_state=seed)
    flat = pack_parameters(net)
    flat.value[...] += np.random.default_rng(seed).normal(scale=0.1, size=flat.value.shape)
    loss = make_loss(kind, loss="bce", gamma=2.0, alpha=None, pos_weight=1.3, label_smoothing=0.05)
    return net, flat, loss


def in_memory_gradient(net, flat, loss, X, Y, W):
    net.train()
    net.zero_grad()
    value, grad = loss.value_and_grad(net.forward(X), Y, weight=W)
    net.backward(grad)
    return float(value), flat.grad.copy()


@pytest.mark.parametrize("kind", ["binary", "multiclass"])
def test_data_parallel_full_batch_gradient_equals_in_memory(dask_client, kind):
    X, y, sw = logistic_data(5_000, 4, seed=6, classes=2 if kind == "binary" else 3)
    net, flat, loss = network_and_loss(4, 1 if kind == "binary" else 3, kind)
    Y, W = (y, sw) if kind == "multiclass" else (y.astype(float)[:, None], sw[:, None])
    expected_value, expected_grad = in_memory_gradient(net, flat, loss, X, Y, W)
    Xd, Yd, Wd = chunked(X, Y, W, rows=900)
    gradient = DataParallelGradient(net, Xd, Yd, Wd, loss=loss, seed=0)
    value, grad, total = gradient(flat.value, epoch=1, step=0, n_steps=1)
    np.testing.assert_allclose(value, expected_value, rtol=1e-10)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(total, sw.sum(), rtol=1e-12)


def test_minibatch_shares_use_every_row_once_per_epoch(dask_client):
    X, y, sw = logistic_data(3_000, 4, seed=7)
    Y, W = y.astype(np.float64).reshape(-1, 1), sw.reshape(-1, 1)
    net, flat, loss = network_and_loss(4, 1, "binary", seed=1)
    expected_value, expected_grad = in_memory_gradient(net, flat, loss, X, Y, W)
    gradient = DataParallelGradient(net, *chunked(X, Y, W, rows=700), loss=loss, seed=3)
    steps = [gradient(flat.value, epoch=2, step=t, n_steps=7) for t in range(7)]
    totals = [t for _, _, t in steps]
    assert max(totals) < 0.2 * sw.sum()  # each step sees about a seventh of the rows
    np.testing.assert_allclose(sum(totals), sw.sum(), rtol=1e-12)
    np.testing.assert_allclose(sum(v for v, _, _ in steps), expected_value, rtol=1e-10)
    np.testing.assert_allclose(sum(g for _, g, _ in steps), expected_grad, rtol=1e-9, atol=1e-12)


def mlp_params(**extra):
    return {"hidden_layer_sizes": (8,), "learning_rate_init": 0.02, "random_state": 0, **extra}


@pytest.mark.parametrize("classes", [2, 3])
def test_mlp_full_batch_training_takes_the_in_memory_steps(dask_client, classes):
    X, y, sw = logistic_data(4_000, 5, seed=8, classes=classes)
    params = mlp_params(batch_size=4_000, max_iter=6, alpha=1e-3, class_weight="balanced")
    Xd, yd, swd = chunked(X, y, sw, rows=1_100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter reached
        expected = MLPClassifier(**params).fit(X, y, sample_weight=sw)
        model = MLPClassifier(**params).fit(Xd, yd, sample_weight=swd)
    np.testing.assert_allclose(model.loss_curve_, expected.loss_curve_, rtol=1e-9)
    for got, want in zip(model.coefs_, expected.coefs_, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-10)
    proba = model.predict_proba(Xd)
    assert isinstance(proba, da.Array) and proba.shape == (4_000, classes)


@pytest.mark.parametrize("strategy", ["data_parallel", "partitions"])
def test_mlp_minibatch_training_reaches_the_in_memory_loss(dask_client, strategy):
    X, y, _ = logistic_data(3_000, 5, seed=9)
    params = mlp_params(batch_size=500, max_iter=8, dask_strategy=strategy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = MLPClassifier(**params).fit(X, y)
        model = MLPClassifier(**params).fit(*chunked(X, y, rows=1_000))
    assert len(model.loss_curve_) == 8
    assert model.loss_curve_[-1] < 0.8 * model.loss_curve_[0]
    assert abs(model.loss_curve_[-1] - expected.loss_curve_[-1]) < 0.03
    accuracy = (model.predict(chunked(X, rows=1_000)[0]).compute() == y).mean()
    assert accuracy > (expected.predict(X) == y).mean() - 0.03


@pytest.mark.parametrize(
    ("params", "fit_kwargs"),
    [({"early_stopping": True}, {}), ({}, {"X_val": np.zeros((3, 2)), "y_val": [0, 1, 0]})],
)
def test_mlp_refuses_validation_on_dask_input(dask_client, params, fit_kwargs):
    X, y, _ = logistic_data(300, 2, seed=10)
    with pytest.raises(ValueError, match="without validation data"):
        MLPClassifier(**params).fit(*chunked(X, y, rows=100), **fit_kwargs)


@pytest.mark.parametrize(
    ("params", "classes", "fragment"),
    [
        ({"loss": "focal"}, 3, "needs binary or multi-label y"),
        ({"loss": "focal", "pos_weight": 2.0}, 2, "pos_weight applies to loss='bce'"),
    ],
)
def test_mlp_rejects_the_loss_options_refused_in_memory(dask_client, params, classes, fragment):
    X, y, _ = logistic_data(300, 2, seed=11, classes=classes)
    with pytest.raises(ValueError, match=fragment):
        MLPClassifier(max_iter=1, **params).fit(X, y)
    with pytest.raises(ValueError, match=fragment):
        MLPClassifier(max_iter=1, **params).fit(*chunked(X, y, rows=100))
