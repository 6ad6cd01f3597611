"""The fidelity switches of pruning (issue 10): each test fails with the other value of its switch."""

from __future__ import annotations

import json

import networkx as nx
import numpy as np
import pytest
import torch
from model_fixtures import randomised_model

from asc.core.errors import InputError
from asc.prune import CRITERIA, prune_model
from asc.prune import representatives as rep
from asc.prune.algorithm1 import greedy_select
from asc.prune.norms import _gmean_nonzero, gm_scores, operator_norm_scores
from asc.prune.surgery import dense_columns, prune_filters

AUTHORS_C3 = [3, 4, 5, 7, 8, 9, 13, 15, 16, 17, 18, 19, 21, 22, 24, 25, 26, 27, 28, 29, 30, 31]


# ---------------------------------------------------------------- dense_mapping: correct | authors


def _first_dense_keras(pruned: torch.nn.Module, x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """What a Keras net with ``kernel`` (rows in channels-last flatten order) computes at the first dense layer."""
    fmap = pruned.features(x)  # (N, K, H, W)
    keras_flat = fmap.permute(0, 2, 3, 1).flatten(1)  # Keras Flatten of (H, W, K)
    return keras_flat @ kernel + pruned.classifier[1].bias


@pytest.mark.parametrize("mapping", ["correct", "authors"])
def test_dense_mapping_matches_a_direct_keras_construction(mapping: str) -> None:
    model = randomised_model()
    dense = model.classifier[1].weight.detach()  # (100, C·H·W), our column c·hw + s
    channels, hw = 32, 2
    # The unpruned net as Keras stores it: row r = s·C + c (channels-last flatten) ↔ our column c·hw + s.
    keras_old = torch.stack([dense[:, (r % channels) * hw + r // channels] for r in range(channels * hw)])
    rows = {
        "authors": [2 * c + t for c in AUTHORS_C3 for t in (0, 1)],  # Fine-tuning.py: w_f = [2c, 2c + 1, ...]
        "correct": [
            s * channels + c for s in range(hw) for c in AUTHORS_C3
        ],  # their pruned Keras order (s, k)
    }
    kernel = keras_old[rows[mapping]]
    pruned = prune_filters(model, {"C3": AUTHORS_C3}, dense_mapping=mapping)
    other = prune_filters(
        model, {"C3": AUTHORS_C3}, dense_mapping="authors" if mapping == "correct" else "correct"
    )
    x = torch.randn(3, 1, 40, 500)
    with torch.no_grad():
        want = _first_dense_keras(pruned, x, kernel)
        got = pruned.classifier[1](pruned.classifier[0](pruned.features(x)))
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
        assert not torch.allclose(
            other.classifier[1](other.classifier[0](other.features(x))), want, atol=1e-3
        )


def test_dense_mapping_is_identity_when_the_last_conv_is_whole() -> None:
    everything = torch.arange(32)
    assert torch.equal(dense_columns(everything, 32, 2, "authors"), torch.arange(64))
    assert torch.equal(dense_columns(torch.tensor([1, 30]), 32, 2, "correct"), torch.tensor([2, 3, 60, 61]))
    # authors, kept [1, 30] of 32: w_f = rows 2, 3, 60, 61 = Keras (s, c) (0,2) (0,3) (1,28) (1,29), placed at
    # pruned Keras rows p = 0..3 = (s, k) (0,0) (0,1) (1,0) (1,1). Our pruned column k·2 + s holds row p = 2s + k:
    # col 0 (k0,s0) ← row 2 → our old column 2·2 + 0 = 4; col 1 (k0,s1) ← row 60 → 28·2 + 1 = 57;
    # col 2 (k1,s0) ← row 3 → 6; col 3 (k1,s1) ← row 61 → 29·2 + 1 = 59.
    assert dense_columns(torch.tensor([1, 30]), 32, 2, "authors").tolist() == [4, 57, 6, 59]
    with pytest.raises(ValueError, match="dense_mapping='keras'"):
        dense_columns(everything, 32, 2, "keras")


def test_prune_model_passes_dense_mapping_on() -> None:
    model = randomised_model()
    cfg = {"name": "given", "layers": ["C3"], "kept": {"C3": AUTHORS_C3}}
    a, info = prune_model(model, {**cfg, "dense_mapping": "authors"})
    c, _ = prune_model(model, cfg)
    assert info["dense_mapping"] == "authors"
    assert torch.equal(
        a.classifier[1].weight,
        prune_filters(model, {"C3": AUTHORS_C3}, dense_mapping="authors").classifier[1].weight,
    )
    assert not torch.equal(a.classifier[1].weight, c.classifier[1].weight)
    with pytest.raises(ValueError, match="correct, authors"):
        prune_model(model, {**cfg, "dense_mapping": "keras"})


# ---------------------------------------------------------------- Algorithm 1: round_decimals, partner


def test_rounding_changes_the_walk_order() -> None:
    # d(1,2) = .0500001 < d(0,1) = .0500004: walk (1,2) (2,1) (0,1) → keep 1, then 0 → [0, 1].
    # Rounded to 5 decimals both are .05: 1's closest ties between 0 and 2 → 0; walk by index → keep 0, 2.
    d = torch.tensor(
        [[0, 0.0500004, 0.9], [0.0500004, 0, 0.0500001], [0.9, 0.0500001, 0]], dtype=torch.float64
    )
    cfg = {"partner": "argmin"}
    from asc.prune.algorithm1 import algorithm1

    assert algorithm1(d, {**cfg, "round_decimals": None}) == [0, 1]
    assert algorithm1(d, {**cfg, "round_decimals": 5}) == [0, 2]


def test_argsort1_partner_differs_when_the_diagonal_is_not_the_row_minimum() -> None:
    # An approximate (Nyström) matrix need not have D[i, i] = min of row i. Row 0 sorted: 1 (.1), 2 (.2), 0 (.3):
    # argmin partner 1, argsort1 partner = second entry = 2. Rows 1, 2: partner 0 either way.
    # argmin walk (0,1,.1) (1,0,.1) (2,0,.2) → [0, 2]; argsort1 walk (1,0,.1) (0,2,.2) (2,0,.2) → [1, 2].
    d = torch.tensor([[0.3, 0.1, 0.2], [0.1, 0.0, 0.5], [0.2, 0.5, 0.0]], dtype=torch.float64)
    assert greedy_select(d, "argmin") == [0, 2]
    assert greedy_select(d, "argsort1") == [1, 2]
    with pytest.raises(ValueError, match="argmin, argsort1"):
        greedy_select(d, "argmax")


# ---------------------------------------------------------------- Nyström landmarks


def _random_layers() -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(3)
    shapes = [(16, 1, 7, 7), (16, 16, 7, 7), (32, 16, 7, 7), (24, 8, 3, 3), (40, 4, 3, 3)]
    return [torch.randn(*s, generator=gen) for s in shapes for _ in range(2)]


@pytest.mark.parametrize("opts", [{}, {"round_decimals": 5, "partner": "argsort1"}])
def test_auto_landmarks_reproduce_the_exact_kept_set(opts: dict) -> None:
    fixed_misses = 0
    for weight in _random_layers():
        sel = CRITERIA["nystrom"](weight, {**opts, "landmarks": "auto", "layer": "C2"})
        exact = CRITERIA["cosine"](weight, opts).kept
        assert sel.kept == exact and sel.extras["kept_equals_exact"]
        m = sel.extras["nystrom_m"]
        if m > 1:  # smallest: one landmark fewer does not reproduce it
            fewer = CRITERIA["nystrom"](weight, {**opts, "landmarks": m - 1, "layer": "C2"})
            assert fewer.kept != exact
        fixed_misses += not CRITERIA["nystrom"](weight, {**opts, "landmarks": 2}).extras["kept_equals_exact"]
        assert sel.extras["nystrom_speedup"] > 0 and sel.extras["nystrom_error"] >= 0
    assert fixed_misses > 0  # a fixed small m is not exact everywhere: the switch matters


def test_landmarks_per_layer() -> None:
    model = randomised_model()
    cfg = {"name": "nystrom", "layers": ["C1", "C2", "C3"], "landmarks": {"C1": 3, "C2": 99, "C3": "auto"}}
    _, info = prune_model(model, cfg)
    assert info["nystrom_m"]["C1"] == 3 and info["nystrom_m"]["C2"] == 16
    assert info["kept_equals_exact"]["C3"] and info["nystrom_landmarks"]["C1"] == [0, 1, 2]
    with pytest.raises(ValueError, match="no entry for layer C3"):
        prune_model(model, {**cfg, "landmarks": {"C1": 3, "C2": 4}})
    with pytest.raises(ValueError, match="int ≥ 1 or auto"):
        prune_model(model, {**cfg, "landmarks": 0})


# ---------------------------------------------------------------- operator norm and GM


def test_operator_norm_hand_computed() -> None:
    # n = 3 filters, c_in = 2, 1×2 kernels. Channel 0 slices [1,0] [3,0] [2,0]: mean [2,0], centred [-1,0] [1,0]
    # [0,0]; top direction ±[1,0], signed so that filter 0 projects positively → [-1,0]; projections 1, -1, 0.
    # Channel 1 slices [0,0] [0,2] [0,4]: mean [0,2], centred [0,-2] [0,0] [0,2] → direction [0,-1];
    # projections 2, 0, -2. Sums 3, -1, -2 → squared 9, 1, 4 → normalised 1, 1/9, 4/9.
    # (Without the common sign rule — e.g. channel 0 as +[1,0] — filter 0 would get (−1 + 2)² = 1.)
    w = torch.tensor([[[[1, 0]], [[0, 0]]], [[[3, 0]], [[0, 2]]], [[[2, 0]], [[0, 4]]]], dtype=torch.float32)
    np.testing.assert_allclose(operator_norm_scores(w), [1, 1 / 9, 4 / 9], atol=1e-12)
    assert CRITERIA["operator_norm"](w, {"ratio": 0.34}).kept == [0, 2]  # removes floor(.34·3 + .5) = 1


def test_gm_hand_computed_and_not_l1() -> None:
    # gmean|W_i| = 2, 1, 4; layer gmean = (1·4·1·1·4·4)^(1/6) = 64^(1/6) = 2 → scores 0, 1, 4 → 0, 1/4, 1.
    w = torch.tensor([[1.0, 4.0], [1.0, 1.0], [4.0, 4.0]]).reshape(3, 1, 1, 2)
    np.testing.assert_allclose(gm_scores(w), [0, 0.25, 1], atol=1e-12)
    assert CRITERIA["gm"](w, {"ratio": 0.34}).kept == [1, 2]
    assert CRITERIA["l1"](w, {"ratio": 0.34}).kept == [0, 2]  # the magnitude criterion disagrees
    # zeros are skipped like scipy.stats.mstats.gmean (np.ma.log masks them)
    np.testing.assert_allclose(_gmean_nonzero(np.array([[0.0, 4.0], [0.0, 0.0]]), axis=1), [4.0, 0.0])


# ---------------------------------------------------------------- given (authors' published indices)


def test_authors_kept_rebuilds_their_widths(tmp_path) -> None:

    from config_fixtures import composed

    conf = composed()["criteria"]["authors_kept"]
    pruned, info = prune_model(randomised_model(), conf)
    assert info["widths"] == [11, 11, 22] and info["kept"]["C3"] == AUTHORS_C3


def test_given_from_files_and_errors(tmp_path) -> None:
    model = randomised_model()
    (tmp_path / "k.json").write_text(json.dumps({"C1": [0, 3], "C2": [5]}))
    (tmp_path / "k.yaml").write_text("C1: [1]\nC2: [2, 4]\n")
    cfg = {"name": "given", "layers": ["C1", "C2"]}
    assert prune_model(model, {**cfg, "kept_file": str(tmp_path / "k.json")})[1]["kept"]["C1"] == [0, 3]
    _, info = prune_model(model, {**cfg, "kept_file": str(tmp_path / "k.yaml"), "kept": {"C1": [7]}})
    assert info["kept"]["C1"] == [7] and info["kept"]["C2"] == [2, 4]  # inline wins per layer
    with pytest.raises(ValueError, match=r"prune.kept.C2=\[3, 16\]: indices \[16\] are outside \[0, 16\)"):
        prune_model(model, {**cfg, "kept": {"C1": [0], "C2": [3, 16]}})
    with pytest.raises(ValueError, match="no kept indices for layer C2"):
        prune_model(model, {**cfg, "kept": {"C1": [0]}})
    with pytest.raises(ValueError, match="repeats"):
        prune_model(model, {**cfg, "kept": {"C1": [0, 0], "C2": [1]}})
    with pytest.raises(InputError, match="kept_file=.*nope.json does not exist"):
        prune_model(model, {**cfg, "kept_file": str(tmp_path / "nope.json")})


# ---------------------------------------------------------------- centrality: betweenness edge length


def test_betweenness_edge_length_switch() -> None:
    weight = torch.randn(12, 4, 3, 3, generator=torch.Generator().manual_seed(5))
    opts = {"measure": "betweenness", "distance": "one_minus_abs_cos", "ratio": 0.5}
    ours = CRITERIA["centrality"](weight, {**opts, "edge_length": "distance"}).extras["centrality"]
    theirs = CRITERIA["centrality"](weight, {**opts, "edge_length": "similarity"}).extras["centrality"]
    sim = rep.cosine_similarity(rep.representatives(weight)).abs().numpy()
    graph = nx.Graph()
    graph.add_weighted_edges_from((i, j, sim[i, j]) for i in range(12) for j in range(i + 1, 12))
    direct = nx.betweenness_centrality(graph, weight="weight")  # the authors' call
    np.testing.assert_allclose(theirs, [direct[i] for i in range(12)])
    assert not np.allclose(ours, theirs)
    with pytest.raises(ValueError, match="negative"):
        CRITERIA["centrality"](weight, {**opts, "distance": "one_minus_cos", "edge_length": "similarity"})
