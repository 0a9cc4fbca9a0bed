"""Checkpoints, resume and fit_epoch: continuing training gives what one run would have."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bcekit.io import load_training_state, save_training_state
from bcekit.losses import BinaryCrossEntropyWithLogits
from bcekit.nn import mlp
from bcekit.optim import Adam, ReduceLROnPlateau, WarmupCosineLR
from bcekit.training import Callback, Checkpoint, LastEpochState, Trainer


def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 4))
    y = (X[:, :1] - X[:, 1:2] + 0.5 * rng.standard_normal((120, 1)) > 0).astype(np.float64)
    return X[:90], y[:90], X[90:], y[90:]


def bce():
    return BinaryCrossEntropyWithLogits(reduction="weighted_mean")


def through_storage(state):
    """Split a state as a file format would (arrays apart, the rest through JSON) and rejoin."""
    arrays, scalars = {}, {}
    for key, value in state.items():
        if isinstance(value, dict) and any(isinstance(v, np.ndarray) for v in value.values()):
            arrays[key] = {k: np.array(v) for k, v in value.items() if isinstance(v, np.ndarray)}
            scalars[key] = {k: v for k, v in value.items() if not isinstance(v, np.ndarray)}
        else:
            scalars[key] = value
    scalars = json.loads(json.dumps(scalars))
    for key, part in arrays.items():
        scalars[key].update(part)
    return scalars


def make_trainer(schedule, seed, callbacks=(), model_seed=0, patience=50, tol=1e-4, dropout=0.0):
    model = mlp(4, [6], 1, dropout=dropout, random_state=model_seed)
    scheduler = {
        "plateau": lambda: ReduceLROnPlateau(factor=0.5, patience=1),
        "cosine": lambda: WarmupCosineLR(4, 40),
        None: lambda: None,
    }[schedule]()
    return Trainer(
        model,
        bce(),
        Adam(model.parameters(), lr=0.05),
        batch_size=16,
        max_epochs=8,
        random_state=seed,
        early_stopping=True,
        patience=patience,
        tol=tol,
        scheduler=scheduler,
        callbacks=list(callbacks),
    )


def without_time(history):
    return [{k: v for k, v in r.items() if k != "time"} for r in history.to_dicts()]


@pytest.mark.parametrize("schedule", ["plateau", "cosine", None])
def test_resume_continues_exactly_like_the_uninterrupted_run(schedule):
    X, y, Xv, yv = data()
    saved = []
    full = make_trainer(schedule, seed=3, callbacks=[Checkpoint(saved.append, best_only=False)])
    full_history = full.fit(X, y, validation_data=(Xv, yv))
    assert [s["epoch"] for s in saved] == list(range(1, 9))

    # a new process: other initial weights, another seed; the state decides everything
    resumed = make_trainer(schedule, seed=99, model_seed=5)
    history = resumed.fit(X, y, validation_data=(Xv, yv), resume_from=through_storage(saved[2]))
    assert without_time(history) == without_time(full_history)
    for key, value in full.model.state_dict().items():
        np.testing.assert_array_equal(resumed.model.state_dict()[key], value)
    assert resumed.optimizer.step_count == full.optimizer.step_count


def test_resume_through_files_continues_the_dropout_masks(tmp_path):
    X, y, Xv, yv = data()
    saved = []
    full = make_trainer(
        None, seed=3, callbacks=[Checkpoint(saved.append, best_only=False)], dropout=0.3
    )
    full.fit(X, y, validation_data=(Xv, yv))
    assert list(saved[2]["random_streams"]) == ["2"]  # Dense, ReLU, Dropout, Dense
    save_training_state(saved[2], tmp_path / "state")

    resumed = make_trainer(None, seed=99, model_seed=5, dropout=0.3)
    resumed.fit(X, y, validation_data=(Xv, yv), resume_from=load_training_state(tmp_path / "state"))
    for key, value in full.model.state_dict().items():
        np.testing.assert_array_equal(resumed.model.state_dict()[key], value)

    fresh_masks = make_trainer(None, seed=99, model_seed=5, dropout=0.3)
    stale = {**saved[2], "random_streams": {}}  # as a state from before the streams were kept
    fresh_masks.fit(X, y, validation_data=(Xv, yv), resume_from=stale)
    assert any(
        not np.array_equal(fresh_masks.model.state_dict()[k], v)
        for k, v in full.model.state_dict().items()
    )


def test_load_state_rejects_random_streams_that_do_not_fit_the_model():
    trainer = make_trainer(None, seed=0, dropout=0.3)
    state = trainer.state()
    good = state["random_streams"]["2"]
    with pytest.raises(ValueError, match=r"random_streams.*no generator in: \['7'\]"):
        trainer.load_state({**state, "random_streams": {"7": good}})
    with pytest.raises(ValueError, match=r"random_streams'\]\['2'\] is not a state of a PCG64"):
        trainer.load_state({**state, "random_streams": {"2": {"bit_generator": "MT19937"}}})


def test_early_stopping_state_survives_a_resume():
    X, y, Xv, yv = data()
    saved = []
    # with tol = 1 no epoch counts as an improvement: stop after epoch 1 + 2
    full = make_trainer(
        None, seed=1, callbacks=[Checkpoint(saved.append, best_only=False)], patience=2, tol=1.0
    )
    history = full.fit(X, y, validation_data=(Xv, yv))
    assert len(history) == 3 and history.stopped_early
    resumed = make_trainer(None, seed=1, patience=2, tol=1.0)
    again = resumed.fit(X, y, validation_data=(Xv, yv), resume_from=saved[-1])
    assert len(again) == 3 and again.stopped_early
    for key, value in full.model.state_dict().items():
        np.testing.assert_array_equal(resumed.model.state_dict()[key], value)


def test_checkpoint_best_only_saves_on_new_best_validation_loss():
    X, y, Xv, yv = data()
    saved = []
    history = make_trainer(None, seed=2, callbacks=[Checkpoint(saved.append)]).fit(
        X, y, validation_data=(Xv, yv)
    )
    val = history.val_loss
    improved = [k + 1 for k in range(len(val)) if val[k] < min(val[:k], default=np.inf)]
    assert [s["epoch"] for s in saved] == improved
    last = saved[-1]
    assert last["best_epoch"] == history.best_epoch
    for key, value in last["model"].items():
        np.testing.assert_array_equal(last["best_model"][key], value)


def test_state_scalars_are_json_and_arrays_are_plain_ndarrays():
    X, y, Xv, yv = data()
    trainer = make_trainer("plateau", seed=0)
    trainer.fit(X, y, validation_data=(Xv, yv))
    state = trainer.state()
    arrays = [*state["model"].values(), *state["best_model"].values()]
    arrays += [v for v in state["optimizer"].values() if isinstance(v, np.ndarray)]
    assert arrays and all(type(a) is np.ndarray for a in arrays)
    scalars = {k: v for k, v in state.items() if k not in {"model", "best_model", "optimizer"}}
    assert json.loads(json.dumps(scalars)) == scalars


def test_state_without_history_leaves_only_the_records_out():
    X, y, Xv, yv = data()
    trainer = make_trainer("plateau", seed=0)
    trainer.fit(X, y, validation_data=(Xv, yv))
    full, bare = trainer.state(), trainer.state(include_history=False)
    assert len(full["history"]) == 8 and bare["history"] == []
    assert full.keys() == bare.keys()
    assert {
        k: v for k, v in full.items() if k not in {"history", "model", "best_model", "optimizer"}
    } == {k: v for k, v in bare.items() if k not in {"history", "model", "best_model", "optimizer"}}


class _StatesAtEpochEnd(Callback):
    def __init__(self):
        self.states = []

    def on_epoch_end(self, trainer, epoch, logs):
        self.states.append(trainer.state())


def test_last_epoch_state_equals_the_state_at_the_last_epoch_end():
    X, y, Xv, yv = data()
    kept, seen = LastEpochState(), _StatesAtEpochEnd()
    assert kept.state is None
    trainer = make_trainer("cosine", seed=1, callbacks=[seen, kept])
    trainer.fit(X, y, validation_data=(Xv, yv))
    expected, got = seen.states[-1], kept.state
    assert got["epoch"] == expected["epoch"] == 8
    assert [r["epoch"] for r in got["history"]] == list(range(1, 9))
    assert got["history"][:-1] == expected["history"][:-1]
    for key, value in expected["model"].items():
        np.testing.assert_array_equal(got["model"][key], value)


def test_fit_epoch_repeated_equals_one_fit():
    X, y, _, _ = data()
    model_a, model_b = mlp(4, [6], 1, random_state=0), mlp(4, [6], 1, random_state=0)
    a = Trainer(
        model_a,
        bce(),
        Adam(model_a.parameters(), lr=0.05),
        batch_size=16,
        max_epochs=3,
        random_state=4,
    )
    b = Trainer(model_b, bce(), Adam(model_b.parameters(), lr=0.05), batch_size=16, random_state=4)
    a.fit(X, y)
    for _ in range(3):
        history = b.fit_epoch(X, y)
    assert [r["epoch"] for r in history] == [1, 2, 3]
    assert b.optimizer.step_count == a.optimizer.step_count == 3 * 6
    for key, value in model_a.state_dict().items():
        np.testing.assert_array_equal(model_b.state_dict()[key], value)


def test_a_new_fit_starts_a_new_history_from_the_current_weights():
    X, y, _, _ = data()
    trainer = make_trainer(None, seed=0)
    trainer.fit(X, y)
    after_first = trainer.model.state_dict()
    history = trainer.fit(X, y)
    assert history.records[0]["epoch"] == 1
    assert history.train_loss[0] < 0.69  # not from scratch
    assert any(not np.array_equal(v, trainer.model.state_dict()[k]) for k, v in after_first.items())


def test_load_state_rejects_foreign_states():
    X, y, Xv, yv = data()
    trainer = make_trainer("plateau", seed=0)
    trainer.fit(X, y, validation_data=(Xv, yv))
    state = trainer.state()
    with pytest.raises(ValueError, match=r"state is missing \['wait'\]"):
        make_trainer("plateau", seed=0).load_state({k: v for k, v in state.items() if k != "wait"})
    with pytest.raises(ValueError, match="disagree on the schedule"):
        make_trainer(None, seed=0).load_state(state)
    with pytest.raises(TypeError, match="state must be a dict"):
        make_trainer(None, seed=0).load_state([1, 2])


class _DuckModel:
    """The Trainer's model contract and nothing more: no random_streams(), no Layer base."""

    def __init__(self):
        self.net = mlp(4, [6], 1, random_state=0)

    def forward(self, x):
        return self.net.forward(x)

    def backward(self, grad):
        return self.net.backward(grad)

    def parameters(self):
        return self.net.parameters()

    def train(self, mode=True):
        self.net.train(mode)

    def eval(self):
        self.net.eval()

    def state_dict(self):
        return self.net.state_dict()

    def load_state_dict(self, state):
        self.net.load_state_dict(state)


def test_a_duck_typed_model_trains_and_resumes():
    X, y, Xv, yv = data()
    model = _DuckModel()
    trainer = Trainer(model, bce(), Adam(model.parameters(), lr=0.05), batch_size=16, max_epochs=3)
    history = trainer.fit(X, y, validation_data=(Xv, yv))
    assert len(history) == 3 and history.train_loss[-1] < history.train_loss[0]
    state = trainer.state()
    assert state["random_streams"] == {}
    trainer.load_state(state)
    assert trainer.epoch == 3
