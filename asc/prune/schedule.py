"""Iterative pruning: ``prune.schedule`` = k pruning steps with a short fine-tuning between them (prune → short
fine-tune → prune …); torch-free, so planning reads it.

Options (every criterion takes them; no conf/prune file holds them, so a command line adds them with ``+``:
``asc prune=l1 prune.ratio=0.5 +prune.schedule=3``, or ``+criteria.l1.schedule=3`` for a `runs` block):

- ``schedule`` (default 1): the number of pruning steps. 1 is the one-shot path: its artifacts and keys are those
  asc always had (the options never enter a one-shot key).
- ``step_epochs`` (default null): epochs of the short fine-tuning before steps 2…k; null: ``finetune.epochs // k``
  (at least 1), so the k − 1 short fine-tunings together train for less than one final fine-tuning.
- ``step_fraction`` (default 1.0): the share of the fine-tuning pool (``finetune.train_on``) the short
  fine-tunings train on, a nested stratified draw seeded with ``finetune.seed`` (1.0: the whole pool). They use
  the fine-tuning recipe otherwise (optimiser, learning rate, batch size, selection on ``finetune.select_on``) and
  hard labels. Set it to a block's smallest fraction to keep low-data comparisons honest.

How many filters each step keeps depends on the criterion (:func:`spacing_of`, keyed as the step's ``spacing``):

**Ratio criteria** (l1, l2, fpgm, gm, operator_norm, centrality; ``random`` with a ratio ``reference``; a
``match`` criterion): **geometric keep fractions** to the one-shot target. Per pruned layer (a coupled group on a
dependency-graph network) of n₀ filters whose one-shot target keeps K (the criterion's own count on the unpruned
baseline: ``ratio``, ``per_layer_ratio`` or ``match``), step s of k keeps round(n₀·(K/n₀)^(s/k)) filters, and
step k exactly K, so every step removes the same fraction of the filters still there: the schedule of iterative
magnitude pruning, "each round prunes p^(1/n) % of the weights that survive the previous round" (Frankle &
Carbin, The Lottery Ticket Hypothesis, ICLR 2019, §2), applied to filters. Equal fractions of n₀ per step would
take a large share of the last step's survivors; the geometric schedule keeps every step's cut proportionate. Each
step re-scores the filters of the fine-tuned network with the criterion.

**Criteria that decide their own kept count** (:data:`DECIDE_THEIR_COUNT`, Algorithm 1: cosine — the paper's
method —, chebyshev, average, nystrom): **repeated passive pruning**. They have no target ratio to step to, so
each step applies the criterion's own rule to the filters still there: Algorithm 1 on the similarity of the
current network's filters (step 1: the unpruned baseline's, exactly the one-shot pruning; step s ≥ 2: the
network of step s − 1 after its short fine-tuning), which decides that step's count. Why this definition: the
criterion stays what it is (weights only, no ratio invented for it), and the fine-tuning between steps is what
makes a step differ from the one before: Algorithm 1 removes a filter whose closest partner it keeps, so a
network whose survivors the fine-tuning has moved apart loses fewer filters at the next step, one whose survivors
are still alike loses more. Algorithm 1 removes at least one filter of a layer of two or more and keeps at least
half of them (each kept filter marks one partner redundant), so k steps keep at least n₀/2^k; the final widths
are known only once the steps have run (planning's size and disk estimates take the unpruned widths: an upper
bound).

Either way kept indices are composed back to the baseline's in the row (:func:`compose`).

Refused at planning (:func:`check`): ``given`` (it fixes the kept indices of the unpruned network), and ``random``
with a ``reference`` that decides its own count: random re-initialises the whole network at every step (nothing
the short fine-tuning learnt reaches the next step), so its chain would be the one-shot control at widths that
only the reference's own schedule decides — another chain; use a ratio reference, or one-shot random.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from asc.core.errors import ConfigError
from asc.prune.options import DECIDE_THEIR_COUNT, SCHEDULE_DEFAULTS, SCHEDULE_OPTIONS

DEFAULTS, OPTIONS = SCHEDULE_DEFAULTS, SCHEDULE_OPTIONS


def steps_of(pcfg: Mapping[str, Any]) -> int:
    """``schedule`` of a criterion config (1 when absent)."""
    return int(pcfg.get("schedule") or 1)


def without_schedule(pcfg: Mapping[str, Any]) -> dict[str, Any]:
    """The criterion config less the schedule options: what the criterion itself reads."""
    return {k: v for k, v in pcfg.items() if k not in OPTIONS}


def check(key: str, pcfg: Mapping[str, Any]) -> None:
    """One-line ConfigError for a schedule asc cannot run: not an int >= 1, bad step options, ``given``, or
    ``random`` with a reference that decides its own count (see the module docstring). ``key``: ``prune`` or
    ``criteria.<name>``."""
    k = pcfg.get("schedule", 1)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"{key}.schedule={k!r}: the number of pruning steps, an int >= 1 (1: one-shot)")
    epochs = pcfg.get("step_epochs")
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1):
        raise ConfigError(
            f"{key}.step_epochs={epochs!r}: epochs of fine-tuning between steps, an int >= 1 or null"
        )
    share = pcfg.get("step_fraction", 1.0)
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0.0 < float(share) <= 1.0:
        raise ConfigError(f"{key}.step_fraction={share!r}: a share of the fine-tuning pool in (0, 1]")
    if k == 1:
        moot = [o for o in ("step_epochs", "step_fraction") if pcfg.get(o, DEFAULTS[o]) != DEFAULTS[o]]
        if moot:
            raise ConfigError(
                f"{key}.{moot[0]}={pcfg[moot[0]]!r} has no effect with {key}.schedule=1 (one-shot pruning, no "
                f"fine-tuning between steps): drop it, or set +{key}.schedule=3"
            )
        return
    name, reference = pcfg.get("name"), pcfg.get("reference", "cosine")
    if name == "given":
        raise ConfigError(
            f"{key}.schedule={k}: criterion given fixes the kept indices of the unpruned network, so there is "
            f"nothing for a later step to decide; set {key}.schedule=1"
        )
    if name == "random" and reference in DECIDE_THEIR_COUNT:
        raise ConfigError(
            f"{key}.schedule={k}: criterion random takes the widths of reference={reference}, which decides its own "
            f"kept count step by step on its own chain, and re-initialises the network at every step; set "
            f"{key}.schedule=1, or a ratio reference ({key}.reference=l1 with a ratio), or schedule {reference} itself"
        )


def decides_own_count(pcfg: Mapping[str, Any]) -> bool:
    """The criterion config decides its own kept count at each step (Algorithm 1 and its variants: no ``ratio``,
    no target to step to; see the module docstring)."""
    return pcfg.get("name") in DECIDE_THEIR_COUNT


def spacing_of(pcfg: Mapping[str, Any]) -> str:
    """How a schedule's steps space their kept counts (keyed in every step): ``geometric`` keep fractions to the
    one-shot target (ratio criteria), or ``criterion``: each step's count is the criterion's own on the filters
    still there (:func:`decides_own_count`)."""
    return "criterion" if decides_own_count(pcfg) else "geometric"


def step_epochs(pcfg: Mapping[str, Any], finetune: Mapping[str, Any]) -> int:
    """Epochs of each short fine-tuning: ``step_epochs``, else ``finetune.epochs // schedule`` (at least 1)."""
    given = pcfg.get("step_epochs")
    return int(given) if given is not None else max(1, int(finetune["epochs"]) // steps_of(pcfg))


def kept_count(n0: int, target: int, step: int, steps: int, previous: int) -> int:
    """Filters kept after step ``step`` of ``steps`` by a layer of ``n0`` filters whose target keeps ``target``:
    round(n0·(target/n0)^(step/steps)), exactly ``target`` at the last step, never more than ``previous`` (the
    count before this step) nor fewer than ``target``."""
    if step >= steps:
        return target
    ideal = n0 * (target / n0) ** (step / steps)
    return max(target, min(previous, math.floor(ideal + 0.5)))


def step_ratio(current: int, keep: int) -> float:
    """The ratio (fraction removed) that makes the criteria's rounding (asc.prune.criteria.n_keep: n −
    floor(ratio·n + 0.5)) keep exactly ``keep`` of ``current`` filters."""
    return (current - keep) / current


def compose(before: Mapping[str, list[int]], now: Mapping[str, list[int]]) -> dict[str, list[int]]:
    """Kept indices of the baseline after one more step: ``before`` (layer → the baseline's indices kept so far)
    indexed by ``now`` (layer → indices into the layer as it was before this step)."""
    out = {k: list(v) for k, v in before.items()}
    for layer, idx in now.items():
        out[layer] = [before[layer][i] for i in idx] if layer in before else list(idx)
    return out
