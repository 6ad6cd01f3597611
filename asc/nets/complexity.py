"""Parameter and MAC counts of a (possibly pruned) BaselineCNN.

MACs are multiply-accumulates per clip of conv and dense layers only (no BN, bias, pooling), measured from the
real output shapes of one forward pass on a dummy input of ``model.spec["input_shape"]`` — so any widths, kernel
or pools are counted correctly. The unpruned DCASE 2021 baseline gives 46,246 params (Keras count, which includes
BN moving mean/variance), 46,118 (PyTorch ``parameters()``) and 286,637,800 MACs.

The paper's MAC percentages instead subtract only the removed filters' own convolution work and ignore that the
next layer now sees fewer input channels; :func:`paper_macs` reproduces that convention for comparison.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn


@torch.no_grad()
def layer_macs(model: nn.Module) -> dict[str, int]:
    """MACs per conv/dense module (keyed by module name) for one clip, from forward hooks."""
    counts: dict[str, int] = {}

    def hook(name: str):
        def record(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            per_batch = output.numel() // output.shape[0]
            if isinstance(module, nn.Conv2d):
                kh, kw = module.kernel_size
                counts[name] = per_batch * (module.in_channels // module.groups) * kh * kw
            else:
                counts[name] = per_batch * module.in_features

        return record

    handles = [
        m.register_forward_hook(hook(name))
        for name, m in model.named_modules()
        if isinstance(m, nn.Conv2d | nn.Linear)
    ]
    was_training = model.training
    try:
        model.eval()  # BN uses running stats and dropout is off: no state changes from the dummy pass
        param = next(model.parameters())
        model(torch.zeros(1, 1, *model.spec["input_shape"], dtype=param.dtype, device=param.device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return counts


def parameter_counts(model: nn.Module) -> dict[str, int]:
    """{"params_torch", "params_keras"} of any network: torch's parameters, and Keras' count (trainable
    parameters plus BatchNorm's moving mean and variance, which Keras lists as non-trainable weights)."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    bn_stats = sum(
        m.running_mean.numel() + m.running_var.numel()
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    )
    return {
        "params_torch": int(sum(p.numel() for p in model.parameters())),
        "params_keras": int(trainable + bn_stats),
    }


def complexity(model: nn.Module) -> dict[str, int]:
    """{"params_torch", "params_keras", "macs"} of ``model`` (see module docstring)."""
    return {**parameter_counts(model), "macs": int(sum(layer_macs(model).values()))}


def paper_macs(full_model: nn.Module, kept: Mapping[str, Sequence[int]]) -> int:
    """MACs by the paper's convention: the full model's MACs minus, for each conv, the removed filters' share of
    that conv's own work (removed / n of its MACs). Layers missing from ``kept`` lose nothing."""
    convs: dict[str, nn.Conv2d] = full_model.convs()
    unknown = sorted(set(kept) - set(convs))
    if unknown:
        raise ValueError(f"unknown conv layer(s) {unknown}; valid ones: {', '.join(convs)}")
    per_module = layer_macs(full_model)
    module_name = {id(m): name for name, m in full_model.named_modules()}
    removed = 0
    for layer, idx in kept.items():
        conv = convs[layer]
        n_removed = conv.out_channels - len(set(idx))
        removed += per_module[module_name[id(conv)]] // conv.out_channels * n_removed
    return int(sum(per_module.values()) - removed)
