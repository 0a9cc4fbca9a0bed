"""The ``bcekit`` command group: global options, lazy sub-commands, and error handling.

Each sub-command lives in its own module and is registered by one line in :data:`COMMANDS`
(``name -> "module:attribute"``). Modules are imported only when their command runs or help
is shown, and they import numpy, scikit-learn or matplotlib only inside the command body, so
``bcekit --help`` starts fast.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import click

from bcekit import __version__
from bcekit.cli.errors import EXIT_OK, describe
from bcekit.cli.options import Settings, global_options

#: Sub-command name -> "module:attribute" of its click command.
COMMANDS: dict[str, str] = {
    "demo": "bcekit.cli.demo:demo",
    "train": "bcekit.cli.train:train",
    "evaluate": "bcekit.cli.evaluate:evaluate",
    "predict": "bcekit.cli.predict:predict",
    "bench": "bcekit.cli.bench:bench",
    "anomaly": "bcekit.cli.anomaly:anomaly",
    "segment": "bcekit.cli.segment:segment",
    "export": "bcekit.cli.export:export",
}

EPILOG = """\b
Examples:
  bcekit demo                                  # train two models on bundled data
  bcekit train data.csv --target y --output run1 --model mlp --epochs 50
  bcekit train data.parquet --target churn --output run2 --one-hot --impute median
  bcekit evaluate run1 test.csv --target y --json
  bcekit predict run1 new.csv --output predictions.parquet
  bcekit export run1 --output model.onnx       # ONNX, for onnxruntime (bcekit[onnx])
  bcekit bench

\b
Exit status: 0 success; 2 bad input (one line on stderr says what to do);
1 internal error (rerun with --debug); 130 interrupted.
"""


class LazyGroup(click.Group):
    """A group whose commands are imported from :data:`COMMANDS` on first use, and that
    turns every failure into one ``error: ...`` line and an exit status."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *super().list_commands(ctx)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module, attribute = target.split(":")
        return getattr(importlib.import_module(module), attribute)

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> int:
        """Run the command line; exit with its status, or return it if not ``standalone_mode``.

        Every failure becomes one ``error: ...`` line on stderr (plus the traceback under
        ``--debug``) and an exit status from :mod:`bcekit.cli.errors`.
        """
        args = list(sys.argv[1:] if args is None else args)
        settings = Settings(debug="--debug" in args)
        try:
            status: Any = super().main(
                args=args,
                prog_name=prog_name or "bcekit",
                complete_var=complete_var,
                standalone_mode=False,
                obj=settings,
                **extra,
            )
            code = status if isinstance(status, int) else EXIT_OK
        except SystemExit:
            raise
        except BaseException as exc:  # every failure must end as one line and a status
            if settings.debug:
                traceback.print_exc()
            message, code = describe(exc)
            click.echo(f"error: {message}", err=True)
        if standalone_mode:
            sys.exit(code)
        return code


@click.group(cls=LazyGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="bcekit")
@global_options
def cli() -> None:
    """Train, evaluate and apply binary classifiers with binary cross-entropy."""


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``) and return its exit status."""
    return cli.main(args=argv, standalone_mode=False)
