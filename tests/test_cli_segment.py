"""``bcekit segment``: generated shapes and image folders in, overlays, metrics and a model out."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from bcekit import io
from bcekit.cli.app import cli
from bcekit.datasets import make_shapes


def invoke(*args: object):
    return CliRunner().invoke(cli, [str(a) for a in args], prog_name="bcekit")


def assert_bad_input(result, fragment: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert fragment in lines[0]
    assert "Traceback" not in result.stderr


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
    assert io.load(out).batch_norm is False


def test_batch_norm_flag_reaches_the_model(tmp_path):
    data = _write_folder(tmp_path / "data")
    out = tmp_path / "run"
    result = invoke(
        "--quiet", "segment", "--data", data, "--output", out, "--epochs", 1, "--batch-norm"
    )
    assert result.exit_code == 0, result.stderr
    model = io.load(out)
    assert model.batch_norm is True
    assert any(name.endswith("running_var") for name, _ in model.network_.named_buffers())


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
