"""The DCASE 2024/2025 Task 1 baseline: a simplified CP-Mobile residual network (61,148 parameters).

Source: the task description and baseline README (CPJKU ``dcase2024_task1_baseline`` / ``dcase2025_task1_baseline``:
"61,148 parameters, 29.42 M MACs"; Schmid et al., "Distilling the Knowledge of Transformers and CNNs with
CP-Mobile", DCASE Workshop 2023, for the block design). The reference repository carries no licence: this module
is written from the published description below, not from its code.

Input: asc's (batch, 256 mel, 65 frames) features of a 1-s clip at 32 kHz (conf/features/dcase2024.yaml); a channel
axis is added. Output: (batch, n_classes) logits. ``make_divisible`` rounds widths to multiples of 8
(MobileNet's rule); with base 32, multiplier 1.8 and expansion 2.1 the stage widths are 32, 56, 104.

| module | layers | output (256 × 65 input) | params |
|---|---|---|---:|
| in_c.0 | conv 3×3 /2, 1→8, BN, ReLU | 8 × 128 × 33 | 88 |
| in_c.1 | conv 3×3 /2, 8→32, BN, ReLU | 32 × 64 × 17 | 2,368 |
| stages.s1.b1–b3 | block 32→32 (expanded 64), strides 1, 1, (1, 2) | 32 × 64 × 9 | 3 × 4,992 |
| stages.s2.b4 | block 32→56 (expanded 64), stride (2, 1) | 56 × 32 × 9 | 6,576 |
| stages.s2.b5 | block 56→56 (expanded 120) | 56 × 32 × 9 | 15,112 |
| stages.s3.b6 | block 56→104 (expanded 120) | 104 × 32 × 9 | 20,968 |
| feed_forward | conv 1×1 104→n_classes (no bias), BN, global average pool | n_classes | 1,060 |
| **total** | | | **61,148** |

A block: ``block.0`` 1×1 expand conv → BN → ReLU; ``block.1`` 3×3 depthwise conv (the block's stride) → BN → ReLU;
``block.2`` 1×1 project conv → BN; plus a shortcut when the widths agree (identity, or a 3×3 average pool with
the block's stride, padding 1), then ReLU. Convs carry no bias (BatchNorm follows each).
"""

from __future__ import annotations

import torch
from torch import nn

from asc.nets.efficientat import make_divisible

DEFAULT_STRIDES = {"b2": (1, 1), "b3": (1, 2), "b4": (2, 1)}


def conv_bn(
    c_in: int, c_out: int, kernel: int, stride=1, groups: int = 1, relu: bool = True
) -> nn.Sequential:
    """Conv (no bias, padding (k-1)/2) → BatchNorm → [ReLU]."""
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    ]
    return nn.Sequential(*layers, *([nn.ReLU()] if relu else []))


class Block(nn.Module):
    """Inverted bottleneck with a shortcut when in and out widths agree (see the module docstring)."""

    def __init__(self, c_in: int, c_out: int, expansion_rate: float, stride):
        super().__init__()
        expanded = make_divisible(c_in * expansion_rate)
        self.block = nn.Sequential(
            conv_bn(c_in, expanded, 1),
            conv_bn(expanded, expanded, 3, stride, groups=expanded),
            conv_bn(expanded, c_out, 1, relu=False),
        )
        self.shortcut: nn.Module | None = None
        if c_in == c_out:
            plain = tuple(stride) == (1, 1)
            self.shortcut = nn.Identity() if plain else nn.AvgPool2d(3, stride, padding=1)
        self.after_block_activation = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        if self.shortcut is not None:
            y = y + self.shortcut(x)
        return self.after_block_activation(y)


class Dcase2024Net(nn.Module):
    """Simplified CP-Mobile (the DCASE 2024/2025 Task 1 baseline network). Input (batch, mel, frames)."""

    def __init__(
        self,
        n_classes: int = 10,
        base_channels: int = 32,
        channels_multiplier: float = 1.8,
        expansion_rate: float = 2.1,
        n_blocks=(3, 2, 1),
        strides=None,
    ):
        super().__init__()
        strides = {k: tuple(int(s) for s in v) for k, v in (strides or DEFAULT_STRIDES).items()}
        n_blocks = [int(n) for n in n_blocks]
        base = make_divisible(base_channels)
        widths = [base] + [make_divisible(base * channels_multiplier**i) for i in range(len(n_blocks))]
        self.in_c = nn.Sequential(conv_bn(1, base // 4, 3, 2), conv_bn(base // 4, base, 3, 2))
        self.stages = nn.Sequential()
        count = 0
        for i, n in enumerate(n_blocks):
            stage = nn.Sequential()
            c_in = widths[i]
            for _ in range(n):
                count += 1
                stride = strides.get(f"b{count}", (1, 1))
                stage.add_module(f"b{count}", Block(c_in, widths[i + 1], float(expansion_rate), stride))
                c_in = widths[i + 1]
            self.stages.add_module(f"s{i + 1}", stage)
        self.feed_forward = nn.Sequential(
            nn.Conv2d(widths[-1], int(n_classes), 1, bias=False),
            nn.BatchNorm2d(int(n_classes)),
            nn.AdaptiveAvgPool2d((1, 1)),
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-normal (fan_out) convs, BN weight 1 and bias 0 (the baseline's initialisation)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:
            x = x.unsqueeze(1)
        return self.feed_forward(self.stages(self.in_c(x))).flatten(1)
