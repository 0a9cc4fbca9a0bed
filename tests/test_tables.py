"""Reading CSV/Parquet tables and preprocessing them: bcekit.data.tables."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from bcekit.data.bundled import TARGET_COLUMN, breast_cancer_table, load_breast_cancer
from bcekit.data.tables import MAX_CATEGORIES, DataError, TablePreprocessor, read_table


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture
def mixed():
    return pa.table(
        {
            "age": [31.0, None, 45.0, 52.0, 28.0, 39.0],
            "income": [10, 20, 30, 40, 50, 60],
            "city": ["Paris", "Lyon", None, "Paris", "Nice", "Lyon"],
            "y": ["no", "yes", "no", "yes", "yes", "no"],
        }
    )


# --------------------------------------------------------------------------- read_table


def test_csv_and_parquet_round_trip(tmp_path):
    table = pa.table({"a": [1.5, 2.5, None], "b": ["x", "y", "z"], "c": [1, 2, 3]})
    pcsv.write_csv(table, tmp_path / "t.csv")
    pq.write_table(table, tmp_path / "t.parquet")
    for name in ("t.csv", "t.parquet"):
        got = read_table(tmp_path / name)
        assert got.column_names == ["a", "b", "c"]
        assert got.column("a").to_pylist() == [1.5, 2.5, None]
        assert got.column("b").to_pylist() == ["x", "y", "z"]
        assert got.column("c").to_pylist() == [1, 2, 3]


def test_format_comes_from_content_not_extension(tmp_path):
    table = pa.table({"a": [1, 2]})
    pq.write_table(table, tmp_path / "looks_like.csv")
    assert read_table(tmp_path / "looks_like.csv").column("a").to_pylist() == [1, 2]


def test_empty_text_fields_are_missing_in_text_columns(tmp_path):
    path = write(tmp_path, "d.csv", "a,b\nx,1\n,2\nNA,3\n")
    assert read_table(path).column("a").to_pylist() == ["x", None, None]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "the file is empty"),
        (b"a,b\n", "no data rows"),
        (b"a,b,c\n1,2,3\n4,5\n6,7,8\n", "line 3 has 2 fields but the header has 3"),
        (b"a,a\n1,2\n", "duplicate column names 'a'"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "not a CSV (UTF-8 text) or Parquet"),
    ],
)
def test_bad_files_name_the_file_and_problem(tmp_path, content, fragment):
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    with pytest.raises(DataError) as info:
        read_table(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert fragment in message
    assert "\n" not in message


def test_random_bytes_are_refused(tmp_path):
    path = tmp_path / "noise.csv"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(DataError, match="not a CSV"):
        read_table(path)


def test_missing_file_directory_and_fake_parquet(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_table(tmp_path / "absent.csv")
    with pytest.raises(DataError, match="is a directory"):
        read_table(tmp_path)
    with pytest.raises(DataError, match="not a Parquet file"):
        read_table(write(tmp_path, "x.parquet", "a,b\n1,2\n"))


def test_truncated_parquet(tmp_path):
    pq.write_table(pa.table({"a": np.arange(1000.0)}), tmp_path / "t.parquet")
    raw = (tmp_path / "t.parquet").read_bytes()
    (tmp_path / "t.parquet").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match="cannot read as Parquet"):
        read_table(tmp_path / "t.parquet")


# --------------------------------------------------------------------------- fitting


def test_text_columns_need_one_hot(mixed):
    with pytest.raises(DataError) as info:
        TablePreprocessor.fit(mixed, "y", impute="mean", source="d.csv")
    err = info.value
    assert "non-numeric feature columns 'city'" in str(err)
    assert err.format(lambda o, v: f"--{o.replace('_', '-')}" + (f" {v}" if v else "")) == (
        "d.csv: non-numeric feature columns 'city'; pass --one-hot or --drop city"
    )


def test_missing_values_name_column_and_first_row(mixed):
    with pytest.raises(DataError) as info:
        TablePreprocessor.fit(mixed, "y", drop=["city"], source="d.csv")
    assert str(info.value) == (
        "d.csv: column 'age' has missing values (first at row 2); "
        "pass impute=mean|median or drop=age"
    )
    with pytest.raises(DataError, match=r"'age' \(first at row 2\), 'city' \(first at row 3\)"):
        TablePreprocessor.fit(mixed, "y", one_hot=True)


def test_one_hot_impute_standardize_match_sklearn(mixed):
    pre = TablePreprocessor.fit(mixed, "y", one_hot=True, impute="median")
    X = pre.transform(mixed)
    assert pre.feature_names == ["age", "income", "city=Lyon", "city=Nice", "city=Paris"]
    age = SimpleImputer(strategy="median").fit_transform(
        np.array(mixed.column("age").to_pylist(), dtype=float)[:, None]
    )
    income = np.array(mixed.column("income").to_pylist(), dtype=float)[:, None]
    city = np.array(mixed.column("city").to_pylist(), dtype=object)[:, None]
    onehot = OneHotEncoder(
        categories=[["Lyon", "Nice", "Paris"]], handle_unknown="ignore", sparse_output=False
    ).fit_transform(np.where(city == None, "?", city))  # noqa: E711
    expected = StandardScaler().fit_transform(np.hstack([age, income, onehot]))
    np.testing.assert_allclose(X, expected, atol=1e-12)
    np.testing.assert_array_equal(pre.encode_target(mixed), [0, 1, 0, 1, 1, 0])
    assert pre.classes == ["no", "yes"]


def test_mean_impute_and_no_standardize():
    table = pa.table({"a": [1.0, None, 4.0, float("nan")], "y": [0, 1, 0, 1]})
    pre = TablePreprocessor.fit(table, "y", impute="mean", standardize=False)
    np.testing.assert_allclose(pre.transform(table)[:, 0], [1.0, 2.5, 4.0, 2.5])


def test_feature_selection_and_drop(mixed):
    pre = TablePreprocessor.fit(mixed, "y", features=["income"])
    assert pre.columns == ["income"]
    pre = TablePreprocessor.fit(mixed, "y", drop=["city", "age"])
    assert pre.columns == ["income"]
    with pytest.raises(DataError, match="no column 'nope'"):
        TablePreprocessor.fit(mixed, "y", drop=["nope"])
    with pytest.raises(DataError, match="no feature columns"):
        TablePreprocessor.fit(mixed, "y", drop=["city", "age", "income"])


@pytest.mark.parametrize(
    ("target", "fragment"),
    [
        ("nope", "no target column 'nope'; the columns are 'a', 'y1', 'y3', 'yn'"),
        ("y1", "target column 'y1' has a single class 1; training needs two"),
        ("y3", "target column 'y3' has 3 distinct values (1, 2, 3); a binary model needs"),
        ("yn", "target column 'yn' has missing values (first at row 2)"),
    ],
)
def test_target_problems(target, fragment):
    table = pa.table({"a": [1.0, 2.0, 3.0], "y1": [1, 1, 1], "y3": [3, 1, 2], "yn": [0, None, 1]})
    with pytest.raises(DataError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        TablePreprocessor.fit(table, target)


def test_infinite_values_are_refused():
    table = pa.table({"a": [1.0, np.inf, 3.0], "y": [0, 1, 0]})
    with pytest.raises(DataError, match=r"infinite values in column 'a' \(first at row 2\)"):
        TablePreprocessor.fit(table, "y", impute="mean")


def test_too_many_categories():
    ids = [f"id{i}" for i in range(MAX_CATEGORIES + 1)]
    table = pa.table({"id": ids, "y": [i % 2 for i in range(len(ids))]})
    with pytest.raises(DataError, match="too many to one-hot encode"):
        TablePreprocessor.fit(table, "y", one_hot=True)


# --------------------------------------------------------------------------- applying


def test_transform_checks_columns(mixed):
    pre = TablePreprocessor.fit(mixed, "y", one_hot=True, impute="mean")
    with pytest.raises(DataError, match="the model's feature columns 'income' are missing"):
        pre.transform(mixed.drop_columns(["income"]))
    with pytest.raises(DataError, match="columns 'extra' were not among the model's features"):
        pre.transform(mixed.append_column("extra", pa.array(np.zeros(6))))
    text_income = mixed.set_column(1, "income", pa.array(list("abcdef")))
    with pytest.raises(DataError, match="'income' hold text where the model expects numbers"):
        pre.transform(text_income)
    # Columns in a different order and without the target are fine.
    reordered = mixed.select(["city", "income", "age"])
    np.testing.assert_allclose(pre.transform(reordered), pre.transform(mixed))


def test_explicit_features_ignore_extra_columns(mixed):
    pre = TablePreprocessor.fit(mixed, "y", features=["income"])
    extra = mixed.append_column("extra", pa.array(np.zeros(6)))
    np.testing.assert_allclose(pre.transform(extra), pre.transform(mixed))


def test_unknown_category_encodes_as_zeros(mixed):
    pre = TablePreprocessor.fit(mixed, "y", one_hot=True, impute="mean", standardize=False)
    new = pa.table({"age": [30.0], "income": [5], "city": ["Berlin"]})
    np.testing.assert_array_equal(pre.transform(new), [[30.0, 5.0, 0.0, 0.0, 0.0]])


def test_missing_values_at_transform_without_impute():
    train = pa.table({"a": [1.0, 2.0, 3.0], "y": [0, 1, 0]})
    pre = TablePreprocessor.fit(train, "y")
    with pytest.raises(DataError, match=r"'a' has missing values \(first at row 3\) and the model"):
        pre.transform(pa.table({"a": [1.0, 2.0, None]}))


def test_encode_and_decode_target():
    train = pa.table({"a": [1.0, 2.0, 3.0, 4.0], "y": [True, False, True, False]})
    pre = TablePreprocessor.fit(train, "y")
    assert pre.classes == [False, True]
    np.testing.assert_array_equal(pre.encode_target(train), [1, 0, 1, 0])
    assert pre.decode_labels(np.array([1, 1, 0])).to_pylist() == [True, True, False]
    with pytest.raises(DataError, match="no target column 'y'"):
        pre.encode_target(train.drop_columns(["y"]))
    with pytest.raises(DataError, match="has the value 'x' at row 1, not one of the model's"):
        pre.encode_target(pa.table({"y": ["x", "y"]}))
    words = TablePreprocessor.fit(pa.table({"a": [1.0, 2.0], "y": ["no", "yes"]}), "y")
    with pytest.raises(DataError, match="has type int64, which does not match the model's"):
        words.encode_target(pa.table({"y": [0, 1]}))
    ints = TablePreprocessor.fit(pa.table({"a": [1.0, 2.0], "y": [3, 7]}), "y")
    with pytest.raises(DataError, match="has the value 5 at row 2, not one of the model's"):
        ints.encode_target(pa.table({"y": [7, 5]}))


def test_json_round_trip(mixed):
    pre = TablePreprocessor.fit(mixed, "y", one_hot=True, impute="mean")
    again = TablePreprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    assert again == pre
    np.testing.assert_array_equal(again.transform(mixed), pre.transform(mixed))


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d.update(format="something else"),
        lambda d: d.update(scale=d["scale"][:-1]),
        lambda d: d.update(classes=["only"]),
        lambda d: d.update(unexpected=1),
        lambda d: d["scale"].__setitem__(0, -1.0),
    ],
)
def test_edited_descriptions_are_refused(mixed, edit):
    data = TablePreprocessor.fit(mixed, "y", one_hot=True, impute="mean").to_dict()
    edit(data)
    with pytest.raises(ValueError, match="preprocessing description"):
        TablePreprocessor.from_dict(data)


# --------------------------------------------------------------------------- bundled data


def test_bundled_breast_cancer():
    ds = load_breast_cancer()
    assert ds.data.shape == (569, 30) and ds.target.shape == (569,)
    assert ds.target_names == ("malignant", "benign")
    assert np.bincount(ds.target).tolist() == [212, 357]
    table = breast_cancer_table()
    assert table.num_rows == 569 and table.num_columns == 31
    diagnosis = np.array(table.column(TARGET_COLUMN).to_pylist())
    np.testing.assert_array_equal(diagnosis == "benign", ds.target == 1)
    pre = TablePreprocessor.fit(table, TARGET_COLUMN)
    assert pre.classes == ["benign", "malignant"]
    np.testing.assert_allclose(pre.transform(table), StandardScaler().fit_transform(ds.data))
