"""Passive pruning criteria: one registry of plain functions, chosen by ``prune.name``.

A criterion maps one conv layer's weight (n, c_in, kh, kw) and its options (the ``prune`` config minus ``name``
and ``layers``, with ``ratio`` already resolved for this layer) to a :class:`Selection`: the kept filter indices,
ascending. Adding one is one function here plus one YAML file in ``conf/prune/``::

    @register("linf")
    def linf(weight: torch.Tensor, opts: Mapping[str, Any]) -> Selection:
        '''Keep the filters with the largest max-|w| (a toy norm criterion).'''
        score = weight.detach().flatten(1).abs().amax(dim=1)
        return Selection(keep_highest(score, n_keep(weight, opts)))

    # conf/prune/linf.yaml
    #   name: linf
    #   layers: [C1, C2, C3]
    #   ratio: 0.5          # or  ratio: null + match: cosine  (same kept count as Algorithm 1)

Ratios are the fraction of filters *removed* (the paper's "pruning ratio"); at least one filter always stays.

Ties and degenerate filters. All sorts are stable, so equal scores or distances are decided by the lower filter
index (of a mutual nearest pair Algorithm 1 keeps the lower one) — runs are reproducible. Duplicates go first in
every similarity-based criterion: a filter whose weights equal those of a lower-index filter exactly (all-zero
filters are copies of each other) is removed before any other filter, and the lowest-index copy stays.
Algorithm 1 (cosine, chebyshev, average, nystrom) gets this from the distances: copies are at distance 0, zero
filters included (representatives.py defines cos = 1 between zero filters, 0 to any other filter). The ratio
criteria built on similarity or geometry (centrality, fpgm, operator_norm, gm) rank copies below every other
filter (:func:`keep_highest` with ``duplicates``) and then by their score. The magnitude criteria (l1, l2) rank by
norm alone: a zero filter has norm 0 and goes first; copies tie and the lower index stays. A lone zero filter has
no copy: under the cosine it is orthogonal to every filter (distance 1), so Algorithm 1 decides it like any
other. Layers without copies or zero filters get exactly the results they got before these rules.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from . import representatives as rep
from .algorithm1 import algorithm1, closest_pairs, rounded
from .blocks import KEY as BLOCK_KEY
from .blocks import kept_count, to_block


@dataclass
class Selection:
    """What a criterion decides for one layer.

    kept: filter indices to keep, ascending. mix: optional (len(kept) × n) matrix; when given, kept filter k is
    replaced by Σ_j mix[k, j]·W_j (and its bias likewise) — used by ``average``. reinit: the pruned model is
    freshly initialised after surgery (``random``). extras: plain numbers for the info dict (errors, timings).
    """

    kept: list[int]
    mix: torch.Tensor | None = None
    reinit: bool = False
    extras: dict[str, Any] = field(default_factory=dict)


Criterion = Callable[[torch.Tensor, Mapping[str, Any]], Selection]
CRITERIA: dict[str, Criterion] = {}


def register(name: str) -> Callable[[Criterion], Criterion]:
    """Decorator: make ``fn`` selectable as ``prune.name=<name>``."""

    def add(fn: Criterion) -> Criterion:
        if name in CRITERIA:
            raise ValueError(f"pruning criterion {name!r} is registered twice")
        CRITERIA[name] = fn
        return fn

    return add


# ---------------------------------------------------------------- helpers for ratio-based criteria


def n_keep(weight: torch.Tensor, opts: Mapping[str, Any]) -> int:
    """Filters to keep: from ``ratio`` (fraction removed, rounded half up) or, if it is null, the count that
    criterion ``match`` (e.g. cosine) keeps on the same weights — the paper's l1 baseline; rounded to a channel
    block with ``round_to_block``."""
    n, ratio, match = weight.shape[0], opts.get("ratio"), opts.get("match")
    if ratio is not None:
        if not 0.0 <= float(ratio) < 1.0:
            raise ValueError(f"prune ratio must be in [0, 1), got {ratio}")
        return kept_count(n, ratio, opts.get(BLOCK_KEY))
    if match is None:
        raise ValueError("this criterion needs prune.ratio (fraction removed) or prune.match (e.g. cosine)")
    return to_block(len(lookup(match)(weight, {}).kept), n, opts.get(BLOCK_KEY))  # asc/prune/blocks.py


def keep_highest(score: torch.Tensor | np.ndarray, k: int, duplicates: np.ndarray | None = None) -> list[int]:
    """Indices of the k highest scores, ascending; ties keep the lower index. ``duplicates`` (bool, n): those
    filters rank below every other one whatever their score (see :func:`duplicate_filters`)."""
    key = -np.asarray(score, dtype=np.float64)
    if duplicates is None or not np.any(duplicates):
        order = np.argsort(key, kind="stable")
    else:
        order = np.lexsort((key, np.asarray(duplicates, dtype=bool)))  # stable; the last key sorts first
    return sorted(int(i) for i in order[:k])


def duplicate_filters(weight: torch.Tensor) -> np.ndarray:
    """Boolean (n,): filter i has exactly the weights of a lower-index filter (all-zero filters included)."""
    flat = weight.detach().flatten(1).double().cpu().numpy() + 0.0  # + 0.0 turns -0.0 into 0.0
    _, first, inverse = np.unique(flat, axis=0, return_index=True, return_inverse=True)
    return first[np.ravel(inverse)] != np.arange(len(flat))


def lookup(name: str) -> Criterion:
    if name not in CRITERIA:
        raise ValueError(f"unknown pruning criterion {name!r}; valid ones: {', '.join(sorted(CRITERIA))}")
    return CRITERIA[name]


def _timed(fn: Callable[[], torch.Tensor]) -> tuple[torch.Tensor, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


# ---------------------------------------------------------------- the criteria


def cosine_on(r: torch.Tensor, opts: Mapping[str, Any]) -> Selection:
    """Algorithm 1 on 1 − cos of representatives r (n, d): one layer's, or a coupled group's super-filters."""
    dist, seconds = _timed(lambda: rep.cosine_distance(r))
    return Selection(algorithm1(dist, opts), extras={"similarity_s": seconds})


def chebyshev_on(r: torch.Tensor, opts: Mapping[str, Any]) -> Selection:
    """Algorithm 1 on the Chebyshev distance of representatives r (n, d)."""
    dist, seconds = _timed(lambda: rep.chebyshev_distance(r))
    return Selection(algorithm1(dist, opts), extras={"similarity_s": seconds})


@register("cosine")
def cosine(weight: torch.Tensor, opts: Mapping[str, Any]) -> Selection:
    """Algorithm 1 on 1 − cos of the rank-1 representatives (the paper's method; no ratio)."""
    return cosine_on(rep.representatives(weight), opts)


@register("chebyshev")
def chebyshev(weight: torch.Tensor, opts: Mapping[str, Any]) -> Selection:
    """Algorithm 1 on the Chebyshev distance max_k |r_i[k] − r_j[k]| of the representatives."""
    return chebyshev_on(rep.representatives(weight), opts)


@register("average")
def average(weight: torch.Tensor, opts: Mapping[str, Any]) -> Selection:
    """Cosine Algorithm 1, then each kept filter i becomes (W_i + W_m(i)) / 2, m(i) its closest filter.

    Decisions: the averages use the *original* weights, so the result does not depend on the walk order. If m(i)
    is itself kept (it was kept before i's pair came up), ``kept_partner: average`` (default, the literal
    "average the closest pairs") still averages, ``kept_partner: skip`` leaves i unchanged. The conv bias is
    averaged with the same coefficients; the BN entries of channel i stay as they are, because the next layer's
    weights for that channel are kept too and the channel keeps its place in the network.
    """
    dist = rounded(rep.cosine_distance(rep.representatives(weight)), opts.get("round_decimals"))
    kept = algorithm1(dist, opts)
    partner = (
        closest_pairs(dist, opts.get("partner", "argmin"))[0] if weight.shape[0] > 1 else np.zeros(1, int)
    )
    policy = opts.get("kept_partner", "average")
    if policy not in ("average", "skip"):
        raise ValueError(f"prune.kept_partner={policy!r} is not one of average, skip")
    mix = torch.zeros(len(kept), weight.shape[0], dtype=torch.float64)
    for row, i in enumerate(kept):
        j = int(partner[i])
        if j == i or (policy == "skip" and j in kept):
            mix[row, i] = 1.0
        else:
            mix[row, i] = mix[row, j] = 0.5
    return Selection(kept, mix=mix)


def l1_scores(weight: torch.Tensor, opts: Mapping[str, Any] | None = None) -> torch.Tensor:
    """Σ|W_i| per filter (n,); higher is kept."""
    return weight.detach().flatten(1).abs().sum(dim=1)


def l2_scores(weight: torch.Tensor, opts: Mapping[str, Any] | None = None) -> torch.Tensor:
    """‖W_i‖₂ per filter (n,); higher is kept."""
    return weight.detach().flatten(1).norm(dim=1)


@register("l1")
def l1(weight: torch.Tensor, opts: Mapping[str, Any]) -> Selection:
    """Li et al. 2017: keep the filters with the largest Σ|W_i|."""
    return Selection(keep_highest(l1_scores(weight), n_keep(weight, opts)))


@register("l2")
def l2(weight: torch.Tensor, opts: Mapping[str, Any]) -> Selection:
    """Keep the filters with the largest ‖W_i‖₂."""
    return Selection(keep_highest(l2_scores(weight), n_keep(weight, opts)))


@register("random")
def random_init(weight: torch.Tensor, opts: Mapping[str, Any]) -> Selection:
    """The widths of criterion ``reference`` (default cosine) with freshly initialised weights (the paper's
    control). The kept indices are the reference's; they do not matter, since prune_model re-initialises the
    whole pruned network with ``seed``."""
    reference = opts.get("reference", "cosine")
    if reference == "random":
        raise ValueError("prune.reference must name a criterion other than random, e.g. cosine or l1")
    ref = lookup(reference)(weight, opts)
    return Selection(ref.kept, reinit=True)


@register("centrality")
def centrality(weight: torch.Tensor, opts: Mapping[str, Any]) -> Selection:
    """WASPAA 2023: complete graph of filters; prune the ``ratio`` most central ones.

    ``distance`` is one_minus_cos (default) or one_minus_abs_cos; edge similarity = 1 − distance (cos or |cos|).
    ``measure: degree`` = Σ_{j≠i} similarity (weighted degree); ``measure: betweenness`` = networkx betweenness,
    whose ``weight`` is an edge *length*: ``edge_length: distance`` (default) uses 1 − similarity, so similar
    filters are close; ``edge_length: similarity`` is the authors' code (they passed the cosine itself as the
    weight, which makes similar filters far apart and is undefined for negative cosines: with
    ``distance: one_minus_cos`` such a layer is an error). Ties keep the lower index.
    """
    central = centrality_of(weight, opts)
    kept = keep_highest(-central, n_keep(weight, opts), duplicate_filters(weight))
    return Selection(kept, extras={"centrality": central.tolist()})


def centrality_of(weight: torch.Tensor, opts: Mapping[str, Any]) -> np.ndarray:
    """Each filter's centrality (n,) in the complete cosine graph of its representatives; options as in
    :func:`centrality` (the most central is pruned first, so a keep-score is −centrality)."""
    sim = rep.cosine_similarity(rep.representatives(weight))
    kind = opts.get("distance", "one_minus_cos")
    if kind == "one_minus_abs_cos":
        sim = sim.abs()
    elif kind != "one_minus_cos":
        raise ValueError(f"prune.distance={kind!r} is not one of one_minus_cos, one_minus_abs_cos")
    sim = sim.clamp(-1.0, 1.0).fill_diagonal_(0.0).numpy()
    measure = opts.get("measure", "degree")
    if measure == "degree":
        central = sim.sum(axis=1)
    elif measure == "betweenness":
        import networkx as nx  # imported here: only betweenness needs it, and it is slow to import

        graph = nx.Graph()
        n = sim.shape[0]
        graph.add_nodes_from(range(n))
        length = opts.get("edge_length", "distance")
        if length not in ("distance", "similarity"):
            raise ValueError(f"prune.edge_length={length!r} is not one of distance, similarity")
        edge = 1.0 - sim if length == "distance" else sim
        if length == "similarity" and (edge[~np.eye(n, dtype=bool)] < 0).any():
            raise ValueError(
                "prune.edge_length=similarity (the authors' betweenness) needs non-negative cosines; this layer "
                "has negative ones: set prune.distance=one_minus_abs_cos or prune.edge_length=distance"
            )
        graph.add_weighted_edges_from(
            ((i, j, edge[i, j]) for i in range(n) for j in range(i + 1, n)), weight="distance"
        )
        scores = nx.betweenness_centrality(graph, weight="distance")
        central = np.array([scores[i] for i in range(n)])
    else:
        raise ValueError(f"prune.measure={measure!r} is not one of degree, betweenness")
    return central


@register("fpgm")
def fpgm(weight: torch.Tensor, opts: Mapping[str, Any]) -> Selection:
    """He et al. 2019: score_i = Σ_j ‖W_i − W_j‖₂ on the raw weights; prune the smallest (nearest the geometric
    median, hence the most replaceable); exact copies go first."""
    return Selection(keep_highest(fpgm_scores(weight), n_keep(weight, opts), duplicate_filters(weight)))


def fpgm_scores(weight: torch.Tensor, opts: Mapping[str, Any] | None = None) -> torch.Tensor:
    """Σ_j ‖W_i − W_j‖₂ per filter (n,) on the raw weights, float64; higher is kept."""
    flat = weight.detach().to(torch.float64).flatten(1)
    return torch.cdist(flat, flat).sum(dim=1)
