"""MLPClassifier: quality against scikit-learn, training semantics against torch, and options."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import expit, log_expit
from sklearn.datasets import load_breast_cancer, load_digits, load_wine, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state

from bcekit.estimators import MLPClassifier
from bcekit.estimators._base import BatchObjective
from bcekit.nn.gradcheck import numerical_gradient


def _split(X, y):
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=0, stratify=y
    )
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


@pytest.fixture(scope="module")
def cancer():
    return _split(*load_breast_cancer(return_X_y=True))


@pytest.fixture(scope="module")
def small():
    X, y = make_classification(n_samples=120, n_features=5, n_informative=3, random_state=1)
    return StandardScaler().fit_transform(X), y


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("dataset", ["breast_cancer", "digits_0_vs_rest"])
def test_log_loss_no_worse_than_sklearn(dataset):
    """Same hidden layer, same early-stopping setting; ours stops on validation loss."""
    if dataset == "breast_cancer":
        X, y = load_breast_cancer(return_X_y=True)
    else:
        X, digit = load_digits(return_X_y=True)
        y = (digit == 0).astype(int)
    X_train, X_test, y_train, y_test = _split(X, y)
    ref = SkMLPClassifier((64,), early_stopping=True, random_state=0).fit(X_train, y_train)
    model = MLPClassifier((64,), early_stopping=True, random_state=0).fit(X_train, y_train)
    ours = log_loss(y_test, model.predict_proba(X_test))
    theirs = log_loss(y_test, ref.predict_proba(X_test))
    assert ours <= theirs
    assert roc_auc_score(y_test, model.predict_proba(X_test)[:, 1]) >= 0.98


def test_full_batch_adam_matches_torch(small):
    """Three full-batch Adam epochs from the same weights equal a hand-written torch loop.

    The torch objective is scikit-learn's: mean BCE + α/(2n)·Σ‖W‖² over the weight
    matrices (biases not penalised).
    """
    torch = pytest.importorskip("torch")
    X, y = small
    alpha, lr = 0.1, 0.01
    model = MLPClassifier(
        (8,),
        alpha=alpha,
        learning_rate_init=lr,
        max_iter=1,
        batch_size=1000,
        shuffle=False,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    start = [np.array(a) for a in (*model.coefs_, *model.intercepts_)]
    model.set_params(warm_start=True, max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)

    W1, W2, b1, b2 = (torch.tensor(a, requires_grad=True) for a in start)
    optimizer = torch.optim.Adam([W1, W2, b1, b2], lr=lr)
    Xt, yt = torch.tensor(X), torch.tensor(y, dtype=torch.float64)
    losses = []
    for _ in range(3):
        optimizer.zero_grad()
        z = (torch.relu(Xt @ W1 + b1) @ W2 + b2).ravel()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(z, yt)
        loss = loss + alpha / (2 * len(y)) * ((W1**2).sum() + (W2**2).sum())
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    for ours, theirs in zip([*model.coefs_, *model.intercepts_], [W1, W2, b1, b2], strict=True):
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(model.loss_curve_, losses, rtol=1e-12)


@pytest.mark.parametrize("n_labels", [1, 3])
def test_batch_objective_value_and_gradient(small, n_labels):
    """Σ_i s_i Σ_j ℓ_ij / Σ_i s_i + α/(2·Σs)·Σ‖W‖²: value by hand, gradient by differences."""
    X, y = small
    rng = np.random.default_rng(0)
    Y = np.column_stack([y, rng.integers(0, 2, (len(y), n_labels - 1))]).astype(float)
    sw = rng.uniform(0.5, 2.0, (len(y), 1))
    pw, s, alpha = 2.0, 0.1, 0.3
    model = MLPClassifier(
        (6, 4), activation="tanh", alpha=alpha, label_smoothing=s, random_state=0, max_iter=1
    )
    _fit_quietly(model, X, Y if n_labels > 1 else y)
    net = model.network_
    params = net.parameters()
    matrices = [p for name, p in net.named_parameters() if name.endswith("weight")]
    trainer = model._make_trainer(
        pw, len(X), np.random.RandomState(0), validation=False, schedule=False
    )
    objective = trainer.loss  # the estimator's own BatchObjective
    assert isinstance(objective, BatchObjective)

    def value() -> float:
        return float(objective.value_and_grad(net.forward(X), Y, weight=sw)[0])

    net.train()
    net.zero_grad()
    z = net.forward(X)
    value_at_start, grad = objective.value_and_grad(z, Y, weight=sw)
    net.backward(grad)
    analytic_grads = [p.grad.copy() for p in params]

    ys = Y * (1 - s) + s / 2
    per_element = -(pw * ys * log_expit(z) + (1 - ys) * log_expit(-z))
    squares = sum(float((w.value**2).sum()) for w in matrices)
    expected = (sw * per_element).sum() / sw.sum() + alpha / (2 * sw.sum()) * squares
    assert value_at_start == pytest.approx(expected, rel=1e-12)

    for p, analytic in zip(params, analytic_grads, strict=True):
        numeric = numerical_gradient(value, p.value, eps=1e-6)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


def test_early_stopping_restores_the_best_weights(cancer):
    X_train, X_test, y_train, y_test = cancer
    model = MLPClassifier(
        (64,), learning_rate_init=0.01, n_iter_no_change=5, max_iter=300, random_state=0
    )
    model.fit(X_train, y_train, X_val=X_test, y_val=y_test)
    curve = np.array(model.validation_loss_curve_)
    best = int(np.argmin(curve))
    assert best + 1 < model.n_iter_, "training must have gone on past the best epoch"
    assert model.best_loss_ == pytest.approx(curve[best])
    assert log_loss(y_test, model.predict_proba(X_test)) == pytest.approx(curve[best], rel=1e-6)
    accuracy = np.mean(model.predict(X_test) == y_test)
    assert model.validation_scores_[best] == pytest.approx(accuracy)
    assert len(model.loss_curve_) == len(model.validation_scores_) == model.n_iter_


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_early_stopping_split_uses_validation_fraction(cancer):
    X_train, _, y_train, _ = cancer
    model = MLPClassifier((16,), early_stopping=True, validation_fraction=0.2, random_state=0)
    model.fit(X_train, y_train)
    assert model.validation_loss_curve_ is not None
    assert model.best_loss_ == pytest.approx(min(model.validation_loss_curve_))
    with pytest.raises(ValueError, match="increase 'validation_fraction'"):
        MLPClassifier(early_stopping=True, validation_fraction=0.01).fit(X_train[:50], y_train[:50])


def test_without_validation_stops_on_training_loss(cancer):
    X_train, _, y_train, _ = cancer
    model = MLPClassifier(
        (16,), learning_rate_init=0.01, tol=1e-2, n_iter_no_change=3, random_state=0
    ).fit(X_train, y_train)
    assert model.n_iter_ < 200
    assert model.validation_loss_curve_ is None and model.validation_scores_ is None
    assert model.best_loss_ == pytest.approx(min(model.loss_curve_))


def test_history_is_json_ready(small):
    X, y = small
    model = MLPClassifier((8,), early_stopping=True, max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    records = json.loads(json.dumps(model.history_))
    assert [r["epoch"] for r in records] == list(range(1, 6))
    assert {"train_loss", "val_loss", "val_accuracy", "lr"} <= set(records[0])


def test_float32_trains_in_float32(cancer):
    X_train, X_test, y_train, _ = cancer
    model = MLPClassifier((16,), max_iter=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train.astype(np.float32), y_train)
    assert all(w.dtype == np.float32 for w in model.coefs_ + model.intercepts_)
    assert model.decision_function(X_test.astype(np.float32)).dtype == np.float32


def test_csr_equals_dense(cancer):
    X_train, X_test, y_train, _ = cancer
    X_train = np.where(np.abs(X_train) < 0.5, 0.0, X_train)
    options = dict(hidden_layer_sizes=(16,), max_iter=10, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense = MLPClassifier(**options).fit(X_train, y_train)
        sparse = MLPClassifier(**options).fit(sp.csr_matrix(X_train), y_train)
    np.testing.assert_allclose(
        sparse.predict_proba(sp.csr_matrix(X_test)), dense.predict_proba(X_test), atol=1e-10
    )


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_multiclass_softmax():
    X, y = load_wine(return_X_y=True)
    X_train, X_test, y_train, y_test = _split(X, y)
    model = MLPClassifier((32,), random_state=0).fit(X_train, y_train)
    proba = model.predict_proba(X_test)
    assert model.target_type_ == "multiclass" and proba.shape == (len(y_test), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert model.score(X_test, y_test) > 0.9


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_multilabel_sigmoids(cancer):
    X_train, X_test, y_train, y_test = cancer
    Y_train = np.column_stack([y_train, X_train[:, 0] > 0, X_train[:, 1] > 0]).astype(int)
    Y_test = np.column_stack([y_test, X_test[:, 0] > 0, X_test[:, 1] > 0]).astype(int)
    model = MLPClassifier((32,), random_state=0).fit(X_train, Y_train)
    proba = model.predict_proba(X_test)
    assert proba.shape == (len(X_test), 3)
    np.testing.assert_allclose(proba, expit(model.decision_function(X_test)))
    np.testing.assert_array_equal(model.predict(X_test), (proba > 0.5).astype(int))
    for j in range(3):
        assert roc_auc_score(Y_test[:, j], proba[:, j]) > 0.95


def test_sample_weight_two_equals_duplicated_rows_with_one_batch(small):
    X, y = small
    sw = np.ones(len(y))
    sw[:30] = 2.0
    options = dict(
        hidden_layer_sizes=(8,), batch_size=1000, shuffle=False, max_iter=30, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        weighted = MLPClassifier(**options).fit(X, y, sample_weight=sw)
        repeated = MLPClassifier(**options).fit(np.vstack([X, X[:30]]), np.concatenate([y, y[:30]]))
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), rtol=1e-9)


def test_class_weight_and_pos_weight_semantics(small):
    X, y = small
    options = dict(hidden_layer_sizes=(8,), max_iter=15, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        by_class = MLPClassifier(class_weight={0: 0.5, 1: 3.0}, **options).fit(X, y)
        by_sample = MLPClassifier(**options).fit(X, y, sample_weight=np.where(y == 1, 3.0, 0.5))
        balanced = MLPClassifier(pos_weight="balanced", **options).fit(X, y)
        explicit = MLPClassifier(pos_weight=np.sum(y == 0) / np.sum(y == 1), **options).fit(X, y)
        plain = MLPClassifier(**options).fit(X, y)
    np.testing.assert_allclose(by_class.predict_proba(X), by_sample.predict_proba(X), rtol=1e-12)
    np.testing.assert_allclose(balanced.predict_proba(X), explicit.predict_proba(X), rtol=1e-12)
    heavy = MLPClassifier(pos_weight=20.0, **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        heavy.fit(X, y)
    assert heavy.predict_proba(X)[:, 1].mean() > plain.predict_proba(X)[:, 1].mean()


def test_balanced_pos_weight_counts_the_training_split_only(small):
    X, y = small
    keep = (y == 0) | (np.arange(len(y)) % 3 > 0)  # a third of the positives dropped
    X, y = X[keep], y[keep]
    options = dict(hidden_layer_sizes=(8,), max_iter=5, early_stopping=True, random_state=0)
    _, y_train = train_test_split(
        X, y, test_size=int(np.ceil(0.1 * len(y))), random_state=check_random_state(0), stratify=y
    )[::2]
    counted = np.sum(y_train == 0) / np.sum(y_train == 1)
    assert counted != np.sum(y == 0) / np.sum(y == 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        balanced = MLPClassifier(pos_weight="balanced", **options).fit(X, y)
        explicit = MLPClassifier(pos_weight=counted, **options).fit(X, y)
    np.testing.assert_allclose(balanced.predict_proba(X), explicit.predict_proba(X), rtol=1e-12)


def test_partial_fit_learns_incrementally(cancer):
    X_train, X_test, y_train, y_test = cancer
    model = MLPClassifier((16,), learning_rate_init=0.01, random_state=0)
    batches = np.array_split(np.arange(len(y_train)), 4)
    model.partial_fit(X_train[batches[0]], y_train[batches[0]], classes=[0, 1])
    first = log_loss(y_test, model.predict_proba(X_test))
    for _ in range(10):
        for rows in batches:
            model.partial_fit(X_train[rows], y_train[rows])
    assert model.n_iter_ == 41
    assert log_loss(y_test, model.predict_proba(X_test)) < first / 2
    with pytest.raises(ValueError, match="not in classes"):
        model.partial_fit(X_train[:5], np.full(5, 7))
    with pytest.raises(ValueError, match="needs the whole data set"):
        MLPClassifier(class_weight="balanced").partial_fit(X_train, y_train)


def test_partial_fit_rejects_a_change_of_target_type(cancer):
    X_train, _, y_train, _ = cancer
    model = MLPClassifier((4,), random_state=0)
    model.partial_fit(X_train[:20], y_train[:20], classes=[0, 1])
    multilabel = np.column_stack([y_train[20:40], 1 - y_train[20:40]])
    message = "y is multilabel-indicator but the model was fitted on binary targets"
    with pytest.raises(ValueError, match=message):
        model.partial_fit(X_train[20:40], multilabel)


def test_partial_fit_continues_after_fit(cancer):
    X_train, _, y_train, _ = cancer
    model = MLPClassifier((16,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train, y_train)
    before = [w.copy() for w in model.coefs_]
    last = model.loss_curve_[-1]
    model.partial_fit(X_train, y_train)
    assert not np.allclose(before[0], model.coefs_[0])
    assert model.loss_curve_[-1] < last * 1.05


def test_warm_start_continues_and_cold_start_restarts(cancer):
    X_train, _, y_train, _ = cancer
    options = dict(hidden_layer_sizes=(16,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warm = MLPClassifier(warm_start=True, **options).fit(X_train, y_train)
        first_curve = warm.loss_curve_
        warm.fit(X_train, y_train)
        cold = MLPClassifier(**options).fit(X_train, y_train)
        cold_again = MLPClassifier(**options).fit(X_train, y_train)
    assert warm.loss_curve_[0] < first_curve[0]
    assert warm.loss_curve_[0] < first_curve[-1] * 1.05
    np.testing.assert_array_equal(cold.coefs_[0], cold_again.coefs_[0])
    warm.set_params(activation="tanh")
    _fit_quietly(warm, X_train, y_train)
    assert "Tanh" in repr(warm.network_), "a changed architecture must start afresh"


def _fit_quietly(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


def _scheduled_history(data, schedule, lr, *, epochs, tol):
    """``history_`` of ``epochs`` epochs (no early stop) under the ``schedule`` from ``lr``."""
    model = MLPClassifier(
        (8,),
        learning_rate=schedule,
        learning_rate_init=lr,
        max_iter=epochs,
        tol=tol,
        n_iter_no_change=epochs,
        random_state=0,
    )
    return _fit_quietly(model, *data).history_


def test_cosine_schedule_follows_the_formula(small):
    lrs = [r["lr"] for r in _scheduled_history(small, "cosine", 0.01, epochs=20, tol=0.0)]
    epochs = np.arange(20)
    np.testing.assert_allclose(lrs, 0.005 * (1 + np.cos(np.pi * epochs / 20)), rtol=1e-12)


def test_plateau_schedule_divides_by_five_after_stalled_epochs(small):
    history = _scheduled_history(small, "plateau", 0.05, epochs=150, tol=0.01)
    losses = np.array([r["train_loss"] for r in history])
    lrs = np.array([r["lr"] for r in history])
    drops = np.flatnonzero(lrs[1:] < lrs[:-1]) + 1
    assert drops.size > 0
    np.testing.assert_allclose(lrs[drops], lrs[drops - 1] / 5)
    for k in drops:
        best_before = losses[: k - 3].min()
        assert np.all(losses[k - 3 : k] >= best_before * (1 - 0.01))


def test_sgd_solver_and_focal_loss(cancer):
    X_train, X_test, y_train, y_test = cancer
    sgd = MLPClassifier((16,), solver="sgd", learning_rate_init=0.01, random_state=0)
    focal = MLPClassifier((16,), loss="focal", gamma=2.0, focal_alpha=0.5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sgd.fit(X_train, y_train)
        focal.fit(X_train, y_train)
    for model in (sgd, focal):
        assert roc_auc_score(y_test, model.predict_proba(X_test)[:, 1]) > 0.98


def test_verbose_shows_progress(small, capsys):
    X, y = small
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        MLPClassifier((4,), max_iter=2, verbose=2, random_state=0).fit(X, y)
    assert capsys.readouterr().err.strip()


def test_bad_input(small):
    X, y = small
    with pytest.raises(ValueError, match="X_val and y_val must be given together"):
        MLPClassifier().fit(X, y, X_val=X)
    with pytest.raises(ValueError, match="'hidden_layer_sizes' parameter"):
        MLPClassifier(hidden_layer_sizes="wide").fit(X, y)
    with pytest.raises(ValueError, match="hidden_layer_sizes must hold positive integers"):
        MLPClassifier(hidden_layer_sizes=(8, 0)).fit(X, y)
    with pytest.raises(ValueError, match="'alpha' parameter of MLPClassifier"):
        MLPClassifier(alpha=-1.0).fit(X, y)
    bad = X.copy()
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        MLPClassifier().fit(bad, y)
    with pytest.raises(ValueError, match="not in classes"):
        MLPClassifier().fit(X, y, X_val=X, y_val=np.full(len(y), 5))
