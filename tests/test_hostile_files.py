"""Model folders and tables from strangers: refused cleanly, in bounded memory and time.

Each hostile folder is built from a real ``bcekit train`` output, then run through the CLI in
a subprocess under an address-space limit and a timeout (exit 2, one line on stderr naming
the file, no traceback, no output file), and through :func:`bcekit.io.load`, which raises
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
import pyarrow.csv as pcsv
import pytest
from safetensors.numpy import load_file, save_file

from bcekit import io
from bcekit.data.bundled import TARGET_COLUMN as TARGET
from bcekit.data.bundled import breast_cancer_table

BCEKIT = Path(sys.executable).with_name("bcekit")
ADDRESS_SPACE = 3 * 2**30  # Numba and LLVM need a few hundred MB of it


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def run_cli(*args: object, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BCEKIT), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=_limit,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def assert_refused(proc: subprocess.CompletedProcess, fragment: str) -> None:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    work = tmp_path_factory.mktemp("hostile")
    table = work / "bc.csv"
    pcsv.write_csv(breast_cancer_table(), table)
    run = work / "run"
    proc = run_cli(
        "train", table, "--target", TARGET, "--output", run, "--model", "mlp", "--epochs", 2,
        "--quiet",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return run, table


@pytest.fixture
def folder(trained, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(trained[0], copy)
    return copy


def _meta(folder: Path) -> dict:
    return json.loads((folder / "model.json").read_text())


def _write_meta(folder: Path, document: dict) -> None:
    (folder / "model.json").write_text(json.dumps(document))


def _rewrite_weights(folder: Path, change) -> None:
    """Change the arrays and record the new file's SHA-256, so only the content is wrong."""
    weights = folder / "model.safetensors"
    arrays = load_file(str(weights))
    change(arrays)
    save_file(arrays, str(weights))
    document = _meta(folder)
    document["sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
    _write_meta(folder, document)


def _fifo(folder: Path) -> None:
    (folder / "model.json").unlink()
    os.mkfifo(folder / "model.json")


def _dev_zero(folder: Path) -> None:
    (folder / "model.json").unlink()
    (folder / "model.json").symlink_to("/dev/zero")


def _huge(folder: Path) -> None:
    document = _meta(folder)
    document["padding"] = "x" * (65 * 2**20)
    _write_meta(folder, document)


def _subarray(folder: Path) -> None:
    document = _meta(folder)
    document["classes"] = {"dtype": "(15000,15000)f8"}
    _write_meta(folder, document)


def _nested(folder: Path) -> None:
    text = (folder / "model.json").read_text()
    (folder / "model.json").write_text(
        text[:-1] + ', "deep": ' + "[" * 100_000 + "]" * 100_000 + "}"
    )


def _nested_params(folder: Path) -> None:
    document = _meta(folder)
    deep: object = 1
    for _ in range(900):
        deep = {"a": deep}
    document["params"]["hidden_layer_sizes"] = deep
    (folder / "model.json").write_text(json.dumps(document))


def _long_int(folder: Path) -> None:
    text = (folder / "model.json").read_text()
    (folder / "model.json").write_text(text[:-1] + ', "n": ' + "9" * 5000 + "}")


def _non_finite_weight(value: float, position: int):
    """A damage that sets one element of the first float weight matrix to ``value``."""

    def damage(folder: Path) -> None:
        def change(arrays):
            key = next(k for k, v in arrays.items() if v.dtype.kind == "f" and v.size > 1)
            arrays[key] = arrays[key].copy()
            arrays[key].flat[position] = value

        _rewrite_weights(folder, change)

    return damage


def _three_classes(folder: Path) -> None:
    _rewrite_weights(folder, lambda a: a.__setitem__("classes_", np.array([0, 1, 2])))
    document = _meta(folder)
    document["arrays"]["classes_"]["shape"] = [3]
    _write_meta(folder, document)
    _rewrite_weights(folder, lambda a: None)


def _repeated_class(folder: Path) -> None:
    _rewrite_weights(folder, lambda a: a.__setitem__("classes_", np.array([1, 1])))


def _wrong_sizes(folder: Path) -> None:
    document = _meta(folder)
    document["params"]["hidden_layer_sizes"] = [400_000, 400_000]
    _write_meta(folder, document)


CASES = {
    "fifo": (_fifo, "not a regular file"),
    "symlink to /dev/zero": (_dev_zero, "not a regular file"),
    "65 MB metadata": (_huge, "model.json"),
    "subarray dtype": (_subarray, "model.json"),
    "100000 nested lists": (_nested, "model.json"),
    "900 nested params": (_nested_params, "model.json"),
    "5000-digit integer": (_long_int, "model.json"),
    "NaN weights": (_non_finite_weight(np.nan, 0), "not finite"),
    "-inf weights": (_non_finite_weight(-np.inf, -1), "not finite"),
    "three classes": (_three_classes, "model"),
    "repeated class": (_repeated_class, "model"),
    "sizes disagree with weights": (_wrong_sizes, "model"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_library_load_raises_model_file_error(folder, case):
    damage, _ = CASES[case]
    damage(folder)
    with pytest.raises(io.ModelFileError):
        io.load(folder)


@pytest.mark.parametrize("case", list(CASES))
def test_cli_refuses_hostile_folders(folder, trained, tmp_path, case):
    damage, fragment = CASES[case]
    damage(folder)
    out = tmp_path / "pred.csv"
    proc = run_cli("predict", folder, trained[1], "--output", out, timeout=60)
    assert_refused(proc, fragment)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".pred.csv")]


def test_predict_refuses_to_overwrite_its_input(trained, tmp_path):
    table = tmp_path / "data.csv"
    shutil.copy(trained[1], table)
    before = table.read_bytes()
    proc = run_cli("predict", trained[0], table, "--output", table)
    assert_refused(proc, str(table))
    assert table.read_bytes() == before


def test_predict_into_a_read_only_folder_names_the_users_path(trained, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        proc = run_cli("predict", trained[0], trained[1], "--output", locked / "p.csv")
        assert_refused(proc, str(locked / "p.csv"))
    finally:
        locked.chmod(0o700)


def test_stale_temporary_files_are_cleaned_on_the_next_write(trained, tmp_path):
    stale = tmp_path / ".p.csv.abcd1234.tmp"
    stale.write_text("left by a killed run")
    os.utime(stale, (0, 0))  # old: no live writer owns it
    out = tmp_path / "p.csv"
    proc = run_cli("predict", trained[0], trained[1], "--output", out, "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert out.exists()
    assert not stale.exists()


def test_huge_network_is_refused_before_allocating(trained, tmp_path):
    proc = run_cli(
        "train", trained[1], "--target", TARGET, "--output", tmp_path / "r", "--model", "mlp",
        "--hidden", 100_000_000, "--quiet",
    )  # fmt: skip
    assert_refused(proc, "--hidden")
    assert not (tmp_path / "r").exists()


def test_csv_with_a_long_field_reads(tmp_path):
    from bcekit.data.tables import read_table

    rows = ["a,b,label"] + [f"{i},{'x' if i != 5 else 'y' * 3_000_000},{i % 2}" for i in range(20)]
    path = tmp_path / "long.csv"
    path.write_text("\n".join(rows) + "\n")
    table = read_table(path)
    assert table.num_rows == 20
    assert len(table.column("b")[5].as_py()) == 3_000_000


def test_semicolon_csv_reads_or_names_the_delimiter(tmp_path):
    from bcekit.data.tables import DataError, read_table

    path = tmp_path / "semi.csv"
    path.write_text("a;b;label\n1;2;0\n3;4;1\n5;6;0\n")
    try:
        table = read_table(path)
    except DataError as exc:
        assert "delimiter" in str(exc)
    else:
        assert table.column_names == ["a", "b", "label"]
