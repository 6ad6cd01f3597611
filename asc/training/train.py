"""Training: every training run (baseline seeds, fine-tuning fractions × repeats) goes through
:func:`train_many`, which trains M same-width networks in one fused pass (:mod:`asc.training.fused`); M = 1 is the plain case.

Read it top to bottom: resume each run from its ``last.pt`` (:mod:`asc.training.train_state`) → per round, every
unfinished run trains one epoch of its own (own data subset, shuffling generator, dropout stream, step count),
sharing the compute → one batched evaluation on the selection split (:mod:`asc.training.train_select`) → per run:
history, best-epoch selection, atomic checkpoint. A killed call restarts each run from its last completed epoch
and ends with the same weights as an uninterrupted one.

Ragged steps: runs have their own subset sizes, so at step t of a round only the runs with data left train,
and a run's last short batch is its own sub-step (runs are grouped by batch size; all share batch_size, so a
step has at most a few groups). The alternative, masked BatchNorm over padded batches, would need a custom BN
and would spend compute on padding; sub-steps keep BN statistics over real samples with stock kernels and keep
CPU time proportional to the examples trained. How it runs is one frozen :class:`asc.training.speed.SpeedOptions`.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from asc.core.checks import NonFiniteError
from asc.core.progress import progress_bar, show_progress
from asc.data.tasks import SCENES, Task
from asc.training import distill, fused, fused_forward
from asc.training.device import auto_group_size, on_device, parts, precision_mode
from asc.training.graphs import GraphedSteps
from asc.training.sampling import epoch_order
from asc.training.speed import SpeedOptions, compiled_forward
from asc.training.train_select import keeps, scores
from asc.training.train_state import (
    Recipe,
    Run,
    RunState,
    check_runs,
    load_state,
    save_state,
    schedule_tensors,
)

__all__ = ["Recipe", "Run", "SpeedOptions", "train_many"]

log = logging.getLogger(__name__)

EpochEnd = Callable[[int, int], None]  # (run index, epoch) after the run's checkpoint


def train_many(
    runs: Sequence[Run],
    train: tuple[torch.Tensor, torch.Tensor],
    select: tuple[torch.Tensor, torch.Tensor],
    speed: SpeedOptions | None = None,
    *,
    precision: str = "fp32",
    task: Task = SCENES,
    on_epoch_end: EpochEnd | None = None,
    **changes: Any,
) -> list[dict[str, Any]]:
    """Train every run with Adam or AdamW (its recipe's ``optimizer``, ``weight_decay``) and its learning-rate
    schedule (``warmup_steps``, ``schedule``: :func:`asc.training.recipes.lr_factor` per step) + the task's loss
    (:mod:`asc.training.losses`: cross-entropy for scenes, binary cross-entropy for tagging, where y is (N, classes) 0/1),
    M at a time in one fused pass (``speed.fuse=False``: one by one, same code with M = 1). Each run's model ends
    holding its selected weights: under ``select: best`` only epochs after ``select_after`` compete (with fewer
    epochs than that the last is kept); under ``select: last`` the last epoch is kept. ``select`` is the
    selection split (monitored under ``last``), scored by the task's metric (accuracy, or mAP as
    :func:`asc.training.tagging_metrics.mean_average_precision`). Each run visits its clips in the order of its recipe's
    ``sampling`` (:mod:`asc.training.sampling`). ``train``/``select``: features (N, bands, frames) and labels.

    ``speed`` (:class:`asc.training.speed.SpeedOptions`, default all defaults) says how it runs: same results up to float
    rounding; a keyword argument replaces that one field (``train_many(runs, train, val, group_size=8)``; an
    unknown name is a TypeError). ``precision`` (fp32, tf32, bf16: :func:`asc.training.device.precision_mode`) is the
    recipe's, keyed. ``on_epoch_end(run_index, epoch)`` is called after each run's checkpoint (tests use it to
    interrupt). Per-run ``seconds`` are the round's wall time shared in proportion to the examples each run
    trained on. Returns one dict per run: best_epoch, best_select_acc, history, train_seconds, epochs.

    Raises ValueError for runs that differ in widths or batch size, an empty subset, weight decay under plain
    Adam, or a bad precision. A run whose loss becomes non-finite stops (its last good checkpoint stays); the
    others finish, then :class:`~asc.core.checks.NonFiniteError` names it."""
    speed = replace(speed or SpeedOptions(), **changes)
    check_runs(runs)
    if not speed.fuse and len(runs) > 1:
        return _one_by_one(
            runs, train, select, speed, precision=precision, task=task, on_epoch_end=on_epoch_end
        )
    loop = _start(runs, train, select, speed, task, on_epoch_end)
    with precision_mode(precision, loop.device, speed.cudnn_benchmark):
        while todo := loop.unfinished():
            _round(loop, todo)
    return _finish(loop)


def _one_by_one(runs, train, select, speed: SpeedOptions, *, on_epoch_end, **rest) -> list[dict[str, Any]]:
    """``fuse=False``: each run alone (M = 1), its callback told its index in ``runs``."""
    cb = on_epoch_end
    return [
        train_many([r], train, select, speed, **rest, on_epoch_end=cb and (lambda _, e, i=i: cb(i, e)))[0]
        for i, r in enumerate(runs)
    ]


@dataclass
class _Loop:
    """What every round of one call shares: the runs and their states, the fused stack and its step, the data
    where the loop keeps it, and how many models go through one grouped pass (``k``)."""

    runs: Sequence[Run]
    states: list[RunState]
    stack: fused.FusedStack
    step: Callable[..., torch.Tensor]
    forward_fn: Callable[..., torch.Tensor]
    teachers: Any  # asc.training.distill.teacher_tensors, or None: hard labels only
    labels: torch.Tensor  # the training labels where the caller keeps them: the epoch orders draw from them
    x: torch.Tensor
    y: torch.Tensor
    select: tuple[torch.Tensor, torch.Tensor]
    speed: SpeedOptions
    task: Task
    on_epoch_end: EpochEnd | None
    failed: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.device = self.stack.device
        self.k = self.speed.group_size or auto_group_size(self.device)
        self.bs = self.runs[0].recipe.batch_size
        self.show = show_progress(self.speed.progress)
        # run numbers → a long tensor on a device, made once per selection
        self.ix = functools.lru_cache(maxsize=None)(lambda sel, dev: torch.tensor(sel, device=dev))

    def unfinished(self) -> list[int]:
        return [
            m
            for m, r in enumerate(self.runs)
            if self.states[m].epoch < r.recipe.epochs and m not in self.failed
        ]


def _start(runs, train, select, speed: SpeedOptions, task: Task, on_epoch_end: EpochEnd | None) -> _Loop:
    """The fused stack of the runs' models, each run resumed from its ``last.pt``, the data placed, the step."""
    device = torch.device(speed.device)
    stack = fused.FusedStack(
        [r.model for r in runs],
        device,
        channels_last=speed.channels_last,
        formulation=speed.formulation,
        dropout_rng=speed.dropout_rng,
        multi_label=task.multi_label,
    )
    states = [load_state(r, stack, m) for m, r in enumerate(runs)]
    x, y = (on_device(t, device, speed.resident) for t in train)
    xs, ys = (on_device(t, device, speed.resident) for t in select)
    forward_fn = compiled_forward(speed.compile) if speed.compile else fused_forward.forward
    teachers = distill.teacher_tensors(runs, device)  # None: hard labels only, the step as it always was
    step = _step_fn(runs, stack, speed, forward_fn, graphs_allowed=teachers is None)
    return _Loop(
        runs, states, stack, step, forward_fn, teachers, train[1], x, y, (xs, ys), speed, task, on_epoch_end
    )


def _step_fn(runs, stack, speed: SpeedOptions, forward_fn, *, graphs_allowed: bool) -> Callable[..., Any]:
    """One fused Adam step of the selected runs (:meth:`asc.training.fused.FusedStack.train_step`) with each run's
    learning rate, epsilon, dropout seed and schedule; replayed as CUDA graphs when ``speed.graphs`` says so
    (never under distillation: its per-step teacher batch is not a captured input)."""
    device = stack.device
    step = functools.partial(
        stack.train_step,
        lr=torch.tensor([r.recipe.lr for r in runs], dtype=torch.float64, device=device),
        eps=torch.tensor([r.recipe.adam_eps for r in runs], dtype=torch.float32, device=device),
        seeds=torch.tensor([int(r.seed) for r in runs], dtype=torch.int64, device=device),
        forward_fn=forward_fn,
        schedule=schedule_tensors(runs, device),
    )
    graphs = speed.graphs if graphs_allowed else False
    if (device.type == "cuda" and not speed.compile) if graphs is None else graphs:
        step = GraphedSteps(step, device, emulate=device.type != "cuda")
    return step


# ---------------------------------------------------------------------- one round: an epoch of every run
def _round(loop: _Loop, todo: list[int]) -> None:
    """One epoch of every unfinished run: train, score on the selection split, then per run record, select,
    checkpoint."""
    start = time.perf_counter()
    sizes = {m: len(loop.runs[m].train_idx) for m in todo}
    loss_sum = _train_epoch(loop, todo, sizes)
    accs = scores(
        loop.stack,
        todo,
        loop.select,
        multi_label=loop.task.multi_label,
        batch_size=loop.speed.eval_batch_size,
        k=loop.k,
        forward_fn=loop.forward_fn,
        ix=loop.ix,
    )
    losses, seconds = loss_sum.tolist(), time.perf_counter() - start
    for acc, m in zip(accs, todo, strict=True):
        share = seconds * sizes[m] / sum(sizes.values())
        _end_epoch(loop, m, losses[m] / sizes[m], acc, share, seconds, len(todo))


def _epoch_orders(loop: _Loop, todo: list[int], sizes: dict[int, int], width: int) -> torch.Tensor:
    """(runs, width) positions into the training tensors: this epoch's order of each run's own subset, drawn
    from its own generator (rows of finished runs stay 0), where the features are."""
    pos = torch.zeros(len(loop.runs), width, dtype=torch.long)
    for m in todo:
        run = loop.runs[m]
        pos[m, : sizes[m]] = epoch_order(
            run.recipe.sampling, loop.labels, run.train_idx, loop.states[m].shuffle
        )
    return pos.to(loop.x.device)


def _train_epoch(loop: _Loop, todo: list[int], sizes: dict[int, int]) -> torch.Tensor:
    """Every step of one epoch of the runs in ``todo``; returns each run's summed loss (float64 (runs,))."""
    bs, device = loop.bs, loop.device
    n_steps = {m: -(-sizes[m] // bs) for m in todo}
    pos = _epoch_orders(loop, todo, sizes, max(n_steps.values()) * bs)
    loss_sum = torch.zeros(len(loop.runs), dtype=torch.float64, device=device)
    first = min(loop.states[m].epoch for m in todo) + 1
    desc = f"{len(todo)} run(s), epoch {first}/{max(loop.runs[m].recipe.epochs for m in todo)}:"
    steps = range(max(n_steps.values()))  # a with block: a step that raises closes the bar too
    with progress_bar(steps, show=loop.show, desc=desc, unit="batch", leave=False) as bar:
        for t in bar:
            for size, same in _batch_groups(todo, t, sizes, n_steps, bs).items():
                for sel in parts(same, loop.k):
                    idx = pos[loop.ix(tuple(sel), pos.device), t * bs : t * bs + size].T  # (size, G)
                    xb = loop.x[idx].to(device, non_blocking=True)
                    yb = loop.y[idx].to(device, non_blocking=True)
                    if loop.teachers is None:
                        losses = loop.step(sel, xb, yb)
                    else:
                        soft = distill.gather(loop.teachers, loop.ix(tuple(sel), device), idx.to(device))
                        losses = loop.step(sel, xb, yb, soft=soft)
                    loss_sum.index_add_(0, loop.ix(tuple(sel), device), losses.double() * size)
    return loss_sum


def _batch_groups(todo, t: int, sizes, n_steps, bs: int) -> dict[int, list[int]]:
    """Batch size → the runs with data left at step ``t``: a run's last short batch is its own sub-step."""
    groups: dict[int, list[int]] = {}
    for m in todo:
        if t < n_steps[m]:
            groups.setdefault(min(bs, sizes[m] - t * bs), []).append(m)
    return groups


def _end_epoch(
    loop: _Loop, m: int, loss: float, acc: float, share: float, seconds: float, fused_: int
) -> None:
    """Run m's epoch is done: its history entry, the kept epoch, its checkpoint, a log line, the callback; a
    non-finite loss stops the run instead (nothing saved)."""
    run, st = loop.runs[m], loop.states[m]
    epoch = st.epoch + 1
    if not math.isfinite(loss):
        log.error("run %s: training loss became %s in epoch %d; stopping it", run.label, loss, epoch)
        loop.failed.append(m)
        return
    st.epoch, st.seconds = epoch, st.seconds + share
    st.history.append(
        {
            "epoch": epoch,
            "loss": loss,
            loop.task.select_key: acc,
            "seconds": share,
            "round_seconds": seconds,
            "fused": fused_,
        }
    )
    if run.recipe.select == "last":  # no selection: the final weights are the model
        st.best_epoch, st.best_acc = epoch, acc
    elif keeps(run.recipe, epoch, acc, st.best_acc):
        st.best_epoch, st.best_acc, st.best_state = epoch, acc, loop.stack.state_dict(m)
    save_state(run, st, loop.stack, m)
    log.info(
        "%s epoch %3d/%d  loss %.4f  select %s %.4f  best %.4f (epoch %d)  %.1f s",
        run.label,
        epoch,
        run.recipe.epochs,
        loss,
        loop.task.metric,
        acc,
        st.best_acc,
        st.best_epoch,
        share,
    )
    if loop.on_epoch_end is not None:
        loop.on_epoch_end(m, epoch)


def _finish(loop: _Loop) -> list[dict[str, Any]]:
    """Each run's model gets its kept weights on the CPU; NonFiniteError names the runs that stopped."""
    for m, (run, st) in enumerate(zip(loop.runs, loop.states, strict=True)):
        run.model.cpu().load_state_dict(
            st.best_state if st.best_state is not None else loop.stack.state_dict(m)
        )
    if loop.failed:
        names = ", ".join(loop.runs[m].name for m in loop.failed)
        raise NonFiniteError(
            f"training loss became non-finite (NaN/inf) for run(s) {names}; lower the "
            "learning rate or check the features — the other runs finished and were saved"
        )
    return [st.summary(r.recipe.epochs) for r, st in zip(loop.runs, loop.states, strict=True)]
