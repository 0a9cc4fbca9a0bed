"""Synthetic segmentation data: bright discs, rectangles and rings on textured backgrounds.

Each image is a smooth background — a base level, a linear gradient in a random direction
and a few low-frequency waves — with Gaussian pixel noise on top. One to four objects are
drawn on it, each a disc, a rotated rectangle or a ring, brighter than the background by a
random contrast; the mask marks the object pixels. The objects overlap freely, and the mask
is their union. Everything is vectorised over images and objects; a seed gives the same data
on every platform NumPy supports.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bcekit.nn.init import as_generator

#: Object kinds, in the order of their codes in the generator.
KINDS = ("disc", "rectangle", "ring")
MAX_OBJECTS = 4
MIN_SIZE = 16
#: Images generated per vectorised block (bounds the temporary memory to ~100 MB at 48×48).
BLOCK = 256


def tilted_planes(
    rng: np.random.Generator,
    n: int,
    size: int,
    levels: tuple[float, float],
    max_slope: float,
) -> np.ndarray:
    r"""``n`` images ``size``×``size`` of a plane :math:`c + s(x\cos\phi + y\sin\phi)` on
    :math:`x, y \in [-1, 1]`, with a level :math:`c \sim U(\text{levels})`, a slope
    :math:`s \sim U(0, \text{max\_slope})` and a direction :math:`\phi \sim U(0, 2\pi)`
    per image (drawn in that order). Also the base of the shape sets in ``benchmarks``.
    """
    coords = np.linspace(-1.0, 1.0, size)
    y, x = coords[:, None], coords[None, :]
    level = rng.uniform(*levels, (n, 1, 1))
    angle = rng.uniform(0.0, 2 * np.pi, (n, 1, 1))
    slope = rng.uniform(0.0, max_slope, (n, 1, 1))
    return level + slope * (np.cos(angle) * x + np.sin(angle) * y)


def _backgrounds(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """Smooth textures in roughly [0.1, 0.6]: level + linear gradient + three plane waves."""
    image = tilted_planes(rng, n, size, (0.2, 0.4), 0.12)
    coords = np.linspace(-1.0, 1.0, size)
    y, x = coords[:, None], coords[None, :]
    wave_angle = rng.uniform(0.0, 2 * np.pi, (n, 3, 1, 1))
    frequency = rng.uniform(1.0, 4.0, (n, 3, 1, 1))
    phase = rng.uniform(0.0, 2 * np.pi, (n, 3, 1, 1))
    amplitude = rng.uniform(0.0, 0.05, (n, 3, 1, 1))
    along = np.cos(wave_angle) * x + np.sin(wave_angle) * y
    image += (amplitude * np.sin(np.pi * frequency * along + phase)).sum(axis=1)
    return image


def _objects(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """Boolean masks of shape (n, MAX_OBJECTS, size, size); absent objects are empty."""
    k = MAX_OBJECTS
    count = rng.integers(1, k + 1, (n, 1))
    present = np.arange(k)[None, :] < count
    kind = rng.integers(0, len(KINDS), (n, k))
    margin = size / 8
    cy = rng.uniform(margin, size - margin, (n, k))
    cx = rng.uniform(margin, size - margin, (n, k))
    radius = rng.uniform(size / 12, size / 5, (n, k))
    inner = radius * rng.uniform(0.4, 0.6, (n, k))
    half_a = rng.uniform(size / 14, size / 6, (n, k))
    half_b = rng.uniform(size / 14, size / 6, (n, k))
    theta = rng.uniform(0.0, np.pi, (n, k))

    grid = np.arange(size, dtype=np.float64) + 0.5
    dy = grid[None, None, :, None] - cy[..., None, None]
    dx = grid[None, None, None, :] - cx[..., None, None]
    dist2 = dy**2 + dx**2
    r2, inner2 = (radius**2)[..., None, None], (inner**2)[..., None, None]
    cos_t, sin_t = np.cos(theta)[..., None, None], np.sin(theta)[..., None, None]
    u = cos_t * dx + sin_t * dy
    v = -sin_t * dx + cos_t * dy
    disc = dist2 <= r2
    rectangle = (np.abs(u) <= half_a[..., None, None]) & (np.abs(v) <= half_b[..., None, None])
    ring = disc & (dist2 >= inner2)
    shapes = np.choose(kind[..., None, None], (disc, rectangle, ring))
    return shapes & present[..., None, None]


def make_shapes(n: int, size: int = 48, random_state: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Generate ``n`` textured images with bright objects and their binary masks.

    Parameters
    ----------
    n : int
        Number of images (at least 1).
    size : int
        Height and width of each image, at least 16 pixels.
    random_state : None, int, numpy Generator or RandomState
        Seed; the same seed gives the same images and masks.

    Returns
    -------
    images : ndarray of shape (n, size, size), float32
        Intensities in [0, 1]. Each object is brighter than the background around it by a
        contrast drawn from [0.25, 0.45]; Gaussian noise of standard deviation 0.05 covers
        the whole image.
    masks : ndarray of shape (n, size, size), uint8
        1 on object pixels (the union of the image's one to four discs, rectangles and rings),
        0 elsewhere.

    Examples
    --------
    >>> images, masks = make_shapes(8, size=32, random_state=0)
    >>> images.shape, masks.dtype
    ((8, 32, 32), dtype('uint8'))
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n must be a positive integer; got {n!r}")
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < MIN_SIZE:
        raise ValueError(f"size must be an integer >= {MIN_SIZE}; got {size!r}")
    n, size = int(n), int(size)
    rng = as_generator(random_state)
    images = np.empty((n, size, size), np.float32)
    masks = np.empty((n, size, size), np.uint8)
    for start in range(0, n, BLOCK):
        block = slice(start, min(start + BLOCK, n))
        images[block], masks[block] = _block(rng, block.stop - block.start, size)
    return images, masks


def _block(rng: np.random.Generator, n: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    image = _backgrounds(rng, n, size)
    shapes = _objects(rng, n, size)
    contrast = rng.uniform(0.25, 0.45, (n, MAX_OBJECTS, 1, 1))
    # Overlapping objects take the largest of their contrasts, so the union stays one region.
    image += (shapes * contrast).max(axis=1)
    image += rng.normal(0.0, 0.05, image.shape)
    return np.clip(image, 0.0, 1.0), shapes.any(axis=1)
