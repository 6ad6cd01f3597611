"""BatchNorm recalibration ("precise BN"): recompute every BatchNorm layer's running mean and variance as a plain
average over training batches, with the weights frozen, before each evaluation on the selection split.

Why: networks whose BatchNorm keeps a slow running average (momentum 0.01: EfficientAT's MobileNetV3, as
torchvision's; Keras' default 0.99, i.e. the DCASE baselines) trained for few optimiser steps evaluate with
running statistics that still lag far behind the weights (on the demo, ~76 batches an epoch), and the eval-mode
network collapses to one class. Recomputing the statistics with the final weights removes that lag: Wu & Johnson,
"Rethinking 'Batch' in BatchNorm" (2021), Sec. 3 (PreciseBN; fvcore ``update_bn_stats``); Li et al.,
"EagleEye: Fast Sub-net Evaluation for Efficient Neural Network Pruning" (ECCV 2020, adaptive BN) for pruned
networks; Izmailov et al. 2018 (SWA) for the same pass, ``torch.optim.swa_utils.update_bn``, which this uses.

Config: ``train.bn_recalibration`` / ``finetune.bn_recalibration`` = the number of training batches of the epoch
(its first ones, in the epoch's shuffled order: no extra random draws, so the trained weights are the same as
without it; the RNG of dropout in the pass is forked) averaged before each epoch's selection evaluation, so the
kept epoch and the kept running statistics are recalibrated ones. 0 (the default, the published recipes): the
running averages as trained. Keyed only when > 0 (existing artifact keys stay). Supported where networks train
one by one (:mod:`asc.training.train_plain`: the zoo's families); the fused trainer keeps its running averages, so a
fusable family refuses it at planning.

The running variance is torch's: the mean over batches of each batch's unbiased variance (PreciseBN's
estimate; with one batch of all clips, the data's variance). The planning part is torch-free.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from asc.core.errors import ConfigError

KEY = "bn_recalibration"
DEFAULT = 0  # off: the published recipes' running averages


def batches(stage_cfg: Mapping[str, Any]) -> int:
    """The stage config's number of recalibration batches (absent: 0)."""
    return int(stage_cfg.get(KEY, DEFAULT) or 0)


def keyed(stage_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """``{bn_recalibration: n}`` when on, else nothing: the key of a recipe that does not recalibrate is unchanged."""
    n = batches(stage_cfg)
    return {KEY: n} if n != DEFAULT else {}


def check(prefix: str, stage_cfg: Mapping[str, Any], *, fused: bool, trainer: str) -> None:
    """ConfigError in one line when ``<prefix>.bn_recalibration`` is not an integer >= 0, or is on where the
    stage trains ``fused`` (``trainer`` names who: e.g. ``model=dcase21``)."""
    value = stage_cfg.get(KEY, DEFAULT)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(
            f"{prefix}.{KEY}={value!r} is not valid: expected an integer >= 0 (training batches; 0 = off)"
        )
    if value and fused:
        raise ConfigError(
            f"{prefix}.{KEY}={value}: {trainer} trains fused (asc/training/fused.py), which keeps BatchNorm's running "
            f"averages; set {prefix}.{KEY}=0"
        )


def recalibrate(model: Any, x: Any, positions: Any, *, batch_size: int, device: Any = "cpu") -> None:
    """Recompute ``model``'s BatchNorm running statistics over the clips ``x[positions]`` (x: (N, mel, frames)
    features, positions: long tensor) in batches of ``batch_size``, in train mode, without gradients, with
    ``torch.optim.swa_utils.update_bn``; the model's mode, momenta and the global RNG state (dropout) are left
    as they were. A model without BatchNorm is not changed."""
    import torch
    from torch.optim.swa_utils import update_bn

    device = torch.device(device)
    loader = (x[positions[i : i + batch_size]] for i in range(0, len(positions), batch_size))
    cuda = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda), torch.no_grad():
        update_bn(loader, model, device=device)
