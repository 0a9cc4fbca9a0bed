"""Tests for bcekit.data.shuttle: the ODDS Shuttle table read from the river package."""

from __future__ import annotations

import gzip
import importlib.util
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from bcekit.data import shuttle
from bcekit.data.shuttle import load_shuttle

_HAS_RIVER = importlib.util.find_spec("river") is not None
needs_river = pytest.mark.skipif(
    not _HAS_RIVER, reason="river not installed (pip install river): it ships the Shuttle file"
)


@needs_river
def test_odds_counts():
    bunch = load_shuttle()
    # ODDS: 58,000 UCI rows minus 8,903 of class 4; classes 2, 3, 5, 6, 7 are anomalies.
    assert bunch.data.shape == (49_097, 9)
    assert bunch.data.dtype == np.float64
    assert bunch.target.dtype == np.int64
    assert int(bunch.target.sum()) == 3_511
    assert int((bunch.target == 0).sum()) == 45_586
    assert bunch.target.mean() == pytest.approx(0.0715, abs=5e-5)
    assert bunch.feature_names == [f"f{i}" for i in range(1, 10)]
    assert bunch.target_names == ["normal", "anomaly"]
    assert bunch.frame is None
    assert "ODDS" in bunch.DESCR


@needs_river
def test_matches_plain_gzip_parse():
    path = shuttle._shuttle_file()
    with gzip.open(path, "rt") as handle:
        raw = np.loadtxt(handle, delimiter=",", skiprows=1)
    X, y = load_shuttle(return_X_y=True)
    np.testing.assert_array_equal(X, raw[:, :9])
    np.testing.assert_array_equal(y, raw[:, 9])


@needs_river
def test_as_frame():
    pytest.importorskip("pandas")
    bunch = load_shuttle(as_frame=True)
    assert list(bunch.frame.columns) == [*bunch.feature_names, "anomaly"]
    assert bunch.data.shape == (49_097, 9)
    assert int(bunch.target.sum()) == 3_511


@needs_river
def test_as_frame_without_pandas_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # makes `import pandas` fail
    with pytest.raises(ImportError, match="pip install pandas"):
        load_shuttle(as_frame=True)


def test_missing_river_names_the_install(monkeypatch):
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name == "river" else real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(ImportError, match="pip install river"):
        load_shuttle()


def test_river_without_the_file(monkeypatch, tmp_path):
    spec = SimpleNamespace(submodule_search_locations=[str(tmp_path)])
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return spec if name == "river" else real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(ImportError, match=r"shuttle\.csv\.gz"):
        load_shuttle()


def test_malformed_file_is_rejected(tmp_path):
    bad_columns = tmp_path / "cols.csv.gz"
    with gzip.open(bad_columns, "wt") as handle:
        handle.write("a,b\n1,2\n")
    with pytest.raises(ValueError, match="must have the columns"):
        shuttle._read_table(bad_columns)

    bad_labels = tmp_path / "labels.csv.gz"
    header = ",".join([*shuttle.FEATURE_NAMES, "anomaly"])
    with gzip.open(bad_labels, "wt") as handle:
        handle.write(f"{header}\n" + ",".join(["1"] * 9 + ["3"]) + "\n")
    with pytest.raises(ValueError, match="must hold 0 or 1"):
        shuttle._read_table(bad_labels)
