"""Dependency-graph surgery of a prune config: resolve its layers and ratios on a network's groups
(asc/nets/groups.py), decide one kept set per group with the criterion (asc/prune/group_criteria.py) on the
unpruned weights, then cut the groups in turn. Also the planning-time check of a config against a network.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from asc.nets.groups import Group, Network, asked_for, count_macs, filters
from asc.prune.blocks import for_unit
from asc.prune.options import GRAPH_OPTIONS

_NOT_OPTIONS = ("name", "layers", "per_layer_ratio", "dense_mapping", *GRAPH_OPTIONS)


@dataclass
class Plan:
    """What one prune config does to a network: per group its selected conv names and its ratio (None: the
    criterion decides how many it keeps)."""

    groups: list[Group]
    selected: list[list[str]]
    ratios: list[float | None]


def plan(net: Network, cfg: dict[str, Any]) -> Plan:
    """Resolve ``layers``, ``per_layer_ratio`` and ``ratio`` of a plain prune config on ``net``."""
    chosen = net.resolve(cfg.get("layers") or ["*"], bool(cfg.get("depthwise", False)))
    if not chosen:
        raise ValueError(
            f"prune.layers={cfg.get('layers')} selects only depthwise groups; set prune.depthwise=true"
        )
    name_of = {path: name for name, path in net.convs.items()}
    per_layer = {name_of.get(k, k): v for k, v in (cfg.get("per_layer_ratio") or {}).items()}
    selected_names = {n for names in chosen.values() for n in names}
    stray = sorted(set(per_layer) - selected_names)
    if stray:
        raise ValueError(f"prune.per_layer_ratio names {stray}, which prune.layers does not select")
    groups, selected, ratios = [], [], []
    for gi, names in chosen.items():
        given = {per_layer[n] for n in names if n in per_layer}
        if len(given) > 1:
            raise ValueError(
                f"prune.per_layer_ratio gives group {net.groups[gi].label} (coupled layers lose the same "
                f"channels) different ratios {sorted(given)}; give its layers one ratio"
            )
        groups.append(net.groups[gi])
        selected.append(names)
        ratios.append(given.pop() if given else cfg.get("ratio"))
    return Plan(groups, selected, ratios)


def prune_network(
    model: nn.Module, example_inputs: Any, cfg: dict[str, Any], ignored: Sequence[str] = ()
) -> tuple[nn.Module, dict[str, Any]]:
    """Prune a copy of ``model`` with the plain prune config ``cfg`` (name, layers, ratio, per_layer_ratio, the
    criterion's options); returns (pruned model, info). info: criterion, layers, convs {Cn: path}, groups
    {label: [member names]}, selected {label: the member names prune.layers selects}, kept {member name: kept channels of that layer}, widths {member: kept count},
    history (asc/nets/history.py), select_s {group: s}, params / macs before and after, and the criterion's
    extras by group. The input model is unchanged."""
    from .group_criteria import select_group

    model = copy.deepcopy(model)
    net = Network(model, example_inputs, ignored, asked_for(cfg.get("layers") or [], ignored))
    p = plan(net, cfg)
    opts = {
        k: v
        for k, v in cfg.items()
        if k not in ("name", "layers", "per_layer_ratio", "dense_mapping", "depthwise")
    }
    params0, macs0 = sum(t.numel() for t in model.parameters()), count_macs(model, example_inputs)
    info: dict[str, Any] = {
        "criterion": cfg["name"],
        "ratio": cfg.get("ratio"),
        "layers": list(cfg.get("layers") or ["*"]),
        "convs": net.convs,
    }
    info.update(groups={}, selected={}, kept={}, widths={}, select_s={})
    decisions = []
    reinit = False
    for group, names, ratio in zip(p.groups, p.selected, p.ratios, strict=True):
        start = time.perf_counter()
        sel = select_group(group, cfg["name"], for_unit(dict(opts, ratio=ratio), group.label))
        info["select_s"][group.label] = time.perf_counter() - start
        decisions.append((group, sel))
        reinit = reinit or sel.reinit
        info["groups"][group.label] = [m.name for m in group.members]
        info["selected"][group.label] = list(
            names
        )  # the members prune.layers names (their per_layer_ratio keys)
        for m in group.members:
            info["kept"][m.name] = sorted(int(m.order[k]) for k in sel.kept)
            info["widths"][m.name] = len(sel.kept)
            # the unpruned layer's l1 norms (Fig. 4); closest distances (Fig. 2) are left out: their batched
            # SVD takes minutes on CNN14's wide layers
            info.setdefault("l1_norms", {})[m.name] = filters(m.module).flatten(1).abs().sum(dim=1).tolist()
        for key, value in sel.extras.items():
            info.setdefault(key, {})[group.label] = value
    for group, sel in decisions:  # every decision is taken on the unpruned weights, then the cuts follow
        if sel.mix is not None:
            _mix(group, sel)
        net.prune(group, sel.kept)
    if reinit:
        _reinitialise(model, int(opts.get("seed", 0)))
    info["history"] = net.history()
    info.update(params=[params0, sum(t.numel() for t in model.parameters())])
    info.update(macs=[macs0, count_macs(model, example_inputs)])
    return model, info


@torch.no_grad()
def _mix(group: Group, sel: Any) -> None:
    """``average`` on an uncoupled group: kept filter k becomes Σ_j mix[k, j]·W_j (bias likewise), before the cut."""
    (member,) = group.members
    conv = member.module
    coef = sel.mix.to(conv.weight.dtype)
    rows = member.order[torch.as_tensor(sel.kept)]
    conv.weight[rows] = torch.einsum("kn,n...->k...", coef, conv.weight[member.order])
    if conv.bias is not None:
        conv.bias[rows] = coef @ conv.bias[member.order]


def _reinitialise(model: nn.Module, seed: int) -> None:
    """Fresh weights for every layer (``random``), seeded without touching the caller's RNG stream."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for m in model.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()


def check_config(
    model: nn.Module, example_inputs: Any, cfg: dict[str, Any], ignored: Sequence[str] = ()
) -> list[str]:
    """Everything about a plain prune config that the network decides, before anything is built: the layers and
    ratios resolve (:func:`plan`), the criterion is defined on every selected group, given kept lists fit each
    group. Returns the selected group labels; ValueError in one line otherwise. ``model`` is traced, not changed.
    """
    from .group_criteria import given_kept, refuse_undefined

    p = plan(Network(model, example_inputs, ignored, asked_for(cfg.get("layers") or [], ignored)), cfg)
    for group in p.groups:
        refuse_undefined(group.label, cfg["name"], group.coupled)
        if cfg["name"] == "given":
            given_kept([m.name for m in group.members], group.label, group.channels, cfg)
    return [g.label for g in p.groups]
