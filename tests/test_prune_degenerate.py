"""Degenerate filters: exact copies (all-zero filters included) are the first to go in every similarity-based
criterion, the lowest-index copy stays; ordinary layers are unaffected (test_prune_criteria, test_protocol_prune)."""

from __future__ import annotations

import pytest
import torch

from asc.prune import CRITERIA, prune_model
from asc.prune import representatives as rep
from asc.prune.criteria import duplicate_filters

COPY, ORIGINAL, ZEROS = 3, 1, (5, 7)  # filter 3 copies filter 1; filters 5 and 7 are all zeros
DUPLICATES = {COPY, ZEROS[1]}


def degenerate_layer(c_in: int, seed: int = 0) -> torch.Tensor:
    w = torch.randn(10, c_in, 3, 3, generator=torch.Generator().manual_seed(seed))
    w[COPY] = w[ORIGINAL]
    w[ZEROS[0]] = 0.0
    w[ZEROS[1]] = -0.0  # a negative zero is a zero
    return w


ALGORITHM1 = {
    "cosine": {},
    "chebyshev": {},
    "average": {},
    "nystrom": {"landmarks": 8},
    "nystrom-auto": {"landmarks": "auto"},
    "cosine-authors": {"round_decimals": 5, "partner": "argsort1"},
    "random": {},
}
RATIO = {
    "centrality": {},
    "centrality-betweenness": {"measure": "betweenness", "distance": "one_minus_abs_cos"},
    "fpgm": {},
    "gm": {},
    "operator_norm": {},
}


def _criterion(label: str) -> str:
    return label.split("-")[0]


@pytest.mark.parametrize("c_in", [1, 4], ids=["C1-like", "C2-like"])
@pytest.mark.parametrize("label", list(ALGORITHM1))
def test_algorithm1_criteria_prune_copies_and_keep_the_first(label: str, c_in: int) -> None:
    sel = CRITERIA[_criterion(label)](degenerate_layer(c_in), {**ALGORITHM1[label], "layer": "C1"})
    assert not DUPLICATES & set(sel.kept), sel.kept
    assert {ORIGINAL, ZEROS[0]} <= set(sel.kept)


@pytest.mark.parametrize("c_in", [1, 4], ids=["C1-like", "C2-like"])
@pytest.mark.parametrize("label", list(RATIO))
def test_ratio_criteria_remove_exactly_the_copies_first(label: str, c_in: int) -> None:
    weight = degenerate_layer(c_in)
    sel = CRITERIA[_criterion(label)](weight, {**RATIO[label], "ratio": 0.2})  # removes 2 of 10 filters
    assert set(range(10)) - set(sel.kept) == DUPLICATES
    more = CRITERIA[_criterion(label)](weight, {**RATIO[label], "ratio": 0.5})
    assert not DUPLICATES & set(more.kept) and len(more.kept) == 5


@pytest.mark.parametrize("name", ["l1", "l2"])
def test_magnitude_criteria_prune_zero_filters_first(name: str) -> None:
    sel = CRITERIA[name](degenerate_layer(4), {"ratio": 0.2})
    assert set(range(10)) - set(sel.kept) == set(ZEROS)


def test_zero_filters_are_one_filter_under_the_cosine() -> None:
    for c_in in (1, 4):
        r = rep.representatives(degenerate_layer(c_in))
        assert torch.equal(
            r[list(ZEROS)], torch.zeros(2, r.shape[1], dtype=r.dtype)
        )  # not an SVD's arbitrary u1
        s = rep.cosine_similarity(r)
        assert s[ZEROS[0], ZEROS[1]] == 1.0 and s[ZEROS[0], ZEROS[0]] == 1.0 and s[ZEROS[0], 0] == 0.0
        approx = rep.nystrom_similarity(r, torch.arange(4))
        assert approx[ZEROS[0], ZEROS[1]] == 1.0 and approx[ZEROS[1], 2] == 0.0
        assert rep.closest_distance(degenerate_layer(c_in))[list(ZEROS)].tolist() == [0.0, 0.0]


def test_constant_filters_of_one_sign_are_copies_under_the_cosine() -> None:
    w = torch.randn(6, 1, 3, 3, generator=torch.Generator().manual_seed(1))
    w[2], w[4] = 0.5, 2.0  # constant kernels, one direction
    assert 4 not in CRITERIA["cosine"](w, {}).kept and 2 in CRITERIA["cosine"](w, {}).kept


def test_duplicate_mask_and_the_whole_model() -> None:
    assert duplicate_filters(degenerate_layer(4)).nonzero()[0].tolist() == sorted(DUPLICATES)
    from model_fixtures import randomised_model

    model = randomised_model()
    with torch.no_grad():
        model.convs()["C1"].weight[9] = model.convs()["C1"].weight[2]
        model.convs()["C1"].weight[[4, 11]] = 0.0
    for name, opts in (("cosine", {}), ("nystrom", {"landmarks": 8}), ("gm", {"ratio": 0.125})):
        _, info = prune_model(model, {"name": name, "layers": ["C1"], **opts})
        assert {9, 11}.isdisjoint(info["kept"]["C1"]) and {2, 4} <= set(info["kept"]["C1"]), name
