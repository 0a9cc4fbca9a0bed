"""Metrics, loss curves and the HTML report: bcekit.plots."""

from __future__ import annotations

import base64
import io
import itertools
import json
import re
import shutil
import subprocess
import warnings

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression as SkLogistic
from sklearn.neural_network import MLPClassifier as SkMLP

from bcekit.plots import LossCurveDisplay
from bcekit.plots.report import (
    FIGURES,
    ModelEvaluation,
    classification_metrics,
    expected_calibration_error,
    render_html,
    write_report,
)

CHROMIUM = shutil.which("chromium") or shutil.which("/usr/bin/chromium")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def scores(n=400, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.clip(0.3 * y + rng.uniform(0, 0.7, n), 0, 1)
    return y, p


# --------------------------------------------------------------------------- metrics


def test_ece_by_hand():
    # bins of width 0.1: 0.2 and 0.8 sit alone in their bins, each off by 0.2
    assert expected_calibration_error([0, 1], [0.2, 0.8]) == pytest.approx(0.2)
    # one bin holding p = 0.5 with half positives is perfectly calibrated
    assert expected_calibration_error([0, 1, 0, 1], [0.5] * 4) == 0.0
    # sure and right vs sure and wrong
    assert expected_calibration_error([0, 1], [0.0, 1.0]) == 0.0
    assert expected_calibration_error([1, 0], [0.0, 1.0]) == 1.0


@pytest.mark.parametrize("n_bins", [1, 5, 10, 15])
def test_ece_agrees_with_calibration_curve(n_bins):
    y, p = scores()
    p[:5] = [0.0, 0.1, 0.2, 1.0, 0.5]  # bin edges land where calibration_curve puts them
    prob_true, prob_pred = calibration_curve(y, p, n_bins=n_bins)
    edges = np.linspace(0, 1, n_bins + 1)
    counts = np.array(
        [
            np.sum((p > lo) & (p <= hi)) + (np.sum(p == 0) if i == 0 else 0)
            for i, (lo, hi) in enumerate(itertools.pairwise(edges))
        ]
    )
    counts = counts[counts > 0]
    oracle = np.sum(counts / len(y) * np.abs(prob_true - prob_pred))
    assert expected_calibration_error(y, p, n_bins=n_bins) == pytest.approx(oracle, abs=1e-12)


@pytest.mark.parametrize(
    ("y", "p", "n_bins", "fragment"),
    [
        ([0, 1], [0.2], 10, "same length"),
        ([0, 1], [0.2, 1.5], 10, r"y_prob must lie in \[0, 1\]"),
        ([0, 2], [0.2, 0.5], 10, "only 0 and 1"),
        ([0, 1], [0.2, 0.5], 0, "n_bins must be a positive integer"),
        ([], [], 10, "must not be empty"),
    ],
)
def test_ece_rejects_bad_input(y, p, n_bins, fragment):
    with pytest.raises(ValueError, match=fragment):
        expected_calibration_error(y, p, n_bins=n_bins)


def test_classification_metrics_match_sklearn():
    y, p = scores()
    m = classification_metrics(y, p)
    assert m["n_samples"] == len(y)
    assert m["log_loss"] == pytest.approx(skm.log_loss(y, p))
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, p > 0.5))
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p))
    assert m["average_precision"] == pytest.approx(skm.average_precision_score(y, p))
    assert m["brier"] == pytest.approx(skm.brier_score_loss(y, p))
    assert m["ece"] == pytest.approx(expected_calibration_error(y, p))


def test_single_class_metrics_are_none_not_nan():
    m = classification_metrics([1, 1, 1], [0.9, 0.6, 0.4])
    assert m["roc_auc"] is None and m["average_precision"] is None
    assert m["accuracy"] == pytest.approx(2 / 3)
    json.dumps(m, allow_nan=False)


# --------------------------------------------------------------------------- LossCurveDisplay


def test_from_history_records():
    history = [{"epoch": i, "train_loss": 1 / (i + 1), "val_loss": 1.1 / (i + 1)} for i in range(4)]
    disp = LossCurveDisplay.from_history(history, name="net")
    np.testing.assert_allclose(disp.line_.get_ydata(), [1, 1 / 2, 1 / 3, 1 / 4])
    np.testing.assert_allclose(disp.line_.get_xdata(), [1, 2, 3, 4])
    np.testing.assert_allclose(disp.validation_line_.get_ydata(), 1.1 / np.arange(1, 5))
    assert disp.validation_line_.get_linestyle() == "--"
    assert disp.validation_line_.get_color() == disp.line_.get_color()
    assert disp.ax_.get_xlabel() == "epoch" and disp.figure_ is disp.ax_.figure
    labels = [t.get_text() for t in disp.ax_.get_legend().get_texts()]
    assert labels == ["net: train", "net: validation"]


def test_from_history_other_shapes():
    disp = LossCurveDisplay.from_history([0.9, 0.5, 0.4])
    assert disp.validation_line_ is None
    np.testing.assert_allclose(disp.line_.get_ydata(), [0.9, 0.5, 0.4])
    disp = LossCurveDisplay.from_history({"loss": [3.0, 2.0], "validation_loss": [4.0, 1.0]})
    np.testing.assert_allclose(disp.validation_line_.get_ydata(), [4.0, 1.0])
    with pytest.raises(ValueError, match="history is empty"):
        LossCurveDisplay.from_history([])
    with pytest.raises(ValueError, match="one of the keys"):
        LossCurveDisplay.from_history([{"accuracy": 0.5}])
    with pytest.raises(ValueError, match="one value per epoch"):
        LossCurveDisplay(train_loss=[1.0, 2.0], validation_loss=[1.0])


def test_plot_on_given_axes():
    fig, ax = plt.subplots()
    disp = LossCurveDisplay(train_loss=[2.0, 1.0]).plot(ax=ax, color="red")
    assert disp.ax_ is ax and disp.figure_ is fig
    assert disp.line_.get_color() == "red"


def test_from_estimator_sklearn_mlp_and_failure():
    X = np.random.default_rng(0).normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = SkMLP(hidden_layer_sizes=(4,), max_iter=15, random_state=0).fit(X, y)
    disp = LossCurveDisplay.from_estimator(mlp)
    np.testing.assert_allclose(disp.line_.get_ydata(), mlp.loss_curve_)
    assert disp.ax_.get_legend().get_texts()[0].get_text() == "MLPClassifier: train"
    with pytest.raises(ValueError, match="has no loss history"):
        LossCurveDisplay.from_estimator(SkLogistic().fit(X, y))


# --------------------------------------------------------------------------- report


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 4))
    y = (X @ [1.0, -2.0, 0.5, 0.0] + rng.normal(size=300) > 0).astype(int)
    Xtr, Xte, ytr, yte = X[:200], X[200:], y[:200], y[200:]
    logistic = SkLogistic().fit(Xtr, ytr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = SkMLP(hidden_layer_sizes=(8,), max_iter=30, random_state=0).fit(Xtr, ytr)
    evaluations = [
        ModelEvaluation("logistic", yte, logistic.predict_proba(Xte)[:, 1], logistic),
        ModelEvaluation("mlp <b>", yte, mlp.predict_proba(Xte)[:, 1], mlp),
    ]
    out = tmp_path_factory.mktemp("report")
    returned = write_report(out, evaluations, title="test & report", details={"rows": 100})
    return out, evaluations, returned


def test_report_files_and_metrics(report_dir):
    out, evaluations, returned = report_dir
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["metrics.json", "report.html", *FIGURES]
    )
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["details"] == {"rows": 100}
    assert saved["models"] == returned
    for ev in evaluations:
        assert saved["models"][ev.name]["roc_auc"] == pytest.approx(
            skm.roc_auc_score(ev.y_true, ev.y_prob)
        )
    for name in FIGURES:
        image = mpimg.imread(out / name)
        assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 300
        assert np.ptp(image[..., :3]) > 0.5  # something is drawn, not a blank canvas


def test_report_html_is_self_contained(report_dir):
    out, _, _ = report_dir
    page = (out / "report.html").read_text()
    assert "<title>test &amp; report</title>" in page
    assert 'data-model="mlp &lt;b&gt;"' in page and "<b>" not in page
    assert not re.search(r'(src|href)="(?!data:)', page)
    sources = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(sources) == len(FIGURES)
    for encoded, name in zip(sources, FIGURES, strict=True):
        assert base64.b64decode(encoded) == (out / name).read_bytes()


def test_render_html_table_cells():
    page = render_html("t", {"m": {"log_loss": 0.123456, "roc_auc": None, "n_samples": 7}}, {})
    assert '<td data-metric="log_loss">0.1235</td>' in page
    assert '<td data-metric="roc_auc">n/a</td>' in page
    assert "<td>7</td>" in page


def test_write_report_rejects_duplicates(tmp_path):
    ev = ModelEvaluation("a", np.array([0, 1]), np.array([0.2, 0.7]))
    with pytest.raises(ValueError, match="unique"):
        write_report(tmp_path, [ev, ev])
    with pytest.raises(ValueError, match="at least one"):
        write_report(tmp_path, [])


def test_loss_figure_without_history(tmp_path):
    ev = ModelEvaluation("plain", np.array([0, 1, 0, 1]), np.array([0.2, 0.7, 0.4, 0.9]))
    write_report(tmp_path, [ev])
    image = mpimg.imread(io.BytesIO((tmp_path / "loss_curve.png").read_bytes()))
    assert image.shape[0] > 100


# --------------------------------------------------------------------------- in a browser

_PROBE = """<script>
window.addEventListener("load", () => {
  for (const img of document.images) img.dataset.naturalWidth = img.naturalWidth;
  document.body.dataset.probed = "yes";
});
</script></body>"""


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (/usr/bin/chromium)")
def test_report_renders_in_headless_chromium(report_dir, tmp_path):
    out, evaluations, _ = report_dir
    probe = tmp_path / "probe.html"
    probe.write_text((out / "report.html").read_text().replace("</body>", _PROBE))
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=5000",
        "--dump-dom",
        probe.as_uri(),
    ]
    dom = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True).stdout
    assert 'data-probed="yes"' in dom
    for ev in evaluations:
        name = ev.name.replace("<", "&lt;").replace(">", "&gt;")
        assert f'<tr data-model="{name}">' in dom
    widths = re.findall(r'data-natural-width="(\d+)"', dom)
    assert len(widths) == len(FIGURES)
    assert all(int(w) > 0 for w in widths)
