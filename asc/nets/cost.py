"""Costs of any zoo network, in the columns the DCASE family's rows carry (asc/nets/complexity.py): ``params_torch``
(``parameters()``), ``params_keras`` (trainable parameters + BatchNorm moving statistics, Keras' count, which the
DCASE memory rules use) and ``macs`` per clip. MACs are ``torch.utils.flop_counter.FlopCounterMode``'s FLOPs // 2
on one (1, mel, frames) input (convolutions, matrix products; no BN, pooling or activations), the general
counterpart of the DCASE family's analytic count. The front end (STFT + mel) is not part of the network and is
reported separately by :func:`front_end_macs`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from asc.nets.complexity import parameter_counts


@torch.no_grad()
def network_macs(model: nn.Module, input_shape: tuple[int, int]) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    param = next(model.parameters())
    with FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, *input_shape, dtype=param.dtype, device=param.device))
    model.train(was_training)
    return int(counter.get_total_flops() // 2)


def complexity(model: nn.Module, input_shape: tuple[int, int]) -> dict[str, int]:
    """{"params_torch", "params_keras", "macs"} of any network on (mel, frames) inputs."""
    return {**parameter_counts(model), "macs": network_macs(model, input_shape)}


def front_end_macs(features: Mapping[str, Any]) -> int:
    """Multiply-accumulates of the front end per clip: per frame, an n_fft-point real FFT (n_fft/2·log2(n_fft)
    complex butterflies ≈ 2·n_fft·log2(n_fft) real MACs, the usual estimate) + the mel projection
    (n_mels × (n_fft/2 + 1)); window multiply included."""
    import math

    n_fft, frames = int(features["n_fft"]), int(features["stats_frames"])
    per_frame = (
        2 * n_fft * math.log2(n_fft)
        + int(features["n_mels"]) * (n_fft // 2 + 1)
        + int(features["win_length"])
    )
    return int(frames * per_frame)


def count(model: nn.Module, cfg: Mapping[str, Any]) -> dict[str, int]:
    """The cost columns of ``model`` in a job of ``cfg``: the DCASE family's analytic count (asc/nets/complexity.py),
    any other network's by :func:`complexity` on the input the model and features configs give."""
    from asc.nets.families import input_shape_of
    from asc.nets.model import BaselineCNN

    if isinstance(model, BaselineCNN):
        from asc.nets.complexity import complexity as dcase_complexity

        return dcase_complexity(model)
    return complexity(model, input_shape_of(cfg["model"], cfg["features"]))
