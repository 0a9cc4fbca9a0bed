"""Sequential, the mlp builder, state dicts and parameter packing."""

from __future__ import annotations

import numpy as np
import pytest

from bcekit.nn import (
    Dense,
    Dropout,
    Flatten,
    Layer,
    ReLU,
    Sequential,
    Tanh,
    gradcheck,
    mlp,
    pack_parameters,
)

RNG = np.random.default_rng(99)


class Recorder(Layer):
    """Identity layer that logs its calls."""

    def __init__(self, name, log):
        super().__init__()
        self.name, self.log = name, log

    def forward(self, x):
        self.log.append(("forward", self.name))
        return x

    def backward(self, grad_out):
        self.log.append(("backward", self.name))
        return grad_out


def test_forward_in_order_and_backward_in_reverse():
    log = []
    model = Sequential([Recorder("a", log), Recorder("b", log), Recorder("c", log)])
    model.backward(model.forward(np.ones((2, 2))))
    assert log == [
        ("forward", "a"),
        ("forward", "b"),
        ("forward", "c"),
        ("backward", "c"),
        ("backward", "b"),
        ("backward", "a"),
    ]


def test_composition_equals_manual_chain():
    d1, d2 = Dense(4, 3, random_state=0), Dense(3, 2, random_state=1)
    model = Sequential([d1, Tanh(), d2])
    x = RNG.standard_normal((5, 4))
    expected = np.tanh(x @ d1.weight.value + d1.bias.value) @ d2.weight.value + d2.bias.value
    np.testing.assert_allclose(model.forward(x), expected)


def test_named_parameters_len_getitem():
    model = Sequential([Dense(4, 3), ReLU(), Dense(3, 1)])
    names = [n for n, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert model.parameters() == [p for _, p in model.named_parameters()]
    assert len(model) == 3
    assert isinstance(model[1], ReLU)
    assert model[0].params["weight"] is model.parameters()[0]
    head = model[:2]
    assert isinstance(head, Sequential) and len(head) == 2 and head[0] is model[0]
    assert list(model) == list(model.layers)


def test_nested_names_and_train_eval_propagate():
    inner = Sequential([Dense(3, 3), Dropout(0.5)])
    model = Sequential([Dense(2, 3), inner])
    assert [n for n, _ in model.named_parameters()] == [
        "0.weight",
        "0.bias",
        "1.0.weight",
        "1.0.bias",
    ]
    model.eval()
    assert not model.training and not inner.training and not inner[1].training
    model.train()
    assert inner[1].training


def test_zero_grad_clears_every_layer():
    model = mlp(3, [4], 1, random_state=0)
    model.forward(RNG.standard_normal((5, 3)))
    model.backward(np.ones((5, 1)))
    assert all(p.grad.any() for p in model.parameters()[2:])
    model.zero_grad()
    assert not any(p.grad.any() for p in model.parameters())


def test_state_dict_round_trip_keeps_arrays_in_place():
    model = mlp(3, [5], 1, random_state=0)
    other = mlp(3, [5], 1, random_state=1)
    x = RNG.standard_normal((4, 3))
    state = model.state_dict()
    assert sorted(state) == ["0.bias", "0.weight", "2.bias", "2.weight"]
    assert all(type(v) is np.ndarray for v in state.values())
    arrays = [p.value for p in other.parameters()]
    other.load_state_dict(state)
    assert [p.value for p in other.parameters()] == arrays  # same objects
    assert all(a is b for a, b in zip(arrays, [p.value for p in other.parameters()], strict=True))
    np.testing.assert_array_equal(other.forward(x), model.forward(x))
    model.parameters()[0].value += 1.0  # the dict is a snapshot, not a view
    assert not np.array_equal(state["0.weight"], model.parameters()[0].value)


def test_load_state_dict_mismatches():
    model = mlp(3, [5], 1, random_state=0)
    state = model.state_dict()
    before = model.state_dict()
    with pytest.raises(ValueError, match=r"missing \['2.bias'\]"):
        model.load_state_dict({k: v for k, v in state.items() if k != "2.bias"})
    with pytest.raises(ValueError, match=r"unexpected \['9.weight'\]"):
        model.load_state_dict({**state, "9.weight": np.zeros(1)})
    bad_shape = {**state, "0.weight": np.zeros((5, 3))}
    with pytest.raises(
        ValueError, match=r"state\['0.weight'\] must have shape \(3, 5\); got \(5, 3\)"
    ):
        model.load_state_dict(bad_shape)
    bad_dtype = {
        **state,
        "0.bias": state["0.bias"].astype(np.float32),
        "0.weight": state["0.weight"] + 1,
    }
    with pytest.raises(ValueError, match=r"state\['0.bias'\] must have dtype float64; got float32"):
        model.load_state_dict(bad_dtype)
    for key, value in before.items():  # nothing was copied by the failed loads
        np.testing.assert_array_equal(model.state_dict()[key], value)
    with pytest.raises(TypeError, match="state must be a mapping"):
        model.load_state_dict([("0.weight", state["0.weight"])])


def test_float32_end_to_end():
    model = mlp(6, [8, 4], 1, activation="tanh", dropout=0.2, dtype=np.float32, random_state=0)
    x = RNG.standard_normal((5, 6))  # float64 in: cast once on entry
    h = model.forward(x)
    assert h.dtype == np.float32
    out = np.asarray(x, dtype=np.float32)
    for layer in model:
        out = layer.forward(out)
        assert out.dtype == np.float32, layer
    g = model.backward(np.ones((5, 1), dtype=np.float32))
    assert g.dtype == np.float32
    assert all(
        p.value.dtype == np.float32 and p.grad.dtype == np.float32 for p in model.parameters()
    )


def test_mixed_dtypes_rejected():
    with pytest.raises(ValueError, match="all parameters must share one dtype"):
        Sequential([Dense(2, 2, dtype=np.float32), Dense(2, 2, dtype=np.float64)])


def test_sequential_rejects_non_layers():
    with pytest.raises(TypeError, match=r"layers\[1\] must be a Layer; got ufunc"):
        Sequential([Dense(2, 2), np.tanh])
    with pytest.raises(TypeError, match="got a single Layer"):
        Sequential(Dense(2, 2))


def test_mlp_structure_and_init():
    model = mlp(10, [32, 16], 3, activation="relu", dropout=0.1, random_state=0)
    kinds = [type(layer).__name__ for layer in model]
    assert kinds == ["Dense", "ReLU", "Dropout", "Dense", "ReLU", "Dropout", "Dense"]
    assert model[-1].out_features == 3
    assert model.dtype == np.float64
    logistic = mlp(4, [], 1, random_state=0)
    assert [type(layer).__name__ for layer in logistic] == ["Dense"]
    a = mlp(4, [8], 1, random_state=5).state_dict()
    b = mlp(4, [8], 1, random_state=5).state_dict()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["0.weight"][:, :1], a["2.weight"][:4])  # layers differ


@pytest.mark.parametrize(
    "activation", ["relu", "leaky_relu", "tanh", "sigmoid", "gelu", "logistic", "identity"]
)
def test_mlp_gradients_for_each_activation(activation):
    model = mlp(3, [5, 4], 2, activation=activation, random_state=1)
    assert gradcheck(model, RNG.standard_normal((6, 3)))


def test_mlp_with_flatten_and_dropout_in_eval():
    model = Sequential([Flatten(), *mlp(6, [5], 1, dropout=0.5, random_state=0).layers]).eval()
    assert gradcheck(model, RNG.standard_normal((4, 2, 3)))


def test_mlp_argument_errors():
    with pytest.raises(ValueError, match="n_in must be a positive integer"):
        mlp(0, [3], 1)
    with pytest.raises(ValueError, match=r"hidden_sizes\[1\] must be a positive integer"):
        mlp(3, [3, -1], 1)
    with pytest.raises(ValueError, match="activation must be one of"):
        mlp(3, [3], 1, activation="swish")
    with pytest.raises(ValueError, match=r"dropout must be a float in \[0, 1\)"):
        mlp(3, [3], 1, dropout=1.0)


def test_input_grad_false_skips_first_input_gradient():
    full = mlp(3, [4], 1, random_state=0)
    lean = mlp(3, [4], 1, random_state=0, input_grad=False)
    x = RNG.standard_normal((5, 3))
    g = RNG.standard_normal((5, 1))
    full.forward(x)
    lean.forward(x)
    assert full.backward(g) is not None
    assert lean.backward(g) is None
    for a, b in zip(full.parameters(), lean.parameters(), strict=True):
        np.testing.assert_array_equal(a.grad, b.grad)


def test_skipped_input_gradient_must_come_from_the_first_layer():
    model = Sequential([Dense(3, 3), Dense(3, 1, input_grad=False)])
    model.forward(np.ones((2, 3)))
    with pytest.raises(RuntimeError, match="only the first layer may skip it"):
        model.backward(np.ones((2, 1)))


def test_pack_parameters_views_and_same_training():
    x = RNG.standard_normal((8, 3))
    g = RNG.standard_normal((8, 1))
    plain = mlp(3, [4, 5], 1, activation="tanh", random_state=0)
    packed = mlp(3, [4, 5], 1, activation="tanh", random_state=0)
    params = packed.parameters()
    flat = pack_parameters(packed)
    assert packed.parameters() == params  # same Parameter objects, new arrays inside
    for (_, a), (_, b) in zip(plain.named_parameters(), packed.named_parameters(), strict=True):
        np.testing.assert_array_equal(a.value, b.value)
        assert np.shares_memory(b.value, flat.value) and np.shares_memory(b.grad, flat.grad)
        assert b.value.ctypes.data % 64 == flat.value.ctypes.data % 64
    for model in (plain, packed):
        model.forward(x)
        model.backward(g)
    for a, b in zip(plain.parameters(), packed.parameters(), strict=True):
        np.testing.assert_array_equal(a.grad, b.grad)
    total = sum(p.value.size for p in params)
    assert np.sum(flat.grad) == pytest.approx(sum(np.sum(p.grad) for p in plain.parameters()))
    assert flat.value.size >= total
    flat.value -= 0.1 * flat.grad  # one update through the flat view reaches every layer
    for a, b in zip(plain.parameters(), packed.parameters(), strict=True):
        np.testing.assert_allclose(b.value, a.value - 0.1 * a.grad)
    assert gradcheck(packed, x)


def test_pack_parameters_errors():
    with pytest.raises(ValueError, match="layer must have parameters to pack"):
        pack_parameters(Sequential([ReLU()]))
