"""The two building blocks every layer shares: :class:`Parameter` and :class:`Layer`.

A layer owns its parameters. ``forward(x)`` computes the output and keeps what the
backward pass needs; ``backward(grad_out)`` applies the chain rule for this one layer,
*accumulates* ``∂L/∂θ`` into each ``Parameter.grad`` and returns ``∂L/∂x``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(eq=False)
class Parameter:
    """A trainable array and the gradient of the loss with respect to it.

    Optimisers update ``value`` in place; layers add into ``grad`` in place, so both
    arrays keep their identity (and dtype) for the life of the model.
    """

    value: np.ndarray
    name: str = ""
    grad: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.grad = np.zeros_like(self.value)

    def zero_grad(self) -> None:
        """Reset the accumulated gradient to zero."""
        self.grad.fill(0)


class Layer:
    """Base class: a differentiable function with explicit forward and backward passes.

    Subclasses set ``self.params`` (name -> :class:`Parameter`) and implement
    :meth:`forward` and :meth:`backward`. ``training`` switches layers such as Dropout
    between their training and inference behaviour.
    """

    params: dict[str, Parameter]
    training: bool

    def __init__(self) -> None:
        self.params = {}
        self.training = True

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def parameters(self) -> list[Parameter]:
        """The layer's trainable parameters, in a fixed order."""
        return list(self.params.values())

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.zero_grad()

    def train(self, mode: bool = True) -> Layer:
        self.training = mode
        return self

    def eval(self) -> Layer:
        return self.train(False)
