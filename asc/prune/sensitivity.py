"""Sensitivity scans: a `runs` block key ``sensitivity: [ratios]`` (torch-free, so planning reads it).

A block with ``sensitivity: [0.25, 0.5, 0.75]`` prunes, for each of its criteria, each of its layer sets alone at
each listed ratio (the share of filters removed): one pruned network per criterion × layer set × ratio, each
evaluated before fine-tuning (its prune row) and fine-tuned on the block's ``fractions`` × ``repeats`` as any
other block's networks. ``layer_sets: null`` scans each layer of the criterion's own ``layers`` alone (the DCASE
baseline's C1, C2, C3 for l1 and fpgm); ``layer_sets: [[C1], [C2], [C3], [C1, C2, C3]]`` adds all layers together.
The scanned config is the criterion's own with ``ratio`` set and ``per_layer_ratio`` emptied, so a scan point and
the same one-shot pruning named elsewhere are one artifact (``match`` is ignored once a ratio is set:
asc/pipeline/config_effects.py). With ``prune=<name>`` selected, that config is scanned, each of its layers alone.

The per-layer sensitivity curves are the classic first look at where a network tolerates pruning (Li et al.,
"Pruning Filters for Efficient ConvNets", ICLR 2017, Fig. 2(b)/(c): each layer pruned alone, accuracy vs the share
of filters removed). The report's table and figure: asc/report/tables_sensitivity.py, asc/report/figures/sensitivity.py.

Refused at planning (:func:`check_block`, called by asc/pipeline/validate.py): ratios outside (0, 1), a criterion that
decides its own kept count (cosine, chebyshev, average, nystrom; random with such a reference; given), and an
iterative schedule (a scan prunes in one shot).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from asc.core.values import fail, listed, number
from asc.prune.options import DECIDE_THEIR_COUNT

RUNS_KEY = "sensitivity"  # the `runs` block key (asc/pipeline/validate.py RUNS_KEYS reads it from here)


def ratios_of(block: Mapping[str, Any]) -> list[float]:
    """The block's scan ratios (shares removed, in (0, 1)); empty: the block is no scan."""
    return [float(r) for r in block.get(RUNS_KEY) or []]


def layer_sets_of(block: Mapping[str, Any], base: Mapping[str, Any]) -> list[list[str]]:
    """The layer sets a scan prunes: the block's ``layer_sets``, else each of the criterion's ``layers`` alone."""
    given = block.get("layer_sets")
    if given:
        return [[s] if isinstance(s, str) else [str(x) for x in s] for s in given]
    own = base["layers"]
    return [[str(layer)] for layer in ([own] if isinstance(own, str) else own)]


def configs(
    base: Mapping[str, Any], block: Mapping[str, Any], *, own_layers: bool = False
) -> list[dict[str, Any]]:
    """The criterion configs of a scan of ``base`` (a criterion config): one per layer set × ratio, in that
    order; ``own_layers``: scan each of ``base``'s layers alone whatever the block's layer sets (``prune=<name>``)."""
    sets = layer_sets_of({} if own_layers else block, base)
    return [
        dict(base, layers=layers, ratio=ratio, per_layer_ratio={})
        for layers in sets
        for ratio in ratios_of(block)
    ]


def no_ratio(p: Mapping[str, Any]) -> str | None:
    """Why criterion config ``p`` cannot prune at a given ratio (None: it can)."""
    name, reference = p.get("name"), p.get("reference", "cosine")
    if name == "given":
        return "fixes its kept indices"
    if name in DECIDE_THEIR_COUNT:
        return "decides its own kept count"
    if name == "random" and reference in DECIDE_THEIR_COUNT:
        return f"takes the widths of reference={reference}, which decides its own kept count"
    return None


def check_block(
    key: str, block: Mapping[str, Any], criteria: Sequence[tuple[str, Mapping[str, Any]]]
) -> None:
    """One-line ConfigError for a scan asc cannot run. ``key``: ``runs[i]``; ``criteria``: (config key, config) of
    each criterion the block prunes (``criteria.<name>``, or ``prune`` when ``prune=<name>`` is selected)."""
    ratios = listed(f"{key}.{RUNS_KEY}", block.get(RUNS_KEY))
    for ratio in ratios:
        number(f"{key}.{RUNS_KEY}", ratio, 0.0, 1.0, high_open=True)
    if not ratios:
        if (
            block.get(RUNS_KEY) is not None
        ):  # [] would silently run the block unscanned, at the criterion's ratio
            fail(
                f"{key}.{RUNS_KEY}",
                block.get(RUNS_KEY),
                f"at least one ratio, e.g. {RUNS_KEY}=[0.25,0.5], or no {RUNS_KEY} key (no scan)",
            )
        return
    for where, p in criteria:
        why = no_ratio(p)
        if why:
            fail(
                f"{key}.criteria",
                p.get("name"),
                f"a ratio criterion for {key}.{RUNS_KEY} ({where}: {p.get('name')} {why}): l1, l2, fpgm, gm, "
                "operator_norm, centrality, or random with reference=l1",
            )
        if int(p.get("schedule") or 1) != 1:
            fail(f"{where}.schedule", p["schedule"], f"1 in a {RUNS_KEY} block (a scan prunes in one shot)")
