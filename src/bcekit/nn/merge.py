"""Joining feature maps, as U-Net skip connections do: concatenation along the channel axis.

Forward ``y = [a, b, …]`` stacks the inputs' channels (last axis); backward splits ``∂L/∂y``
back into one slice per input, ``∂L/∂a = G[..., :C_a]``, ``∂L/∂b = G[..., C_a:C_a + C_b]``, ….
"""

from __future__ import annotations

import numpy as np

from bcekit.nn.base import Layer, check_grad_shape


class Concatenate(Layer):
    """A layer with several inputs: ``forward(a, b, ...)`` joins them along the last axis.

    All inputs must agree on every axis but the last. ``backward(grad_out)`` returns a tuple
    with one gradient per input, in the order the inputs were given.
    """

    def __init__(self) -> None:
        super().__init__()
        self._splits: list[int] | None = None
        self._out_shape: tuple[int, ...] | None = None

    def forward(self, *inputs: np.ndarray) -> np.ndarray:  # type: ignore[override]
        if len(inputs) < 2:
            raise ValueError(f"Concatenate needs at least 2 inputs; got {len(inputs)}")
        arrays = [np.asarray(a) for a in inputs]
        leading = arrays[0].shape[:-1]
        for k, a in enumerate(arrays):
            if a.ndim == 0 or a.shape[:-1] != leading:
                raise ValueError(
                    f"inputs must agree on all axes but the last; input 0 has shape "
                    f"{arrays[0].shape} and input {k} has shape {a.shape}"
                )
        out = np.concatenate(arrays, axis=-1)
        self._splits = list(np.cumsum([a.shape[-1] for a in arrays[:-1]]))
        self._out_shape = out.shape
        return out

    def __call__(self, *inputs: np.ndarray) -> np.ndarray:  # type: ignore[override]
        return self.forward(*inputs)

    def backward(self, grad_out: np.ndarray) -> tuple[np.ndarray, ...]:  # type: ignore[override]
        check_grad_shape(grad_out, self._out_shape, self)
        return tuple(np.split(np.asarray(grad_out), self._splits, axis=-1))

    def __repr__(self) -> str:
        return "Concatenate()"
