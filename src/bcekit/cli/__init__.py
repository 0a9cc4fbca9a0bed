"""The ``bcekit`` command line.

``main`` is the console-script entry point; the commands live in :mod:`bcekit.cli.app`
and the modules it lists.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    """Run ``bcekit`` with ``argv`` (default: the process arguments) and exit with its status."""
    from bcekit.cli.app import run

    sys.exit(run(argv))


__all__ = ["main"]
