"""MLPClassifier: callbacks, the kept training state, and exact resume from it."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.preprocessing import StandardScaler

from bcekit import io
from bcekit.estimators import MLPClassifier
from bcekit.training import Callback, StopTraining

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning", "ignore::UserWarning"
)


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=300, n_features=6, n_informative=4, random_state=2)
    X = StandardScaler().fit_transform(X)
    return X[:220], y[:220], X[220:], y[220:]


def _model(**params):
    settings = dict(
        hidden_layer_sizes=(8,),
        batch_size=32,
        learning_rate_init=0.01,
        max_iter=9,
        n_iter_no_change=3,
        tol=1e-3,
        random_state=0,
    )
    return MLPClassifier(**{**settings, **params})


def _fit(model, data, **kwargs):
    X, y, X_val, y_val = data
    return model.fit(X, y, X_val=X_val, y_val=y_val, **kwargs)


def _without_time(records):
    return [{k: v for k, v in r.items() if k != "time"} for r in records]


class _InterruptAt(Callback):
    """KeyboardInterrupt, as Ctrl-C gives, after batch ``batch`` of epoch ``epoch``
    (``batch=None``: at the end of the epoch)."""

    def __init__(self, epoch, batch=None):
        self.epoch, self.batch = epoch, batch

    def on_batch_end(self, trainer, batch, logs):
        if self.batch == batch and trainer.epoch + 1 == self.epoch:
            raise KeyboardInterrupt

    def on_epoch_end(self, trainer, epoch, logs):
        if self.batch is None and epoch == self.epoch:
            raise KeyboardInterrupt


class _Logs(Callback):
    def __init__(self):
        self.keys = []

    def on_epoch_end(self, trainer, epoch, logs):
        self.keys.append(sorted(logs))


@pytest.fixture(scope="module")
def uninterrupted(data):
    return _fit(_model(), data)


@pytest.mark.parametrize(
    ("epoch", "batch", "kept"),
    [(4, None, 3), (4, 3, 3), (1, 2, 0)],
    ids=["end-of-epoch", "mid-epoch", "first-epoch"],
)
def test_resumed_fit_ends_like_the_uninterrupted_one(data, uninterrupted, epoch, batch, kept):
    cut = _model()
    with pytest.warns(UserWarning, match="training interrupted"):
        _fit(cut, data, callbacks=[_InterruptAt(epoch, batch)])
    # a KeyboardInterrupt from a callback skips the rest of that epoch's hooks, so the state
    # kept is the one before the epoch it came from, which the resumed fit runs again
    state = cut.training_state()
    assert state["epoch"] == kept
    resumed = _fit(_model(random_state=123), data, resume_from=state)
    assert _without_time(resumed.history_) == _without_time(uninterrupted.history_)
    weights = resumed.coefs_ + resumed.intercepts_
    expected = uninterrupted.coefs_ + uninterrupted.intercepts_
    for mine, theirs in zip(weights, expected, strict=True):
        np.testing.assert_array_equal(mine, theirs)
    assert resumed.n_iter_ == uninterrupted.n_iter_


def test_resume_through_files_and_with_more_epochs(data, tmp_path):
    short = _fit(_model(n_iter_no_change=50, max_iter=3), data)
    io.save_training_state(short.training_state(), tmp_path / "state")
    state = io.load_training_state(tmp_path / "state")
    longer = _fit(_model(n_iter_no_change=50, max_iter=6), data, resume_from=state)
    direct = _fit(_model(n_iter_no_change=50, max_iter=6), data)
    np.testing.assert_array_equal(longer.coefs_[0], direct.coefs_[0])
    assert _without_time(longer.history_) == _without_time(direct.history_)
    assert longer.history_[:3] == short.history_


def test_the_state_is_that_of_the_last_epoch_not_the_restored_best(data, uninterrupted):
    state = uninterrupted.training_state()
    assert state["epoch"] == len(uninterrupted.history_)
    best = uninterrupted.history_.index(min(uninterrupted.history_, key=lambda r: r["val_loss"]))
    assert state["best_epoch"] == best + 1
    np.testing.assert_array_equal(state["best_model"]["0.weight"], uninterrupted.coefs_[0])


def test_callbacks_run_after_the_estimators_own(data):
    logs = _Logs()
    model = _fit(_model(max_iter=2), data, callbacks=[logs])
    assert logs.keys == [sorted(r) for r in model.history_]
    assert "val_accuracy" in logs.keys[0]


def test_a_callback_can_stop_training(data):
    class Stop(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            if epoch == 2:
                raise StopTraining

    model = _fit(_model(), data, callbacks=[Stop()])
    assert model.n_iter_ == 2
    # raising ends that epoch's hooks before the state is kept: the one kept is epoch 1's
    assert model.training_state()["epoch"] == 1


def test_a_state_that_does_not_fit_is_refused(data, uninterrupted):
    with pytest.raises(ValueError):
        _fit(_model(hidden_layer_sizes=(5,)), data, resume_from=uninterrupted.training_state())
    with pytest.raises(ValueError, match="state is missing"):
        _fit(_model(), data, resume_from={"epoch": 1})


def test_loaded_models_keep_no_training_state(uninterrupted, tmp_path):
    io.save(uninterrupted, tmp_path / "model")
    with pytest.raises(ValueError, match="holds no training state"):
        io.load(tmp_path / "model").training_state()
