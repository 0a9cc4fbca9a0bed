"""The input checks of :mod:`bcekit.losses._validation`, in any Array API namespace.

Same rules and messages as for NumPy input. Value checks are reductions in the namespace
(the minimum and maximum of an array, on its device); only their results, a few numbers, are
brought to the host, all of one call's in one transfer, so no large array is copied there.
On Dask that transfer is one computation when the loss is called; the loss stays lazy.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np

from bcekit.losses._validation import (
    BinaryInputs,
    _check_broadcast,
    check_not_empty,
    invalid,
)

REAL_KINDS = ("bool", "integral", "real floating")
"""The dtype kinds (``xp.isdtype``) that a loss takes as numbers."""


def accumulator(xp: ModuleType, like: Any) -> Any:
    """float64 where ``like``'s device has it, else ``like``'s dtype."""
    from array_api_compat import device

    try:
        dtypes = xp.__array_namespace_info__().dtypes(device=device(like))
    except (AttributeError, TypeError, ValueError):
        return xp.float64
    return xp.float64 if "float64" in dtypes else like.dtype


def host_floats(xp: ModuleType, *scalars: Any) -> list[float]:
    """0-d arrays of ``xp`` as Python floats, fetched from their device in one transfer."""
    from array_api_compat import is_lazy_array

    acc = accumulator(xp, scalars[0])
    stats = xp.stack([xp.astype(s, acc) for s in scalars])
    if is_lazy_array(stats):
        return [float(v) for v in np.asarray(stats)]  # Dask: one computation for all
    if hasattr(stats, "tolist"):  # PyTorch, CuPy, JAX: one copy of the small vector
        return [float(v) for v in stats.tolist()]
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
    if not xp.isdtype(x.dtype, REAL_KINDS):
        raise invalid(
            name, "have a real numeric dtype (bool, integer or float)", dtype_name(x.dtype)
        )
    dtype = working_dtype(xp, x.dtype)
    return x if x.dtype == dtype else xp.astype(x, dtype)


class ValueCheck(NamedTuple):
    """A check of :func:`check_values`: ``arr`` (called ``name``) has no NaN, no infinity
    unless ``allow_inf``, and lies in ``[low, high]`` (None: unbounded)."""

    arr: Any
    name: str
    low: float | None = None
    high: float | None = None
    allow_inf: bool = False


def check_values(xp: ModuleType, *checks: ValueCheck) -> list[bool]:
    """Run the ``checks`` in order, from one transfer of every array's minimum and maximum.

    Returns, per check, whether its array holds an infinity.
    """
    counted = [c for c in checks if math.prod(c.arr.shape)]
    if not counted:
        return [False] * len(checks)
    extrema = host_floats(xp, *(m for c in counted for m in (xp.min(c.arr), xp.max(c.arr))))
    found = {id(c): _judge(xp, c, *extrema[2 * i : 2 * i + 2]) for i, c in enumerate(counted)}
    return [found.get(id(c), False) for c in checks]


def _judge(xp: ModuleType, check: ValueCheck, lo: float, hi: float) -> bool:
    """Raise if ``check`` fails given its array's extrema; return whether it holds an inf."""
    name, low, high = check.name, check.low, check.high
    if math.isnan(lo) or math.isnan(hi):
        (count,) = host_floats(xp, xp.sum(xp.astype(xp.isnan(check.arr), xp.int64)))
        raise invalid(name, "not contain NaN", f"{int(count)} NaN values")
    has_inf = math.isinf(lo) or math.isinf(hi)
    if has_inf and not check.allow_inf:
        raise invalid(name, "be finite", f"values in [{lo:g}, {hi:g}]")
    if (low is not None and lo < low) or (high is not None and hi > high):
        expected = f"be >= {low:g}" if high is None else f"lie in [{low:g}, {high:g}]"
        raise invalid(name, expected, f"values in [{lo:g}, {hi:g}]")
    return has_inf


def operand_array(
    xp: ModuleType, x: Any, name: str, like: Any, of: str, shape: tuple[int, ...] | None = None
) -> Any:
    """``x`` as an array broadcasting to ``shape`` (``like``'s by default), in ``like``'s
    dtype and on its device, its values not yet checked; a Python number becomes 0-d."""
    from array_api_compat import device

    if isinstance(x, np.generic):
        x = x.item()  # a NumPy scalar, taken as the Python number it holds
    if isinstance(x, bool | int | float):
        return xp.asarray(float(x), dtype=like.dtype, device=device(like))
    arr = xp.asarray(x)
    check_device(arr, name, like, of)
    if not xp.isdtype(arr.dtype, REAL_KINDS):
        expected = "have a real numeric dtype (bool, integer or float)"
        raise invalid(name, expected, dtype_name(arr.dtype))
    _check_broadcast(arr, name, like.shape if shape is None else shape, of)
    return arr if arr.dtype == like.dtype else xp.astype(arr, like.dtype)


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
    """:func:`operand_array` after checking it is finite and lies in ``[0, high]``."""
    arr = operand_array(xp, x, name, like, of, shape)
    check_values(xp, ValueCheck(arr, name, 0.0, high))
    return arr


def check_device(arr: Any, name: str, like: Any, of: str) -> None:
    """Raise unless ``arr`` is on ``like``'s device (a CPU tensor beside CUDA logits, say)."""
    from array_api_compat import device

    if device(arr) != device(like):
        expected = f"be on the device of {of} ({device(like)})"
        raise invalid(name, expected, f"an array on {device(arr)}")


def as_mask(
    xp: ModuleType, mask: Any, like: Any, of: str, shape: tuple[int, ...] | None = None
) -> Any:
    """A boolean mask on ``like``'s device broadcasting to ``shape`` (``like``'s by default;
    True = counted), or None."""
    if mask is None:
        return None
    mask = xp.asarray(mask)
    check_device(mask, "mask", like, of)
    if mask.dtype != xp.bool:
        raise invalid(
            "mask", "be a boolean array (True = counted)", f"dtype {dtype_name(mask.dtype)}"
        )
    _check_broadcast(mask, "mask", like.shape if shape is None else shape, of)
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
    check_not_empty(math.prod(arr.shape), arr.shape, name, reduction)
    targets = operand_array(xp, targets, "targets", arr, name)
    weight = None if weight is None else operand_array(xp, weight, "weight", arr, name)
    if pos_weight is not None:
        pos_weight = operand_array(xp, pos_weight, "pos_weight", arr, name)
    mask = as_mask(xp, mask, arr, name)
    has_inf, *_ = check_values(
        xp,
        ValueCheck(arr, name, None if allow_inf else 0.0, None if allow_inf else 1.0, allow_inf),
        ValueCheck(targets, "targets", 0.0, 1.0),
        *(ValueCheck(a, n, 0.0) for a, n in ((weight, "weight"), (pos_weight, "pos_weight"))
          if a is not None),
    )  # fmt: skip
    return BinaryInputs(arr, has_inf, targets, weight, pos_weight, mask)
