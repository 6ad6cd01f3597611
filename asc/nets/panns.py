"""PANNs CNN10, CNN14 and ResNet38 (Kong et al., "PANNs: Large-Scale Pretrained Audio Neural Networks for Audio
Pattern Recognition", IEEE/ACM TASLP 28, 2020), from the layer description of qiuqiangkong/audioset_tagging_cnn
``pytorch/models.py`` (MIT licence); written anew here.

The published models start with a torchlibrosa STFT (n_fft 1024, hop 320, Hann) and log-mel filter bank (64 mels,
50–14,000 Hz, 10·log10) at 32 kHz. That front end is **not** part of these networks: asc computes the same
features with its own front end (conf/features/panns64.yaml), so the networks begin at ``bn0`` (BatchNorm over the
64 mel bins). Loading a PANNs checkpoint (``{'model': state_dict}``) drops the ``spectrogram_extractor.*`` and
``logmel_extractor.*`` constants (:mod:`asc.nets.checkpoint`). SpecAugment and mixup are training recipes, not
layers, and are not built in. The networks return logits (PANNs applies a sigmoid for multi-label tagging).

Published parameter counts (PANNs paper, Table "architectures": front end excluded), checked in tests:
CNN10 5,219,279; CNN14 80,753,615; ResNet38 73,783,247 (527 classes).

CNN14 layer table (input (batch, 64 mel, T frames); 1001 frames per 10-s clip):

| layer | config | output |
|---|---|---|
| bn0 | BatchNorm over 64 mel bins | 1 × T × 64 |
| conv_block1…6 | 2 × (conv 3×3, no bias → BN → ReLU), avg-pool 2×2 (block 6: 1×1), dropout 0.2; widths 64, 128, 256, 512, 1024, 2048 | 2048 × T/32 × 2 |
| pooling | mean over mel, then max + mean over time; dropout 0.5 | 2048 |
| fc1 | Linear 2048→2048, ReLU, dropout 0.5 | 2048 |
| fc_audioset | Linear 2048→527 | 527 |

CNN10: conv_block1…4 (64, 128, 256, 512; block 4 pools 1×1), fc1 512→512. ResNet38: conv_block1 (64) →
ResNet basic-block stages of 3, 4, 6, 3 blocks (64, 128, 256, 512; stages 2–4 start with avg-pool 2×2 and a
pooled 1×1 projection shortcut; dropout 0.1 inside blocks) → avg-pool 2×2 → conv_block_after1 (2048, pool 1×1) →
fc1 2048→2048 → fc_audioset.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _init(module: nn.Module) -> None:
    """PANNs' init: Xavier-uniform conv/linear weights, zero biases, BN weight 1 and bias 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class ConvBlock(nn.Module):
    """conv1 3×3 → bn1 → ReLU → conv2 3×3 → bn2 → ReLU → average pool (``pool``)."""

    def __init__(self, c_in: int, c_out: int, pool: tuple[int, int] = (2, 2)):
        super().__init__()
        self.pool = tuple(pool)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.bn2 = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return F.avg_pool2d(x, self.pool) if self.pool != (1, 1) else x


def _to_panns_layout(x: torch.Tensor) -> torch.Tensor:
    """asc's (batch, mel, frames) → PANNs' (batch, 1, frames, mel)."""
    if x.dim() == 3:
        x = x.unsqueeze(1)
    return x.transpose(2, 3)


def _bn0(bn0: nn.BatchNorm2d, x: torch.Tensor) -> torch.Tensor:
    """BatchNorm over the mel axis of a (batch, 1, frames, mel) tensor."""
    return bn0(x.transpose(1, 3)).transpose(1, 3)


def _clip_head(x: torch.Tensor, fc1: nn.Linear, out: nn.Linear, training: bool) -> torch.Tensor:
    """Mean over mel, max + mean over time, dropout 0.5, ReLU(fc1), dropout 0.5, logits."""
    x = x.mean(dim=3)
    x = x.amax(dim=2) + x.mean(dim=2)
    x = F.dropout(x, 0.5, training)
    x = F.dropout(F.relu(fc1(x)), 0.5, training)
    return out(x)


class Cnn(nn.Module):
    """PANNs' plain CNNs: ``widths`` (64, 128, 256, 512, 1024, 2048) is CNN14, (64, 128, 256, 512) is CNN10.
    Input (batch, n_mels, frames) log-mel; output (batch, n_classes) logits."""

    def __init__(self, widths=(64, 128, 256, 512, 1024, 2048), n_classes: int = 527, n_mels: int = 64):
        super().__init__()
        widths = [int(w) for w in widths]
        self.bn0 = nn.BatchNorm2d(int(n_mels))
        c_in = 1
        for i, w in enumerate(widths):
            pool = (1, 1) if i == len(widths) - 1 else (2, 2)
            self.add_module(f"conv_block{i + 1}", ConvBlock(c_in, w, pool))
            c_in = w
        self.n_blocks = len(widths)
        self.fc1 = nn.Linear(c_in, c_in)
        self.fc_audioset = nn.Linear(c_in, int(n_classes))
        _init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _bn0(self.bn0, _to_panns_layout(x))
        for i in range(self.n_blocks):
            x = F.dropout(getattr(self, f"conv_block{i + 1}")(x), 0.2, self.training)
        return _clip_head(x, self.fc1, self.fc_audioset, self.training)


def cnn14(**kwargs) -> Cnn:
    """PANNs CNN14: 80,753,615 parameters at 527 classes."""
    return Cnn(**{"widths": (64, 128, 256, 512, 1024, 2048), **kwargs})


def cnn10(**kwargs) -> Cnn:
    """PANNs CNN10: 5,219,279 parameters at 527 classes."""
    return Cnn(**{"widths": (64, 128, 256, 512), **kwargs})


class BasicBlock(nn.Module):
    """PANNs' ResNet basic block: [avg-pool 2×2 if stride 2] → conv 3×3 → BN → ReLU → dropout 0.1 → conv 3×3 → BN,
    plus the shortcut (identity, or [avg-pool 2×2] → conv 1×1 → BN), → ReLU."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.stride = stride
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample: nn.Module | None = None
        if stride != 1 or c_in != c_out:
            proj = [nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out)]
            self.downsample = nn.Sequential(*([nn.AvgPool2d(2)] if stride == 2 else []), *proj)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.avg_pool2d(x, 2) if self.stride == 2 else x
        out = F.relu(self.bn1(self.conv1(out)))
        out = self.bn2(self.conv2(F.dropout(out, 0.1, self.training)))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)


class ResNet38(nn.Module):
    """PANNs ResNet38 (73,783,247 parameters at 527 classes). ``widths`` are the four stage widths; ``blocks``
    the blocks per stage; ``head`` the width of conv_block_after1 and fc1."""

    def __init__(
        self, widths=(64, 128, 256, 512), blocks=(3, 4, 6, 3), head: int = 2048, n_classes=527, n_mels=64
    ):
        super().__init__()
        widths, blocks = [int(w) for w in widths], [int(b) for b in blocks]
        self.bn0 = nn.BatchNorm2d(int(n_mels))
        self.conv_block1 = ConvBlock(1, widths[0])
        self.resnet = nn.Module()  # keys resnet.layer1… as in PANNs' checkpoints
        c_in = widths[0]
        for i, (w, n) in enumerate(zip(widths, blocks, strict=True)):
            first = BasicBlock(c_in, w, 1 if i == 0 else 2)
            stage = nn.Sequential(first, *[BasicBlock(w, w) for _ in range(n - 1)])
            self.resnet.add_module(f"layer{i + 1}", stage)
            c_in = w
        self.conv_block_after1 = ConvBlock(c_in, int(head), (1, 1))
        self.fc1 = nn.Linear(int(head), int(head))
        self.fc_audioset = nn.Linear(int(head), int(n_classes))
        _init(self)
        for m in self.modules():  # PANNs: zero-init the last BN of each residual branch
            if isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _bn0(self.bn0, _to_panns_layout(x))
        x = F.dropout(self.conv_block1(x), 0.2, self.training)
        for stage in self.resnet.children():
            x = stage(x)
        x = F.dropout(F.avg_pool2d(x, 2), 0.2, self.training)
        x = F.dropout(self.conv_block_after1(x), 0.2, self.training)
        return _clip_head(x, self.fc1, self.fc_audioset, self.training)
