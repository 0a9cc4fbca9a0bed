"""Image and mask files for segmentation: reading them as arrays, and writing masks.

Images are read with Pillow and scaled by the range of their pixel type, so the same file
always gives the same array: 8-bit images are divided by 255, 16-bit greyscale images by
65535, and floating-point greyscale images (TIFF) are used as they are. Greyscale images give
``(H, W)`` arrays; every other mode (palette, RGBA, CMYK, ...) is converted to RGB and gives
``(H, W, 3)``. A file that Pillow cannot read raises ``ValueError`` naming it.

Mask files hold one label per pixel, read as they are. :func:`binary_masks` turns a stack
of them into the 0/1 masks (255 = ignore) that :class:`bcekit.SegmentationNet` trains on.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "IMAGE_SUFFIXES",
    "binary_masks",
    "list_images",
    "read_image",
    "read_mask",
    "read_segmentation_folder",
    "write_mask",
]

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp")

_GREY_MODES = {
    "1": 1.0,
    "L": 255.0,
    "I;16": 65535.0,
    "I;16B": 65535.0,
    "I;16L": 65535.0,
    "F": 1.0,
}


def list_images(folder: str | os.PathLike[str]) -> list[Path]:
    """The image files directly in ``folder`` (by suffix, see :data:`IMAGE_SUFFIXES`), sorted."""
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def _open(path: Path) -> Any:
    """The Pillow image of ``path``, loaded, or a ValueError naming the file."""
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(path)
        image.load()
    except (OSError, UnidentifiedImageError) as exc:
        raise ValueError(f"{path}: not a readable image ({exc})") from exc
    return image


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """An image file as float32 in [0, 1]: ``(H, W)`` for greyscale, else ``(H, W, 3)``."""
    with _open(Path(path)) as image:
        if image.mode in _GREY_MODES:
            scale = _GREY_MODES[image.mode]
            pixels = np.asarray(image, dtype=np.float32)
        else:
            scale = 255.0
            pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    return pixels / np.float32(scale)


def read_mask(path: str | os.PathLike[str]) -> np.ndarray:
    """A mask file's labels as a 2-D integer array (colour masks are read as grey levels)."""
    with _open(Path(path)) as image:
        if image.mode not in _GREY_MODES and image.mode != "I":
            image = image.convert("L")
        return np.asarray(image)


def binary_masks(labels: np.ndarray) -> np.ndarray:
    """0/1 masks (255 = ignore) from mask labels, by the values the whole stack holds.

    * only 0 and 255: 255 is foreground (the usual black-and-white mask files);
    * 0, 1 and 255: 1 is foreground and 255 marks pixels to ignore;
    * anything else without 255: every label > 0 is foreground (instance labels included).

    Raises
    ------
    ValueError
        For labels that mix 255 with values other than 0 and 1.
    """
    values = np.unique(labels)
    if 255 in values:
        if set(values.tolist()) <= {0, 255}:
            return (labels == 255).astype(np.uint8)
        if set(values.tolist()) <= {0, 1, 255}:
            return labels.astype(np.uint8)
        raise ValueError(
            "masks hold 255 together with other labels than 0 and 1 "
            f"({values[(values != 0) & (values != 1) & (values != 255)][:5].tolist()}); use "
            "0/255 masks, 0/1 masks with 255 for pixels to ignore, or instance labels without 255"
        )
    return (labels > 0).astype(np.uint8)


def write_mask(path: str | os.PathLike[str], mask: np.ndarray) -> None:
    """Write a 0/1 mask as an 8-bit PNG of 0 and 255."""
    from PIL import Image

    Image.fromarray((np.asarray(mask) > 0).astype(np.uint8) * 255).save(path, format="PNG")


def read_segmentation_folder(folder: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Images and 0/1 masks (255 = ignore) from ``folder/images`` and ``folder/masks``.

    Each image has a mask file of the same name; all images share one size and one kind
    (grey or colour).

    Returns
    -------
    images : ndarray of float32, shape (n, H, W) or (n, H, W, 3)
    masks : ndarray of uint8, shape (n, H, W)

    Raises
    ------
    ValueError
        A missing folder or mask, no images, an unreadable file, mixed sizes or kinds, or
        mask labels outside the conventions of :func:`binary_masks`.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: no such folder")
    image_dir, mask_dir = folder / "images", folder / "masks"
    if not image_dir.is_dir() or not mask_dir.is_dir():
        raise ValueError(f"{folder}: needs the sub-folders images/ and masks/")
    paths = list_images(image_dir)
    if not paths:
        raise ValueError(f"{image_dir}: holds no images ({', '.join(IMAGE_SUFFIXES)})")
    missing = [p.name for p in paths if not (mask_dir / p.name).is_file()]
    if missing:
        raise ValueError(f"{mask_dir}: no mask for {missing[0]} (masks share the images' names)")
    images = [read_image(p) for p in paths]
    labels = [read_mask(mask_dir / p.name) for p in paths]
    shapes = {image.shape for image in images}
    sizes = {image.shape[:2] for image in images} | {mask.shape for mask in labels}
    if len(sizes) != 1 or len(shapes) != 1:
        found = sorted(shapes | {(*m.shape, "mask") for m in labels}, key=str)
        raise ValueError(
            f"{folder}: images (all grey or all colour) and masks must share one size; "
            f"found {found}"
        )
    try:
        masks = binary_masks(np.stack(labels))
    except ValueError as exc:
        raise ValueError(f"{mask_dir}: {exc}") from exc
    return np.stack(images), masks
