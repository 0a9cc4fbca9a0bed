"""Tests for the ``bcekit anomaly`` command (bcekit.cli.anomaly)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split

from bcekit.cli.anomaly import anomaly
from bcekit.data import shuttle


@pytest.fixture
def table_file(tmp_path):
    X, y = make_classification(1500, n_features=5, weights=[0.93], random_state=6)
    header = ",".join([f"x{i}" for i in range(5)] + ["label"])
    labels = np.array(["no", "yes"])[y]  # sorted labels: "yes" is the anomaly class
    rows = [",".join([*map(str, x), label]) for x, label in zip(X, labels, strict=True)]
    path = tmp_path / "events.csv"
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path, y


def _run(*args):
    return CliRunner().invoke(anomaly, list(args))


def test_table_report(table_file, tmp_path):
    path, y = table_file
    out = tmp_path / "report"
    result = _run(str(path), "--target", "label", "--output", str(out), "--json")
    assert result.exit_code == 0, result.output
    written = json.loads((out / "metrics.json").read_text())
    printed = json.loads(result.stdout)
    assert printed == written
    assert written["model"]["pipeline"] == ["StandardScaler", "AnomalyClassifier"]
    assert written["split"]["n_test"] == 450
    _, y_test = train_test_split(y, test_size=0.3, stratify=y, random_state=0)
    assert written["n_anomalies"] == y_test.sum()
    assert sorted(p.name for p in out.iterdir()) == [
        "confusion_matrix.png",
        "metrics.json",
        "pr_curve.png",
        "reliability.png",
        "roc_curve.png",
    ]


def test_options_reach_the_model(table_file, tmp_path):
    out = tmp_path / "report"
    result = _run(
        str(table_file[0]), "--target", "label", "--output", str(out), "--json",
        "--model", "logistic", "--objective", "precision-at-recall", "--target-recall", "0.8",
        "--calibration", "none",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    model = json.loads(result.stdout)["model"]
    assert model["base"] == "logistic"
    assert model["threshold_objective"] == "precision_at_recall"
    assert model["calibration"] is None
    assert model["validation_at_threshold"]["recall"] >= 0.8


def test_shuttle_is_the_default_data(monkeypatch, tmp_path):
    X, y = make_classification(800, n_features=9, weights=[0.93], random_state=1)
    monkeypatch.setattr(shuttle, "load_shuttle", lambda return_X_y: (X, y))
    result = _run("--output", str(tmp_path / "r"), "--json", "--model", "logistic")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n_samples"] == 240


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--objective", "cost"], "--objective cost needs --cost-ratio"),
        (["--target", "label"], "--target need DATA"),
        (["--drop", "a", "--one-hot"], "--drop, --one-hot need DATA"),
    ],
)
def test_bad_options(tmp_path, args, message):
    result = _run("--output", str(tmp_path / "r"), *args)
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "r").exists()


def test_data_without_target(table_file, tmp_path):
    result = _run(str(table_file[0]), "--output", str(tmp_path / "r"))
    assert result.exit_code == 2
    assert "--target COL is required" in result.output


def test_missing_river_is_bad_input(monkeypatch, tmp_path):
    def missing(return_X_y):
        raise ImportError("load_shuttle needs the 'river' package: pip install river")

    monkeypatch.setattr(shuttle, "load_shuttle", missing)
    result = _run("--output", str(tmp_path / "r"))
    assert result.exit_code == 2
    assert "pip install river" in result.output
