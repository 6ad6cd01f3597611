"""Iterative pruning: ``prune.schedule`` steps to a criterion's target kept counts (prune → short fine-tune →
prune …); torch-free, so planning reads it.

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

Spacing: **geometric keep fractions**. Per pruned layer (a coupled group on a dependency-graph network) of n₀
filters whose one-shot target keeps K (the criterion's own count on the unpruned baseline: ``ratio``,
``per_layer_ratio`` or ``match``), step s of k keeps round(n₀·(K/n₀)^(s/k)) filters, and step k exactly K, so every
step removes the same fraction of the filters still there: the schedule of iterative magnitude pruning, "each
round prunes p^(1/n) % of the weights that survive the previous round" (Frankle & Carbin, The Lottery Ticket
Hypothesis, ICLR 2019, §2), applied to filters. Equal fractions of n₀ per step would take a large share of the last
step's survivors; the geometric schedule keeps every step's cut proportionate. Each step re-scores the filters
of the fine-tuned network with the criterion (kept indices are composed back to the baseline's in the row).

Criteria that decide their kept count themselves (Algorithm 1: cosine, chebyshev, average, nystrom; ``random``
with such a ``reference``) have no target ratio to step to, and ``given`` fixes the kept indices of the unpruned
network: a schedule > 1 is refused for them at planning (:func:`check`).
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
    """One-line ConfigError for a schedule asc cannot run: not an int >= 1, bad step options, or a criterion
    without a target ratio (see the module docstring). ``key``: ``prune`` or ``criteria.<name>``."""
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
    why = {"given": "fixes the kept indices of the unpruned network"}.get(name)
    if name in DECIDE_THEIR_COUNT:
        why = "decides its own kept count"
    elif name == "random" and reference in DECIDE_THEIR_COUNT:
        why = f"takes the widths of reference={reference}, which decides its own kept count"
    if why:
        raise ConfigError(
            f"{key}.schedule={k}: criterion {name} {why}, so there is no target ratio to step to; set "
            f"{key}.schedule=1, or use a ratio criterion (l1, l2, fpgm, gm, operator_norm, centrality) with a ratio"
        )


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
