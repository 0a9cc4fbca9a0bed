"""Refusing networks too large for the machine before their arrays are allocated.

A builder (:func:`bcekit.nn.mlp`, :class:`bcekit.nn.UNet`) counts the parameters it is asked
for and calls :func:`require_memory` with what training them takes, about
:data:`TRAINING_COPIES` arrays the size of the parameters (the weights, their gradients and an
optimiser's two moment estimates), before it allocates anything. A request beyond what this
process can still allocate (:func:`bcekit._memory.available_memory`) raises
:class:`NetworkTooLargeError` instead of ending in the out-of-memory killer.
"""

from __future__ import annotations

from bcekit._memory import available_memory, format_bytes

__all__ = ["TRAINING_COPIES", "NetworkTooLargeError", "require_memory"]

#: Arrays of the parameters' size that training holds: weights, gradients, two moments.
TRAINING_COPIES = 4


class NetworkTooLargeError(ValueError):
    """A network needs more memory than this process can allocate."""


def require_memory(n_bytes: int, what: str) -> None:
    """Raise :class:`NetworkTooLargeError` unless ``n_bytes`` more bytes can be allocated.

    Parameters
    ----------
    n_bytes : int
        The estimated need.
    what : str
        What needs it, starting the message ("an MLP of 8 inputs, ...").
    """
    available = available_memory()
    if available is not None and n_bytes > available:
        raise NetworkTooLargeError(
            f"{what} needs about {format_bytes(n_bytes)} of memory, more than the "
            f"{format_bytes(available)} available"
        )
