"""A pruned network as (architecture, pruning history, weights): the history is plain data, so a checkpoint loads
with ``torch.load(weights_only=True)`` and the pruned network is rebuilt by replaying it on a freshly built one.

The history is Torch-Pruning's (``DependencyGraph.pruning_history()``): one entry per cut, in order,
``(module_path, is_out_channel, removed_indices)``, the indices those of the layer when the cut was made.
:func:`replay` traces the fresh network, checks each entry against it (the layer exists and has those channels)
and cuts its group; a history that does not fit the architecture is refused in one line (InputError).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from asc.core.errors import InputError

History = list[tuple[str, bool, list[int]]]


def plain_history(history: Any, where: str = "pruning history") -> History:
    """``history`` as a list of (str, bool, [int]) triples; InputError naming the first entry that is not one."""
    if not isinstance(history, Sequence) or isinstance(history, str | bytes):
        raise InputError(
            f"{where} is a {type(history).__name__}, not a list of (layer, is_out_channel, indices)"
        )
    out: History = []
    for i, entry in enumerate(history):
        ok = isinstance(entry, Sequence) and not isinstance(entry, str | bytes) and len(entry) == 3
        ok = ok and isinstance(entry[0], str) and isinstance(entry[1], bool)
        ok = (
            ok
            and isinstance(entry[2], Sequence)
            and all(isinstance(j, int) and not isinstance(j, bool) for j in entry[2])
        )
        if not ok:
            raise InputError(f"{where} entry {i} is {entry!r}, not (layer path, is_out_channel, [indices])")
        out.append((entry[0], entry[1], [int(j) for j in entry[2]]))
    return out


def replay(model: Any, history: Any, example_inputs: Any, where: str = "pruning history") -> Any:
    """Prune the freshly built, unpruned ``model`` (nn.Module; changed in place and returned) as ``history`` says.

    ``example_inputs``: inputs its forward accepts (the family's input shape). InputError in one line if an
    entry names a layer the model lacks, one Torch-Pruning cannot cut, or channels the layer does not have.
    """
    from .groups import torch_pruning

    tp = torch_pruning()
    history = plain_history(history, where)
    graph = tp.DependencyGraph().build_dependency(model, example_inputs, verbose=False)
    arch = type(model).__name__
    for i, (path, is_out, idxs) in enumerate(history):
        try:
            module = model.get_submodule(path)
        except AttributeError:
            module = None
        pruner = None if module is None else graph.get_pruner_of_module(module)
        if pruner is None or module not in graph.module2node:
            raise InputError(
                f"{where} entry {i} cuts {path!r}, which is no prunable layer of this {arch}: the history is of "
                "another architecture or arguments"
            )
        n = pruner.get_out_channels(module) if is_out else pruner.get_in_channels(module)
        bad = sorted({j for j in idxs if not 0 <= j < (n or 0)})
        if n is None or bad or len(set(idxs)) != len(idxs) or len(idxs) >= n:
            why = f"indices {bad[:5]} outside [0, {n})" if bad else f"{len(idxs)} of its {n} channels"
            raise InputError(
                f"{where} entry {i} removes {why} of {path!r} in this {arch}: it does not fit the architecture"
            )
        fn = pruner.prune_out_channels if is_out else pruner.prune_in_channels
        graph.get_pruning_group(module, fn, idxs).prune()
    return model
