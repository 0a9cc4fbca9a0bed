"""The training loop: descent, weights, schedules, clipping, callbacks and input checks."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import expit
from sklearn.metrics import log_loss

from bcekit.nn import Dense, Layer, Parameter, mlp
from bcekit.optim import SGD, Adam, StepLR, WarmupCosineLR
from bcekit.training import Callback, StopTraining, Trainer
from training_support import bce, bce_trainer


def logistic_data(n=120, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    logits = X @ np.arange(1.0, d + 1) - 0.5
    y = (rng.random(n) < expit(logits)).astype(np.float64).reshape(-1, 1)
    return X, y


def linear_model(d=3, seed=0):
    return Dense(d, 1, random_state=seed)


def weights(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


class BatchSpy(Callback):
    """Keeps ``look(trainer, logs)`` after every batch in ``seen``."""

    def __init__(self, look):
        self.look, self.seen = look, []

    def on_batch_end(self, trainer, batch, logs):
        self.seen.append(self.look(trainer, logs))


def test_full_batch_gd_lowers_the_loss_every_epoch_and_starts_at_the_initial_loss():
    X, y = logistic_data()
    model = linear_model()
    w0, b0 = model.weight.value.copy(), model.bias.value.copy()
    trainer = bce_trainer(model, 0.1, batch_size=None, max_epochs=40)
    history = trainer.fit(X, y)
    losses = history.train_loss
    assert len(losses) == 40
    assert all(b < a for a, b in itertools.pairwise(losses))
    # full batch: the epoch's loss is the loss at the weights before its single step
    assert losses[0] == pytest.approx(log_loss(y.ravel(), expit(X @ w0 + b0).ravel()), rel=1e-12)


def test_full_batch_gd_matches_the_update_written_out():
    X, y = logistic_data()
    model = linear_model()
    w, b = model.weight.value.copy(), model.bias.value.copy()
    lr = 0.3
    bce_trainer(model, lr, batch_size=None, max_epochs=5).fit(X, y)
    for _ in range(5):
        r = (expit(X @ w + b) - y) / len(X)  # ∂L/∂z of the mean BCE
        w, b = w - lr * X.T @ r, b - lr * r.sum(0)
    np.testing.assert_allclose(model.weight.value, w, rtol=1e-12)
    np.testing.assert_allclose(model.bias.value, b, rtol=1e-12)


def test_epoch_losses_are_the_sample_weighted_means_over_all_batches():
    X, y = logistic_data(n=103)
    Xv, yv = logistic_data(n=37, seed=5)
    rng = np.random.default_rng(3)
    w, wv = rng.uniform(0.1, 3.0, len(X)), rng.uniform(0.1, 3.0, len(Xv))
    model = linear_model()
    # lr = 0: the weights never move, so every batch sees the same model
    trainer = bce_trainer(model, 0.0, batch_size=10, max_epochs=2)
    history = trainer.fit(X, y, sample_weight=w, validation_data=(Xv, yv, wv))

    def proba(A):
        return expit(A @ model.weight.value + model.bias.value).ravel()

    expected = log_loss(y.ravel(), proba(X), sample_weight=w)
    expected_val = log_loss(yv.ravel(), proba(Xv), sample_weight=wv)
    assert history.train_loss == pytest.approx([expected] * 2, rel=1e-12)
    assert history.val_loss == pytest.approx([expected_val] * 2, rel=1e-12)


def test_sample_weight_two_equals_duplicating_rows_in_full_batch_gd():
    X, y = logistic_data(n=60)
    w = np.ones(len(X))
    w[::3] = 2.0
    twice = np.repeat(np.arange(len(X)), w.astype(int))
    a, b = linear_model(), linear_model()
    bce_trainer(a, 0.5, batch_size=None, max_epochs=20).fit(X, y, sample_weight=w)
    bce_trainer(b, 0.5, batch_size=None, max_epochs=20).fit(X[twice], y[twice])
    np.testing.assert_allclose(a.weight.value, b.weight.value, rtol=1e-12)
    np.testing.assert_allclose(a.bias.value, b.bias.value, rtol=1e-12)


def test_a_mask_is_the_same_as_leaving_the_rows_out():
    X, y = logistic_data(n=50)
    keep = np.arange(len(X)) % 4 != 0
    a, b = linear_model(), linear_model()
    bce_trainer(a, 0.5, batch_size=None, max_epochs=10).fit(X, y, mask=keep.reshape(-1, 1))
    bce_trainer(b, 0.5, batch_size=None, max_epochs=10).fit(X[keep], y[keep])
    np.testing.assert_allclose(a.weight.value, b.weight.value, rtol=1e-12)


def test_same_seed_same_weights_different_seed_different_weights():
    X, y = logistic_data(n=200, d=4)

    def train(seed):
        model = mlp(4, [8], 1, random_state=0)
        bce_trainer(model, 0.01, Adam, batch_size=16, max_epochs=3, random_state=seed).fit(X, y)
        return weights(model)

    first, again, other = train(7), train(7), train(8)
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
    assert any(not np.array_equal(first[k], other[k]) for k in first)


def test_no_shuffle_visits_rows_in_order():
    X, y = logistic_data(n=30)
    spy = BatchSpy(lambda trainer, logs: logs["size"])
    model = linear_model()
    bce_trainer(model, batch_size=8, max_epochs=1, shuffle=False, callbacks=[spy]).fit(X, y)
    assert spy.seen == [8, 8, 8, 6]
    # without shuffling the result does not depend on the seed
    a, b = linear_model(), linear_model()
    for m, seed in ((a, 1), (b, 2)):
        bce_trainer(m, batch_size=8, max_epochs=2, shuffle=False, random_state=seed).fit(X, y)
    np.testing.assert_array_equal(a.weight.value, b.weight.value)


def test_early_stopping_on_training_loss_counts_patience_epochs():
    X, y = logistic_data()
    model = linear_model()
    # lr = 0 and a fixed order: every epoch has exactly the first epoch's loss
    trainer = bce_trainer(model, 0.0, max_epochs=50, shuffle=False, early_stopping=True, patience=4)
    history = trainer.fit(X, y)
    assert len(history) == 1 + 4
    assert history.stopped_early and history.best_epoch == 1


def test_step_schedule_sets_the_rate_per_epoch():
    X, y = logistic_data()
    model = linear_model()
    trainer = bce_trainer(model, 0.4, max_epochs=5, scheduler=StepLR(2, gamma=0.5))
    history = trainer.fit(X, y)
    assert history.lr == pytest.approx([0.4, 0.4, 0.2, 0.2, 0.1])


def test_batch_schedule_sets_the_rate_before_each_step():
    X, y = logistic_data(n=40)
    spy = BatchSpy(lambda trainer, logs: trainer.optimizer.lr)
    model = linear_model()
    schedule = WarmupCosineLR(3, 10, base_lr=1.0)
    trainer = bce_trainer(
        model, 0.5, batch_size=10, max_epochs=3, scheduler=schedule, callbacks=[spy]
    )
    trainer.fit(X, y)
    assert spy.seen == pytest.approx([schedule.lr_at(s) for s in range(12)])


def test_clip_norm_bounds_every_step():
    X, y = logistic_data()
    X = X * 100  # large gradients
    model = linear_model()
    before = np.concatenate([model.weight.value.ravel(), model.bias.value])
    lr, clip = 0.1, 0.05
    trainer = bce_trainer(model, lr, batch_size=None, max_epochs=1, clip_norm=clip)
    trainer.fit(X, y)
    after = np.concatenate([model.weight.value.ravel(), model.bias.value])
    assert np.linalg.norm(after - before) == pytest.approx(lr * clip, rel=1e-10)


def test_callbacks_see_every_hook_in_order_and_can_add_metrics():
    X, y = logistic_data(n=20)
    events = []

    class Recorder(Callback):
        def on_train_begin(self, trainer):
            events.append("train_begin")

        def on_epoch_begin(self, trainer, epoch):
            events.append(f"epoch_begin {epoch}")

        def on_batch_end(self, trainer, batch, logs):
            events.append(f"batch {batch}")

        def on_epoch_end(self, trainer, epoch, logs):
            events.append(f"epoch_end {epoch}")
            logs["accuracy"] = np.float64(0.5 + epoch / 10)

        def on_train_end(self, trainer, history):
            events.append("train_end")

    model = linear_model()
    history = bce_trainer(model, batch_size=10, max_epochs=2, callbacks=[Recorder()]).fit(X, y)
    assert events == [
        "train_begin",
        "epoch_begin 1",
        "batch 1",
        "batch 2",
        "epoch_end 1",
        "epoch_begin 2",
        "batch 1",
        "batch 2",
        "epoch_end 2",
        "train_end",
    ]
    assert history["accuracy"] == pytest.approx([0.6, 0.7])
    assert type(history.to_dicts()[0]["accuracy"]) is float


def test_batch_callbacks_run_under_the_callers_floating_point_error_state():
    """The steps ignore floating-point warnings (non-finite results are checked explicitly);
    a callback's own arithmetic is not hidden by that."""
    X, y = logistic_data(n=20)
    seen = []

    class Divider(Callback):
        def on_batch_end(self, trainer, batch, logs):
            seen.append(np.geterr()["divide"])
            np.float64(1.0) / np.float64(0.0)

    with np.errstate(divide="raise"), pytest.raises(FloatingPointError):
        bce_trainer(linear_model(), batch_size=10, max_epochs=1, callbacks=[Divider()]).fit(X, y)
    assert seen == ["raise"]
    with np.errstate(divide="ignore"):
        bce_trainer(linear_model(), batch_size=10, max_epochs=1, callbacks=[Divider()]).fit(X, y)
    assert seen == ["raise", "ignore", "ignore"]


def test_a_callback_can_stop_training():
    X, y = logistic_data(n=20)

    class StopAtThree(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            return epoch == 3

    class StopMidEpoch(Callback):
        def on_batch_end(self, trainer, batch, logs):
            if trainer.epoch == 1 and batch == 2:
                raise StopTraining

    model = linear_model()
    history = bce_trainer(model, max_epochs=10, callbacks=[StopAtThree()]).fit(X, y)
    assert len(history) == 3 and history.stopped_early
    history = bce_trainer(model, batch_size=5, max_epochs=10, callbacks=[StopMidEpoch()]).fit(X, y)
    assert len(history) == 1 and history.stopped_early


def test_model_trains_in_train_mode_and_ends_in_eval_mode():
    X, y = logistic_data(n=20)
    spy = BatchSpy(lambda trainer, logs: trainer.model.training)
    model = mlp(3, [4], 1, dropout=0.2, random_state=0)
    Trainer(
        model, bce(), Adam(model.parameters()), batch_size=10, max_epochs=2, callbacks=[spy]
    ).fit(X, y, validation_data=(X, y))
    assert spy.seen == [True] * 4
    assert model.training is False


def test_float32_model_trains_in_float32():
    X, y = logistic_data()
    model = mlp(3, [5], 1, dtype=np.float32, random_state=0)
    trainer = bce_trainer(model, 0.05, Adam, batch_size=32, max_epochs=5)
    history = trainer.fit(X.astype(np.float32), y.astype(np.float32))
    assert all(p.value.dtype == np.float32 for p in model.parameters())
    assert history.train_loss[-1] < history.train_loss[0]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"batch_size": 0}, ValueError, "batch_size must be a positive integer; got 0"),
        ({"max_epochs": 0}, ValueError, "max_epochs"),
        ({"patience": 0}, ValueError, "patience"),
        ({"tol": -1.0}, ValueError, "tol"),
        ({"clip_norm": 0.0}, ValueError, "clip_norm"),
        ({"random_state": -3}, ValueError, "random_state must be >= 0"),
        ({"random_state": "seed"}, TypeError, "random_state must be None"),
        ({"callbacks": [print]}, TypeError, r"callbacks\[0\] must be a Callback"),
        ({"scheduler": 0.1}, TypeError, "scheduler must be"),
    ],
)
def test_bad_trainer_arguments_are_named(kwargs, error, message):
    model = linear_model()
    with pytest.raises(error, match=message):
        bce_trainer(model, **kwargs)


def test_bad_parts_are_rejected():
    model = linear_model()
    opt = SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"loss\.reduction must be one of"):
        Trainer(model, bce("sum"), opt)
    with pytest.raises(TypeError, match="model must have forward"):
        Trainer(object(), bce(), opt)
    with pytest.raises(TypeError, match="optimizer must have"):
        Trainer(model, bce(), object())


@pytest.mark.parametrize(
    ("fit_kwargs", "error", "message"),
    [
        ({"y": np.zeros((5, 1))}, ValueError, r"y must have one entry per row of X \(120\)"),
        ({"sample_weight": -np.ones(120)}, ValueError, "sample_weight must be finite and >= 0"),
        ({"sample_weight": np.zeros(120)}, ValueError, "sample_weight must not be all zero"),
        ({"sample_weight": np.ones(7)}, ValueError, "sample_weight must have one entry per row"),
        ({"mask": np.ones((120, 1))}, TypeError, "mask must be boolean"),
        ({"validation_data": (np.ones((3, 3)),)}, ValueError, "validation_data must be a tuple"),
        (
            {"validation_data": (np.ones((3, 3)), np.ones((2, 1)))},
            ValueError,
            "validation y must have one entry per row",
        ),
        ({"X": np.full((120, 3), np.nan)}, ValueError, "X must be finite"),
        ({"X": np.array([["a"] * 3] * 120)}, TypeError, "X must hold numbers"),
    ],
)
def test_bad_data_is_named(fit_kwargs, error, message):
    X, y = logistic_data()
    model = linear_model()
    trainer = bce_trainer(model, max_epochs=1)
    args = {"X": X, "y": y, **fit_kwargs}
    with pytest.raises(error, match=message):
        trainer.fit(args.pop("X"), args.pop("y"), **args)


class SparseLinear(Layer):
    """``X W + b`` for a scipy sparse or dense ``X``."""

    def __init__(self, d):
        super().__init__()
        self.params = {
            "weight": Parameter(np.linspace(-0.5, 0.5, d).reshape(d, 1)),
            "bias": Parameter(np.zeros(1)),
        }

    def forward(self, x):
        self._x = x
        return np.asarray(x @ self.params["weight"].value) + self.params["bias"].value

    def backward(self, grad):
        self.params["weight"].grad += np.asarray(self._x.T @ grad)
        self.params["bias"].grad += grad.sum(0)


def test_sparse_rows_are_batched_without_densifying_the_data():
    X, y = logistic_data(n=64, d=5)
    X[np.abs(X) < 0.8] = 0.0
    results = []
    for data in (X, sp.csr_matrix(X)):
        model = SparseLinear(5)
        bce_trainer(model, 0.2, batch_size=16, max_epochs=3, random_state=0).fit(data, y)
        results.append(model.params["weight"].value)
    np.testing.assert_allclose(results[1], results[0], rtol=1e-12)
