"""The input checks of :mod:`bcekit.losses._validation`, in any Array API namespace.

Same rules and messages as for NumPy input. Value checks are reductions in the namespace
(the minimum and maximum of an array, on its device); only their results, a few numbers, are
brought to the host, so no large array is copied there. On Dask the checks are computed when
the loss is called, the loss itself stays lazy.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import numpy as np

from bcekit.losses._validation import (
    BinaryInputs,
    _check_broadcast,
    check_not_empty,
    invalid,
)

_REAL = ("bool", "integral", "real floating")


def host_floats(xp: ModuleType, *scalars: Any) -> list[float]:
    """0-d arrays of ``xp`` as Python floats, fetched from their device in one go."""
    from array_api_compat import is_lazy_array

    stats = xp.stack([xp.astype(s, xp.float64) for s in scalars])
    if is_lazy_array(stats):
        return [float(v) for v in np.asarray(stats)]  # Dask: one computation for all
    return [float(stats[i]) for i in range(len(scalars))]


def dtype_name(dtype: Any) -> str:
    """A dtype as messages name it, without its library: ``float64``, ``int64``."""
    return str(dtype).rsplit(".", 1)[-1]


def working_dtype(xp: ModuleType, dtype: Any) -> Any:
    """float32 for float16/float32 arrays, float64 for other real ones."""
    small = (getattr(xp, "float16", xp.float32), xp.float32)
    if xp.isdtype(dtype, "real floating") and dtype in small:
        return xp.float32
    return xp.float64


def as_float(xp: ModuleType, x: Any, name: str) -> Any:
    """``x`` in its working dtype, after checking its dtype is real."""
    if not xp.isdtype(x.dtype, _REAL):
        raise invalid(
            name, "have a real numeric dtype (bool, integer or float)", dtype_name(x.dtype)
        )
    dtype = working_dtype(xp, x.dtype)
    return x if x.dtype == dtype else xp.astype(x, dtype)


def check_values(
    xp: ModuleType, arr: Any, name: str, low: float | None, high: float | None, allow_inf: bool
) -> bool:
    """Refuse NaN, infinities (unless ``allow_inf``) and values outside ``[low, high]``.

    Returns whether ``arr`` holds an infinity.
    """
    if math.prod(arr.shape) == 0:
        return False
    lo, hi = host_floats(xp, xp.min(arr), xp.max(arr))
    if math.isnan(lo) or math.isnan(hi):
        (count,) = host_floats(xp, xp.sum(xp.astype(xp.isnan(arr), xp.int64)))
        raise invalid(name, "not contain NaN", f"{int(count)} NaN values")
    has_inf = math.isinf(lo) or math.isinf(hi)
    if has_inf and not allow_inf:
        raise invalid(name, "be finite", f"values in [{lo:g}, {hi:g}]")
    if (low is not None and lo < low) or (high is not None and hi > high):
        expected = f"be >= {low:g}" if high is None else f"lie in [{low:g}, {high:g}]"
        raise invalid(name, expected, f"values in [{lo:g}, {hi:g}]")
    return has_inf


def operand(
    xp: ModuleType,
    x: Any,
    name: str,
    like: Any,
    of: str,
    *,
    high: float | None = None,
    shape: tuple[int, ...] | None = None,
) -> Any:
    """A finite array in ``[0, high]`` broadcasting to ``shape`` (``like``'s by default), in
    ``like``'s dtype and on its device; a Python number becomes a 0-d array."""
    from array_api_compat import device

    if isinstance(x, bool | int | float):
        arr = xp.asarray(float(x), dtype=like.dtype, device=device(like))
    else:
        arr = xp.asarray(x)
        if not xp.isdtype(arr.dtype, _REAL):
            expected = "have a real numeric dtype (bool, integer or float)"
            raise invalid(name, expected, dtype_name(arr.dtype))
        _check_broadcast(arr, name, like.shape if shape is None else shape, of)
        arr = arr if arr.dtype == like.dtype else xp.astype(arr, like.dtype)
    check_values(xp, arr, name, 0.0, high, allow_inf=False)
    return arr


def as_mask(xp: ModuleType, mask: Any, shape: tuple[int, ...], of: str) -> Any:
    """A boolean mask broadcasting to ``shape`` (True = counted), or None."""
    if mask is None:
        return None
    mask = xp.asarray(mask)
    if mask.dtype != xp.bool:
        raise invalid(
            "mask", "be a boolean array (True = counted)", f"dtype {dtype_name(mask.dtype)}"
        )
    _check_broadcast(mask, "mask", shape, of)
    return mask


def binary_inputs(
    xp: ModuleType,
    pred: Any,
    targets: Any,
    *,
    name: str,
    allow_inf: bool,
    weight: Any,
    pos_weight: Any,
    mask: Any,
    reduction: str,
) -> BinaryInputs:
    """:func:`bcekit.losses._validation.binary_inputs` for arrays of ``xp``."""
    arr = as_float(xp, xp.asarray(pred), name)
    low, high = (None, None) if allow_inf else (0.0, 1.0)
    has_inf = check_values(xp, arr, name, low, high, allow_inf)
    check_not_empty(math.prod(arr.shape), arr.shape, name, reduction)
    targets = operand(xp, targets, "targets", arr, name, high=1.0)
    weight = None if weight is None else operand(xp, weight, "weight", arr, name)
    if pos_weight is not None:
        pos_weight = operand(xp, pos_weight, "pos_weight", arr, name)
    return BinaryInputs(
        arr, has_inf, targets, weight, pos_weight, as_mask(xp, mask, arr.shape, name)
    )
