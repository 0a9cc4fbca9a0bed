"""A torch U-Net of ``SegmentationNet``'s architecture, trained the way ``SegmentationNet.fit`` is.

Architecture (as :class:`bcekit.nn.UNet`): ``depth`` levels of ``(Conv3×3 [→ BatchNorm] →
ReLU) × 2`` with ``base_width · 2**l`` channels, 2×2 max pooling, a bottleneck block, 2×
nearest (or bilinear) upsampling joined to the skip as ``cat(up, skip)``, decoder blocks and
a 1×1 head; He-normal weights, zero biases.

Training (as ``SegmentationNet.fit`` with ``lr_schedule="cosine"``): a seeded split of
``validation_fraction`` of the images for early stopping; each epoch shuffles the training
images, and each batch of ``batch_size`` draws one of the eight flips/quarter turns (when
``augment``), applies it to the images and its inverse to the logits, takes the mean
per-pixel BCE with logits, and makes one Adam step at
``η_s = ½ η (1 + cos(π s / S))`` over ``S = max_iter · ⌈n_train / batch_size⌉`` steps. After
each epoch the validation loss (eval mode) decides early stopping (``n_iter_no_change``
epochs without an improvement of ``tol``) and the best epoch's weights are restored.

Only used by ``bench_segmentation``; handles the parameter values that bench uses (the
defaults), and says so for the others.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np


def _block(c_in: int, c_out: int, batch_norm: bool) -> Any:
    import torch.nn as tnn

    layers: list[Any] = []
    for c in (c_in, c_out):
        layers.append(tnn.Conv2d(c, c_out, 3, padding=1))
        if batch_norm:
            layers.append(tnn.BatchNorm2d(c_out, eps=1e-5, momentum=0.1))
        layers.append(tnn.ReLU())
    return tnn.Sequential(*layers)


def build_unet(in_channels: int, depth: int, base_width: int, batch_norm: bool, upsample: str):
    """The torch module; input and output NCHW."""
    import torch
    import torch.nn as tnn
    import torch.nn.functional as F

    widths = [base_width * 2**level for level in range(depth + 1)]

    class UNet(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            ins = [in_channels, *widths[:-2]]
            self.enc = tnn.ModuleList(
                _block(c_in, c, batch_norm) for c_in, c in zip(ins, widths[:-1], strict=True)
            )
            self.bottleneck = _block(widths[-2], widths[-1], batch_norm)
            self.dec = tnn.ModuleList(
                _block(widths[lv + 1] + widths[lv], widths[lv], batch_norm) for lv in range(depth)
            )
            self.head = tnn.Conv2d(widths[0], 1, 1)
            for m in self.modules():
                if isinstance(m, tnn.Conv2d):
                    tnn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                    tnn.init.zeros_(m.bias)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            skips = []
            for enc in self.enc:
                x = enc(x)
                skips.append(x)
                x = F.max_pool2d(x, 2)
            x = self.bottleneck(x)
            for level in reversed(range(depth)):
                if upsample == "nearest":
                    up = F.interpolate(x, scale_factor=2, mode="nearest")
                else:
                    up = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
                x = self.dec[level](torch.cat([up, skips[level]], dim=1))
            return self.head(x)

    return UNet()


def _dihedral(x: Any, turns: int, flip: bool) -> Any:
    import torch

    x = torch.flip(x, dims=(3,)) if flip else x
    return torch.rot90(x, turns, dims=(2, 3))


def _undo(x: Any, turns: int, flip: bool) -> Any:
    import torch

    x = torch.rot90(x, -turns, dims=(2, 3))
    return torch.flip(x, dims=(3,)) if flip else x


def fit_torch(images: np.ndarray, masks: np.ndarray, params: dict[str, Any], seed: int = 0):
    """Train on ``(n, H, W)`` images and 0/1 masks; returns ``(model, epochs run)``.

    ``params`` are ``SegmentationNet().get_params()``; values the recipe above does not
    cover raise ``ValueError``. ``masks`` hold only 0 and 1 (no ignored pixels).
    """
    import torch
    import torch.nn.functional as F

    handled = {"loss": "bce", "pos_weight": None, "lr_schedule": "cosine", "early_stopping": True}
    for name, value in handled.items():
        if name in params and params[name] != value:
            raise ValueError(f"the torch recipe needs {name}={value!r}; got {params[name]!r}")
    depth, width = params["depth"], params["base_width"]
    if images.shape[1] % 2**depth or images.shape[2] % 2**depth:
        raise ValueError("the torch recipe needs sizes that are multiples of 2**depth")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = build_unet(1, depth, width, params["batch_norm"], params["upsample"])
    x = torch.from_numpy(np.ascontiguousarray(images[:, None], dtype=np.float32))
    y = torch.from_numpy(np.ascontiguousarray(masks[:, None], dtype=np.float32))
    n = len(x)
    order = rng.permutation(n)
    n_val = round(params["validation_fraction"] * n)
    val, train = torch.from_numpy(order[:n_val]), torch.from_numpy(order[n_val:])
    batch, lr0, epochs = params["batch_size"], params["learning_rate"], params["max_iter"]
    optimizer = torch.optim.Adam(model.parameters(), lr=lr0, betas=(0.9, 0.999), eps=1e-8)
    total_steps = epochs * math.ceil(len(train) / batch)
    step, best, best_state, wait, run = 0, math.inf, None, 0, 0
    for _epoch in range(epochs):
        if wait >= params["n_iter_no_change"]:
            break
        run += 1
        model.train()
        shuffled = train[torch.from_numpy(rng.permutation(len(train)))]
        for start in range(0, len(train), batch):
            rows = shuffled[start : start + batch]
            for group in optimizer.param_groups:
                group["lr"] = 0.5 * lr0 * (1 + math.cos(math.pi * step / total_steps))
            turns, flip = 0, False
            if params["augment"]:
                turns, flip = int(rng.integers(4)), bool(rng.integers(2))
            logits = _undo(model(_dihedral(x[rows], turns, flip)), turns, flip)
            loss = F.binary_cross_entropy_with_logits(logits, y[rows])
            optimizer.zero_grad(set_to_none=False)
            loss.backward()
            optimizer.step()
            step += 1
        model.eval()
        with torch.no_grad():
            val_loss = sum(
                F.binary_cross_entropy_with_logits(
                    model(x[val[i : i + batch]]), y[val[i : i + batch]], reduction="sum"
                ).item()
                for i in range(0, n_val, batch)
            ) / (n_val * x.shape[2] * x.shape[3])
        wait = wait + 1 if val_loss > best - params["tol"] else 0
        if val_loss < best:
            best, best_state = val_loss, copy.deepcopy(model.state_dict())
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return model, run


def predict_torch(model: Any, images: np.ndarray, batch: int = 64) -> np.ndarray:
    """0/1 masks (logit > 0) of ``(n, H, W)`` images."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(images[:, None], dtype=np.float32))
    with torch.no_grad():
        out = [model(x[i : i + batch]) for i in range(0, len(x), batch)]
    return (torch.cat(out)[:, 0] > 0).numpy().astype(np.uint8)
