"""Training-state files: a Trainer resumed from disk continues exactly; damage is refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from safetensors.numpy import load as st_load

from bcekit.io import ModelFileError, load_training_state, save_training_state
from bcekit.io.training_state import FORMAT_VERSION, state_paths
from bcekit.losses import BinaryCrossEntropyWithLogits
from bcekit.nn import mlp
from bcekit.optim import Adam, ReduceLROnPlateau
from bcekit.training import Checkpoint, Trainer
from model_file_support import forge_arrays, rewrite_json


def _data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((150, 5)).astype(np.float32)
    y = (X[:, :1] + 0.5 * rng.standard_normal((150, 1)) > 0).astype(np.float32)
    return X[:110], y[:110], X[110:], y[110:]


def _trainer(seed, callbacks=()):
    model = mlp(5, [7], 1, random_state=seed, dtype=np.float32)
    return Trainer(
        model,
        BinaryCrossEntropyWithLogits(reduction="weighted_mean"),
        Adam(model.parameters(), lr=0.03),
        batch_size=16,
        max_epochs=7,
        random_state=seed,
        early_stopping=True,
        patience=20,
        scheduler=ReduceLROnPlateau(factor=0.5, patience=1),
        callbacks=list(callbacks),
    )


def _same(a, b):
    """Equal values of equal types; arrays with equal dtype, shape and bits."""
    if isinstance(a, np.ndarray):
        return (
            isinstance(b, np.ndarray)
            and (a.dtype, a.shape) == (b.dtype, b.shape)
            and a.tobytes() == b.tobytes()
        )
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, float) and np.isnan(a):
        return isinstance(b, float) and np.isnan(b)
    return type(a) is type(b) and a == b


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A full run, and the files of the state it had after epoch 3."""
    X, y, Xv, yv = _data()
    folder = tmp_path_factory.mktemp("states")

    def save(state):
        if state["epoch"] == 3:
            save_training_state(state, folder / "epoch3")

    full = _trainer(seed=1, callbacks=[Checkpoint(save, best_only=False)])
    history = full.fit(X, y, validation_data=(Xv, yv))
    return full, history, folder / "epoch3"


def test_a_trainer_resumed_from_files_ends_exactly_like_the_full_run(run):
    full, history, saved = run
    X, y, Xv, yv = _data()
    resumed = _trainer(seed=42)  # other weights and seed: the files decide everything
    again = resumed.fit(X, y, validation_data=(Xv, yv), resume_from=load_training_state(saved))
    strip = [{k: v for k, v in r.items() if k != "time"} for r in history.to_dicts()]
    assert [{k: v for k, v in r.items() if k != "time"} for r in again.to_dicts()] == strip
    assert _same(resumed.state()["model"], full.state()["model"])
    assert _same(resumed.state()["optimizer"], full.state()["optimizer"])


def test_the_round_trip_is_exact(run, tmp_path):
    full, _, _ = run
    state = full.state()
    weights, meta = save_training_state(state, tmp_path / "new")
    assert (weights, meta) == state_paths(tmp_path / "new")
    assert _same(load_training_state(tmp_path / "new"), state)
    names = set(json.loads(meta.read_text())["arrays"])
    assert {"model/0.weight", "best_model/0.weight", "optimizer/0.exp_avg"} <= names


def test_float32_arrays_stay_float32(run):
    _, _, saved = run
    state = load_training_state(saved)
    assert state["model"]["0.weight"].dtype == np.float32
    assert state["epoch"] == 3 and len(state["history"]) == 3


leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    hnp.arrays(
        st.sampled_from([np.float32, np.float64, np.int64, np.uint8, np.bool_]),
        hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3),
    ),
)
keys = st.text(min_size=1, max_size=4)
nested = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(keys, inner, max_size=3),
        st.dictionaries(st.integers(0, 9), inner, max_size=2),
    ),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None)
@given(state=st.dictionaries(keys, nested, max_size=4))
def test_any_nesting_of_json_values_and_arrays_survives(tmp_path_factory, state):
    folder = tmp_path_factory.mktemp("h") / "state"
    save_training_state(state, folder)
    assert _same(load_training_state(folder), state)


def test_arrays_that_cannot_be_stored_are_refused(tmp_path):
    with pytest.raises(TypeError, match="numeric or bool"):
        save_training_state({"x": np.array(["a"], dtype=object)}, tmp_path / "s")
    with pytest.raises(TypeError, match="dict with str keys"):
        save_training_state([("epoch", 1)], tmp_path / "s")
    with pytest.raises(TypeError, match="set"):
        save_training_state({"x": {1, 2}}, tmp_path / "s")
    assert not (tmp_path / "s").exists()


# --- damage ----------------------------------------------------------------------------------


@pytest.fixture
def copy(run, tmp_path):
    import shutil

    target = tmp_path / "state"
    shutil.copytree(run[2], target)
    return state_paths(target)


def test_a_flipped_byte_is_detected(copy):
    weights, _ = copy
    raw = bytearray(weights.read_bytes())
    raw[-5] ^= 0x01
    weights.write_bytes(bytes(raw))
    with pytest.raises(ModelFileError, match="does not match the SHA-256"):
        load_training_state(weights.parent)


def test_truncated_files_are_detected(copy):
    weights, meta = copy
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ModelFileError, match="SHA-256"):
        load_training_state(weights.parent)
    meta.write_text(meta.read_text()[:50])
    with pytest.raises(ModelFileError, match="not valid JSON"):
        load_training_state(weights.parent)


def test_foreign_and_newer_files_are_refused(copy):
    weights, meta = copy
    rewrite_json(meta, lambda d: d.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(ModelFileError, match="upgrade bcekit"):
        load_training_state(weights.parent)
    rewrite_json(meta, lambda d: d.update(format="bcekit-model"))
    with pytest.raises(ModelFileError, match="not a bcekit training-state file"):
        load_training_state(weights.parent)
    rewrite_json(meta, lambda d: d.update(format="bcekit-training-state", format_version=1))
    rewrite_json(meta, lambda d: d.pop("sha256"))
    with pytest.raises(ModelFileError, match="lacks the keys"):
        load_training_state(weights.parent)


def _forge_with_extra(weights, meta, change=lambda d: None):
    forge_arrays(weights, meta, {**st_load(weights.read_bytes()), "extra": np.zeros(2)}, change)


def test_arrays_the_metadata_does_not_list_are_refused(copy):
    weights, meta = copy
    _forge_with_extra(weights, meta, change=lambda d: d["arrays"].pop("extra"))
    with pytest.raises(ModelFileError, match="the metadata lists"):
        load_training_state(weights.parent)


def test_an_array_used_by_nothing_or_twice_is_refused(copy):
    weights, meta = copy
    _forge_with_extra(weights, meta)
    with pytest.raises(ModelFileError, match=r"unused: \['extra'\]"):
        load_training_state(weights.parent)

    def twice(document):
        document["state"]["model"]["0.bias"] = {"$tensor": "model/0.weight"}

    forge_arrays(weights, meta, st_load(weights.read_bytes()), change=twice)
    with pytest.raises(ModelFileError, match="names no unused array"):
        load_training_state(weights.parent)


def test_missing_files(copy):
    weights, meta = copy
    weights.unlink()
    with pytest.raises(FileNotFoundError):
        load_training_state(weights.parent)
    meta.unlink()
    with pytest.raises(FileNotFoundError):
        load_training_state(weights.parent)
