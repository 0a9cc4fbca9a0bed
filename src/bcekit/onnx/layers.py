"""ONNX nodes for :mod:`bcekit.nn` layers at inference (eval mode).

Tabular tensors are ``(N, features)``; image tensors are NCHW here (ONNX's layout for Conv,
MaxPool and Resize), so a converter of an NHWC model transposes once on entry. Each layer
maps to the operator with the same arithmetic:

- ``Dense``: ``MatMul`` then ``Add``: :math:`y = xW + b`.
- activations: ``Relu``, ``Tanh``, ``Sigmoid``; ``LeakyReLU`` as ``LeakyRelu`` (float32) or,
  since ONNX Runtime has no float64 ``LeakyRelu``, as :math:`y = x\\,(1[x>0](1-a) + a)`, the
  layer's own formula; exact GELU :math:`y = x\\,Φ(x)` with
  :math:`Φ(x) = ½(1 + \\operatorname{erf}(x/\\sqrt2))` (ONNX Runtime has no float64 ``Erf``:
  a float64 graph evaluates ``erf`` in float32, good to about 1e-7).
- ``Dropout``: nothing (the identity at inference).
- ``BatchNorm``: ``BatchNormalization`` with the running statistics,
  :math:`y = γ(x − μ_r)/\\sqrt{σ_r^2 + ε} + β`.
- ``Conv2D``: ``Conv`` with the kernel as ``(C_out, C_in, k, k)``; "same" padding at stride 1
  pads :math:`⌊(k−1)/2⌋` before and the rest after, at stride 2 ``SAME_UPPER`` (the odd pixel
  after, as :func:`bcekit.nn.conv.conv_geometry` does).
- ``MaxPool2D``: ``MaxPool`` with window = stride.
- ``Upsample2D``: ``Resize``; "nearest" samples :math:`⌊p/s⌋` (``asymmetric``, ``floor``),
  "bilinear" samples :math:`(p + ½)/s − ½` clamped to the image (``half_pixel``, ``linear``),
  PyTorch's ``align_corners=False``.
"""

from __future__ import annotations

import numpy as np

from bcekit.nn import (
    GELU,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Identity,
    Layer,
    LeakyReLU,
    MaxPool2D,
    ReLU,
    Sequential,
    Sigmoid,
    Tanh,
    Upsample2D,
)
from bcekit.onnx.graph import Graph, element_type

_SQRT_HALF = float(np.sqrt(0.5))
_UNARY = {ReLU: "Relu", Tanh: "Tanh", Sigmoid: "Sigmoid"}


def emit_layer(g: Graph, layer: Layer, x: str, dtype: np.dtype) -> str:
    """Nodes computing ``layer.forward(x)`` in eval mode; returns the output's name.

    Parameters
    ----------
    g : Graph
    layer : bcekit.nn.Layer
        A Sequential of the layers below, or one of them.
    x : str
        The input's name: ``(N, features)``, or NCHW for the image layers.
    dtype : numpy dtype
        The dtype ``x`` holds (the layer's parameters are written in it).

    Raises
    ------
    ValueError
        A layer with no ONNX equivalent here.
    """
    if isinstance(layer, Sequential):
        for inner in layer.layers:
            x = emit_layer(g, inner, x, dtype)
        return x
    if isinstance(layer, Dropout | Identity):
        return x
    if type(layer) in _UNARY:
        return g.op(_UNARY[type(layer)], [x])
    if isinstance(layer, Dense):
        w = g.constant(layer.weight.value, "weight", dtype)
        b = g.constant(layer.bias.value, "bias", dtype)
        return g.op("Add", [g.op("MatMul", [x, w]), b], hint="dense")
    if isinstance(layer, LeakyReLU):
        return _leaky_relu(g, x, layer.negative_slope, dtype)
    if isinstance(layer, GELU):
        return _gelu(g, x, dtype)
    if isinstance(layer, BatchNorm):
        return _batch_norm(g, layer, x, dtype)
    if isinstance(layer, Conv2D):
        return _conv(g, layer, x, dtype)
    if isinstance(layer, MaxPool2D):
        p = layer.pool_size
        return g.op("MaxPool", [x], kernel_shape=[p, p], strides=[p, p])
    if isinstance(layer, Upsample2D):
        return upsample(g, x, layer.scale, layer.mode)
    raise ValueError(f"cannot export layer {layer!r} to ONNX: no converter for it")


def _leaky_relu(g: Graph, x: str, slope: float, dtype: np.dtype) -> str:
    if dtype == np.float32:
        return g.op("LeakyRelu", [x], alpha=slope)
    positive = g.op("Greater", [x, g.constant(0, "zero", dtype)])
    positive = g.op("Cast", [positive], to=element_type(dtype))
    d = g.op("Mul", [positive, g.constant(1.0 - slope, "one_minus_slope", dtype)])
    d = g.op("Add", [d, g.constant(slope, "slope", dtype)])
    return g.op("Mul", [x, d], hint="leaky_relu")


def _gelu(g: Graph, x: str, dtype: np.dtype) -> str:
    scaled = g.op("Mul", [x, g.constant(_SQRT_HALF, "sqrt_half", dtype)])
    erf = g.cast(g.op("Erf", [g.cast(scaled, np.float32, dtype)]), dtype, np.float32)
    cdf = g.op("Add", [erf, g.constant(1.0, "one", dtype)])
    cdf = g.op("Mul", [cdf, g.constant(0.5, "half", dtype)], hint="normal_cdf")
    return g.op("Mul", [x, cdf], hint="gelu")


def _batch_norm(g: Graph, layer: BatchNorm, x: str, dtype: np.dtype) -> str:
    params = [
        g.constant(layer.weight.value, "bn_scale", dtype),
        g.constant(layer.bias.value, "bn_bias", dtype),
        g.constant(layer.buffers["running_mean"], "bn_mean", dtype),
        g.constant(layer.buffers["running_var"], "bn_var", dtype),
    ]
    return g.op("BatchNormalization", [x, *params], epsilon=layer.eps)


def _conv(g: Graph, layer: Conv2D, x: str, dtype: np.dtype) -> str:
    k, s = layer.kernel_size, layer.stride
    kernel = np.transpose(layer.params["weight"].value, (3, 2, 0, 1))
    w = g.constant(kernel, "conv_weight", dtype)
    b = g.constant(layer.params["bias"].value, "conv_bias", dtype)
    attrs: dict = {"kernel_shape": [k, k], "strides": [s, s]}
    if layer.padding == "valid":
        attrs["pads"] = [0, 0, 0, 0]
    elif s == 1:
        before = (k - 1) // 2
        after = k - 1 - before
        attrs["pads"] = [before, before, after, after]
    else:
        attrs["auto_pad"] = "SAME_UPPER"
    return g.op("Conv", [x, w, b], **attrs)


def upsample(g: Graph, x: str, scale: int, mode: str) -> str:
    """``Resize`` of an NCHW tensor by ``scale`` as :class:`bcekit.nn.Upsample2D` does it."""
    scales = g.constant([1.0, 1.0, scale, scale], "scales", np.float32)
    if mode == "nearest":
        attrs = {
            "mode": "nearest",
            "coordinate_transformation_mode": "asymmetric",
            "nearest_mode": "floor",
        }
    else:
        attrs = {"mode": "linear", "coordinate_transformation_mode": "half_pixel"}
    return g.op("Resize", [x, "", scales], hint="upsample", **attrs)
