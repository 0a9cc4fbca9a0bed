"""Model folders from strangers and awkward files, through the command line and ``bcekit.io``.

Each hostile folder is built in ``tmp_path`` from a small good one. The command line runs in
a subprocess whose address space is limited (``RLIMIT_AS``) and with a timeout, as a user
would meet the case: it must exit 2 with one ``error:`` line naming the file, no traceback,
and write no output. The same folder through :func:`bcekit.io.load` raises
:class:`bcekit.io.ModelFileError`.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

import bcekit
from bcekit import io
from bcekit.cli.artifacts import save_model_dir
from bcekit.data.tables import TablePreprocessor

ADDRESS_SPACE = 3 * 2**30  # Numba and LLVM reserve a few hundred MiB of it at import
ENV = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1", "COLUMNS": "120"}
FEATURES = ("a", "b", "c")


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def run_cli(*args: object, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bcekit.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=timeout,
        preexec_fn=_limit_memory,
    )


def assert_refused(proc: subprocess.CompletedProcess, *fragments: str) -> str:
    """Exit 2, one ``error:`` line holding every fragment, no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def _table(n: int = 40, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, len(FEATURES)))
    y = (X[:, 0] - X[:, 2] > 0).astype(np.int64)
    return pa.table({**{name: X[:, i] for i, name in enumerate(FEATURES)}, "y": y})


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A model folder as ``bcekit train`` writes it, and a table to predict."""
    root = tmp_path_factory.mktemp("good")
    table = _table()
    pre = TablePreprocessor.fit(table, "y")
    model = bcekit.LogisticRegression(max_iter=50).fit(pre.transform(table), table["y"].to_numpy())
    save_model_dir(root / "model", model, pre)
    pcsv.write_csv(table.drop_columns(["y"]), root / "data.csv")
    return root


@pytest.fixture
def folder(tmp_path, good):
    shutil.copytree(good / "model", tmp_path / "model")
    shutil.copy(good / "data.csv", tmp_path / "data.csv")
    return tmp_path / "model"


def _edit_json(folder: Path, change) -> None:
    path = folder / "model.json"
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))


def _edit_weights(folder: Path, change) -> None:
    """Change the arrays and keep the manifest and SHA-256 consistent with them."""
    arrays = st_load((folder / "model.safetensors").read_bytes())
    change(arrays)
    payload = st_save(arrays)
    (folder / "model.safetensors").write_bytes(payload)

    def frame(document):
        document["sha256"] = hashlib.sha256(payload).hexdigest()
        document["arrays"] = {
            k: {"dtype": v.dtype.str, "shape": list(v.shape)} for k, v in arrays.items()
        }

    _edit_json(folder, frame)


def _replace_with_link(path: Path, target: str) -> None:
    path.unlink()
    path.symlink_to(target)


def _replace_with_fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _raw_params(folder: Path, text: str) -> None:
    """Put ``text``, raw JSON, in place of the ``params`` object."""
    path = folder / "model.json"
    document = json.loads(path.read_text())
    document["params"] = "@PARAMS@"
    path.write_text(json.dumps(document).replace('"@PARAMS@"', text))


def _subarray_dtypes(folder: Path) -> None:
    huge = {"$array": 0, "dtype": "(15000,15000)f8"}  # 1.8 GB each, from 40 bytes
    _edit_json(folder, lambda d: d["params"].update(class_weight={str(i): huge for i in range(5)}))


def _three_classes(folder: Path) -> None:
    _edit_weights(folder, lambda a: a.update(classes_=np.array([0, 1, 2])))


def _repeated_class(folder: Path) -> None:
    _edit_weights(folder, lambda a: a.update(classes_=np.array([1, 1])))


def _nan_weights(folder: Path) -> None:
    _edit_weights(folder, lambda a: a["coef_"].__setitem__((0, 1), np.nan))


def _inf_weights(folder: Path) -> None:
    _edit_weights(folder, lambda a: a["intercept_"].__setitem__(0, -np.inf))


def _big_metadata(folder: Path) -> None:
    with open(folder / "model.json", "r+b") as handle:  # sparse: no time or disk spent
        handle.truncate(65 * 2**20)


# name -> (how to spoil the folder, the file the message must name, a fragment of it)
HOSTILE = {
    "json_links_to_dev_zero": (
        lambda f: _replace_with_link(f / "model.json", "/dev/zero"),
        "model.json",
        "character device",
    ),
    "json_is_a_fifo": (lambda f: _replace_with_fifo(f / "model.json"), "model.json", "pipe"),
    "weights_link_to_dev_zero": (
        lambda f: _replace_with_link(f / "model.safetensors", "/dev/zero"),
        "model.safetensors",
        "character device",
    ),
    "weights_are_a_fifo": (
        lambda f: _replace_with_fifo(f / "model.safetensors"),
        "model.safetensors",
        "pipe",
    ),
    "json_over_64_mib": (_big_metadata, "model.json", "more than"),
    "subarray_dtype": (_subarray_dtypes, "model.json", "plain numeric dtype"),
    "deep_lists": (lambda f: _raw_params(f, _nested(100_000)), "model.json", "deep"),
    "deep_objects": (
        lambda f: _raw_params(f, '{"a":' * 100_000 + "1" + "}" * 100_000),
        "model.json",
        "deep",
    ),
    "900_levels_in_params": (
        lambda f: _raw_params(f, '{"tol":' + _nested(900) + "}"),
        "model.json",
        "deeper than",
    ),
    "5000_digit_integer": (
        lambda f: _raw_params(f, '{"max_iter":' + "9" * 5000 + "}"),
        "model.json",
        "5000 digits",
    ),
    "nan_weights": (_nan_weights, "model.safetensors", "weights are not finite"),
    "infinite_weights": (_inf_weights, "model.safetensors", "weights are not finite"),
    "three_binary_classes": (_three_classes, "model.json", "classes_"),
    "repeated_class": (_repeated_class, "model.json", "classes_"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_model_folder_is_refused_by_predict(folder, case):
    spoil, named, fragment = HOSTILE[case]
    spoil(folder)
    out = folder.parent / "out.csv"
    proc = run_cli("predict", folder, folder.parent / "data.csv", "--output", out, timeout=60)
    assert_refused(proc, str(folder / named), fragment)
    assert not out.exists()
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".out.csv")]


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_model_folder_is_refused_by_load(folder, case):
    spoil, named, fragment = HOSTILE[case]
    spoil(folder)
    with pytest.raises(io.ModelFileError) as caught:
        io.load(folder)
    assert str(folder / named) in str(caught.value) and fragment in str(caught.value)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_mlp_sizes_that_disagree_with_the_weights_are_refused_before_building(tmp_path):
    table = _table()
    pre = TablePreprocessor.fit(table, "y")
    model = bcekit.MLPClassifier((4,), max_iter=2, random_state=0)
    model.fit(pre.transform(table), table["y"].to_numpy())
    save_model_dir(tmp_path / "model", model, pre)
    pcsv.write_csv(table.drop_columns(["y"]), tmp_path / "data.csv")

    def oversize(document):  # 10**6 inputs by 3,000 units: 24 GB of weights, from 20 bytes
        document["n_features_in"] = 10**6
        document["params"]["hidden_layer_sizes"] = [3000]

    _edit_json(tmp_path / "model", oversize)
    out = tmp_path / "out.csv"
    proc = run_cli("predict", tmp_path / "model", tmp_path / "data.csv", "-o", out)
    assert_refused(proc, str(tmp_path / "model" / "model.json"), "shapes")
    assert not out.exists()
    with pytest.raises(io.ModelFileError, match="shapes"):
        io.load(tmp_path / "model")
    _edit_json(  # two hidden layers of 400,000: 1.3 TB of weights
        tmp_path / "model", lambda d: d["params"].update(hidden_layer_sizes=[400_000, 400_000])
    )
    with pytest.raises(io.ModelFileError, match="shapes"):
        io.load(tmp_path / "model")


def test_classes_that_preprocess_json_does_not_encode_are_refused(folder):
    _edit_weights(folder, lambda a: a.update(classes_=np.array([0, 2])))
    assert list(io.load(folder).classes_) == [0, 2]  # a consistent model file on its own
    proc = run_cli("predict", folder, folder.parent / "data.csv", "-o", folder.parent / "o.csv")
    assert_refused(proc, str(folder), "preprocess.json")


def test_predicting_over_the_input_is_refused(folder):
    data = folder.parent / "data.csv"
    before = data.read_bytes()
    hard, soft = folder.parent / "hard.csv", folder.parent / "soft.csv"
    os.link(data, hard)  # another name for the same inode
    soft.symlink_to(data)
    for output in (data, hard, soft):
        proc = run_cli("predict", folder, data, "--output", output)
        assert_refused(proc, f"--output {output}", "input")
    assert data.read_bytes() == before


def test_predicting_into_a_folder_that_takes_no_files_is_refused(folder, tmp_path):
    if os.geteuid() == 0:  # root writes through permission bits; /proc takes no new files
        output = Path("/proc/predictions.csv")
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        output = locked / "predictions.csv"
    proc = run_cli("predict", folder, folder.parent / "data.csv", "--output", output)
    assert_refused(proc, f"--output {output}", "cannot write")
    assert not output.exists()


def test_stale_temporaries_of_killed_writes_are_cleaned_on_the_next_write(folder):
    out = folder.parent / "out.csv"
    stale_file = folder.parent / ".out.csv.k9abc_12.tmp"
    stale_dir = folder.parent / ".out.csv.k9abc_34.tmp"
    stale_file.write_text("half")
    stale_dir.mkdir()
    (stale_dir / "part").write_text("half")
    unrelated = folder.parent / ".out.csv.not-ours.tmp"
    unrelated.write_text("keep")
    for path in (stale_file, stale_dir, unrelated):
        os.utime(path, (1e9, 1e9))
    proc = run_cli("predict", folder, folder.parent / "data.csv", "--output", out)
    assert proc.returncode == 0, proc.stderr
    assert out.exists() and unrelated.exists()
    assert not stale_file.exists() and not stale_dir.exists()


def test_a_csv_with_a_long_field_and_a_semicolon_csv_are_read(folder):
    rows = _table().drop_columns(["y"]).to_pylist()
    lines = ["a;b;c;note"] + [f"{r['a']:.3f};{r['b']:.3f};{r['c']:.3f};n" for r in rows]
    semi = folder.parent / "semi.csv"
    semi.write_text("\n".join(lines) + "\n")
    text = [line.replace(";", ",") for line in lines]
    text[5] = text[5][:-1] + "x" * 3_000_000  # a 3 MB field, more than pyarrow's 1 MiB block
    long = folder.parent / "long.csv"
    long.write_text("\n".join(text) + "\n")
    for data in (semi, long):
        out = folder.parent / f"predicted-{data.name}"
        proc = run_cli("predict", folder, data, "--drop", "note", "-o", out)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert pcsv.read_csv(out).num_rows == len(rows)


def test_a_network_beyond_the_memory_is_refused_naming_the_option(tmp_path):
    pcsv.write_csv(_table(), tmp_path / "t.csv")
    out = tmp_path / "run"
    proc = run_cli(
        "train", tmp_path / "t.csv", "--target", "y", "--model", "mlp", "--hidden", "100000000",
        "--quiet", "-o", out,
    )  # fmt: skip
    assert_refused(proc, "--hidden 100000000", "memory")
    assert not out.exists()
