"""Input checks shared by every loss, with one message shape.

Every error is a :class:`ValueError` that reads ``"<argument> must <expectation>; got <what>"``,
so a user always learns which argument was wrong and what was expected of it.

The helpers return arrays in the loss's *working dtype*: float32 for float16/float32 input,
float64 for float64, integer and boolean input. Values are checked after that conversion.

The checks are cheap where the input is valid, because they run on every training batch: one
or two reductions per array, no temporaries, no broadcast copies. Only a failing check pays for
the passes that find out what exactly is wrong.
"""

from __future__ import annotations

import functools
import math
import numbers
from typing import Any, NamedTuple

import numpy as np
from numpy.lib.array_utils import normalize_axis_index

from bcekit.losses._namespace import namespace_of

REDUCTIONS = ("mean", "weighted_mean", "sum", "none")
MEAN_REDUCTIONS = ("mean", "weighted_mean")


def invalid(name: str, expected: str, got: str) -> ValueError:
    """The error for argument ``name``: ``"<name> must <expected>; got <got>"``."""
    return ValueError(f"{name} must {expected}; got {got}")


def check_reduction(reduction: Any) -> str:
    """Return ``reduction`` if it is one of :data:`REDUCTIONS`."""
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise invalid("reduction", f"be one of {', '.join(map(repr, REDUCTIONS))}", repr(reduction))
    return reduction


def check_scalar(
    value: Any, name: str, low: float, high: float = np.inf, *, high_open: bool = False
) -> float:
    """Return ``value`` as a float after checking it is a real number in ``[low, high]``.

    With ``high_open=True`` the interval is ``[low, high)``; an infinite ``high`` is always open.
    """
    if type(value) is not float:
        if isinstance(value, np.ndarray) and value.ndim == 0:
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise invalid(name, "be a real number", f"{type(value).__name__} {value!r}")
        value = float(value)
    open_top = high_open or math.isinf(high)
    if not (low <= value < high if open_top else low <= value <= high):
        closing = ")" if open_top else "]"
        raise invalid(name, f"lie in [{low:g}, {high:g}{closing}", f"{value:g}")
    return value


def check_label_smoothing(label_smoothing: Any) -> float:
    """Return ``label_smoothing`` if it lies in ``[0, 1)``."""
    return check_scalar(label_smoothing, "label_smoothing", 0.0, 1.0, high_open=True)


def _as_numeric(x: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise invalid(name, "be an array-like of numbers", type(x).__name__) from exc
    if arr.dtype.kind not in "biuf":
        raise invalid(name, "have a real numeric dtype (bool, integer or float)", str(arr.dtype))
    return arr


_ONE_PASS_MIN_SIZE = 1 << 14
"""Size from which an array without bounds is checked in one pass (its sum, which is finite
only if no element is NaN or infinite) instead of two (minimum and maximum). Below it,
silencing the floating-point warnings that the sum may raise costs more than the second pass."""

_FLOAT32 = np.dtype(np.float32)
_FLOAT64 = np.dtype(np.float64)
_LARGEST = {_FLOAT32: float(np.finfo(np.float32).max), _FLOAT64: float(np.finfo(np.float64).max)}
_BITS = {_FLOAT32: np.dtype(np.uint32), _FLOAT64: np.dtype(np.uint64)}


def working_dtype(dtype: np.dtype) -> np.dtype:
    """float32 for float16/float32, float64 for everything else that is numeric."""
    if dtype.kind == "f" and dtype.itemsize <= 4:
        return _FLOAT32
    return _FLOAT64


def _within(arr: np.ndarray, high: float | None) -> bool:
    """Whether every element lies in ``[+0, high]`` (``[+0, largest finite]`` without ``high``).

    One pass over the bit patterns read as unsigned integers: those of non-negative floats
    sort like the floats, and every NaN, infinity and negative number (−0 too) has a pattern
    above that of any finite ``high >= 0``.
    """
    bits = _BITS[arr.dtype]
    return int(np.maximum.reduce(arr.view(bits), axis=None)) <= _pattern(arr.dtype, high)


@functools.cache
def _pattern(dtype: np.dtype, high: float | None) -> int:
    """The bit pattern of ``high`` (of the largest finite value without it) in ``dtype``."""
    value = _LARGEST[dtype] if high is None else high
    return int(np.array(value, dtype).view(_BITS[dtype]))


def _check_values(
    arr: np.ndarray, name: str, low: float | None, high: float | None, allow_inf: bool
) -> bool:
    """Check a float array for NaN, infinities and ``[low, high]``; return whether it holds inf.

    One pass for the minimum and one for the maximum answer all three questions: a NaN makes
    both NaN, an infinity shows up as one of them. The common cases take a single pass, and
    only a failure pays for the minimum and maximum that say what is wrong: ``[0, high]``
    is checked by :func:`_within`; without bounds, a large array by its sum, which is finite
    only if no element is NaN or infinite (overflow may also make it infinite).
    """
    if arr.size == 0:
        return False
    if low == 0.0 and _within(arr, high):
        return False
    if low is None and high is None and arr.size >= _ONE_PASS_MIN_SIZE:
        with np.errstate(over="ignore", invalid="ignore"):
            if math.isfinite(np.add.reduce(arr, axis=None)):
                return False
    lo = float(np.minimum.reduce(arr, axis=None))
    hi = float(np.maximum.reduce(arr, axis=None))
    if math.isnan(lo) or math.isnan(hi):
        raise invalid(name, "not contain NaN", f"{np.count_nonzero(np.isnan(arr))} NaN values")
    has_inf = math.isinf(lo) or math.isinf(hi)
    if has_inf and not allow_inf:
        raise invalid(name, "be finite", f"values in [{lo:g}, {hi:g}]")
    if (low is not None and lo < low) or (high is not None and hi > high):
        expected = f"be >= {low:g}" if high is None else f"lie in [{low:g}, {high:g}]"
        raise invalid(name, expected, f"values in [{lo:g}, {hi:g}]")
    return has_inf


def _check_broadcast(arr: np.ndarray, name: str, shape: tuple[int, ...], of: str) -> None:
    if arr.shape == shape:
        return
    try:
        fits = np.broadcast_shapes(arr.shape, shape) == shape
    except ValueError:
        fits = False
    if not fits:
        raise invalid(name, f"broadcast to the shape of {of} {shape}", f"shape {arr.shape}")


def _as_float(x: Any, name: str) -> np.ndarray:
    """``x`` as an array in its working dtype (no copy if it is one already)."""
    arr = _as_numeric(x, name)
    return arr.astype(working_dtype(arr.dtype), copy=False)


def check_no_nan(arr: np.ndarray, name: str) -> None:
    """Refuse NaN in the float array ``arr``, in one pass: any NaN makes the maximum NaN."""
    if arr.size and math.isnan(np.maximum.reduce(arr, axis=None)):
        raise invalid(name, "not contain NaN", f"{np.count_nonzero(np.isnan(arr))} NaN values")


def as_prediction(x: Any, name: str, *, allow_inf: bool) -> tuple[np.ndarray, bool]:
    """The predictions (probabilities or logits) in their working dtype, and whether any is inf."""
    arr = _as_float(x, name)
    low, high = (None, None) if allow_inf else (0.0, 1.0)
    return arr, _check_values(arr, name, low, high, allow_inf)


def as_operand(
    x: Any,
    name: str,
    dtype: np.dtype,
    shape: tuple[int, ...],
    of: str,
    *,
    high: float | None = None,
) -> np.ndarray:
    """A finite array in ``[0, high]`` (``[0, inf)`` without ``high``) broadcasting to ``shape``.

    Used for targets, weights and ``pos_weight``; ``of`` names what ``shape`` belongs to. A
    Python float or int inside the range is taken as a 0-d array without further checks.
    """
    if type(x) in (float, int) and 0 <= x <= (_LARGEST[dtype] if high is None else high):
        return np.asarray(x, dtype)
    arr = _as_numeric(x, name)
    _check_broadcast(arr, name, shape, of)
    if arr.dtype != dtype:
        with np.errstate(over="ignore"):  # too large for float32: inf, refused below
            arr = arr.astype(dtype)
    _check_values(arr, name, 0.0, high, allow_inf=False)
    return arr


def check_nonnegative(x: Any, name: str) -> Any:
    """Return ``x`` after checking it is a finite, non-negative number or array of numbers.

    An array of another Array API library is checked in its namespace.
    """
    xp = None if x is None else namespace_of([(name, x)])
    if xp is not None:
        from bcekit.losses._portable_checks import ValueCheck, as_float, check_values

        check_values(xp, ValueCheck(as_float(xp, x, name), name, 0.0))
    elif x is not None:
        arr = _as_numeric(x, name)
        _check_values(arr.astype(working_dtype(arr.dtype), copy=False), name, 0.0, None, False)
    return x


def as_mask(mask: Any, shape: tuple[int, ...], of: str) -> np.ndarray | None:
    """A boolean mask broadcasting to ``shape`` (True = counted), or None."""
    if mask is None:
        return None
    arr = np.asarray(mask)
    if arr.dtype != np.bool_:
        raise invalid("mask", "be a boolean array (True = counted)", f"dtype {arr.dtype}")
    _check_broadcast(arr, "mask", shape, of)
    return arr


def check_out(out: Any, shape: tuple[int, ...], dtype: np.dtype, *inputs: Any) -> np.ndarray:
    """Return ``out`` if it can receive a gradient of ``shape`` and ``dtype``.

    ``out`` must be a writeable :class:`numpy.ndarray` of exactly that shape and dtype that
    shares no memory with any of the arrays among ``inputs`` (other inputs are ignored).
    """
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray; got {type(out).__name__}")
    if out.shape != shape or out.dtype != dtype:
        expected = f"have the gradient's shape {shape} and dtype {dtype}"
        raise invalid("out", expected, f"shape {out.shape} and dtype {out.dtype}")
    if not out.flags.writeable:
        raise invalid("out", "be writeable", "a read-only array")
    if any(isinstance(a, np.ndarray) and np.may_share_memory(out, a) for a in inputs):
        raise invalid("out", "not share memory with the inputs", "an array overlapping one")
    return out


def check_not_empty(size: int, shape: tuple[int, ...], name: str, reduction: str) -> None:
    """A mean over nothing is undefined: refuse empty input for the mean reductions."""
    if size == 0 and reduction in MEAN_REDUCTIONS:
        raise invalid(name, f"not be empty with reduction={reduction!r}", f"shape {shape}")


def _plain(pred: Any, targets: Any, weight: Any) -> bool:
    """Whether the inputs need neither conversion nor broadcasting.

    That is, ``pred`` is a float32 or float64 array, and ``targets`` and ``weight`` (unless
    None) are arrays of its dtype and shape.
    """
    if type(pred) is not np.ndarray or pred.dtype not in _BITS:
        return False
    dtype, shape = pred.dtype, pred.shape
    if type(targets) is not np.ndarray or targets.dtype != dtype or targets.shape != shape:
        return False
    return weight is None or (
        type(weight) is np.ndarray and weight.dtype == dtype and weight.shape == shape
    )


class BinaryInputs(NamedTuple):
    """Validated inputs of an element-wise binary loss, all in the prediction's working dtype.

    ``has_inf`` is None where infinities were not looked for (see :func:`binary_inputs`).
    """

    pred: np.ndarray
    has_inf: bool | None
    targets: np.ndarray
    weight: np.ndarray | None
    pos_weight: np.ndarray | None
    mask: np.ndarray | None


def binary_inputs(
    pred: Any,
    targets: Any,
    *,
    name: str,
    allow_inf: bool,
    weight: Any,
    pos_weight: Any,
    mask: Any,
    reduction: str,
    find_inf: bool = True,
) -> BinaryInputs:
    """Validate the inputs of a binary loss whose predictions are called ``name``.

    ``targets``, ``weight``, ``pos_weight`` and ``mask`` must broadcast to the predictions'
    shape; targets lie in ``[0, 1]``; weights are finite and non-negative. With
    ``allow_inf=True`` and ``find_inf=False`` (a caller that handles infinite predictions
    without being told where they are) the predictions are checked for NaN only, in one
    pass, and ``has_inf`` is None.
    """
    # What a training loop passes: float arrays of one dtype and shape, nothing to convert or
    # broadcast, only values to check.
    plain = mask is None and _plain(pred, targets, weight)
    arr = pred if plain else _as_float(pred, name)
    if allow_inf and not find_inf:
        has_inf = None
        check_no_nan(arr, name)
    else:
        low, high = (None, None) if allow_inf else (0.0, 1.0)
        has_inf = _check_values(arr, name, low, high, allow_inf)
    check_not_empty(arr.size, arr.shape, name, reduction)
    shape, dtype = arr.shape, arr.dtype
    if plain:
        _check_values(targets, "targets", 0.0, 1.0, False)
        if weight is not None:
            _check_values(weight, "weight", 0.0, None, False)
    else:
        targets = as_operand(targets, "targets", dtype, shape, name, high=1.0)
        weight = None if weight is None else as_operand(weight, "weight", dtype, shape, name)
    if pos_weight is not None:
        pos_weight = as_operand(pos_weight, "pos_weight", dtype, shape, name)
    return BinaryInputs(arr, has_inf, targets, weight, pos_weight, as_mask(mask, shape, name))


def deferred_binary_inputs(
    pred: Any,
    targets: Any,
    *,
    name: str,
    weight: Any,
    pos_weight: Any,
    mask: Any,
    reduction: str,
    **_: Any,
) -> BinaryInputs | None:
    """The common case's inputs of a loss on logits, their values left for the kernel to check.

    That case is what a training loop passes: float32 or float64 logits, targets of their
    dtype and shape, no weight, no mask, and no ``pos_weight`` or a Python number in range.
    The fused kernel then reports a NaN logit (its sum is NaN) and the targets' largest bit
    pattern (:func:`targets_within`), and the caller runs :func:`binary_inputs` to name what
    is wrong. Only emptiness is checked here. Returns None for any other inputs. The other
    keyword arguments of :func:`binary_inputs` are accepted and ignored.
    """
    if mask is not None or not _plain(pred, targets, weight) or weight is not None:
        return None
    if pos_weight is not None:
        if type(pos_weight) not in (float, int) or not 0 <= pos_weight <= _LARGEST[pred.dtype]:
            return None
        pos_weight = np.asarray(pos_weight, pred.dtype)
    check_not_empty(pred.size, pred.shape, name, reduction)
    return BinaryInputs(pred, None, targets, None, pos_weight, None)


def targets_within(top: int, dtype: np.dtype) -> bool:
    """Whether targets whose largest unsigned bit pattern is ``top`` all lie in ``[+0, 1]``."""
    return top <= _pattern(dtype, 1.0)


def check_axis_type(axis: Any) -> int:
    if isinstance(axis, bool) or not isinstance(axis, int | np.integer):
        raise invalid("axis", "be an integer", repr(axis))
    return int(axis)


def check_axis(axis: Any, ndim: int) -> int:
    axis = check_axis_type(axis)
    if ndim == 0:
        raise invalid("logits", "have at least one dimension (the classes)", "a scalar")
    try:
        return normalize_axis_index(axis, ndim)
    except np.exceptions.AxisError:
        raise invalid("axis", f"lie in [{-ndim}, {ndim}) for {ndim}-d logits", str(axis)) from None
