"""The ``prune`` stage's measured block choice (``+prune.block_choice=measured``): which pruned layers keep the
block-rounded count, decided by timing the pruned network on this machine's CPU (the procedure and its rule:
asc/prune/block_choice.py; the timing: asc/deploy/latency.py ``cpu_medians``). Written beside the kept indices as
``blocks.json`` and into the info (``blocks``), from which the row's ``block_choice`` column comes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from asc.prune import block_choice
from asc.prune.block_choice import CHOICE_KEY, HOST_KEY
from asc.prune.blocks import KEY, to_block

Prune = Callable[[Any, Mapping[str, Any]], tuple[Any, dict[str, Any]]]


def units_of(info: Mapping[str, Any]) -> tuple[list[str], dict[str, int], dict[str, int]]:
    """(pruned units in forward order, each one's kept count, each one's unpruned filters) of a pruning's info: the
    DCASE family's pruned layers, or a dependency-graph pruning's groups (info has a ``history``; a group's count
    is that of its members, which lose the same channels)."""
    if "history" not in info:
        units = list(info["layers"])
        return units, {u: len(info["kept"][u]) for u in units}, {u: len(info["l1_norms"][u]) for u in units}
    units = list(info["selected"])
    first = {u: info["groups"][u][0] for u in units}
    return (
        units,
        {u: int(info["widths"][first[u]]) for u in units},
        {u: len(info["l1_norms"][first[u]]) for u in units},
    )


def measured(
    baseline: Any,
    pcfg: Mapping[str, Any],
    prune: Prune,
    example: Any,
    timer: Callable[[Sequence[Any]], Sequence[float]] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Prune ``baseline`` with criterion config ``pcfg`` (``round_to_block`` = B, ``block_choice=measured``),
    rounding to B only the units where that measures faster (asc/prune/block_choice.py :func:`choose`).
    ``prune(network, config)`` → (pruned network, info): the family's surgery; ``example``: one input batch
    (batch, mel, frames); ``timer(networks)`` → each one's median time in ms (default: ``cpu_medians`` with the
    procedure's fixed threads, rounds and calls). Returns the chosen network and its info with ``blocks``: the
    block, the host (:func:`asc.prune.block_choice.host`) and one record per unit (its counts, the two medians,
    the count kept)."""
    block = int(pcfg[KEY])
    plain = {k: v for k, v in pcfg.items() if k not in (CHOICE_KEY, HOST_KEY, KEY)}
    first = prune(baseline, plain)  # every unit at its exact count: the units and their counts
    units, exact, widths = units_of(first[1])
    rounded = {u: to_block(exact[u], widths[u], block) for u in units}
    built = {frozenset(): first}

    def build(chosen: frozenset[str]) -> tuple[Any, dict[str, Any]]:
        if chosen not in built:
            built[chosen] = prune(
                baseline, {**plain, KEY: {u: block if u in chosen else None for u in units}}
            )
        return built[chosen]

    if timer is None:
        from asc.deploy.latency import cpu_medians

        def timer(nets: Sequence[Any]) -> list[float]:
            bc = block_choice
            return cpu_medians(nets, example, threads=bc.THREADS, rounds=bc.ROUNDS, calls=bc.CALLS)

    _, (model, info), records = block_choice.choose(
        units, exact, rounded, build, lambda pair: timer([net for net, _ in pair])
    )
    info = dict(info, blocks={"block": block, "host": block_choice.host(), "layers": records})
    return model, info


def example_batch(shape: Sequence[int]) -> Any:
    """A seeded random batch (:data:`asc.prune.block_choice.BATCH`, mel, frames) to time on (imports torch)."""
    import torch

    gen = torch.Generator().manual_seed(0)
    return torch.randn(block_choice.BATCH, *(int(s) for s in shape), generator=gen)


def row_field(info: Mapping[str, Any]) -> dict[str, str]:
    """The row's ``block_choice`` column (JSON {unit: {exact, rounded, kept, current_ms, rounded_ms}}) where the
    pruning measured its block choice, else nothing (rows of other prunings keep their columns)."""
    blocks = info.get("blocks")
    if not blocks:
        return {}
    per_unit = {r["layer"]: {k: v for k, v in r.items() if k != "layer"} for r in blocks["layers"]}
    return {"block_choice": json.dumps(per_unit, sort_keys=True)}
