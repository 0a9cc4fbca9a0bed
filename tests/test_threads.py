"""BLAS thread pools: NumPy's is held to one thread while a training loop alternates it with
the compiled Dense chain's products (SciPy's BLAS through Numba), and given back after."""

from __future__ import annotations

import numba  # noqa: F401 - loaded, as the BCE kernels load it: the chain's loops then run
import numpy as np
import pytest

from bcekit import _threads
from bcekit.nn import _chain, mlp
from bcekit.training import Callback
from training_support import bce_trainer


def _blas_threads() -> dict[str, int]:
    """``{library file: threads}`` of every BLAS library loaded now."""
    info = _threads.thread_pools().select(user_api="blas").info()
    return {lib["filepath"]: lib["num_threads"] for lib in info}


def _numpy_blas() -> list[str]:
    others = _threads._other_blas_files()
    if not others:
        pytest.skip("NumPy and SciPy share one BLAS library here: nothing to hold back")
    return list(others)


def _two_threads():
    """Two threads for every BLAS library (as on a 2-core machine), restored afterwards."""
    return _threads.thread_pools().limit(limits=2, user_api="blas")


def test_numba_blas_alone_holds_the_other_libraries_to_one_thread_and_restores_them():
    numpy_blas = _numpy_blas()
    with _two_threads():
        before = _blas_threads()
        with _threads.numba_blas_alone():
            inside = _blas_threads()
        assert _blas_threads() == before
    scipy_blas = set(inside) - set(numpy_blas)
    assert scipy_blas, "SciPy's own BLAS was not found"
    assert all(inside[f] == 1 for f in numpy_blas)
    assert all(inside[f] == before[f] == 2 for f in scipy_blas)


class _Threads(Callback):
    """Records NumPy's BLAS threads after each batch."""

    def __init__(self, files: list[str]) -> None:
        self.files, self.seen = files, []

    def on_batch_end(self, trainer, batch, logs):
        threads = _blas_threads()
        self.seen.append(max(threads[f] for f in self.files))


def _fit(compiled: bool, monkeypatch) -> tuple[list[int], dict[str, int]]:
    if not compiled:
        monkeypatch.setattr(_chain, "_compiled_loops", lambda: None)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((96, 4))
    y = (X[:, 0] > 0).astype(np.float64).reshape(-1, 1)
    model = mlp(4, [8], 1, dtype=np.float64, random_state=0)
    assert _chain.runs_compiled_chain(model) is compiled
    recorder = _Threads(_numpy_blas())
    with _two_threads():
        trainer = bce_trainer(model, batch_size=32, max_epochs=2, callbacks=[recorder])
        trainer.fit(X, y, validation_data=(X, y))
        after = _blas_threads()
    return recorder.seen, after


def test_the_loop_holds_numpy_blas_while_the_chain_runs_compiled_loops(monkeypatch):
    seen, after = _fit(True, monkeypatch)
    assert seen == [1] * 6  # every batch of both epochs
    assert all(after[f] == 2 for f in _numpy_blas())  # given back at the end of each epoch


def test_the_loop_leaves_numpy_blas_alone_on_the_numpy_steps(monkeypatch):
    seen, _ = _fit(False, monkeypatch)
    assert seen == [2] * 6
