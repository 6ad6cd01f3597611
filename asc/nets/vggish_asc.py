"""The authors' Keras "VGGish_Net" for acoustic scene classification (Singh & Plumbley: Nyström similarity
pruning, ICASSP 2023; operator-norm pruning, TASLP), re-expressed in PyTorch.

Source: Efficient_similarity_Pruning_Algo/Fine_tuning_VGGish_Net.py and
Efficient_CNNs_passive_filter_pruning/VGGish_pruning_finetuning.py (reference/networks.md §1.1): 96×64 log-mel
patches (0.96 s at 10 ms hops × 64 mel bands), no BatchNorm. 55,361,162 parameters (checked in tests),
847.1 M MACs per patch.

| layer (Keras name) | config | output (96 frames × 64 mel) | params |
|---|---|---|---:|
| conv1 (conv1) | 64, 3×3, same, ReLU | 64 × 96 × 64 | 640 |
| pool1 | max 2×2 | 48 × 32 | |
| conv2 (conv2) | 128, 3×3 | 128 × 48 × 32 | 73,856 |
| pool2 | | 24 × 16 | |
| conv3_1, conv3_2 (conv3/conv3_1, conv3/conv3_2) | 256, 256 | 24 × 16 | 295,168 + 590,080 |
| pool3 | | 12 × 8 | |
| conv4_1, conv4_2 (conv4/conv4_1, conv4/conv4_2) | 512, 512 | 12 × 8 | 1,180,160 + 2,359,808 |
| pool4 | | 512 × 6 × 4 | |
| fc1 (vggish_fc1/fc1_1) | flatten 12,288 → 4096, ReLU | | 50,335,744 |
| fc2 (vggish_dense2) | 4096 → 128, ReLU | | 524,416 |
| out (vggish_out) | 128 → 10 | | 1,290 |

The convs work on (frames, mel) as the Keras model does (its input is 96 × 64 × 1), so a kept Keras weight maps
one to one; torch flattens channel-major (c·24 + h·4 + w) where Keras flattens channels-last ((h·4 + w)·512 + c):
:mod:`asc.nets.checkpoint` reorders fc1's rows when reading the ``.h5``.

Clip-level decision (the authors' scripts): a clip is cut into ``patch_frames``-frame patches every
``patch_hop`` frames and its score is the sum of the patches' softmaxes. ``forward`` on a (batch, 64, frames)
input returns log(mean patch softmax) (one patch: its log-softmax), whose argmax is that decision. The authors
trained on patches with the clip's label: ``train.examples=patches`` (asc/training/patch_examples.py, the family's
``patches`` geometry; experiment=nystrom_vggish sets it); ``clips`` trains the clip-level output directly.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

CONVS = ("conv1", "conv2", "conv3_1", "conv3_2", "conv4_1", "conv4_2")
POOL_AFTER = ("conv1", "conv2", "conv3_2", "conv4_2")


class VGGishASC(nn.Module):
    """Input (batch, n_mels, frames) with frames ≥ ``patch_frames``; output (batch, n_classes) logits."""

    def __init__(
        self,
        widths=(64, 128, 256, 256, 512, 512),
        dense=(4096, 128),
        n_classes: int = 10,
        n_mels: int = 64,
        patch_frames: int = 96,
        patch_hop: int = 48,
    ):
        super().__init__()
        widths, dense = [int(w) for w in widths], [int(d) for d in dense]
        if len(widths) != len(CONVS) or len(dense) != 2:
            raise ValueError(
                f"model.widths needs {len(CONVS)} entries and model.dense 2, got {widths}, {dense}"
            )
        self.patch_frames, self.patch_hop = int(patch_frames), int(patch_hop)
        c_in = 1
        for name, w in zip(CONVS, widths, strict=True):
            self.add_module(name, nn.Conv2d(c_in, w, 3, padding=1))
            c_in = w
        rows, cols = self.patch_frames // 16, int(n_mels) // 16
        if rows < 1 or cols < 1:
            raise ValueError(f"four 2×2 pools shrink a {self.patch_frames} × {n_mels} patch to nothing")
        self.fc1 = nn.Linear(c_in * rows * cols, dense[0])
        self.fc2 = nn.Linear(dense[0], dense[1])
        self.out = nn.Linear(dense[1], int(n_classes))
        for m in self.modules():  # Keras defaults: Glorot-uniform kernels, zero biases
            if isinstance(m, nn.Conv2d | nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def patch_logits(self, x: torch.Tensor) -> torch.Tensor:
        """(patches, 1, patch_frames, n_mels) → (patches, n_classes)."""
        for name in CONVS:
            x = F.relu(getattr(self, name)(x))
            if name in POOL_AFTER:
                x = F.max_pool2d(x, 2)
        x = F.relu(self.fc1(x.flatten(1)))
        return self.out(F.relu(self.fc2(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            x = x.squeeze(1)
        batch, frames = x.shape[0], x.shape[2]
        if frames < self.patch_frames:
            raise ValueError(f"input has {frames} frames; VGGish_Net needs at least {self.patch_frames}")
        patches = x.transpose(1, 2).unfold(1, self.patch_frames, self.patch_hop)  # (b, P, mel, patch)
        n = patches.shape[1]
        logits = self.patch_logits(patches.permute(0, 1, 3, 2).reshape(batch * n, 1, self.patch_frames, -1))
        # log(mean patch softmax) as log-sum-exp of the log-softmaxes − log n: one formula for any number of
        # patches (no branch a trace would freeze: the ONNX file works at every batch size, one patch or many)
        log_probs = logits.log_softmax(-1).view(batch, n, -1)
        return torch.logsumexp(log_probs, 1) - math.log(n)
