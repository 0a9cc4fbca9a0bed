"""The losses on GPU arrays (PyTorch CUDA tensors, CuPy and JAX arrays on a GPU).

The portable path must give, on the GPU, what the fused NumPy path gives on the same numbers
(within a few ulps: the GPU's exp and log are not the CPU's), answer with arrays of the input's
library on the input's device, refuse NaN and operands on another device by name, and match
torch's own loss and autograd on CUDA. Every test skips where no GPU library sees a GPU: CI has
none; these run on a machine with one.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from bcekit import losses
from bcekit.losses import segmentation as seg

RTOL = {np.float64: 1e-12, np.float32: 2e-6}


def _torch_cuda():
    if importlib.util.find_spec("torch") is None:
        return None
    import torch

    return torch if torch.cuda.is_available() else None


def _cupy():
    if importlib.util.find_spec("cupy") is None:
        return None
    import cupy

    try:
        return cupy if cupy.cuda.runtime.getDeviceCount() > 0 else None
    except cupy.cuda.runtime.CUDARuntimeError:
        return None


def _jax_gpu():
    if importlib.util.find_spec("jax") is None:
        return None
    import jax

    try:
        gpus = jax.devices("gpu")
    except RuntimeError:
        return None
    if not gpus:
        return None
    jax.config.update("jax_enable_x64", True)
    return jax


class Backend:
    """Moving NumPy arrays to one library's GPU and back."""

    def __init__(self, name):
        self.name = name
        self.lib = {"torch": _torch_cuda, "cupy": _cupy, "jax": _jax_gpu}[name]()

    def to_gpu(self, x):
        if x is None or isinstance(x, bool | int | float | str):
            return x
        x = np.asarray(x)
        if self.name == "torch":
            return self.lib.from_numpy(x.copy()).to("cuda")
        if self.name == "cupy":
            return self.lib.asarray(x)
        return self.lib.device_put(x, self.lib.devices("gpu")[0])

    def to_cpu(self, x):
        assert self.on_gpu(x), f"{type(x)} is not a GPU array of {self.name}"
        if self.name == "torch":
            return x.cpu().numpy()
        if self.name == "cupy":
            return self.lib.asnumpy(x)
        return np.asarray(x)

    def on_gpu(self, x):
        if self.name == "torch":
            return isinstance(x, self.lib.Tensor) and x.device.type == "cuda"
        if self.name == "cupy":
            return isinstance(x, self.lib.ndarray)
        return isinstance(x, self.lib.Array) and all(d.platform == "gpu" for d in x.devices())


@pytest.fixture(params=["torch", "cupy", "jax"])
def gpu(request):
    backend = Backend(request.param)
    if backend.lib is None:
        pytest.skip(f"{request.param} sees no GPU here")
    return backend


def _data(dtype, shape=(64, 5), seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 4.0, shape).astype(dtype)
    z.flat[:2] = [np.inf, -np.inf]
    y = (rng.random(shape) < 0.4).astype(dtype)
    w = rng.uniform(0.0, 2.0, shape).astype(dtype)
    return z, y, w


def _probs(z):
    with np.errstate(over="ignore"):
        return (1.0 / (1.0 + np.exp(-z))).astype(z.dtype)


CASES = {
    "bce_logits": lambda z, y, w: (losses.binary_cross_entropy_with_logits_value_and_grad,
                                   (z, y), {"weight": w, "pos_weight": 2.0}),
    "bce_logits_none": lambda z, y, w: (losses.binary_cross_entropy_with_logits_value_and_grad,
                                        (z, y), {"reduction": "none", "label_smoothing": 0.1}),
    "bce_probs": lambda z, y, w: (losses.binary_cross_entropy_value_and_grad,
                                  (_probs(np.clip(z, -8, 8)), y), {"mask": w > 0.5}),
    "focal": lambda z, y, w: (losses.sigmoid_focal_loss_value_and_grad, (z, y),
                              {"gamma": 2.0, "alpha": 0.25, "reduction": "sum"}),
    "softmax": lambda z, y, w: (losses.softmax_cross_entropy_value_and_grad,
                                (np.clip(z, -30, 30), np.argmax(y, axis=1)), {}),
    "pixel_bce": lambda z, y, w: (seg.pixel_bce_with_logits_value_and_grad,
                                  (z[None, :, :, None], y[None, :, :, None]), {}),
    "bce_dice": lambda z, y, w: (seg.bce_dice_loss_value_and_grad,
                                 (z[None, :, :, None], y[None, :, :, None]), {}),
}  # fmt: skip


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", list(CASES))
def test_the_gpu_gives_what_the_numpy_path_gives(gpu, case, dtype):
    func, args, keywords = CASES[case](*_data(dtype))
    ref_value, ref_grad = func(*args, **keywords)
    value, grad = func(*map(gpu.to_gpu, args), **{k: gpu.to_gpu(v) for k, v in keywords.items()})
    got_value, got_grad = gpu.to_cpu(value), gpu.to_cpu(grad)
    assert got_value.dtype == dtype and got_grad.dtype == dtype
    assert got_grad.shape == np.shape(args[0])
    np.testing.assert_allclose(got_value, ref_value, rtol=RTOL[dtype], atol=0)
    scale = float(np.max(np.abs(ref_grad)))
    np.testing.assert_allclose(got_grad, ref_grad, rtol=RTOL[dtype], atol=RTOL[dtype] * scale)
    assert np.all(np.isfinite(got_grad))


def test_nan_on_the_gpu_is_refused_with_its_count(gpu):
    z, y, _ = _data(np.float32)
    z.flat[[3, 7, 11]] = np.nan
    with pytest.raises(ValueError, match=r"^logits must not contain NaN; got 3 NaN values"):
        losses.binary_cross_entropy_with_logits(gpu.to_gpu(z), gpu.to_gpu(y))


def test_a_cpu_tensor_beside_cuda_logits_is_named():
    torch = _torch_cuda()
    if torch is None:
        pytest.skip("torch sees no GPU here")
    z, y, w = (torch.from_numpy(a) for a in _data(np.float32))
    with pytest.raises(ValueError, match=r"^weight must be on the device of logits \(cuda:0\)"):
        losses.binary_cross_entropy_with_logits(z.cuda(), y.cuda(), weight=w)


@pytest.mark.parametrize("options", [{}, {"pos_weight": 3.0}, {"reduction": "sum"}])
def test_cuda_matches_torch_loss_and_autograd(options):
    torch = _torch_cuda()
    if torch is None:
        pytest.skip("torch sees no GPU here")
    z, y, _ = (torch.from_numpy(a).cuda() for a in _data(np.float64))
    z = torch.nan_to_num(z, posinf=30.0, neginf=-30.0)  # torch's loss is NaN at ±inf
    theirs = dict(options)
    if "pos_weight" in options:
        theirs["pos_weight"] = torch.tensor(options["pos_weight"], device="cuda", dtype=z.dtype)
    leaf = z.clone().requires_grad_(True)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(leaf, y, **theirs)
    expected.backward()
    value, grad = losses.BinaryCrossEntropyWithLogits(**options).value_and_grad(z, y)
    assert value.device == z.device and grad.device == z.device
    torch.testing.assert_close(value, expected.detach(), rtol=1e-12, atol=0)
    torch.testing.assert_close(grad, leaf.grad, rtol=1e-12, atol=1e-15)
