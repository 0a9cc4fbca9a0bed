"""One definition, three public forms: the value function, its ``*_value_and_grad`` twin and
the class configured once and called per batch.

A loss is defined once, as a function ``compute(pred, targets, *, <keywords>, need_grad)``
returning ``(value, gradient or None)``; its signature is the public one. From it
:func:`functional_forms` makes the two functions, and a :class:`Loss` subclass that names
``compute`` and checks its own keywords is the class form.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np

from bcekit.losses._buffers import GradientPool, shared_pool
from bcekit.losses._validation import check_out

ValueAndGrad = tuple[float | np.ndarray, np.ndarray | None]

_INTERNAL = ("need_grad", "out", "pool")
"""Keywords of a definition that its public functions do not take."""


def scalar_as_1d(compute: Callable[..., ValueAndGrad]) -> Callable[..., ValueAndGrad]:
    """Let an element-wise ``compute(pred, targets, **kw)`` take a 0-d ``pred``.

    NumPy ufuncs return scalars, not arrays, for 0-d input; the computation runs on a 1-element
    array instead and its array results are reshaped back to 0-d.
    """

    first = next(iter(inspect.signature(compute).parameters))

    @functools.wraps(compute)
    def wrapper(*args: Any, **keywords: Any) -> ValueAndGrad:
        pred = args[0] if args else keywords.get(first)
        if not (np.isscalar(pred) or (isinstance(pred, np.ndarray) and pred.ndim == 0)):
            return compute(*args, **keywords)
        if args:
            args = (np.reshape(pred, 1), *args[1:])
        else:
            keywords[first] = np.reshape(pred, 1)
        value, grad = compute(*args, **keywords)
        if isinstance(value, np.ndarray):
            value = value.reshape(())
        return value, (None if grad is None else grad.reshape(()))

    return wrapper


def _public_parameters(compute: Callable[..., Any]) -> list[inspect.Parameter]:
    params = inspect.signature(compute).parameters.values()
    return [p for p in params if p.name not in _INTERNAL]


def functional_forms(
    compute: Callable[..., ValueAndGrad],
    name: str,
    module: str,
    *,
    value_doc: str,
    grad_doc: str,
) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The public ``name`` and ``name_value_and_grad`` functions of ``module``, for the loss
    ``compute``.

    Both take ``compute``'s arguments but ``need_grad`` (and ``out``, ``pool``), have its
    signature and the given docstrings: the first returns the value, the second
    ``(value, gradient)``. A ``compute`` that takes ``pool`` gets the process's
    :func:`~bcekit.losses._buffers.shared_pool` from the second.
    """
    parameters = _public_parameters(compute)
    pooled = "pool" in inspect.signature(compute).parameters

    def value(*args: Any, **keywords: Any) -> Any:
        return compute(*args, need_grad=False, **keywords)[0]

    def value_and_grad(*args: Any, **keywords: Any) -> Any:
        if pooled:
            keywords["pool"] = shared_pool()
        return compute(*args, need_grad=True, **keywords)

    forms = ((value, name, value_doc, "float | ndarray"), (value_and_grad, None, grad_doc, None))
    for func, func_name, doc, returns in forms:
        func_name = func_name or f"{name}_value_and_grad"
        func.__name__ = func.__qualname__ = func_name
        func.__module__ = module
        func.__doc__ = doc
        annotation = returns or "tuple[float | ndarray, ndarray]"
        func.__signature__ = inspect.Signature(parameters, return_annotation=annotation)
    return value, value_and_grad


def keyword_checks(**checks: Callable[[Any], Any]) -> Mapping[str, Callable[[Any], Any]]:
    """``Loss._checks`` of a class: each keyword its constructor fixes, and its check."""
    return MappingProxyType(checks)


class Loss:
    """A loss with its keywords fixed; ``loss(pred, targets)`` and ``loss.value_and_grad``.

    A subclass sets ``_compute`` to the loss's definition and ``_checks`` to the
    :func:`keyword_checks` of the keywords its constructor fixes (each with the function that
    validates it and returns what is stored). The constructor takes exactly those keywords,
    with ``_compute``'s defaults; the calls pass them on as ``_compute(pred, targets,
    weight=..., mask=..., need_grad=..., **keywords)``. A definition that takes ``out`` and
    ``pool`` writes the gradient into ``out`` itself and takes new gradients from the object's
    :class:`GradientPool`; for the others the gradient is computed and then copied into
    ``out``.
    """

    _compute: ClassVar[Callable[..., ValueAndGrad]]
    _checks: ClassVar[Mapping[str, Callable[[Any], Any]]] = keyword_checks()
    _defaults: ClassVar[dict[str, Any]] = {}
    _writes_out: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        params = inspect.signature(cls._compute).parameters
        cls._defaults = {name: params[name].default for name in cls._checks}
        cls._writes_out = "out" in params and "pool" in params
        cls.__signature__ = inspect.Signature(
            [params[name].replace(annotation=inspect.Parameter.empty) for name in cls._checks]
        )

    def __init__(self, **keywords: Any) -> None:
        unknown = sorted(set(keywords) - set(self._checks))
        if unknown:
            raise TypeError(
                f"{type(self).__name__}() got an unexpected keyword argument {unknown[0]!r}"
            )
        for name, check in self._checks.items():
            setattr(self, name, check(keywords.get(name, self._defaults[name])))

    def _config(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._checks}

    def _pool(self) -> GradientPool:
        """The object's own :class:`GradientPool`, made on first use."""
        pool = self.__dict__.get("_gradient_pool")
        if pool is None:
            pool = self.__dict__["_gradient_pool"] = GradientPool()
        return pool

    def __getstate__(self) -> dict[str, Any]:
        # Copies and pickles (Dask ships losses to its workers) carry the configuration only.
        return {k: v for k, v in self.__dict__.items() if k != "_gradient_pool"}

    def __call__(
        self, pred: Any, targets: Any, *, weight: Any = None, mask: Any = None
    ) -> float | np.ndarray:
        """The loss value: a Python float, or an array for ``reduction="none"`` (for arrays of
        another Array API library, a 0-d or per-element array of that library)."""
        compute = type(self)._compute
        value, _ = compute(
            pred, targets, weight=weight, mask=mask, need_grad=False, **self._config()
        )
        return value

    def value_and_grad(
        self, pred: Any, targets: Any, *, weight: Any = None, mask: Any = None, out: Any = None
    ) -> tuple[float | np.ndarray, np.ndarray]:
        """The loss value and its gradient with respect to ``pred`` (same shape and dtype).

        For ``reduction="none"`` the gradient is that of the sum of the returned array, i.e.
        the element-wise derivative ``∂ℓᵢ/∂predᵢ``.

        Parameters
        ----------
        pred, targets, weight, mask
            As for the functional form of the loss.
        out : numpy.ndarray, optional
            Buffer that receives the gradient and is returned as it, instead of a new array:
            writeable, of the gradient's shape and working dtype (float32 for float16/float32
            ``pred``, float64 otherwise), sharing no memory with the other arguments. Reusing
            one buffer across calls saves allocating (and first touching) the gradient, which
            is a large share of the time on big arrays. Without ``out``, the losses that write
            their gradient in place (binary cross-entropy on logits) return a large gradient
            as a view of a buffer the object recycles once nothing refers to it any more (see
            :mod:`bcekit.losses._buffers`): a gradient, or a view or tensor made from it, that
            is still held is never written again.

            ``out`` is for NumPy input only. Logits and targets are checked during the same
            pass that writes the gradient, so when a check fails ``out`` may have been partly
            written before the error is raised.

        Raises
        ------
        TypeError
            If ``out`` is not a :class:`numpy.ndarray`, or is given with arrays of another
            library.
        ValueError
            As for the functional form, and if ``out`` has the wrong shape or dtype, is
            read-only or overlaps an input.
        """
        compute = type(self)._compute
        config = self._config()
        if self._writes_out:
            config.update(out=out, pool=self._pool())
        value, grad = compute(pred, targets, weight=weight, mask=mask, need_grad=True, **config)
        if out is None or self._writes_out:
            return value, grad
        np.copyto(check_out(out, grad.shape, grad.dtype, pred, targets, weight, mask), grad)
        return value, out

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._config().items())
        return f"{type(self).__name__}({args})"
