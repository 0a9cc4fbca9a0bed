"""Argument checks shared by every layer of the package (nn, optim, training).

One rule for integer arguments: Python ``int`` and NumPy integers (``np.int64`` and the
like) are accepted, ``bool`` is refused although it is an ``int`` subclass, and so is any
float, even an integral one such as ``2.0``. A refusal is a ValueError of one shape,
``"<name> must be <what>; got <value>"``, naming the argument.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["check_integer"]


def check_integer(value: Any, name: str, *, minimum: int = 0) -> int:
    """``value`` as a Python int, checked to be an integer ``>= minimum``.

    Parameters
    ----------
    value : object
        The argument to check.
    name : str
        Its name, as the caller's signature spells it (``"batch_size"``, ``"state['epoch']"``).
    minimum : int, default 0
        The smallest value accepted.

    Returns
    -------
    int

    Raises
    ------
    ValueError
        ``value`` is a bool, not an integer, or below ``minimum``; the message names ``name``
        and what was expected: ``"a positive integer"`` when ``minimum`` is 1, else
        ``"an integer >= minimum"``.
    """
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {what}; got {value!r}")
    return int(value)
