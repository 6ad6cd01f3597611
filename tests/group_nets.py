"""Small test stand-ins for networks whose layers are coupled (not networks of the zoo): a residual net with
BatchNorm, a depthwise-separable (inverted-residual) block and a BN-free VGG-like net. CPU-sized widths."""

from __future__ import annotations

import torch
from torch import nn


class ResidualNet(nn.Module):
    """stem conv → two residual blocks (the second with a 1×1 projection shortcut) → pool → head.
    The stem, block1's second conv and nothing else share the first residual stream: one coupled group."""

    def __init__(self, n_classes: int = 5):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.b1a = nn.Sequential(nn.Conv2d(8, 12, 3, padding=1, bias=False), nn.BatchNorm2d(12), nn.ReLU())
        self.b1b = nn.Sequential(nn.Conv2d(12, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8))
        self.b2a = nn.Sequential(
            nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU()
        )
        self.b2b = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16))
        self.short = nn.Sequential(nn.Conv2d(8, 16, 1, stride=2, bias=False), nn.BatchNorm2d(16))
        self.head = nn.Linear(16, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = torch.relu(x + self.b1b(self.b1a(x)))
        x = torch.relu(self.short(x) + self.b2b(self.b2a(x)))
        return self.head(x.mean(dim=(2, 3)))


class DepthwiseNet(nn.Module):
    """stem → inverted residual (1×1 expand → depthwise 3×3 → 1×1 project, residual add) → 1×1 conv → head."""

    def __init__(self, n_classes: int = 5):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.expand = nn.Sequential(nn.Conv2d(8, 16, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.dw = nn.Sequential(
            nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False), nn.BatchNorm2d(16), nn.ReLU()
        )
        self.project = nn.Sequential(nn.Conv2d(16, 8, 1, bias=False), nn.BatchNorm2d(8))
        self.last = nn.Sequential(nn.Conv2d(8, 12, 1, bias=False), nn.BatchNorm2d(12), nn.ReLU())
        self.head = nn.Linear(12, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = x + self.project(self.dw(self.expand(x)))
        return self.head(self.last(x).mean(dim=(2, 3)))


class PlainVGG(nn.Module):
    """VGG-like, no BatchNorm: conv-ReLU ×4 with pools, flatten → dense → dense (the VGGish_Net layout, small)."""

    def __init__(self, n_classes: int = 5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 12, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(12, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.fc1 = nn.Linear(16 * 2 * 2, 24)
        self.out = nn.Linear(24, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.features(x), 1)
        return self.out(torch.relu(self.fc1(x)))
