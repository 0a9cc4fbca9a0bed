"""``bcekit export``: model folders of ``bcekit train`` and ``bcekit segment`` to ONNX files."""

from __future__ import annotations

import json
import sys

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest

from bcekit import io
from bcekit.cli.artifacts import load_model_dir
from bcekit.data.bundled import TARGET_COLUMN, breast_cancer_table
from bcekit.datasets import make_shapes
from cli_support import assert_bad_input, invoke

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
ort = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")

ATOL = 1e-5


def session(path):
    onnx.checker.check_model(str(path), full_check=True)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def train(workdir, table, name, *options):
    data = workdir / f"{name}.csv"
    pcsv.write_csv(table, data)
    out = workdir / name
    result = invoke(
        "--quiet", "train", data, "--target", TARGET_COLUMN, "--output", out, "--epochs", 5,
        *options,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("export")


@pytest.fixture(scope="module")
def mixed_table():
    """Breast cancer plus a text column and missing values: one-hot and imputation at work."""
    table = breast_cancer_table()
    radius = table.column("mean radius").to_numpy()
    size = np.where(radius > 15, "large", np.where(radius > 12, "medium", "small")).astype(object)
    size[::17] = None
    texture = table.column("mean texture").to_numpy().copy()
    texture[::13] = np.nan
    table = table.set_column(table.column_names.index("mean texture"), "mean texture", [texture])
    return table.append_column("size", pa.array(size.tolist(), pa.string()))


def _numeric_matrix(table, pre):
    columns = [c for c in pre.columns if c not in pre.categories]
    return np.column_stack([table.column(c).to_numpy(zero_copy_only=False) for c in columns])


def test_exported_train_run_applies_the_preprocessing(workdir):
    run = train(workdir, breast_cancer_table(), "plain", "--model", "mlp")
    result = invoke("--json", "export", run, "--output", workdir / "plain.onnx")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert [i["name"] for i in summary["inputs"]] == ["X"]
    model, pre = load_model_dir(run)
    assert summary["X_columns"] == pre.columns
    table = breast_cancer_table()
    label, proba = session(workdir / "plain.onnx").run(None, {"X": _numeric_matrix(table, pre)})
    expected = model.predict_proba(pre.transform(table))
    np.testing.assert_allclose(proba, expected, rtol=0, atol=ATOL)
    clear = np.abs(expected[:, 1] - 0.5) > ATOL
    labels = pre.decode_labels(model.predict(pre.transform(table))).to_numpy(zero_copy_only=False)
    np.testing.assert_array_equal(label[clear], labels[clear])


def test_one_hot_and_imputed_columns(workdir, mixed_table):
    run = train(workdir, mixed_table, "mixed", "--one-hot", "--impute", "median")
    out = workdir / "mixed.onnx"
    assert invoke("--quiet", "export", run, "-o", out).exit_code == 0
    model, pre = load_model_dir(run)
    sizes = mixed_table.column("size").to_numpy(zero_copy_only=False)
    feeds = {
        "X": _numeric_matrix(mixed_table, pre),
        "size": np.array(["" if s is None else s for s in sizes], dtype=object)[:, None],
    }
    assert np.isnan(feeds["X"]).any()
    label, proba = session(out).run(None, feeds)
    expected = model.predict_proba(pre.transform(mixed_table))
    np.testing.assert_allclose(proba, expected, rtol=0, atol=ATOL)
    assert set(label) == set(pre.classes)


def test_exported_segment_run(workdir):
    run = workdir / "seg"
    result = invoke(
        "--quiet", "segment", "--output", run, "--epochs", 1, "--depth", 1, "--width", 2,
        "--n-train", 16, "--n-test", 4,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    out = workdir / "seg.onnx"
    assert invoke("--quiet", "export", run, "--output", out).exit_code == 0
    model = io.load(run)
    images = make_shapes(3, size=30, random_state=5)[0][..., None]
    label, proba = session(out).run(["label", "probabilities"], {"images": images})
    np.testing.assert_allclose(proba, model.predict_proba(images), rtol=0, atol=ATOL)
    assert label.shape == (3, 30, 30)


def test_export_replaces_an_existing_file_whole(workdir):
    run = train(workdir, breast_cancer_table(), "again")
    out = workdir / "again.onnx"
    out.write_bytes(b"old")
    assert invoke("--quiet", "export", run, "--output", out).exit_code == 0
    assert onnx.load(str(out)).graph.output[0].name == "label"
    assert not [p for p in workdir.iterdir() if p.name.startswith(".again.onnx")]


def test_export_refuses_to_overwrite_the_models_own_files(workdir):
    run = train(workdir, breast_cancer_table(), "own")
    before = (run / "model.json").read_bytes()
    result = invoke("export", run, "--output", run / "model.json")
    assert_bad_input(result, "is the input")
    assert (run / "model.json").read_bytes() == before
    io.load(run)


def test_bad_folders_and_outputs_exit_2(workdir, tmp_path):
    out = tmp_path / "m.onnx"
    assert_bad_input(invoke("export", tmp_path / "absent", "-o", out), "no such model folder")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_bad_input(invoke("export", empty, "-o", out), "missing model.safetensors, model.json")
    (tmp_path / "file").write_text("x")
    assert_bad_input(invoke("export", tmp_path / "file", "-o", out), "not a model folder")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.json").write_text("{")
    (broken / "model.safetensors").write_bytes(b"")
    assert_bad_input(invoke("export", broken, "-o", out), "the model file is unusable")
    assert_bad_input(invoke("export", empty, "-o", tmp_path), "is a folder")
    assert not out.exists()


def test_missing_onnx_names_the_extra(monkeypatch, workdir, tmp_path):
    for name in [m for m in sys.modules if m == "bcekit.onnx" or m.startswith("bcekit.onnx.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` fail
    with pytest.raises(ImportError, match=r"pip install 'bcekit\[onnx\]'"):
        import bcekit.onnx  # noqa: F401
    result = invoke("export", tmp_path, "-o", tmp_path / "m.onnx")
    assert_bad_input(result, "bcekit[onnx]")
