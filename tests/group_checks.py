"""Helpers of the dependency-graph pruning tests: randomised BN statistics and the mask-equivalence check."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


@torch.no_grad()
def randomise(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random BN statistics and affine terms, random conv/dense biases, eval mode: a non-vacuous equivalence."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen) * 0.5)
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            if m.affine:
                m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(n, generator=gen) * 0.5)
        elif isinstance(m, nn.modules.conv._ConvNd | nn.Linear) and m.bias is not None:
            m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
    return model.eval()


def _module(model: nn.Module, path: str) -> nn.Module:
    return model.get_submodule(path)


def masked_output(model: nn.Module, x: torch.Tensor, history: list[Any]) -> torch.Tensor:
    """The unpruned ``model``'s output with every channel the ``history`` removes zeroed after its BatchNorm
    (or at the conv's output when no BatchNorm follows it: BN-free nets)."""
    import torch_pruning as tp

    model = copy.deepcopy(model)
    graph = tp.DependencyGraph().build_dependency(model, x, verbose=False)
    zero: dict[nn.Module, set[int]] = {}
    for path, is_out, idxs in history:
        assert is_out
        root = _module(model, path)
        handler = graph.get_pruner_of_module(root).prune_out_channels
        for item in graph.get_pruning_group(root, handler, list(idxs)):
            module = item.dep.target.module
            if not graph.is_out_channel_pruning_fn(item.dep.handler) or not isinstance(module, nn.Module):
                continue
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                zero.setdefault(module, set()).update(int(i) for i in item.idxs)
            elif isinstance(module, nn.modules.conv._ConvNd | nn.Linear):
                node = graph.module2node[module]
                followed = any(isinstance(o.module, nn.modules.batchnorm._BatchNorm) for o in node.outputs)
                if not followed:
                    zero.setdefault(module, set()).update(int(i) for i in item.idxs)

    def hook(idx: list[int]):
        def fn(module: nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor:
            output = output.clone()
            output[:, idx] = 0
            return output

        return fn

    for module, idx in zero.items():
        module.register_forward_hook(hook(sorted(idx)))
    with torch.no_grad():
        return model(x)
