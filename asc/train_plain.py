"""Training and prediction of any ``nn.Module`` one network at a time: the zoo's families that fused training
(asc/fused.py, same-shape sequential DCASE networks) does not cover. Same recipe and selection rule as
:func:`asc.train.train_many`: the recipe's Adam or AdamW with its learning-rate schedule (:func:`optimizer_of`) +
cross-entropy, shuffled mini-batches drawn with a generator seeded by the
run's seed, one evaluation on the selection split per epoch, and the best epoch after ``select_after`` kept
(with fewer epochs than that, the last). No resume: an interrupted run starts again.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from asc.bn_stats import recalibrate
from asc.checks import NonFiniteError
from asc.evaluate import predict  # the one prediction code: softmax or sigmoid, in eval mode

log = logging.getLogger(__name__)


def optimizer_of(model: nn.Module, r: Any, *, steps: int) -> torch.optim.Optimizer:
    """The recipe's optimiser for ``model``: torch.optim.Adam, or AdamW with its decoupled ``weight_decay``
    (:data:`asc.recipes.OPTIMIZERS`), with ``scheduler`` attached: a per-step ``LambdaLR`` of
    :func:`asc.recipes.lr_factor` (warm-up, then constant or cosine to 0 at ``steps``), as the fused trainer and
    the DCASE 2024/2025 baselines step it."""
    from asc.recipes import lr_factor

    if r.optimizer == "adamw":
        opt = torch.optim.AdamW(model.parameters(), lr=r.lr, eps=r.adam_eps, weight_decay=r.weight_decay)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=r.lr, eps=r.adam_eps)

    def factor(step: int) -> float:
        return lr_factor(step, warmup_steps=r.warmup_steps, total_steps=steps, schedule=r.schedule)

    opt.scheduler = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    return opt


def train_one(
    run: Any,
    train: tuple[torch.Tensor, torch.Tensor],
    select: tuple[torch.Tensor, torch.Tensor],
    *,
    device: torch.device | str = "cpu",
    eval_batch_size: int = 64,
    bn_recalibration: int = 0,
    **_speed: Any,
) -> dict[str, Any]:
    """Train ``run`` (an :class:`asc.train.Run`) and leave its selected weights in ``run.model`` on the CPU;
    returns the history dict :func:`asc.train.train_many` returns. Speed options of the fused path are ignored.
    ``bn_recalibration`` > 0: before each epoch's selection evaluation, BatchNorm's running statistics are
    recomputed over that many of the epoch's first training batches (:mod:`asc.bn_stats`).
    Raises NonFiniteError when the loss becomes non-finite."""
    device = torch.device(device)
    model, r = run.model.to(device), run.recipe
    opt = optimizer_of(model, r, steps=r.epochs * -(-len(run.train_idx) // r.batch_size))
    shuffle = torch.Generator().manual_seed(int(run.seed))
    torch.manual_seed(int(run.seed))  # dropout
    x, y = train
    best = {"epoch": 0, "acc": -1.0, "state": None}
    history, total = [], 0.0
    for epoch in range(1, r.epochs + 1):
        start, loss_sum = time.perf_counter(), 0.0
        model.train()
        order = run.train_idx[torch.randperm(len(run.train_idx), generator=shuffle)]
        for i in range(0, len(order), r.batch_size):
            idx = order[i : i + r.batch_size]
            loss = nn.functional.cross_entropy(model(x[idx].to(device)), y[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            opt.scheduler.step()
            loss_sum += float(loss.detach()) * len(idx)
        loss = loss_sum / max(len(order), 1)
        if not math.isfinite(loss):
            raise NonFiniteError(
                f"training loss became {loss} for run {run.label} in epoch {epoch}; lower the learning rate"
            )
        if bn_recalibration:
            recalibrate(
                model, x, order[: bn_recalibration * r.batch_size], batch_size=r.batch_size, device=device
            )
        probs = predict(model, select[0], batch_size=eval_batch_size, device=device)
        acc = float((probs.argmax(1) == select[1].numpy()).mean()) if len(probs) else math.nan
        seconds = time.perf_counter() - start
        total += seconds
        history.append(
            {
                "epoch": epoch,
                "loss": loss,
                "select_acc": acc,
                "seconds": seconds,
                "round_seconds": seconds,
                "fused": 1,
            }
        )
        keep_last = r.select == "last" and epoch == r.epochs  # select: last: no selection
        eligible = epoch > r.select_after or (r.epochs <= r.select_after and epoch == r.epochs)
        if keep_last or (r.select == "best" and eligible and acc > best["acc"]):
            best = {
                "epoch": epoch,
                "acc": acc,
                "state": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
            }
        log.info(
            "%s epoch %3d/%d  loss %.4f  select acc %.4f  %.1f s",
            run.label,
            epoch,
            r.epochs,
            loss,
            acc,
            seconds,
        )
    model.cpu()
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    return {
        "best_epoch": best["epoch"],
        "best_select_acc": best["acc"],
        "history": history,
        "train_seconds": total,
        "epochs": r.epochs,
    }


def train_each(runs: Sequence[Any], train, select, **options: Any) -> list[dict[str, Any]]:
    """:func:`train_one` for every run, one after the other."""
    return [train_one(run, train, select, **options) for run in runs]
