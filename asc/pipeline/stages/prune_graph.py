"""The ``prune`` stage on a network pruned by dependency-graph surgery (asc/nets/groups.py): every family
without ``exact_surgery`` (asc/nets/families.py), i.e. every network but the DCASE21/22 family.

At planning, :func:`check_graph` resolves ``prune.layers`` (conv names C1…Cn, module paths, globs), the ratios
and the criterion on the network's coupled groups by tracing a randomly initialised copy of the network: the conv
list and its groups need torch to enumerate, so this one check imports torch lazily, and only for such a family
(the DCASE family's planning stays torch-free).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from asc.core.disk import Need
from asc.core.errors import ConfigError
from asc.pipeline.stages.prune_steps import criterion_config
from asc.pipeline.step import Step


def graph_family(cfg: Mapping[str, Any]) -> Any:
    """The job's network family when dependency-graph surgery prunes it, else None (the DCASE family)."""
    from asc.nets import family_of

    family = family_of(cfg["model"])
    return None if family.exact_surgery else family


def example_inputs(cfg: Mapping[str, Any]) -> Any:
    """One input (1, mel bands, frames) of the job's network, for tracing its dependency graph (imports torch)."""
    import torch

    from asc.nets import input_shape_of

    return torch.zeros(1, *input_shape_of(cfg["model"], cfg["features"]))


def check_graph(steps: Sequence[Step], cfg: Mapping[str, Any], family: Any) -> list[tuple[Step, Need]]:
    """Every prune config of a dependency-graph family against the traced network; ConfigError naming the step."""
    import importlib.util

    from asc.pipeline.stages.baseline import pruned_need

    if importlib.util.find_spec("torch_pruning") is None:
        raise ConfigError(
            f"model={family.name} is pruned by dependency-graph surgery, which needs torch-pruning: "
            'pip install -e ".[prune]"'
        )
    for step in steps:
        if (step.config.get("dense_mapping") or "correct") != "correct":
            raise ConfigError(
                f"{step.label}: prune.dense_mapping={step.config['dense_mapping']} is the DCASE family's Keras row "
                f"mapping; model={family.name} has no such layer: set prune.dense_mapping=correct"
            )
    from asc.nets import build
    from asc.prune.group_surgery import check_config

    model = build(cfg["model"])
    x = example_inputs(cfg)
    for step in steps:
        if step.config.get("schedule", {}).get("step", 1) > 1:
            continue  # a later step of a schedule prunes the layers its first step checked
        try:
            check_config(model, x, criterion_config(step), family.ignored)
        except ValueError as err:
            raise ConfigError(f"{step.label}: {err}") from None
    # each artifact at its pruned widths where the family's formula counts them, else the configured network's
    return [(step, pruned_need(cfg, step)) for step in steps]
