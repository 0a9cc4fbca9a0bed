"""How training ends: early stopping, divergence and interruption, and the weights left behind."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

from bcekit.nn import Dense, Layer, mlp
from bcekit.optim import Adam, StepLR
from bcekit.training import Callback, TrainingDivergedError, TrainingInterrupted
from training_support import bce, bce_trainer


def overfitting_data():
    """Separable training data, and validation data with 20% of labels flipped.

    Training pushes the weight up without bound; the validation loss first falls, then rises
    once the model is more confident than the noisy labels allow.
    """
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 1))
    y = (X > 0).astype(np.float64)
    Xv = rng.standard_normal((200, 1))
    yv = (Xv > 0).astype(np.float64)
    flip = rng.random(200) < 0.2
    yv[flip] = 1 - yv[flip]
    return X, y, Xv, yv


class Snapshots(Callback):
    """The model's weights at the end of every epoch."""

    def __init__(self):
        self.at = {}

    def on_epoch_end(self, trainer, epoch, logs):
        self.at[epoch] = trainer.model.state_dict()


def assert_weights_equal(model, state):
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, state[key])


def all_finite(model):
    return all(np.isfinite(p.value).all() for p in model.parameters())


def zero_weight_unit():
    model = Dense(1, 1, random_state=0)
    model.weight.value[:] = 0.0
    return model


def early_stopping_trainer(model, **kwargs):
    """Full-batch SGD at rate 0.5 for up to 200 epochs, stopped on the validation loss."""
    return bce_trainer(model, 0.5, batch_size=None, max_epochs=200, early_stopping=True, **kwargs)


# --- early stopping --------------------------------------------------------------------------


def test_early_stopping_restores_the_best_epoch():
    X, y, Xv, yv = overfitting_data()
    model = zero_weight_unit()
    snaps = Snapshots()
    trainer = early_stopping_trainer(model, patience=5, tol=0.0, callbacks=[snaps])
    history = trainer.fit(X, y, validation_data=(Xv, yv))
    best = history.best_epoch
    val = history.val_loss
    assert 1 < best < len(history)
    assert val[best - 1] == min(val)
    assert all(a < b for a, b in zip(val[best - 1 :], val[best:], strict=False))  # rising after
    assert len(history) == best + 5 and history.stopped_early
    assert_weights_equal(model, snaps.at[best])
    assert not np.array_equal(snaps.at[best]["weight"], snaps.at[len(history)]["weight"])


def test_without_restore_best_the_last_weights_stay():
    X, y, Xv, yv = overfitting_data()
    model = Dense(1, 1, random_state=0)
    snaps = Snapshots()
    trainer = early_stopping_trainer(
        model, patience=5, tol=0.0, restore_best=False, callbacks=[snaps]
    )
    history = trainer.fit(X, y, validation_data=(Xv, yv))
    assert_weights_equal(model, snaps.at[len(history)])


def test_tol_counts_small_improvements_as_none():
    X, y, Xv, yv = overfitting_data()
    model = zero_weight_unit()
    strict = early_stopping_trainer(model, patience=3, tol=0.0)
    n_strict = len(strict.fit(X, y, validation_data=(Xv, yv)))
    model.weight.value[:] = 0.0
    model.bias.value[:] = 0.0
    loose = early_stopping_trainer(model, patience=3, tol=1e-2)
    assert len(loose.fit(X, y, validation_data=(Xv, yv))) < n_strict


# --- divergence ----------------------------------------------------------------------------


def test_a_huge_learning_rate_raises_and_leaves_the_starting_weights():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((64, 4)), (rng.random((64, 1)) < 0.5).astype(np.float64)
    model = mlp(4, [8], 1, random_state=0)
    start = model.state_dict()
    trainer = bce_trainer(model, 1e300, batch_size=16, max_epochs=5, restore_best=False)
    with pytest.raises(TrainingDivergedError, match="Lower the learning rate") as info:
        trainer.fit(X, y)
    err = info.value
    assert err.epoch == 1 and err.batch >= 1
    assert err.quantity in {"model output", "loss", "gradient", "weights"}
    assert "clip gradients" in str(err) and f"batch {err.batch}" in str(err)
    assert all_finite(model)
    assert_weights_equal(model, start)


def test_divergence_later_in_training_restores_the_best_epoch():
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((64, 4)), (rng.random((64, 1)) < 0.5).astype(np.float64)
    model = mlp(4, [8], 1, random_state=0)
    snaps = Snapshots()
    # three sane epochs, then the rate jumps by 1e250
    jump = StepLR(3, gamma=1e250)
    trainer = bce_trainer(
        model, 0.01, Adam, batch_size=16, max_epochs=10, scheduler=jump, callbacks=[snaps]
    )
    with pytest.raises(TrainingDivergedError) as info:
        trainer.fit(X, y, validation_data=(X[:20], y[:20]))
    assert info.value.epoch == 4
    assert info.value.last_loss is not None and np.isfinite(info.value.last_loss)
    history = info.value.history
    assert len(history) == 3
    assert all_finite(model)
    assert_weights_equal(model, snaps.at[history.best_epoch])
    assert f"best weights (epoch {history.best_epoch})" in str(info.value)


class NaNAfter(Layer):
    """A Dense layer whose output turns to NaN after ``n`` training forward passes."""

    def __init__(self, n):
        super().__init__()
        self.inner = Dense(3, 1, random_state=0)
        self.params = self.inner.params
        self.n, self.calls = n, 0

    def forward(self, x):
        out = self.inner.forward(x)
        if self.training:
            self.calls += 1
            if self.calls > self.n:
                out = out * np.nan
        return out

    def backward(self, grad):
        return self.inner.backward(grad)


class FaultyLoss:
    """BCE whose value or gradient becomes NaN on the ``n``-th call."""

    reduction = "weighted_mean"

    def __init__(self, n, what):
        self.inner, self.n, self.what, self.calls = bce(), n, what, 0

    def __call__(self, *args, **kwargs):
        return self.inner(*args, **kwargs)

    def value_and_grad(self, *args, **kwargs):
        self.calls += 1
        value, grad = self.inner.value_and_grad(*args, **kwargs)
        if self.calls == self.n:
            if self.what == "loss":
                value = float("inf")
            else:
                grad = grad.copy()
                grad[0] = np.nan
        return value, grad


@pytest.mark.parametrize(
    ("model_factory", "loss_factory", "quantity"),
    [
        (lambda: NaNAfter(7), bce, "model output"),
        (lambda: Dense(3, 1, random_state=0), lambda: FaultyLoss(8, "loss"), "loss"),
        (lambda: Dense(3, 1, random_state=0), lambda: FaultyLoss(8, "grad"), "gradient"),
    ],
)
@pytest.mark.parametrize("clip_norm", [None, 1.0])
def test_non_finite_values_are_caught_where_they_appear(
    model_factory, loss_factory, quantity, clip_norm
):
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((40, 3)), (rng.random((40, 1)) < 0.5).astype(np.float64)
    model, loss, snaps = model_factory(), loss_factory(), Snapshots()
    trainer = bce_trainer(
        model, loss=loss, batch_size=10, max_epochs=5, clip_norm=clip_norm, callbacks=[snaps]
    )
    with pytest.raises(TrainingDivergedError) as info:
        trainer.fit(X, y)
    # four batches per epoch: the 7th or 8th batch is in epoch 2
    assert (info.value.epoch, info.value.quantity) == (2, quantity)
    assert all_finite(model)
    assert_weights_equal(model, snaps.at[1])  # the best (and only) completed epoch


# --- interruption --------------------------------------------------------------------------


def test_keyboard_interrupt_from_a_callback_returns_with_the_best_weights():
    X, y, Xv, yv = overfitting_data()
    snaps = Snapshots()

    class CtrlC(Callback):
        def on_batch_end(self, trainer, batch, logs):
            if trainer.epoch == 30 and batch == 2:  # in the middle of epoch 31
                raise KeyboardInterrupt

    model = zero_weight_unit()
    trainer = bce_trainer(model, 0.5, batch_size=50, max_epochs=100, callbacks=[snaps, CtrlC()])
    with pytest.warns(TrainingInterrupted, match="30 completed epochs"):
        history = trainer.fit(X, y, validation_data=(Xv, yv))
    assert history.interrupted and len(history) == 30
    assert history.best_epoch < 30
    assert all_finite(model)
    assert_weights_equal(model, snaps.at[history.best_epoch])
    assert model.training is False


def test_ctrl_c_stops_after_the_current_batch():
    X, y, _, _ = overfitting_data()
    seen = []

    class SendSigint(Callback):
        def on_batch_end(self, trainer, batch, logs):
            seen.append((trainer.epoch + 1, batch))
            if trainer.epoch == 1 and batch == 1:
                os.kill(os.getpid(), signal.SIGINT)

    model = Dense(1, 1, random_state=0)
    trainer = bce_trainer(
        model, 0.5, batch_size=50, max_epochs=10, restore_best=False, callbacks=[SendSigint()]
    )
    with pytest.warns(TrainingInterrupted, match="its current weights"):
        history = trainer.fit(X, y)
    assert seen[-1] == (2, 1) and len(seen) == 5  # 4 batches of epoch 1, then one
    assert history.interrupted and len(history) == 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
