"""Every criterion on a group of coupled layers: one kept set of channels per group.

A group with one member (an uncoupled conv: every conv of CNN14 or VGGish_Net) is decided by the criterion
exactly as on that layer alone (asc/prune/criteria.py), so single-layer results carry over unchanged. A coupled
group (members = the convs whose out-channels it removes, asc/nets/groups.py) is decided by the criterion's kind:

- **Ranking** (l1, l2, fpgm, operator_norm, gm, centrality): each member is scored as a layer of its own, each
  member's scores are min–max scaled to [0, 1], and the group's score is their **mean**; the top
  ``ratio``-complement is kept. Why: members' raw scores live on different scales (an l1 norm grows with a
  conv's fan-in, so a 3×3 conv on 512 channels would outvote a 1×1 shortcut under a sum), the scaling is defined
  for signed scores (−centrality) and keeps each member's order; the mean keeps a channel that matters across
  the coupled layers (Torch-Pruning's default ``group_reduction="mean"``), where max would keep a channel for one
  member alone. The similarity/geometry ones (fpgm, operator_norm, gm, centrality) rank a channel whose
  concatenated filters copy a lower channel's below all others, as on one layer.
- **Set-returning** (cosine, chebyshev, nystrom: Algorithm 1): each channel's **super-filter** is the
  concatenation of its members' unit representatives (asc/prune/representatives.py), normalised: its cosine with
  another channel's is the mean of the members' cosines (reference/networks.md §2.3 did the same), the
  Chebyshev distance is the largest member distance over √(members) (one scale for all pairs: Algorithm 1's
  order is the max over members), and Nyström approximates the super-filters' cosine matrix (rank ≤ Σ kh·kw).
- ``given``: the kept list of any member the config names (all named members must agree); ``random``: the
  widths of ``reference`` on the group, then the whole network re-initialised; ``match`` (ratio null): as many
  channels as that criterion keeps on the group.
- Undefined on a coupled group: ``average`` (it replaces a kept filter by the mean of two filters of one
  layer, and coupled layers' BN, bias and residual partners have no such mean) and any criterion registered
  without a group rule: refused, naming the group and the criterion (:func:`refuse_undefined`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from . import norms, nystrom
from . import representatives as rep
from .criteria import (
    CRITERIA,
    Selection,
    centrality_of,
    chebyshev_on,
    cosine_on,
    duplicate_filters,
    fpgm_scores,
    keep_highest,
    l1_scores,
    l2_scores,
    lookup,
    n_keep,
)
from .given import layer_indices, read_kept

# name → (per-member keep-score (higher kept), copies ranked first)
RANKING: dict[str, tuple[Callable[[torch.Tensor, Mapping[str, Any]], Any], bool]] = {
    "l1": (l1_scores, False),
    "l2": (l2_scores, False),
    "fpgm": (fpgm_scores, True),
    "operator_norm": (lambda w, o: norms.operator_norm_scores(w), True),
    "gm": (lambda w, o: norms.gm_scores(w), True),
    "centrality": (lambda w, o: -centrality_of(w, o), True),
}
# name → Algorithm-1 rule on (n, d) representatives
SETS: dict[str, Callable[[torch.Tensor, Mapping[str, Any]], Selection]] = {
    "cosine": cosine_on,
    "chebyshev": chebyshev_on,
    "nystrom": nystrom.nystrom_on,
}
ON_GROUPS = (*RANKING, *SETS, "given", "random")


def refuse_undefined(label: str, name: str, coupled: bool) -> None:
    """ValueError if criterion ``name`` has no rule for the group ``label`` (coupled: more than one member)."""
    if coupled and name not in ON_GROUPS:
        why = (
            "it averages two filters of one layer, which coupled layers (shared BN, residual partners) cannot "
            "follow"
            if name == "average"
            else "it has no rule for combining coupled layers (asc/prune/group_criteria.py)"
        )
        raise ValueError(
            f"prune={name} is not defined on coupled group {label}: {why}; choose one of {', '.join(ON_GROUPS)} "
            "or select uncoupled layers"
        )


def super_representatives(weights: list[torch.Tensor]) -> torch.Tensor:
    """(n, Σ d_m) unit super-filters: the members' unit representatives side by side, normalised."""
    if len(weights) == 1:
        return rep.representatives(weights[0])
    cat = torch.cat([rep.representatives(w) for w in weights], dim=1)
    return torch.nn.functional.normalize(cat, dim=1)


def _minmax(score: Any) -> np.ndarray:
    s = np.asarray(score.numpy() if isinstance(score, torch.Tensor) else score, dtype=np.float64)
    span = s.max() - s.min()
    return (s - s.min()) / span if span > 0 else np.zeros_like(s)


def given_kept(names: list[str], label: str, width: int, opts: Mapping[str, Any]) -> Selection:
    table = read_kept(opts)
    named = {n: layer_indices(table[n], n, width) for n in names if n in table}
    if not named:
        raise ValueError(
            f"prune=given has no kept indices for group {label} (coupled layers {', '.join(names)}); add "
            f"++prune.kept.{names[0]}=[0,1,...]"
        )
    lists = {tuple(v) for v in named.values()}
    if len(lists) > 1:
        raise ValueError(
            f"prune=given names different kept lists for the coupled layers of group {label} "
            f"({', '.join(named)}): they lose the same channels; give one list"
        )
    return Selection(list(lists.pop()))


def select_weights(
    weights: list[torch.Tensor], names: list[str], name: str, opts: Mapping[str, Any]
) -> Selection:
    """Kept channels of a group from its members' filters ``weights`` (each (n, c_in, kh, kw), in the group's
    channel order) named ``names``, with criterion ``name`` and options ``opts`` (``ratio`` resolved)."""
    label = "+".join(names)
    if name == "given":
        return given_kept(names, label, weights[0].shape[0], opts)
    if name == "random":
        reference = opts.get("reference", "cosine")
        if reference == "random":
            raise ValueError("prune.reference must name a criterion other than random, e.g. cosine or l1")
        return Selection(select_weights(weights, names, reference, opts).kept, reinit=True)
    if len(weights) == 1:
        return lookup(name)(weights[0], dict(opts, layer=names[0]))
    refuse_undefined(label, name, True)
    if name in SETS:
        return SETS[name](super_representatives(weights), dict(opts, layer=label))
    score_fn, copies_first = RANKING[name]
    score = np.mean([_minmax(score_fn(w, opts)) for w in weights], axis=0)
    copies = duplicate_filters(torch.cat([w.flatten(1) for w in weights], dim=1)) if copies_first else None
    if opts.get("ratio") is None and opts.get("match") is not None:
        k = len(select_weights(weights, names, opts["match"], {}).kept)
    else:
        k = n_keep(weights[0], opts)
    return Selection(keep_highest(score, k, copies), extras={"score": score.tolist()})


def select_group(group: Any, name: str, opts: Mapping[str, Any]) -> Selection:
    """:func:`select_weights` on an asc.nets.groups.Group."""
    if name not in CRITERIA:
        lookup(name)  # the unknown-criterion error
    sel = select_weights([m.weight() for m in group.members], [m.name for m in group.members], name, opts)
    if not sel.kept:
        raise RuntimeError(f"criterion {name!r} kept no channel of group {group.label}")
    return sel
