"""The process's BLAS thread pools, held back where two kinds of threads would compete.

A pip-installed NumPy and SciPy each bring their own OpenBLAS, each with its own pool of
threads that spin for a while after every call. Numba's ``np.dot`` calls SciPy's; NumPy's
products and ``np.vdot`` call NumPy's. A loop that alternates between the two keeps both pools
spinning on the same cores, and every call waits for the other pool's threads to give way: on
two cores an epoch of a (256, 256) float64 MLP with batches of 32 took 16.6 s instead of
0.57 s. :func:`numba_blas_alone` holds every BLAS but SciPy's to one thread for such a loop;
:func:`blas_single_threaded` holds all of them, for the one-pass logistic solvers and the
segmentation network's block threads.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext
from functools import cache
from typing import Any

__all__ = ["blas_single_threaded", "numba_blas_alone", "thread_pools"]


@cache
def thread_pools() -> Any:
    """The process's thread pools (``threadpoolctl.ThreadpoolController``), inspected once
    (about 10 ms each time otherwise), with SciPy's BLAS loaded first."""
    import scipy.linalg.cython_blas  # noqa: F401  (the BLAS Numba's np.dot calls)
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def blas_single_threaded() -> AbstractContextManager[Any]:
    """Every BLAS library on one thread within the ``with`` block."""
    return thread_pools().limit(limits=1, user_api="blas")


@cache
def _other_blas_files() -> tuple[str, ...]:
    """The BLAS libraries other than SciPy's own, when SciPy has one of its own (else none)."""
    import scipy

    scipy_dir = os.path.dirname(os.path.dirname(os.path.abspath(scipy.__file__)))
    blas = thread_pools().select(user_api="blas").info()
    scipy_own = [lib["filepath"] for lib in blas if _under(lib["filepath"], scipy_dir, "scipy")]
    if not scipy_own:
        return ()
    return tuple(lib["filepath"] for lib in blas if lib["filepath"] not in scipy_own)


def _under(path: str, site: str, package: str) -> bool:
    """Whether ``path`` lies in ``package``'s directory or its wheel's ``.libs`` beside it."""
    path = os.path.abspath(path)
    return any(
        path.startswith(os.path.join(site, folder) + os.sep)
        for folder in (package, f"{package}.libs")
    )


def numba_blas_alone() -> AbstractContextManager[Any]:
    """Within the ``with`` block, every BLAS library but SciPy's (which Numba's compiled
    products call) runs on one thread; nothing changes where NumPy and SciPy share one."""
    others = _other_blas_files()
    if not others:
        return nullcontext()
    return thread_pools().select(filepath=list(others)).limit(limits=1)
