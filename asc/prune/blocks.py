"""Kept counts rounded to a channel block: ``+prune.round_to_block=<int>`` (or ``criteria.<name>.round_to_block``;
null or absent: no rounding). Issue 27 §4's latency-aware option: CPU convolution kernels (oneDNN, XNNPACK) vectorise
over blocks of 4, 8 or 16 channels, so a width that is not a multiple of the block may cost the next multiple's time.
asc does not assume that this lowers latency: the option is plain rounding, keyed (a rounded network is another
artifact), and the report measures each architecture's latency side by side (asc/deploy/latency.py: ``latency.csv`` and
the cost table), which is where a rounding shows whether it pays on the machine at hand.

The count of a ratio criterion (asc/prune/criteria.py's ``n_keep``: n − round-half-up(ratio · n), at least one) is
rounded half up to the nearest multiple of the block, at least one block, at most the layer's n filters (so a
layer narrower than the block is not pruned). Refused at planning (:func:`check`, from asc/prune/options.py): a
value other than an integer ≥ 1 or null, a criterion that decides its own kept count (cosine, chebyshev, average,
nystrom; random with such a reference; given), and an iterative schedule (its steps' counts are not rounded).

``+prune.block_choice=measured`` rounds only the layers where rounding measures faster (asc/prune/block_choice.py);
then ``round_to_block`` may be a mapping {layer or group: block or None} inside the prune stage (:func:`for_unit`),
never in a config. Refused at planning: a ``block_choice`` other than always or measured, measured without
``round_to_block``, and measured with a ``budget`` (the budget costs every layer rounded).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from asc.core.errors import ConfigError
from asc.core.values import choice, fail, integer
from asc.prune.block_choice import CHOICE_KEY, CHOICES, is_measured

KEY = "round_to_block"  # the criterion option (asc/prune/options.py accepts it on every criterion and checks it)
OWN_COUNT = (
    "average",
    "chebyshev",
    "cosine",
    "nystrom",
    "given",
)  # asc/prune/options.py DECIDE_THEIR_COUNT + given


def to_block(k: int, n: int, block: Any) -> int:
    """``k`` of ``n`` filters kept, rounded half up to a multiple of ``block`` within [block, n] (``n`` when
    ``n`` < ``block``); ``k`` itself when ``block`` is None."""
    if block is None:
        return k
    b = int(block)
    return min(n, max(b, b * math.floor(k / b + 0.5)))


def kept_count(n: int, ratio: float, block: Any = None) -> int:
    """Filters kept of ``n`` when ``ratio`` of them is removed: n − round-half-up(ratio · n), at least one, then
    rounded to ``block`` (:func:`to_block`). The one formula of asc/prune/criteria.py's ``n_keep``."""
    return to_block(max(1, n - math.floor(float(ratio) * n + 0.5)), n, block)


def check_removes_some(label: str, p: Mapping[str, Any], widths: Mapping[str, int]) -> None:
    """ConfigError naming ``label`` when ratio criterion config ``p`` keeps every filter of every layer it prunes
    (widths: layer name → filters), e.g. ratio 0.1 of 4 filters or a block as wide as the layer: the "pruned"
    network would be the baseline under another key. Criteria that decide their own count are not checked."""
    per_layer = p.get("per_layer_ratio") or {}
    layers = [layer for layer in p.get("layers") or [] if layer in widths]
    if not layers or (p.get("ratio") is None and not per_layer):
        return
    counts = {}
    for layer in layers:
        ratio = per_layer.get(layer, p.get("ratio"))
        if ratio is None or not 0 <= float(ratio) < 1:
            return  # no ratio here (match: …) or out of range (refused by its own check)
        counts[layer] = (kept_count(widths[layer], ratio, p.get(KEY)), widths[layer])
        if is_measured(p):  # a measured choice may keep the exact count: it may remove some
            counts[layer] = (min(counts[layer][0], kept_count(widths[layer], ratio)), widths[layer])
    if all(k == n for k, n in counts.values()):
        said = ", ".join(f"{layer} keeps {k} of {n}" for layer, (k, n) in counts.items())
        block = f" with {KEY}={p[KEY]}" if p.get(KEY) is not None else ""
        raise ConfigError(
            f"{label}: ratio {p.get('ratio')}{block} removes no filter ({said}): the pruned network would be the "
            f"baseline; raise the ratio{' or lower ' + KEY if block else ''}"
        )


def for_unit(opts: Mapping[str, Any], unit: str) -> dict[str, Any]:
    """``opts`` (one layer's or group's criterion options) with a per-unit ``round_to_block`` mapping (a measured
    choice, asc/prune/block_choice.py) resolved to ``unit``'s block (None: its exact count)."""
    block = opts.get(KEY)
    return dict(opts, **{KEY: block.get(unit)}) if isinstance(block, Mapping) else dict(opts)


def check(key: str, p: Mapping[str, Any]) -> None:
    """One-line ConfigError for criterion config ``p`` at ``key`` (``prune``, ``criteria.<name>``) whose
    ``round_to_block`` or ``block_choice`` asc cannot apply (see the module docstring)."""
    block, how = p.get(KEY), p.get(CHOICE_KEY, "always")
    choice(f"{key}.{CHOICE_KEY}", how, CHOICES)
    if is_measured(p) and block is None:
        fail(f"{key}.{CHOICE_KEY}", how, f"always, or add the block it measures, e.g. +{key}.{KEY}=8")
    if is_measured(p) and p.get("budget") is not None:  # asc/prune/options.py BUDGET_KEY
        fail(f"{key}.{CHOICE_KEY}", how, f"always with {key}.budget (the budget costs every layer rounded)")
    if block is None:
        return
    integer(f"{key}.{KEY}", block, 1)
    name = p.get("name")
    if name in OWN_COUNT or (name == "random" and p.get("reference", "cosine") in OWN_COUNT):
        fail(
            f"{key}.{KEY}",
            block,
            f"null for {name} (it decides its own kept count): a ratio criterion, e.g. l1",
        )
    if int(p.get("schedule") or 1) != 1:
        fail(
            f"{key}.{KEY}",
            block,
            f"null with {key}.schedule={p['schedule']} (its steps' counts are not rounded)",
        )
