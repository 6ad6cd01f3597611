"""Algorithm 1 on hand-built distance matrices, and each criterion on hand-built filters."""

from __future__ import annotations

import math
import textwrap

import networkx as nx
import numpy as np
import pytest
import torch

from asc.prune import CRITERIA, register
from asc.prune import representatives as rep
from asc.prune.algorithm1 import greedy_select
from asc.prune.criteria import Selection, n_keep


def _sym(n: int, entries: dict[tuple[int, int], float], other: float = 0.9) -> torch.Tensor:
    d = torch.full((n, n), other, dtype=torch.float64).fill_diagonal_(0.0)
    for (i, j), v in entries.items():
        d[i, j] = d[j, i] = v
    return d


def test_algorithm1_hand_worked_with_ties_and_kept_partner() -> None:
    # closest: 0→1 (.10), 1→2 (.05), 2→1 (.05), 3→4 (.20), 4→3 (.20)
    # sorted (distance, then i): (1,2) (2,1) (0,1) (3,4) (4,3)
    # walk: keep 1, 2 redundant; skip 2; keep 0 and mark 1 redundant although it is already kept;
    #       keep 3, 4 redundant; skip 4.
    d = _sym(5, {(0, 1): 0.10, (1, 2): 0.05, (2, 3): 0.30, (3, 4): 0.20, (0, 4): 0.25})
    assert greedy_select(d) == [0, 1, 3]


def test_algorithm1_all_distances_equal() -> None:
    # every row ties: argmin takes the lowest j → 0→1, 1→0, 2→0; all pairs tie → walked in order of i:
    # keep 0 (1 redundant), skip 1, keep 2 (0 marked redundant but stays kept).
    assert greedy_select(_sym(3, {}, other=0.5)) == [0, 2]


def test_algorithm1_order_is_by_distance_not_index() -> None:
    # closest: 0→3 (.4), 1→2 (.005), 2→1 (.005), 3→2 (.01). Walk: keep 1 (2 redundant), skip 2,
    # keep 3 (2 again), keep 0 (3 marked redundant but stays kept) — the walk follows distance, not index.
    d = _sym(4, {(1, 2): 0.005, (2, 3): 0.01, (0, 3): 0.4}, other=0.95)
    assert greedy_select(d) == [0, 1, 3]
    assert greedy_select(torch.zeros(1, 1, dtype=torch.float64)) == [0]


def test_cosine_on_filters_with_known_directions() -> None:
    e = torch.eye(3)
    # 1 = 2·0 (distance exactly 0), 3 ≈ 2; c_in = 1 so the representative is the normalised filter
    w = torch.stack([e[0], 2 * e[0], e[1], e[1] + 0.1 * e[2]]).reshape(4, 1, 1, 3)
    assert CRITERIA["cosine"](w, {}).kept == [0, 2]
    assert CRITERIA["chebyshev"](w, {}).kept == [0, 2]


def _rot(a: float, b: float, c: float) -> torch.Tensor:
    return torch.tensor([a, b, c])


def _kept_partner_filters() -> torch.Tensor:
    # unit vectors with angles 1↔2 = .1, 0↔1 = .2, 3↔4 = .3 (Algorithm 1 keeps [0, 1, 3]; 0's partner 1 is kept)
    r = [
        _rot(math.cos(0.2), -math.sin(0.2), 0),
        _rot(1, 0, 0),
        _rot(math.cos(0.1), math.sin(0.1), 0),
        _rot(0, 0, 1),
        _rot(0, math.sin(0.3), math.cos(0.3)),
    ]
    return torch.stack(r).reshape(5, 1, 1, 3)


def test_average_mix_rows() -> None:
    w = _kept_partner_filters()
    sel = CRITERIA["average"](w, {})
    assert sel.kept == [0, 1, 3]
    expected = torch.tensor(
        [[0.5, 0.5, 0, 0, 0], [0, 0.5, 0.5, 0, 0], [0, 0, 0, 0.5, 0.5]], dtype=torch.float64
    )
    torch.testing.assert_close(sel.mix, expected)
    skip = CRITERIA["average"](w, {"kept_partner": "skip"}).mix
    torch.testing.assert_close(skip[0], torch.tensor([1.0, 0, 0, 0, 0], dtype=torch.float64))
    with pytest.raises(ValueError, match="kept_partner"):
        CRITERIA["average"](w, {"kept_partner": "mean"})


def test_norm_criteria_ratio_match_and_ties() -> None:
    scale = torch.tensor([3.0, 1.0, 2.0, 1.0, 5.0])
    w = scale[:, None, None, None] * torch.ones(5, 2, 1, 1)
    assert CRITERIA["l1"](w, {"ratio": 0.4}).kept == [0, 2, 4]  # 2 of 5 removed
    assert CRITERIA["l2"](w, {"ratio": 0.6}).kept == [0, 4]
    assert CRITERIA["l1"](w, {"ratio": 0.8}).kept == [4]
    assert CRITERIA["l1"](w, {"ratio": 0.7}).kept == [4]  # 0.7·5 = 3.5 removed rounds half up to 4
    # tie between filters 1 and 3 (equal norms): the lower index survives
    assert CRITERIA["l1"](w, {"ratio": 0.2}).kept == [0, 1, 2, 4]


def test_n_keep_rules() -> None:
    w = torch.randn(16, 1, 3, 3, generator=torch.Generator().manual_seed(0))
    assert n_keep(w, {"ratio": 0.25}) == 12
    assert n_keep(w, {"ratio": 0.0}) == 16
    assert n_keep(w, {"ratio": 0.99}) == 1  # never below one filter
    assert n_keep(w, {"ratio": None, "match": "cosine"}) == len(CRITERIA["cosine"](w, {}).kept)
    for bad in ({"ratio": 1.0}, {"ratio": -0.1}, {}):
        with pytest.raises(ValueError):
            n_keep(w, bad)


def test_fpgm_prunes_the_filters_nearest_the_geometric_median() -> None:
    pts = torch.tensor([[0.0, 0.0], [0.1, 0.0], [5.0, 0.0], [0.0, 5.0], [-5.0, 0.0]])
    w = pts.reshape(5, 2, 1, 1)
    assert CRITERIA["fpgm"](w, {"ratio": 0.4}).kept == [2, 3, 4]


@pytest.mark.parametrize("distance", ["one_minus_cos", "one_minus_abs_cos"])
def test_centrality_prunes_the_most_central(distance: str) -> None:
    w = torch.randn(8, 4, 3, 3, generator=torch.Generator().manual_seed(3))
    sim = rep.cosine_similarity(rep.representatives(w)).numpy()
    sim = np.abs(sim) if distance == "one_minus_abs_cos" else sim
    graph = nx.Graph()
    for i in range(8):
        for j in range(i + 1, 8):
            graph.add_edge(i, j, sim=sim[i, j], distance=1 - sim[i, j])
    degree = np.array([graph.degree(i, weight="sim") for i in range(8)])
    sel = CRITERIA["centrality"](w, {"ratio": 0.25, "distance": distance})
    np.testing.assert_allclose(sel.extras["centrality"], degree, atol=1e-9)
    assert sel.kept == sorted(np.argsort(degree, kind="stable")[:6].tolist())
    between = nx.betweenness_centrality(graph, weight="distance")
    sel = CRITERIA["centrality"](w, {"ratio": 0.5, "measure": "betweenness", "distance": distance})
    np.testing.assert_allclose(sel.extras["centrality"], [between[i] for i in range(8)])
    assert len(sel.kept) == 4


def test_nystrom_extras_and_exactness() -> None:
    w = torch.randn(20, 8, 3, 3, generator=torch.Generator().manual_seed(4))
    sel = CRITERIA["nystrom"](w, {"landmarks": 9})
    assert sel.kept == CRITERIA["cosine"](w, {}).kept
    assert sel.extras["kept_equals_exact"] is True and sel.extras["nystrom_error"] < 1e-9
    rough = CRITERIA["nystrom"](w, {"landmarks": 2, "landmark_choice": "kmeans++"}).extras
    assert rough["nystrom_error"] > 1e-3 and len(rough["nystrom_landmarks"]) == 2


def test_register_adds_a_selectable_criterion() -> None:
    @register("test_first_half")
    def first_half(weight: torch.Tensor, opts) -> Selection:
        return Selection(list(range(max(1, weight.shape[0] // 2))))

    try:
        assert CRITERIA["test_first_half"](torch.zeros(6, 1, 1, 1), {}).kept == [0, 1, 2]
        with pytest.raises(ValueError, match="twice"):
            register("test_first_half")(first_half)
    finally:
        del CRITERIA["test_first_half"]


def test_docstring_example_runs() -> None:
    from asc.prune import criteria

    block = criteria.__doc__.split("::\n", 1)[1].split("\n\n    # conf", 1)[0]
    namespace = {
        name: getattr(criteria, name) for name in ("register", "Selection", "keep_highest", "n_keep")
    }
    namespace.update(torch=torch, Mapping=dict, Any=object)
    added = CRITERIA.pop(
        "linf", None
    )  # a user who followed README "Adding a criterion" registered it already
    try:
        exec(textwrap.dedent(block), namespace)
        w = torch.tensor([1.0, 4.0, 2.0, 3.0]).reshape(4, 1, 1, 1)
        assert CRITERIA["linf"](w, {"ratio": 0.5}).kept == [1, 3]
    finally:
        CRITERIA.pop("linf", None)
        if added is not None:
            CRITERIA["linf"] = added


def test_the_declared_criterion_names_are_the_registry() -> None:
    """Planning reads the torch-free declaration (asc/prune/options.py); it must name what the registry holds."""
    from asc.prune.options import CRITERION_NAMES

    assert sorted(CRITERION_NAMES) == sorted(CRITERIA)
