"""Training and prediction of any ``nn.Module`` one network at a time: the zoo's families that fused training
(asc/training/fused.py, same-shape sequential DCASE networks) does not cover. Same recipe and selection rule as
:func:`asc.training.train.train_many`: the recipe's Adam or AdamW with its learning-rate schedule (:func:`optimizer_of`) +
the task's loss (cross-entropy, or binary cross-entropy for tagging: asc.training.losses), scored by the task's metric
(accuracy, or mAP), shuffled mini-batches drawn with a generator seeded by the
run's seed, a run's ``teacher`` (knowledge distillation) applied with the fused trainer's loss
(:func:`asc.training.distill.kd_losses`), one evaluation on the selection split per epoch, and the best epoch after ``select_after`` kept
(with fewer epochs than that, the last). A killed run resumes after its last finished epoch (``last.pt`` in its
workdir: asc/training/plain_state.py).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

import torch
from torch import nn

from asc.core.checks import NonFiniteError
from asc.data.tasks import SCENES, Task
from asc.training import distill, plain_state
from asc.training.bn_stats import recalibrate
from asc.training.evaluate import predict  # the one prediction code: softmax or sigmoid, in eval mode
from asc.training.losses import per_model_loss
from asc.training.sampling import epoch_order
from asc.training.speed import SpeedOptions
from asc.training.train_select import keeps

log = logging.getLogger(__name__)


def optimizer_of(model: nn.Module, r: Any, *, steps: int) -> torch.optim.Optimizer:
    """The recipe's optimiser for ``model``: torch.optim.Adam, or AdamW with its decoupled ``weight_decay``
    (:data:`asc.training.recipes.OPTIMIZERS`), with ``scheduler`` attached: a per-step ``LambdaLR`` of
    :func:`asc.training.recipes.lr_factor` (warm-up, then constant or cosine to 0 at ``steps``), as the fused trainer and
    the DCASE 2024/2025 baselines step it."""
    from asc.training.recipes import lr_factor

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
    speed: SpeedOptions | None = None,
    *,
    task: Task = SCENES,
    bn_recalibration: int = 0,
    on_epoch_end: Any = None,
    **_fused: Any,
) -> dict[str, Any]:
    """Train ``run`` (an :class:`asc.training.train.Run`) and leave its selected weights in ``run.model`` on the CPU;
    returns the history dict :func:`asc.training.train.train_many` returns. Of ``speed`` (:class:`asc.training.speed.SpeedOptions`)
    only ``device`` and ``eval_batch_size`` apply; the fused path's other options are ignored (``precision`` is
    applied around the runs by :func:`train_each`). ``task``: the loss and the selection metric (y: class numbers (N,), or (N, classes) 0/1 tags).
    ``bn_recalibration`` > 0: before each epoch's selection evaluation, BatchNorm's running statistics are
    recomputed over that many of the epoch's first training batches (:mod:`asc.training.bn_stats`). ``run.teacher`` (its
    logits (N, classes) aligned with ``train``'s rows, alpha, temperature, kl_mean): each step's loss is
    alpha·hard + (1 − alpha)·T²·KL as in the fused trainer. Each epoch visits the run's examples in its recipe's
    ``sampling`` order (:func:`asc.training.sampling.epoch_order`; uniform: the permutation asc always drew);
    ``on_epoch_end(epoch)`` is called after each epoch (the job's lock check), once ``last.pt`` holds it. Raises NonFiniteError when the
    loss becomes non-finite, ValueError for a teacher on a multi-label task."""
    speed = speed or SpeedOptions()
    device, eval_batch_size = torch.device(speed.device), speed.eval_batch_size
    model, r = run.model.to(device), run.recipe
    opt = optimizer_of(model, r, steps=r.epochs * -(-len(run.train_idx) // r.batch_size))
    shuffle = torch.Generator().manual_seed(int(run.seed))
    torch.manual_seed(int(run.seed))  # dropout
    x, y = train
    teachers = distill.teacher_tensors([run], device)  # None: hard labels only
    if teachers is not None and task.multi_label:
        raise ValueError("knowledge distillation (softmax KL) is for single-label tasks only")
    done = plain_state.resume(run, model, opt, shuffle)  # kept epoch, history, seconds: after the last epoch
    for epoch in range(len(done["history"]) + 1, r.epochs + 1):
        start = time.perf_counter()
        order = epoch_order(r.sampling, y, run.train_idx, shuffle)
        loss = _epoch(model, opt, (x, y), order, r.batch_size, device, task, teachers)
        if not math.isfinite(loss):
            raise NonFiniteError(
                f"training loss became {loss} for run {run.label} in epoch {epoch}; lower the learning rate"
            )
        if bn_recalibration:
            recalibrate(
                model, x, order[: bn_recalibration * r.batch_size], batch_size=r.batch_size, device=device
            )
        acc = _score(model, select, eval_batch_size, device, task)
        seconds = time.perf_counter() - start
        done["total"] += seconds
        done["history"].append(_epoch_record(epoch, loss, acc, seconds, task))
        done["best"] = _kept(done["best"], model, r, epoch, acc)
        log.info(
            "%s epoch %3d/%d  loss %.4f  select %s %.4f  %.1f s",
            *(run.label, epoch, r.epochs, loss, task.metric, acc, seconds),
        )
        plain_state.save(run, model, opt, shuffle, done)
        if on_epoch_end is not None:
            on_epoch_end(epoch)
    return _finished(model, done["best"], done["history"], done["total"], r.epochs)


def _finished(
    model: nn.Module, best: dict[str, Any], history: list, total: float, epochs: int
) -> dict[str, Any]:
    """Leave the kept epoch's weights in ``model`` on the CPU; the history dict of :func:`train_one`."""
    model.cpu()
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    return {
        "best_epoch": best["epoch"],
        "best_select_acc": best["acc"],
        "history": history,
        "train_seconds": total,
        "epochs": epochs,
    }


def _epoch_record(epoch: int, loss: float, acc: float, seconds: float, task: Task) -> dict[str, Any]:
    """One epoch's entry of the history (the fused trainer's keys: one model per round here)."""
    return {
        "epoch": epoch,
        "loss": loss,
        task.select_key: acc,
        "seconds": seconds,
        "round_seconds": seconds,
        "fused": 1,
    }


def _kept(best: dict[str, Any], model: nn.Module, r: Any, epoch: int, acc: float) -> dict[str, Any]:
    """The epoch to keep after ``epoch``: this one (its weights copied to the CPU) when the recipe's selection
    keeps it (``select: last``: the last epoch; ``best``: :func:`asc.training.train_select.keeps`), else ``best``."""
    keep_last = r.select == "last" and epoch == r.epochs  # select: last: no selection
    if keep_last or (r.select == "best" and keeps(r, epoch, acc, best["acc"])):
        return {
            "epoch": epoch,
            "acc": acc,
            "state": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        }
    return best


def _epoch(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    train,
    order: torch.Tensor,
    batch_size: int,
    device,
    task: Task,
    teachers: dict[str, Any] | None = None,
) -> float:
    """One epoch over the positions ``order`` of ``train`` (x, y) in mini-batches, with the task's loss, or the
    distillation loss against ``teachers`` (:func:`asc.training.distill.teacher_tensors` of the one run); returns the mean
    loss."""
    x, y = train
    model.train()
    loss_sum = 0.0
    for i in range(0, len(order), batch_size):
        idx = order[i : i + batch_size]
        logits = model(x[idx].to(device))[:, None]  # (B, 1, classes): one model of the stacked loss
        losses = per_model_loss(logits, y[idx].to(device)[:, None], task.multi_label)
        if teachers is not None:
            soft = distill.gather(
                teachers, torch.zeros(1, dtype=torch.long, device=device), idx[:, None].to(device)
            )
            losses = distill.kd_losses(logits, losses, soft)
        loss = losses[0]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        opt.scheduler.step()
        loss_sum += float(loss.detach()) * len(idx)
    return loss_sum / max(len(order), 1)


def _score(model: nn.Module, select: tuple, batch_size: int, device: torch.device, task: Task) -> float:
    """The task's metric of ``model`` on the selection split: accuracy, or mAP of the sigmoid outputs."""
    probs = predict(model, select[0], batch_size=batch_size, device=device, multi_label=task.multi_label)
    if not len(probs):
        return math.nan
    if task.multi_label:
        from asc.training.tagging_metrics import mean_average_precision

        return float(mean_average_precision(probs, select[1].numpy()))
    return float((probs.argmax(1) == select[1].numpy()).mean())


def train_each(
    runs: Sequence[Any],
    train,
    select,
    speed: SpeedOptions | None = None,
    *,
    precision: str = "fp32",
    on_epoch_end: Any = None,
    **options: Any,
) -> list[dict[str, Any]]:
    """:func:`train_one` for every run, one after the other (the arguments of :func:`asc.training.train.train_many`):
    under the recipe's ``precision`` (:func:`asc.training.device.precision_mode`: fp32 switches TF32 off, bf16 autocasts),
    ``on_epoch_end(run_index, epoch)`` after each epoch."""
    from asc.training.device import precision_mode

    speed = speed or SpeedOptions()
    with precision_mode(precision, torch.device(speed.device), speed.cudnn_benchmark):
        return [
            train_one(
                run, train, select, speed, **options, on_epoch_end=on_epoch_end and partial(on_epoch_end, i)
            )
            for i, run in enumerate(runs)
        ]
