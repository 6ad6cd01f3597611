"""Physical filter removal: a pruned network is the same builder called with smaller widths.

Removing filter i of a conv removes its out-channel (weight, bias), the matching BatchNorm entries (γ, β, running
mean and variance), the matching input channel of the next conv and, after the last conv, the first dense layer's
input columns that the flatten maps to channel i. PyTorch flattens NCHW, so with an H×W final map channel c owns
columns c·H·W … (c+1)·H·W − 1 (for the baseline's 2×1 map, columns 2c and 2c+1).

The walk is generic over ``model.features`` (any number of conv → BN → … blocks) and ``model.classifier``;
parameter-free modules (ReLU, pooling, dropout, flatten) need no surgery.

``dense_mapping="authors"`` reproduces the authors' Keras code instead (passive-filter-pruning-Interspeech22,
Fine-tuning.py: ``W[18][w_f, :]`` with ``w_f = [2c, 2c+1 for c in kept]``): it treats Keras' channels-last
Flatten as if it were channel-major. In Keras order (h, w, c) row r belongs to channel r mod C at position
r div C, so their pruned kernel row p = hw·k + t (k-th kept channel, t < hw) is the old row hw·kept[k] + t, and in
the pruned Keras net row p multiplies channel p mod K at position p div K. :func:`dense_columns` translates
that into our channel-major columns, so the pruned model computes what their pruned Keras model computes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from asc.nets.model import BaselineCNN, build_model

DENSE_MAPPINGS = ("correct", "authors")


def dense_columns(kept: torch.Tensor, channels: int, hw: int, mapping: str = "correct") -> torch.Tensor:
    """Columns of the first dense layer (NCHW flatten: channel c owns c·hw … c·hw + hw − 1) that the pruned
    layer keeps, in the pruned layer's column order; ``kept`` are the kept channels of the last conv, ascending.

    correct: every column of each kept channel. authors: the authors' Keras row choice (module docstring).
    """
    kept = torch.as_tensor(kept, dtype=torch.long)
    if mapping == "correct":
        return (kept[:, None] * hw + torch.arange(hw)).flatten()
    if mapping != "authors":
        raise ValueError(f"prune.dense_mapping={mapping!r} is not one of {', '.join(DENSE_MAPPINGS)}")
    k = len(kept)
    new_k, new_s = torch.arange(k)[:, None], torch.arange(hw)[None, :]  # new column new_k·hw + new_s
    p = new_s * k + new_k  # its Keras row in the pruned net (position new_s, channel new_k)
    r = kept[p // hw] * hw + p % hw  # the old Keras row their w_f puts there
    return ((r % channels) * hw + r // channels).flatten()  # that old row as our NCHW column


def _check_kept(model: BaselineCNN, kept: Mapping[str, Sequence[int]]) -> dict[str, torch.Tensor]:
    """Kept indices for every conv (missing layers keep all), validated and sorted ascending."""
    convs = model.convs()
    unknown = sorted(set(kept) - set(convs))
    if unknown:
        raise ValueError(f"unknown conv layer(s) {unknown}; valid ones: {', '.join(convs)}")
    out = {}
    for name, conv in convs.items():
        idx = sorted({int(i) for i in kept.get(name, range(conv.out_channels))})
        if not idx:
            raise ValueError(f"layer {name}: at least one filter must be kept")
        if idx[0] < 0 or idx[-1] >= conv.out_channels:
            raise ValueError(f"layer {name}: kept indices must lie in [0, {conv.out_channels}), got {idx}")
        out[name] = torch.tensor(idx, dtype=torch.long)
    return out


@torch.no_grad()
def prune_filters(
    model: BaselineCNN,
    kept: Mapping[str, Sequence[int]],
    mix: Mapping[str, torch.Tensor] | None = None,
    *,
    dense_mapping: str = "correct",
) -> BaselineCNN:
    """Return a new, smaller model keeping ``kept[name]`` filters of each conv (all filters of layers not named).

    ``mix[name]`` (len(kept) × n, optional) replaces the kept filters by linear combinations of the layer's
    original filters — the ``average`` criterion; the conv bias is combined the same way, BN entries are those of
    the kept channels. ``dense_mapping``: which first-dense columns follow the last conv's kept channels,
    ``correct`` (default) or ``authors`` (their Keras code's choice, see the module docstring). The input model
    is not modified; the result has the same train/eval mode.
    """
    if dense_mapping not in DENSE_MAPPINGS:
        raise ValueError(f"prune.dense_mapping={dense_mapping!r} is not one of {', '.join(DENSE_MAPPINGS)}")
    keep = _check_kept(model, kept)
    mix = dict(mix or {})
    spec = dict(model.spec, widths=[len(idx) for idx in keep.values()])
    with torch.random.fork_rng(devices=[]):  # its init is overwritten below; don't consume the caller's RNG
        new = build_model(spec)
    names = iter(keep)
    prev: torch.Tensor | None = None  # kept out-channels of the last conv seen = input channels of the next

    for old_m, new_m in zip(model.features, new.features, strict=True):
        if isinstance(old_m, nn.Conv2d):
            name = next(names)
            _copy_conv(old_m, new_m, keep[name], prev, mix.get(name), name)
            prev = keep[name]
        elif isinstance(old_m, nn.BatchNorm2d):
            for key in ("weight", "bias", "running_mean", "running_var"):
                getattr(new_m, key).copy_(getattr(old_m, key)[prev])
            new_m.num_batches_tracked.copy_(old_m.num_batches_tracked)
        elif any(True for _ in old_m.parameters()):
            raise TypeError(f"surgery does not know how to prune a {type(old_m).__name__} inside features")
    _copy_classifier(model, new, prev, dense_mapping)
    return new.train(model.training)


def _copy_conv(
    old_m: nn.Conv2d, new_m: nn.Conv2d, out_idx: Sequence[int], prev: Sequence[int] | None, coef, name: str
) -> None:
    """Copy into ``new_m`` the kept filters ``out_idx`` of ``old_m`` over the kept input channels ``prev`` (None:
    all, the first conv), or with ``coef`` (len(out_idx) × n) their linear combinations, bias alike."""
    weight = old_m.weight if prev is None else old_m.weight[:, prev]
    bias = old_m.bias
    if coef is not None:
        coef = coef.to(weight.dtype)
        if coef.shape != (len(out_idx), old_m.out_channels):
            raise ValueError(
                f"layer {name}: mix has shape {tuple(coef.shape)}, expected ({len(out_idx)}, {old_m.out_channels})"
            )
        weight = torch.einsum("kn,nchw->kchw", coef, weight)
        bias = None if bias is None else coef @ bias
    else:
        weight = weight[out_idx]
        bias = None if bias is None else bias[out_idx]
    new_m.weight.copy_(weight)
    if bias is not None:
        new_m.bias.copy_(bias)


def _copy_classifier(model: BaselineCNN, new: BaselineCNN, prev: Sequence[int], dense_mapping: str) -> None:
    """Copy the classifier: the first dense layer's columns that follow the last conv's kept channels ``prev``
    (:func:`dense_columns` under ``dense_mapping``), every later layer whole."""
    first_dense = True
    for old_m, new_m in zip(model.classifier, new.classifier, strict=True):
        if isinstance(old_m, nn.Linear) and first_dense:
            first_dense = False
            last_width = list(model.convs().values())[-1].out_channels
            hw = old_m.in_features // last_width  # H·W of the final feature map
            cols = dense_columns(prev, last_width, hw, dense_mapping)
            new_m.weight.copy_(old_m.weight[:, cols])
            new_m.bias.copy_(old_m.bias)
        else:
            new_m.load_state_dict(old_m.state_dict())
