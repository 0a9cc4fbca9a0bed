r"""Numerical gradient checks: analytic gradients against central finite differences.

Every check runs in float64. For each element :math:`θ_i` of the input and of every
parameter, the numerical derivative is

.. math:: \frac{∂L}{∂θ_i} ≈ \frac{L(θ + ε e_i) - L(θ - ε e_i)}{2ε},

whose error is :math:`O(ε^2)` from truncation plus :math:`O(u/ε)` from rounding
(:math:`u ≈ 10^{-16}`), about :math:`10^{-10}` relative at :math:`ε = 10^{-6}`.
An element passes when ``|analytic − numerical| <= atol + rtol·|numerical|``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from .base import Layer


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with its finite-difference estimate."""


class LossLike(Protocol):
    """What :func:`gradcheck_model` needs of a loss: the value and ``∂value/∂pred``."""

    def value_and_grad(self, pred: np.ndarray, targets: Any) -> tuple[float, np.ndarray]: ...


class _RandomProjection:
    """``L = Σ pred · R`` for a fixed random ``R``: checks every output's gradient at once."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def value_and_grad(self, pred: np.ndarray, targets: Any = None) -> tuple[float, np.ndarray]:
        r = np.random.default_rng(self.seed).standard_normal(np.shape(pred))
        return float(np.sum(pred * r)), r


def numerical_gradient(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar ``f()`` with respect to the array ``x``.

    ``x`` is perturbed in place, one element at a time, and restored exactly; ``f``
    must read it on each call.
    """
    grad = np.empty(x.shape, dtype=np.float64)
    flat = x.reshape(-1)
    if not np.shares_memory(flat, x):
        raise ValueError("x must be contiguous so that it can be perturbed in place")
    out = grad.reshape(-1)
    for i in range(flat.size):
        orig = flat[i]
        flat[i] = orig + eps
        f_plus = f()
        flat[i] = orig - eps
        f_minus = f()
        flat[i] = orig
        out[i] = (f_plus - f_minus) / (2.0 * eps)
    return grad


def _compare(name: str, analytic: Any, numeric: np.ndarray, rtol: float, atol: float) -> str:
    """An empty string if the gradients agree, else one line describing the worst element."""
    if analytic is None:
        return f"{name}: no analytic gradient was returned"
    analytic = np.asarray(analytic, dtype=np.float64)
    if analytic.shape != numeric.shape:
        return f"{name}: analytic gradient has shape {analytic.shape}, expected {numeric.shape}"
    err = np.abs(analytic - numeric)
    bad = ~(err <= atol + rtol * np.abs(numeric))  # NaN counts as a failure
    if not bad.any():
        return ""
    score = np.where(np.isnan(err), np.inf, err - rtol * np.abs(numeric))
    worst = np.unravel_index(np.argmax(score), numeric.shape)
    return (
        f"{name}: {int(bad.sum())}/{bad.size} elements differ; worst at {tuple(map(int, worst))}: "
        f"analytic {analytic[worst]:.10g}, numerical {numeric[worst]:.10g}"
    )


def _finish(failures: list[str], raise_exception: bool, what: str) -> bool:
    failures = [f for f in failures if f]
    if failures and raise_exception:
        raise GradcheckError(f"gradient check failed for {what}:\n  " + "\n  ".join(failures))
    return not failures


def _as_float64(a: Any, name: str) -> np.ndarray:
    a = np.array(a, dtype=np.float64)  # a private copy that may be perturbed
    if not np.isfinite(a).all():
        raise ValueError(f"{name} must be finite to check gradients")
    return a


def gradcheck(
    fn_or_model: Layer | Callable[..., tuple[float, Any]],
    inputs: Any,
    *,
    loss: LossLike | None = None,
    targets: Any = None,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-7,
    check_params: bool = True,
    raise_exception: bool = True,
    seed: int = 0,
) -> bool:
    """Compare analytic gradients with central finite differences in float64.

    Two forms:

    * ``fn_or_model`` a :class:`~bcekit.nn.Layer` (a layer or a whole network): the
      scalar checked is ``loss.value_and_grad(model.forward(x), targets)[0]`` (the model
      gets a fresh copy of ``x`` each time, so in-place layers are fine), or, with no
      ``loss``, ``Σ model.forward(x) · R`` for a fixed random ``R``. The analytic
      gradients are ``model.backward(∂L/∂y)`` for the input and each ``Parameter.grad``
      (reset first with ``zero_grad``). The model must have float64 parameters and be
      deterministic (Dropout in eval mode, or with its mask held fixed).
    * ``fn_or_model`` a callable returning ``(value, grad)``: ``fn(x)`` for one array
      ``inputs``, or ``fn(*inputs)`` returning a tuple of gradients for a tuple of arrays.

    Parameters
    ----------
    fn_or_model : Layer or callable
    inputs : array_like or tuple of array_like
        Point at which to check; copied to float64, never modified.
    loss : object with ``value_and_grad(pred, targets)``, optional
        Loss composed with the model (model form only).
    targets : array_like, optional
        Passed to ``loss``.
    eps : float
        Finite-difference step.
    rtol, atol : float
        Tolerances, as in :func:`numpy.allclose` with the numerical gradient as reference.
    check_params : bool
        Also check every parameter gradient (model form).
    raise_exception : bool
        Raise :class:`GradcheckError` with a report on failure instead of returning False.
    seed : int
        Seed of the random projection used when ``loss`` is None.

    Returns
    -------
    bool
        True when every gradient agrees.
    """
    if isinstance(fn_or_model, Layer):
        return _check_model(
            fn_or_model,
            inputs,
            loss or _RandomProjection(seed),
            targets,
            eps,
            rtol,
            atol,
            check_params,
            raise_exception,
        )
    if not callable(fn_or_model):
        raise TypeError(
            f"fn_or_model must be a Layer or a callable; got {type(fn_or_model).__name__}"
        )
    return _check_function(fn_or_model, inputs, eps, rtol, atol, raise_exception)


def gradcheck_model(model: Layer, loss: LossLike, x: Any, y: Any, **kwargs: Any) -> bool:
    """Check a network composed with a loss: ``gradcheck(model, x, loss=loss, targets=y)``."""
    return gradcheck(model, x, loss=loss, targets=y, **kwargs)


def _check_model(model, x, loss, targets, eps, rtol, atol, check_params, raise_exception):
    x = _as_float64(x, "inputs")
    named = model.named_parameters() if check_params else []
    for name, p in model.named_parameters():
        if p.value.dtype != np.float64:
            raise ValueError(
                f"gradcheck needs a float64 model; parameter {name!r} is {p.value.dtype} "
                "(build the model with dtype=np.float64)"
            )

    def value() -> float:
        return float(loss.value_and_grad(model.forward(x.copy()), targets)[0])

    model.zero_grad()
    _, grad_out = loss.value_and_grad(model.forward(x.copy()), targets)
    grad_in = model.backward(grad_out)
    grad_in = None if grad_in is None else np.array(grad_in, dtype=np.float64)
    analytic = {name: p.grad.copy() for name, p in named}

    failures = [_compare("input", grad_in, numerical_gradient(value, x, eps), rtol, atol)]
    for name, p in named:
        numeric = numerical_gradient(value, p.value, eps)
        failures.append(_compare(f"parameter {name!r}", analytic[name], numeric, rtol, atol))
    return _finish(failures, raise_exception, type(model).__name__)


def _check_function(fn, inputs, eps, rtol, atol, raise_exception):
    several = isinstance(inputs, tuple | list)
    arrays = [_as_float64(a, f"inputs[{i}]") for i, a in enumerate(inputs if several else [inputs])]

    def value() -> float:
        return float(fn(*arrays)[0])

    _, grads = fn(*arrays)
    grads = list(grads) if several else [grads]
    if len(grads) != len(arrays):
        raise ValueError(f"fn returned {len(grads)} gradients for {len(arrays)} inputs")
    grads = [None if g is None else np.array(g, dtype=np.float64) for g in grads]
    failures = [
        _compare(f"input {i}", g, numerical_gradient(value, a, eps), rtol, atol)
        for i, (g, a) in enumerate(zip(grads, arrays, strict=True))
    ]
    return _finish(failures, raise_exception, getattr(fn, "__name__", "function"))
