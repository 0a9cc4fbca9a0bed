"""Initialisers: variances against the Glorot and He formulas, shapes, seeding, errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from bcekit.nn import Dense
from bcekit.nn import init as nninit

FAN_IN, FAN_OUT = 800, 600  # 480k weights: sample variance within ~0.3% of the truth


def test_glorot_uniform_variance_and_bounds():
    w = Dense(FAN_IN, FAN_OUT, init="glorot", random_state=0).weight.value
    limit = np.sqrt(6 / (FAN_IN + FAN_OUT))
    assert np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.99 * limit
    assert w.var() == pytest.approx(2 / (FAN_IN + FAN_OUT), rel=0.02)
    assert abs(w.mean()) < 1e-3 * limit
    assert stats.kurtosis(w.ravel(), fisher=False) == pytest.approx(1.8, abs=0.02)  # uniform


def test_he_normal_variance_and_shape_of_distribution():
    w = Dense(FAN_IN, FAN_OUT, init="he", random_state=0).weight.value
    assert w.var() == pytest.approx(2 / FAN_IN, rel=0.02)
    assert stats.kurtosis(w.ravel(), fisher=False) == pytest.approx(3.0, abs=0.05)  # normal


@pytest.mark.parametrize(
    "fn,variance",
    [
        (nninit.glorot_normal, 2 / (FAN_IN + FAN_OUT)),
        (nninit.he_uniform, 2 / FAN_IN),
        (nninit.glorot_uniform, 2 / (FAN_IN + FAN_OUT)),
        (nninit.he_normal, 2 / FAN_IN),
    ],
)
def test_every_initialiser_has_its_variance(fn, variance):
    w = fn((FAN_IN, FAN_OUT), random_state=1)
    assert w.shape == (FAN_IN, FAN_OUT)
    assert w.var() == pytest.approx(variance, rel=0.02)


@pytest.mark.parametrize(
    "hint,variance",
    [
        ("relu", 2 / FAN_IN),
        ("leaky_relu", 2 / FAN_IN),
        ("gelu", 2 / FAN_IN),
        ("tanh", 2 / (FAN_IN + FAN_OUT)),
        ("sigmoid", 2 / (FAN_IN + FAN_OUT)),
        (None, 2 / (FAN_IN + FAN_OUT)),
    ],
)
def test_auto_follows_the_activation(hint, variance):
    w = Dense(FAN_IN, FAN_OUT, activation_hint=hint, random_state=2).weight.value
    assert w.var() == pytest.approx(variance, rel=0.02)


def test_bias_starts_at_zero_and_dtype_is_kept():
    layer = Dense(5, 4, dtype=np.float32, random_state=0)
    assert layer.weight.value.dtype == np.float32 and layer.bias.value.dtype == np.float32
    assert not layer.bias.value.any()


def test_fans_for_non_matrix_shapes():
    w = nninit.he_normal((64, 16, 3, 3), fan_in=16 * 9, fan_out=64 * 9, random_state=0)
    assert w.var() == pytest.approx(2 / (16 * 9), rel=0.03)
    with pytest.raises(ValueError, match="fan_in and fan_out must be given"):
        nninit.he_normal((4, 3, 3))
    with pytest.raises(ValueError, match="fan_in and fan_out must be >= 1"):
        nninit.glorot_uniform((0, 3))


def test_seeding():
    a = Dense(10, 5, random_state=3).weight.value
    b = Dense(10, 5, random_state=3).weight.value
    c = Dense(10, 5, random_state=4).weight.value
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_as_generator_accepts_the_usual_seeds():
    g = np.random.default_rng(0)
    assert nninit.as_generator(g) is g
    assert isinstance(nninit.as_generator(None), np.random.Generator)
    assert nninit.as_generator(5).random() == np.random.default_rng(5).random()
    r1 = nninit.as_generator(np.random.RandomState(7)).random()
    r2 = nninit.as_generator(np.random.RandomState(7)).random()
    assert r1 == r2
    with pytest.raises(TypeError, match="random_state must be None, an int"):
        nninit.as_generator("seed")


def test_resolve_initializer_errors():
    with pytest.raises(ValueError, match="init must be 'auto' or one of"):
        nninit.resolve_initializer("xavier")
    assert nninit.resolve_initializer("auto", "relu") is nninit.he_normal
    assert nninit.resolve_initializer("auto", "identity") is nninit.glorot_uniform
