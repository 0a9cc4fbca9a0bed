"""Reading image and mask files for segmentation, and the mask label conventions."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from bcekit.data.image_files import (
    binary_masks,
    list_images,
    read_image,
    read_mask,
    read_segmentation_folder,
    write_mask,
)


def test_eight_bit_grey_is_divided_by_255(tmp_path):
    pixels = np.array([[0, 51], [204, 255]], dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    image = read_image(tmp_path / "a.png")
    assert image.dtype == np.float32 and image.shape == (2, 2)
    np.testing.assert_allclose(image, pixels / 255.0, rtol=1e-7)


def test_sixteen_bit_grey_is_divided_by_65535(tmp_path):
    pixels = np.array([[0, 1000], [30000, 65535]], dtype=np.uint16)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    np.testing.assert_allclose(read_image(tmp_path / "a.png"), pixels / 65535.0, rtol=1e-6)


def test_colour_modes_become_rgb(tmp_path):
    rgba = np.zeros((3, 4, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 3] = 255, 128
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    image = read_image(tmp_path / "a.png")
    assert image.shape == (3, 4, 3)
    np.testing.assert_array_equal(image[..., 0], 1.0)
    np.testing.assert_array_equal(image[..., 1:], 0.0)


def test_unreadable_files_name_themselves(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"nope")
    with pytest.raises(ValueError, match=r"bad\.png: not a readable image"):
        read_image(tmp_path / "bad.png")
    with pytest.raises(ValueError, match=r"bad\.png: not a readable image"):
        read_mask(tmp_path / "bad.png")


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ([0, 255, 255, 0], [0, 1, 1, 0]),  # black and white: 255 is foreground
        ([0, 1, 255, 1], [0, 1, 255, 1]),  # 0/1 with 255 ignored
        ([0, 1, 1, 0], [0, 1, 1, 0]),
        ([0, 3, 17, 0], [0, 1, 1, 0]),  # instance labels
    ],
)
def test_binary_masks_follow_the_label_conventions(labels, expected):
    out = binary_masks(np.array(labels, dtype=np.uint8).reshape(1, 2, 2))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out.ravel(), expected)


def test_binary_masks_refuse_255_among_other_labels():
    with pytest.raises(ValueError, match=r"255 together with other labels than 0 and 1 \(\[7\]\)"):
        binary_masks(np.array([[0, 7], [255, 1]], dtype=np.uint8))


def test_write_mask_round_trips_and_list_images_filters(tmp_path):
    mask = np.array([[0, 1], [1, 0]])
    write_mask(tmp_path / "m.png", mask)
    (tmp_path / "notes.txt").write_text("x")
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png"), mask * 255)
    assert [p.name for p in list_images(tmp_path)] == ["m.png"]


def _pair(root, name, image, mask):
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(exist_ok=True)
    Image.fromarray(image).save(root / "images" / name)
    Image.fromarray(mask).save(root / "masks" / name)


def test_read_segmentation_folder_pairs_images_and_masks(tmp_path):
    _pair(tmp_path, "a.png", np.full((4, 6), 255, np.uint8), np.eye(4, 6, dtype=np.uint8) * 255)
    _pair(tmp_path, "b.png", np.zeros((4, 6), np.uint8), np.zeros((4, 6), np.uint8))
    images, masks = read_segmentation_folder(tmp_path)
    assert images.shape == (2, 4, 6) and images.dtype == np.float32
    np.testing.assert_array_equal(images[0], 1.0)
    np.testing.assert_array_equal(masks[0], np.eye(4, 6, dtype=np.uint8))
    assert not masks[1].any()


def test_read_segmentation_folder_refuses_mixed_sizes(tmp_path):
    _pair(tmp_path, "a.png", np.zeros((4, 6), np.uint8), np.zeros((4, 6), np.uint8))
    _pair(tmp_path, "b.png", np.zeros((5, 6), np.uint8), np.zeros((5, 6), np.uint8))
    with pytest.raises(ValueError, match="must share one size"):
        read_segmentation_folder(tmp_path)


def test_float_images_are_used_as_they_are(tmp_path):
    pixels = np.array([[0.0, 0.25], [1.5, -0.5]], dtype=np.float32)
    Image.fromarray(pixels, mode="F").save(tmp_path / "a.tif")
    np.testing.assert_array_equal(read_image(tmp_path / "a.tif"), pixels)
