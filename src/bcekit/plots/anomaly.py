"""Figures of an anomaly-detection report: PR and ROC curves, confusion matrix, reliability.

Each ``plot_*`` function draws one of scikit-learn's Display classes on a given matplotlib
``Axes`` and marks the operating point of the hard decisions ``y_pred``;
:func:`save_anomaly_figures` renders all four as PNG files through the Agg canvas, without
touching pyplot's global state.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from numpy.typing import ArrayLike
from sklearn.calibration import CalibrationDisplay
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    PrecisionRecallDisplay,
    RocCurveDisplay,
    precision_score,
    recall_score,
)

__all__ = [
    "FIGURE_FILES",
    "plot_confusion_matrix",
    "plot_precision_recall",
    "plot_reliability",
    "plot_roc",
    "save_anomaly_figures",
]

#: File written by :func:`save_anomaly_figures` for each figure.
FIGURE_FILES = {
    "precision_recall": "pr_curve.png",
    "roc": "roc_curve.png",
    "confusion_matrix": "confusion_matrix.png",
    "reliability": "reliability.png",
}

_POINT_STYLE = {"marker": "o", "color": "C3", "markersize": 8, "zorder": 3, "linestyle": "none"}


def _curve_with_point(display_class, y_true, y_score, sample_weight, ax, point, label, where):
    """The curve of ``display_class`` with the threshold's ``point`` marked and labelled."""
    display = display_class.from_predictions(
        y_true, y_score, sample_weight=sample_weight, ax=ax, plot_chance_level=True
    )
    ax.plot([point[0]], [point[1]], label=f"threshold: {label}", **_POINT_STYLE)
    ax.legend(loc=where)
    return display


def plot_precision_recall(
    y_true: ArrayLike,
    y_score: ArrayLike,
    y_pred: ArrayLike,
    *,
    ax: Axes,
    sample_weight: ArrayLike | None = None,
) -> PrecisionRecallDisplay:
    r"""Precision–recall curve of ``y_score`` with the point reached by ``y_pred``.

    The chance level is the prevalence of the positive class; the legend gives the
    average precision :math:`AP = \sum_n (R_n - R_{n-1}) P_n`.
    """
    precision = precision_score(y_true, y_pred, sample_weight=sample_weight, zero_division=0.0)
    recall = recall_score(y_true, y_pred, sample_weight=sample_weight, zero_division=0.0)
    point, label = (recall, precision), f"P={precision:.3f}, R={recall:.3f}"
    display = _curve_with_point(
        PrecisionRecallDisplay, y_true, y_score, sample_weight, ax, point, label, "lower left"
    )
    ax.set_title("Precision–recall")
    return display


def plot_roc(
    y_true: ArrayLike,
    y_score: ArrayLike,
    y_pred: ArrayLike,
    *,
    ax: Axes,
    sample_weight: ArrayLike | None = None,
) -> RocCurveDisplay:
    """ROC curve of ``y_score`` with the (false-positive rate, recall) point of ``y_pred``."""
    tpr = recall_score(y_true, y_pred, sample_weight=sample_weight, zero_division=0.0)
    tnr = recall_score(y_true, y_pred, pos_label=0, sample_weight=sample_weight, zero_division=0.0)
    fpr = 1.0 - tnr
    label = f"FPR={fpr:.3f}, TPR={tpr:.3f}"
    display = _curve_with_point(
        RocCurveDisplay, y_true, y_score, sample_weight, ax, (fpr, tpr), label, "lower right"
    )
    ax.set_title("ROC")
    return display


def plot_confusion_matrix(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    ax: Axes,
    sample_weight: ArrayLike | None = None,
    display_labels: tuple[str, str] = ("normal", "anomaly"),
) -> ConfusionMatrixDisplay:
    """Confusion matrix of the decisions, titled with their precision and recall."""
    display = ConfusionMatrixDisplay.from_predictions(
        y_true,
        y_pred,
        labels=[0, 1],
        sample_weight=sample_weight,
        display_labels=list(display_labels),
        values_format=".6g",
        ax=ax,
        colorbar=False,
    )
    precision = precision_score(y_true, y_pred, sample_weight=sample_weight, zero_division=0.0)
    recall = recall_score(y_true, y_pred, sample_weight=sample_weight, zero_division=0.0)
    ax.set_title(f"At the threshold: precision {precision:.3f}, recall {recall:.3f}")
    return display


def plot_reliability(
    y_true: ArrayLike, y_prob: ArrayLike, *, ax: Axes, n_bins: int = 10
) -> CalibrationDisplay:
    """Reliability diagram: observed frequency against mean predicted probability.

    Bins hold equal numbers of samples (``strategy="quantile"``), so the rare positive
    class still fills several bins.
    """
    display = CalibrationDisplay.from_predictions(
        y_true, y_prob, n_bins=n_bins, strategy="quantile", ax=ax
    )
    ax.set_title("Reliability")
    return display


def save_anomaly_figures(
    y_true: ArrayLike,
    y_prob: ArrayLike,
    y_pred: ArrayLike,
    directory: str | Path,
    *,
    sample_weight: ArrayLike | None = None,
    dpi: int = 100,
) -> dict[str, Path]:
    """Write the four report figures as PNG files into an existing ``directory``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Labels, 1 = anomaly.
    y_prob : array-like of shape (n_samples,)
        Probability of an anomaly.
    y_pred : array-like of shape (n_samples,)
        Hard decisions (0/1) at the chosen threshold.
    directory : str or Path
        Where the files named in :data:`FIGURE_FILES` are written.
    sample_weight : array-like of shape (n_samples,), optional
        Used by every figure except the reliability diagram.
    dpi : int, default=100

    Returns
    -------
    dict
        Figure name -> path of its PNG file.
    """
    directory = Path(directory)
    drawers = {
        "precision_recall": lambda ax: plot_precision_recall(
            y_true, y_prob, y_pred, ax=ax, sample_weight=sample_weight
        ),
        "roc": lambda ax: plot_roc(y_true, y_prob, y_pred, ax=ax, sample_weight=sample_weight),
        "confusion_matrix": lambda ax: plot_confusion_matrix(
            y_true, y_pred, ax=ax, sample_weight=sample_weight
        ),
        "reliability": lambda ax: plot_reliability(y_true, y_prob, ax=ax),
    }
    paths = {}
    for name, draw in drawers.items():
        figure = Figure(figsize=(5.5, 5), layout="constrained")
        FigureCanvasAgg(figure)
        draw(figure.subplots())
        paths[name] = directory / FIGURE_FILES[name]
        figure.savefig(paths[name], dpi=dpi)
    return paths
