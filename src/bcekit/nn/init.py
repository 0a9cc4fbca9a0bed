"""Weight initialisers, and the rule that picks one from the activation that follows.

Glorot (Xavier) keeps the variance of activations and gradients roughly constant through
layers with symmetric, unit-slope activations (tanh, sigmoid, linear); He (Kaiming) doubles
it to make up for the half of the inputs that ReLU-like units zero out.

==================  ============================  =====================
initialiser          distribution                  variance
==================  ============================  =====================
``glorot_uniform``   U(−a, a), a = √(6/(fi+fo))     2 / (fan_in + fan_out)
``glorot_normal``    N(0, σ²)                       2 / (fan_in + fan_out)
``he_uniform``       U(−a, a), a = √(6/fi)          2 / fan_in
``he_normal``        N(0, σ²)                       2 / fan_in
==================  ============================  =====================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

#: Activations after which ``init="auto"`` chooses He initialisation.
RELU_FAMILY = frozenset({"relu", "leaky_relu", "gelu"})
#: Activations after which ``init="auto"`` chooses Glorot initialisation.
GLOROT_FAMILY = frozenset({"tanh", "sigmoid", "logistic", "linear", "identity"})


def as_generator(random_state: Any = None) -> np.random.Generator:
    """Turn ``None``, an int seed, a ``Generator`` or a legacy ``RandomState`` into a Generator.

    A ``RandomState`` is consumed for one seed, so scikit-learn's ``check_random_state``
    objects give reproducible generators.
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**31 - 1))
    if random_state is None or isinstance(random_state, int | np.integer):
        return np.random.default_rng(random_state)
    raise TypeError(
        "random_state must be None, an int, a numpy Generator or RandomState; "
        f"got {type(random_state).__name__}"
    )


def _fans(shape: tuple[int, ...], fan_in: int | None, fan_out: int | None) -> tuple[int, int]:
    if fan_in is None or fan_out is None:
        if len(shape) != 2:
            raise ValueError(
                f"fan_in and fan_out must be given for a weight of shape {shape}; "
                "they default to (rows, columns) only for 2-D weights"
            )
        fan_in = shape[0] if fan_in is None else fan_in
        fan_out = shape[1] if fan_out is None else fan_out
    if fan_in < 1 or fan_out < 1:
        raise ValueError(f"fan_in and fan_out must be >= 1; got {fan_in} and {fan_out}")
    return fan_in, fan_out


def _uniform(shape, limit, random_state, dtype) -> np.ndarray:
    return as_generator(random_state).uniform(-limit, limit, size=shape).astype(dtype)


def _normal(shape, std, random_state, dtype) -> np.ndarray:
    return as_generator(random_state).normal(0.0, std, size=shape).astype(dtype)


_SUMMARIES = {
    "glorot_uniform": "Glorot uniform: ``W ~ U(−a, a)`` with ``a = √(6 / (fan_in + fan_out))``.",
    "glorot_normal": "Glorot normal: ``W ~ N(0, 2 / (fan_in + fan_out))``.",
    "he_uniform": "He uniform: ``W ~ U(−a, a)`` with ``a = √(6 / fan_in)``.",
    "he_normal": "He normal: ``W ~ N(0, 2 / fan_in)``.",
}
_PARAMETERS = """

    Parameters
    ----------
    shape : tuple of int
        Shape of the weight array.
    fan_in, fan_out : int, optional
        Inputs and outputs of one unit; default to ``shape`` for a 2-D ``(in, out)`` weight.
    random_state : None, int, Generator or RandomState
        Source of randomness.
    dtype : dtype
        Floating dtype of the result.

    Returns
    -------
    ndarray
        Weights with variance ``2 / (fan_in + fan_out)`` (Glorot) or ``2 / fan_in`` (He).
    """


def _initializer(
    name: str, draw: Callable[..., np.ndarray], spread: Callable[[int, int], float]
) -> Callable[..., np.ndarray]:
    """The public initialiser ``name``: ``draw`` at ``spread(fan_in, fan_out)``.

    ``spread`` is the uniform half-width ``a`` or the normal ``σ``; all four initialisers
    share one signature and one parameter description.
    """

    def initializer(
        shape: tuple[int, ...],
        *,
        fan_in: int | None = None,
        fan_out: int | None = None,
        random_state: Any = None,
        dtype: DTypeLike = np.float64,
    ) -> np.ndarray:
        fi, fo = _fans(tuple(shape), fan_in, fan_out)
        return draw(shape, spread(fi, fo), random_state, dtype)

    initializer.__name__ = initializer.__qualname__ = name
    initializer.__doc__ = _SUMMARIES[name] + _PARAMETERS
    return initializer


glorot_uniform = _initializer("glorot_uniform", _uniform, lambda fi, fo: np.sqrt(6.0 / (fi + fo)))
glorot_normal = _initializer("glorot_normal", _normal, lambda fi, fo: np.sqrt(2.0 / (fi + fo)))
he_uniform = _initializer("he_uniform", _uniform, lambda fi, fo: np.sqrt(6.0 / fi))
he_normal = _initializer("he_normal", _normal, lambda fi, fo: np.sqrt(2.0 / fi))


INITIALIZERS: dict[str, Callable[..., np.ndarray]] = {
    "glorot": glorot_uniform,
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "he": he_normal,
    "he_normal": he_normal,
    "he_uniform": he_uniform,
}


def resolve_initializer(init: str, activation_hint: str | None = None) -> Callable[..., np.ndarray]:
    """The initialiser for ``init``; ``"auto"`` picks from the following activation.

    ``"auto"`` gives He normal before a ReLU-family activation (``relu``, ``leaky_relu``,
    ``gelu``) and Glorot uniform before ``tanh``, ``sigmoid``/``logistic``, a linear output
    (``None``, ``"linear"``, ``"identity"``).
    """
    if init == "auto":
        if activation_hint is None or activation_hint in GLOROT_FAMILY:
            return glorot_uniform
        if activation_hint in RELU_FAMILY:
            return he_normal
        known = sorted(RELU_FAMILY | GLOROT_FAMILY)
        raise ValueError(f"activation_hint must be None or one of {known}; got {activation_hint!r}")
    if init not in INITIALIZERS:
        raise ValueError(f"init must be 'auto' or one of {sorted(INITIALIZERS)}; got {init!r}")
    return INITIALIZERS[init]
