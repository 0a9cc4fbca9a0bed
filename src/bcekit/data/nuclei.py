"""Nuclei segmentation tiles from one fluorescence image of the 2018 Data Science Bowl.

The ``stardist`` wheel ships a 512×512 crop of the Data Science Bowl 2018 (BBBC038) nuclei
data with its instance labels, ``stardist/data/images/img2d.tif`` and ``mask2d.tif``
(BSD-3-Clause). Those two files are found on disk and read with ``tifffile``; the
``stardist`` package itself is never imported (it needs TensorFlow-era dependencies), so
``pip install --no-deps stardist`` is enough.

The instance labels are binarised (label > 0 is nucleus), the image is scaled to [0, 1]
between its 1st and 99.8th percentiles, and the image is cut into square tiles. The
validation tiles come from a separate region — the right-hand columns — so no pixel is
shared between the two splits.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

IMAGE_FILE = "img2d.tif"
MASK_FILE = "mask2d.tif"


class NucleiTiles(NamedTuple):
    """Training and validation tiles: images float32 in [0, 1], masks uint8 in {0, 1}."""

    train_images: np.ndarray
    train_masks: np.ndarray
    val_images: np.ndarray
    val_masks: np.ndarray


def nuclei_files() -> tuple[Path, Path]:
    """Paths of the image and the instance mask inside the installed ``stardist`` wheel.

    Raises
    ------
    ImportError
        If ``stardist`` is not installed, or is installed without its data files.
    """
    spec = importlib.util.find_spec("stardist")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "the nuclei data ship with the stardist wheel: pip install --no-deps stardist"
        )
    for location in spec.submodule_search_locations:
        folder = Path(location) / "data" / "images"
        if (folder / IMAGE_FILE).is_file() and (folder / MASK_FILE).is_file():
            return folder / IMAGE_FILE, folder / MASK_FILE
    raise ImportError(
        f"stardist is installed but has no data/images/{IMAGE_FILE} and {MASK_FILE}; "
        "reinstall it with: pip install --no-deps --force-reinstall stardist"
    )


def read_nuclei() -> tuple[np.ndarray, np.ndarray]:
    """The full image (float64, raw intensities) and its binary mask (uint8), each 2-D."""
    image_path, mask_path = nuclei_files()
    try:
        import tifffile
    except ImportError as exc:
        raise ImportError("reading the nuclei data needs tifffile: pip install tifffile") from exc
    image = np.asarray(tifffile.imread(image_path), dtype=np.float64)
    labels = np.asarray(tifffile.imread(mask_path))
    if image.ndim != 2 or image.shape != labels.shape:
        raise ValueError(
            f"expected a 2-D image and a mask of the same shape; got {image.shape} and "
            f"{labels.shape}"
        )
    return image, (labels > 0).astype(np.uint8)


def _tiles(array: np.ndarray, patch: int, stride: int) -> np.ndarray:
    windows = sliding_window_view(array, (patch, patch))[::stride, ::stride]
    return windows.reshape(-1, patch, patch).copy()


def load_nuclei(
    patch_size: int = 64,
    *,
    stride: int | None = None,
    validation_fraction: float = 0.25,
    percentiles: tuple[float, float] = (1.0, 99.8),
) -> NucleiTiles:
    """Tiles of the Data Science Bowl 2018 nuclei image, split by region.

    Parameters
    ----------
    patch_size : int
        Side of each square tile, at least 8 pixels.
    stride : int, optional
        Step between training tiles; smaller than ``patch_size`` gives overlapping training
        tiles. Defaults to ``patch_size``. Validation tiles never overlap.
    validation_fraction : float
        Share of the image's columns, taken from the right, that feeds the validation tiles;
        in (0, 1).
    percentiles : (float, float)
        Intensities at these percentiles of the training region map to 0 and 1; values
        outside are clipped.

    Returns
    -------
    NucleiTiles
        ``train_images``, ``train_masks``, ``val_images``, ``val_masks``, each of shape
        ``(n, patch_size, patch_size)``; images float32 in [0, 1], masks uint8 in {0, 1}.

    Raises
    ------
    ImportError
        If ``stardist`` (for the files) or ``tifffile`` (to read them) is missing.
    """
    if isinstance(patch_size, bool) or not isinstance(patch_size, int | np.integer):
        raise ValueError(f"patch_size must be an integer >= 8; got {patch_size!r}")
    stride = patch_size if stride is None else stride
    if isinstance(stride, bool) or not isinstance(stride, int | np.integer) or stride < 1:
        raise ValueError(f"stride must be a positive integer; got {stride!r}")
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must lie in (0, 1); got {validation_fraction!r}")
    low_pct, high_pct = percentiles
    if not 0.0 <= low_pct < high_pct <= 100.0:
        raise ValueError(f"percentiles must satisfy 0 <= low < high <= 100; got {percentiles!r}")

    image, mask = read_nuclei()
    height, width = image.shape
    split = round(width * (1.0 - validation_fraction))
    if patch_size < 8 or patch_size > min(height, split, width - split):
        raise ValueError(
            f"patch_size must be an integer in [8, {min(height, split, width - split)}] for a "
            f"{height}×{width} image with validation_fraction={validation_fraction}; "
            f"got {patch_size}"
        )
    low, high = np.percentile(image[:, :split], [low_pct, high_pct])
    scaled = np.clip((image - low) / max(high - low, 1e-12), 0.0, 1.0).astype(np.float32)
    return NucleiTiles(
        train_images=_tiles(scaled[:, :split], patch_size, stride),
        train_masks=_tiles(mask[:, :split], patch_size, stride),
        val_images=_tiles(scaled[:, split:], patch_size, patch_size),
        val_masks=_tiles(mask[:, split:], patch_size, patch_size),
    )
