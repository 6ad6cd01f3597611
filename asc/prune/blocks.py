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
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from asc.core.values import fail, integer

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


def check(key: str, p: Mapping[str, Any]) -> None:
    """One-line ConfigError for criterion config ``p`` at ``key`` (``prune``, ``criteria.<name>``) whose
    ``round_to_block`` asc cannot apply (see the module docstring)."""
    block = p.get(KEY)
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
