"""What :class:`bcekit.estimators.segmentation.SegmentationNet` trains with, besides its U-Net.

- :class:`DihedralAugment`: random flips and quarter turns of each batch, undone on the
  network's output, so that images and masks need not be transformed alike.
- :class:`ValidationScores`: mean IoU and Dice of the held-out images after each epoch,
  from the logits of the Trainer's own validation pass (no second forward pass).
- :func:`forward_batches`: logits of a model in eval mode, a batch at a time.
- :func:`check_images`, :func:`check_masks`: the input checks of ``fit``, ``predict`` and
  ``score``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bcekit.nn.base import Layer
from bcekit.plots.masks import dice_scores, iou_scores
from bcekit.training import Callback

__all__ = ["DihedralAugment", "ValidationScores", "check_images", "check_masks", "forward_batches"]


class DihedralAugment(Layer):
    """Wraps a fully convolutional net: ``T⁻¹(net(T(x)))`` with a random flip/rotation ``T``.

    In training mode each ``forward`` draws one of the eight symmetries of the square
    (``k`` quarter turns, optionally after a left–right flip) for the whole batch; in eval
    mode it is the plain net. ``backward`` applies ``T`` to the gradient, runs the net's
    backward and maps the input gradient back with ``T⁻¹``.
    """

    def __init__(self, net: Layer, random_state: Any = None, enabled: bool = True) -> None:
        super().__init__()
        self.net = net
        self.enabled = bool(enabled)
        self._rng = np.random.default_rng(random_state)
        self._turns, self._flip = 0, False

    def children(self) -> list[tuple[str, Layer]]:
        return [("net", self.net)]

    def _apply(self, a: np.ndarray) -> np.ndarray:
        a = a[:, :, ::-1] if self._flip else a
        return np.rot90(a, self._turns, axes=(1, 2))

    def _invert(self, a: np.ndarray) -> np.ndarray:
        a = np.rot90(a, -self._turns, axes=(1, 2))
        return np.ascontiguousarray(a[:, :, ::-1] if self._flip else a)

    def forward(self, x: np.ndarray) -> np.ndarray:
        if self.training and self.enabled:
            self._turns, self._flip = int(self._rng.integers(4)), bool(self._rng.integers(2))
        else:
            self._turns, self._flip = 0, False
        return self._invert(self.net.forward(np.ascontiguousarray(self._apply(x))))

    def backward(self, grad_out: np.ndarray) -> np.ndarray | None:
        grad = self.net.backward(np.ascontiguousarray(self._apply(grad_out)))
        return None if grad is None else self._invert(grad)


class ValidationScores(Callback):
    """Adds ``val_iou`` and ``val_dice`` (thresholded at 0.5) to each epoch's record, from the
    logits of the Trainer's validation pass (``trainer.validation_logits``)."""

    def __init__(self, truth: np.ndarray) -> None:
        self.truth = truth

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any]) -> bool | None:
        pred = (trainer.validation_logits[..., 0] > 0).astype(np.uint8)
        logs["val_iou"] = float(iou_scores(self.truth, pred).mean())
        logs["val_dice"] = float(dice_scores(self.truth, pred).mean())
        return None


def forward_batches(model: Layer, images: np.ndarray, batch_size: int) -> np.ndarray:
    """Logits of ``model`` in eval mode, ``batch_size`` images at a time."""
    was_training = model.training
    model.eval()
    try:
        parts = [
            model.forward(images[i : i + batch_size]) for i in range(0, len(images), batch_size)
        ]
    finally:
        model.train(was_training)
    return np.concatenate(parts)


def check_images(images: Any, channels: int | None = None) -> np.ndarray:
    """``images`` as float32 ``(n, H, W, C)``; raises on bad shapes, types or NaN."""
    x = np.asarray(images)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"images must hold numbers; got dtype {x.dtype}")
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or min(x.shape) == 0:
        raise ValueError(
            f"images must have shape (n, H, W) or (n, H, W, C) with no empty axis; "
            f"got {np.shape(images)}"
        )
    x = x.astype(np.float32, copy=False)
    if not np.isfinite(x).all():
        raise ValueError(
            f"images must be finite; got {np.count_nonzero(~np.isfinite(x))} NaN or infinite values"
        )
    if channels is not None and x.shape[3] != channels:
        raise ValueError(f"images must have {channels} channel(s), as in fit; got {x.shape[3]}")
    return x


def check_masks(masks: Any, shape: tuple[int, ...], ignore_value: float | None) -> np.ndarray:
    """``masks`` of shape ``shape`` (n, H, W) holding only 0, 1 and ``ignore_value``."""
    m = np.asarray(masks)
    if m.dtype.kind not in "biuf":
        raise TypeError(f"masks must hold numbers; got dtype {m.dtype}")
    if m.ndim == 4 and m.shape[3] == 1:
        m = m[..., 0]
    if m.shape != shape:
        raise ValueError(
            f"masks must have shape (n, H, W) = {shape} to match images; got {m.shape}"
        )
    allowed = [0, 1] if ignore_value is None else [0, 1, ignore_value]
    bad = ~np.isin(m, allowed)
    if bad.any():
        shown = np.unique(m[bad])[:5].tolist()
        raise ValueError(
            f"masks must hold only {allowed} (0/1 and ignore_value); got other values "
            f"such as {shown}"
        )
    return m
