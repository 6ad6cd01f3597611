"""A baseline-shaped model whose every entry matters: random biases and BN parameters/statistics, unlike a fresh
model (zero biases, unit BN), so round trips and surgery are tested on values that cannot coincide by accident."""

from __future__ import annotations

import torch
from torch import nn

from asc.nets.model import build_model


def randomised_model(spec: dict | None = None, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = build_model(spec)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d | nn.Linear):
                m.bias.normal_(0, 0.1)
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.2)
                m.running_mean.normal_(0, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.num_batches_tracked.fill_(7)
    return model.eval()
