"""Where a channel block pays, measured: ``+prune.block_choice=measured`` with ``+prune.round_to_block=<B>`` (issue
27 §4: "kept counts rounded to the CPU's channel block where that lowers latency (measured, not assumed)").

``block_choice`` (:data:`CHOICES`): ``always`` (the default, and the only behaviour before this option) rounds every
pruned layer's kept count to the block (asc/prune/blocks.py); ``always`` given or left out is one artifact, the key
it always had. ``measured`` decides per pruned layer (per coupled group on a network pruned by dependency-graph
surgery) between the exact ratio count k and the block-rounded count r = to_block(k), by timing the pruned network:

1. start from the network pruned at every layer's exact count;
2. for each pruned layer in forward order whose rounded count differs from its exact count, prune a trial network
   that rounds this layer too (the layers rounded so far stay rounded), time the current and the trial network
   interleaved (asc/deploy/latency.py: ``cpu_medians``, torch on the CPU, :data:`THREADS` intra-op thread, batch
   :data:`BATCH`, the median of :data:`ROUNDS` rounds of :data:`CALLS` forward passes each);
3. keep the rounding only when the trial's median is below the current one by more than :data:`MARGIN` (5 %:
   noise between two medians of one machine stays below it, so it does not flip a choice); the trial becomes the
   current network.

The rule is "round only where it measures faster", not "where rounding up is no slower": a rounding up keeps
filters the ratio removes, i.e. parameters and MACs that DCASE's limits count, so it must buy speed to be chosen;
a rounding down removes filters beyond the ratio (accuracy), so it too must buy speed. Either way the ratio's exact
count is the default, and the block is a deviation that the measurement has to justify.

Keying: the choice depends on the machine, so a measured step's key carries :func:`host` (CPU model, architecture,
torch version, and the procedure: threads, batch, rounds, calls, margin) under :data:`HOST_KEY`. The thread count
is fixed (not the job's ``torch_threads``, a speed knob that stays out of keys). The timings and chosen counts are
written to the prune artifact (``blocks.json``, ``info.json``'s ``blocks``) and to the row's ``block_choice``
column; a rerun on the same machine has the same key and reuses the artifact. Torch-free (planning imports it).
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from asc.core.provenance import cpu_model, version

CHOICE_KEY = "block_choice"
CHOICES = ("always", "measured")
HOST_KEY = "block_host"  # added to a measured step's key by asc/pipeline/stages/prune_steps.py
THREADS = 1  # torch intra-op threads while measuring (fixed: runtime thread knobs stay out of keys)
BATCH = 1  # clips per forward pass: a device classifies one clip at a time
ROUNDS = 21  # interleaved rounds; the median of their per-pass times decides
CALLS = 3  # forward passes per round (their mean is the round's time)
MARGIN = 0.05  # a rounding is kept only when the trial's median is this share below the current one


def host() -> dict[str, Any]:
    """What a measured choice depends on, for the step's key: CPU model, architecture, torch's version (read from
    its package metadata: torch is not imported) and the measuring procedure's constants."""
    return {
        "cpu": cpu_model(),
        "machine": platform.machine(),
        "torch": version("torch"),
        "threads": THREADS,
        "batch": BATCH,
        "rounds": ROUNDS,
        "calls": CALLS,
        "margin": MARGIN,
    }


def is_measured(pcfg: Mapping[str, Any]) -> bool:
    """The criterion config asks for a measured block choice (``block_choice=measured``)."""
    return pcfg.get(CHOICE_KEY) == "measured"


def keyed(pcfg: Mapping[str, Any]) -> dict[str, Any]:
    """A criterion config as its prune step keys it: ``block_choice=always`` dropped (the same artifact as leaving
    it out), ``measured`` given :func:`host` under :data:`HOST_KEY`."""
    out = dict(pcfg)
    if out.get(CHOICE_KEY, "always") == "always":
        out.pop(CHOICE_KEY, None)
    else:
        out[HOST_KEY] = host()
    return out


def choose(
    units: Sequence[str],
    exact: Mapping[str, int],
    rounded: Mapping[str, int],
    build: Callable[[frozenset[str]], Any],
    timer: Callable[[list[Any]], Sequence[float]],
    margin: float = MARGIN,
) -> tuple[frozenset[str], Any, list[dict[str, Any]]]:
    """The greedy procedure of the module docstring. ``units``: the pruned layers (or groups) in forward order;
    ``exact`` / ``rounded``: each one's kept count without and with the block; ``build(rounded units)``: the
    pruned network (whatever ``timer`` takes) with those units rounded and the others exact; ``timer([a, b])``:
    the median time of each (any unit, e.g. ms). Returns (the rounded units, the last built network, one record
    per unit: layer, exact, rounded, kept, current_ms and rounded_ms (None where rounding changes nothing))."""
    chosen: frozenset[str] = frozenset()
    current = build(chosen)
    records = []
    for unit in units:
        record = {"layer": unit, "exact": int(exact[unit]), "rounded": int(rounded[unit])}
        if rounded[unit] == exact[unit]:
            records.append(record | {"kept": int(exact[unit]), "current_ms": None, "rounded_ms": None})
            continue
        trial = build(chosen | {unit})
        now_ms, trial_ms = (float(t) for t in timer([current, trial]))
        if trial_ms < (1.0 - margin) * now_ms:
            chosen, current = chosen | {unit}, trial
        kept = rounded[unit] if unit in chosen else exact[unit]
        records.append(record | {"kept": int(kept), "current_ms": now_ms, "rounded_ms": trial_ms})
    return chosen, current, records


def summary(records: Sequence[Mapping[str, Any]]) -> str:
    """One line of a measured choice for the log: per layer exact → rounded, the two medians and the count kept,
    e.g. ``C1 11→8 0.610/0.520 ms keeps 8; C3 24→24 same``."""
    parts = []
    for r in records:
        head = f"{r['layer']} {r['exact']}→{r['rounded']}"
        if r["rounded_ms"] is None:
            parts.append(f"{head} same")
        else:
            parts.append(f"{head} {r['current_ms']:.3f}/{r['rounded_ms']:.3f} ms keeps {r['kept']}")
    return "; ".join(parts)
