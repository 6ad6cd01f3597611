"""Torch-Pruning as the test oracle of the DCASE family's hand surgery (asc/prune/surgery.py): the same kept
indices give bit-identical weights, BN statistics and dense columns; and the dependency graph names the
family's convs C1…C3 exactly as the hand surgery does."""

from __future__ import annotations

import copy

import pytest
import torch

pytest.importorskip("torch_pruning")

from model_fixtures import randomised_model  # noqa: E402

from asc.nets.groups import Network  # noqa: E402
from asc.prune import prune_model  # noqa: E402

HEAD = ("classifier.4",)  # the DCASE family's output layer; the front end (log-mel) is outside the model


@pytest.mark.parametrize(
    ("cfg", "spec"),
    [
        ({"name": "cosine", "layers": ["C1", "C2", "C3"]}, None),
        ({"name": "l1", "layers": ["C2", "C3"], "ratio": 0.5}, None),
        (
            {"name": "fpgm", "layers": ["C1", "C3"], "ratio": 0.75},
            {"widths": [8, 16, 24, 32], "pools": [None, [2, 5], None, [5, 25]]},
        ),
    ],
)
def test_hand_surgery_equals_torch_pruning(cfg, spec):
    model = randomised_model(spec, seed=3)
    x = torch.randn(1, *model.spec["input_shape"])
    hand, info = prune_model(model, cfg)
    oracle = copy.deepcopy(model)
    net = Network(oracle, x, HEAD)
    assert net.convs == {
        name: f"features.{list(model.features).index(c)}" for name, c in model.convs().items()
    }
    for name, kept in info["kept"].items():
        net.prune(net.group_of(name), kept)
    want, got = hand.state_dict(), oracle.state_dict()
    assert list(want) == list(got)
    for key in want:
        assert want[key].shape == got[key].shape, key
        assert torch.equal(want[key], got[key]), key
    assert torch.equal(hand(x), oracle(x))
