"""``bcekit export``: write a saved model (with its preprocessing) as an ONNX file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from bcekit.cli.errors import CLIError
from bcekit.cli.options import global_options, output_option

EPILOG = """\b
Examples:
  bcekit export run1 --output model.onnx          # a 'bcekit train' folder
  bcekit export shapes-run --output unet.onnx     # a 'bcekit segment' folder
  bcekit export run1 -o model.onnx --opset 17

\b
Serve it with ONNX Runtime (pip install onnxruntime):
  import onnxruntime as ort
  session = ort.InferenceSession("model.onnx")
  label, probabilities = session.run(None, {"X": numeric_columns})
"""


@click.command(short_help="Export a saved model to an ONNX file.", epilog=EPILOG)
@click.argument("run_dir", type=click.Path(path_type=Path))
@output_option("The ONNX file to write (replaced only once it is complete).", metavar="FILE")
@click.option(
    "--opset",
    type=click.IntRange(min=13),
    help="ONNX opset (default 20; one-hot columns need 19 or later).",
)
@global_options
def export(run_dir: Path, output: Path, opset: int | None) -> None:
    """Export the model in RUN_DIR (from 'bcekit train' or 'bcekit segment') to ONNX.

    A 'bcekit train' folder exports with its preprocessing (preprocess.json): the graph
    imputes, one-hot encodes and standardises as 'bcekit predict' does. Its inputs are X,
    float64 (N, n), the numeric feature columns in the order printed, plus one string
    tensor (N, 1) per one-hot column, named after it; its outputs are 'label' (the target's
    values) and 'probabilities' (N, 2). A 'bcekit segment' folder takes 'images', float32
    NHWC (N, H, W, C), and gives 'probabilities' and 'label' (uint8) per pixel, (N, H, W).
    Needs the onnx extra: pip install 'bcekit[onnx]'.
    """
    from bcekit.cli.console import print_written

    try:
        from bcekit.onnx import to_onnx
    except ImportError as exc:
        raise CLIError(str(exc)) from None
    _check_output(output, run_dir)
    model, pre = _load(run_dir)
    try:
        proto = to_onnx(model, opset=opset, preprocessor=pre)
    except ValueError as exc:
        raise CLIError(f"{run_dir}: cannot export: {exc}") from None
    from bcekit.io import atomic_write

    with atomic_write(output, "wb") as handle:
        handle.write(proto.SerializeToString())
    summary = _summary(proto, output, pre)
    lines = [
        f"{kind[:-1]} {item['name']}: {item['type']} ({', '.join(map(str, item['shape']))})"
        for kind in ("inputs", "outputs")
        for item in summary[kind]
    ]
    if summary.get("X_columns"):
        lines.append(f"X columns, in order: {', '.join(summary['X_columns'])}")
    lines.append(f"wrote {output} (opset {summary['opset']})")
    print_written(summary, "\n".join(lines))


def _check_output(path: Path, run_dir: Path) -> None:
    """Refuse a folder, a destination that takes no new file, or one of the model's files."""
    from bcekit.cli.artifacts import MODEL_FILES, PREPROCESS_FILE, check_not_input, check_writable

    if path.is_dir():
        raise CLIError(f"--output {path}: is a folder; give a file name such as model.onnx")
    check_writable(path)
    check_not_input(path, [run_dir / name for name in (*MODEL_FILES, PREPROCESS_FILE)])


def _load(run_dir: Path) -> tuple[Any, Any]:
    """The estimator in ``run_dir`` and its preprocessing (None without preprocess.json)."""
    from bcekit.cli.artifacts import MODEL_FILES, PREPROCESS_FILE, load_estimator, load_model_dir

    if not run_dir.exists():
        raise CLIError(f"{run_dir}: no such model folder")
    if not run_dir.is_dir():
        raise CLIError(f"{run_dir}: not a model folder (expected a folder with {MODEL_FILES[1]})")
    absent = [name for name in MODEL_FILES if not (run_dir / name).is_file()]
    if absent:
        raise CLIError(
            f"{run_dir}: not a model folder; missing {', '.join(absent)} (written by "
            "'bcekit train' or 'bcekit segment')"
        )
    if (run_dir / PREPROCESS_FILE).is_file():
        return load_model_dir(run_dir)
    return load_estimator(run_dir), None


def _summary(proto: Any, output: Path, pre: Any) -> dict[str, Any]:
    """Inputs, outputs (name, element type, shape), opset and the order of X's columns."""
    from onnx import TensorProto

    def describe(value: Any) -> dict[str, Any]:
        tensor = value.type.tensor_type
        dims = [d.dim_param or d.dim_value for d in tensor.shape.dim]
        kind = TensorProto.DataType.Name(tensor.elem_type).lower()
        return {"name": value.name, "type": kind, "shape": dims}

    summary: dict[str, Any] = {
        "output": str(output),
        "opset": int(proto.opset_import[0].version),
        "inputs": [describe(v) for v in proto.graph.input],
        "outputs": [describe(v) for v in proto.graph.output],
    }
    if pre is not None:
        summary["X_columns"] = [c for c in pre.columns if c not in pre.categories]
    return summary
