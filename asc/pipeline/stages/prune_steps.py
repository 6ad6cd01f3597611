"""One pruning step of the ``prune`` stage: its label, its artifact key, and the criterion config it gives back.

The key is the criterion config (the schedule options, asc/prune/schedule.py, never enter a one-shot key); kept
indices read from files (``prune=given``) are keyed by the files' content, not their path: editing a file prunes
again, moving it does not. The path travels in the step's args, so that what the criterion reads and what an
error names is the user's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from asc.pipeline.step import Step, make_step
from asc.prune import block_choice, schedule


def label_of(pcfg: Mapping[str, Any]) -> str:
    """A pruning step's label: criterion, layers, and the share removed where the config sets one (``ratio=0.3``,
    then each ``per_layer_ratio`` entry as ``C2=0.25``), so a sensitivity scan's or a budget's points read apart,
    e.g. ``l1 C1 ratio=0.3`` (a ratio-free criterion, or one matching another's counts: no ratio)."""
    parts = [pcfg["name"], "+".join(pcfg["layers"])]
    if pcfg.get("ratio") is not None:
        parts.append(f"ratio={float(pcfg['ratio']):g}")
    parts += [f"{layer}={float(r):g}" for layer, r in (pcfg.get("per_layer_ratio") or {}).items()]
    return " ".join(parts)


def prune_step(pcfg: Mapping[str, Any], baseline: Step, graph: bool = False) -> Step:
    """The step pruning ``baseline`` with the criterion config ``pcfg``. Given kept indices are keyed by what
    they are (inline lists, the files' content), the path of a ``kept_file`` travels in the step's args. On a
    ``graph`` network (dependency-graph surgery) every given entry enters the key: a glob in ``layers`` or a
    coupled group's other member may select an entry that ``layers`` does not name. The schedule options
    (asc/prune/schedule.py) never enter this one-shot key; ``block_choice=always`` neither (the default), and
    ``measured`` enters it with the host it is measured on (asc/prune/block_choice.py)."""
    pcfg = block_choice.keyed(
        schedule.without_schedule(pcfg)
    )  # a measured choice: the host it is measured on
    if pcfg["name"] != "given":
        from asc.pipeline.config_effects import without_ignored

        return make_step("prune", label_of(pcfg), without_ignored(pcfg), (baseline,))
    from asc.prune.given import keyed_config

    # the kept indices as the user gave them (a path, inline entries): errors name them
    given = {k: pcfg[k] for k in ("kept", "kept_file") if pcfg.get(k)}
    return make_step("prune", label_of(pcfg), keyed_config(pcfg, every_entry=graph), (baseline,), **given)


def criterion_config(step: Step) -> dict[str, Any]:
    """The config the criterion reads: the keyed config with the kept indices as the user gave them (a file's
    path, inline entries) put back, so that what it reads and what an error names is theirs; a schedule step's
    own entry (``schedule``: its place in the chain, its short fine-tuning) left out."""
    keyed = {k: v for k, v in step.config.items() if k != "schedule"}
    return {**keyed, **{k: step.args[k] for k in ("kept", "kept_file") if k in step.args}}
