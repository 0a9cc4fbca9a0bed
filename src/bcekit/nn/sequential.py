"""Sequential: layers applied in order, and the :func:`mlp` builder on top of it."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, overload

import numpy as np
from numpy.typing import DTypeLike

from ._chain import DenseChain
from .activations import ACTIVATIONS, ReLU, get_activation
from .base import Layer, positive_int
from .dense import Dense, float_dtype
from .init import as_generator
from .memory import TRAINING_COPIES, require_memory
from .normalization import BatchNorm
from .regularization import Dropout


class Sequential(Layer):
    r"""A chain of layers: ``forward`` runs them first to last, ``backward`` last to first.

    .. math:: y = f_k(\cdots f_2(f_1(x))),\qquad
              ∂L/∂x = J_{f_1}^\top \cdots J_{f_k}^\top\, ∂L/∂y

    The input is cast once, on entry, to the dtype of the model's parameters (all of
    which must share one dtype), so a float32 model runs in float32 throughout.
    Parameters are named ``"<index>.<name>"`` (``"0.weight"``, ``"0.bias"``, ...).

    A chain of Dense layers with ReLU or no activations between them (:func:`mlp` with
    "relu" or "identity" and no dropout) runs as one step per Dense layer in each direction
    (:mod:`bcekit.nn._chain`: a compiled call once Numba is loaded, a few NumPy calls before);
    the activation layers' own ``backward`` then needs their own ``forward`` first. Likewise
    a :class:`BatchNorm` followed by a :class:`ReLU` runs as one compiled pass in training
    mode (:meth:`BatchNorm.forward_relu`, the same bits as the two layers).

    Parameters
    ----------
    layers : iterable of Layer
        The layers, in the order the input goes through them.
    """

    def __init__(self, layers: Iterable[Layer]) -> None:
        super().__init__()
        if isinstance(layers, Layer):
            raise TypeError("layers must be an iterable of Layer; got a single Layer")
        self.layers: tuple[Layer, ...] = tuple(layers)
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layers[{i}] must be a Layer; got {type(layer).__name__}")
        dtypes = {p.value.dtype for p in self.parameters()}
        if len(dtypes) > 1:
            raise ValueError(f"all parameters must share one dtype; got {sorted(map(str, dtypes))}")
        self.dtype: np.dtype | None = dtypes.pop() if dtypes else None
        self._chain = DenseChain.of(self.layers)
        # BatchNorm layers followed by a ReLU: run as one pass while training (forward_relu).
        self._norm_relu = frozenset(
            i
            for i, (a, b) in enumerate(itertools.pairwise(self.layers))
            if type(a) is BatchNorm and type(b) is ReLU
        )
        self._fused: frozenset[int] = frozenset()  # those the last forward pass fused

    def children(self) -> list[tuple[str, Layer]]:
        return [(str(i), layer) for i, layer in enumerate(self.layers)]

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x) if self.dtype is None else np.asarray(x, dtype=self.dtype)
        chain = self._chain
        if chain is not None:
            if chain.applies(x):
                return chain.forward(x)
            chain.forget()
        if not self._norm_relu:
            for layer in self.layers:
                x = layer.forward(x)
            return x
        fused, i, layers = [], 0, self.layers
        while i < len(layers):
            y = layers[i].forward_relu(x) if i in self._norm_relu else None
            if y is None:
                x = layers[i].forward(x)
                i += 1
            else:
                layers[i + 1]._shape = None  # the ReLU's own backward needs its own forward
                fused.append(i)
                x, i = y, i + 2
        self._fused = frozenset(fused)
        return x

    def backward(self, grad_out: np.ndarray) -> np.ndarray | None:
        """Back-propagate ``grad_out`` from the last layer to the first.

        Returns ``∂L/∂x``, or ``None`` when the first layer was built not to compute it.
        """
        if self._chain is not None and self._chain.ready():
            return self._chain.backward(grad_out)
        grad, fused = grad_out, self._fused
        i = len(self.layers) - 1
        while i >= 0:
            if i - 1 in fused:
                i -= 1
                grad = self.layers[i].backward_relu(grad)
            else:
                grad = self.layers[i].backward(grad)
            if grad is None:
                if any(layer.parameters() for layer in self.layers[:i]):
                    raise RuntimeError(
                        f"layer {i} returned no input gradient but earlier layers have "
                        "parameters; only the first layer may skip it (input_grad=False)"
                    )
                return None
            i -= 1
        return grad

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    @overload
    def __getitem__(self, index: int) -> Layer: ...
    @overload
    def __getitem__(self, index: slice) -> Sequential: ...
    def __getitem__(self, index: int | slice) -> Layer | Sequential:
        if isinstance(index, slice):
            return Sequential(self.layers[index])
        return self.layers[index]

    def __repr__(self) -> str:
        inner = "".join(f"\n  ({i}): {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential({inner}\n)"


def mlp(
    n_in: int,
    hidden_sizes: Sequence[int],
    n_out: int,
    activation: str = "relu",
    dropout: float = 0.0,
    *,
    dtype: DTypeLike = np.float64,
    random_state: Any = None,
    input_grad: bool = True,
) -> Sequential:
    """A multilayer perceptron: ``Dense → activation [→ Dropout]`` per hidden layer, then Dense.

    The output layer is linear: the model returns logits, and the loss applies the
    sigmoid or softmax. Each Dense layer is initialised for the activation that follows
    it (He for the ReLU family, Glorot otherwise; Glorot for the output). Hidden
    activations work in place on the Dense outputs, which no other layer reads.

    Parameters
    ----------
    n_in, n_out : int
        Number of input features and of outputs (1 for binary classification).
    hidden_sizes : sequence of int
        Width of each hidden layer; empty gives a linear model.
    activation : str
        Hidden activation, a key of :data:`bcekit.nn.activations.ACTIVATIONS`.
    dropout : float
        Dropout probability after each hidden activation, in [0, 1); 0 adds no layer.
    dtype : {np.float32, np.float64}
        Dtype of the parameters and of every computation.
    random_state : None, int, Generator or RandomState
        Seeds the weights of every layer and the dropout masks.
    input_grad : bool
        False lets the first layer skip ``∂L/∂x``; ``backward`` then returns ``None``.

    Returns
    -------
    Sequential

    Raises
    ------
    NetworkTooLargeError
        Training the network would need more memory than is available (:func:`mlp_bytes`).
    """
    sizes = _widths(n_in, hidden_sizes, n_out)[1:-1]
    n_in, n_out = int(n_in), int(n_out)
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}; got {activation!r}")
    if isinstance(dropout, bool) or not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be a float in [0, 1); got {dropout!r}")
    dtype = float_dtype(dtype)
    require_memory(
        mlp_bytes(n_in, sizes, n_out, dtype),
        f"an MLP of {n_in} inputs, hidden layers {sizes!r:.60} and {n_out} output"
        + ("s" if n_out > 1 else ""),
    )
    rng = as_generator(random_state)
    layers: list[Layer] = []
    widths = [n_in, *sizes]
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(widths)):
        layers.append(
            Dense(
                fan_in,
                fan_out,
                activation_hint=activation,
                dtype=dtype,
                random_state=rng,
                input_grad=input_grad or i > 0,
            )
        )
        layers.append(get_activation(activation, inplace=True))
        if dropout > 0:
            layers.append(Dropout(dropout, random_state=rng))
    layers.append(
        Dense(
            widths[-1], n_out, dtype=dtype, random_state=rng, input_grad=input_grad or sizes != []
        )
    )
    return Sequential(layers)


def _widths(n_in: int, hidden_sizes: Sequence[int] | int, n_out: int) -> list[int]:
    """``[n_in, *hidden_sizes, n_out]``, each checked to be a positive integer."""
    if isinstance(hidden_sizes, int | np.integer):
        hidden_sizes = [hidden_sizes]
    return [
        positive_int("n_in", n_in),
        *(positive_int(f"hidden_sizes[{i}]", h) for i, h in enumerate(hidden_sizes)),
        positive_int("n_out", n_out),
    ]


def mlp_shapes(
    n_in: int, hidden_sizes: Sequence[int] | int, n_out: int, dropout: float = 0.0
) -> dict[str, tuple[int, ...]]:
    """The name and shape of every array in the ``state_dict()`` of :func:`mlp`, unbuilt.

    Hidden layer ``i`` is ``Dense`` (``(fan_in, fan_out)`` weight, ``(fan_out,)`` bias),
    activation and, when ``dropout > 0``, Dropout; so its Dense layer is layer
    ``i·(2 + [dropout > 0])``. Compare these with arrays read from a file before building.
    """
    widths = _widths(n_in, hidden_sizes, n_out)
    step = 3 if dropout > 0 else 2
    shapes: dict[str, tuple[int, ...]] = {}
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(widths)):
        shapes[f"{i * step}.weight"] = (fan_in, fan_out)
        shapes[f"{i * step}.bias"] = (fan_out,)
    return shapes


def mlp_bytes(
    n_in: int,
    hidden_sizes: Sequence[int] | int,
    n_out: int,
    dtype: DTypeLike = np.float64,
    *,
    batch_size: int = 0,
) -> int:
    r"""Estimated bytes to train :func:`mlp` on batches of ``batch_size`` rows.

    .. math:: b \cdot \bigl(c \cdot P + 4 \cdot B \textstyle\sum_l w_l\bigr)

    with ``b`` the item size, ``P`` the number of parameters, ``c`` =
    :data:`~bcekit.nn.memory.TRAINING_COPIES` (weights, gradients, two optimiser moments),
    ``B`` the batch size and ``w_l`` the width of each layer after the input (each keeps its
    output, the gradient reaching it, a dropout mask or activation buffer, and room for the
    forward pass that scores validation rows). With ``batch_size=0`` only the parameters are
    counted. Measured: 3.9 GiB peak RSS for an estimate of 4.2 GiB (4 inputs, a hidden layer
    of 2,000,000, batches of 64, float64).
    """
    widths = _widths(n_in, hidden_sizes, n_out)
    n_params = sum(a * b + b for a, b in itertools.pairwise(widths))
    itemsize = float_dtype(dtype).itemsize
    return itemsize * (TRAINING_COPIES * n_params + 4 * int(batch_size) * sum(widths[1:]))
