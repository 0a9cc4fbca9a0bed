"""Evaluation reports: metrics, figures and one self-contained HTML page per run.

:func:`classification_metrics` scores predicted probabilities with scikit-learn's metrics
plus the expected calibration error; :func:`write_report` writes ``metrics.json``, the
figures (``loss_curve.png``, ``roc.png``, ``pr.png``, ``calibration.png``) and
``report.html``, which inlines every figure as a base64 data URI so the page can be mailed
or archived on its own. Figures are drawn on :class:`matplotlib.figure.Figure` objects with
the Agg renderer; no pyplot state is touched.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: Metric keys in the order they are shown, with their display names.
METRIC_LABELS: dict[str, str] = {
    "log_loss": "log loss",
    "accuracy": "accuracy",
    "roc_auc": "ROC-AUC",
    "average_precision": "average precision",
    "ece": "ECE",
    "brier": "Brier score",
}

#: Shorter metric names for terminal tables.
SHORT_LABELS: dict[str, str] = {**METRIC_LABELS, "average_precision": "AP", "brier": "Brier"}

#: Figure file names and their captions, in page order.
FIGURES: dict[str, str] = {
    "loss_curve.png": "Loss per epoch (L-BFGS: per iteration); solid: training, dashed: validation",
    "roc.png": "ROC curve",
    "pr.png": "Precision-recall curve",
    "calibration.png": "Calibration (reliability) curve",
}


def expected_calibration_error(y_true: Any, y_prob: Any, *, n_bins: int = 10) -> float:
    r"""Expected calibration error over equal-width probability bins.

    .. math::
        \mathrm{ECE} = \sum_{b=1}^{B} \frac{n_b}{n}\,\lvert \bar y_b - \bar p_b \rvert

    where bin :math:`b` holds the :math:`n_b` samples whose predicted probability falls in
    it, :math:`\bar y_b` is their fraction of positives and :math:`\bar p_b` their mean
    predicted probability. Bins are those of
    :func:`sklearn.calibration.calibration_curve` with ``strategy="uniform"``: edges
    ``linspace(0, 1, n_bins + 1)``, each bin closed on the right except that 0 falls in
    the first.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        0/1 labels.
    y_prob : array-like of shape (n_samples,)
        Predicted probability of label 1, in [0, 1].
    n_bins : int, default=10
        Number of bins.

    Returns
    -------
    float
        In [0, 1]; 0 for a perfectly calibrated model.
    """
    y_true = np.asarray(y_true, dtype=np.float64).ravel()
    y_prob = np.asarray(y_prob, dtype=np.float64).ravel()
    if y_true.shape != y_prob.shape:
        raise ValueError(
            f"y_true and y_prob must have the same length; got {y_true.size} and {y_prob.size}"
        )
    if y_true.size == 0:
        raise ValueError("y_true must not be empty")
    if not (isinstance(n_bins, int | np.integer) and n_bins >= 1):
        raise ValueError(f"n_bins must be a positive integer; got {n_bins!r}")
    if np.isnan(y_prob).any() or y_prob.min() < 0 or y_prob.max() > 1:
        raise ValueError(
            f"y_prob must lie in [0, 1]; got values in [{np.nanmin(y_prob)}, {np.nanmax(y_prob)}]"
        )
    if not np.isin(y_true, (0.0, 1.0)).all():
        raise ValueError("y_true must hold only 0 and 1")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.searchsorted(edges[1:-1], y_prob)
    count = np.bincount(bins, minlength=n_bins)
    gap = np.bincount(bins, weights=y_true - y_prob, minlength=n_bins)
    # n_b/n · |ȳ_b − p̄_b| = |Σ_b (y − p)| / n
    return float(np.abs(gap[count > 0]).sum() / y_true.size)


def classification_metrics(y_true: Any, y_prob: Any) -> dict[str, float | int | None]:
    """Scores of predicted probabilities against 0/1 labels.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        0/1 labels.
    y_prob : array-like of shape (n_samples,)
        Predicted probability of label 1.

    Returns
    -------
    dict
        ``n_samples``; ``log_loss``, ``accuracy`` (threshold 0.5), ``roc_auc``,
        ``average_precision``, ``brier`` (scikit-learn) and ``ece``
        (:func:`expected_calibration_error`). ``roc_auc`` and ``average_precision`` are
        ``None`` when ``y_true`` holds a single class, where they are undefined.
    """
    from sklearn import metrics

    y_true = np.asarray(y_true).ravel()
    y_prob = np.asarray(y_prob, dtype=np.float64).ravel()
    both = np.unique(y_true).size == 2
    return {
        "n_samples": int(y_true.size),
        "log_loss": float(metrics.log_loss(y_true, y_prob, labels=[0, 1])),
        "accuracy": float(metrics.accuracy_score(y_true, (y_prob > 0.5).astype(y_true.dtype))),
        "roc_auc": float(metrics.roc_auc_score(y_true, y_prob)) if both else None,
        "average_precision": (
            float(metrics.average_precision_score(y_true, y_prob)) if both else None
        ),
        "ece": expected_calibration_error(y_true, y_prob),
        "brier": float(metrics.brier_score_loss(y_true, y_prob, pos_label=1)),
    }


@dataclass
class ModelEvaluation:
    """One model's predictions on held-out data, as the report needs them.

    Attributes
    ----------
    name : str
        Short name used in tables, legends and file names (``"logistic"``).
    y_true : ndarray of shape (n_samples,)
        0/1 labels.
    y_prob : ndarray of shape (n_samples,)
        Predicted probability of label 1.
    estimator : object, optional
        The fitted model; its loss history feeds ``loss_curve.png``.
    """

    name: str
    y_true: np.ndarray
    y_prob: np.ndarray
    estimator: Any = None

    def metrics(self) -> dict[str, float | int | None]:
        """:func:`classification_metrics` of this model."""
        return classification_metrics(self.y_true, self.y_prob)


def format_metric(value: float | int | None) -> str:
    """A metric as shown in tables: 4 decimals, integers as they are, ``n/a`` for None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, int | np.integer):
        return str(value)
    return f"{value:.4f}"


# --------------------------------------------------------------------------- figures


def _png(figure: Any) -> bytes:
    buf = io.BytesIO()
    figure.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def _axes(title: str) -> Any:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.5, 4.2), layout="constrained")
    ax = figure.add_subplot()
    ax.set_title(title)
    return ax


def _loss_figure(evaluations: Sequence[ModelEvaluation]) -> bytes:
    from bcekit.plots.curves import LossCurveDisplay

    ax = _axes("Loss per epoch")
    drawn = 0
    for ev in evaluations:
        if ev.estimator is None:
            continue
        try:
            LossCurveDisplay.from_estimator(ev.estimator, name=ev.name, ax=ax)
        except ValueError:
            continue
        drawn += 1
    if not drawn:
        ax.text(0.5, 0.5, "no per-epoch loss was recorded", ha="center", va="center")
        ax.set_axis_off()
    return _png(ax.figure)


def _curve_figure(
    evaluations: Sequence[ModelEvaluation], display: Any, file: str, axis_labels: tuple[str, str]
) -> bytes:
    """ROC or precision-recall curves of every model scored on both classes."""
    ax = _axes(FIGURES[file])
    for i, ev in enumerate(evaluations):
        if np.unique(ev.y_true).size == 2:
            display.from_predictions(
                ev.y_true, ev.y_prob, name=ev.name, ax=ax, plot_chance_level=i == 0
            )
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    return _png(ax.figure)


def _roc_figure(evaluations: Sequence[ModelEvaluation], positive: str) -> bytes:
    from sklearn.metrics import RocCurveDisplay

    labels = (f"false positive rate (positive: {positive})", "true positive rate")
    return _curve_figure(evaluations, RocCurveDisplay, "roc.png", labels)


def _pr_figure(evaluations: Sequence[ModelEvaluation], positive: str) -> bytes:
    from sklearn.metrics import PrecisionRecallDisplay

    labels = (f"recall (positive: {positive})", "precision")
    return _curve_figure(evaluations, PrecisionRecallDisplay, "pr.png", labels)


def _calibration_figure(evaluations: Sequence[ModelEvaluation], positive: str) -> bytes:
    from sklearn.calibration import CalibrationDisplay

    ax = _axes(FIGURES["calibration.png"])
    for i, ev in enumerate(evaluations):
        CalibrationDisplay.from_predictions(
            ev.y_true, ev.y_prob, n_bins=10, name=ev.name, ax=ax, ref_line=i == 0
        )
    ax.set_xlabel(f"mean predicted probability of {positive}")
    ax.set_ylabel(f"fraction that are {positive}")
    return _png(ax.figure)


def render_figures(
    evaluations: Sequence[ModelEvaluation], *, positive: str = "1"
) -> dict[str, bytes]:
    """PNG bytes of each report figure, keyed by file name (see :data:`FIGURES`).

    ``positive`` names the class that label 1 stands for, in axis labels.
    """
    return {
        "loss_curve.png": _loss_figure(evaluations),
        "roc.png": _roc_figure(evaluations, positive),
        "pr.png": _pr_figure(evaluations, positive),
        "calibration.png": _calibration_figure(evaluations, positive),
    }


# --------------------------------------------------------------------------- HTML

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; color: #222; }
h1 { font-size: 1.5rem; } p.meta { color: #555; }
table { border-collapse: collapse; margin: 1rem 0 2rem; }
th, td { padding: .35rem .8rem; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(26rem, 1fr));
  gap: 1.5rem; }
figure { margin: 0; } figure img { width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: .9rem; }
"""


def render_html(
    title: str,
    metrics: Mapping[str, Mapping[str, Any]],
    figures: Mapping[str, bytes],
    *,
    details: Mapping[str, Any] | None = None,
) -> str:
    """One self-contained HTML page: the metrics table, then every figure inlined.

    Parameters
    ----------
    title : str
        Page heading.
    metrics : mapping of str to dict
        Model name to :func:`classification_metrics` output; one table row per model.
    figures : mapping of str to bytes
        File name to PNG bytes; each becomes an ``<img>`` with a ``data:image/png;base64``
        source and the caption from :data:`FIGURES`.
    details : mapping, optional
        Key/value facts shown under the heading (data file, split sizes, ...).

    Returns
    -------
    str
        The HTML document; it references no other file.
    """
    esc = html.escape
    head = "".join(f"<th>{esc(label)}</th>" for label in METRIC_LABELS.values())
    rows = []
    for name, values in metrics.items():
        cells = "".join(
            f'<td data-metric="{esc(k)}">{esc(format_metric(values.get(k)))}</td>'
            for k in METRIC_LABELS
        )
        n = format_metric(values.get("n_samples"))
        rows.append(f'<tr data-model="{esc(name)}"><td>{esc(name)}</td>{cells}<td>{n}</td></tr>')
    facts = ""
    if details:
        facts = (
            '<p class="meta">'
            + " &middot; ".join(f"{esc(str(k))}: {esc(str(v))}" for k, v in details.items())
            + "</p>"
        )
    blocks = []
    for filename, png in figures.items():
        caption = FIGURES.get(filename, filename)
        data = base64.b64encode(png).decode("ascii")
        stem = esc(filename.rsplit(".", 1)[0])
        blocks.append(
            f'<figure><img id="{stem}" alt="{esc(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{esc(caption)}</figcaption></figure>"
        )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{esc(title)}</h1>{facts}"
        f'<table id="metrics"><thead><tr><th>model</th>{head}<th>samples</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
        f'<div class="figures">{"".join(blocks)}</div>'
        "</body></html>\n"
    )


def write_report(
    directory: str | Path,
    evaluations: Sequence[ModelEvaluation],
    *,
    title: str = "bcekit report",
    details: Mapping[str, Any] | None = None,
    positive: str = "1",
) -> dict[str, dict[str, Any]]:
    """Write ``metrics.json``, the figures and ``report.html`` into an existing directory.

    Parameters
    ----------
    directory : str or Path
        Where to write; it must exist. To publish atomically, pass a temporary directory
        and rename it afterwards (:func:`bcekit.io.atomic.atomic_directory`).
    evaluations : sequence of ModelEvaluation
        The models to report, in table order; names must be unique.
    title : str, default="bcekit report"
        Page heading.
    details : mapping, optional
        Facts about the run, written to ``metrics.json`` and shown on the page.
    positive : str, default="1"
        Name of the class that label 1 stands for, used in axis labels.

    Returns
    -------
    dict
        Model name to its metrics, as written to ``metrics.json``.
    """
    if not evaluations:
        raise ValueError("evaluations must hold at least one model")
    names = [ev.name for ev in evaluations]
    if len(set(names)) != len(names):
        raise ValueError(f"evaluation names must be unique; got {names}")
    directory = Path(directory)
    metrics = {ev.name: ev.metrics() for ev in evaluations}
    figures = render_figures(evaluations, positive=positive)
    payload = {"models": metrics, "details": dict(details or {})}
    (directory / "metrics.json").write_text(json.dumps(payload, indent=2) + "\n")
    for filename, png in figures.items():
        (directory / filename).write_bytes(png)
    page = render_html(title, metrics, figures, details=details)
    (directory / "report.html").write_text(page, encoding="utf-8")
    return metrics
