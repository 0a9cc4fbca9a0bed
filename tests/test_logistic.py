"""LogisticRegression: scikit-learn's optimum, weighting semantics, dtypes, sparse, multi-label."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import expit, log_expit
from sklearn.datasets import load_breast_cancer, load_wine, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.preprocessing import StandardScaler

from bcekit.estimators import LogisticRegression
from bcekit.estimators._base import encode_targets, resolve_weights


def _standardised(loader):
    X, y = loader(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def cancer():
    return _standardised(load_breast_cancer)


@pytest.fixture(scope="module")
def noisy():
    X, y = make_classification(
        n_samples=300, n_features=6, n_informative=4, flip_y=0.2, random_state=0
    )
    return X, y


def _rel(a, b):
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


@pytest.mark.parametrize("loader", [load_breast_cancer, load_wine])
@pytest.mark.parametrize("C", [0.1, 1.0, 10.0])
def test_matches_sklearn_lbfgs(loader, C):
    X, y = _standardised(loader)
    ref = SkLogisticRegression(C=C, tol=1e-10, max_iter=10_000).fit(X, y)
    model = LogisticRegression(C=C, tol=1e-10, max_iter=10_000).fit(X, y)
    assert model.coef_.shape == ref.coef_.shape
    assert _rel(model.coef_, ref.coef_) < 1e-4
    assert _rel(model.intercept_, ref.intercept_) < 1e-4
    np.testing.assert_allclose(model.predict_proba(X), ref.predict_proba(X), atol=1e-5)
    assert model.target_type_ == ("binary" if len(ref.classes_) == 2 else "multiclass")


def test_no_penalty_matches_sklearn(noisy):
    X, y = noisy
    ref = SkLogisticRegression(C=np.inf, tol=1e-10, max_iter=10_000).fit(X, y)
    model = LogisticRegression(C=np.inf, tol=1e-10, max_iter=10_000).fit(X, y)
    assert _rel(model.coef_, ref.coef_) < 1e-5


def test_optimum_satisfies_hand_derived_gradient(noisy):
    """At the optimum, Xᵀ(σ(z) − y) + w/C = 0 and Σ(σ(z) − y) = 0 (unpenalised intercept).

    Checked per sample (divided by n), the scale on which the solver's tolerance acts.
    """
    X, y = noisy
    C = 0.3
    model = LogisticRegression(C=C, tol=1e-12, max_iter=10_000).fit(X, y)
    r = expit(model.decision_function(X)) - y
    n = len(y)
    np.testing.assert_allclose((X.T @ r + model.coef_.ravel() / C) / n, 0, atol=1e-8)
    assert abs(r.sum()) / n < 1e-8


def test_gd_solver_reaches_the_lbfgs_optimum(cancer):
    X, y = cancer
    ref = LogisticRegression(C=0.5, tol=1e-10, max_iter=10_000).fit(X, y)
    model = LogisticRegression(C=0.5, solver="gd", tol=1e-8, max_iter=20_000).fit(X, y)
    assert _rel(model.coef_, ref.coef_) < 1e-5
    losses = [r["train_loss"] for r in model.history_]
    assert np.all(np.diff(losses) <= 1e-15), "backtracking GD must not increase f"


def test_gd_elastic_net_matches_sklearn_saga(cancer):
    X, y = cancer
    ref = SkLogisticRegression(C=0.5, l1_ratio=0.7, solver="saga", tol=1e-10, max_iter=100_000).fit(
        X, y
    )
    model = LogisticRegression(C=0.5, l1_ratio=0.7, solver="gd", tol=1e-9, max_iter=50_000)
    model.fit(X, y)
    assert np.max(np.abs(model.coef_ - ref.coef_)) < 1e-4
    np.testing.assert_array_equal(model.coef_ == 0, ref.coef_ == 0)
    assert (model.coef_ == 0).sum() > 0


def _scaled_objective(model, X, y, C):
    targets = encode_targets(y, X.dtype)
    weights = resolve_weights(None, X, targets, None)
    objective = LogisticRegression(C=C)._objective(X, targets, weights, None)
    return objective(objective.pack(model.coef_.astype(float), model.intercept_.astype(float)))[0]


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("target", ["binary", "multiclass", "multilabel"])
def test_minibatch_solvers_approach_the_optimum(solver, target):
    X, y = _standardised(load_wine)
    if target == "binary":
        y = (y == 0).astype(int)
    elif target == "multilabel":
        y = np.column_stack([y == 0, y == 1, X[:, 0] > 0]).astype(int)
    ref = LogisticRegression(C=0.5, tol=1e-10, max_iter=10_000).fit(X, y)
    model = LogisticRegression(
        C=0.5,
        solver=solver,
        learning_rate=0.05 if solver == "sgd" else 0.01,
        batch_size=32,
        max_iter=300,
        tol=1e-6,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    best = _scaled_objective(ref, X, y, 0.5)
    assert best <= _scaled_objective(model, X, y, 0.5) <= best * 1.02
    assert model.n_iter_[0] == len(model.history_)


def test_minibatch_solver_on_csr_and_without_intercept(cancer):
    X, y = cancer
    X = np.where(np.abs(X) < 0.5, 0.0, X)
    options = dict(solver="adam", max_iter=5, random_state=0, fit_intercept=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense = LogisticRegression(**options).fit(X, y)
        sparse = LogisticRegression(**options).fit(sp.csr_matrix(X), y)
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=1e-10)
    assert np.all(dense.intercept_ == 0)


def test_l1_needs_gd_solver(cancer):
    X, y = cancer
    with pytest.raises(ValueError, match="l1_ratio > 0 requires solver='gd'"):
        LogisticRegression(l1_ratio=0.5).fit(X, y)


def test_convergence_warning_when_max_iter_too_small(cancer):
    X, y = cancer
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        LogisticRegression(C=100.0, max_iter=2).fit(X, y)


def test_history_decreases_and_n_iter(cancer):
    X, y = cancer
    model = LogisticRegression().fit(X, y)
    assert len(model.history_) == model.n_iter_[0]
    assert [r["epoch"] for r in model.history_] == list(range(1, model.n_iter_[0] + 1))
    assert np.all(np.diff([r["train_loss"] for r in model.history_]) <= 0)


# --- the objective's gradient, checked by central differences ------------------------------


def _objective_for(X, y, *, sample_weight=None, class_weight=None, pos_weight=None, **kw):
    model = LogisticRegression(pos_weight=pos_weight, class_weight=class_weight, **kw)
    targets = encode_targets(y, X.dtype)
    weights = resolve_weights(sample_weight, X, targets, class_weight)
    from bcekit.estimators._base import resolve_pos_weight

    return model._objective(X, targets, weights, resolve_pos_weight(pos_weight, targets, weights))


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("binary", {"pos_weight": 2.5, "label_smoothing": 0.1}),
        ("binary", {"loss": "focal", "gamma": 2.0, "alpha": 0.25}),
        ("binary", {"fit_intercept": False, "C": np.inf}),
        ("multiclass", {"label_smoothing": 0.2, "class_weight": "balanced"}),
        ("multilabel", {"class_weight": "balanced", "pos_weight": [1.5, 0.5, 3.0]}),
    ],
)
def test_objective_gradient_central_differences(kind, options):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4))
    if kind == "binary":
        y = rng.integers(0, 2, 40)
    elif kind == "multiclass":
        y = rng.integers(0, 3, 40)
    else:
        y = rng.integers(0, 2, (40, 3))
    sw = rng.uniform(0.5, 2.0, 40)
    objective = _objective_for(X, y, sample_weight=sw, **options)
    theta = rng.normal(size=objective.size)
    _, grad = objective(theta)
    h = 1e-6
    numeric = np.empty_like(theta)
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = h
        numeric[i] = (objective(theta + e)[0] - objective(theta - e)[0]) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


def test_objective_value_matches_hand_formula():
    """f = Σ sw·[−pw·y'·log σ(z) − (1 − y')·log(1 − σ(z))] / Σ sw + ‖w‖²/(2·C·Σ sw)."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 3))
    y = rng.integers(0, 2, 30)
    sw = rng.uniform(0.5, 2.0, 30)
    C, pw, s = 0.7, 3.0, 0.1
    objective = _objective_for(X, y, sample_weight=sw, C=C, pos_weight=pw, label_smoothing=s)
    theta = rng.normal(size=4)
    z = X @ theta[:3] + theta[3]
    ys = y * (1 - s) + s / 2
    per_row = -(pw * ys * log_expit(z) + (1 - ys) * log_expit(-z))
    expected = (sw @ per_row) / sw.sum() + theta[:3] @ theta[:3] / (2 * C * sw.sum())
    assert objective(theta)[0] == pytest.approx(expected, rel=1e-12)


# --- weights --------------------------------------------------------------------------------


def test_sample_weight_two_equals_duplicated_rows(noisy):
    X, y = noisy
    sw = np.ones(len(y))
    sw[:50] = 2.0
    weighted = LogisticRegression(tol=1e-10).fit(X, y, sample_weight=sw)
    duplicated = LogisticRegression(tol=1e-10).fit(
        np.vstack([X, X[:50]]), np.concatenate([y, y[:50]])
    )
    np.testing.assert_allclose(weighted.coef_, duplicated.coef_, rtol=1e-6)
    np.testing.assert_allclose(weighted.intercept_, duplicated.intercept_, rtol=1e-6)


def test_zero_sample_weight_equals_dropped_rows(noisy):
    X, y = noisy
    sw = np.ones(len(y))
    sw[::3] = 0.0
    weighted = LogisticRegression(tol=1e-10).fit(X, y, sample_weight=sw)
    dropped = LogisticRegression(tol=1e-10).fit(X[sw > 0], y[sw > 0])
    np.testing.assert_allclose(weighted.coef_, dropped.coef_, rtol=1e-6)


def test_pos_weight_equals_weighting_positive_rows(noisy):
    X, y = noisy
    pw = LogisticRegression(pos_weight=3.0, tol=1e-10).fit(X, y)
    sw = LogisticRegression(tol=1e-10).fit(X, y, sample_weight=np.where(y == 1, 3.0, 1.0))
    np.testing.assert_allclose(pw.coef_, sw.coef_, rtol=1e-6)
    np.testing.assert_allclose(pw.intercept_, sw.intercept_, rtol=1e-6)


def test_pos_weight_balanced_is_negative_over_positive_count(cancer):
    X, y = cancer
    ratio = np.sum(y == 0) / np.sum(y == 1)
    balanced = LogisticRegression(pos_weight="balanced", tol=1e-10).fit(X, y)
    explicit = LogisticRegression(pos_weight=ratio, tol=1e-10).fit(X, y)
    np.testing.assert_allclose(balanced.coef_, explicit.coef_, rtol=1e-10)


def test_class_weight_dict_equals_sample_weight(noisy):
    X, y = noisy
    cw = LogisticRegression(class_weight={0: 0.5, 1: 2.0}, tol=1e-10).fit(X, y)
    sw = LogisticRegression(tol=1e-10).fit(X, y, sample_weight=np.where(y == 1, 2.0, 0.5))
    np.testing.assert_allclose(cw.coef_, sw.coef_, rtol=1e-6)


@pytest.mark.parametrize("loader", [load_breast_cancer, load_wine])
def test_class_weight_balanced_matches_sklearn(loader):
    X, y = _standardised(loader)
    ref = SkLogisticRegression(class_weight="balanced", tol=1e-10, max_iter=10_000).fit(X, y)
    model = LogisticRegression(class_weight="balanced", tol=1e-10, max_iter=10_000).fit(X, y)
    assert _rel(model.coef_, ref.coef_) < 1e-4


def test_label_smoothing_optimum_uses_smoothed_targets(noisy):
    X, y = noisy
    s, C = 0.2, 1.0
    model = LogisticRegression(label_smoothing=s, C=C, tol=1e-12, max_iter=10_000).fit(X, y)
    r = expit(model.decision_function(X)) - (y * (1 - s) + s / 2)
    np.testing.assert_allclose((X.T @ r + model.coef_.ravel() / C) / len(y), 0, atol=1e-8)
    assert abs(r.sum()) / len(y) < 1e-8


def test_focal_with_gamma_zero_is_bce(noisy):
    X, y = noisy
    focal = LogisticRegression(loss="focal", gamma=0.0, tol=1e-10).fit(X, y)
    bce = LogisticRegression(tol=1e-10).fit(X, y)
    np.testing.assert_allclose(focal.coef_, bce.coef_, rtol=1e-6)


def test_focal_optimum_has_zero_torch_gradient(noisy):
    torch = pytest.importorskip("torch")
    X, y = noisy
    C, gamma, alpha = 2.0, 2.0, 0.25
    model = LogisticRegression(loss="focal", gamma=gamma, alpha=alpha, C=C, tol=1e-12)
    model.fit(X, y)
    w = torch.tensor(model.coef_.ravel(), requires_grad=True)
    b = torch.tensor(model.intercept_, requires_grad=True)
    z = torch.tensor(X) @ w + b
    t = torch.tensor(y, dtype=torch.float64)
    p = torch.sigmoid(z)
    ce = torch.nn.functional.binary_cross_entropy_with_logits(z, t, reduction="none")
    p_t = p * t + (1 - p) * (1 - t)
    alpha_t = alpha * t + (1 - alpha) * (1 - t)
    objective = C * (alpha_t * (1 - p_t) ** gamma * ce).sum() + 0.5 * (w * w).sum()
    objective.backward()
    scale = C * len(y)
    assert float(w.grad.abs().max()) / scale < 1e-8
    assert float(b.grad.abs().max()) / scale < 1e-8


# --- dtypes, sparse, multi-label, warm start ------------------------------------------------


def test_float32_stays_float32(cancer):
    X, y = cancer
    m32 = LogisticRegression(tol=1e-5).fit(X.astype(np.float32), y)
    m64 = LogisticRegression(tol=1e-8).fit(X, y)
    assert m32.coef_.dtype == np.float32 and m32.intercept_.dtype == np.float32
    assert m32.decision_function(X.astype(np.float32)).dtype == np.float32
    np.testing.assert_allclose(m32.coef_, m64.coef_, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("loader", [load_breast_cancer, load_wine])
def test_csr_equals_dense(loader):
    X, y = _standardised(loader)
    X[np.abs(X) < 0.5] = 0.0
    dense = LogisticRegression(tol=1e-10, max_iter=10_000).fit(X, y)
    sparse = LogisticRegression(tol=1e-10, max_iter=10_000).fit(sp.csr_matrix(X), y)
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(
        sparse.predict_proba(sp.csr_matrix(X)), dense.predict_proba(X), atol=1e-12
    )


def test_multilabel_is_one_binary_model_per_label():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 5))
    Y = (X @ rng.normal(size=(5, 3)) + rng.normal(size=(200, 3)) > 0).astype(int)
    model = LogisticRegression(C=0.5, tol=1e-10).fit(X, Y)
    assert model.target_type_ == "multilabel-indicator"
    assert model.coef_.shape == (3, 5)
    np.testing.assert_array_equal(model.classes_, [0, 1, 2])
    for j in range(3):
        ref = SkLogisticRegression(C=0.5, tol=1e-10).fit(X, Y[:, j])
        np.testing.assert_allclose(model.coef_[j], ref.coef_[0], rtol=1e-5)
        np.testing.assert_allclose(
            model.predict_proba(X)[:, j], ref.predict_proba(X)[:, 1], atol=1e-6
        )
    assert model.predict(X).shape == (200, 3)
    np.testing.assert_array_equal(model.predict(X), model.predict_proba(X) > 0.5)


def test_warm_start_resumes_from_the_solution(cancer):
    X, y = cancer
    model = LogisticRegression(warm_start=True, tol=1e-8, max_iter=1000).fit(X, y)
    first = model.n_iter_[0]
    coef = model.coef_.copy()
    model.fit(X, y)
    assert model.n_iter_[0] <= 1 < first
    np.testing.assert_allclose(model.coef_, coef, rtol=1e-6)


def test_predictions_are_consistent(cancer):
    X, y = cancer
    model = LogisticRegression().fit(X, y)
    z = model.decision_function(X)
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba[:, 1], expit(z))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(model.predict(X), model.classes_[(z > 0).astype(int)])
    assert model.score(X, y) > 0.97


def test_log_proba_finite_for_huge_logits(cancer):
    X, y = cancer
    model = LogisticRegression().fit(X, y)
    log_proba = model.predict_log_proba(1e6 * X[:5])
    assert np.all(np.isfinite(log_proba))
    assert np.all(log_proba <= 0)


def test_string_labels(cancer):
    X, y = cancer
    labels = np.array(["benign", "malignant"])[y]
    model = LogisticRegression().fit(X, labels)
    np.testing.assert_array_equal(model.classes_, ["benign", "malignant"])
    assert set(model.predict(X)) <= {"benign", "malignant"}


# --- bad input -----------------------------------------------------------------------------


def test_nan_input_is_rejected(cancer):
    X, y = cancer
    X = X.copy()
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        LogisticRegression().fit(X, y)


def test_non_numeric_input_is_rejected(cancer):
    X, y = cancer
    with pytest.raises(ValueError, match="could not convert string to float"):
        LogisticRegression().fit(np.full(X.shape, "a", dtype=object), y)


def test_one_class_is_rejected(cancer):
    X, _ = cancer
    with pytest.raises(ValueError, match="at least 2 classes"):
        LogisticRegression().fit(X, np.ones(len(X)))


def test_wrong_feature_count_at_predict(cancer):
    X, y = cancer
    model = LogisticRegression().fit(X, y)
    with pytest.raises(ValueError, match="features"):
        model.predict(X[:, :5])


def test_parameter_constraints_name_the_parameter(cancer):
    X, y = cancer
    with pytest.raises(ValueError, match="'C' parameter of LogisticRegression"):
        LogisticRegression(C=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="'label_smoothing' parameter"):
        LogisticRegression(label_smoothing=1.0).fit(X, y)


def test_meaningless_option_combinations(noisy):
    X, _ = noisy
    y3 = np.arange(len(X)) % 3
    with pytest.raises(ValueError, match="pos_weight applies to binary"):
        LogisticRegression(pos_weight=2.0).fit(X, y3)
    with pytest.raises(ValueError, match="loss='focal' needs binary"):
        LogisticRegression(loss="focal").fit(X, y3)
    with pytest.raises(ValueError, match="weight the classes with alpha"):
        LogisticRegression(loss="focal", pos_weight=2.0).fit(X, y3 % 2)


def test_negative_sample_weight_is_rejected(noisy):
    X, y = noisy
    with pytest.raises(ValueError, match="sample_weight"):
        LogisticRegression().fit(X, y, sample_weight=-np.ones(len(y)))


def test_no_warnings_on_clean_fit(cancer):
    X, y = cancer
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LogisticRegression().fit(X, y)


def test_lbfgs_keeps_a_long_history_unless_it_would_take_too_much_memory():
    from bcekit.estimators._logistic_solvers import (
        LBFGS_HISTORY,
        LBFGS_HISTORY_BYTES,
        lbfgs_history,
    )

    assert lbfgs_history(101) == LBFGS_HISTORY
    wide = LBFGS_HISTORY_BYTES // (16 * 20)  # room for 20 steps of 2 float64 vectors
    assert lbfgs_history(wide) == 20
    assert lbfgs_history(10**9) == 10  # never below scipy's default
