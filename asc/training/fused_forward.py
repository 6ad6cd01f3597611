"""The forward pass of M stacked :class:`~asc.nets.model.BaselineCNN` networks (:mod:`asc.training.fused`): the
network as a list of ops (:func:`plan`) and those ops run on the stacked tensors (:func:`forward`).

Input (B, G, H, W), channel g holding model g's own mini-batch; the convolutions run per model in one of the exact
formulations of :mod:`asc.training.fused_conv`, BatchNorm over G·C channels (statistics per channel, so per model),
pooling per channel, the dense layers as one batched matmul; logits (B, G, classes).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from asc.training import fused_conv
from asc.training.fused_ops import keep_mask


def plan(model: nn.Module) -> list[tuple[Any, ...]]:
    """The model's forward as a list of ops with the names of their tensors (walks features, then classifier)."""
    ops: list[tuple[Any, ...]] = []
    dropouts = 0
    for prefix, seq in (("features", model.features), ("classifier", model.classifier)):
        for i, m in enumerate(seq):
            name = f"{prefix}.{i}"
            if isinstance(m, nn.Conv2d):
                ops.append(("conv", name, m.padding))
            elif isinstance(m, nn.BatchNorm2d):
                ops.append(("bn", name, m.eps, m.momentum))
            elif isinstance(m, nn.ReLU):
                ops.append(("relu",))
            elif isinstance(m, nn.MaxPool2d):
                ops.append(("pool", m.kernel_size))
            elif isinstance(m, nn.Dropout):
                ops.append(("dropout", dropouts, m.p))
                dropouts += 1
            elif isinstance(m, nn.Flatten):
                ops.append(("flatten",))
            elif isinstance(m, nn.Linear):
                ops.append(("linear", name))
            else:
                raise TypeError(
                    f"cannot fuse layer {name} ({type(m).__name__}); asc.training.fused knows the BaselineCNN"
                )
    return ops


def forward(
    ops: Sequence[tuple[Any, ...]],
    t: dict[str, torch.Tensor],
    x: torch.Tensor,
    *,
    train: bool,
    keys: list[torch.Tensor] | None = None,
    channels_last: bool = False,
    conv: str = "grouped",
    dropout_rng: str = "auto",
) -> torch.Tensor:
    """Logits (B, G, classes) of G stacked models ``t`` (name → (G, ...)) on x (B, G, H, W). In train mode BN
    uses batch statistics and updates ``t``'s running statistics in place; ``keys`` (per dropout layer a (G,)
    tensor from :func:`dropout_keys`) switch dropout on (masks from :func:`keep_mask` with ``dropout_rng``).
    ``channels_last``: x is NHWC, so make the weights so. ``conv``: the formulation of the per-model
    convolutions (:data:`asc.training.formulations.FORMULATIONS`, all exact)."""
    batch, g = x.shape[:2]
    conv_fn = fused_conv.CONV[conv]
    for op in ops:
        kind = op[0]
        if kind == "conv":
            x = conv_fn(x, t[f"{op[1]}.weight"], t[f"{op[1]}.bias"], op[2], g, channels_last)
        elif kind == "bn":
            n = op[1]
            x = F.batch_norm(
                x,
                t[f"{n}.running_mean"].view(-1),
                t[f"{n}.running_var"].view(-1),
                t[f"{n}.weight"].reshape(-1),
                t[f"{n}.bias"].reshape(-1),
                training=train,
                momentum=op[3],
                eps=op[2],
            )
            if train:
                t[f"{n}.num_batches_tracked"] += 1
        elif kind == "relu":
            # in place after BN/linear (a fresh tensor), as nn.ReLU(inplace=True): in eval too, where it saved
            # 15 % of a forward's CPU time (120 clips, widths [11, 12, 25]; the same logits bit for bit)
            x = F.relu(x, inplace=True)
        elif kind == "pool":
            x = F.max_pool2d(x, op[1])
        elif kind == "dropout" and keys is not None:
            mask = keep_mask(keys[op[1]], batch, x[0].numel() // g, op[2], dropout_rng)
            x = x * mask.view(x.shape)
        elif kind == "flatten":
            x = x.reshape(batch, g, -1)  # (C, H, W) per model, as nn.Flatten does for one model
        elif kind == "linear":
            x = torch.einsum("bgi,goi->bgo", x, t[f"{op[1]}.weight"]) + t[f"{op[1]}.bias"]
    return x
