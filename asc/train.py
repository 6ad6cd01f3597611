"""Training and evaluation: every training run (baseline seeds, fine-tuning fractions × repeats) goes through
:func:`train_many`, which trains M same-width networks in one fused pass (:mod:`asc.fused`); M = 1 is the plain case.

Read it top to bottom: resume each run from its ``last.pt`` → per round, every unfinished run trains one epoch of
its own (own data subset, shuffling generator, dropout stream, step count), sharing the compute → one batched
evaluation on the selection split → per run: history, best-epoch selection, atomic checkpoint. A killed call
restarts each run from its last completed epoch and ends with the same weights as an uninterrupted one.

Ragged steps: runs have their own subset sizes, so at step t of a round only the runs with data left train,
and a run's last short batch is its own sub-step (runs are grouped by batch size; all share batch_size, so a
step has at most a few groups). The alternative, masked BatchNorm over padded batches, would need a custom BN
and would spend compute on padding; sub-steps keep BN statistics over real samples with stock kernels and keep
CPU time proportional to the examples trained.

Speed options (precision, compile, formulation, CUDA graphs, residency) and their effect: :mod:`asc.speed`.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from asc import distill, fused
from asc.atomic import atomic_path
from asc.checks import NonFiniteError, require_finite
from asc.device import auto_group_size, on_device, parts, precision_mode
from asc.graphs import GraphedSteps
from asc.progress import progress_bar, show_progress
from asc.recipes import DEFAULTS
from asc.sampling import UNIFORM, epoch_order
from asc.speed import compiled_forward
from asc.tasks import SCENES, Task

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recipe:
    """What defines a training run's result (part of artifact keys); speed settings are train_many kwargs."""

    epochs: int
    batch_size: int
    lr: float
    adam_eps: float
    select_after: int
    sampling: str = UNIFORM  # the epoch's clip order: asc.sampling.SAMPLINGS
    # asc.recipes: the optimiser, the learning-rate schedule (warm-up steps, then constant or cosine to the last
    # step) and which epoch is kept (best on the selection split after select_after, or the last)
    optimizer: str = "adam"
    weight_decay: float = 0.0
    schedule: str = "constant"
    warmup_steps: int = 0
    select: str = "best"


@dataclass
class Run:
    """One network to train. ``model`` holds the initial weights (the caller seeds the init) and, on return,
    the selected (best) weights on the CPU; ``seed`` seeds this run's shuffling and dropout."""

    model: nn.Module
    train_idx: torch.Tensor  # long positions into the shared training tensors: this run's data subset
    seed: int
    workdir: Path  # this run's own folder: last.pt (resume), one per run
    recipe: Recipe
    label: str = ""
    # knowledge distillation (asc/distill.py): logits (N, C) aligned with the shared training tensors, alpha,
    # temperature, kl_mean; None trains on the hard labels alone
    teacher: dict[str, Any] | None = None


@dataclass
class _State:
    shuffle: torch.Generator
    epoch: int = 0
    best_epoch: int = 0
    best_acc: float = -1.0
    best_state: dict[str, torch.Tensor] | None = None
    history: list[dict[str, Any]] | None = None
    seconds: float = 0.0


def _identity(run: Run) -> dict[str, Any]:
    """What a ``last.pt`` must match to be resumed; the recipe without the keys at their defaults that were added
    later (``sampling``, :data:`asc.recipes.DEFAULTS`): a checkpoint written before them still resumes."""
    defaults = {**DEFAULTS, "sampling": UNIFORM}
    recipe = {k: v for k, v in asdict(run.recipe).items() if k not in defaults or v != defaults[k]}
    return {"seed": int(run.seed), "recipe": recipe, "train_idx": run.train_idx.cpu()}


def _schedule(runs: Sequence[Run], device: torch.device) -> dict[str, torch.Tensor] | None:
    """The per-run tensors of :meth:`asc.fused.FusedStack.train_step`'s ``schedule``; None when every run has
    a constant learning rate and no weight decay (the paper's recipe: the step is then exactly as before). A
    run's total steps are its epochs times its batches per epoch (the last short batch counted), as Lightning's
    ``estimated_stepping_batches`` that the DCASE baselines' cosine schedule ends on."""
    recipes = [r.recipe for r in runs]
    if all(r.schedule == "constant" and not r.warmup_steps and not r.weight_decay for r in recipes):
        return None
    total = [r.recipe.epochs * -(-len(r.train_idx) // r.recipe.batch_size) for r in runs]
    return {
        "warmup": torch.tensor([r.warmup_steps for r in recipes], dtype=torch.int64, device=device),
        "total": torch.tensor(total, dtype=torch.int64, device=device),
        "cosine": torch.tensor([r.schedule == "cosine" for r in recipes], device=device),
        "weight_decay": torch.tensor([r.weight_decay for r in recipes], dtype=torch.float64, device=device),
    }


def _load(run: Run, stack: fused.FusedStack, m: int) -> _State:
    """The run's state after its last completed epoch (``workdir/last.pt``), loaded into row m of the stack."""
    st = _State(shuffle=torch.Generator().manual_seed(int(run.seed)), history=[])
    last = Path(run.workdir) / "last.pt"
    if not last.is_file():
        return st
    ckpt = torch.load(last, map_location="cpu", weights_only=True)
    ident, mine = ckpt["identity"], _identity(run)
    if (
        ident["seed"] != mine["seed"]
        or ident["recipe"] != mine["recipe"]
        or not torch.equal(ident["train_idx"], mine["train_idx"])
    ):
        raise ValueError(
            f"{last} was written by another run (seed, recipe or data subset differ) than "
            f"{run.label or run.workdir}; delete it or give this run its own workdir"
        )
    stack.load_state_dict(m, ckpt["model"])
    stack.load_optimizer_state(m, ckpt["optimizer"])
    st.shuffle.set_state(ckpt["rng_shuffle"])
    for key in ("epoch", "best_epoch", "best_acc", "best_state", "history", "seconds"):
        setattr(st, key, ckpt[key])
    log.info("%s: resuming from %s after epoch %d/%d", run.label, last, st.epoch, run.recipe.epochs)
    return st


def _save(run: Run, st: _State, stack: fused.FusedStack, m: int) -> None:
    model = stack.state_dict(m)
    require_finite(f"weights of run {run.label or run.workdir} after epoch {st.epoch}", model)
    blob = {
        "identity": _identity(run),
        "model": model,
        "optimizer": stack.optimizer_state(m),
        "rng_shuffle": st.shuffle.get_state(),
        "epoch": st.epoch,
        "best_epoch": st.best_epoch,
        "best_acc": st.best_acc,
        "best_state": st.best_state,
        "history": st.history,
        "seconds": st.seconds,
    }
    with atomic_path(Path(run.workdir) / "last.pt") as tmp:
        torch.save(blob, tmp)


# ---------------------------------------------------------------------- the fused loop
def _check(runs: Sequence[Run]) -> None:
    shapes = {tuple((k, tuple(v.shape)) for k, v in r.model.state_dict().items()) for r in runs}
    sizes = {r.recipe.batch_size for r in runs}
    if len(shapes) > 1 or len(sizes) > 1:
        raise ValueError(
            f"runs of one train_many call must share widths and batch_size; got "
            f"{len(shapes)} layer shapes and batch sizes {sorted(sizes)} ({[r.label for r in runs]})"
        )
    for r in runs:
        if r.recipe.optimizer == "adam" and r.recipe.weight_decay:
            raise ValueError(f"run {r.label or r.workdir}: weight_decay needs optimizer adamw (decoupled)")
        if len(r.train_idx) == 0:
            raise ValueError(f"run {r.label or r.workdir} has an empty training subset (train_idx)")


def train_many(
    runs: Sequence[Run],
    train: tuple[torch.Tensor, torch.Tensor],
    select: tuple[torch.Tensor, torch.Tensor],
    *,
    device: torch.device | str = "cpu",
    eval_batch_size: int = 64,
    fuse: bool = True,
    channels_last: bool = True,
    precision: str = "fp32",
    compile: bool | str = False,
    progress: bool | None = None,
    group_size: int | None = None,
    formulation: str = "auto",
    graphs: bool | None = None,
    resident: bool | None = None,
    dropout_rng: str = "auto",
    cudnn_benchmark: bool = False,
    on_epoch_end: Callable[[int, int], None] | None = None,
    task: Task = SCENES,
) -> list[dict[str, Any]]:
    """Train every run with Adam or AdamW (its recipe's ``optimizer``, ``weight_decay``) and its learning-rate
    schedule (``warmup_steps``, ``schedule``: :func:`asc.recipes.lr_factor` per step) + the task's loss
    (:mod:`asc.losses`: cross-entropy for scenes, binary cross-entropy for tagging, where y is (N, classes) 0/1),
    M at a time in one fused pass (``fuse=False``: one by one, same code with M = 1). Each run's model ends holding
    its selected weights: under ``select: best`` only epochs after ``select_after`` compete (with fewer epochs than
    that the last is kept); under ``select: last`` the last epoch is kept. ``select`` is the selection split
    (monitored under ``last``), scored by the task's metric (accuracy, or mAP as
    :func:`asc.tagging_metrics.mean_average_precision`). Each run visits its clips in the order of its recipe's
    ``sampling`` (:mod:`asc.sampling`).
    ``on_epoch_end(run_index, epoch)`` is called after each run's checkpoint (tests use it to interrupt).
    Per-run ``seconds`` are the round's wall time shared in proportion to the examples each run trained on.
    A run whose loss becomes non-finite stops (its last good checkpoint stays); the others finish, then
    :class:`~asc.checks.NonFiniteError` names it.

    Speed only (same results up to float rounding; each GPU branch runs on the CPU under its switch, see
    tests/test_gpu_paths.py): ``group_size`` most models per grouped pass (default :func:`auto_group_size`: 1 on
    the CPU, all on CUDA); ``formulation`` of the convolutions (:mod:`asc.fused_conv`: auto, grouped, split,
    im2col); ``graphs`` CUDA-graph replay of repeated step shapes (:mod:`asc.graphs`; None = on CUDA unless
    ``compile``; True on the CPU emulates it); ``resident`` features on the device with batches gathered there
    (None = when they fit, :func:`asc.device.on_device`); ``dropout_rng`` (:func:`asc.fused_ops.keep_mask`);
    ``cudnn_benchmark`` (:func:`asc.device.precision_mode`)."""
    _check(runs)
    device = torch.device(device)
    if graphs and compile:
        raise ValueError("graphs=True and compile are exclusive: choose one way to cut launch overhead")
    if not fuse and len(runs) > 1:
        kw = dict(
            device=device,
            eval_batch_size=eval_batch_size,
            channels_last=channels_last,
            precision=precision,
            compile=compile,
            progress=progress,
            group_size=group_size,
            formulation=formulation,
            graphs=graphs,
            resident=resident,
            dropout_rng=dropout_rng,
            cudnn_benchmark=cudnn_benchmark,
            task=task,
        )
        cb = on_epoch_end
        return [
            train_many([r], train, select, **kw, on_epoch_end=cb and (lambda _, e, i=i: cb(i, e)))[0]
            for i, r in enumerate(runs)
        ]
    stack = fused.FusedStack(
        [r.model for r in runs],
        device,
        channels_last=channels_last,
        formulation=formulation,
        dropout_rng=dropout_rng,
        multi_label=task.multi_label,
    )
    states = [_load(r, stack, m) for m, r in enumerate(runs)]
    x, y = (on_device(t, device, resident) for t in train)
    xs, ys = (on_device(t, device, resident) for t in select)
    lr = torch.tensor([r.recipe.lr for r in runs], dtype=torch.float64, device=device)
    eps = torch.tensor([r.recipe.adam_eps for r in runs], dtype=torch.float32, device=device)
    seeds = torch.tensor([int(r.seed) for r in runs], dtype=torch.int64, device=device)
    forward_fn = compiled_forward(compile) if compile else fused.forward
    step = functools.partial(
        stack.train_step, lr=lr, eps=eps, seeds=seeds, forward_fn=forward_fn, schedule=_schedule(runs, device)
    )
    teachers = distill.teacher_tensors(runs, device)  # None: hard labels only, the step as it always was
    if teachers is not None:  # its per-step teacher batch is not a captured input: no CUDA graphs
        graphs = False
    if (device.type == "cuda" and not compile) if graphs is None else graphs:
        step = GraphedSteps(step, device, emulate=device.type != "cuda")
    bs, failed, k = runs[0].recipe.batch_size, [], group_size or auto_group_size(device)
    ix = functools.lru_cache(maxsize=None)(lambda sel, dev: torch.tensor(sel, device=dev))
    show = show_progress(progress)
    with precision_mode(precision, device, cudnn_benchmark):
        while todo := [
            m for m, r in enumerate(runs) if states[m].epoch < r.recipe.epochs and m not in failed
        ]:
            start = time.perf_counter()
            sizes = {m: len(runs[m].train_idx) for m in todo}
            n_steps = {m: -(-sizes[m] // bs) for m in todo}
            pos = torch.zeros(len(runs), max(n_steps.values()) * bs, dtype=torch.long)
            for m in todo:  # this epoch's order of each run's own subset, from its own generator
                pos[m, : sizes[m]] = epoch_order(
                    runs[m].recipe.sampling, train[1], runs[m].train_idx, states[m].shuffle
                )
            pos = pos.to(x.device)
            loss_sum = torch.zeros(len(runs), dtype=torch.float64, device=device)
            epoch_of = f"{min(states[m].epoch for m in todo) + 1}/{max(runs[m].recipe.epochs for m in todo)}"
            for t in progress_bar(
                range(max(n_steps.values())),
                show=show,
                desc=f"{len(todo)} run(s), epoch {epoch_of}:",
                unit="batch",
                leave=False,
            ):
                groups: dict[int, list[int]] = {}  # batch size → runs: a last short batch is its own sub-step
                for m in todo:
                    if t < n_steps[m]:
                        groups.setdefault(min(bs, sizes[m] - t * bs), []).append(m)
                for size, same in groups.items():
                    for sel in parts(same, k):
                        idx = pos[ix(tuple(sel), pos.device), t * bs : t * bs + size].T  # (size, G)
                        xb, yb = x[idx].to(device, non_blocking=True), y[idx].to(device, non_blocking=True)
                        if teachers is None:
                            losses = step(sel, xb, yb)
                        else:
                            soft = distill.gather(teachers, ix(tuple(sel), device), idx.to(device))
                            losses = step(sel, xb, yb, soft=soft)
                        loss_sum.index_add_(0, ix(tuple(sel), device), losses.double() * size)
            score = _accuracies if not task.multi_label else _mean_aps
            accs = score(stack, todo, xs, ys, eval_batch_size, k, forward_fn, ix)
            losses_cpu, seconds = loss_sum.tolist(), time.perf_counter() - start
            for acc, m in zip(accs, todo, strict=True):
                run, st = runs[m], states[m]
                epoch, loss = st.epoch + 1, losses_cpu[m] / sizes[m]
                if not math.isfinite(loss):
                    log.error(
                        "run %s: training loss became %s in epoch %d; stopping it", run.label, loss, epoch
                    )
                    failed.append(m)
                    continue
                share = seconds * sizes[m] / sum(sizes.values())
                st.epoch, st.seconds = epoch, st.seconds + share
                st.history.append(
                    {
                        "epoch": epoch,
                        "loss": loss,
                        task.select_key: acc,
                        "seconds": share,
                        "round_seconds": seconds,
                        "fused": len(todo),
                    }
                )
                ep, after = run.recipe.epochs, run.recipe.select_after
                if run.recipe.select == "last":  # no selection: the final weights are the model
                    st.best_epoch, st.best_acc = epoch, acc
                elif (epoch > after or (ep <= after and epoch == ep)) and acc > st.best_acc:
                    st.best_epoch, st.best_acc, st.best_state = epoch, acc, stack.state_dict(m)
                _save(run, st, stack, m)
                log.info(
                    "%s epoch %3d/%d  loss %.4f  select %s %.4f  best %.4f (epoch %d)  %.1f s",
                    run.label,
                    epoch,
                    ep,
                    loss,
                    task.metric,
                    acc,
                    st.best_acc,
                    st.best_epoch,
                    share,
                )
                if on_epoch_end is not None:
                    on_epoch_end(m, epoch)
    for m, (run, st) in enumerate(zip(runs, states, strict=True)):
        run.model.cpu().load_state_dict(st.best_state if st.best_state is not None else stack.state_dict(m))
    if failed:
        names = ", ".join(runs[m].label or str(runs[m].workdir) for m in failed)
        raise NonFiniteError(
            f"training loss became non-finite (NaN/inf) for run(s) {names}; lower the "
            "learning rate or check the features — the other runs finished and were saved"
        )
    return [
        {
            "best_epoch": st.best_epoch,
            "best_select_acc": st.best_acc,
            "history": st.history,
            "train_seconds": st.seconds,
            "epochs": r.recipe.epochs,
        }
        for r, st in zip(runs, states, strict=True)
    ]


def _accuracies(stack, todo, xs, ys, batch_size, k, forward_fn, ix) -> list[float]:
    """Each run's accuracy on the selection split (class numbers ys (N,)), in one batched pass per group."""
    device = stack.device
    correct = torch.zeros(stack.m, dtype=torch.float64, device=device)
    for i in range(0, len(xs), batch_size):
        xb, yb = xs[i : i + batch_size].to(device), ys[i : i + batch_size].to(device)
        for sel in parts(todo, k):
            hits = stack.logits(sel, xb, forward_fn=forward_fn).argmax(2) == yb[:, None]
            correct.index_add_(0, ix(tuple(sel), device), hits.sum(0).double())
    return (correct[todo] / len(xs)).tolist() if len(xs) else [math.nan] * len(todo)


def _mean_aps(stack, todo, xs, ys, batch_size, k, forward_fn, ix) -> list[float]:
    """Each run's mAP on the selection split (0/1 tags ys (N, classes)), from its sigmoid outputs."""
    from asc.tagging_metrics import mean_average_precision

    if not len(xs):
        return [math.nan] * len(todo)
    chunks: dict[int, list[torch.Tensor]] = {m: [] for m in todo}
    for i in range(0, len(xs), batch_size):
        xb = xs[i : i + batch_size].to(stack.device)
        for sel in parts(todo, k):
            probs = torch.sigmoid(stack.logits(sel, xb, forward_fn=forward_fn)).cpu()
            for g, m in enumerate(sel):
                chunks[m].append(probs[:, g])
    targets = ys.cpu().numpy()
    return [mean_average_precision(torch.cat(chunks[m]).double().numpy(), targets) for m in todo]
