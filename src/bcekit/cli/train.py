"""``bcekit train``: fit a binary classifier to a CSV/Parquet table and write a model folder."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import click

from bcekit.cli.errors import EXIT_INTERRUPTED, EXIT_OK, CLIError
from bcekit.cli.options import (
    column_options,
    global_options,
    held_out_option,
    model_option,
    output_option,
    seed_option,
)

EPILOG = """\b
Examples:
  bcekit train data.csv --target y --output run1
  bcekit train data.parquet --target churn --output run2 --model mlp --epochs 50 \\
      --one-hot --impute median --pos-weight balanced
  bcekit train data.csv --target y --output run1 --resume run1   # after Ctrl-C
  bcekit train 'data/*.parquet' --target y --output run3 --scheduler tcp://host:8786

Ctrl-C stops after the current batch and writes the best model so far plus a
checkpoint/ folder to DIR; --resume DIR continues from it and ends with the model an
uninterrupted run would have trained (the epoch cut short is run again).
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


def _hidden_sizes(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(v) for v in value.split(","))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise click.BadParameter(f"expected positive integers like 64,32; got {value!r}")
    return sizes


@click.command(short_help="Train a classifier on a CSV or Parquet table.", epilog=EPILOG)
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--target", required=True, metavar="COL", help="The binary label column.")
@output_option("Folder for the model and report; created when the run ends.")
@model_option("kind", "logistic", "Logistic regression or a multi-layer perceptron.")
@click.option("--features", multiple=True, metavar="COLS", help="Feature columns (default: all).")
@column_options
@click.option("--pos-weight", type=PosWeight(), help="Weight of the positive class in BCE.")
@click.option(
    "--label-smoothing",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.0,
    show_default=True,
    help="Targets become y(1-s)+s/2.",
)
@click.option(
    "--loss",
    type=click.Choice(["bce", "focal"]),
    default="bce",
    show_default=True,
    help="Binary cross-entropy or sigmoid focal loss.",
)
@click.option("--epochs", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option(
    "--learning-rate",
    type=click.FloatRange(0, min_open=True),
    help="Adam step size (default: 0.01 for logistic, 0.001 for mlp).",
)
@click.option(
    "--hidden",
    default="64",
    show_default=True,
    metavar="N[,N...]",
    callback=_hidden_sizes,
    help="MLP hidden layer sizes.",
)
@held_out_option(
    "--validation-fraction",
    0.2,
    "Held-out share of rows: validation loss per epoch and the report's metrics.",
)
@seed_option()
@click.option(
    "--resume",
    type=click.Path(path_type=Path),
    metavar="DIR",
    help="Continue the interrupted run whose checkpoint/ is in DIR.",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="Train on this Dask cluster (tcp://host:8786); a Parquet directory or glob uses a "
    "local cluster when it is not given.",
)
@global_options
def train(
    data: Path, output: Path, resume: Path | None, scheduler: str | None, **options: Any
) -> int:
    """Train a binary classifier on DATA (CSV or Parquet) and write it to DIR.

    DIR receives model.safetensors, model.json and preprocess.json (feature columns,
    one-hot categories, fill values, scaling, target classes), which 'bcekit evaluate'
    and 'bcekit predict' apply, plus metrics.json, loss/ROC/PR/calibration plots and
    report.html for the validation rows. Features are standardised with the training
    rows' mean and standard deviation.

    DATA may also be a directory or glob of Parquet files (quote the glob): Dask workers
    read the files and logistic regression trains there with L-BFGS (--epochs is its
    iteration limit), on a local cluster or the one at --scheduler. Features must be
    numeric; validation rows are drawn at random, not stratified.
    """
    from bcekit.cli import fitting
    from bcekit.cli.artifacts import check_output_dir, publish, save_model_dir
    from bcekit.cli.console import note, print_metrics
    from bcekit.cli.options import settings
    from bcekit.cli.tabular import split_names
    from bcekit.distributed.tables import is_file_collection

    options["features"] = split_names(options["features"]) or None
    options["drop"] = split_names(options["drop"])
    if options["loss"] == "focal" and options["pos_weight"] is not None:
        raise CLIError("--pos-weight applies to --loss bce; leave it out with --loss focal")
    check_output_dir(output)
    if scheduler is not None or is_file_collection(data):
        return _train_on_dask(data, output, resume, scheduler, options)
    checkpoint = None
    if resume is not None:
        checkpoint = fitting.Checkpoint.load(resume)
        ctx = click.get_current_context()
        explicit = {
            name
            for name in options
            if ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE
        }
        options = checkpoint.resume_options(options, explicit)

    pre, X, y, rows, val = _prepare(data, options, checkpoint)
    digest = fitting.fingerprint(X, y)
    if checkpoint is not None and digest != checkpoint.data_sha256:
        raise CLIError(f"--resume {resume}: {data} is not the data the interrupted run trained on")

    model = fitting.build_estimator(options, verbose=0 if settings().quiet else 1)
    state = None if checkpoint is None else checkpoint.state
    done = 0 if checkpoint is None else checkpoint.epochs_done
    note(
        f"training {options['kind']} on {len(rows)} rows, validating on {len(val)}"
        + (f", from epoch {done + 1}" if done else "")
        + " (Ctrl-C stops after the current batch)"
    )
    interrupted = fitting.fit(model, X[rows], y[rows], X[val], y[val], resume_from=state)

    with publish(output) as tmp:
        save_model_dir(tmp, model, pre)
        if interrupted:
            fitting.Checkpoint(
                options=fitting.jsonable(options),
                data_sha256=digest,
                preprocessor=pre,
                state=model.training_state(),
            ).save(tmp / fitting.CHECKPOINT_DIR)
        else:
            metrics = _write_report(tmp, data, options, model, pre, X, y, rows, val)
    if interrupted:
        again = ["bcekit", "train", str(data), "--target", options["target"]]
        again += ["--output", str(output), "--resume", str(output)]
        click.echo(
            f"interrupted after {len(model.history_)} epochs: wrote the best model so far and "
            f"{fitting.CHECKPOINT_DIR}/ to {output}; continue with: {shlex.join(again)}",
            err=True,
        )
        return EXIT_INTERRUPTED
    print_metrics(metrics, title=f"Validation rows ({len(val)}, positive = {pre.classes[1]})")
    note(f"wrote {output}/ (report: {output / 'report.html'})")
    return EXIT_OK


def _prepare(data: Path, options: dict[str, Any], checkpoint: Any) -> tuple[Any, ...]:
    """Read DATA and split its rows; learn the preprocessing from the training rows only.

    Returns
    -------
    (TablePreprocessor, X, y, training rows, validation rows)
        The checkpoint's preprocessing when resuming.
    """
    from bcekit.cli.fitting import split_rows
    from bcekit.data.tables import TablePreprocessor, read_table

    source = str(data)
    table = read_table(data)
    settings = {
        "features": options["features"],
        "drop": options["drop"],
        "one_hot": options["one_hot"],
        "impute": options["impute"],
        "source": source,
    }
    if checkpoint is not None:
        pre = checkpoint.preprocessor
    else:  # every row is checked here; only the training rows set the statistics below
        pre = TablePreprocessor.fit(table, options["target"], **settings)
    y = pre.encode_target(table, source=source)
    rows, val = split_rows(y, options["validation_fraction"], options["seed"], source)
    if checkpoint is None:
        pre = TablePreprocessor.fit(table.take(rows), options["target"], **settings)
    return pre, pre.transform(table, source=source), y, rows, val


def _write_report(
    directory: Path,
    data: Path,
    options: dict[str, Any],
    model: Any,
    pre: Any,
    X: Any,
    y: Any,
    rows: Any,
    val: Any,
) -> dict[str, Any]:
    """Score the validation rows and write metrics, figures and report.html."""
    proba = model.predict_proba(X[val])[:, 1]
    return _report(directory, data, options, model, pre, y[val], proba, len(rows))


def _report(
    directory: Path,
    data: Path,
    options: dict[str, Any],
    model: Any,
    pre: Any,
    y_val: Any,
    proba: Any,
    n_train: int,
) -> dict[str, Any]:
    """Write metrics, figures and report.html from the validation labels and probabilities."""
    from bcekit.plots.report import ModelEvaluation, write_report

    details = {
        "data": data.name,
        "target": options["target"],
        "positive class": pre.classes[1],
        "train rows": n_train,
        "validation rows": len(y_val),
        "features": len(pre.feature_names),
        "epochs": len(model.history_),
    }
    return write_report(
        directory,
        [ModelEvaluation(options["kind"], y_val, proba, estimator=model)],
        title=f"bcekit train: {data.name}",
        details=details,
        positive=str(pre.classes[1]),
    )


def _train_on_dask(
    data: Path, output: Path, resume: Path | None, scheduler: str | None, options: dict[str, Any]
) -> int:
    """Train on Parquet files read by Dask workers; the report as usual.

    The preprocessing, the split and the validation scores are computed on the workers
    (:mod:`bcekit.distributed.tables`); only the validation labels and probabilities come
    back to this process for the report. Logistic regression runs L-BFGS over the
    distributed objective; the MLP takes synchronous data-parallel minibatch steps for
    ``--epochs`` epochs (it stops earlier when the training loss stops improving), since
    validation-based early stopping needs the validation rows in this process.
    """
    from bcekit.cli import fitting
    from bcekit.cli.artifacts import publish, save_model_dir
    from bcekit.cli.console import note, print_metrics
    from bcekit.distributed.tables import list_parquet

    if resume is not None:
        raise CLIError("--resume continues single-file runs; a Dask run has no checkpoint")
    if options["kind"] == "logistic" and options["loss"] != "bce":
        raise CLIError(
            "a Parquet directory or --scheduler trains --model logistic with --loss bce; "
            "use --model mlp for focal loss, or a single file"
        )
    try:
        import dask

        from bcekit.distributed import connect, read_parquet_table
        from bcekit.distributed.cluster import SchedulerUnreachable
    except ImportError:
        raise CLIError(
            "a Parquet directory or --scheduler needs Dask: pip install 'bcekit[dask]'"
        ) from None
    files = list_parquet(data)
    try:
        with connect(scheduler) as client:
            prepared = read_parquet_table(
                files,
                options["target"],
                features=options["features"],
                drop=options["drop"],
                impute=options["impute"],
                validation_fraction=options["validation_fraction"],
                seed=options["seed"],
            )
            n_train, n_val = len(prepared.y_train), len(prepared.y_val)
            workers = len(client.scheduler_info()["workers"])
            note(
                f"training {options['kind']} on {n_train} rows from {len(files.paths)} files "
                f"with {workers} Dask workers, validating on {n_val}"
            )
            model = fitting.build_estimator(options, verbose=0)
            if options["kind"] == "logistic":
                model.set_params(solver="lbfgs")
            fitting.fit(model, prepared.X_train, prepared.y_train, None, None)
            proba, y_val = dask.compute(
                model.predict_proba(prepared.X_val)[:, 1], prepared.y_val.astype("int64")
            )
    except SchedulerUnreachable as exc:
        raise CLIError(f"--scheduler {scheduler}: {exc}") from None
    with publish(output) as tmp:
        save_model_dir(tmp, model, prepared.preprocessor)
        metrics = _report(tmp, data, options, model, prepared.preprocessor, y_val, proba, n_train)
    positive = prepared.preprocessor.classes[1]
    print_metrics(metrics, title=f"Validation rows ({n_val}, positive = {positive})")
    note(f"wrote {output}/ (report: {output / 'report.html'})")
    return EXIT_OK
