"""2-D convolution on channels-last (NHWC) image batches, as im2col plus one matrix product.

Forward, for a ``k×k`` kernel ``W`` of shape ``(k, k, C_in, C_out)`` and stride ``s``::

    y[n, p, q, o] = b[o] + Σ_{i, j, c} x_pad[n, s·p + i, s·q + j, c] · W[i, j, c, o]

The patches ``x_pad[n, s·p + i, s·q + j, :]`` are copied once into a reused column buffer of
shape ``(N·H_out·W_out, k·k·C_in)`` (a strided sliding-window view makes that one copy), so the
sum is a single ``cols @ W`` product. Backward reuses the same columns::

    ∂L/∂W = colsᵀ · G        ∂L/∂b = Σ_pixels G
    ∂L/∂x_pad[n, s·p + i, s·q + j, :] += G[n, p, q, :] · W[i, j]ᵀ     (for each of the k² taps)

where ``G`` is ``∂L/∂y`` flattened to ``(N·H_out·W_out, C_out)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import DTypeLike

from bcekit.nn.base import Layer, Parameter, check_grad_shape
from bcekit.nn.init import he_normal

PADDINGS = ("same", "valid")


def as_images(x: Any, *, name: str = "x", channels: int | None = None) -> np.ndarray:
    """Check that ``x`` is a float NHWC batch ``(N, H, W, C)`` and return it as an array.

    Raises
    ------
    ValueError
        If ``x`` is not 4-D, is empty, or has the wrong number of channels.
    TypeError
        If ``x`` does not hold floating-point numbers.
    """
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"{name} must be a 4-D batch (N, H, W, C); got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{name} must hold floating-point values; got dtype {x.dtype}")
    if min(x.shape) == 0:
        raise ValueError(f"{name} must not be empty; got shape {x.shape}")
    if channels is not None and x.shape[3] != channels:
        raise ValueError(f"{name} must have {channels} channels (last axis); got {x.shape[3]}")
    return x


def conv_geometry(size: int, kernel: int, stride: int, padding: str) -> tuple[int, int, int]:
    """Output length and the (before, after) zero padding along one spatial axis.

    ``"same"`` gives ``ceil(size / stride)`` outputs with the padding split as evenly as
    possible, the odd pixel after (TensorFlow's rule); ``"valid"`` gives
    ``(size − kernel) // stride + 1`` outputs and no padding.
    """
    if padding == "same":
        out = -(-size // stride)
        total = max((out - 1) * stride + kernel - size, 0)
        return out, total // 2, total - total // 2
    if size < kernel:
        raise ValueError(f"padding='valid' needs images at least {kernel} pixels wide; got {size}")
    return (size - kernel) // stride + 1, 0, 0


class Conv2D(Layer):
    """A 2-D convolution layer for NHWC batches.

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the input and of the output.
    kernel_size : int
        Side ``k`` of the square kernel.
    stride : int
        Step between kernel positions, 1 or 2.
    padding : {"same", "valid"}
        ``"same"`` zero-pads so that the output has ``ceil(H / stride)`` rows; ``"valid"``
        uses only positions where the kernel fits inside the image.
    random_state : None, int or Generator
        Seed for the He-normal initial weights, ``W ~ N(0, 2 / (k²·C_in))``; the bias starts at 0.
    dtype : dtype
        Floating dtype of the parameters and of the computation (inputs are cast to it).
    input_grad : bool
        When False, :meth:`backward` only accumulates the parameter gradients and returns
        ``None``: for a network's first layer, whose input (the data) needs no gradient.

    Attributes
    ----------
    params : dict
        ``"weight"`` of shape ``(k, k, in_channels, out_channels)`` and ``"bias"`` of shape
        ``(out_channels,)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        *,
        stride: int = 1,
        padding: str = "same",
        random_state: Any = None,
        dtype: DTypeLike = np.float32,
        input_grad: bool = True,
    ) -> None:
        super().__init__()
        for arg, value in (
            ("in_channels", in_channels),
            ("out_channels", out_channels),
            ("kernel_size", kernel_size),
        ):
            if not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"{arg} must be a positive integer; got {value!r}")
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2; got {stride!r}")
        if padding not in PADDINGS:
            raise ValueError(f"padding must be one of {PADDINGS}; got {padding!r}")
        self.dtype = np.dtype(dtype)
        if not np.issubdtype(self.dtype, np.floating):
            raise TypeError(f"dtype must be a floating dtype; got {self.dtype}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size, self.stride, self.padding = int(kernel_size), stride, padding
        shape = (self.kernel_size, self.kernel_size, self.in_channels, self.out_channels)
        fan_in = self.kernel_size**2 * self.in_channels
        weight = he_normal(
            shape, fan_in=fan_in, fan_out=1, random_state=random_state, dtype=self.dtype
        )
        self.params = {
            "weight": Parameter(weight, "weight"),
            "bias": Parameter(np.zeros(self.out_channels, self.dtype), "bias"),
        }
        self.input_grad = bool(input_grad)
        self._pad_buf: np.ndarray | None = None
        self._grad_buf: np.ndarray | None = None
        self._cols_buf: np.ndarray | None = None
        self._cols: np.ndarray | None = None
        self._in_shape: tuple[int, ...] | None = None
        self._out_shape: tuple[int, ...] | None = None
        self._pads: tuple[int, int, int, int] = (0, 0, 0, 0)

    def _buffer(self, attr: str, shape: tuple[int, ...], zero: bool) -> np.ndarray:
        """A scratch array kept between training calls; reallocated when the shape changes.

        In eval mode nothing is kept: a fresh array is returned, so inference on large
        images does not pin large buffers to the layer.
        """
        if not self.training:
            return np.zeros(shape, self.dtype) if zero else np.empty(shape, self.dtype)
        buf = getattr(self, attr)
        if buf is None or buf.shape != shape:
            buf = np.zeros(shape, self.dtype) if zero else np.empty(shape, self.dtype)
            setattr(self, attr, buf)
        return buf

    def train(self, mode: bool = True) -> Conv2D:
        """Switch mode; leaving training mode frees the scratch buffers kept for training."""
        if not mode:
            self._pad_buf = self._cols_buf = self._grad_buf = self._cols = None
        return super().train(mode)  # type: ignore[return-value]

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_images(x, channels=self.in_channels).astype(self.dtype, copy=False)
        n, h, w, c = x.shape
        k, s = self.kernel_size, self.stride
        ho, top, bottom = conv_geometry(h, k, s, self.padding)
        wo, left, right = conv_geometry(w, k, s, self.padding)
        if top or bottom or left or right:
            # The border of the buffer is written once (zeros); only the interior changes.
            padded = self._buffer("_pad_buf", (n, h + top + bottom, w + left + right, c), True)
            padded[:, top : top + h, left : left + w] = x
        else:
            padded = x
        if k == 1 and s == 1:
            cols = np.ascontiguousarray(padded).reshape(n * ho * wo, c)
        else:
            windows = sliding_window_view(padded, (k, k), axis=(1, 2))[:, ::s, ::s][:, :ho, :wo]
            cols6 = self._buffer("_cols_buf", (n, ho, wo, k, k, c), False)
            np.copyto(cols6, windows.transpose(0, 1, 2, 4, 5, 3))
            cols = cols6.reshape(n * ho * wo, k * k * c)
        weight = self.params["weight"].value.reshape(k * k * c, self.out_channels)
        out = cols @ weight
        out += self.params["bias"].value
        self._cols = cols if self.training else None
        self._in_shape, self._out_shape = x.shape, (n, ho, wo, self.out_channels)
        self._pads = (top, bottom, left, right)
        return out.reshape(self._out_shape)

    def backward(self, grad_out: np.ndarray) -> np.ndarray | None:
        check_grad_shape(grad_out, self._out_shape, self)
        if self._cols is None:
            raise RuntimeError(
                "Conv2D.backward() needs a forward() pass in training mode before each call"
            )
        n, ho, wo, co = self._out_shape
        _, h, w, c = self._in_shape
        k, s = self.kernel_size, self.stride
        g = np.ascontiguousarray(grad_out, dtype=self.dtype).reshape(n * ho * wo, co)
        weight = self.params["weight"]
        cols, self._cols = self._cols, None
        weight.grad += (cols.T @ g).reshape(weight.grad.shape)
        # A matrix-vector product sums the rows much faster than g.sum(axis=0).
        self.params["bias"].grad += np.ones(g.shape[0], self.dtype) @ g
        if not self.input_grad:
            return None
        if k == 1 and s == 1:
            return (g @ weight.value.reshape(c, co).T).reshape(self._in_shape)
        # One batched product gives every tap's contribution G·W[i, j]ᵀ as a contiguous slab
        # (written over the column buffer, which is no longer needed), then each slab is
        # added at its (i, j) offset into the padded input gradient.
        taps = cols.reshape(k * k, n * ho * wo, c)
        np.matmul(g, weight.value.reshape(k * k, c, co).transpose(0, 2, 1), out=taps)
        top, bottom, left, right = self._pads
        grad_pad = self._buffer("_grad_buf", (n, h + top + bottom, w + left + right, c), False)
        grad_pad.fill(0)
        for t, (i, j) in enumerate(np.ndindex(k, k)):
            rows = slice(i, i + s * (ho - 1) + 1, s)
            columns = slice(j, j + s * (wo - 1) + 1, s)
            grad_pad[:, rows, columns] += taps[t].reshape(n, ho, wo, c)
        return grad_pad[:, top : top + h, left : left + w].copy()

    def __repr__(self) -> str:
        return (
            f"Conv2D({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding!r})"
        )
