"""The ``bcekit`` command line.

``main`` is the console-script entry point; the commands live in :mod:`bcekit.cli.app`
and the modules it lists.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> None:
    """Run ``bcekit`` with ``argv`` (default: the process arguments) and exit with its status.

    Unless the environment says otherwise, OpenMP threads (Numba's kernels) sleep rather than
    spin between parallel regions, so they do not steal the cores from BLAS and the rest of the
    process on small machines.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from bcekit.cli.app import run

    sys.exit(run(argv))


__all__ = ["main"]
