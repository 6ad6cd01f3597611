"""Pruning a network with a criterion: the DCASE family by its exact hand surgery (:func:`prune_model`), any other
network by dependency-graph surgery (:func:`prune_any`). Importing this module registers every criterion.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from asc.nets.model import BaselineCNN
from asc.prune import given, norms, nystrom  # noqa: F401  (importing registers their criteria)
from asc.prune import representatives as rep
from asc.prune.blocks import for_unit
from asc.prune.criteria import lookup
from asc.prune.surgery import prune_filters

__all__ = ["prune_any", "prune_model"]

# Keys of the config that are not passed on to the criterion function. ``layer`` is reserved: prune_model sets
# it per layer, so criteria with per-layer options (nystrom landmarks, given kept) can look theirs up.
_STRUCTURAL = ("name", "layers", "per_layer_ratio", "dense_mapping", "layer")


def _plain(value: Any) -> Any:
    """DictConfig/ListConfig or any mapping/sequence → plain dicts and lists (no Hydra import needed)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [_plain(v) for v in value]
    return value


def _selected_layers(cfg: Mapping[str, Any], valid: list[str]) -> list[str]:
    layers = cfg.get("layers", valid)
    layers = [layers] if isinstance(layers, str) else list(layers)
    unknown = [name for name in layers if name not in valid]
    if unknown or not layers:
        raise ValueError(
            f"prune.layers={layers} names unknown layer(s) {unknown}; valid ones: {', '.join(valid)}"
        )
    return [name for name in valid if name in layers]  # forward order, duplicates dropped


def prune_model(model: BaselineCNN, cfg: Mapping[str, Any]) -> tuple[BaselineCNN, dict[str, Any]]:
    """Prune ``cfg["layers"]`` of ``model`` with criterion ``cfg["name"]``; returns (new smaller model, info).

    info (plain, JSON-able data):
      criterion, layers            — as requested (layers in forward order)
      kept        {conv: [idx]}    — every conv; unpruned layers keep all filters
      widths      [int]            — channel widths of the pruned model
      closest_distance {conv: [d]} — cosine distance of each filter to its closest other filter (Fig. 2)
      l1_norms    {conv: [float]}  — Σ|W_i| of each filter (Fig. 4)
      select_s    {conv: seconds}  — wall time of the criterion on that layer (pruned layers only)
      plus criterion extras keyed by name, each {conv: value} for the pruned layers, e.g. similarity_s;
      nystrom: nystrom_error, nystrom_m, nystrom_landmarks, kept_equals_exact, exact_similarity_s,
      nystrom_speedup; centrality: centrality; operator_norm, gm: score.
    ``cfg["dense_mapping"]`` (default correct) goes to the surgery; it is also recorded in info.
    The input model is left unchanged.
    """
    cfg = _plain(cfg)
    name = cfg.get("name")
    criterion = lookup(name)
    convs = model.convs()
    layers = _selected_layers(cfg, list(convs))
    per_layer = cfg.get("per_layer_ratio") or {}
    stray = sorted(set(per_layer) - set(layers))
    if stray:
        raise ValueError(f"prune.per_layer_ratio names {stray}, which are not in prune.layers={layers}")
    opts = {k: v for k, v in cfg.items() if k not in _STRUCTURAL}

    info: dict[str, Any] = {
        "criterion": name,
        "ratio": cfg.get("ratio"),
        "layers": layers,
        "kept": {},
        "closest_distance": {},
        "l1_norms": {},
    }
    info["select_s"] = {}
    mixes: dict[str, torch.Tensor] = {}
    reinit = False
    for layer, conv in convs.items():
        weight = conv.weight.detach()
        info["closest_distance"][layer] = rep.closest_distance(weight).tolist()
        info["l1_norms"][layer] = weight.flatten(1).abs().sum(dim=1).tolist()
        if layer not in layers:
            info["kept"][layer] = list(range(conv.out_channels))
            continue
        ratio = {"ratio": per_layer[layer]} if layer in per_layer else {}
        sel = _select(criterion, weight, for_unit(dict(opts, layer=layer, **ratio), layer), info)
        if sel.mix is not None:
            mixes[layer] = sel.mix
        reinit = reinit or sel.reinit

    pruned = prune_filters(model, info["kept"], mixes, dense_mapping=cfg.get("dense_mapping") or "correct")
    if reinit:
        # Seeded without disturbing the caller's global RNG stream.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(opts.get("seed", 0)))
            pruned.reset_parameters()
    info["widths"] = list(pruned.spec["widths"])
    info["dense_mapping"] = cfg.get("dense_mapping") or "correct"
    return pruned, info


def _select(criterion: Any, weight: torch.Tensor, layer_opts: dict[str, Any], info: dict[str, Any]) -> Any:
    """Run ``criterion`` on one layer's ``weight`` (C_out, C_in, kh, kw) with ``layer_opts`` (its ``layer`` and
    ratio) and record in ``info`` its wall time, kept filters and extras; returns the selection. RuntimeError
    when it keeps no filter (the surgery needs at least one)."""
    layer = layer_opts["layer"]
    start = time.perf_counter()
    sel = criterion(weight, layer_opts)
    info["select_s"][layer] = time.perf_counter() - start
    if not sel.kept:
        raise RuntimeError(f"criterion {info['criterion']!r} kept no filter of {layer}")  # surgery needs ≥ 1
    info["kept"][layer] = [int(i) for i in sel.kept]
    for key, value in sel.extras.items():
        info.setdefault(key, {})[layer] = value
    return sel


def prune_any(
    model: torch.nn.Module, cfg: Mapping[str, Any], family: Any, example_inputs: Any = None
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Prune ``model`` of ``family`` (an asc.nets Family) with the prune config ``cfg``: the family's exact hand
    surgery when it declares ``exact_surgery`` (the DCASE family: :func:`prune_model`, its numbers and keys
    unchanged), else dependency-graph surgery (asc/nets/groups.py) traced on ``example_inputs`` with the
    family's ``ignored`` layers never pruned. Returns (pruned model, info)."""
    if family.exact_surgery:
        return prune_model(model, cfg)
    from .group_surgery import prune_network

    return prune_network(model, example_inputs, _plain(cfg), tuple(family.ignored))
