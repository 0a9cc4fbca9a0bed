"""``bcekit anomaly``: fit an AnomalyClassifier on a table (or Shuttle) and write its report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from bcekit.cli import options as opt
from bcekit.cli.errors import CLIError

EPILOG = """\b
Examples:
  bcekit anomaly --output shuttle-report          # Shuttle (needs: pip install river)
  bcekit anomaly events.csv --target fraud --output run1
  bcekit anomaly events.parquet --target fraud --output run2 \\
      --objective precision-at-recall --target-recall 0.9 --imbalance auto
"""

#: Threshold objective flag -> AnomalyClassifier's threshold_objective, and what it needs.
OBJECTIVES = {
    "f1": ("f1", None),
    "precision-at-recall": ("precision_at_recall", "target_recall"),
    "recall-at-precision": ("recall_at_precision", "target_precision"),
    "cost": ("cost", "cost_ratio"),
}

#: Rows of the printed summary: metrics.json path -> label.
SUMMARY = {
    ("average_precision",): "average precision",
    ("roc_auc",): "ROC AUC",
    ("log_loss",): "log loss",
    ("brier_score",): "Brier score",
    ("model", "threshold"): "threshold (probability)",
    ("at_threshold", "precision"): "precision at threshold",
    ("at_threshold", "recall"): "recall at threshold",
    ("at_threshold", "f1"): "F1 at threshold",
}


@click.command(short_help="Fit an anomaly classifier and write its report.", epilog=EPILOG)
@click.argument("data", required=False, type=click.Path(path_type=Path))
@click.option("--target", metavar="COL", help="The binary label column (with DATA).")
@opt.output_option("Report folder; created when the run ends.")
@opt.column_options
@opt.model_option("base", "mlp", "Base model trained with BCE.", choices=("mlp", "logistic"))
@click.option(
    "--imbalance",
    type=click.Choice(["balanced", "focal", "both", "none", "auto"]),
    default="balanced",
    show_default=True,
    help="Class-imbalance treatment; auto picks by validation average precision.",
)
@click.option(
    "--objective",
    type=click.Choice(list(OBJECTIVES)),
    default="f1",
    show_default=True,
    help="What the decision threshold optimises on the validation rows.",
)
@click.option(
    "--target-recall",
    type=click.FloatRange(0, 1, min_open=True),
    metavar="R",
    help="Least recall (with --objective precision-at-recall).",
)
@click.option(
    "--target-precision",
    type=click.FloatRange(0, 1, min_open=True),
    metavar="P",
    help="Least precision (with --objective recall-at-precision).",
)
@click.option(
    "--cost-ratio",
    type=click.FloatRange(0, min_open=True),
    metavar="C",
    help="Cost of a missed anomaly / cost of a false alarm (with --objective cost).",
)
@click.option(
    "--calibration",
    type=click.Choice(["auto", "sigmoid", "isotonic", "none"]),
    default="auto",
    show_default=True,
    help="Calibration of the probabilities.",
)
@opt.held_out_option("--test-size", 0.3, "Share of rows held out (stratified) for the report.")
@opt.seed_option()
@opt.global_options
def anomaly(data: Path | None, output: Path, **options: Any) -> None:
    """Fit an AnomalyClassifier on DATA (CSV or Parquet) and write a report to DIR.

    Without DATA the Statlog Shuttle data (ODDS version) is used. The rows are split
    (stratified); the features are standardised with the training rows' statistics; the
    model is fitted on the training rows and evaluated on the held-out rows. DIR receives
    metrics.json and PNG figures: precision-recall and ROC curves with the operating point,
    the confusion matrix at the threshold, and a reliability diagram.
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from bcekit.cli.artifacts import check_output_dir
    from bcekit.cli.console import note
    from bcekit.estimators.anomaly import AnomalyClassifier
    from bcekit.estimators.anomaly_report import anomaly_report

    objective, needs = OBJECTIVES[options["objective"]]
    if needs is not None and options[needs] is None:
        raise CLIError(f"--objective {options['objective']} needs --{needs.replace('_', '-')}")
    check_output_dir(output)
    X, y, positive = _load(data, options)
    model = AnomalyClassifier(
        base=options["base"],
        imbalance=options["imbalance"],
        threshold_objective=objective,
        target_recall=options["target_recall"],
        target_precision=options["target_precision"],
        cost_ratio=options["cost_ratio"],
        calibration=None if options["calibration"] == "none" else options["calibration"],
        random_state=options["seed"],
    )
    note(
        f"fitting on {round(len(y) * (1 - options['test_size']))} of {len(y)} rows "
        f"(anomaly = {positive!r})"
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        try:
            report = anomaly_report(
                X,
                y,
                output,
                estimator=make_pipeline(StandardScaler(), model),
                test_size=options["test_size"],
                random_state=options["seed"],
                overwrite=True,
            )
        except ValueError as exc:
            raise CLIError(str(exc)) from exc
    for message in dict.fromkeys(str(w.message) for w in caught):
        note(f"note: {message}")
    _print(report.metrics, positive)
    note(f"wrote {output}/")


def _load(data: Path | None, options: dict[str, Any]) -> tuple[Any, Any, Any]:
    """Features, 0/1 labels and the positive label from DATA, or Shuttle without it."""
    if data is None:
        table_only = [flag for flag in ("target", "drop", "one_hot", "impute") if options[flag]]
        if table_only:
            flags = ", ".join("--" + flag.replace("_", "-") for flag in table_only)
            raise CLIError(f"{flags} need DATA; without DATA the Shuttle data is used")
        from bcekit.data.shuttle import load_shuttle

        try:
            X, y = load_shuttle(return_X_y=True)
        except ImportError as exc:
            raise CLIError(f"{exc}; or pass a DATA file") from exc
        return X, y, "anomaly"
    if options["target"] is None:
        raise CLIError("--target COL is required with DATA")
    from bcekit.cli.tabular import split_names
    from bcekit.data.tables import TablePreprocessor, read_table

    source = str(data)
    table = read_table(data)
    pre = TablePreprocessor.fit(
        table,
        options["target"],
        drop=split_names(options["drop"]),
        one_hot=options["one_hot"],
        impute=options["impute"],
        standardize=False,  # the pipeline standardises with the training rows only
        source=source,
    )
    return (
        pre.transform(table, source=source),
        pre.encode_target(table, source=source),
        (pre.classes[1]),
    )


def _print(metrics: dict[str, Any], positive: Any) -> None:
    """The headline metrics as a table, or all of metrics.json under ``--json``."""
    from rich.table import Table

    from bcekit.cli.console import print_result

    table = Table(title=f"{metrics['n_samples']} held-out rows; anomaly = {positive!r}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for path, label in SUMMARY.items():
        value: Any = metrics
        for key in path:
            value = value[key]
        table.add_row(label, f"{value:.4g}")
    print_result(metrics, table)
