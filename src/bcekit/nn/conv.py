"""2-D convolution on channels-last (NHWC) image batches, as im2col plus matrix products.

Forward, for a ``k×k`` kernel ``W`` of shape ``(k, k, C_in, C_out)`` and stride ``s``::

    y[n, p, q, o] = b[o] + Σ_{i, j, c} x_pad[n, s·p + i, s·q + j, c] · W[i, j, c, o]

The patches ``x_pad[n, s·p + i, s·q + j, :]`` of a block of output rows are copied into a
column matrix ``cols`` of shape ``(pixels, k·k·C_in)`` (one copy from a strided sliding-window
view), and the block's outputs are one product ``cols @ W``. Blocks hold a few MiB of columns,
so each is still in cache when the product reads it. Backward rebuilds each block's columns
(cheaper than keeping all of them in memory) and, with ``G = ∂L/∂y`` of the block::

    ∂L/∂W += colsᵀ · G        ∂L/∂b = Σ_pixels G

The input gradient takes one of two routes, whichever moves less memory:

- *scatter* (``C_out > C_in``, or stride 2): the k² products ``G · W[i, j]ᵀ`` come from one
  batched matrix product and each is added at its ``(i, j)`` offset,
  ``∂L/∂x_pad[n, s·p + i, s·q + j, :] += G[n, p, q, :] · W[i, j]ᵀ``;
- *transposed convolution* (stride 1, ``C_out ≤ C_in``): the same sum read the other way is a
  convolution of ``G``, zero-padded by ``k − 1 −`` the forward padding on each side, with the
  kernel turned by 180° and its channel axes swapped,
  ``∂L/∂x[n, a, b, c] = Σ_{i, j, o} G_pad[n, a + i, b + j, o] · W[k−1−i, k−1−j, c, o]``:
  the forward pass's im2col and one product, with no scattered additions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import DTypeLike

from bcekit.nn import _parallel
from bcekit.nn.base import Layer, Parameter, check_grad_shape, positive_int
from bcekit.nn.dense import float_dtype
from bcekit.nn.init import he_normal

PADDINGS = ("same", "valid")
#: Size of the column matrix of one block of output rows (fits in a core's share of cache).
BLOCK_BYTES = 4 * 2**20


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
        in_channels = positive_int("in_channels", in_channels)
        out_channels = positive_int("out_channels", out_channels)
        kernel_size = positive_int("kernel_size", kernel_size)
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2; got {stride!r}")
        if padding not in PADDINGS:
            raise ValueError(f"padding must be one of {PADDINGS}; got {padding!r}")
        self.dtype = float_dtype(dtype)
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
        self._scratch: dict[str, list[np.ndarray | None]] = {"cols": [], "scatter": []}
        self._padded: np.ndarray | None = None
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

    def _slot_buffer(self, kind: str, slot: int, size: int) -> np.ndarray:
        """``size`` elements of the flat scratch array ``kind`` of worker ``slot``.

        Kept between training calls and grown when too small (never shrunk); fresh in eval
        mode. Each slot is used by one thread at a time.
        """
        slots = self._scratch[kind]
        buf = slots[slot] if self.training else None
        if buf is None or buf.size < size:
            buf = np.empty(max(size, BLOCK_BYTES // self.dtype.itemsize), self.dtype)
            if self.training:
                slots[slot] = buf
        return buf[:size]

    def _run(self, work: Any, items: list[Any]) -> list[Any]:
        """``work(slot, share)`` over ``items`` dealt to the worker threads."""
        groups = _parallel.deal(items, _parallel.workers())
        for slots in self._scratch.values():
            slots.extend([None] * (len(groups) - len(slots)))
        return _parallel.run(work, groups)

    def train(self, mode: bool = True) -> Conv2D:
        """Switch mode; leaving training mode frees the scratch buffers kept for training."""
        if not mode:
            self._pad_buf = self._grad_buf = self._padded = None
            self._scratch = {"cols": [], "scatter": []}
        return super().train(mode)  # type: ignore[return-value]

    def _blocks(self, shape: tuple[int, ...] | None = None) -> list[tuple[slice, list[slice]]]:
        """Image chunks, each with its blocks of output rows, of about BLOCK_BYTES of columns.

        ``shape`` is ``(n, rows, columns, channels)`` of the correlation's output and input
        channels (the forward pass's by default). Small images go several to a block (all
        their rows); a large image is split into blocks of rows. There are at least as many
        blocks as worker threads when the images or rows allow it.
        """
        n, ho, wo, c = shape or (*self._out_shape[:3], self.in_channels)
        parts = _parallel.workers()
        row_bytes = wo * self.kernel_size**2 * c * self.dtype.itemsize
        rows = min(ho, max(1, BLOCK_BYTES // row_bytes))
        if n < parts:
            rows = min(rows, -(-ho * n // parts))
        images = max(1, BLOCK_BYTES // (row_bytes * ho)) if rows == ho else 1
        images = min(images, -(-n // parts))
        row_blocks = [slice(p, min(p + rows, ho)) for p in range(0, ho, rows)]
        return [(slice(i, min(i + images, n)), row_blocks) for i in range(0, n, images)]

    def _columns(
        self, slot: int, src: np.ndarray, images: slice, rows: slice, stride: int, wo: int
    ) -> np.ndarray:
        """The column matrix of one block of ``src`` (padded): ``(pixels, k·k·C)``, in the
        scratch array of worker ``slot``."""
        k, c = self.kernel_size, src.shape[3]
        src = src[images, stride * rows.start : stride * (rows.stop - 1) + k]
        if k == 1 and stride == 1:
            return np.ascontiguousarray(src).reshape(-1, c)
        windows = sliding_window_view(src, (k, k), axis=(1, 2))[:, ::stride, ::stride][:, :, :wo]
        b, r = windows.shape[:2]
        cols = self._slot_buffer("cols", slot, b * r * wo * k * k * c).reshape(b, r, wo, k, k, c)
        np.copyto(cols, windows.transpose(0, 1, 2, 4, 5, 3))
        return cols.reshape(-1, k * k * c)

    def _correlate(self, src: np.ndarray, weight: np.ndarray, out: np.ndarray, stride: int) -> None:
        """``out[n, p, q] = Σ_{i, j, c} src[n, s·p + i, s·q + j, c] · weight[(i, j, c)]``,
        block by block (``weight`` is ``(k·k·C, C_out)``)."""
        n, ho, wo, co = out.shape
        blocks = self._blocks((n, ho, wo, src.shape[3]))

        def work(slot: int, share: list[tuple[slice, slice]]) -> None:
            for images, rows in share:
                block = out[images, rows].reshape(-1, co)
                np.matmul(self._columns(slot, src, images, rows, stride, wo), weight, out=block)

        self._run(work, [(images, rows) for images, row_blocks in blocks for rows in row_blocks])

    def _weight_grad(self, g: np.ndarray) -> np.ndarray:
        """``Σ_blocks colsᵀ · G``, shape ``(k·k·C_in, C_out)``."""
        wo, co = self._out_shape[2:]

        def work(slot: int, share: list[tuple[slice, slice]]) -> np.ndarray:
            total = np.zeros((self.kernel_size**2 * self.in_channels, co), self.dtype)
            for images, rows in share:
                cols = self._columns(slot, self._padded, images, rows, self.stride, wo)
                total += cols.T @ g[images, rows].reshape(-1, co)
            return total

        blocks = [(images, rows) for images, row_blocks in self._blocks() for rows in row_blocks]
        return sum(self._run(work, blocks))

    def _pad(self, attr: str, x: np.ndarray, pads: tuple[int, int, int, int]) -> np.ndarray:
        """``x`` zero-padded by ``(top, bottom, left, right)``, in a reused buffer."""
        top, bottom, left, right = pads
        if not any(pads):
            return x
        n, h, w, c = x.shape
        # The border of the buffer is written once (zeros); only the interior changes.
        padded = self._buffer(attr, (n, h + top + bottom, w + left + right, c), True)
        padded[:, top : top + h, left : left + w] = x
        return padded

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_images(x, channels=self.in_channels).astype(self.dtype, copy=False)
        n, h, w, c = x.shape
        k, s = self.kernel_size, self.stride
        ho, top, bottom = conv_geometry(h, k, s, self.padding)
        wo, left, right = conv_geometry(w, k, s, self.padding)
        self._pads = (top, bottom, left, right)
        self._padded = self._pad("_pad_buf", x, self._pads)
        self._in_shape, self._out_shape = x.shape, (n, ho, wo, self.out_channels)
        out = np.empty(self._out_shape, self.dtype)
        weight = self.params["weight"].value.reshape(k * k * c, self.out_channels)
        self._correlate(self._padded, weight, out, s)
        out += self.params["bias"].value
        if not self.training:
            self._padded = None
        return out

    def backward(self, grad_out: np.ndarray) -> np.ndarray | None:
        check_grad_shape(grad_out, self._out_shape, self)
        if self._padded is None:
            raise RuntimeError(
                "Conv2D.backward() needs a forward() pass in training mode before each call"
            )
        n, ho, wo, co = self._out_shape
        c, k, s = self.in_channels, self.kernel_size, self.stride
        g = np.ascontiguousarray(grad_out, dtype=self.dtype)
        weight, w_grad = self.params["weight"], self.params["weight"].grad.reshape(-1, co)
        # A matrix-vector product sums the rows much faster than g.sum(axis=(0, 1, 2)).
        self.params["bias"].grad += np.ones(n * ho * wo, self.dtype) @ g.reshape(-1, co)
        pointwise = k == s == 1
        if self.input_grad and not pointwise and not (s == 1 and co <= c):
            return self._scatter_input_grad(g, weight.value, w_grad)
        w_grad += self._weight_grad(g)
        if not self.input_grad:
            return None
        if pointwise:
            return (g.reshape(-1, co) @ weight.value.reshape(c, co).T).reshape(self._in_shape)
        return self._transposed_input_grad(g)

    def _transposed_input_grad(self, g: np.ndarray) -> np.ndarray:
        """``∂L/∂x`` as the convolution of padded ``G`` with the turned kernel (stride 1)."""
        k, c, co = self.kernel_size, self.in_channels, self.out_channels
        top, bottom, left, right = self._pads
        pads = (k - 1 - top, k - 1 - bottom, k - 1 - left, k - 1 - right)
        turned = self.params["weight"].value[::-1, ::-1].transpose(0, 1, 3, 2)
        grad_in = np.empty(self._in_shape, self.dtype)
        weight = np.ascontiguousarray(turned).reshape(k * k * co, c)
        self._correlate(self._pad("_grad_buf", g, pads), weight, grad_in, 1)
        return grad_in

    def _scatter_input_grad(
        self, g: np.ndarray, weight: np.ndarray, w_grad: np.ndarray
    ) -> np.ndarray:
        """``∂L/∂W`` (added to ``w_grad``) and ``∂L/∂x`` by adding each tap's product at its
        offset, image chunk by image chunk."""
        wo, co = self._out_shape[2:]
        _, h, w, c = self._in_shape
        k, s = self.kernel_size, self.stride
        top, bottom, left, right = self._pads
        taps_weight = weight.reshape(k * k, c, co).transpose(0, 2, 1)
        grad_in = np.empty(self._in_shape, self.dtype)
        padded_size = (h + top + bottom, w + left + right, c)

        def work(slot: int, chunks: list[tuple[slice, list[slice]]]) -> np.ndarray:
            total = np.zeros_like(w_grad)
            for images, row_blocks in chunks:
                b = images.stop - images.start
                size = b * int(np.prod(padded_size))
                grad_pad = self._slot_buffer("scatter", slot, size).reshape(b, *padded_size)
                grad_pad.fill(0)
                for rows in row_blocks:
                    cols = self._columns(slot, self._padded, images, rows, s, wo)
                    g_block = g[images, rows].reshape(-1, co)
                    total += cols.T @ g_block
                    # Every tap's G·W[i, j]ᵀ as a contiguous slab, written over the columns.
                    taps = cols.reshape(k * k, -1, c)
                    np.matmul(g_block, taps_weight, out=taps)
                    r = rows.stop - rows.start
                    for t, (i, j) in enumerate(np.ndindex(k, k)):
                        row_sel = slice(s * rows.start + i, s * (rows.stop - 1) + i + 1, s)
                        col_sel = slice(j, j + s * (wo - 1) + 1, s)
                        grad_pad[:, row_sel, col_sel] += taps[t].reshape(b, r, wo, c)
                grad_in[images] = grad_pad[:, top : top + h, left : left + w]
            return total

        w_grad += sum(self._run(work, self._blocks()))
        return grad_in

    def __repr__(self) -> str:
        return (
            f"Conv2D({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding!r})"
        )
