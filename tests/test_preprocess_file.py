"""The preprocess.json file: bcekit.data.preprocessor.write_preprocessor / read_preprocessor."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from bcekit.data.preprocessor import TablePreprocessor, read_preprocessor, write_preprocessor
from bcekit.io import ModelFileError


@pytest.fixture
def fitted():
    table = pa.table(
        {"x": [1.0, 2.0, None, 4.0], "c": ["a", "b", "a", None], "y": ["no", "yes", "no", "yes"]}
    )
    return table, TablePreprocessor.fit(table, "y", one_hot=True, impute="median")


def test_round_trip_transforms_alike(tmp_path, fitted):
    table, pre = fitted
    path = tmp_path / "preprocess.json"
    write_preprocessor(path, pre)
    again = read_preprocessor(path)
    assert again == pre
    np.testing.assert_array_equal(again.transform(table), pre.transform(table))
    assert json.loads(path.read_text(encoding="utf-8"))["format"] == "bcekit.table-preprocessor/1"


def test_read_refuses_what_is_not_a_description(tmp_path, fitted):
    _, pre = fitted
    with pytest.raises(ModelFileError):
        read_preprocessor(tmp_path)  # a folder, not a file
    path = tmp_path / "preprocess.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelFileError):
        read_preprocessor(path)
    document = pre.to_dict()
    document["mean"] = document["mean"][:-1]
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ValueError, match="inconsistent"):
        read_preprocessor(path)
    with pytest.raises(FileNotFoundError):
        read_preprocessor(tmp_path / "absent.json")
