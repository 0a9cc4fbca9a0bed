"""``bcekit segment``: generated shapes and image folders in, overlays, metrics and a model out."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from bcekit import io
from bcekit.datasets import make_shapes
from cli_support import assert_bad_input, invoke


@pytest.mark.slow
def test_shapes_run_writes_metrics_overlays_and_a_loadable_model(tmp_path):
    out = tmp_path / "run"
    result = invoke(
        "--json", "segment", "--output", out, "--epochs", 8, "--n-train", 160, "--n-test", 30
    )
    assert result.exit_code == 0, result.stderr
    printed = json.loads(result.stdout)
    written = json.loads((out / "metrics.json").read_text())
    assert printed == written
    assert written["n_images"] == 30
    assert 0.5 < written["mean_iou"] <= 1.0
    assert (out / "overlays.png").stat().st_size > 0
    model = io.load(out)
    images, masks = make_shapes(190, random_state=0)
    pred = model.predict(images[160:])
    assert pred.shape == masks[160:].shape
    assert set(np.unique(pred)) <= {0, 1}


def _write_folder(root, n=12, size=32):
    images, masks = make_shapes(n, size=size, random_state=3)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i, (image, mask) in enumerate(zip(images, masks, strict=True)):
        Image.fromarray((image * 255).astype(np.uint8)).save(root / "images" / f"{i}.png")
        Image.fromarray(mask * 255).save(root / "masks" / f"{i}.png")
    return root


def test_image_folder_is_read_and_split(tmp_path):
    data = _write_folder(tmp_path / "data")
    out = tmp_path / "run"
    result = invoke("--quiet", "segment", "--data", data, "--output", out, "--epochs", 1)
    assert result.exit_code == 0, result.stderr
    assert json.loads((out / "metrics.json").read_text())["n_images"] == 3
    model = io.load(out)
    assert model.batch_norm is True  # SegmentationNet's default
    assert any(name.endswith("running_var") for name, _ in model.network_.named_buffers())


def test_no_batch_norm_flag_reaches_the_model(tmp_path):
    data = _write_folder(tmp_path / "data")
    out = tmp_path / "run"
    result = invoke(
        "--quiet", "segment", "--data", data, "--output", out, "--epochs", 1, "--no-batch-norm"
    )
    assert result.exit_code == 0, result.stderr
    model = io.load(out)
    assert model.batch_norm is False
    assert not list(model.network_.named_buffers())


@pytest.mark.parametrize(
    ("layout", "fragment"),
    [
        ("missing", "not 'shapes', 'nuclei' or an existing folder"),
        ("no-masks", "needs the sub-folders images/ and masks/"),
        ("unpaired", "no mask for"),
        ("garbage", "not a readable image"),
    ],
)
def test_bad_folders_are_bad_input_and_leave_no_output(tmp_path, layout, fragment):
    data = tmp_path / "data"
    if layout != "missing":
        _write_folder(data)
    if layout == "no-masks":
        for p in (data / "masks").iterdir():
            p.unlink()
        (data / "masks").rmdir()
    elif layout == "unpaired":
        (data / "masks" / "0.png").unlink()
    elif layout == "garbage":
        (data / "images" / "0.png").write_bytes(b"\x00not an image")
    out = tmp_path / "run"
    assert_bad_input(invoke("segment", "--data", data, "--output", out), fragment)
    assert not out.exists()


# --- bcekit predict with a segmentation model ----------------------------------------------


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("seg")
    data = _write_folder(root / "data", n=20)
    out = root / "run"
    result = invoke("--quiet", "segment", "--data", data, "--output", out, "--epochs", 2)
    assert result.exit_code == 0, result.stderr
    return data, out


def test_predict_writes_one_mask_per_image(trained_run, tmp_path):
    from bcekit.data.image_files import read_image

    data, run = trained_run
    out = tmp_path / "masks"
    result = invoke("--json", "predict", run, data / "images", "--output", out)
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary == json.loads((out / "predictions.json").read_text())
    names = sorted(f"{i}.png" for i in range(20))
    assert [r["image"] for r in summary["images"]] == names
    model = io.load(run)
    for record in summary["images"][:4]:
        written = np.asarray(Image.open(out / record["mask"]))
        assert written.dtype == np.uint8 and set(np.unique(written)) <= {0, 255}
        image = read_image(data / "images" / record["image"])
        expected = model.predict_proba(image[np.newaxis])[0] > 0.5
        np.testing.assert_array_equal(written == 255, expected)
        assert record["foreground_fraction"] == pytest.approx(expected.mean())


def test_predict_one_image_with_a_threshold(trained_run, tmp_path):
    data, run = trained_run
    out = tmp_path / "one"
    result = invoke(
        "--quiet", "predict", run, data / "images" / "3.png", "-o", out, "--threshold", 0.99
    )
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["3.png", "predictions.json"]
    assert json.loads((out / "predictions.json").read_text())["threshold"] == 0.99


def test_predict_uses_the_models_own_threshold(trained_run, tmp_path):
    from bcekit.data.image_files import read_image

    data, run = trained_run
    model = io.load(run)
    model.threshold = 0.2
    io.save(model, f"{tmp_path / 'low'}/")
    out = tmp_path / "masks"
    result = invoke("--quiet", "predict", tmp_path / "low", data / "images" / "5.png", "-o", out)
    assert result.exit_code == 0, result.stderr
    assert json.loads((out / "predictions.json").read_text())["threshold"] == 0.2
    proba = model.predict_proba(read_image(data / "images" / "5.png")[np.newaxis])[0]
    np.testing.assert_array_equal(np.asarray(Image.open(out / "5.png")) == 255, proba > 0.2)


def test_predict_refuses_drop_for_a_segmentation_model(trained_run, tmp_path):
    data, run = trained_run
    out = tmp_path / "masks"
    result = invoke("predict", run, data / "images", "-o", out, "--drop", "x")
    assert_bad_input(result, "--drop applies to tables")
    assert not out.exists()


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ("colour", "colour images, but the model was trained on 1-channel images"),
        ("empty", "holds no images"),
        ("missing", "no such image file or folder"),
        ("garbage", "not a readable image"),
        ("same stem", "would both write 0.png"),
    ],
)
def test_predict_bad_images_are_bad_input_and_leave_no_output(
    trained_run, tmp_path, case, fragment
):
    _, run = trained_run
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(images / "0.png")
    if case == "colour":
        Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(images / "1.png")
    elif case == "empty":
        (images / "0.png").unlink()
    elif case == "missing":
        images = tmp_path / "nowhere"
    elif case == "garbage":
        (images / "1.png").write_bytes(b"\x89PNG but not really")
    elif case == "same stem":
        Image.fromarray(np.zeros((32, 32), np.uint8)).save(images / "0.tif")
    out = tmp_path / "masks"
    assert_bad_input(invoke("predict", run, images, "--output", out), fragment)
    assert not out.exists()


def test_evaluate_scores_a_labelled_folder_like_the_model(trained_run):
    from bcekit.data.image_files import read_segmentation_folder
    from bcekit.plots.masks import dice_scores, iou_scores

    data, run = trained_run
    result = invoke("--json", "evaluate", run, data)
    assert result.exit_code == 0, result.stderr
    metrics = json.loads(result.stdout)
    images, masks = read_segmentation_folder(data)
    predicted = io.load(run).predict(images)
    assert metrics["n_images"] == 20
    assert metrics["mean_iou"] == pytest.approx(iou_scores(masks, predicted).mean())
    assert metrics["mean_dice"] == pytest.approx(dice_scores(masks, predicted).mean())
    text = invoke("evaluate", run, data)
    assert text.exit_code == 0 and "20 images: mean IoU" in text.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--target", "y"), "--target and --drop apply to tables"),
        ((), "needs the sub-folders images/ and masks/"),
    ],
)
def test_evaluate_segmentation_bad_input(trained_run, tmp_path, args, fragment):
    _, run = trained_run
    folder = tmp_path / "plain"
    folder.mkdir()
    assert_bad_input(invoke("evaluate", run, folder, *args), fragment)
