"""One integer rule across nn, optim and the Trainer: NumPy integers in, bool and floats out."""

from __future__ import annotations

import re

import numpy as np
import pytest

from bcekit._checks import check_integer
from bcekit.losses import BinaryCrossEntropyWithLogits
from bcekit.nn import Dense
from bcekit.optim import SGD, ReduceLROnPlateau, StepLR
from bcekit.training import Trainer


def _trainer(**kwargs):
    model = Dense(2, 1, random_state=0)
    loss = BinaryCrossEntropyWithLogits(reduction="weighted_mean")
    return Trainer(model, loss, SGD(model.parameters(), lr=0.1), random_state=0, **kwargs)


# name, minimum, a function that passes the value to that argument
ARGUMENTS = [
    ("in_features", 1, lambda v: Dense(v, 1)),
    ("out_features", 1, lambda v: Dense(2, v)),
    ("step_size", 1, lambda v: StepLR(v)),
    ("patience", 0, lambda v: ReduceLROnPlateau(patience=v)),
    ("step", 0, lambda v: StepLR(1, base_lr=0.1).lr_at(v)),
    ("batch_size", 1, lambda v: _trainer(batch_size=v)),
    ("max_epochs", 1, lambda v: _trainer(max_epochs=v)),
    ("verbose", 0, lambda v: _trainer(verbose=v)),
]
IDS = [name for name, _, _ in ARGUMENTS]


def _message(name, minimum, value):
    what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
    return "^" + re.escape(f"{name} must be {what}; got {value!r}") + "$"


@pytest.mark.parametrize(("name", "minimum", "call"), ARGUMENTS, ids=IDS)
@pytest.mark.parametrize("kind", [np.int64, np.int32, np.uint8])
def test_numpy_integers_are_accepted_everywhere(name, minimum, call, kind):
    call(kind(minimum + 2))


@pytest.mark.parametrize(("name", "minimum", "call"), ARGUMENTS, ids=IDS)
@pytest.mark.parametrize("value", [True, False, 2.0, np.float64(3.0), "3"])
def test_bools_floats_and_others_are_refused_with_one_message(name, minimum, call, value):
    with pytest.raises(ValueError, match=_message(name, minimum, value)):
        call(value)


@pytest.mark.parametrize(("name", "minimum", "call"), ARGUMENTS, ids=IDS)
def test_values_below_the_minimum_are_refused_with_one_message(name, minimum, call):
    with pytest.raises(ValueError, match=_message(name, minimum, minimum - 1)):
        call(minimum - 1)
    with pytest.raises(ValueError, match=_message(name, minimum, np.int64(minimum - 1))):
        call(np.int64(minimum - 1))


def test_numpy_integers_come_back_as_python_ints():
    value = check_integer(np.int64(5), "n", minimum=1)
    assert value == 5 and type(value) is int
    assert type(Dense(np.int64(3), 1).in_features) is int
    assert type(StepLR(np.int64(2)).step_size) is int
    assert type(_trainer(batch_size=np.int64(4)).batch_size) is int


def test_numpy_integer_arguments_train_as_python_ints_do():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((30, 2))
    y = (X[:, :1] > 0).astype(np.float64)
    plain = _trainer(batch_size=8, max_epochs=3).fit(X, y)
    numpy = _trainer(batch_size=np.int64(8), max_epochs=np.int32(3)).fit(X, y)
    assert [r["train_loss"] for r in numpy] == [r["train_loss"] for r in plain]


def test_saved_state_counters_follow_the_same_rule():
    trainer = _trainer(max_epochs=2)
    rng = np.random.default_rng(2)
    X = rng.standard_normal((20, 2))
    y = (X[:, :1] > 0).astype(np.float64)
    trainer.fit(X, y)
    state = trainer.state()
    trainer.load_state({**state, "epoch": np.int64(state["epoch"])})
    assert trainer.epoch == state["epoch"]
    with pytest.raises(ValueError, match=_message("state['epoch']", 0, True)):
        trainer.load_state({**state, "epoch": True})
