"""Segmentation sets that ``SegmentationNet``'s defaults were not tuned on.

:func:`bcekit.datasets.make_shapes` draws bright discs, rectangles and rings on smooth waves.
The generators here share none of its code or shapes:

- :func:`make_other_shapes`: ellipses, triangles and five-pointed stars, one to five per
  image, on a steep linear gradient with a blotchy low-frequency texture and heavier,
  per-image pixel noise. Objects are brighter than the background by a contrast drawn from
  [0.2, 0.5] per object.
- :func:`make_dark_bars`: thick bars (capsules), plus-shaped crosses and hexagons, one to
  four per image, *darker* than a bright background striped by a fine sinusoid and a
  vignette, by a contrast drawn from [0.2, 0.45]; Gaussian noise of standard deviation 0.05.

Both take the number of images ``n``, their height and width ``size`` and a seed
``random_state``, and return float32 images in [0, 1] with uint8 masks that are 1 on the union
of the objects. :data:`SETS` names them for the segmentation
benchmark.
"""

from __future__ import annotations

import numpy as np

from bcekit.data.shapes import tilted_planes

KINDS = ("ellipse", "triangle", "star")
MAX_OBJECTS = 5


def _texture(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """Background in about [0.05, 0.6]: level, linear gradient and blotches (a coarse random
    grid upsampled bilinearly)."""
    image = tilted_planes(rng, n, size, (0.1, 0.35), 0.2)
    coarse = rng.normal(0.0, 0.04, (n, 6, 6))
    at = np.linspace(0.0, 5.0, size)
    lo = np.minimum(at.astype(int), 4)
    frac = at - lo
    rows = coarse[:, lo] * (1 - frac)[None, :, None] + coarse[:, lo + 1] * frac[None, :, None]
    image += rows[:, :, lo] * (1 - frac) + rows[:, :, lo + 1] * frac
    return image


def _object_frame(
    size: int, cy: np.ndarray, cx: np.ndarray, theta: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres in each object's frame: ``u`` along its axis at angle ``theta``, ``v``
    across it, both from its centre ``(cy, cx)``."""
    grid = np.arange(size, dtype=np.float64) + 0.5
    dy = grid[None, None, :, None] - cy
    dx = grid[None, None, None, :] - cx
    return np.cos(theta) * dx + np.sin(theta) * dy, -np.sin(theta) * dx + np.cos(theta) * dy


def _objects(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """Boolean masks of shape (n, MAX_OBJECTS, size, size); absent objects are empty."""
    k = MAX_OBJECTS
    present = np.arange(k)[None, :] < rng.integers(1, k + 1, (n, 1))
    kind = rng.integers(0, len(KINDS), (n, k))
    margin = size / 10
    cy = rng.uniform(margin, size - margin, (n, k))[..., None, None]
    cx = rng.uniform(margin, size - margin, (n, k))[..., None, None]
    radius = rng.uniform(size / 14, size / 5, (n, k))[..., None, None]
    aspect = rng.uniform(0.45, 1.0, (n, k))[..., None, None]
    theta = rng.uniform(0.0, 2 * np.pi, (n, k))[..., None, None]
    u, v = _object_frame(size, cy, cx, theta)
    ellipse = (u / radius) ** 2 + (v / (aspect * radius)) ** 2 <= 1.0
    # Equilateral triangle: inside all three half-planes at distance radius/2 from the centre.
    phi = np.arctan2(v, u)
    r = np.hypot(u, v)
    sector = np.mod(phi, 2 * np.pi / 3) - np.pi / 3
    triangle = r * np.cos(sector) <= radius / 2
    star = r <= radius * (0.6 + 0.4 * np.cos(5 * phi))
    shapes = np.choose(kind[..., None, None], (ellipse, triangle, star))
    return shapes & present[..., None, None]


def make_other_shapes(
    n: int, size: int = 48, random_state: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images of ellipses, triangles and stars on textured gradients, and their masks.

    Pixel noise has a standard deviation drawn per image from [0.03, 0.08].
    """
    rng = np.random.default_rng(random_state)
    image = _texture(rng, n, size)
    shapes = _objects(rng, n, size)
    contrast = rng.uniform(0.2, 0.5, (n, MAX_OBJECTS, 1, 1))
    image += (shapes * contrast).max(axis=1)
    image += rng.normal(0.0, 1.0, image.shape) * rng.uniform(0.03, 0.08, (n, 1, 1))
    images = np.clip(image, 0.0, 1.0).astype(np.float32)
    return images, shapes.any(axis=1).astype(np.uint8)


def _bars(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """Boolean masks (n, 4, size, size) of capsules, crosses and hexagons; absent ones empty."""
    k = 4
    present = np.arange(k)[None, :] < rng.integers(1, k + 1, (n, 1))
    kind = rng.integers(0, 3, (n, k))
    margin = size / 8
    cy = rng.uniform(margin, size - margin, (n, k))[..., None, None]
    cx = rng.uniform(margin, size - margin, (n, k))[..., None, None]
    length = rng.uniform(size / 10, size / 4, (n, k))[..., None, None]
    thick = rng.uniform(size / 40, size / 16, (n, k))[..., None, None]
    theta = rng.uniform(0.0, np.pi, (n, k))[..., None, None]
    u, v = _object_frame(size, cy, cx, theta)
    # Capsule: points within `thick` of the segment |u| <= length on the u axis.
    capsule = np.hypot(np.maximum(np.abs(u) - length, 0.0), v) <= thick
    arm = 0.7 * length
    au, av = np.abs(u), np.abs(v)
    cross = ((au <= arm) & (av <= thick)) | ((av <= arm) & (au <= thick))
    # Regular hexagon of circumradius 0.8·length: |projection| on three axes 60° apart.
    apothem = 0.8 * length * np.sqrt(3) / 2
    hexagon = np.ones(u.shape, bool)
    for angle in (0.0, np.pi / 3, 2 * np.pi / 3):
        hexagon &= np.abs(np.cos(angle) * u + np.sin(angle) * v) <= apothem
    shapes = np.choose(kind[..., None, None], (capsule, cross, hexagon))
    return shapes & present[..., None, None]


def make_dark_bars(
    n: int, size: int = 48, random_state: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images of dark bars, crosses and hexagons on bright striped backgrounds, and masks.

    Background ``0.75 + 0.04·sin(2π f·(x cos α + y sin α) + φ) − 0.15·r²`` (``f`` of 4 to 8
    periods across the image, ``r`` the distance from the centre in [-1, 1] coordinates),
    objects darker by 0.2 to 0.45, noise of standard deviation 0.05.
    """
    rng = np.random.default_rng(random_state)
    coords = np.linspace(-1.0, 1.0, size)
    y, x = coords[:, None], coords[None, :]
    angle = rng.uniform(0.0, np.pi, (n, 1, 1))
    periods = rng.uniform(2.0, 4.0, (n, 1, 1))  # sin(2π·f·t) over t in [-1, 1]: 2f periods
    phase = rng.uniform(0.0, 2 * np.pi, (n, 1, 1))
    along = np.cos(angle) * x + np.sin(angle) * y
    image = 0.75 + 0.04 * np.sin(2 * np.pi * periods * along + phase) - 0.15 * (x**2 + y**2)
    shapes = _bars(rng, n, size)
    contrast = rng.uniform(0.2, 0.45, (n, 4, 1, 1))
    image = image - (shapes * contrast).max(axis=1)
    image += rng.normal(0.0, 0.05, image.shape)
    images = np.clip(image, 0.0, 1.0).astype(np.float32)
    return images, shapes.any(axis=1).astype(np.uint8)


#: The benchmark's sets by name, each ``f(n, size, random_state) -> (images, masks)``.
SETS = {"other_shapes": make_other_shapes, "dark_bars": make_dark_bars}
