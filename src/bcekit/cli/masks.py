"""``bcekit predict`` and ``bcekit evaluate`` with a segmentation model.

The model folder is one written by ``bcekit segment`` (or :func:`bcekit.io.save` of a
:class:`bcekit.SegmentationNet`). Images are read as training reads them
(:func:`bcekit.data.image_files.read_image`).

* predict: DATA is an image file or a folder of them; each mask is written as
  ``<name>.png`` (0 and 255) into the output folder, with ``predictions.json`` listing every
  image's foreground fraction. The folder appears only when every mask is written.
* evaluate: DATA is a folder with ``images/`` and ``masks/``
  (:func:`bcekit.data.image_files.read_segmentation_folder`); the scores are mean IoU and
  Dice over the images, and the worst IoU.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bcekit.cli.errors import CLIError

SUMMARY_FILE = "predictions.json"


def _images(data: Path) -> list[Path]:
    from bcekit.data.image_files import IMAGE_SUFFIXES, list_images

    if not data.exists():
        raise CLIError(f"{data}: no such image file or folder")
    paths = list_images(data) if data.is_dir() else [data]
    if not paths:
        raise CLIError(f"{data}: holds no images ({', '.join(IMAGE_SUFFIXES)})")
    stems: dict[str, Path] = {}
    for path in paths:
        if path.stem in stems:
            raise CLIError(
                f"{data}: {stems[path.stem].name} and {path.name} would both write "
                f"{path.stem}.png; rename one"
            )
        stems[path.stem] = path
    return paths


def _check_channels(model: Any, path: Path, found: int) -> None:
    channels = int(model.n_channels_in_)
    if found != channels:
        raise CLIError(
            f"{path}: {'grey' if found == 1 else 'colour'} images, but the model was trained "
            f"on {channels}-channel images"
        )


def predict_masks(
    model_dir: Path, data: Path, output: Path, threshold: float | None
) -> dict[str, Any]:
    """Write a mask for every image of ``data`` into ``output``; return the summary.

    ``threshold`` None uses the model's own (:attr:`SegmentationNet.threshold`).

    Raises
    ------
    CLIError
        Unusable model files, no images, an unreadable image, or an image whose channels
        differ from the training images'.
    """
    import numpy as np

    from bcekit.cli.artifacts import check_output_dir, load_estimator, publish
    from bcekit.data.image_files import read_image, write_mask

    check_output_dir(output, inputs=[data, model_dir])
    model = load_estimator(model_dir)
    threshold = float(model.threshold if threshold is None else threshold)
    records = []
    with publish(output) as tmp:
        for path in _images(data):
            try:
                image = read_image(path)
            except ValueError as exc:
                raise CLIError(str(exc)) from exc
            _check_channels(model, path, 1 if image.ndim == 2 else image.shape[-1])
            proba = model.predict_proba(image[np.newaxis])[0]
            mask = proba > threshold
            write_mask(tmp / f"{path.stem}.png", mask)
            records.append(
                {
                    "image": path.name,
                    "mask": f"{path.stem}.png",
                    "height": int(mask.shape[0]),
                    "width": int(mask.shape[1]),
                    "foreground_fraction": float(mask.mean()),
                }
            )
        summary = {"model": str(model_dir), "threshold": threshold, "images": records}
        (tmp / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def evaluate_masks(model_dir: Path, data: Path) -> dict[str, Any]:
    """Mean IoU and Dice, worst IoU and image count of the model on ``data``'s masks.

    Raises
    ------
    CLIError
        Unusable model files, a folder :func:`read_segmentation_folder` refuses, or images
        whose channels differ from the training images'.
    """
    from bcekit.cli.artifacts import load_estimator
    from bcekit.data.image_files import read_segmentation_folder
    from bcekit.plots.masks import mask_metrics

    model = load_estimator(model_dir)
    try:
        images, masks = read_segmentation_folder(data)
    except ValueError as exc:
        raise CLIError(str(exc)) from exc
    _check_channels(model, data / "images", 1 if images.ndim == 3 else images.shape[-1])
    return mask_metrics(
        masks, model.predict(images), threshold=model.threshold, ignore_value=model.ignore_value
    )
