"""The per-model losses of stacked logits, chosen by the task (:mod:`asc.data.tasks`).

Scenes: cross-entropy of the softmax (one class per clip). Tagging: binary cross-entropy of the sigmoid, averaged
over clips and classes — PANNs' ``clip_bce`` (``audioset_tagging_cnn/pytorch/losses.py``), computed from the
logits (``binary_cross_entropy_with_logits``: the same value without the sigmoid's overflow at large logits).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def per_model_loss(logits: torch.Tensor, y: torch.Tensor, multi_label: bool) -> torch.Tensor:
    """Mean loss of each of G stacked models (G,). logits (B, G, C); y (B, G) class numbers, or (B, G, C) 0/1
    tags when ``multi_label``."""
    if multi_label:
        return F.binary_cross_entropy_with_logits(logits, y.to(logits.dtype), reduction="none").mean((0, 2))
    return F.cross_entropy(logits.transpose(1, 2), y, reduction="none").mean(0)


def probabilities(logits: torch.Tensor, multi_label: bool, dim: int = -1) -> torch.Tensor:
    """Class probabilities of logits: sigmoid per class (multi-label) or softmax over ``dim``."""
    return torch.sigmoid(logits) if multi_label else torch.softmax(logits, dim=dim)
