"""``bcekit evaluate``: score a saved model on a labelled table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from bcekit.cli.options import global_options

EPILOG = """\b
Examples:
  bcekit evaluate run1 test.csv --target y
  bcekit evaluate run1 test.parquet --target y --json > metrics.json
  bcekit evaluate seg-run labelled/       # images/ and masks/ inside
"""


def rename_target(table: Any, given: str | None, stored: str | None, source: str) -> Any:
    """Let ``--target`` name the label column when it differs from the training name."""
    from bcekit.data.tables import DataError

    if given is None or given == stored or stored is None:
        return table
    if given not in table.column_names:
        raise DataError(source, f"no target column {given!r}")
    if stored in table.column_names:
        raise DataError(
            source,
            f"both {given!r} (--target) and {stored!r} (the model's target) are present; "
            f"drop one with --drop",
        )
    return table.rename_columns([stored if c == given else c for c in table.column_names])


@click.command(short_help="Score a saved model on a labelled table or images.", epilog=EPILOG)
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.argument("data", type=click.Path(path_type=Path))
@click.option(
    "--target", metavar="COL", help="Label column (default: the one the model was trained on)."
)
@click.option("--drop", multiple=True, metavar="COLS", help="Columns to ignore (comma-separated).")
@global_options
def evaluate(model_dir: Path, data: Path, target: str | None, drop: tuple[str, ...]) -> None:
    """Score the model in MODEL_DIR on the labelled table DATA (CSV or Parquet).

    Prints log loss, accuracy, ROC-AUC, average precision, expected calibration error and
    Brier score. For a segmentation model (from 'bcekit segment'), DATA is a folder with
    images/ and masks/, and the scores are mean IoU, mean Dice and the worst IoU.
    """
    from bcekit.cli.artifacts import load_model_dir, saved_model_class
    from bcekit.cli.console import print_metrics

    if saved_model_class(model_dir) == "SegmentationNet":
        _evaluate_masks(model_dir, data, target, drop)
        return
    from bcekit.cli.tabular import drop_columns, split_names
    from bcekit.data.tables import read_table
    from bcekit.plots.report import classification_metrics

    model, pre = load_model_dir(model_dir)
    source = str(data)
    table = drop_columns(read_table(data), split_names(drop), source)
    table = rename_target(table, target, pre.target, source)
    y = pre.encode_target(table, source=source)
    X = pre.transform(table, source=source)
    proba = model.predict_proba(X)[:, 1]
    name = model_dir.resolve().name or str(model_dir)
    print_metrics({name: classification_metrics(y, proba)}, title=f"{name} on {data.name}")


def _evaluate_masks(model_dir: Path, data: Path, target: str | None, drop: tuple) -> None:
    from bcekit.cli.console import mask_summary, print_result
    from bcekit.cli.errors import CLIError
    from bcekit.cli.masks import evaluate_masks

    if target is not None or drop:
        raise CLIError("--target and --drop apply to tables; a segmentation model reads masks/")
    metrics = evaluate_masks(model_dir, data)
    print_result(metrics, mask_summary(metrics))
