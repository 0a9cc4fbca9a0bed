"""``bcekit train``: fit a binary classifier to a CSV/Parquet table and write a model folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from bcekit.cli.errors import CLIError
from bcekit.cli.options import global_options

EPILOG = """\b
Examples:
  bcekit train data.csv --target y --output run1
  bcekit train data.parquet --target churn --output run2 --model mlp --epochs 50 \\
      --one-hot --impute median --pos-weight balanced
  bcekit train data.csv --target y --output run1 --resume run1   # after Ctrl-C

Ctrl-C stops after the current batch and writes the best model so far plus a
checkpoint/ folder to DIR; --resume DIR continues from it.
"""


class PosWeight(click.ParamType):
    """``balanced`` or a positive number."""

    name = "balanced|N"

    def convert(self, value: Any, param: Any, ctx: Any) -> str | float:
        if isinstance(value, float) or value == "balanced":
            return value
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not number > 0 or number == float("inf"):
            self.fail(f"expected 'balanced' or a positive number; got {value!r}", param, ctx)
        return number


def _hidden_sizes(value: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(v) for v in value.split(","))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise click.BadParameter(f"expected positive integers like 64,32; got {value!r}")
    return sizes


@click.command(epilog=EPILOG)
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--target", required=True, metavar="COL", help="The binary label column.")
@click.option(
    "-o", "--output", required=True, type=click.Path(path_type=Path), metavar="DIR",
    help="Folder for the model and report; created when the run ends.",
)
@click.option(
    "--model", "kind", type=click.Choice(["logistic", "mlp"]), default="logistic",
    show_default=True, help="Logistic regression or a multi-layer perceptron.",
)
@click.option("--features", multiple=True, metavar="COLS", help="Feature columns (default: all).")
@click.option("--drop", multiple=True, metavar="COLS", help="Columns to leave out.")
@click.option("--one-hot", is_flag=True, help="One-hot encode text columns.")
@click.option(
    "--impute", type=click.Choice(["mean", "median"]), help="Fill missing numbers this way."
)
@click.option("--pos-weight", type=PosWeight(), help="Weight of the positive class in BCE.")
@click.option(
    "--label-smoothing", type=click.FloatRange(0, 1, max_open=True), default=0.0,
    show_default=True, help="Targets become y(1-s)+s/2.",
)
@click.option(
    "--loss", type=click.Choice(["bce", "focal"]), default="bce", show_default=True,
    help="Binary cross-entropy or sigmoid focal loss.",
)
@click.option("--epochs", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option(
    "--learning-rate", type=click.FloatRange(0, min_open=True), default=1e-3,
    show_default=True, help="Adam step size.",
)
@click.option(
    "--hidden", default="64", show_default=True, metavar="N[,N...]",
    help="MLP hidden layer sizes.",
)
@click.option(
    "--validation-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.2, show_default=True,
    help="Held-out share of rows: validation loss per epoch and the report's metrics.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of split and model.")
@click.option(
    "--resume", type=click.Path(path_type=Path), metavar="DIR",
    help="Continue the interrupted run whose checkpoint/ is in DIR.",
)
@global_options
def train(data: Path, output: Path, resume: Path | None, **options: Any) -> int:
    """Train a binary classifier on DATA (CSV or Parquet) and write it to DIR.

    DIR receives model.safetensors, model.json and preprocess.json (feature columns,
    one-hot categories, fill values, scaling, target classes), which 'bcekit evaluate'
    and 'bcekit predict' apply, plus metrics.json, loss/ROC/PR/calibration plots and
    report.html for the validation rows.
    """
    from bcekit.cli import fitting

    options["hidden"] = _hidden_sizes(options["hidden"])
    run = fitting.Run.start(data, output, options, resume=resume, ctx=click.get_current_context())
    return run.execute()


def require(condition: bool, message: str) -> None:
    """Raise :class:`CLIError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise CLIError(message)
