"""The two building blocks every layer shares: :class:`Parameter` and :class:`Layer`.

A layer owns its parameters. ``forward(x)`` computes the output and keeps what the
backward pass needs; ``backward(grad_out)`` applies the chain rule for this one layer,
*accumulates* ``∂L/∂θ`` into each ``Parameter.grad`` and returns ``∂L/∂x``.

Composite layers (:class:`~bcekit.nn.Sequential`, a U-Net) list their sub-layers in
:meth:`Layer.children`; naming, ``zero_grad``, ``train``/``eval`` and the state dict then
work through the whole tree without further code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bcekit._checks import check_integer


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
    :meth:`forward` and :meth:`backward`. ``self.buffers`` (name -> array) holds state that
    is saved with the weights but not trained, such as BatchNorm's running statistics.
    ``training`` switches layers such as Dropout between their training and inference
    behaviour. Layers made of other layers override :meth:`children`.
    """

    params: dict[str, Parameter]
    buffers: dict[str, np.ndarray]
    training: bool

    def __init__(self) -> None:
        self.params = {}
        self.buffers = {}
        self.training = True

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def children(self) -> list[tuple[str, Layer]]:
        """Sub-layers as ``(name, layer)`` pairs; empty for a leaf layer."""
        return []

    def named_parameters(self, prefix: str = "") -> list[tuple[str, Parameter]]:
        """Every trainable parameter with its dotted name, e.g. ``"0.weight"``.

        The layer's own parameters come first, then those of each child in order,
        named ``"<child name>.<parameter name>"``.
        """
        named = [(prefix + name, p) for name, p in self.params.items()]
        for child_name, child in self.children():
            named.extend(child.named_parameters(f"{prefix}{child_name}."))
        return named

    def named_buffers(self, prefix: str = "") -> list[tuple[str, np.ndarray]]:
        """Every buffer with its dotted name, in the order of :meth:`named_parameters`."""
        named = [(prefix + name, b) for name, b in self.buffers.items()]
        for child_name, child in self.children():
            named.extend(child.named_buffers(f"{prefix}{child_name}."))
        return named

    def parameters(self) -> list[Parameter]:
        """The layer's trainable parameters, in a fixed order."""
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.zero_grad()

    def train(self, mode: bool = True) -> Layer:
        self.training = mode
        for _, child in self.children():
            child.train(mode)
        return self

    def eval(self) -> Layer:
        return self.train(False)

    def state_dict(self) -> dict[str, np.ndarray]:
        """A copy of every parameter value and buffer, keyed by their dotted names."""
        state = {name: p.value.copy() for name, p in self.named_parameters()}
        state.update((name, b.copy()) for name, b in self.named_buffers())
        return state

    def _state_arrays(self) -> dict[str, np.ndarray]:
        """The arrays :meth:`load_state_dict` writes into: parameter values and buffers."""
        arrays = {name: p.value for name, p in self.named_parameters()}
        arrays.update(self.named_buffers())
        return arrays

    def random_streams(self, prefix: str = "") -> dict[str, np.random.Generator]:
        """Every random generator in the layer tree (a layer's ``rng``), by dotted layer name.

        Dropout draws its masks from one; saving their ``bit_generator.state`` with the
        weights lets a resumed run draw the same masks as an uninterrupted one.
        """
        own = getattr(self, "rng", None)
        streams = {prefix.rstrip(".") or "": own} if isinstance(own, np.random.Generator) else {}
        for child_name, child in self.children():
            streams.update(child.random_streams(f"{prefix}{child_name}."))
        return streams

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        """Copy values from ``state`` into the existing parameter arrays, in place.

        The keys must be exactly those of :meth:`state_dict`, and each array must have
        the shape and dtype of the parameter or buffer it replaces; nothing is copied unless
        everything matches. Parameters keep their identity, so optimisers holding them stay
        valid.

        Raises
        ------
        ValueError
            On missing or unexpected keys, or a shape or dtype mismatch.
        """
        if not isinstance(state, Mapping):
            raise TypeError(f"state must be a mapping of str to arrays; got {type(state).__name__}")
        named = self._state_arrays()
        missing = [k for k in named if k not in state]
        unexpected = [k for k in state if k not in named]
        if missing or unexpected:
            raise ValueError(
                f"state keys do not match the model: missing {missing}, unexpected {unexpected}"
            )
        for key, target in named.items():
            arr = state[key]
            if not isinstance(arr, np.ndarray):
                raise TypeError(f"state[{key!r}] must be a numpy array; got {type(arr).__name__}")
            if arr.shape != target.shape:
                raise ValueError(f"state[{key!r}] must have shape {target.shape}; got {arr.shape}")
            if arr.dtype != target.dtype:
                raise ValueError(f"state[{key!r}] must have dtype {target.dtype}; got {arr.dtype}")
        for key, target in named.items():
            np.copyto(target, state[key])


def positive_int(name: str, value: Any) -> int:
    """``value`` as an int >= 1 (NumPy integers accepted, booleans refused); see
    :func:`bcekit._checks.check_integer`, whose ValueError names ``name``."""
    return check_integer(value, name, minimum=1)


def check_grad_shape(grad_out: np.ndarray, expected: tuple[int, ...] | None, layer: Layer) -> None:
    """Raise unless ``grad_out`` has the shape of the layer's last output.

    ``expected`` is ``None`` when no forward pass has run yet.
    """
    if expected is None:
        raise RuntimeError(f"{type(layer).__name__}.backward() called before forward()")
    if np.shape(grad_out) != expected:
        raise ValueError(
            f"grad_out must have the shape of the last output {expected}; got {np.shape(grad_out)}"
        )


def pack_parameters(layer: Layer) -> Parameter:
    """Move every parameter of ``layer`` into one contiguous buffer; return it as a Parameter.

    Each parameter's ``value`` and ``grad`` become views into two flat arrays (values and
    gradients are copied over), and the returned :class:`Parameter` holds those flat
    arrays. An optimiser given ``[pack_parameters(model)]`` then updates the whole model
    with one set of array operations instead of one set per parameter, which is what
    dominates the cost of small networks. The update is the same as per-parameter
    updates for element-wise rules (SGD, momentum, Adam, RMSProp).

    Call it before creating the optimiser: the per-layer arrays are replaced. Layers must
    read ``Parameter.value`` and ``Parameter.grad`` on each call rather than keep the
    arrays. Each view starts on a 64-byte boundary; the padding between views stays zero.

    Raises
    ------
    ValueError
        If the layer has no parameters, or they do not share one dtype.
    """
    named = list({id(p): (name, p) for name, p in layer.named_parameters()}.values())
    if not named:
        raise ValueError("layer must have parameters to pack; it has none")
    dtypes = {p.value.dtype for _, p in named}
    if len(dtypes) != 1:
        raise ValueError(
            f"parameters must share one dtype to be packed; got {sorted(map(str, dtypes))}"
        )
    dtype = dtypes.pop()
    step = max(1, 64 // dtype.itemsize)
    offsets, end = [], 0
    for _, p in named:
        offsets.append(end)
        end += -(-p.value.size // step) * step
    flat_value = np.zeros(end, dtype=dtype)
    flat_grad = np.zeros(end, dtype=dtype)
    for (_, p), start in zip(named, offsets, strict=True):
        stop = start + p.value.size
        value = flat_value[start:stop].reshape(p.value.shape)
        grad = flat_grad[start:stop].reshape(p.value.shape)
        value[...] = p.value
        grad[...] = p.grad
        p.value, p.grad = value, grad
    flat = Parameter(flat_value, name="packed")
    flat.grad = flat_grad
    return flat
