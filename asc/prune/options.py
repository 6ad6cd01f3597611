"""The criteria's names and the values their options take, declared without torch, and the check of a
criterion's config entry against them (:func:`check_criterion`, :func:`check_criterion_keys`: asc/pipeline/validate.py
calls them at planning); the criteria (asc/prune/criteria.py, nystrom.py, surgery.py) check against them when
they run. tests/test_prune_criteria.py checks that the names are the registry's (asc.prune.CRITERIA).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from asc.core.config_files import CONF_DIR, conf_file
from asc.core.errors import ConfigError
from asc.core.values import choice, fail, integer, number
from asc.prune.block_choice import CHOICE_KEY
from asc.prune.blocks import KEY as BLOCK_KEY
from asc.prune.blocks import check as check_block

CRITERION_NAMES = (
    "average", "centrality", "chebyshev", "cosine", "fpgm", "given", "gm", "l1", "l2", "nystrom",
    "operator_norm", "random",
)  # fmt: skip

# The values each criterion option takes.
OPTION_CHOICES = {
    "partner": ("argmin", "argsort1"),
    "kept_partner": ("average", "skip"),
    "distance": ("one_minus_cos", "one_minus_abs_cos"),
    "edge_length": ("distance", "similarity"),
    "measure": ("degree", "betweenness"),
    "landmark_choice": ("first", "random", "kmeans++"),
    "dense_mapping": ("correct", "authors"),
}

# The criteria that decide how many filters to keep by themselves (Algorithm 1 and its variants): what a
# ratio-free criterion's `match` and random's `reference` can name.
DECIDE_THEIR_COUNT = ("average", "chebyshev", "cosine", "nystrom")

# Options of dependency-graph surgery that no conf/prune file holds (every criterion takes them; validation
# accepts them): ``depthwise`` lets a glob in prune.layers select depthwise groups (asc/nets/groups.py).
GRAPH_OPTIONS = ("depthwise",)
# Options every criterion takes for iterative pruning; asc/prune/schedule.py reads and checks them.
SCHEDULE_DEFAULTS = {"schedule": 1, "step_epochs": None, "step_fraction": 1.0}
SCHEDULE_OPTIONS = tuple(SCHEDULE_DEFAULTS)
# Per-layer ratios for a MAC or memory budget from a sensitivity scan (asc/prune/budget.py), and kept counts rounded
# to a channel block (asc/prune/blocks.py, which declares its key): options every criterion config may carry.
BUDGET_KEY = "budget"


def check_layer_set(
    key: str, value: Any, layers: Sequence[str] | None, expected: str = "a non-empty list"
) -> None:
    """One layer set (a name or a list of names) at ``key``: non-empty, distinct and, where ``layers`` (the
    DCASE family's conv names) is given, each one of them; ``expected`` opens the one-line error's advice."""
    chosen = [value] if isinstance(value, str) else list(value or [])
    unknown = layers is not None and any(name not in layers for name in chosen)
    if not chosen or unknown or len(set(chosen)) != len(chosen):
        fail(key, value, f"{expected} of distinct conv layers of the model {list(layers or [])}")


def check_criterion(key: str, p: Mapping[str, Any], layers: Sequence[str] | None) -> None:
    """A criterion's config entry at ``key`` (prune, criteria.<name>): its name, layers, ratios and options.
    ``layers``: the model's conv names (the DCASE family), or None for a network pruned by dependency-graph
    surgery, whose names (C1…Cn, module paths, globs) the prune stage's check resolves on the traced network."""
    choice(f"{key}.name", p.get("name"), CRITERION_NAMES)
    chosen = [p["layers"]] if isinstance(p.get("layers"), str) else list(p.get("layers") or [])
    check_layer_set(f"{key}.layers", chosen, layers, "a non-empty list")
    if p.get("ratio") is not None:
        number(f"{key}.ratio", p["ratio"], 0.0, 1.0, low_open=False, high_open=True)
    if not isinstance(p.get("per_layer_ratio") or {}, Mapping):
        fail(
            f"{key}.per_layer_ratio",
            p["per_layer_ratio"],
            f"a mapping {{layer: ratio}}, e.g. '++{key}.per_layer_ratio.C1=0.5'",
        )
    for layer, ratio in (p.get("per_layer_ratio") or {}).items():
        if layers is not None:
            choice(f"{key}.per_layer_ratio key", layer, chosen)
        number(f"{key}.per_layer_ratio.{layer}", ratio, 0.0, 1.0, low_open=False, high_open=True)
    if layers is not None:  # dependency-graph surgery's options mean nothing under the DCASE hand surgery
        for option in (o for o in GRAPH_OPTIONS if o in p):
            raise ConfigError(
                f"{key}.{option}={p[option]!r} has no meaning here: the DCASE family is pruned by its exact hand "
                f"surgery (conv layers {list(layers)}, none depthwise); drop it (it is for networks pruned by "
                "dependency-graph surgery)"
            )
    _criterion_options(key, p, chosen)
    check_block(key, p)


def _criterion_options(key: str, p: Mapping[str, Any], layers: Sequence[str]) -> None:
    for option, choices in OPTION_CHOICES.items():
        if option in p:
            choice(f"{key}.{option}", p[option], choices)
    if p.get("match") is not None:  # ratio: null + match: the kept count of another criterion
        choice(f"{key}.match", p["match"], DECIDE_THEIR_COUNT)
    if "reference" in p:  # random: the widths of another criterion
        choice(f"{key}.reference", p["reference"], DECIDE_THEIR_COUNT)
    if "seed" in p:
        integer(f"{key}.seed", p["seed"], 0)
    if p.get("round_decimals") is not None:
        integer(f"{key}.round_decimals", p["round_decimals"], 0)
    if "landmarks" in p:
        value = p["landmarks"]
        per_layer = value if isinstance(value, Mapping) else dict.fromkeys(layers, value)
        for layer in layers:
            m = per_layer.get(layer)
            if m != "auto" and (isinstance(m, bool) or not isinstance(m, int) or m < 1):
                fail(
                    f"{key}.landmarks",
                    value,
                    f"an int >= 1, auto, or one of them per layer of {list(layers)}",
                )


@functools.cache
def _criterion_files() -> dict[str, dict[str, Any]]:
    """conf/prune/<file>.yaml → its keys and criterion name, as written (what a criterion has as options)."""
    files = {}
    for path in sorted((CONF_DIR / "prune").glob("*.yaml")):
        conf = conf_file(path)
        files[path.stem] = {"name": conf.get("name"), "options": frozenset(conf.keys())}
    return files


def check_criterion_keys(key: str, p: Mapping[str, Any], file: str | None = None, *, graph: bool) -> None:
    """A key the criterion's config files do not have (``+prune.ratio=0.3`` or ``+criteria.cosine.ratio=0.3`` on
    cosine, a misspelt ``+criteria.l1.ratoi``, or a sweep's shared option that one of its criteria lacks) would be
    ignored by the criterion yet change its key. ``file``: the conf/prune file the entry was composed from;
    ``graph``: the network is pruned by dependency-graph surgery, whose :data:`GRAPH_OPTIONS` are then valid (and
    listed); the DCASE family's hand surgery refuses them (:func:`check_criterion`), so they are not offered."""
    files = _criterion_files()
    mine = [files[file]] if file in files else [f for f in files.values() if f["name"] == p["name"]]
    if not mine:
        return  # a criterion of the user's own config: its options are its own
    known = set().union(
        *(f["options"] for f in mine),
        GRAPH_OPTIONS if graph else (),
        SCHEDULE_OPTIONS,
        (BUDGET_KEY, BLOCK_KEY, CHOICE_KEY),
    )
    for extra in sorted(set(p) - known):
        fail(
            f"{key}.{extra}",
            p[extra],
            f"an option of criterion {p['name']} ({', '.join(sorted(known - {'name'}))}); criterion {p['name']} has "
            "no such option: drop it, or sweep only criteria that have it",
        )
