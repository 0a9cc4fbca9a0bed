"""``bcekit train`` on a directory or glob of Parquet files, trained on Dask workers.

The run uses the test's LocalCluster through ``--scheduler`` (one run starts its own local
cluster). The oracle is the documented split (row ``i`` of file ``k`` is a validation row when
``default_rng([seed, k]).random(n_k)[i] < fraction``) replayed here with pyarrow and NumPy,
and the in-memory estimator fitted on the rows it selects.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from sklearn.metrics import roc_auc_score

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")

from bcekit import LogisticRegression, io  # noqa: E402
from bcekit.cli.app import cli  # noqa: E402

FEATURES = ["a", "b", "c", "flag"]


@pytest.fixture(scope="module")
def scheduler(dask_cluster):
    return dask_cluster.scheduler_address


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], prog_name="bcekit")


def assert_bad_input(result, *fragments):
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def make_table(n, seed, *, missing=()):
    rng = np.random.default_rng(seed)
    a = rng.normal(2.0, 3.0, n)
    b = rng.integers(-5, 20, n)
    c = rng.normal(size=n).astype(np.float32)
    flag = rng.random(n) < 0.3
    logits = 0.6 * a - 0.2 * b + c + flag - 0.5
    label = np.where(rng.random(n) < 1 / (1 + np.exp(-logits)), "yes", "no")
    a_column = pa.array(a, mask=np.isin(np.arange(n), missing))
    return pa.table({"a": a_column, "b": b, "c": c, "flag": flag, "label": label})


def write_files(folder, sizes, **kwargs):
    folder.mkdir(parents=True, exist_ok=True)
    for k, n in enumerate(sizes):
        pq.write_table(make_table(n, k, **kwargs), folder / f"part-{k}.parquet")
    return folder


def replay_split(folder, sizes, seed, fraction):
    """Features, 0/1 labels and validation masks of the files, in file order."""
    X, y, val = [], [], []
    for k, n in enumerate(sizes):
        table = pq.read_table(folder / f"part-{k}.parquet")
        X.append(np.column_stack([table[c].to_numpy(zero_copy_only=False) for c in FEATURES]))
        y.append((table["label"].to_numpy(zero_copy_only=False) == "yes").astype(int))
        val.append(np.random.default_rng([seed, k]).random(n) < fraction)
    return np.concatenate(X).astype(float), np.concatenate(y), np.concatenate(val)


def test_train_on_a_parquet_directory_equals_the_in_memory_fit(scheduler, tmp_path):
    sizes = [700, 500, 900]
    data = write_files(tmp_path / "data", sizes)
    (data / "notes.txt").write_text("not a Parquet file, not read\n")
    out = tmp_path / "run"
    result = invoke(
        "train", data, "--target", "label", "--output", out, "--scheduler", scheduler,
        "--seed", 3, "--validation-fraction", 0.25,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr

    X, y, val = replay_split(data, sizes, seed=3, fraction=0.25)
    train = ~val
    pre = json.loads((out / "preprocess.json").read_text())
    assert pre["columns"] == FEATURES and pre["classes"] == ["no", "yes"]
    mean, std = X[train].mean(axis=0), X[train].std(axis=0)
    np.testing.assert_allclose(pre["mean"], mean, rtol=1e-12)
    np.testing.assert_allclose(pre["scale"], std, rtol=1e-12)

    Z = (X - mean) / std
    expected = LogisticRegression(max_iter=100).fit(Z[train], y[train])
    fitted = io.load(out)
    assert fitted.solver == "lbfgs"
    np.testing.assert_allclose(fitted.coef_, expected.coef_, rtol=1e-6)
    np.testing.assert_allclose(fitted.intercept_, expected.intercept_, rtol=1e-6)

    metrics = json.loads((out / "metrics.json").read_text())
    scores = metrics["models"]["logistic"]
    assert scores["n_samples"] == val.sum() == metrics["details"]["validation rows"]
    assert metrics["details"]["train rows"] == train.sum()
    auc = roc_auc_score(y[val], expected.predict_proba(Z[val])[:, 1])
    np.testing.assert_allclose(scores["roc_auc"], auc, rtol=1e-9)


def test_train_an_mlp_on_a_parquet_directory(scheduler, tmp_path):
    sizes = [800, 600]
    data = write_files(tmp_path / "data", sizes)
    out = tmp_path / "run"
    result = invoke(
        "train", data, "--target", "label", "--output", out, "--scheduler", scheduler,
        "--model", "mlp", "--hidden", 8, "--epochs", 6, "--batch-size", 256, "--seed", 1,
        "--validation-fraction", 0.25, "--loss", "focal", "--learning-rate", 0.03,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "training mlp on" in result.stderr

    fitted = io.load(out)
    assert type(fitted).__name__ == "MLPClassifier" and fitted.loss == "focal"
    assert 1 <= fitted.n_iter_ <= 6 and len(fitted.history_) == fitted.n_iter_
    X, y, val = replay_split(data, sizes, seed=1, fraction=0.25)
    pre = json.loads((out / "preprocess.json").read_text())
    Z = (X - np.asarray(pre["mean"])) / np.asarray(pre["scale"])
    scores = json.loads((out / "metrics.json").read_text())["models"]["mlp"]
    auc = roc_auc_score(y[val], fitted.predict_proba(Z[val])[:, 1])
    np.testing.assert_allclose(scores["roc_auc"], auc, rtol=1e-6)
    assert auc > 0.8, auc
    assert (out / "report.html").is_file() and (out / "loss_curve.png").is_file()


def test_glob_with_mean_imputation_on_a_local_cluster(tmp_path, monkeypatch):
    from bcekit.distributed import cluster

    monkeypatch.setattr(cluster, "local_workers", lambda: 1)
    sizes = [300, 400]
    data = write_files(tmp_path / "data", sizes, missing=(2, 7, 11))
    out = tmp_path / "run"
    result = invoke(
        "train", data / "*.parquet", "--target", "label", "--output", out, "--impute", "mean",
        "--drop", "flag", "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    X, _, val = replay_split(data, sizes, seed=0, fraction=0.2)
    a = X[~val, 0]
    pre = json.loads((out / "preprocess.json").read_text())
    assert pre["columns"] == ["a", "b", "c"] and pre["impute"] == "mean"
    np.testing.assert_allclose(pre["fill_values"]["a"], np.nanmean(a), rtol=1e-12)
    filled = np.where(np.isnan(a), np.nanmean(a), a)
    np.testing.assert_allclose(pre["scale"][0], filled.std(), rtol=1e-12)


def bad_files(folder, case):
    if case == "text column":
        table = make_table(50, 0).append_column("city", pa.array(["x"] * 50))
        pq.write_table(table, folder / "part-0.parquet")
    elif case == "missing":
        write_files(folder, [40, 40], missing=(2,))
    elif case == "three classes":
        table = make_table(60, 0)
        labels = np.array(["no", "yes", "maybe"] * 20)
        pq.write_table(table.set_column(4, "label", pa.array(labels)), folder / "p.parquet")
    elif case == "date target":
        days = pa.array(np.arange(60) % 2, pa.int32()).cast(pa.date32())
        pq.write_table(make_table(60, 0).set_column(4, "label", days), folder / "p.parquet")
    elif case == "columns differ":
        write_files(folder, [30])
        pq.write_table(make_table(30, 1).drop_columns(["c"]), folder / "part-9.parquet")
    elif case == "not parquet":
        (folder / "x.parquet").write_bytes(b"PAR1 but not really")
    else:
        write_files(folder, [30])


BAD = {
    "text column": ((), "non-numeric feature columns 'city'"),
    "missing": ((), "part-0.parquet: column 'a' has missing values (first at row 3)"),
    "three classes": ((), "has 3 distinct values"),
    "date target": ((), "target column 'label' has unsupported type date32"),
    "columns differ": ((), "part-9.parquet: its columns"),
    "not parquet": ((), "x.parquet: cannot read as Parquet"),
    "empty folder": ((), "is a directory with no Parquet files"),
    "focal logistic": (("--loss", "focal"), "trains --model logistic with --loss bce"),
    "median": (("--impute", "median"), "--impute mean"),
    "resume": (("--resume", "somewhere"), "--resume continues single-file runs"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_parquet_directories_are_bad_input(scheduler, tmp_path, case):
    args, fragment = BAD[case]
    folder = tmp_path / "data"
    folder.mkdir()
    if case != "empty folder":
        bad_files(folder, case)
    out = tmp_path / "out"
    result = invoke(
        "train", folder, "--target", "label", "--output", out, "--scheduler", scheduler, *args
    )
    assert_bad_input(result, fragment)
    assert not out.exists()


def test_unreachable_scheduler_is_bad_input(tmp_path):
    data = write_files(tmp_path / "data", [30])
    out = tmp_path / "out"
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        result = invoke(
            "train", data, "--target", "label", "--output", out, "--scheduler", "tcp://127.0.0.1:9"
        )
    assert_bad_input(result, "--scheduler tcp://127.0.0.1:9: cannot reach a Dask scheduler")
    assert not out.exists()


def test_repeated_drop_columns_are_dropped_once(tmp_path):
    from bcekit.data.tables import TablePreprocessor
    from bcekit.distributed.tables import _feature_columns, list_parquet

    data = write_files(tmp_path / "data", [30])
    columns, drop = _feature_columns(list_parquet(data), "label", None, ["b", "b"], None)
    pre = TablePreprocessor.fit(make_table(30, 0), "label", drop=["b", "b"], source="t")
    assert columns == ["a", "c", "flag"] and drop == ["b"]
    assert pre.feature_names == columns
