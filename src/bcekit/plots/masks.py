"""Segmentation results: overlap metrics per image, mask overlays, and a report folder.

Overlays show, for each image, the image itself, the true mask and the predicted mask drawn
in colour over it (truth green, prediction magenta), with the image's IoU in the title.
Matplotlib is imported only when a figure is drawn, and only its object-oriented API is used
(no pyplot, no display needed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

TRUTH_COLOUR = (0.1, 0.85, 0.2)
PREDICTION_COLOUR = (0.9, 0.1, 0.8)


# --- metrics ---------------------------------------------------------------------------------


def _overlap(
    y_true: Any, y_pred: Any, ignore_value: float | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-image |T ∩ P|, |T| and |P| over counted pixels of ``(n, H, W)`` masks."""
    truth, pred = np.asarray(y_true), np.asarray(y_pred)
    if truth.shape != pred.shape or truth.ndim < 2:
        raise ValueError(
            f"y_true and y_pred must have the same shape (n, H, W); got {truth.shape} and "
            f"{pred.shape}"
        )
    counted = np.ones(truth.shape, bool) if ignore_value is None else truth != ignore_value
    t, p = (truth == 1) & counted, (pred > 0) & counted
    axes = tuple(range(1, truth.ndim))
    return (t & p).sum(axis=axes), t.sum(axis=axes), p.sum(axis=axes)


def iou_scores(y_true: Any, y_pred: Any, *, ignore_value: float | None = 255) -> np.ndarray:
    """Foreground intersection over union of each image, ``|T ∩ P| / |T ∪ P|``.

    Parameters
    ----------
    y_true : array-like of shape (n, H, W)
        1 = foreground, 0 = background, ``ignore_value`` = left out.
    y_pred : array-like of shape (n, H, W)
        Predicted masks; any value > 0 is foreground.
    ignore_value : number or None

    Returns
    -------
    ndarray of shape (n,), float64
        1 for an image where both masks are empty.
    """
    inter, t, p = _overlap(y_true, y_pred, ignore_value)
    union = t + p - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def mask_metrics(
    y_true: Any, y_pred: Any, *, threshold: float, ignore_value: float | None = 255
) -> dict[str, Any]:
    """``mean_iou``, ``mean_dice``, ``min_iou``, ``n_images`` and the ``threshold`` that made
    ``y_pred``; arguments as :func:`iou_scores`."""
    ious = iou_scores(y_true, y_pred, ignore_value=ignore_value)
    dices = dice_scores(y_true, y_pred, ignore_value=ignore_value)
    return {
        "mean_iou": float(ious.mean()),
        "mean_dice": float(dices.mean()),
        "min_iou": float(ious.min()),
        "n_images": len(ious),
        "threshold": float(threshold),
    }


def dice_scores(y_true: Any, y_pred: Any, *, ignore_value: float | None = 255) -> np.ndarray:
    """Dice coefficient of each image, ``2|T ∩ P| / (|T| + |P|)`` (1 when both are empty).

    Arguments as :func:`iou_scores`.
    """
    inter, t, p = _overlap(y_true, y_pred, ignore_value)
    total = t + p
    return np.where(total > 0, 2 * inter / np.maximum(total, 1), 1.0)


# --- figures ----------------------------------------------------------------------------------


def _grey(image: np.ndarray) -> np.ndarray:
    """An ``(H, W, 3)`` picture in [0, 1]: RGB kept, other channel counts shown as channel 0."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 3 and image.shape[2] == 3:
        rgb = image
    else:
        plane = image if image.ndim == 2 else image[..., 0]
        rgb = np.repeat(plane[..., None], 3, axis=2)
    low, high = np.nanmin(rgb), np.nanmax(rgb)
    return (rgb - low) / (high - low) if high > low else np.zeros_like(rgb)


def _tint(picture: np.ndarray, mask: np.ndarray, colour: tuple[float, ...]) -> np.ndarray:
    """Blend ``colour`` at 45% over the pixels of ``mask``."""
    out = picture.copy()
    on = np.asarray(mask) == 1
    out[on] = 0.55 * out[on] + 0.45 * np.asarray(colour)
    return out


def mask_overlay_figure(
    images: Any,
    masks: Any,
    predictions: Any,
    *,
    max_images: int = 6,
    ignore_value: float | None = 255,
) -> Figure:
    """A grid with one row per image: the image, the truth overlay, the prediction overlay.

    Parameters
    ----------
    images : array-like of shape (n, H, W) or (n, H, W, C)
    masks : array-like of shape (n, H, W)
        True masks (1 = foreground; ``ignore_value`` pixels are drawn as background).
    predictions : array-like of shape (n, H, W)
        Predicted 0/1 masks.
    max_images : int
        Rows drawn: the first ``max_images`` images.
    ignore_value : number or None

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    images, masks, predictions = np.asarray(images), np.asarray(masks), np.asarray(predictions)
    if not len(images) == len(masks) == len(predictions) or len(images) == 0:
        raise ValueError(
            "images, masks and predictions must hold the same, non-zero number of images; got "
            f"{len(images)}, {len(masks)} and {len(predictions)}"
        )
    if max_images < 1:
        raise ValueError(f"max_images must be >= 1; got {max_images}")
    rows = min(max_images, len(images))
    ious = iou_scores(masks[:rows], predictions[:rows], ignore_value=ignore_value)
    figure = Figure(figsize=(7.5, 2.5 * rows), layout="constrained")
    axes = figure.subplots(rows, 3, squeeze=False)
    for i in range(rows):
        picture = _grey(images[i])
        panels = (
            (picture, "image"),
            (_tint(picture, masks[i], TRUTH_COLOUR), "truth"),
            (_tint(picture, predictions[i], PREDICTION_COLOUR), f"prediction (IoU {ious[i]:.2f})"),
        )
        for ax, (shown, title) in zip(axes[i], panels, strict=True):
            ax.imshow(shown, interpolation="nearest")
            ax.set_title(title, fontsize=9)
            ax.set_axis_off()
    return figure


# --- report -----------------------------------------------------------------------------------


def segment_report(
    model_or_probabilities: Any,
    images: Any,
    masks: Any,
    output_dir: str | Path,
    *,
    threshold: float | None = None,
    ignore_value: float | None = 255,
    max_images: int = 6,
) -> dict[str, Any]:
    """Score a segmentation and write ``overlays.png`` and ``metrics.json`` to ``output_dir``.

    Parameters
    ----------
    model_or_probabilities : fitted model or array-like of shape (n, H, W)
        A model with ``predict_proba(images)`` (e.g. :class:`bcekit.SegmentationNet`, whose
        ``threshold`` is then used unless given here, and whose ``ignore_value`` always
        applies: the masks follow the model's convention), or per-pixel foreground
        probabilities.
    images : array-like of shape (n, H, W) or (n, H, W, C)
    masks : array-like of shape (n, H, W)
        True masks: 1, 0 or ``ignore_value``.
    output_dir : str or Path
        Created if needed.
    threshold : float, optional
        Probability above which a pixel is foreground (default: the model's, else 0.5).
    ignore_value : number or None
        Mask value of pixels left out, for probability input.
    max_images : int
        Images drawn in ``overlays.png``; the worst-scoring ones come first.

    Returns
    -------
    dict
        ``"metrics"`` (``mean_iou``, ``mean_dice``, ``min_iou``, ``n_images``, ``threshold``)
        and ``"files"`` (paths written).
    """
    if hasattr(model_or_probabilities, "predict_proba"):
        model = model_or_probabilities
        proba = model.predict_proba(images)
        threshold = getattr(model, "threshold", 0.5) if threshold is None else threshold
        ignore_value = getattr(model, "ignore_value", ignore_value)
    else:
        proba = np.asarray(model_or_probabilities, dtype=np.float64)
        threshold = 0.5 if threshold is None else threshold
    truth = np.asarray(masks)
    pred = (np.asarray(proba) > threshold).astype(np.uint8)
    ious = iou_scores(truth, pred, ignore_value=ignore_value)
    metrics = mask_metrics(truth, pred, threshold=threshold, ignore_value=ignore_value)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    order = np.argsort(ious, kind="stable")
    figure = mask_overlay_figure(
        np.asarray(images)[order], truth[order], pred[order],
        max_images=max_images, ignore_value=ignore_value,
    )  # fmt: skip
    overlay_path, metrics_path = out / "overlays.png", out / "metrics.json"
    figure.savefig(overlay_path, dpi=100)
    metrics_path.write_text(json.dumps(metrics, indent=2) + "\n")
    return {"metrics": metrics, "files": [str(overlay_path), str(metrics_path)]}
