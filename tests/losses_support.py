"""What the loss tests share: the reductions every loss offers and the binary targets."""

from __future__ import annotations

import numpy as np

REDUCTIONS = ["mean", "weighted_mean", "sum", "none"]


def soft_and_hard_targets(rng: np.random.Generator, shape: tuple[int, ...]) -> dict:
    """Targets of ``shape``: ``"soft"`` uniform on [0, 1], ``"hard"`` fair coin flips in {0, 1}."""
    return {
        "soft": rng.uniform(0.0, 1.0, shape),
        "hard": (rng.uniform(size=shape) < 0.5).astype(np.float64),
    }
