"""The order in which a training run visits its clips each epoch: uniform (a permutation) or class-balanced.

Class-balanced follows PANNs' ``BalancedTrainSampler`` (``audioset_tagging_cnn/utils/data_generator.py``): classes
are visited round-robin in a shuffled order (reshuffled after each pass), and each visit takes the next clip of
that class's own shuffled list (reshuffled when used up), so rare classes are seen as often as frequent ones. A
multi-label clip is in the list of every class it carries. An epoch has as many draws as the run has clips.
The choices are declared here (:data:`SAMPLINGS`); the train/finetune config's ``sampling`` names one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch-free at import: validation reads SAMPLINGS while planning
    import torch

UNIFORM, BALANCED = "uniform", "balanced"
SAMPLINGS = (UNIFORM, BALANCED)


def _perm(n: int, generator: torch.Generator) -> list[int]:
    import torch

    return torch.randperm(n, generator=generator).tolist()


def balanced_order(labels: torch.Tensor, subset: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One epoch's positions (len(subset),) drawn class-balanced from ``subset`` (positions into ``labels``).

    labels: (N,) class numbers (single-label) or (N, C) 0/1 tags (multi-label). Classes without a clip in the
    subset are never visited. Deterministic given the generator's state (it advances it)."""
    import torch

    sub = labels[subset]
    tags = torch.nn.functional.one_hot(sub.long(), int(labels.max()) + 1) if sub.ndim == 1 else sub > 0
    members = [torch.nonzero(tags[:, k]).flatten().tolist() for k in range(tags.shape[1])]
    classes = [k for k, m in enumerate(members) if m]
    if not classes:
        raise ValueError("class-balanced sampling needs clips with at least one class")
    queues = {k: [] for k in classes}
    order: list[int] = []
    class_queue: list[int] = []
    while len(order) < len(subset):
        if not class_queue:
            class_queue = [classes[i] for i in _perm(len(classes), generator)]
        k = class_queue.pop()
        if not queues[k]:
            queues[k] = [members[k][i] for i in _perm(len(members[k]), generator)]
        order.append(queues[k].pop())
    return subset[torch.tensor(order, dtype=torch.long)]


def epoch_order(
    sampling: str, labels: torch.Tensor, subset: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """The epoch's positions under ``sampling`` (:data:`SAMPLINGS`); uniform is ``subset[randperm]``, the order
    asc has always used (so its results are unchanged)."""
    import torch

    if sampling == UNIFORM:
        return subset[torch.randperm(len(subset), generator=generator)]
    if sampling == BALANCED:
        return balanced_order(labels, subset, generator)
    raise ValueError(f"sampling={sampling!r}; choose one of {', '.join(SAMPLINGS)}")
