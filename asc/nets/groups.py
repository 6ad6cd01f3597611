"""Dependency-graph surgery: prune the coupled layers of any ``nn.Module`` (Torch-Pruning's dependency graph).

A residual addition, a depthwise conv or a shared output couples layers: removing channel i of one forces the
same removal in the others. Torch-Pruning (Fang et al., CVPR 2023; ``torch-pruning`` 1.6, the ``prune`` extra)
traces the network on example inputs and returns, for every conv, the *group* of layers one channel removal
touches (out-channels of convs and BatchNorms, in-channels of the layers that read them, flatten columns of a
dense layer). Here:

- A **member** of a group is a layer whose *out*-channels the group removes and that has filters (a conv or a
  dense layer); the BatchNorms and the readers follow. A group is **coupled** when it has more than one member.
- **Prunable convs** are the non-depthwise conv members of every group, named ``C1 … Cn`` in forward order (the
  order their first call runs on the example inputs), on every network: PANNs CNN14's blocks 4–6 are C7 … C12.
  They are also named by module path; ``prune.layers`` takes either, and module-path globs
  (``conv_block5.*``).
- Never pruned unless asked: the family's ``ignored`` module-path globs (its classifier head and front end: no
  group that cuts one of their out-channels is listed, unless ``prune.layers`` names one of their convs by its
  exact module path: that conv's group is then listed, named by paths, and the numbering stays) and **depthwise groups** (a group with a depthwise conv
  member is matched by a glob only if ``prune.depthwise`` is true; naming one of its convs, ``C4`` or its exact
  path, always selects it).
- ``prune.layers`` selects convs; a group is pruned once if any of its convs is selected, with the selected
  convs' ``per_layer_ratio`` (which must agree) or ``ratio``. The criterion decides one kept set per group from
  the members' weights of the *unpruned* network (asc/prune/group_criteria.py), then each group is cut in turn.
  Torch-Pruning records each cut as ``(root module path, is_out_channel, removed indices)``: the pruning history
  (asc/nets/history.py), from which a freshly built network is pruned again identically.

Raises ValueError (a layer name that matches nothing, disagreeing ratios, a criterion undefined on a coupled
group); ImportError with the install command when ``torch-pruning`` is missing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

import torch
from torch import nn

INSTALL = 'pip install -e ".[prune]"  (torch-pruning 1.6)'
_GLOB = set("*?[")


def torch_pruning() -> Any:
    """The ``torch_pruning`` module, or ImportError naming the install command."""
    try:
        import torch_pruning as tp
    except ImportError:
        raise ImportError(f"dependency-graph pruning needs torch-pruning: {INSTALL}") from None
    return tp


def is_depthwise(module: nn.Module) -> bool:
    return (
        isinstance(module, nn.modules.conv._ConvNd)
        and module.groups > 1
        and module.groups == module.out_channels
    )


def filters(module: nn.Module) -> torch.Tensor:
    """A member's weight as one filter per out-channel: conv (n, c_in, kh, kw) (a 1-D conv's kernel gets
    kw = 1, a transposed conv's axes are swapped), dense (n, in, 1, 1)."""
    w = module.weight.detach()
    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        w = w.transpose(0, 1)
    while w.dim() < 4:
        w = w.unsqueeze(-1)
    return w.flatten(3) if w.dim() > 4 else w


@dataclass
class Member:
    """One layer whose out-channels a group removes. ``order[k]``: its channel for the group's channel k."""

    name: str  # Cn for a prunable conv, else its module path
    path: str
    module: nn.Module
    order: torch.Tensor

    def weight(self) -> torch.Tensor:
        """(n, c_in, kh, kw) filters in the group's channel order."""
        return filters(self.module)[self.order]


@dataclass
class Group:
    """Coupled layers that lose the same channels; channel k of the group is channel k of ``root``."""

    members: list[Member]  # forward order
    channels: int
    root: nn.Module
    handler: Callable[..., Any]
    depthwise: bool = False

    @property
    def label(self) -> str:
        return "+".join(m.name for m in self.members)

    @property
    def coupled(self) -> bool:
        return len(self.members) > 1


def _matches(path: str, patterns: Iterable[str]) -> bool:
    """``path`` or one of its parents matches a glob (``head`` ignores ``head.0`` too)."""
    parts = path.split(".")
    prefixes = [".".join(parts[: i + 1]) for i in range(len(parts))]
    return any(fnmatchcase(p, pat) for pat in patterns for p in prefixes)


class Network:
    """A model's dependency graph, its prunable convs (``convs``: name → path, forward order) and its groups.

    ``example_inputs``: a tensor (or tuple of tensors) the model's forward accepts, e.g. (1, 1, mel, frames).
    ``ignored``: module-path globs never pruned (the family's head and front end); ``asked``: exact module paths
    of ignored convs to prune all the same (:func:`asked_for`). The model is traced as it is; :meth:`prune` cuts
    it in place (copy it first to keep the original).
    """

    def __init__(
        self, model: nn.Module, example_inputs: Any, ignored: Sequence[str] = (), asked: Sequence[str] = ()
    ) -> None:
        tp = torch_pruning()
        self.model, self.inputs, self.ignored = model, example_inputs, tuple(ignored)
        self.paths = {m: p for p, m in model.named_modules()}
        self.order = self._forward_order(tp)
        self.groups = self._groups(self.ignored, set(asked))
        members = [m for g in self.groups for m in g.members]
        self.asked = [m.path for m in members if m.path in set(asked)]
        convs = [
            m
            for m in members
            if isinstance(m.module, nn.modules.conv._ConvNd)
            and not is_depthwise(m.module)
            and not _matches(m.path, self.ignored)
        ]
        convs.sort(key=lambda m: self.order.get(m.path, math.inf))
        self.convs = {f"C{i + 1}": m.path for i, m in enumerate(convs)}
        names = {p: n for n, p in self.convs.items()}
        for m in members:
            m.name = names.get(m.path, m.path)

    def _forward_order(self, tp: Any) -> dict[str, int]:
        """Module path → the rank of its first call while the graph is traced (one forward pass)."""
        order: dict[str, int] = {}

        def seen(path: str) -> Callable[..., None]:
            def hook(module: nn.Module, inputs: Any, output: Any) -> None:
                order.setdefault(path, len(order))

            return hook

        hooks = [m.register_forward_hook(seen(p)) for p, m in self.model.named_modules() if p]
        try:
            self.graph = tp.DependencyGraph().build_dependency(self.model, self.inputs, verbose=False)
        finally:
            for h in hooks:
                h.remove()
        return order

    def _groups(self, ignored: Sequence[str], asked: set[str]) -> list[Group]:
        skip = [m for p, m in self.model.named_modules() if p and p not in asked and _matches(p, ignored)]
        out = []
        for tg in self.graph.get_all_groups(
            ignored_layers=skip, root_module_types=(nn.modules.conv._ConvNd,)
        ):
            members = []
            for item in tg:
                module = item.dep.target.module
                if not (
                    self.graph.is_out_channel_pruning_fn(item.dep.handler) and isinstance(module, nn.Module)
                ):
                    continue
                if not isinstance(module, nn.modules.conv._ConvNd | nn.Linear):
                    continue
                members.append(self._member(module, item))
            root = tg[0].dep.target.module
            n = len(tg[0].idxs)
            if any(len(m.order) != n for m in members):
                continue  # a concatenation maps a member to part of the channels: not handled (never listed)
            members.sort(key=lambda m: self.order.get(m.path, math.inf))
            depthwise = any(is_depthwise(m.module) for m in members)
            out.append(Group(members, n, root, tg[0].dep.handler, depthwise))
        out.sort(key=lambda g: self.order.get(g.members[0].path, math.inf))
        return out

    def _member(self, module: nn.Module, item: Any) -> Member:
        """A group item that cuts ``module``'s out-channels; its order is empty unless it covers every channel."""
        idxs, roots = [int(i) for i in item.idxs], [int(i) for i in item.root_idxs]
        by_root = dict(zip(roots, idxs, strict=True))
        if sorted(by_root) != list(range(len(by_root))):
            order = torch.tensor([], dtype=torch.long)
        else:
            order = torch.tensor([by_root[k] for k in range(len(by_root))], dtype=torch.long)
        path = self.paths[module]
        return Member(path, path, module, order)

    def group_of(self, name_or_path: str) -> Group:
        path = self.convs.get(name_or_path, name_or_path)
        for g in self.groups:
            if any(m.path == path for m in g.members):
                return g
        raise KeyError(name_or_path)

    def resolve(self, layers: Sequence[str] | str, depthwise: bool = False) -> dict[int, list[str]]:
        """``prune.layers`` → {group index: the selected conv names in it}, in forward order.

        An entry is a conv name (``C7``), a module path or a module-path glob. ValueError naming an entry that
        matches no prunable conv, with the valid names.
        """
        layers = [layers] if isinstance(layers, str) else list(layers)
        paths = {p: n for n, p in self.convs.items()}
        chosen: dict[int, list[str]] = {}
        for entry in layers:
            explicit = not (_GLOB & set(entry))
            hits = [entry] if entry in self.convs or entry in self.asked else []
            if not hits:
                hits = [paths[p] for p in self.convs.values() if fnmatchcase(p, entry)]
            if not hits:
                shown = ", ".join(f"{n}={p}" for n, p in list(self.convs.items())[:40])
                raise ValueError(
                    f"prune.layers entry {entry!r} matches no prunable conv; valid: conv names C1…C{len(self.convs)}, "
                    f"module paths or globs over them ({shown})"
                )
            for name in hits:
                gi = self.groups.index(self.group_of(name))
                if self.groups[gi].depthwise and not (explicit or depthwise):
                    continue
                chosen.setdefault(gi, [])
                if name not in chosen[gi]:
                    chosen[gi].append(name)
        return dict(sorted(chosen.items()))

    def prune(self, group: Group, kept: Sequence[int]) -> None:
        """Cut every channel of ``group`` not in ``kept`` (group channel indices) from the network, in place."""
        if not kept:
            raise ValueError(f"group {group.label}: at least one channel must be kept")
        removed = sorted(set(range(group.channels)) - {int(k) for k in kept})
        if not removed:
            return
        tg = self.graph.get_pruning_group(group.root, group.handler, removed)
        if not self.graph.check_pruning_group(tg):
            raise ValueError(
                f"group {group.label}: removing {len(removed)} of {group.channels} channels empties a layer"
            )
        tg.prune()

    def history(self) -> list[tuple[str, bool, list[int]]]:
        """The cuts made so far, as plain data: [(root module path, is_out_channel, removed indices)]."""
        return [(str(n), bool(o), [int(i) for i in idx]) for n, o, idx in self.graph.pruning_history()]


def asked_for(layers: Sequence[str] | str, ignored: Sequence[str]) -> list[str]:
    """The entries of ``prune.layers`` that name an ignored module by its exact path (no glob)."""
    layers = [layers] if isinstance(layers, str) else list(layers)
    return [e for e in layers if not (_GLOB & set(e)) and _matches(e, ignored)]


def count_macs(model: nn.Module, example_inputs: Any) -> int:
    """Multiply-accumulates of one forward pass on ``example_inputs`` (torch's FLOP counter / 2)."""
    from torch.utils.flop_counter import FlopCounterMode

    inputs = example_inputs if isinstance(example_inputs, tuple) else (example_inputs,)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(*inputs)
    return counter.get_total_flops() // 2
