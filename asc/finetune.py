"""Fine-tuning a pruned network on a stratified, nested fraction of the training split.

The paper fine-tunes for 30 epochs with the baseline's optimiser, on 10–100 % of the training data, 5 times, and
plots the wall time (Fig. 6). The authors picked the epoch by test accuracy; here ``select_on: val`` is the
default and ``select_on: test`` reproduces their choice explicitly.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import torch

from asc.atomic import atomic_write_json
from asc.fractions import nested_fractions, save_lists
from asc.model import load_model, save_model
from asc.train import fit

log = logging.getLogger(__name__)


def finetune(
    pipe: Any, pruned: Path, prune_row: dict[str, Any], fraction: float, repeat: int, work: Path
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
    wall = time.perf_counter() - start
    scores = pipe.evaluate(model)
    save_model(model.cpu(), work / "model.pt", config=pipe.cfg)
    atomic_write_json(work / "metrics.json", {**scores, **history, "wall_seconds": wall})
    (work / "last.pt").unlink()
    keep = {k: prune_row[k] for k in ("criterion", "layers", "kept", "kept_indices", "macs_paper")}
    row = pipe.row("finetune", work, scores, model, **keep, fraction=fraction, repeat=repeat, seed=seed,
                   train_time_s=history["train_seconds"], epochs=history["epochs"], select_on=f["select_on"])  # fmt: skip
    log.info("fine-tuned %s %s on %d %% of train (repeat %d): accuracy %.4f in %.1f s", keep["criterion"],
             keep["layers"], round(100 * fraction), repeat, scores["accuracy"], history["train_seconds"])  # fmt: skip
    return row
