"""Image data sets: the synthetic shapes and the Data Science Bowl nuclei tiles."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from bcekit import datasets
from bcekit.data import nuclei
from bcekit.data.shapes import make_shapes

# --- make_shapes --------------------------------------------------------------------------


def test_shapes_types_ranges_and_determinism():
    images, masks = make_shapes(20, size=32, random_state=3)
    assert images.shape == masks.shape == (20, 32, 32)
    assert images.dtype == np.float32 and masks.dtype == np.uint8
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert set(np.unique(masks)) <= {0, 1}
    again = make_shapes(20, size=32, random_state=3)
    np.testing.assert_array_equal(images, again[0])
    np.testing.assert_array_equal(masks, again[1])
    other = make_shapes(20, size=32, random_state=4)
    assert not np.array_equal(masks, other[1])


def test_every_image_has_an_object_and_background():
    _, masks = make_shapes(200, random_state=0)
    fraction = masks.mean(axis=(1, 2))
    assert (fraction > 0).all() and (fraction < 0.9).all()
    assert 0.05 < masks.mean() < 0.4


def test_objects_are_brighter_than_their_background():
    images, masks = make_shapes(100, random_state=1)
    inside = np.array([im[m == 1].mean() for im, m in zip(images, masks, strict=True)])
    outside = np.array([im[m == 0].mean() for im, m in zip(images, masks, strict=True)])
    assert (inside - outside).min() > 0.1
    # The background is textured and noisy, not flat: no single threshold separates it.
    assert np.mean([im[m == 0].std() for im, m in zip(images, masks, strict=True)]) > 0.04


def test_rings_have_holes():
    # A ring leaves background pixels enclosed by foreground: look for a row that goes
    # 0 → 1 → 0 → 1 → 0 in at least some images.
    _, masks = make_shapes(100, random_state=2)
    changes = np.abs(np.diff(masks.astype(int), axis=2)).sum(axis=2)
    assert (changes >= 4).any()


def test_more_images_than_one_block_and_a_generator_seed():
    from bcekit.data.shapes import BLOCK

    n = BLOCK + 44
    a = make_shapes(n, size=16, random_state=np.random.default_rng(9))
    b = make_shapes(n, size=16, random_state=np.random.default_rng(9))
    assert a[0].shape == (n, 16, 16)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[1][:44], a[1][BLOCK:])  # each block draws afresh


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n": 0}, ValueError, "n must be a positive integer"),
        ({"n": 2.5}, ValueError, "n must be a positive integer"),
        ({"n": 2, "size": 8}, ValueError, "size must be an integer >= 16"),
        ({"n": 2, "random_state": "seed"}, TypeError, "random_state must be"),
    ],
)
def test_shapes_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_shapes(**kwargs)


def test_facade_exports():
    assert datasets.make_shapes is make_shapes
    assert datasets.load_nuclei is nuclei.load_nuclei


# --- load_nuclei --------------------------------------------------------------------------

have_stardist = importlib.util.find_spec("stardist") is not None
have_tifffile = importlib.util.find_spec("tifffile") is not None
needs_data = pytest.mark.skipif(
    not (have_stardist and have_tifffile),
    reason="nuclei data need `pip install --no-deps stardist` and `pip install tifffile`",
)


@needs_data
def test_nuclei_tiles_split_by_region():
    tiles = nuclei.load_nuclei(64)
    image, mask = nuclei.read_nuclei()
    assert image.shape == (512, 512)
    assert tiles.train_images.shape == (8 * 6, 64, 64)
    assert tiles.val_images.shape == (8 * 2, 64, 64)
    assert tiles.train_images.dtype == np.float32 and tiles.train_masks.dtype == np.uint8
    assert 0.0 <= tiles.train_images.min() and tiles.train_images.max() <= 1.0
    # Tiles are read row-major from the left 384 columns, then from the right 128.
    np.testing.assert_array_equal(tiles.train_masks[1], mask[0:64, 64:128])
    np.testing.assert_array_equal(tiles.val_masks[0], mask[0:64, 384:448])
    np.testing.assert_array_equal(tiles.val_masks[-1], mask[448:512, 448:512])
    for masks in (tiles.train_masks, tiles.val_masks):  # nuclei in both splits
        assert 0.05 < masks.mean() < 0.5


@needs_data
def test_nuclei_normalisation_and_overlapping_training_tiles():
    image, _ = nuclei.read_nuclei()
    tiles = nuclei.load_nuclei(64, stride=32)
    assert tiles.train_images.shape[0] == 15 * 11
    low, high = np.percentile(image[:, :384], [1.0, 99.8])
    expected = np.clip((image[32:96, 32:96] - low) / (high - low), 0, 1)
    np.testing.assert_allclose(tiles.train_images[11 + 1], expected, rtol=1e-6, atol=1e-6)
    assert tiles.val_images.shape[0] == 16  # validation tiles never overlap


@needs_data
def test_nuclei_bad_arguments():
    with pytest.raises(ValueError, match="patch_size must be an integer in \\[8, 128\\]"):
        nuclei.load_nuclei(200)
    with pytest.raises(ValueError, match="validation_fraction must lie in"):
        nuclei.load_nuclei(64, validation_fraction=1.0)
    with pytest.raises(ValueError, match="stride must be a positive integer"):
        nuclei.load_nuclei(64, stride=0)


def test_missing_stardist_says_what_to_install(monkeypatch):
    monkeypatch.setattr(nuclei.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ImportError, match="pip install --no-deps stardist"):
        nuclei.load_nuclei()


def test_missing_tifffile_says_what_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tifffile(name, *args, **kwargs):
        if name == "tifffile":
            raise ImportError("No module named 'tifffile'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tifffile)
    monkeypatch.setattr(nuclei, "nuclei_files", lambda: (Path("img2d.tif"), Path("mask2d.tif")))
    with pytest.raises(ImportError, match="pip install tifffile"):
        nuclei.read_nuclei()
