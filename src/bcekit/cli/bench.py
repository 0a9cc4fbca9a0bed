"""``bcekit bench``: run the benchmark suite of a source checkout (``python -m benchmarks``)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bcekit.cli.errors import CLIError
from bcekit.cli.options import global_options

EPILOG = """\b
Examples:
  bcekit bench              # every benchmark
  bcekit bench losses       # arguments go to 'python -m benchmarks'
"""


def find_benchmarks() -> Path | None:
    """The folder holding the ``benchmarks`` package: the checkout bcekit runs from, or cwd."""
    import bcekit

    package = Path(bcekit.__file__).resolve().parent
    for root in (package.parent.parent, package.parent, Path.cwd()):
        if (root / "benchmarks" / "__main__.py").is_file():
            return root
    return None


@click.command(
    short_help="Run the benchmarks of a source checkout.",
    epilog=EPILOG,
    context_settings={"ignore_unknown_options": True},
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED, metavar="[NAME] [ARGS]...")
@global_options
def bench(args: tuple[str, ...]) -> None:
    """Run the benchmarks that ship with the source checkout (the benchmarks/ folder)."""
    import runpy

    root = find_benchmarks()
    if root is None:
        raise CLIError(
            "no benchmarks/ folder found: 'bcekit bench' runs the benchmarks of a source "
            "checkout; run it from the repository root (or 'make bench' there)"
        )
    sys.path.insert(0, str(root))
    saved_argv = sys.argv
    sys.argv = [str(root / "benchmarks"), *args]
    try:
        runpy.run_module("benchmarks", run_name="__main__", alter_sys=True)
    finally:
        sys.argv = saved_argv
        sys.path.remove(str(root))
