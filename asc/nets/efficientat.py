"""EfficientAT's MobileNetV3 audio taggers ``mn04`` and ``mn10`` (Schmid, Koutini, Widmer, ICASSP 2023).

Source: fschmid56/EfficientAT (MIT licence), ``models/mn/model.py`` and its README table (mn04: 0.983 M parameters,
0.11 GMACs, 43.2 mAP; mn10: 4.88 M, 0.54 G, 47.1 mAP on AudioSet). The network is torchvision's MobileNetV3-Large
layout (Howard et al., ICCV 2019, Table 1) on a 1-channel log-mel input with a stride-2 first conv, channel
widths scaled by ``width_mult`` (rounded to multiples of 8) and an MLP head (pool → Linear → Hardswish → dropout
→ Linear). Parameter counts, checked in tests: mn04 983,599; mn10 4,876,831 (527 classes).

Layer table (``width_mult`` = 1.0; widths × 0.4 rounded to 8 for mn04), input (batch, 128 mel, 1000 frames):

| block | kernel | expanded | out | SE | act | stride |
|---|---|---|---|---|---|---|
| features.0 (conv) | 3 | – | 16 | | HS | 2 |
| features.1 | 3 | 16 | 16 | | RE | 1 |
| features.2–3 | 3 | 64, 72 | 24 | | RE | 2, 1 |
| features.4–6 | 5 | 72, 120, 120 | 40 | ✓ | RE | 2, 1, 1 |
| features.7–10 | 3 | 240, 200, 184, 184 | 80 | | HS | 2, 1, 1, 1 |
| features.11–12 | 3 | 480, 672 | 112 | ✓ | HS | 1, 1 |
| features.13–15 | 5 | 672, 960, 960 | 160 | ✓ | HS | 2, 1, 1 |
| features.16 (conv 1×1) | 1 | – | 960 | | HS | 1 |
| classifier | pool → Linear 960→1280 → HS → dropout 0.2 → Linear 1280→527 | | | | | |

BatchNorm eps 1e-3, momentum 0.01 (torchvision's MobileNetV3 norm layer). Squeeze-excitation: hidden width
``make_divisible(expanded // 4, 8)``, ReLU, Hardsigmoid; EfficientAT pools the squeeze by ``se_agg`` ("max" in
its ``get_model`` default; torchvision uses "mean"): a constructor argument, no parameters change.
Inputs are asc's (batch, mel, frames) features (a channel axis is added). Returns logits (no sigmoid).
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

# (kernel, expanded, out, use_se, hardswish, stride): MobileNetV3-Large, Howard et al. 2019, Table 1.
LARGE = (
    (3, 16, 16, False, False, 1),
    (3, 64, 24, False, False, 2),
    (3, 72, 24, False, False, 1),
    (5, 72, 40, True, False, 2),
    (5, 120, 40, True, False, 1),
    (5, 120, 40, True, False, 1),
    (3, 240, 80, False, True, 2),
    (3, 200, 80, False, True, 1),
    (3, 184, 80, False, True, 1),
    (3, 184, 80, False, True, 1),
    (3, 480, 112, True, True, 1),
    (3, 672, 112, True, True, 1),
    (5, 672, 160, True, True, 2),
    (5, 960, 160, True, True, 1),
    (5, 960, 160, True, True, 1),
)
SE_AGGS = ("max", "mean")


def make_divisible(v: float, divisor: int = 8) -> int:
    """Round ``v`` to a multiple of ``divisor``, never more than 10 % down (MobileNet's rounding rule)."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def conv_bn_act(
    c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1, act=None
) -> nn.Sequential:
    """Conv (no bias, 'same' padding) → BatchNorm (eps 1e-3, momentum 0.01) → optional activation."""
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out, eps=1e-3, momentum=0.01),
    ]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


class SqueezeExcitation(nn.Module):
    """Channel squeeze-excitation: pool over (mel, time) → Linear → ReLU → Linear → Hardsigmoid → scale."""

    def __init__(self, channels: int, hidden: int, agg: str = "max"):
        super().__init__()
        if agg not in SE_AGGS:
            raise ValueError(f"model.se_agg={agg!r} is not one of {SE_AGGS}")
        self.agg = agg
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.amax(dim=(2, 3)) if self.agg == "max" else x.mean(dim=(2, 3))
        s = nn.functional.hardsigmoid(self.fc2(nn.functional.relu(self.fc1(s))))
        return x * s[:, :, None, None]


class InvertedResidual(nn.Module):
    """Expand 1×1 (when widths differ) → depthwise k×k → [SE] → project 1×1; identity added when shapes match."""

    def __init__(self, c_in, kernel, expanded, c_out, use_se, hardswish, stride, se_agg):
        super().__init__()
        act = nn.Hardswish if hardswish else nn.ReLU
        layers: list[nn.Module] = []
        if expanded != c_in:
            layers.append(conv_bn_act(c_in, expanded, 1, act=act))
        layers.append(conv_bn_act(expanded, expanded, kernel, stride, groups=expanded, act=act))
        if use_se:
            layers.append(SqueezeExcitation(expanded, make_divisible(expanded // 4), se_agg))
        layers.append(conv_bn_act(expanded, c_out, 1))
        self.block = nn.Sequential(*layers)
        self.use_residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.use_residual else y


class MobileNetV3(nn.Module):
    """EfficientAT's MN: ``width_mult`` 0.4 → mn04, 1.0 → mn10. Input (batch, mel, frames); output (batch, n_classes)."""

    def __init__(
        self,
        width_mult: float = 1.0,
        n_classes: int = 527,
        dropout: float = 0.2,
        se_agg: str = "max",
        in_conv_stride: int = 2,
    ):
        super().__init__()
        adjust = partial(lambda c, w: make_divisible(c * w), w=float(width_mult))
        c_in = adjust(16)
        layers: list[nn.Module] = [conv_bn_act(1, c_in, 3, int(in_conv_stride), act=nn.Hardswish)]
        for kernel, expanded, out, use_se, hs, stride in LARGE:
            block = InvertedResidual(c_in, kernel, adjust(expanded), adjust(out), use_se, hs, stride, se_agg)
            layers.append(block)
            c_in = adjust(out)
        last_conv = 6 * c_in
        layers.append(conv_bn_act(c_in, last_conv, 1, act=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        last_channel = adjust(1280)
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(last_conv, last_channel),
            nn.Hardswish(),
            nn.Dropout(float(dropout)),
            nn.Linear(last_channel, int(n_classes)),
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torchvision's MobileNetV3 init: kaiming-normal (fan_out) convs, N(0, 0.01) linears, zero biases."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:
            x = x.unsqueeze(1)
        return self.classifier(self.features(x))


def mn04(**kwargs) -> MobileNetV3:
    """EfficientAT mn04: width 0.4, 983,599 parameters at 527 classes."""
    return MobileNetV3(width_mult=0.4, **kwargs)


def mn10(**kwargs) -> MobileNetV3:
    """EfficientAT mn10: width 1.0, 4,876,831 parameters at 527 classes."""
    return MobileNetV3(width_mult=1.0, **kwargs)
