"""U-Net: an encoder–decoder of convolution blocks with skip connections, for per-pixel logits.

With ``depth = D`` and ``base_width = F``, level ``l`` works at ``1/2^l`` of the input
resolution with ``F·2^l`` channels::

    x ─► enc0 ───────────────────────────────► cat ─► dec0 ─► head (1×1) ─► logits
          │ pool                                ▲ up
          ▼                                     │
         enc1 ─────────────────────► cat ─► dec1
          │ pool                      ▲ up
          ▼                           │
         bottleneck ──────────────────┘

Each ``enc``/``dec``/``bottleneck`` block is ``(Conv3×3 → ReLU) × 2``, or
``(Conv3×3 → BatchNorm → ReLU) × 2`` with ``batch_norm=True``. Pooling is 2×2 max
pooling, ``up`` is 2× upsampling, ``cat`` joins the upsampled map with the encoder's output
at the same level along the channel axis. Height and width must be multiples of ``2^D``.

The backward pass walks the same graph in reverse; the gradient reaching each encoder
output is the sum of what comes back through its skip connection and through its pool.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from bcekit.nn.activations import ReLU
from bcekit.nn.base import Layer, positive_int
from bcekit.nn.conv import Conv2D, as_images
from bcekit.nn.init import as_generator
from bcekit.nn.memory import TRAINING_COPIES, require_memory
from bcekit.nn.merge import Concatenate
from bcekit.nn.normalization import BatchNorm
from bcekit.nn.pool import MaxPool2D
from bcekit.nn.sequential import Sequential
from bcekit.nn.upsample import MODES, Upsample2D


def conv_block(
    in_channels: int,
    out_channels: int,
    rng: np.random.Generator,
    dtype: DTypeLike,
    input_grad: bool = True,
    batch_norm: bool = False,
) -> Sequential:
    """``Conv3×3 → ReLU → Conv3×3 → ReLU``, keeping height and width ("same" padding).

    With ``batch_norm`` each convolution is followed by :class:`BatchNorm` before its ReLU.
    """
    layers: list[Layer] = []
    for c_in, grad in ((in_channels, input_grad), (out_channels, True)):
        layers.append(Conv2D(c_in, out_channels, 3, random_state=rng, dtype=dtype, input_grad=grad))
        if batch_norm:
            layers.append(BatchNorm(out_channels, dtype=dtype))
        layers.append(ReLU())
    return Sequential(layers)


def unet_state_size(
    in_channels: int,
    depth: int,
    base_width: int,
    *,
    out_channels: int = 1,
    batch_norm: bool = False,
    limit: int | None = None,
) -> tuple[int, int]:
    """``(arrays, values)`` in the ``state_dict()`` of such a :class:`UNet`, without building it.

    A block ``(c_in → c)`` holds two 3×3 convolutions, ``9·c_in·c + c`` and ``9·c·c + c``
    values, plus four arrays of ``c`` values per convolution with ``batch_norm``; the head
    holds ``base_width·out_channels + out_channels``. Counting stops once the values exceed
    ``limit`` (so a huge ``depth`` costs nothing), and the partial count is returned.
    """
    in_channels, depth = positive_int("in_channels", in_channels), positive_int("depth", depth)
    width, out = positive_int("base_width", base_width), positive_int("out_channels", out_channels)
    arrays_per_block = 12 if batch_norm else 4  # per conv: weight, bias [, BatchNorm's four]

    def block(c_in: int, c: int) -> int:
        return 9 * c_in * c + 9 * c * c + 2 * c + (8 * c if batch_norm else 0)

    arrays, values = 2, width * out + out  # the 1×1 head
    for level in range(depth):  # encoder and decoder of each level
        if limit is not None and values > limit:
            return arrays, values
        c = width << level
        arrays += 2 * arrays_per_block
        values += block(in_channels if level == 0 else c >> 1, c) + block(3 * c, c)
    arrays += arrays_per_block
    values += block(width << (depth - 1), width << depth)  # the bottleneck
    return arrays, values


def check_unet_state(
    state: dict[str, np.ndarray], in_channels: int, depth: int, base_width: int, *, batch_norm: bool
) -> None:
    """Raise ValueError when the U-Net these sizes describe is much larger than ``state``.

    Called before the network is built from sizes read from a file: a network of more than
    twice the values of ``state`` (plus 2**20) is refused, so edited sizes cannot ask for
    much more memory than the weights take; smaller differences are left to
    :meth:`~bcekit.nn.base.Layer.load_state_dict`, whose message names the array.
    """
    found = sum(int(a.size) for a in state.values())
    limit = 2 * found + 2**20
    wanted = unet_state_size(in_channels, depth, base_width, batch_norm=batch_norm, limit=limit)[1]
    if wanted > limit:
        raise ValueError(
            f"in_channels={in_channels}, depth={depth}, base_width={base_width} describe a "
            f"U-Net of more than {limit} values, but the weights hold only {found}"
        )


class UNet(Layer):
    """A U-Net mapping ``(N, H, W, in_channels)`` images to ``(N, H, W, out_channels)`` logits.

    Parameters
    ----------
    in_channels : int
        Channels of the input images.
    depth : int
        Number of 2× downsamplings (at least 1); ``H`` and ``W`` must be multiples of
        ``2**depth``.
    base_width : int
        Channels of the first level; level ``l`` has ``base_width · 2**l``.
    out_channels : int
        Channels of the output logits (1 for binary segmentation).
    upsample : {"nearest", "bilinear"}
        Interpolation of the decoder's 2× upsampling.
    random_state : None, int or Generator
        Seed for the He-normal initial weights.
    dtype : dtype
        Floating dtype of every parameter and of the computation.
    input_grad : bool
        When False, :meth:`backward` returns ``None`` instead of ``∂L/∂x`` (and skips computing
        it): for training on data, whose gradient nobody needs.
    batch_norm : bool
        Batch normalisation after every 3×3 convolution of the blocks.

    Attributes
    ----------
    encoders, decoders : list of Sequential
        The convolution blocks of each level, finest (level 0) first.
    bottleneck : Sequential
        The block at the coarsest level.
    head : Conv2D
        The 1×1 convolution giving the logits.
    """

    def __init__(
        self,
        in_channels: int = 1,
        depth: int = 2,
        base_width: int = 16,
        *,
        out_channels: int = 1,
        upsample: str = "nearest",
        random_state: Any = None,
        dtype: DTypeLike = np.float32,
        input_grad: bool = True,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        in_channels, depth = positive_int("in_channels", in_channels), positive_int("depth", depth)
        base_width = positive_int("base_width", base_width)
        out_channels = positive_int("out_channels", out_channels)
        if upsample not in MODES:
            raise ValueError(f"upsample must be one of {MODES}; got {upsample!r}")
        self.in_channels, self.depth, self.base_width = (
            int(in_channels),
            int(depth),
            int(base_width),
        )
        self.out_channels, self.upsample = int(out_channels), upsample
        self.input_grad, self.batch_norm = bool(input_grad), bool(batch_norm)
        n_values = unet_state_size(
            self.in_channels, self.depth, self.base_width,
            out_channels=self.out_channels, batch_norm=self.batch_norm,
        )[1]  # fmt: skip
        require_memory(
            TRAINING_COPIES * n_values * np.dtype(dtype).itemsize,
            f"a U-Net of depth {self.depth} and base width {self.base_width}",
        )
        rng = as_generator(random_state)
        norm = self.batch_norm
        widths = [self.base_width * 2**level for level in range(self.depth + 1)]
        channels_in = [self.in_channels, *widths[:-2]]
        self.encoders = [
            conv_block(
                c_in, c_out, rng, dtype, input_grad=(level > 0 or self.input_grad), batch_norm=norm
            )
            for level, (c_in, c_out) in enumerate(zip(channels_in, widths[:-1], strict=True))
        ]
        self.bottleneck = conv_block(widths[-2], widths[-1], rng, dtype, batch_norm=norm)
        # Decoder, upsampling and join of level l: the map from level l+1 (widths[l+1]
        # channels), upsampled and joined to the skip of level l (widths[l] channels).
        self.decoders = [
            conv_block(
                widths[level + 1] + widths[level], widths[level], rng, dtype, batch_norm=norm
            )
            for level in range(self.depth)
        ]
        self.head = Conv2D(widths[0], self.out_channels, 1, random_state=rng, dtype=dtype)
        self.pools = [MaxPool2D(2) for _ in range(self.depth)]
        self.ups = [Upsample2D(2, upsample) for _ in range(self.depth)]
        self.joins = [Concatenate() for _ in range(self.depth)]
        self.dtype = np.dtype(dtype)

    def children(self) -> list[tuple[str, Layer]]:
        levels = range(self.depth)
        return [
            *((f"enc{level}", self.encoders[level]) for level in levels),
            ("bottleneck", self.bottleneck),
            *((f"dec{level}", self.decoders[level]) for level in reversed(levels)),
            ("head", self.head),
        ]

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_images(x, channels=self.in_channels).astype(self.dtype, copy=False)
        multiple = 2**self.depth
        if x.shape[1] % multiple or x.shape[2] % multiple:
            raise ValueError(
                f"x height and width must be multiples of 2**depth = {multiple}; got "
                f"{x.shape[1]}×{x.shape[2]} (pad the images, e.g. with np.pad(mode='reflect'))"
            )
        skips = []
        for level in range(self.depth):
            x = self.encoders[level].forward(x)
            skips.append(x)
            x = self.pools[level].forward(x)
        x = self.bottleneck.forward(x)
        for level in reversed(range(self.depth)):
            joined = self.joins[level].forward(self.ups[level].forward(x), skips[level])
            x = self.decoders[level].forward(joined)
        return self.head.forward(x)

    def backward(self, grad_out: np.ndarray) -> np.ndarray | None:
        grad = self.head.backward(grad_out)
        skip_grads = []
        for level in range(self.depth):
            grad_up, grad_skip = self.joins[level].backward(self.decoders[level].backward(grad))
            skip_grads.append(grad_skip)
            grad = self.ups[level].backward(grad_up)
        grad = self.bottleneck.backward(grad)
        for level in reversed(range(self.depth)):
            # The encoder's output fed both the pool and the skip: their gradients add.
            grad = self.pools[level].backward(grad)
            grad += skip_grads[level]
            grad = self.encoders[level].backward(grad)
        return grad

    def __repr__(self) -> str:
        return (
            f"UNet(in_channels={self.in_channels}, depth={self.depth}, "
            f"base_width={self.base_width}, out_channels={self.out_channels}, "
            f"upsample={self.upsample!r})"
        )
