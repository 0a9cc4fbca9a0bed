"""``bcekit predict``: apply a saved model to a table and write its predictions."""

from __future__ import annotations

from pathlib import Path

import click

from bcekit.cli.errors import CLIError
from bcekit.cli.options import global_options, output_option

EPILOG = """\b
Examples:
  bcekit predict run1 new.csv --output predictions.csv
  bcekit predict run1 new.parquet -o predictions.parquet --threshold 0.3
  bcekit predict seg-run scans/ -o masks/     # a model from 'bcekit segment'
"""

PROBABILITY_COLUMN = "probability"
LABEL_COLUMN = "label"
_WRITERS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def _check_output_file(path: Path, inputs: list[Path]) -> str:
    """The writer for ``path`` (by its suffix), once it is known that the file can be
    written and is none of the ``inputs``."""
    from bcekit.cli.artifacts import check_not_input, check_writable

    kind = _WRITERS.get(path.suffix.lower())
    if kind is None:
        raise CLIError(f"--output {path}: unknown file type; end the name in .csv or .parquet")
    if path.is_dir():
        raise CLIError(f"--output {path}: is a folder; give a file name")
    check_writable(path)
    check_not_input(path, inputs)
    return kind


@click.command(short_help="Write a saved model's predictions for a table or images.", epilog=EPILOG)
@click.argument("model_dir", type=click.Path(path_type=Path))
@click.argument("data", type=click.Path(path_type=Path))
@output_option(
    "Where to write: .csv or .parquet; a folder for a segmentation model.", metavar="FILE|DIR"
)
@click.option("--drop", multiple=True, metavar="COLS", help="Columns to ignore (comma-separated).")
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1),
    help="Predict the positive class when its probability exceeds this "
    "(default: 0.5; a segmentation model's own threshold).",
)
@global_options
def predict(
    model_dir: Path, data: Path, output: Path, drop: tuple[str, ...], threshold: float | None
) -> None:
    """Predict every row of DATA with the model in MODEL_DIR.

    FILE gets DATA's columns plus 'probability' (of the positive class, the second of the
    model's two classes) and 'label' (the predicted class).

    For a segmentation model (from 'bcekit segment'), DATA is an image or a folder of
    images and DIR receives one mask per image, <name>.png (0 and 255), and
    predictions.json.
    """
    import numpy as np
    import pyarrow as pa

    from bcekit.cli.artifacts import MODEL_FILES, PREPROCESS_FILE, load_model_dir, saved_model_class
    from bcekit.cli.console import print_written

    if saved_model_class(model_dir) == "SegmentationNet":
        from bcekit.cli.masks import predict_masks

        if drop:
            raise CLIError("--drop applies to tables; a segmentation model reads images")
        summary = predict_masks(model_dir, data, output, threshold)
        print_written(summary, f"wrote {len(summary['images'])} masks to {output}/")
        return
    from bcekit.cli.tabular import drop_columns, split_names
    from bcekit.data.tables import DataError, read_table
    from bcekit.io import atomic_write

    threshold = 0.5 if threshold is None else threshold
    inputs = [data, *(model_dir / name for name in (*MODEL_FILES, PREPROCESS_FILE))]
    kind = _check_output_file(output, inputs)
    model, pre = load_model_dir(model_dir)
    source = str(data)
    table = drop_columns(read_table(data), split_names(drop), source)
    clash = [c for c in (PROBABILITY_COLUMN, LABEL_COLUMN) if c in table.column_names]
    if clash:
        raise DataError(
            source,
            f"already has columns {clash} that predictions would overwrite",
            [("drop", ",".join(clash))],
        )
    proba = model.predict_proba(pre.transform(table, source=source))[:, 1]
    labels = pre.decode_labels((proba > threshold).astype(np.int64))
    result = table.append_column(PROBABILITY_COLUMN, pa.array(proba)).append_column(
        LABEL_COLUMN, labels
    )
    with atomic_write(output, "wb") as handle:
        if kind == "csv":
            import pyarrow.csv as pcsv

            pcsv.write_csv(result, handle)
        else:
            import pyarrow.parquet as pq

            pq.write_table(result, handle)
    positives = int(np.count_nonzero(proba > threshold))
    summary = {
        "output": str(output),
        "rows": result.num_rows,
        "positive_class": pre.classes[1],
        "predicted_positive": positives,
    }
    print_written(
        summary,
        f"wrote {result.num_rows} predictions to {output} "
        f"({positives} predicted {pre.classes[1]!r})",
    )
