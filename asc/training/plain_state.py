"""The one-by-one trainer's (asc/training/train_plain.py) resumable state after each completed epoch, as the fused
trainer keeps its own (asc/training/train_state.py): ``workdir/last.pt`` holds the weights, the optimiser with its
learning-rate schedule, the shuffling generator, torch's random state (dropout), the history, the training time
and the kept epoch so far, written atomically, so that a killed fine-tuning of a zoo network (a finetune step, an
iterative-pruning step's short fine-tuning: asc/pipeline/stages/prune_schedule.py) resumes after its last finished
epoch and ends with the weights an uninterrupted run has, bit for bit on the CPU. The file names its trainer and
the run (:func:`asc.training.train_state.identity`: seed, recipe, clips); one of another run is refused. The
published artifact leaves it out (asc/pipeline/publish.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from asc.core.atomic import atomic_path
from asc.core.checks import require_finite
from asc.training.train_state import identity, log, written_for

TRAINER = "one_by_one"  # a last.pt of the fused trainer (same workdir layout) is not this trainer's state


def fresh() -> dict[str, Any]:
    """The progress of a run that has trained no epoch: kept epoch, history, training seconds."""
    return {"best": {"epoch": 0, "acc": -1.0, "state": None}, "history": [], "total": 0.0}


def resume(
    run: Any, model: nn.Module, opt: torch.optim.Optimizer, shuffle: torch.Generator
) -> dict[str, Any]:
    """Load ``run.workdir/last.pt`` into ``model``, ``opt`` (and ``opt.scheduler``), ``shuffle`` and torch's
    random state, and return the progress it saved; :func:`fresh` when there is none. Raises ValueError when the
    file belongs to another run or trainer. A run without a workdir (None) neither resumes nor saves."""
    last = Path(run.workdir) / "last.pt" if run.workdir is not None else None
    if last is None or not last.is_file():
        return fresh()
    ckpt = torch.load(last, map_location="cpu", weights_only=True)
    if ckpt.get("trainer") != TRAINER or not written_for(ckpt, run):
        raise ValueError(
            f"{last} was written by another run or trainer (seed, recipe or data subset differ) than "
            f"{run.label or run.workdir}; delete it or give this run its own workdir"
        )
    model.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["optimizer"])
    opt.scheduler.load_state_dict(ckpt["scheduler"])
    shuffle.set_state(ckpt["rng_shuffle"])
    torch.set_rng_state(ckpt["rng_torch"])
    if ckpt["rng_cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state(ckpt["rng_cuda"])
    progress = ckpt["progress"]
    log.info(
        "%s: resuming from %s after epoch %d/%d",
        run.label,
        last,
        len(progress["history"]),
        run.recipe.epochs,
    )
    return progress


def save(
    run: Any,
    model: nn.Module,
    opt: torch.optim.Optimizer,
    shuffle: torch.Generator,
    progress: dict[str, Any],
) -> None:
    """Write ``run.workdir/last.pt`` atomically after an epoch (``progress``: :func:`fresh`'s keys, updated);
    raises asc.core.checks.NonFiniteError for non-finite parameters. Nothing is written without a workdir."""
    if run.workdir is None:
        return
    weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    # the parameters, not observers' buffers (QAT: infinite until they see data)
    trained = {k: v.detach() for k, v in model.named_parameters()}
    require_finite(f"weights of run {run.label} after epoch {len(progress['history'])}", trained)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    blob = {
        "trainer": TRAINER,
        "identity": identity(run),
        "model": weights,
        "optimizer": opt.state_dict(),
        "scheduler": opt.scheduler.state_dict(),
        "rng_shuffle": shuffle.get_state(),
        "rng_torch": torch.get_rng_state(),
        "rng_cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        "progress": progress,
    }
    Path(run.workdir).mkdir(parents=True, exist_ok=True)
    with atomic_path(Path(run.workdir) / "last.pt") as tmp:
        torch.save(blob, tmp)
