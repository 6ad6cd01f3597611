"""A training run of :func:`asc.training.train.train_many`: what defines it (:class:`Recipe`, :class:`Run`) and its
resumable state after each completed epoch (``workdir/last.pt``: weights, Adam moments, the shuffling generator,
the history and the best epoch so far), written atomically so that a killed job resumes where it stopped.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from asc.core.atomic import atomic_path
from asc.core.checks import require_finite
from asc.training.recipes import DEFAULTS
from asc.training.sampling import UNIFORM

if TYPE_CHECKING:
    from asc.training.fused import FusedStack

log = logging.getLogger("asc.training.train")  # the training log: one logger for the loop and its resumes


@dataclass(frozen=True)
class Recipe:
    """What defines a training run's result (part of artifact keys); how it runs is asc.training.speed.SpeedOptions."""

    epochs: int
    batch_size: int
    lr: float
    adam_eps: float
    select_after: int
    sampling: str = UNIFORM  # the epoch's clip order: asc.training.sampling.SAMPLINGS
    # asc.training.recipes: the optimiser, the learning-rate schedule (warm-up steps, then constant or cosine to the last
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
    # knowledge distillation (asc/training/distill.py): logits (N, C) aligned with the shared training tensors, alpha,
    # temperature, kl_mean; None trains on the hard labels alone
    teacher: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        """How messages name the run: its label, else its work folder."""
        return self.label or str(self.workdir)


@dataclass
class RunState:
    """A run's progress: epochs done, the best epoch so far (its selection score and weights), the history."""

    shuffle: torch.Generator
    epoch: int = 0
    best_epoch: int = 0
    best_acc: float = -1.0
    best_state: dict[str, torch.Tensor] | None = None
    history: list[dict[str, Any]] | None = None
    seconds: float = 0.0

    def summary(self, epochs: int) -> dict[str, Any]:
        """What :func:`asc.training.train.train_many` returns for the run (its ``epochs`` from the recipe)."""
        return {
            "best_epoch": self.best_epoch,
            "best_select_acc": self.best_acc,
            "history": self.history,
            "train_seconds": self.seconds,
            "epochs": epochs,
        }


def check_runs(runs: Sequence[Run]) -> None:
    """Raises ValueError unless the runs of one call share widths and batch size, each has data, and weight
    decay comes with AdamW."""
    shapes = {tuple((k, tuple(v.shape)) for k, v in r.model.state_dict().items()) for r in runs}
    sizes = {r.recipe.batch_size for r in runs}
    if len(shapes) > 1 or len(sizes) > 1:
        raise ValueError(
            f"runs of one train_many call must share widths and batch_size; got "
            f"{len(shapes)} layer shapes and batch sizes {sorted(sizes)} ({[r.label for r in runs]})"
        )
    for r in runs:
        if r.recipe.optimizer == "adam" and r.recipe.weight_decay:
            raise ValueError(f"run {r.name}: weight_decay needs optimizer adamw (decoupled)")
        if len(r.train_idx) == 0:
            raise ValueError(f"run {r.name} has an empty training subset (train_idx)")


def schedule_tensors(runs: Sequence[Run], device: torch.device) -> dict[str, torch.Tensor] | None:
    """The per-run tensors of :meth:`asc.training.fused.FusedStack.train_step`'s ``schedule``; None when every run has
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


_SAVED = ("epoch", "best_epoch", "best_acc", "best_state", "history", "seconds")


def identity(run: Run) -> dict[str, Any]:
    """What a ``last.pt`` must match to be resumed; the recipe without the keys at their defaults that were added
    later (``sampling``, :data:`asc.training.recipes.DEFAULTS`): a checkpoint written before them still resumes."""
    defaults = {**DEFAULTS, "sampling": UNIFORM}
    recipe = {k: v for k, v in asdict(run.recipe).items() if k not in defaults or v != defaults[k]}
    return {"seed": int(run.seed), "recipe": recipe, "train_idx": run.train_idx.cpu()}


def written_for(ckpt: Mapping[str, Any], run: Run) -> bool:
    """Whether a loaded ``last.pt`` names ``run`` (:func:`identity`: seed, recipe, training clips): the check of
    both trainers' resume (this module's, asc/training/plain_state.py's)."""
    ident, mine = ckpt.get("identity") or {}, identity(run)
    return (
        ident.get("seed") == mine["seed"]
        and ident.get("recipe") == mine["recipe"]
        and "train_idx" in ident
        and torch.equal(ident["train_idx"], mine["train_idx"])
    )


def load_state(run: Run, stack: FusedStack, m: int) -> RunState:
    """The run's state after its last completed epoch (``workdir/last.pt``), loaded into row m of the stack; a
    fresh state when there is none. Raises ValueError when the file belongs to another run."""
    st = RunState(shuffle=torch.Generator().manual_seed(int(run.seed)), history=[])
    last = Path(run.workdir) / "last.pt"
    if not last.is_file():
        return st
    ckpt = torch.load(last, map_location="cpu", weights_only=True)
    if not written_for(ckpt, run):
        raise ValueError(
            f"{last} was written by another run (seed, recipe or data subset differ) than "
            f"{run.label or run.workdir}; delete it or give this run its own workdir"
        )
    stack.load_state_dict(m, ckpt["model"])
    stack.load_optimizer_state(m, ckpt["optimizer"])
    st.shuffle.set_state(ckpt["rng_shuffle"])
    for key in _SAVED:
        setattr(st, key, ckpt[key])
    log.info("%s: resuming from %s after epoch %d/%d", run.label, last, st.epoch, run.recipe.epochs)
    return st


def save_state(run: Run, st: RunState, stack: FusedStack, m: int) -> None:
    """Write ``workdir/last.pt`` atomically; raises asc.core.checks.NonFiniteError for non-finite weights."""
    model = stack.state_dict(m)
    require_finite(f"weights of run {run.name} after epoch {st.epoch}", model)
    blob = {
        "identity": identity(run),
        "model": model,
        "optimizer": stack.optimizer_state(m),
        "rng_shuffle": st.shuffle.get_state(),
        **{key: getattr(st, key) for key in _SAVED},
    }
    with atomic_path(Path(run.workdir) / "last.pt") as tmp:
        torch.save(blob, tmp)
