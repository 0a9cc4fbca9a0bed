"""JSON encoding of parameter values: plain JSON where it is exact, tagged objects where not.

==========================  ==================================================
Python value                JSON
==========================  ==================================================
None, bool, int, str        themselves
finite float                itself
inf, -inf, nan              ``{"$float": "inf"}``
tuple                       ``{"$tuple": [...]}``
list                        ``[...]``
numeric or bool ndarray     ``{"$array": nested lists, "dtype": "<f8"}``
dict with str keys          ``{...}`` (keys may not start with ``$``)
other dict                  ``{"$items": [[key, value], ...]}``
==========================  ==================================================

Decoding accepts only what encoding writes: an ``$array`` dtype must be a plain scalar
numeric dtype (:func:`plain_dtype`), so that a few bytes of JSON cannot ask for a large
allocation (a subarray dtype such as ``(15000,15000)f8`` is refused), and the array holds
only the values the JSON lists.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

__all__ = ["decode_value", "encode_value", "hashable", "plain_dtype"]

_SCALARS = (str, bool, int, type(None))
# Byte order (optional), kind (bool, signed, unsigned, float), item size in bytes.
_PLAIN_DTYPE = re.compile(r"[<>|=]?[biuf][1248]")


def plain_dtype(text: Any, what: str = "dtype") -> np.dtype:
    """The NumPy dtype spelt ``text`` (``"<f8"``, ``"|b1"``, ``"<i4"``), if it is a plain one.

    Raises
    ------
    ValueError
        ``text`` is not a string naming a scalar bool, integer or float dtype.
    """
    if isinstance(text, str) and _PLAIN_DTYPE.fullmatch(text):
        try:
            dtype = np.dtype(text)
        except TypeError:  # a spelling NumPy lacks, such as "f1" or "b8"
            pass
        else:
            if dtype.kind in "biuf" and dtype.shape == () and dtype.names is None:
                return dtype
    raise ValueError(f"{what} must be a plain numeric dtype such as '<f8'; got {text!r:.60}")


def encode_value(value: Any, what: str) -> Any:
    """The JSON form of ``value`` (see the module docstring); ``what`` names it in errors.

    Raises
    ------
    TypeError
        ``value`` holds something no JSON form is defined for.
    """
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, tuple):
        return {"$tuple": [encode_value(v, what) for v in value]}
    if isinstance(value, list):
        return [encode_value(v, what) for v in value]
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return {"$array": encode_value(value.tolist(), what), "dtype": value.dtype.str}
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: encode_value(v, what) for k, v in value.items()}
        return {
            "$items": [[encode_value(k, what), encode_value(v, what)] for k, v in value.items()]
        }
    raise TypeError(
        f"{what} holds a {type(value).__name__} ({value!r}), which a model file cannot store; "
        "use None, bool, int, float, str, or lists, tuples and dicts of them (e.g. an int "
        "random_state)"
    )


def decode_value(value: Any) -> Any:
    """Invert :func:`encode_value`.

    Raises
    ------
    ValueError, TypeError, KeyError
        A tagged object that :func:`encode_value` would not write.
    """
    if isinstance(value, list):
        return [decode_value(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "$float" in value:
        text = value["$float"]
        if text not in ("inf", "-inf", "nan"):
            raise ValueError(f"bad $float value {text!r:.60}")
        return float(text)
    if "$tuple" in value:
        return tuple(decode_value(v) for v in value["$tuple"])
    if "$array" in value:
        dtype = plain_dtype(value["dtype"], "an $array's dtype")
        return np.asarray(decode_value(value["$array"]), dtype=dtype)
    if "$items" in value:
        return {hashable(decode_value(k)): decode_value(v) for k, v in value["$items"]}
    return {k: decode_value(v) for k, v in value.items()}


def hashable(key: Any) -> Any:
    """A decoded dict key: lists (JSON's tuples) become tuples."""
    return tuple(key) if isinstance(key, list) else key
