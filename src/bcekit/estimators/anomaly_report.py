"""The anomaly report: an AnomalyClassifier evaluated on held-out rows, as figures and JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted

from bcekit.estimators.anomaly import AnomalyClassifier
from bcekit.estimators.thresholds import operating_point

__all__ = ["AnomalyReport", "anomaly_report"]


@dataclass(frozen=True)
class AnomalyReport:
    """What :func:`anomaly_report` wrote.

    Attributes
    ----------
    directory : Path
        The report directory.
    metrics : dict
        The content of ``metrics.json``.
    figures : dict
        Figure name -> PNG path.
    estimator : AnomalyClassifier
        The evaluated (fitted) model.
    """

    directory: Path
    metrics: dict[str, Any]
    figures: dict[str, Path]
    estimator: Any


def anomaly_report(
    X: Any,
    y: Any,
    output_dir: str | Path,
    *,
    estimator: Any = None,
    test_size: float = 0.3,
    random_state: int | None = 0,
    overwrite: bool = False,
) -> AnomalyReport:
    """Evaluate an anomaly classifier on held-out data and write a report directory.

    Unless ``estimator`` is already fitted, ``(X, y)`` is split (stratified, ``test_size``
    held out), a clone of ``estimator`` (default ``AnomalyClassifier(random_state=...)``)
    is fitted on the training part, and the held-out part is evaluated. A fitted
    ``estimator`` is evaluated on all of ``(X, y)``.

    The directory receives ``pr_curve.png``, ``roc_curve.png``, ``confusion_matrix.png``
    (with precision and recall at the threshold), ``reliability.png`` and ``metrics.json``
    (average precision, ROC AUC, log loss, Brier score, the operating point at the
    threshold and the model's choices). It is built under a temporary name and renamed
    into place only when complete.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        Two classes; the larger label is the anomaly class.
    output_dir : str or Path
        Report directory to create; its parent must exist.
    estimator : classifier, default=None
        Fitted or unfitted binary classifier with ``predict_proba`` and ``predict``.
    test_size : float in (0, 1), default=0.3
    random_state : int or None, default=0
        Seeds the split and the default estimator.
    overwrite : bool, default=False
        Replace an existing ``output_dir`` (only once the new report is complete).

    Returns
    -------
    AnomalyReport
    """
    from bcekit.io.atomic import atomic_directory
    from bcekit.plots.anomaly import FIGURE_FILES, save_anomaly_figures
    from bcekit.plots.report import classification_metrics

    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must lie in (0, 1); got {test_size!r}")
    y = np.asarray(y)
    if estimator is None:
        estimator = AnomalyClassifier(random_state=random_state)
    split: dict[str, Any] | None = None
    try:
        check_is_fitted(estimator)
        X_test, y_test = X, y
    except Exception:
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=test_size, stratify=y, random_state=random_state
        )
        estimator = clone(estimator).fit(X_train, y_train)
        split = {
            "test_size": test_size,
            "random_state": random_state,
            "n_train": len(y_train),
            "n_test": len(y_test),
        }

    positive = estimator.classes_[1]
    unknown = np.setdiff1d(np.unique(y_test), estimator.classes_)
    if unknown.size:
        raise ValueError(f"y has labels {unknown.tolist()} the estimator was not fitted on")
    y01 = (y_test == positive).astype(np.int64)
    if np.unique(y01).size != 2:
        raise ValueError("the evaluation part of y must contain both classes")
    proba = estimator.predict_proba(X_test)[:, 1]
    y_pred = (estimator.predict(X_test) == positive).astype(np.int64)

    scores = classification_metrics(y01, proba)
    metrics: dict[str, Any] = {
        "n_samples": int(y01.size),
        "n_anomalies": int(y01.sum()),
        "prevalence": float(y01.mean()),
        "average_precision": scores["average_precision"],
        "roc_auc": scores["roc_auc"],
        "log_loss": scores["log_loss"],
        "brier_score": scores["brier"],  # the report's key since its first version
        "at_threshold": operating_point(y01, y_pred),
        "model": _model_summary(estimator),
        "split": split,
        "figures": dict(FIGURE_FILES),
    }
    with atomic_directory(output_dir, overwrite=overwrite) as tmp:
        save_anomaly_figures(y01, proba, y_pred, tmp)
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    directory = Path(output_dir)
    figures = {name: directory / file for name, file in FIGURE_FILES.items()}
    return AnomalyReport(directory, metrics, figures, estimator)


def _model_summary(estimator: Any) -> dict[str, Any]:
    """The fitted choices of an AnomalyClassifier, also as the last step of a Pipeline."""
    steps = getattr(estimator, "steps", None)
    final = estimator if steps is None else steps[-1][1]
    summary: dict[str, Any] = {"class": type(final).__name__}
    if steps is not None:
        summary["pipeline"] = [type(step).__name__ for _, step in steps]
    if isinstance(final, AnomalyClassifier):
        summary.update(
            {
                "base": final.base,
                "imbalance": final.imbalance_,
                "imbalance_scores": final.imbalance_scores_,
                "calibration": final.calibration_,
                "threshold_objective": final.threshold_objective,
                "threshold": final.threshold_,
                "validation_at_threshold": final.validation_operating_point_,
            }
        )
    return summary
