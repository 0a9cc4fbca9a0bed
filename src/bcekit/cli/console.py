"""Terminal output for commands: results on stdout (a table or JSON), notes on stderr.

``--quiet`` silences notes (and the training progress bar); results are still printed.
``--json`` turns results into one JSON document on stdout, so it can be piped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import click

from bcekit.cli.options import settings


def _console(stderr: bool) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def note(message: str) -> None:
    """An informational line on stderr, unless ``--quiet``."""
    if not settings().quiet:
        click.echo(message, err=True)


def emit_json(payload: Any) -> None:
    """Write ``payload`` as indented JSON to stdout."""
    click.echo(json.dumps(payload, indent=2))


def print_result(payload: Any, summary: Any) -> None:
    """A command's result: ``payload`` as JSON under ``--json``, else ``summary`` on stdout.

    Parameters
    ----------
    payload : JSON-ready object
        Everything the command found, as ``--json`` prints it.
    summary : str or rich renderable
        The human-readable form: a line of text or a table.
    """
    if settings().json:
        emit_json(payload)
    elif isinstance(summary, str):
        click.echo(summary)
    else:
        _console(stderr=False).print(summary)


def print_written(payload: Any, message: str) -> None:
    """What a command wrote: ``payload`` as JSON on stdout under ``--json``, else ``message``
    as a note on stderr (the written file is the result)."""
    if settings().json:
        emit_json(payload)
    else:
        note(message)


def mask_summary(metrics: Mapping[str, Any]) -> str:
    """One line of segmentation scores: ``"N images: mean IoU …, mean Dice …, worst IoU …"``."""
    return (
        f"{metrics['n_images']} images: mean IoU {metrics['mean_iou']:.4f}, "
        f"mean Dice {metrics['mean_dice']:.4f}, worst IoU {metrics['min_iou']:.4f}"
    )


def print_metrics(metrics: Mapping[str, Mapping[str, Any]], *, title: str) -> None:
    """A table with one row per model and one column per metric (JSON under ``--json``).

    Parameters
    ----------
    metrics : mapping of str to dict
        Model name to :func:`bcekit.plots.report.classification_metrics` output.
    title : str
        Table caption.
    """
    from rich.table import Table

    from bcekit.plots.report import SHORT_LABELS, format_metric

    table = Table(title=title, caption="AP: average precision; ECE: expected calibration error")
    table.add_column("model", no_wrap=True)
    for label in SHORT_LABELS.values():
        table.add_column(label, justify="right", no_wrap=True)
    table.add_column("n", justify="right")
    for name, values in metrics.items():
        table.add_row(
            name,
            *(format_metric(values.get(k)) for k in SHORT_LABELS),
            format_metric(values.get("n_samples")),
        )
    print_result({"models": {name: dict(values) for name, values in metrics.items()}}, table)
