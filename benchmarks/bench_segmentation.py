"""``SegmentationNet()`` with its defaults on shape sets it was not tuned on, against torch.

For each set of :mod:`benchmarks.shape_sets` (none is :func:`bcekit.datasets.make_shapes`),
400 training and 200 held-out images of 48×48 are drawn (seed 2026 + round, never a seed the
defaults were picked on). Each row is the public call with default arguments,
``SegmentationNet().fit(images, masks)``, in a fresh Python process (imports and Numba's
start-up included), and beside it a torch U-Net of the same architecture trained the same
way (:mod:`benchmarks._torch_unet`: same split, shuffling, augmentation, loss, Adam, cosine
schedule, early stopping), in its own fresh process, on ``torch.set_num_threads(2)`` — the
two cores bcekit's kernels use here. The contenders alternate within each round (their
order flips from round to round), so load from other jobs hits both alike.

Columns: median over the rounds of the held-out IoU (mean over images, logit > 0), of the
wall-clock seconds of ``fit`` and of the process CPU seconds it used, the epochs run, and
bcekit's fit time divided by torch's in the same round (median of the per-round ratios).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from typing import Any

from benchmarks._common import child_environment, console, load_average, table

N_TRAIN, N_TEST, SIZE, THREADS = 400, 200, 48, 2
ROUNDS = 3

_CHILD = """
import json, os, sys, time
spec = json.loads(sys.stdin.read())
import numpy as np
from benchmarks.shape_sets import SETS
from bcekit.plots.masks import iou_scores
images, masks = SETS[spec["set"]](spec["n_train"] + spec["n_test"], spec["size"], spec["seed"])
train = slice(0, spec["n_train"]); test = slice(spec["n_train"], None)
if spec["who"] == "bcekit":
    from bcekit.estimators.segmentation import SegmentationNet
    t0, c0 = time.perf_counter(), time.process_time()
    model = SegmentationNet().fit(images[train], masks[train])
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    predicted, epochs = model.predict(images[test]), model.n_iter_
else:
    import torch
    torch.set_num_threads(spec["threads"])
    from bcekit.estimators.segmentation import SegmentationNet
    from benchmarks._torch_unet import fit_torch, predict_torch
    params = SegmentationNet().get_params()
    t0, c0 = time.perf_counter(), time.process_time()
    model, epochs = fit_torch(images[train], masks[train], params, seed=spec["seed"])
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    predicted = predict_torch(model, images[test])
iou = float(iou_scores(masks[test], predicted).mean())
print(json.dumps({"wall": wall, "cpu": cpu, "iou": iou, "epochs": epochs}))
"""


def _one(who: str, name: str, seed: int) -> dict[str, Any]:
    spec = {
        "who": who, "set": name, "seed": seed, "n_train": N_TRAIN, "n_test": N_TEST,
        "size": SIZE, "threads": THREADS,
    }  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", _CHILD],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        env=child_environment(),
        timeout=1200,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{who} on {name}: the process failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(names: list[str] | None = None, rounds: int = ROUNDS) -> dict[str, Any]:
    """``{set: {"bcekit": [run, ...], "torch": [...]}}``, runs as printed by the child."""
    from benchmarks.shape_sets import SETS

    names = list(SETS) if names is None else names
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        name: {"bcekit": [], "torch": []} for name in names
    }
    for r in range(rounds):
        for name in names:
            order = ("bcekit", "torch") if r % 2 == 0 else ("torch", "bcekit")
            for who in order:
                runs[name][who].append(_one(who, name, 2026 + r))
                done = runs[name][who][-1]
                console.print(
                    f"[dim]{name}, {who}, round {r + 1}: IoU {done['iou']:.3f} in "
                    f"{done['wall']:.1f} s (load {os.getloadavg()[0]:.1f})[/dim]"
                )
    return runs


def run() -> Any:
    before = load_average()
    runs = measure()
    rows = []
    for name, by in runs.items():
        ratios = [b["wall"] / t["wall"] for b, t in zip(by["bcekit"], by["torch"], strict=True)]
        for who in ("bcekit", "torch"):
            med = {k: statistics.median(r[k] for r in by[who]) for k in ("iou", "wall", "cpu")}
            rows.append(
                (
                    f"{name}: {who}",
                    med["iou"],
                    med["wall"],
                    med["cpu"],
                    statistics.median(r["epochs"] for r in by[who]),
                    statistics.median(ratios) if who == "bcekit" else None,
                )
            )
    return table(
        f"SegmentationNet() defaults vs torch U-Net, {N_TRAIN} images {SIZE}×{SIZE}, "
        f"{ROUNDS} rounds, torch threads {THREADS}",
        ["set: contender", "IoU", "fit s", "CPU s", "epochs", "÷ torch"],
        rows,
        caption=f"{before} before, {load_average()} after; medians over fresh processes",
    )
