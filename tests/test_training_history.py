"""History records and their JSON form; the progress bar's visibility."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from bcekit.losses import BinaryCrossEntropyWithLogits
from bcekit.nn import Dense
from bcekit.optim import SGD
from bcekit.training import History, Trainer, progress_visible


def small_fit(verbose=0, epochs=3):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 2))
    y = (X[:, :1] > 0).astype(np.float64)
    model = Dense(2, 1, random_state=0)
    trainer = Trainer(
        model,
        BinaryCrossEntropyWithLogits(reduction="weighted_mean"),
        SGD(model.parameters(), lr=0.5),
        batch_size=16,
        max_epochs=epochs,
        verbose=verbose,
        random_state=0,
    )
    return trainer.fit(X, y, validation_data=(X[:10], y[:10]))


def test_records_have_the_documented_fields():
    history = small_fit()
    assert [r["epoch"] for r in history] == [1, 2, 3]
    for r in history:
        assert set(r) == {"epoch", "train_loss", "val_loss", "lr", "time"}
        assert r["lr"] == 0.5 and r["time"] > 0
    assert history["train_loss"] == history.train_loss
    assert history["missing"] == [None, None, None]


def test_json_round_trip():
    history = small_fit()
    history.records[1]["auc"] = np.float32(0.75)  # a metric a callback added
    text = json.dumps(history.to_dicts())
    again = History.from_dicts(json.loads(text))
    assert again == history
    assert again.to_dicts() == history.to_dicts()
    assert again.best_epoch == history.best_epoch
    assert again.records[1]["auc"] == 0.75


def test_best_epoch_follows_validation_loss_when_there_is_one():
    h = History(
        [
            {"epoch": 1, "train_loss": 0.9, "val_loss": 0.7},
            {"epoch": 2, "train_loss": 0.5, "val_loss": 0.6},
            {"epoch": 3, "train_loss": 0.4, "val_loss": 0.6},
            {"epoch": 4, "train_loss": 0.3, "val_loss": 0.8},
        ]
    )
    assert h.monitor == "val_loss" and h.best_epoch == 2  # first of the tied minima
    h = History([{"epoch": 1, "train_loss": 0.9}, {"epoch": 2, "train_loss": 0.95}])
    assert h.monitor == "train_loss" and h.best_epoch == 1
    assert History().best_epoch is None


def test_from_dicts_rejects_records_without_an_epoch():
    with pytest.raises(ValueError, match=r"records\[0\] must be a dict with an 'epoch' key"):
        History.from_dicts([{"train_loss": 1.0}])


def test_progress_is_hidden_with_verbose_0(capfd):
    small_fit(verbose=0)
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""


def test_progress_is_hidden_with_verbose_1_when_stderr_is_not_a_terminal(capfd):
    small_fit(verbose=1)
    assert capfd.readouterr().err == ""


def test_verbose_2_forces_the_progress_bar(capfd):
    small_fit(verbose=2)
    err = capfd.readouterr().err
    assert "epoch" in err and "batch" in err and "3/3" in err


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_visible_rules():
    assert progress_visible(1, FakeTerminal()) is True
    assert progress_visible(0, FakeTerminal()) is False
    assert progress_visible(1, io.StringIO()) is False
    assert progress_visible(2, io.StringIO()) is True
