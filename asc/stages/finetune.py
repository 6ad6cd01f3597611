"""Stage ``finetune``: pruned networks of one architecture fine-tuned on nested, stratified fractions, fused.

The paper fine-tunes for 30 epochs with the baseline's optimiser on 10–100 % of the training data, 5 times, and
plots the wall time (Fig. 6). Each run draws its subset from the training pool with its subset seed (the same for
every repeat under protocol=authors) and trains with its own seed; runs of one architecture train in one pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from asc.fractions import nested_fractions, save_lists
from asc.model import BaselineCNN
from asc.splits import Split
from asc.train import Recipe, Run, train_many


@dataclass(frozen=True)
class Job:
    work: Path
    start: BaselineCNN  # the pruned network
    fraction: float
    seed: int
    subset_seed: int
    label: str


def check_fractions(
    rows: pd.DataFrame, fractions: Sequence[float], strata: Sequence[str] = ("scene", "device")
):
    """Every stratum keeps its share: a fraction that would round a stratum down to no clip is an error (not the
    at-least-one-clip rounding that silently turns 1 % into 20 %)."""
    sizes = rows.groupby(list(strata)).size()
    smallest = int(sizes.min())
    for f in fractions:
        if f * smallest < 0.5:
            where = ", ".join(map(str, sizes.idxmin()))
            raise ValueError(
                f"fraction {f:g} leaves the smallest stratum ({where}: {smallest} clips) with "
                f"{f * smallest:.2f} clips; use fractions >= {0.5 / smallest:.3g} on this dataset"
            )


def build_many(
    jobs: Sequence[Job], *, pool: Split, select: Split, recipe: Recipe, options: dict[str, Any]
) -> list[tuple[BaselineCNN, dict[str, Any]]]:
    """Fine-tune every job in one train_many call; returns (selected model, history + subset size) each."""
    runs = []
    for job in jobs:
        subset = nested_fractions(pool.rows, [job.fraction], seed=job.subset_seed)[job.fraction]
        save_lists(pool.rows, {job.fraction: subset}, job.work)
        model = job.start
        runs.append(
            Run(
                model,
                torch.as_tensor(np.asarray(subset), dtype=torch.long),
                job.seed,
                job.work,
                recipe,
                job.label,
            )
        )
    histories = train_many(runs, (pool.x, pool.y), (select.x, select.y), **options)
    return [
        (run.model, {**h, "train_examples": len(run.train_idx)})
        for run, h in zip(runs, histories, strict=True)
    ]
