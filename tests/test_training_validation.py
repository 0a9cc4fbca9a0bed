"""The validation pass runs once per epoch and callbacks read its logits; epoch means use the
losses' own denominator; one best epoch for the Trainer, Checkpoint and History."""

from __future__ import annotations

import numpy as np
import pytest

from bcekit.losses import BinaryCrossEntropyWithLogits, SoftmaxCrossEntropy
from bcekit.nn import Dense, Layer
from bcekit.optim import SGD
from bcekit.training import Callback, Checkpoint, History, Trainer


class CountingModel(Layer):
    """A Dense layer that counts the rows it sees in eval mode and can reuse its output."""

    def __init__(self, n_in, n_out, *, reuse_output=False):
        super().__init__()
        self.net = Dense(n_in, n_out, random_state=0)
        self.reuse_output = reuse_output
        self.eval_rows = 0
        self._out = None

    def parameters(self):
        return self.net.parameters()

    def state_dict(self):
        return self.net.state_dict()

    def load_state_dict(self, state):
        self.net.load_state_dict(state)

    def forward(self, x):
        if not self.training:
            self.eval_rows += len(x)
        z = self.net.forward(x)
        if not self.reuse_output:
            return z
        if self._out is None or self._out.shape != z.shape:
            self._out = np.empty_like(z)
        self._out[...] = z  # the same array every call, as a buffer-reusing layer would give
        return self._out

    def backward(self, grad):
        return self.net.backward(grad)


class KeepLogits(Callback):
    """What a metric callback sees: the Trainer's validation logits, and the model's own."""

    def __init__(self, X_val):
        self.X_val = X_val
        self.seen, self.expected = [], []

    def on_epoch_end(self, trainer, epoch, logs):
        self.seen.append(trainer.validation_logits.copy())
        self.expected.append(trainer.model.net.forward(self.X_val))


def data(n=50, n_val=23, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n + n_val, 3))
    y = (X[:, :1] + 0.5 * rng.standard_normal((n + n_val, 1)) > 0).astype(np.float64)
    return X[:n], y[:n], X[n:], y[n:]


def bce():
    return BinaryCrossEntropyWithLogits(reduction="weighted_mean")


@pytest.mark.parametrize("reuse_output", [False, True])
def test_callbacks_get_the_validation_logits_of_the_one_validation_pass(reuse_output):
    X, y, Xv, yv = data()
    model = CountingModel(3, 1, reuse_output=reuse_output)
    keep = KeepLogits(Xv)
    epochs = 4
    trainer = Trainer(
        model, bce(), SGD(model.parameters(), lr=0.5), batch_size=10, max_epochs=epochs,
        random_state=0, callbacks=[keep],
    )  # fmt: skip
    trainer.fit(X, y, validation_data=(Xv, yv))
    assert model.eval_rows == epochs * len(Xv)  # each validation row once per epoch
    for seen, expected in zip(keep.seen, keep.expected, strict=True):
        assert seen.shape == (len(Xv), 1)
        np.testing.assert_allclose(seen, expected, rtol=1e-12, atol=1e-12)
    assert not np.array_equal(keep.seen[0], keep.seen[-1])  # each epoch's own logits


def test_no_validation_logits_without_validation_data():
    X, y, Xv, yv = data()
    model = Dense(3, 1, random_state=0)
    trainer = Trainer(model, bce(), SGD(model.parameters(), lr=0.5), max_epochs=1)
    trainer.fit(X, y)
    assert trainer.validation_logits is None
    trainer.fit_epoch(X, y, validation_data=(Xv, yv))
    assert trainer.validation_logits.shape == (len(Xv), 1)
    trainer.fit_epoch(X, y)  # no validation data this time: nothing left from the last call
    assert trainer.validation_logits is None


class FrozenSGD(SGD):
    """SGD that never moves the weights, so every batch of an epoch sees the same model."""

    def step(self):
        self.step_count += 1


@pytest.mark.parametrize("reduction", ["mean", "weighted_mean"])
@pytest.mark.parametrize("batch_size", [7, 16, None])
def test_epoch_loss_is_the_loss_over_all_rows(reduction, batch_size):
    """With frozen weights the epoch's mean over uneven batches is the loss of the whole set,
    with weights, a mask and several outputs: the batches' denominators are the loss's own."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 3))
    y = (rng.random((40, 2)) > 0.5).astype(np.float64)
    w = rng.random(40) + 0.1
    mask = rng.random((40, 2)) > 0.3
    model = Dense(3, 2, random_state=0)
    loss = BinaryCrossEntropyWithLogits(reduction=reduction)
    trainer = Trainer(
        model, loss, FrozenSGD(model.parameters(), lr=0.1), batch_size=batch_size,
        max_epochs=1, random_state=0,
    )  # fmt: skip
    history = trainer.fit(X, y, sample_weight=w, mask=mask, validation_data=(X, y, w, mask))
    whole = loss(model.forward(X), y, weight=w[:, None], mask=mask)
    assert history.train_loss[0] == pytest.approx(whole, rel=1e-12)
    assert history.val_loss[0] == pytest.approx(whole, rel=1e-12)


def test_epoch_loss_of_softmax_over_class_ids():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((30, 3))
    y = rng.integers(0, 3, size=30)
    w = rng.random(30) + 0.1
    mask = rng.random(30) > 0.2
    model = Dense(3, 3, random_state=0)
    loss = SoftmaxCrossEntropy(reduction="weighted_mean")
    trainer = Trainer(
        model, loss, FrozenSGD(model.parameters(), lr=0.1), batch_size=8, max_epochs=1,
        random_state=0,
    )  # fmt: skip
    history = trainer.fit(X, y, sample_weight=w, mask=mask)
    whole = loss(model.forward(X), y, weight=w, mask=mask)
    assert history.train_loss[0] == pytest.approx(whole, rel=1e-12)


def test_checkpoint_saves_at_the_trainers_best_epochs():
    X, y, Xv, yv = data(seed=5)
    yv[::3] = 1 - yv[::3]  # noisy validation labels: the validation loss goes up and down
    saved = []
    model = Dense(3, 1, random_state=0)
    trainer = Trainer(
        model, bce(), SGD(model.parameters(), lr=2.0), batch_size=5, max_epochs=12,
        random_state=0, callbacks=[Checkpoint(lambda state: saved.append(state["epoch"]))],
    )  # fmt: skip
    history = trainer.fit(X, y, validation_data=(Xv, yv))
    val = history.val_loss
    new_bests = [k + 1 for k in range(len(val)) if val[k] < min(val[:k], default=np.inf)]
    assert saved == new_bests and len(saved) < len(val)
    assert trainer.best_epoch == history.best_epoch == new_bests[-1]
    assert trainer.state()["best_epoch"] == trainer.best_epoch


def test_history_best_epoch_skips_nan_and_takes_the_first_of_ties():
    records = [
        {"epoch": 1, "train_loss": float("nan")},
        {"epoch": 2, "train_loss": 0.5},
        {"epoch": 3, "train_loss": 0.5},
        {"epoch": 4, "train_loss": float("nan")},
    ]
    assert History(records).best_epoch == 2
    assert History(records[:1]).best_epoch is None
