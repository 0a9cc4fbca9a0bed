"""A fitted :class:`bcekit.SegmentationNet`: NHWC images in, per-pixel probabilities out.

The graph does what :meth:`~bcekit.SegmentationNet.predict_proba` does:

1. cast the images to float32 (the network's dtype) and transpose NHWC → NCHW;
2. mirror-pad height and width at the bottom and right up to multiples of ``2**depth``,
   NumPy's ``mode="symmetric"``: padded row :math:`i` repeats row :math:`r` or
   :math:`2H − 1 − r` with :math:`r = i \\bmod 2H` (so any amount of padding is exact);
3. run the U-Net (:mod:`bcekit.onnx.layers`; each skip joins the upsampled map by
   ``Concat`` on the channel axis, upsampled map first);
4. crop the logits back to ``H × W``; ``probabilities`` = :math:`σ(\\text{logit})` of shape
   ``(N, H, W)`` and ``label`` = ``probabilities > threshold`` as uint8, as ``predict``.

Height and width stay symbolic: one exported model takes any image size.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

from bcekit.onnx.graph import Graph, element_type
from bcekit.onnx.heads import finish
from bcekit.onnx.layers import emit_layer

_F32 = np.dtype(np.float32)


def emit_segmentation(
    g: Graph, model: Any, images: str, dtype: np.dtype, *, label: str, probabilities: str
) -> None:
    """Nodes from NHWC ``images`` of ``dtype`` to ``label`` and ``probabilities``."""
    check_is_fitted(model, "network_")
    net = model.network_
    if net.out_channels != 1:
        raise ValueError(
            f"a SegmentationNet has 1 output channel; this network has {net.out_channels}"
        )
    x = g.op("Transpose", [g.cast(images, _F32, dtype)], perm=[0, 3, 1, 2], hint="nchw")
    shape = g.op("Shape", [x])
    sizes = [g.op("Gather", [shape, g.constant(axis, "axis", np.int64)], axis=0) for axis in (2, 3)]
    for axis, size in zip((2, 3), sizes, strict=True):
        x = _mirror_pad(g, x, axis, size, 2**net.depth)
    logits = _crop(g, _unet(g, net, x), sizes)
    logits = g.op("Squeeze", [logits, g.constant([1], "axis_1", np.int64)])
    p = g.op("Sigmoid", [logits])
    above = g.op("Greater", [p, g.constant(model.threshold, "threshold", _F32)])
    g.op("Cast", [above], output=label, to=element_type(np.uint8))
    finish(g, p, probabilities, dtype, _F32)


def _mirror_pad(g: Graph, x: str, axis: int, size: str, multiple: int) -> str:
    """Gather along ``axis`` the rows of NumPy's symmetric padding up to a ``multiple``."""
    i64 = np.int64
    m = g.constant(multiple, "multiple", i64)
    padded = g.op(
        "Mul", [g.op("Div", [g.op("Add", [size, g.constant(multiple - 1, "m_1", i64)]), m]), m]
    )
    rows = g.op("Range", [g.constant(0, "start", i64), padded, g.constant(1, "step", i64)])
    period = g.op("Mul", [size, g.constant(2, "two", i64)])
    r = g.op("Mod", [rows, period])
    mirrored = g.op("Sub", [g.op("Sub", [period, g.constant(1, "one", i64)]), r])
    index = g.op("Where", [g.op("Less", [r, size]), r, mirrored], hint="rows")
    return g.op("Gather", [x, index], axis=axis, hint="padded")


def _crop(g: Graph, x: str, sizes: list[str]) -> str:
    """``x[:, :, :H, :W]`` for the scalar sizes ``[H, W]``."""
    axis_0 = g.constant([0], "axis_0", np.int64)
    ends = g.op("Concat", [g.op("Unsqueeze", [s, axis_0]) for s in sizes], axis=0)
    starts = g.constant([0, 0], "starts", np.int64)
    return g.op("Slice", [x, starts, ends, g.constant([2, 3], "axes", np.int64)], hint="crop")


def _unet(g: Graph, net: Any, x: str) -> str:
    """The U-Net's forward pass on NCHW ``x`` (as :meth:`bcekit.nn.UNet.forward`)."""
    skips = []
    for level in range(net.depth):
        x = emit_layer(g, net.encoders[level], x, _F32)
        skips.append(x)
        x = emit_layer(g, net.pools[level], x, _F32)
    x = emit_layer(g, net.bottleneck, x, _F32)
    for level in reversed(range(net.depth)):
        up = emit_layer(g, net.ups[level], x, _F32)
        x = g.op("Concat", [up, skips[level]], axis=1, hint="join")
        x = emit_layer(g, net.decoders[level], x, _F32)
    return emit_layer(g, net.head, x, _F32)
