"""Stage ``train``: the baseline(s) — one per seed, trained in one (fused) pass — or a given model file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from asc.model import BaselineCNN, build_model
from asc.model_file import read_model_file
from asc.splits import Split
from asc.train import Recipe, Run, train_many


def build_many(
    works: Sequence[Path],
    *,
    seeds: Sequence[int],
    spec: dict[str, Any],
    recipe: Recipe,
    train: Split,
    select: Split,
    options: dict[str, Any],
) -> list[tuple[BaselineCNN, dict[str, Any]]]:
    """Train one baseline per (work folder, seed) on all of ``train``; returns (selected model, history) each.
    ``options`` are train_many's speed settings (device, fuse, eval_batch_size, channels_last, compile, progress)."""
    runs = []
    for work, seed in zip(works, seeds, strict=True):
        torch.manual_seed(seed)  # the initial weights too: a rerun in a new process is identical
        runs.append(
            Run(build_model(spec), torch.arange(len(train.y)), seed, work, recipe, f"baseline seed {seed}")
        )
    histories = train_many(runs, (train.x, train.y), (select.x, select.y), **options)
    return [(run.model, history) for run, history in zip(runs, histories, strict=True)]


def from_file(path: Path) -> tuple[BaselineCNN, dict[str, Any]]:
    """A Keras .h5 or asc checkpoint as the baseline: nothing is trained."""
    model, _ = read_model_file(path)
    return model, {"best_epoch": 0, "train_seconds": 0.0, "epochs": 0, "init_from": str(path)}
