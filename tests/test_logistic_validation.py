"""LogisticRegression: validation loss in ``history_``, progress output, callbacks and resume."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.special import log_expit
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from bcekit.estimators import LogisticRegression, MLPClassifier
from bcekit.training import Callback

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _split(loader):
    X, y = loader(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    return train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def cancer():
    return _split(load_breast_cancer)


@pytest.fixture(scope="module")
def wine():
    return _split(load_wine)


def _fit(model, data, **kwargs):
    X, X_val, y, y_val = data
    return model.fit(X, y, X_val=X_val, y_val=y_val, **kwargs)


def _column(model, key):
    return np.array([r[key] for r in model.history_])


def _without_time(records):
    return [{k: v for k, v in r.items() if k != "time"} for r in records]


@pytest.mark.parametrize("solver", ["lbfgs", "gd"])
def test_full_batch_solvers_record_the_validation_loss_per_iteration(cancer, solver):
    X, X_val, y, y_val = cancer
    C = 2.0
    model = _fit(LogisticRegression(C=C, solver=solver, max_iter=40), cancer)
    assert [r["epoch"] for r in model.history_] == list(range(1, model.n_iter_[0] + 1))
    assert all(set(r) == {"epoch", "train_loss", "val_loss"} for r in model.history_)
    # the last record describes the returned model: sklearn's log loss on the validation rows
    proba = model.predict_proba(X_val)
    assert model.history_[-1]["val_loss"] == pytest.approx(log_loss(y_val, proba), rel=1e-10)
    # and the scaled objective by hand: mean BCE + ‖w‖² / (2·C·n)
    z = model.decision_function(X)
    bce = -np.mean(y * log_expit(z) + (1 - y) * log_expit(-z))
    expected = bce + np.sum(model.coef_**2) / (2 * C * len(y))
    assert model.history_[-1]["train_loss"] == pytest.approx(expected, rel=1e-10)
    # the validation rows change nothing but the records
    plain = LogisticRegression(C=C, solver=solver, max_iter=40).fit(X, y)
    np.testing.assert_array_equal(plain.coef_, model.coef_)
    assert [r["train_loss"] for r in plain.history_] == list(_column(model, "train_loss"))


def test_validation_weights_and_multiclass(wine):
    X, X_val, y, y_val = wine
    w_val = np.linspace(0.5, 2.0, len(y_val))
    model = LogisticRegression(max_iter=30).fit(
        X, y, X_val=X_val, y_val=y_val, sample_weight_val=w_val
    )
    expected = log_loss(y_val, model.predict_proba(X_val), sample_weight=w_val)
    assert model.history_[-1]["val_loss"] == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_minibatch_solvers_keep_the_epoch_with_the_lowest_validation_loss(cancer, solver):
    _, X_val, _, y_val = cancer
    model = LogisticRegression(
        solver=solver, learning_rate=0.5, batch_size=16, max_iter=25, random_state=0
    )
    _fit(model, cancer)
    mlp = _fit(MLPClassifier((3,), max_iter=2, random_state=0), cancer)
    shared = {"epoch", "train_loss", "val_loss", "lr", "time"}
    assert set(model.history_[0]) == shared and shared <= set(mlp.history_[0])
    val = _column(model, "val_loss")
    assert val.min() == pytest.approx(log_loss(y_val, model.predict_proba(X_val)), rel=1e-9)


def test_bad_validation_data(cancer):
    X, X_val, y, y_val = cancer
    with pytest.raises(ValueError, match="X_val and y_val must be given together"):
        LogisticRegression().fit(X, y, X_val=X_val)
    with pytest.raises(ValueError, match="X has 3 features"):
        LogisticRegression().fit(X, y, X_val=X_val[:, :3], y_val=y_val)
    with pytest.raises(ValueError, match="not in classes"):
        LogisticRegression().fit(X, y, X_val=X_val, y_val=y_val + 5)


def test_verbose_shows_a_progress_bar_for_minibatch_solvers_only(cancer, capsys):
    X, _, y, _ = cancer
    LogisticRegression(solver="adam", max_iter=2, verbose=2, random_state=0).fit(X, y)
    assert "epoch" in capsys.readouterr().err
    LogisticRegression(solver="lbfgs", verbose=2).fit(X, y)
    LogisticRegression(solver="adam", max_iter=2, random_state=0).fit(X, y)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
    with pytest.raises(ValueError, match="'verbose' parameter"):
        LogisticRegression(verbose=-1).fit(X, y)


class _Epochs(Callback):
    def __init__(self):
        self.seen = []

    def on_epoch_end(self, trainer, epoch, logs):
        self.seen.append((epoch, logs["train_loss"]))


class _InterruptAt(Callback):
    """Raises KeyboardInterrupt (as Ctrl-C does) after batch ``batch`` of epoch ``epoch``."""

    def __init__(self, epoch, batch):
        self.epoch, self.batch = epoch, batch

    def on_batch_end(self, trainer, batch, logs):
        if trainer.epoch + 1 == self.epoch and batch == self.batch:
            raise KeyboardInterrupt


def test_callbacks_see_every_epoch(cancer):
    seen = _Epochs()
    model = _fit(LogisticRegression(solver="adam", max_iter=4, random_state=0), cancer)
    again = _fit(
        LogisticRegression(solver="adam", max_iter=4, random_state=0), cancer, callbacks=[seen]
    )
    assert seen.seen == [(r["epoch"], r["train_loss"]) for r in again.history_]
    np.testing.assert_array_equal(model.coef_, again.coef_)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_resume_after_an_interruption_equals_the_uninterrupted_fit(cancer, solver):
    options = dict(solver=solver, batch_size=32, max_iter=8, n_iter_no_change=50, random_state=3)
    full = _fit(LogisticRegression(**options), cancer)
    cut = LogisticRegression(**options)
    with pytest.warns(UserWarning, match="training interrupted"):
        _fit(cut, cancer, callbacks=[_InterruptAt(epoch=5, batch=2)])
    state = cut.training_state()
    assert state["epoch"] == 4 and len(state["history"]) == 4
    resumed = _fit(LogisticRegression(**{**options, "random_state": 99}), cancer, resume_from=state)
    np.testing.assert_array_equal(resumed.coef_, full.coef_)
    np.testing.assert_array_equal(resumed.intercept_, full.intercept_)
    assert _without_time(resumed.history_) == _without_time(full.history_)
    assert resumed.n_iter_[0] == full.n_iter_[0] == 8


def test_training_state_only_for_minibatch_fits(cancer):
    X, _, y, _ = cancer
    with pytest.raises(ValueError, match="holds no training state"):
        LogisticRegression().training_state()
    model = LogisticRegression(solver="adam", max_iter=2, random_state=0).fit(X, y)
    assert model.training_state()["epoch"] == 2
    model.set_params(solver="lbfgs").fit(X, y)
    with pytest.raises(ValueError, match="holds no training state"):
        model.training_state()
    for kwargs in ({"callbacks": [_Epochs()]}, {"resume_from": {"epoch": 0}}):
        with pytest.raises(ValueError, match="apply to the minibatch solvers"):
            LogisticRegression().fit(X, y, **kwargs)


def test_no_warning_when_interrupted(cancer):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _fit(
            LogisticRegression(solver="adam", max_iter=3, random_state=0),
            cancer,
            callbacks=[_InterruptAt(epoch=2, batch=1)],
        )
    assert not [w for w in caught if issubclass(w.category, ConvergenceWarning)]
