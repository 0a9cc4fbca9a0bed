"""2-D convolution on channels-last (NHWC) image batches, as im2col plus matrix products.

Forward, for a ``k×k`` kernel ``W`` of shape ``(k, k, C_in, C_out)`` and stride ``s``::

    y[n, p, q, o] = b[o] + Σ_{i, j, c} x_pad[n, s·p + i, s·q + j, c] · W[i, j, c, o]

The patches ``x_pad[n, s·p + i, s·q + j, :]`` of a block of output rows are copied into a
column matrix ``cols`` of shape ``(pixels, k·k·C_in)`` (one copy from a strided sliding-window
view), and the block's outputs are one product ``cols @ W``. Blocks hold a few MiB of columns,
so each is still in cache when the product reads it. Backward rebuilds each block's columns
(cheaper than keeping all of them in memory); with ``G = ∂L/∂y`` of the block::

    ∂L/∂W += colsᵀ · G        ∂L/∂b = Σ_pixels G

For stride 1 the input gradient is itself a convolution: ``G`` zero-padded by ``k − 1 − pad``
on each side, correlated with the kernel flipped in space and transposed in channels,
``W'[i, j, o, c] = W[k−1−i, k−1−j, c, o]``, by the same im2col and one product per block::

    ∂L/∂x[n, u, v, c] = Σ_{i, j, o} G_pad[n, u + i, v + j, o] · W'[i, j, o, c]

For stride 2, every tap's ``G·W[i, j]ᵀ`` comes from one wide product, ``G · W₂`` with ``W₂``
the weight as ``(C_out, k·k·C_in)``, and each tap's slice of it is added at its ``(i, j)``
offset of ``∂L/∂x_pad``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided
from numpy.typing import DTypeLike

from bcekit.nn._block_threads import parts, run_in_parts
from bcekit.nn.base import Layer, Parameter, check_grad_shape, positive_int
from bcekit.nn.dense import float_dtype
from bcekit.nn.init import he_normal

PADDINGS = ("same", "valid")
#: Size of the column matrix of one block of output rows (fits in a core's share of cache).
BLOCK_BYTES = 4 * 2**20


def _blocks(n: int, height: int, row_bytes: int, parts: int = 1) -> list[tuple[slice, list[slice]]]:
    """Image chunks of ``n`` images of ``height`` rows, each with its blocks of rows, of at
    most about BLOCK_BYTES of columns when a row's columns take ``row_bytes``.

    Small images go several to a block (all their rows); a large image is split into blocks
    of rows. Either way a block ``out[images, rows]`` of an ``(n, height, ...)`` array is
    contiguous. The blocks are of equal size as far as whole images (rows) allow, and there
    are a multiple of ``parts`` of them where there is enough work, so that each of ``parts``
    threads gets its share.
    """
    image_bytes = height * row_bytes
    if image_bytes <= BLOCK_BYTES and n >= parts:
        images = _block_size(n, max(1, BLOCK_BYTES // image_bytes), parts)
        return [(slice(i, min(i + images, n)), [slice(0, height)]) for i in range(0, n, images)]
    # Fewer images than parts: each image's rows give it its shares.
    rows = _block_size(height, max(1, BLOCK_BYTES // row_bytes), -(-parts // n))
    row_blocks = [slice(p, min(p + rows, height)) for p in range(0, height, rows)]
    return [(slice(i, i + 1), row_blocks) for i in range(n)]


def _block_size(units: int, most: int, parts: int) -> int:
    """Units per block when ``units`` are cut into blocks of equal size (the last one
    smaller): at most ``most``, for a number of blocks rounded up to a multiple of ``parts``,
    and at least ``parts`` blocks where there are that many units (rounding the size up
    could leave fewer: 4 units in 3 blocks of 2)."""
    count = -(-units // most)
    count = min(units, -(-count // parts) * parts)
    size = -(-units // count)
    if units >= parts and -(-units // size) < parts:
        size = units // parts
    return size


def _flat(blocks: list[tuple[slice, list[slice]]]) -> list[tuple[slice, slice]]:
    """The ``(images, rows)`` pairs of :func:`_blocks`, in order."""
    return [(images, rows) for images, row_blocks in blocks for rows in row_blocks]


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
        self._cols_bufs: list[np.ndarray | None] = [None]
        self._grad_buf: np.ndarray | None = None
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

    def train(self, mode: bool = True) -> Conv2D:
        """Switch mode; leaving training mode frees the scratch buffers kept for training."""
        if not mode:
            self._pad_buf = self._grad_buf = self._padded = None
            self._cols_bufs = [None]
        return super().train(mode)  # type: ignore[return-value]

    def _blocks(self, threads: int = 1) -> list[tuple[slice, list[slice]]]:
        """Blocks of the output rows, of about BLOCK_BYTES of columns each (:func:`_blocks`)."""
        n, ho, wo, _ = self._out_shape
        row_bytes = wo * self.kernel_size**2 * self.in_channels * self.dtype.itemsize
        return _blocks(n, ho, row_bytes, threads)

    def _columns(self, images: slice, rows: slice, part: int = 0) -> np.ndarray:
        """The column matrix of one block: ``(pixels, k·k·C_in)``, in part ``part``'s buffer."""
        k, s = self.kernel_size, self.stride
        src = self._padded[images, s * rows.start : s * (rows.stop - 1) + k]
        if k == 1 and s == 1:
            return np.ascontiguousarray(src).reshape(-1, self.in_channels)
        return self._window_columns(src, s, self._out_shape[2], part)

    def _window_columns(self, src: np.ndarray, stride: int, width: int, part: int) -> np.ndarray:
        """The ``(pixels, k·k·C)`` columns of the ``k×k`` windows of ``src`` ``(b, rows, W, C)``
        at ``stride``, ``width`` windows per row, copied into part ``part``'s reused buffer."""
        k = self.kernel_size
        b, height, _, c = src.shape
        r = (height - k) // stride + 1
        # windows[n, i, j, di, dj] = src[n, stride·i + di, stride·j + dj]: a strided view
        # (NumPy's sliding_window_view builds the same in about 4x the Python time, which
        # the block threads would spend holding the GIL).
        s0, s1, s2, s3 = src.strides
        windows = as_strided(
            src, (b, r, width, k, k, c), (s0, stride * s1, stride * s2, s1, s2, s3),
            writeable=False,
        )  # fmt: skip
        size = b * r * width * k * k * c
        buf = self._column_buffer(part, max(size, BLOCK_BYTES // self.dtype.itemsize))
        cols = buf[:size].reshape(b, r, width, k, k, c)
        if c == 1:
            # One copy per tap: NumPy copies single values 3x faster than runs of k.
            for i, j in np.ndindex(k, k):
                cols[:, :, :, i, j] = windows[:, :, :, i, j]
        else:
            np.copyto(cols, windows)
        return cols.reshape(-1, k * k * c)

    def _column_buffer(self, part: int, capacity: int) -> np.ndarray:
        """Part ``part``'s column buffer, of at least ``capacity`` elements (kept in training)."""
        if not self.training:
            return np.empty(capacity, self.dtype)
        bufs = self._cols_bufs
        bufs.extend([None] * (part + 1 - len(bufs)))
        buf = bufs[part]
        if buf is None or buf.size < capacity:
            buf = bufs[part] = np.empty(capacity, self.dtype)
        return buf

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
        self._padded, self._pads = padded, (top, bottom, left, right)
        self._in_shape, self._out_shape = x.shape, (n, ho, wo, self.out_channels)
        weight = self.params["weight"].value.reshape(k * k * c, self.out_channels)
        out = np.empty(self._out_shape, self.dtype)

        def fill(part: int, blocks: list[tuple[slice, slice]]) -> None:
            for images, rows in blocks:
                block = out[images, rows].reshape(-1, self.out_channels)
                np.matmul(self._columns(images, rows, part), weight, out=block)

        run_in_parts(fill, _flat(self._blocks(parts())))
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
        c = self._in_shape[3]
        k, s = self.kernel_size, self.stride
        g = np.ascontiguousarray(grad_out, dtype=self.dtype)
        weight, w_grad = self.params["weight"], self.params["weight"].grad.reshape(-1, co)
        # A matrix-vector product sums the rows much faster than g.sum(axis=(0, 1, 2)).
        self.params["bias"].grad += np.ones(n * ho * wo, self.dtype) @ g.reshape(-1, co)
        if s == 2 and self.input_grad:
            return self._grads_by_taps(g, w_grad)

        def weight_grad(part: int, blocks: list[tuple[slice, slice]]) -> np.ndarray:
            # (∂L/∂W)ᵀ = Gᵀ·cols: with few output channels BLAS runs this product about
            # 1.5x faster than colsᵀ·G.
            total = np.zeros(w_grad.shape[::-1], w_grad.dtype)
            for images, rows in blocks:
                total += g[images, rows].reshape(-1, co).T @ self._columns(images, rows, part)
            return total

        for partial in run_in_parts(weight_grad, _flat(self._blocks(parts()))):
            w_grad += partial.T
        if not self.input_grad:
            return None
        if k == 1:
            return (g.reshape(-1, co) @ weight.value.reshape(c, co).T).reshape(self._in_shape)
        return self._input_grad_stride_1(g)

    def _input_grad_stride_1(self, g: np.ndarray) -> np.ndarray:
        """``∂L/∂x`` as a convolution: ``G`` padded by ``k − 1 − pad``, flipped kernel."""
        n, ho, wo, co = self._out_shape
        _, h, w, c = self._in_shape
        k = self.kernel_size
        top, _, left, _ = self._pads
        # The border of the buffer is written once (zeros); only the interior changes.
        g_pad = self._buffer("_grad_buf", (n, h + k - 1, w + k - 1, co), True)
        g_pad[:, k - 1 - top : k - 1 - top + ho, k - 1 - left : k - 1 - left + wo] = g
        flipped = self.params["weight"].value[::-1, ::-1].transpose(0, 1, 3, 2)
        flipped = np.ascontiguousarray(flipped).reshape(k * k * co, c)
        grad_in = np.empty(self._in_shape, self.dtype)

        def fill(part: int, blocks: list[tuple[slice, slice]]) -> None:
            for images, rows in blocks:
                src = g_pad[images, rows.start : rows.stop + k - 1]
                cols = self._window_columns(src, 1, w, part)
                np.matmul(cols, flipped, out=grad_in[images, rows].reshape(-1, c))

        row_bytes = w * k * k * co * self.dtype.itemsize
        run_in_parts(fill, _flat(_blocks(n, h, row_bytes, parts())))
        return grad_in

    def _grads_by_taps(self, g: np.ndarray, w_grad: np.ndarray) -> np.ndarray:
        """``∂L/∂W`` (added to ``w_grad``) and ``∂L/∂x`` for stride 2, in one pass over the
        blocks: each tap's ``G·W[i, j]ᵀ`` is added at its offset."""
        wo, co = self._out_shape[2:]
        _, h, w, c = self._in_shape
        k, s = self.kernel_size, self.stride
        top, bottom, left, right = self._pads
        # (C_out, k·k·C_in): one product gives every tap's G·W[i, j]ᵀ side by side.
        taps_weight = self.params["weight"].value.reshape(k * k * c, co).T
        grad_in = np.empty(self._in_shape, self.dtype)
        blocks = self._blocks()
        most = blocks[0][0].stop - blocks[0][0].start
        grad_buf = self._buffer("_grad_buf", (most, h + top + bottom, w + left + right, c), False)
        for images, row_blocks in blocks:
            b = images.stop - images.start
            grad_pad = grad_buf[:b]
            grad_pad.fill(0)
            for rows in row_blocks:
                cols = self._columns(images, rows)
                g_block = g[images, rows].reshape(-1, co)
                w_grad += cols.T @ g_block
                # Every tap's G·W[i, j]ᵀ, pixel by pixel, written over the columns.
                np.matmul(g_block, taps_weight, out=cols)
                taps = cols.reshape(b, rows.stop - rows.start, wo, k * k, c)
                for t, (i, j) in enumerate(np.ndindex(k, k)):
                    row_sel = slice(s * rows.start + i, s * (rows.stop - 1) + i + 1, s)
                    col_sel = slice(j, j + s * (wo - 1) + 1, s)
                    grad_pad[:, row_sel, col_sel] += taps[:, :, :, t]
            grad_in[images] = grad_pad[:, top : top + h, left : left + w]
        return grad_in

    def __repr__(self) -> str:
        return (
            f"Conv2D({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding!r})"
        )
