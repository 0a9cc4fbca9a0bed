"""Run the benchmark modules: ``python -m benchmarks [NAME ...]``.

Without names every ``benchmarks/bench_*.py`` runs in alphabetical order; ``NAME`` selects
``bench_NAME.py`` (``python -m benchmarks losses logistic``).

Unless the environment sets it, ``OMP_WAIT_POLICY`` is set to ``PASSIVE`` for the run, for all
OpenMP users alike (Numba, PyTorch, scikit-learn): on a small machine shared with other jobs,
busy-waiting OpenMP workers lose their turn to the other processes and single calls then stall
for tens to hundreds of milliseconds. ``OMP_WAIT_POLICY=ACTIVE python -m benchmarks`` measures
the default behaviour.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import time
from pathlib import Path

from benchmarks._common import console, machine_info

_PREFIX = "bench_"


def available() -> list[str]:
    """Names of the benchmark modules, without the ``bench_`` prefix."""
    here = [str(Path(__file__).parent)]
    return sorted(
        m.name[len(_PREFIX) :] for m in pkgutil.iter_modules(here) if m.name.startswith(_PREFIX)
    )


def main(argv: list[str] | None = None) -> int:
    names = available()
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"any of: {', '.join(names)}")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(names))
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(names)}")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before any OpenMP runtime loads
    console.print(machine_info())
    for name in args.names or names:
        module = importlib.import_module(f"benchmarks.{_PREFIX}{name}")
        t0 = time.perf_counter()
        console.print(module.run())  # a rich renderable or a string
        console.print(f"[dim]{name}: {time.perf_counter() - t0:.1f} s[/dim]\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
