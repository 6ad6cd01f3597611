"""The selection split during training: each run's score after every epoch, in one batched pass over the fused
stack (accuracy for scenes, mAP for tagging: the task's ``metric``), and the rule for which epoch a run keeps
(its recipe's ``select``: the best one after ``select_after``, or the last).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from asc.training.device import parts

if TYPE_CHECKING:
    from asc.training.fused import FusedStack
    from asc.training.train_state import Recipe

Index = Callable[[tuple[int, ...], Any], torch.Tensor]  # run numbers → a long tensor on a device (cached)


def scores(
    stack: FusedStack,
    todo: list[int],
    select: tuple[torch.Tensor, torch.Tensor],
    *,
    multi_label: bool,
    batch_size: int,
    k: int,
    forward_fn: Callable[..., torch.Tensor],
    ix: Index,
) -> list[float]:
    """The score of each run in ``todo`` (stack rows) on the selection split ``select`` (x (N, bands, frames),
    y (N,) class numbers or (N, classes) 0/1 tags), at most ``k`` models per pass; NaN for an empty split."""
    score = _mean_aps if multi_label else _accuracies
    return score(stack, todo, *select, batch_size, k, forward_fn, ix)


def keeps(recipe: Recipe, epoch: int, score: float, best: float) -> bool:
    """Whether ``epoch`` (1-based) with selection ``score`` replaces the kept weights under ``select: best``:
    only epochs after ``select_after`` compete (with fewer epochs than that, the last is kept), the first best
    wins ties. (``select: last`` keeps the final weights: no epoch is selected.)"""
    after, epochs = recipe.select_after, recipe.epochs
    return (epoch > after or (epochs <= after and epoch == epochs)) and score > best


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
    from asc.training.tagging_metrics import mean_average_precision

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
