"""The limits behind "model files are safe to open from strangers", one at a time.

Bounded reading of regular files, JSON parser limits, plain dtypes, weights bounded by their
manifest, network sizes checked before building, memory estimates, the clean-up of
temporaries that killed writes leave, and CSV delimiter sniffing and long fields.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

import bcekit
from bcekit import io
from bcekit._memory import available_memory, format_bytes
from bcekit.data.csv_files import sniff_delimiter
from bcekit.data.tables import read_table
from bcekit.estimators._base import check_saved_classes
from bcekit.io.atomic import STALE_AFTER, atomic_directory, atomic_write
from bcekit.io.codec import decode_value, plain_dtype
from bcekit.io.reading import MAX_DEPTH, ModelFileError, parse_json, read_regular_file
from bcekit.nn import NetworkTooLargeError, UNet, mlp
from bcekit.nn.sequential import mlp_bytes, mlp_shapes
from bcekit.nn.unet import check_unet_state, unet_state_size

FIXTURES = Path(__file__).parent / "fixtures" / "model_files_v0"
OLD = time.time() - 10 * STALE_AFTER


# --------------------------------------------------------------------------- reading files


def test_regular_files_are_read_and_symlinks_to_them_followed(tmp_path):
    (tmp_path / "f").write_bytes(b"abc")
    (tmp_path / "link").symlink_to(tmp_path / "f")
    assert read_regular_file(tmp_path / "link", limit=3) == b"abc"


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda p: p.mkdir(), "a folder"),
        (lambda p: os.mkfifo(p), "a named pipe"),
        (lambda p: p.symlink_to("/dev/null"), "a character device"),
    ],
)
def test_other_kinds_of_file_are_refused_unread(tmp_path, make, kind):
    make(tmp_path / "x")
    with pytest.raises(ModelFileError, match=kind):
        read_regular_file(tmp_path / "x", limit=10)


def test_a_file_over_its_limit_is_refused(tmp_path):
    (tmp_path / "f").write_bytes(b"x" * 11)
    with pytest.raises(ModelFileError, match="holds 11 bytes, more than the 10"):
        read_regular_file(tmp_path / "f", limit=10)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"a": NaN}', "NaN"),
        ('{"a": -Infinity}', "Infinity"),
        ('{"a": 1e999}', "out-of-range"),
        ('{"a": ' + "1" * 41 + "}", "41 digits"),
        ("\xff", "UTF-8"),
    ],
)
def test_json_outside_the_limits_is_refused(text, fragment):
    with pytest.raises(ModelFileError, match=fragment):
        parse_json(text.encode("latin-1"), "f.json")


def test_json_nesting_is_limited_exactly():
    nested: list = []
    for _ in range(MAX_DEPTH - 1):
        nested = [nested]
    assert parse_json(json.dumps(nested).encode(), "f.json") == nested
    deeper = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    with pytest.raises(ModelFileError, match=f"deeper than {MAX_DEPTH}"):
        parse_json(deeper.encode(), "f.json")


@pytest.mark.parametrize("text", ["<f8", "<f4", "|b1", "<i8", "|u1", "<u2", "f8"])
def test_plain_dtypes_are_accepted(text):
    assert plain_dtype(text) == np.dtype(text)


@pytest.mark.parametrize("text", ["(15000,15000)f8", "V8", "<U5", "|O", "f1", "b8", 8, None])
def test_other_dtypes_are_refused(text):
    with pytest.raises(ValueError, match="plain numeric dtype"):
        plain_dtype(text)
    with pytest.raises(ValueError, match="plain numeric dtype"):
        decode_value({"$array": [], "dtype": text})


# --------------------------------------------------------------------------- model files


@pytest.fixture
def logistic(tmp_path):
    for suffix in (".json", ".safetensors"):
        shutil.copy(FIXTURES / f"logistic{suffix}", tmp_path / f"m{suffix}")
    return tmp_path / "m"


def _edit(path: Path, change) -> None:
    meta = path.with_name(path.name + ".json")
    document = json.loads(meta.read_text())
    change(document)
    meta.write_text(json.dumps(document))


def test_weights_larger_than_their_manifest_allows_are_refused_unread(logistic):
    weights = logistic.with_name("m.safetensors")
    payload = weights.read_bytes() + b"\0" * 200_000
    weights.write_bytes(payload)
    _edit(logistic, lambda d: d.update(sha256=hashlib.sha256(payload).hexdigest()))
    with pytest.raises(ModelFileError, match="more than the"):
        io.load(logistic)


@pytest.mark.parametrize("shape", [[-1, 4], [1.5], [True], "4", [2] * 40])
def test_manifest_shapes_must_be_non_negative_integers(logistic, shape):
    _edit(logistic, lambda d: d["arrays"]["coef_"].update(shape=shape))
    with pytest.raises(ModelFileError, match="non-negative integers"):
        io.load(logistic)


def test_weights_the_memory_cannot_hold_twice_are_refused_unread(logistic, monkeypatch):
    size = logistic.with_name("m.safetensors").stat().st_size
    monkeypatch.setattr("bcekit.io.verified.available_memory", lambda: 2 * size - 1)
    with pytest.raises(ModelFileError, match="of memory to load"):
        io.load(logistic)
    monkeypatch.setattr("bcekit.io.verified.available_memory", lambda: 2 * size)
    assert io.load(logistic).n_features_in_ == 4


def test_string_classes_wider_than_needed_are_refused(tmp_path):
    X = np.random.default_rng(0).normal(size=(30, 2))
    y = np.where(X[:, 0] > 0, "yes", "no")
    io.save(bcekit.LogisticRegression(max_iter=20).fit(X, y), tmp_path / "m")
    assert list(io.load(tmp_path / "m").classes_) == ["no", "yes"]
    _edit(tmp_path / "m", lambda d: d["classes"].update(dtype="<U999999999"))
    with pytest.raises(ModelFileError, match="does not fit"):
        io.load(tmp_path / "m")


def test_unsorted_classes_are_refused(logistic):
    weights = logistic.with_name("m.safetensors")
    arrays = st_load(weights.read_bytes())
    arrays["classes_"] = arrays["classes_"][::-1].copy()
    payload = st_save(arrays)
    weights.write_bytes(payload)
    _edit(logistic, lambda d: d.update(sha256=hashlib.sha256(payload).hexdigest()))
    with pytest.raises(ModelFileError, match="distinct and sorted"):
        io.load(logistic)


@pytest.mark.parametrize(
    ("kind", "classes", "fits"),
    [
        ("binary", [0, 1], True),
        ("binary", [0, 1, 2], False),
        ("multiclass", [0, 1], False),
        ("multiclass", ["a", "b", "c"], True),
        ("multilabel-indicator", [0, 1, 2], True),
        ("multilabel-indicator", [0, 2], False),
        ("something", [0, 1], False),
    ],
)
def test_saved_classes_must_fit_the_target_kind(kind, classes, fits):
    if fits:
        check_saved_classes(kind, np.array(classes))
    else:
        with pytest.raises(ValueError, match="do not fit"):
            check_saved_classes(kind, np.array(classes))


def test_segmentation_sizes_beyond_the_weights_are_refused_before_building(tmp_path):
    for suffix in (".json", ".safetensors"):
        shutil.copy(FIXTURES / f"segmentation{suffix}", tmp_path / f"s{suffix}")
    _edit(tmp_path / "s", lambda d: d["params"].update(base_width=10**6))
    with pytest.raises(ModelFileError, match="describe a U-Net of more than"):
        io.load(tmp_path / "s")


def test_training_state_files_get_the_same_protection(tmp_path):
    io.save_training_state({"w": np.zeros(3), "epoch": 2}, tmp_path / "state")
    meta = tmp_path / "state" / "state.json"
    meta.unlink()
    os.mkfifo(meta)
    with pytest.raises(ModelFileError, match="named pipe"):
        io.load_training_state(tmp_path / "state")


# --------------------------------------------------------------------------- networks


@pytest.mark.parametrize("hidden", [(), (3,), (4, 5)])
@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_mlp_shapes_are_those_mlp_builds(hidden, dropout):
    built = mlp(3, hidden, 2, dropout=dropout).state_dict()
    assert mlp_shapes(3, hidden, 2, dropout) == {k: v.shape for k, v in built.items()}


def test_mlp_bytes_counts_parameters_and_batch_activations():
    n_params = 3 * 5 + 5 + 5 * 1 + 1
    assert mlp_bytes(3, [5], 1, np.float32) == 4 * 4 * n_params
    assert mlp_bytes(3, [5], 1, np.float64, batch_size=10) == 8 * (4 * n_params + 4 * 10 * 6)


def test_a_network_larger_than_the_memory_is_refused_before_allocating():
    with pytest.raises(NetworkTooLargeError, match="of memory, more than the"):
        mlp(10, [10**12], 1)
    with pytest.raises(NetworkTooLargeError, match="U-Net"):
        UNet(1, depth=2, base_width=10**7)


@pytest.mark.parametrize(("depth", "width", "norm"), [(1, 2, False), (2, 3, True), (3, 2, False)])
def test_unet_state_size_is_that_of_the_built_network(depth, width, norm):
    state = UNet(2, depth, width, batch_norm=norm).state_dict()
    assert unet_state_size(2, depth, width, batch_norm=norm) == (
        len(state),
        sum(a.size for a in state.values()),
    )
    check_unet_state(state, 2, depth, width, batch_norm=norm)
    with pytest.raises(ValueError, match="more than"):
        check_unet_state(state, 2, depth + 12, width, batch_norm=norm)


def test_unet_state_size_stops_counting_past_its_limit():
    started = time.perf_counter()
    _, values = unet_state_size(1, 10**6, 2, limit=10**4)
    assert values > 10**4 and time.perf_counter() - started < 1


def test_available_memory_respects_the_address_space_limit():
    code = textwrap.dedent(
        """
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))
        from bcekit._memory import available_memory
        print(available_memory())
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert 0 < int(proc.stdout) < 2 * 2**30, proc.stderr
    assert available_memory() is None or available_memory() > 0


def test_format_bytes():
    assert [format_bytes(n) for n in (5, 1536, 3 * 2**30, 10**40)] == [
        "5 B",
        "1.5 KiB",
        "3.0 GiB",
        "over 1000 PiB",
    ]


# --------------------------------------------------------------------------- temporaries

_HOLD = """
import sys, time
from bcekit.io.atomic import atomic_directory
with atomic_directory(sys.argv[1]) as tmp:
    (tmp / "part").write_text("half")
    print(tmp, flush=True)
    time.sleep(60)
"""


def _start_writer(target: Path) -> tuple[subprocess.Popen, Path]:
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(target)], stdout=subprocess.PIPE)
    return proc, Path(proc.stdout.readline().decode().strip())


def test_a_killed_writes_temporary_is_removed_by_the_next_write(tmp_path):
    proc, tmp = _start_writer(tmp_path / "out")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert tmp.is_dir()  # nothing could clean up after kill -9
    with atomic_directory(tmp_path / "out"):  # too recent to be judged abandoned
        pass
    assert tmp.is_dir()
    os.utime(tmp, (OLD, OLD))
    with atomic_directory(tmp_path / "out", overwrite=True) as new:
        (new / "done").write_text("ok")
    assert not tmp.exists()
    assert (tmp_path / "out" / "done").read_text() == "ok"


def test_a_live_writers_temporary_is_kept_however_old(tmp_path):
    proc, tmp = _start_writer(tmp_path / "out")
    try:
        os.utime(tmp, (OLD, OLD))
        with atomic_write(tmp_path / "out", "w") as handle:
            handle.write("other")
        assert tmp.is_dir()
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_an_old_folder_is_kept_while_it_is_the_only_copy(tmp_path):
    old = tmp_path / ".out.abcdefgh.old"
    old.mkdir()
    os.utime(old, (OLD, OLD))
    with atomic_write(tmp_path / "other", "w") as handle:  # another name: not touched
        handle.write("x")
    with atomic_directory(tmp_path / "out"):  # 'out' missing: the .old may be all there is
        pass
    assert old.exists()
    os.utime(old, (OLD, OLD))
    with atomic_write(tmp_path / "out" / "f", "w") as handle:
        handle.write("x")
    with atomic_directory(tmp_path / "out", overwrite=True):  # 'out' exists now
        pass
    assert not old.exists()


# --------------------------------------------------------------------------- CSV


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [
        ("a,b,y\n1,2,0\n", ","),
        ("a;b;y\n1,5;2,25;0\n3,5;1;1\n", ";"),
        ("a\tb\ty\n1\t2\t0\n", "\t"),
        ("a|b|y\n1|2|0\n", "|"),
        ('a,b,y\n"x;y;z",2,0\n', ","),
        ("y\n1\n0\n", ","),
        ("a;b,c;y\n1;2,3;0\n", ","),  # both fit: the comma, as before sniffing
    ],
)
def test_the_delimiter_is_sniffed(text, delimiter):
    assert sniff_delimiter(text.encode()) == delimiter


def test_semicolon_tables_and_long_fields_are_read(tmp_path):
    (tmp_path / "semi.csv").write_text("a;b;y\n1;2;0\n3;4;1\n")
    assert read_table(tmp_path / "semi.csv").column_names == ["a", "b", "y"]
    (tmp_path / "pipe.csv").write_text("a|b|y\n1|2|0\n")
    assert read_table(tmp_path / "pipe.csv", delimiter=",").column_names == ["a|b|y"]
    note = "x" * 3_000_000
    (tmp_path / "long.csv").write_text(f"a,note,y\n1,short,0\n2,{note},1\n3,s,0\n")
    table = read_table(tmp_path / "long.csv")
    assert table.num_rows == 3 and table["note"][1].as_py() == note
