"""Parameter and MAC counts: the paper's numbers, an independent FLOP counter, and the paper's MAC convention."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from asc.nets.complexity import complexity, layer_macs, paper_macs
from asc.nets.model import build_model
from asc.prune import prune_model

FULL_MACS = 286_637_800


def test_full_model_matches_the_paper() -> None:
    assert complexity(build_model()) == {"params_torch": 46_118, "params_keras": 46_246, "macs": FULL_MACS}


def test_pruned_widths_by_hand() -> None:
    # widths 11/11/22 (the paper's C1+C2+C3 cosine result): convs 10.78M + 118.58M + 9.4864M, dense 4400 + 1000
    c = complexity(build_model({"widths": [11, 11, 22]}))
    assert c == {"params_torch": 23_968, "params_keras": 24_056, "macs": 138_851_800}


def _flop_counter_macs(model: torch.nn.Module) -> int:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.eval()(torch.zeros(1, 1, *model.spec["input_shape"]))
    return counter.get_total_flops() // 2  # conv and matmul FLOPs = 2 × MACs, bias not counted


def test_macs_agree_with_torch_flop_counter() -> None:
    torch.manual_seed(0)
    pruned, _ = prune_model(build_model(), {"name": "l1", "layers": ["C1", "C2", "C3"], "ratio": 0.4})
    assert pruned.spec["widths"] == [10, 10, 19]
    assert complexity(pruned)["macs"] == _flop_counter_macs(pruned)
    odd = build_model({"widths": [3, 5, 7], "kernel": 3})
    assert complexity(odd)["macs"] == _flop_counter_macs(odd)


def test_complexity_keeps_train_mode_and_bn_stats() -> None:
    model = build_model().train()
    before = model.features[1].running_mean.clone()
    complexity(model)
    assert model.training and torch.equal(model.features[1].running_mean, before)
    assert set(layer_macs(model)) == {
        "features.0",
        "features.3",
        "features.8",
        "classifier.1",
        "classifier.4",
    }


def test_paper_macs_counts_only_the_removed_filters_own_work() -> None:
    full = build_model()
    assert paper_macs(full, {}) == FULL_MACS
    # C1: 5 of 16 filters, each 40·500·1·49 MACs → the paper's "C1 (1.8%)"
    assert paper_macs(full, {"C1": range(11)}) == FULL_MACS - 5 * 40 * 500 * 49
    # C2: each filter 40·500·16·49 = 15.68M → "C2 (27%)"; C3: 8·100·16·49 → "C3 (2.2%)"
    assert paper_macs(full, {"C2": range(11)}) == FULL_MACS - 5 * 15_680_000
    both = paper_macs(full, {"C1": range(11), "C2": range(11), "C3": range(22)})
    assert both == FULL_MACS - 4_900_000 - 78_400_000 - 10 * 627_200
    assert round(100 * (1 - both / FULL_MACS)) == 31  # the paper's C1+C2+C3 figure
    # the true count of the same widths is lower: the next layer's input shrinks too
    assert complexity(build_model({"widths": [11, 11, 22]}))["macs"] < both
    with pytest.raises(ValueError, match="valid ones: C1, C2, C3"):
        paper_macs(full, {"C9": [0]})
