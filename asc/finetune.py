"""Fine-tuning a pruned network on a stratified, nested fraction of the training split.

The paper fine-tunes for 30 epochs with the baseline's optimiser, on 10–100 % of the training data, 5 times, and
plots the wall time (Fig. 6). The authors picked the epoch by test accuracy; here ``select_on: val`` is the
default and ``select_on: test`` reproduces their choice explicitly.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from asc.fractions import nested_fractions, save_lists
from asc.model import load_model
from asc.train import fit

if TYPE_CHECKING:
    from asc.pipeline import Pipeline

log = logging.getLogger(__name__)


def finetune(
    pipe: Pipeline, pruned: Path, prune_row: dict[str, Any], fraction: float, repeat: int, work: Path
) -> dict:
    """Build one fine-tuning artifact in ``work``; returns its results row."""
    f = pipe.cfg["finetune"]
    seed = int(f["seed"]) + repeat
    x, y, rows = pipe.split("train")
    subset = nested_fractions(rows, [fraction], seed=seed)[fraction]
    save_lists(rows, {fraction: subset}, work)
    idx = torch.as_tensor(subset, dtype=torch.long)
    model, _ = load_model(pruned)
    start = time.perf_counter()
    history = fit(model, (x[idx], y[idx]), pipe.selection_split(f["select_on"]), f, work, seed=seed,
                  device=pipe.device, progress=pipe.progress)  # fmt: skip
    scores = pipe.conclude(model, work, history, wall_seconds=time.perf_counter() - start)
    keep = {k: prune_row[k] for k in ("criterion", "layers", "kept", "kept_indices", "macs_paper")}
    row = pipe.row("finetune", work, scores, model, **keep, fraction=fraction, repeat=repeat, seed=seed,
                   train_time_s=history["train_seconds"], epochs=history["epochs"], select_on=f["select_on"])  # fmt: skip
    log.info("fine-tuned %s %s on %d %% of train (repeat %d): accuracy %.4f in %.1f s", keep["criterion"],
             keep["layers"], round(100 * fraction), repeat, scores["accuracy"], history["train_seconds"])  # fmt: skip
    return row
