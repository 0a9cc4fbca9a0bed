"""Docstring sections shared by the public loss functions, appended with :func:`document`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable[..., object])

COMMON_PARAMETERS = """
    label_smoothing : float, default 0.0
        ``s ∈ [0, 1)``; targets become ``y·(1 − s) + s/C`` (``C = 2`` for binary losses).
    mask : array-like of bool, optional
        True where an element counts. Masked elements add nothing to the value or gradient
        and are not counted in the mean; with nothing counted the value is 0.0.
    reduction : {"mean", "weighted_mean", "sum", "none"}, default "mean"
        ``Σ w·ℓ`` over counted elements divided by their number (``"mean"``), by ``Σ w``
        over them (``"weighted_mean"``), or by 1 (``"sum"``); ``"none"`` returns the array
        ``w·ℓ`` with zeros where masked."""

VALUE_RETURNS = """

    Returns
    -------
    value : float or ndarray
        A Python float (summed in float64), or for ``reduction="none"`` an array of the
        losses' shape in the working dtype: float32 for float16/float32 predictions, float64
        for float64, integer or boolean ones."""

GRAD_RETURNS = (
    VALUE_RETURNS
    + """
    grad : ndarray
        ``∂value/∂pred``: a new array of the predictions' shape in the working dtype. For
        ``reduction="none"`` it is the element-wise derivative ``∂ℓᵢ/∂predᵢ`` (the gradient
        of the sum)."""
)

RAISES = """

    Raises
    ------
    ValueError
        Naming the argument: a non-numeric dtype, NaN, infinities outside the logits, shapes
        that do not broadcast, values out of range, a non-boolean mask, an unknown reduction,
        or empty input with a mean reduction.
"""


def document(*sections: str) -> Callable[[F], F]:
    """Append ``sections`` to the decorated function's docstring."""

    def decorate(func: F) -> F:
        func.__doc__ = (func.__doc__ or "").rstrip() + "".join(sections)
        return func

    return decorate
