"""Tests for the anomaly report: bcekit.estimators.anomaly_report.anomaly_report and its figures."""

from __future__ import annotations

import json

import numpy as np
import pytest
from matplotlib.figure import Figure
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import train_test_split

from bcekit.estimators.anomaly import AnomalyClassifier
from bcekit.estimators.anomaly_report import anomaly_report
from bcekit.plots import anomaly as anomaly_plots
from bcekit.plots.anomaly import FIGURE_FILES, plot_precision_recall, plot_roc

pytestmark = pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FAST = {"hidden_layer_sizes": (16,), "max_iter": 60}


@pytest.fixture(scope="module")
def data():
    return make_classification(3000, n_features=8, weights=[0.95], random_state=4)


@pytest.fixture(scope="module")
def report(data, tmp_path_factory):
    X, y = data
    out = tmp_path_factory.mktemp("reports") / "report"
    estimator = AnomalyClassifier(random_state=0, **FAST)
    return anomaly_report(X, y, out, estimator=estimator, test_size=0.3, random_state=7)


def test_report_files(report):
    names = sorted(p.name for p in report.directory.iterdir())
    assert names == sorted([*FIGURE_FILES.values(), "metrics.json"])
    for path in report.figures.values():
        content = path.read_bytes()
        assert content.startswith(PNG_MAGIC)
        assert len(content) > 5000  # a drawn figure, not an empty canvas
    on_disk = json.loads((report.directory / "metrics.json").read_text())
    assert on_disk == report.metrics


def test_report_metrics_match_scikit_learn(report, data):
    X, y = data
    _, X_test, _, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=7)
    model = report.estimator
    proba = model.predict_proba(X_test)[:, 1]
    y_pred = model.predict(X_test)
    m = report.metrics
    assert m["n_samples"] == y_test.size
    assert m["n_anomalies"] == int(y_test.sum())
    assert m["average_precision"] == pytest.approx(average_precision_score(y_test, proba))
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y_test, proba))
    assert m["log_loss"] == pytest.approx(log_loss(y_test, proba))
    assert m["brier_score"] == pytest.approx(brier_score_loss(y_test, proba))
    point = m["at_threshold"]
    assert point["precision"] == pytest.approx(precision_score(y_test, y_pred))
    assert point["recall"] == pytest.approx(recall_score(y_test, y_pred))
    assert point["tp"] == int(((y_pred == 1) & (y_test == 1)).sum())
    assert point["fp"] == int(((y_pred == 1) & (y_test == 0)).sum())
    assert m["model"]["threshold"] == pytest.approx(model.threshold_)
    assert m["model"]["calibration"] == model.calibration_
    assert m["split"] == {"test_size": 0.3, "random_state": 7, "n_train": 2100, "n_test": 900}


def test_fitted_estimator_is_evaluated_on_all_rows(data, tmp_path):
    X, y = data
    model = AnomalyClassifier(random_state=0, **FAST).fit(X[:2000], y[:2000])
    result = anomaly_report(X[2000:], y[2000:], tmp_path / "r", estimator=model)
    assert result.estimator is model
    assert result.metrics["n_samples"] == 1000
    assert result.metrics["split"] is None
    expected = average_precision_score(y[2000:], model.predict_proba(X[2000:])[:, 1])
    assert result.metrics["average_precision"] == pytest.approx(expected)


def test_existing_directory_needs_overwrite(data, tmp_path):
    X, y = data
    model = AnomalyClassifier(random_state=0, **FAST).fit(X, y)
    out = tmp_path / "r"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        anomaly_report(X, y, out, estimator=model)
    assert (out / "old.txt").exists()
    anomaly_report(X, y, out, estimator=model, overwrite=True)
    assert not (out / "old.txt").exists()
    assert (out / "metrics.json").exists()


def test_failed_report_leaves_nothing(data, tmp_path, monkeypatch):
    X, y = data
    model = AnomalyClassifier(random_state=0, **FAST).fit(X, y)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(anomaly_plots, "save_anomaly_figures", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        anomaly_report(X, y, tmp_path / "r", estimator=model)
    assert list(tmp_path.iterdir()) == []


def test_bad_report_input(data, tmp_path):
    X, y = data
    model = AnomalyClassifier(random_state=0, **FAST).fit(X, y)
    with pytest.raises(ValueError, match="test_size must lie in"):
        anomaly_report(X, y, tmp_path / "a", test_size=1.5)
    with pytest.raises(ValueError, match="must contain both classes"):
        anomaly_report(X[y == 0], y[y == 0], tmp_path / "b", estimator=model)
    with pytest.raises(ValueError, match="not fitted on"):
        anomaly_report(X[:10], np.full(10, 5), tmp_path / "c", estimator=model)
    assert list(tmp_path.iterdir()) == []


def test_figures_mark_the_operating_point():
    rng = np.random.default_rng(0)
    y = (rng.random(500) < 0.1).astype(int)
    score = np.clip(0.3 * y + 0.5 * rng.random(500), 0, 1)
    y_pred = (score > 0.4).astype(int)

    ax = Figure().subplots()
    plot_precision_recall(y, score, y_pred, ax=ax)
    recall, precision = ax.lines[-1].get_xydata()[0]
    assert precision == pytest.approx(precision_score(y, y_pred))
    assert recall == pytest.approx(recall_score(y, y_pred))

    ax = Figure().subplots()
    plot_roc(y, score, y_pred, ax=ax)
    fpr, tpr = ax.lines[-1].get_xydata()[0]
    assert fpr == pytest.approx(((y_pred == 1) & (y == 0)).sum() / (y == 0).sum())
    assert tpr == pytest.approx(((y_pred == 1) & (y == 1)).sum() / (y == 1).sum())
